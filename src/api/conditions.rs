//! Flux's condition types and reason strings. They are part of the compatibility
//! contract: `flux get`, kstatus-based tools, dashboards and alerts match on them.

/// Condition types shared by every kind (kstatus).
pub mod types {
    /// The object is in the desired state.
    pub const READY: &str = "Ready";
    /// The controller is working on the object.
    pub const RECONCILING: &str = "Reconciling";
    /// The object cannot make progress without a change by the user.
    pub const STALLED: &str = "Stalled";
    /// The applied objects are healthy (Kustomization, HelmRelease).
    pub const HEALTHY: &str = "Healthy";

    // Sources.
    /// The source's artifact is in storage and downloadable.
    pub const ARTIFACT_IN_STORAGE: &str = "ArtifactInStorage";
    /// The artifact in storage is older than what the spec asks for.
    pub const ARTIFACT_OUTDATED: &str = "ArtifactOutdated";
    /// Fetching the upstream source failed.
    pub const FETCH_FAILED: &str = "FetchFailed";
    /// Building the artifact (e.g. packaging a chart) failed.
    pub const BUILD_FAILED: &str = "BuildFailed";
    /// Reading or writing the artifact storage failed.
    pub const STORAGE_OPERATION_FAILED: &str = "StorageOperationFailed";
    /// The source's signature was verified.
    pub const SOURCE_VERIFIED: &str = "SourceVerified";
    /// An included GitRepository has no artifact.
    pub const INCLUDE_UNAVAILABLE: &str = "IncludeUnavailable";

    // HelmRelease.
    /// The last Helm action (install, upgrade) succeeded.
    pub const RELEASED: &str = "Released";
    /// The last Helm test run succeeded.
    pub const TEST_SUCCESS: &str = "TestSuccess";
    /// A failed release was rolled back or uninstalled.
    pub const REMEDIATED: &str = "Remediated";
    /// The cluster state drifted from the release manifest.
    pub const DRIFTED: &str = "Drifted";
}

/// Reason strings, shared (`fluxcd/pkg/apis/meta`) and per controller.
pub mod reasons {
    // Shared.
    pub const SUCCEEDED: &str = "Succeeded";
    pub const FAILED: &str = "Failed";
    pub const PROGRESSING: &str = "Progressing";
    pub const PROGRESSING_WITH_RETRY: &str = "ProgressingWithRetry";
    pub const SUSPENDED: &str = "Suspended";
    pub const DEPENDENCY_NOT_READY: &str = "DependencyNotReady";
    pub const RECONCILIATION_SUCCEEDED: &str = "ReconciliationSucceeded";
    pub const RECONCILIATION_FAILED: &str = "ReconciliationFailed";
    pub const HEALTH_CHECK_FAILED: &str = "HealthCheckFailed";
    pub const ARTIFACT_FAILED: &str = "ArtifactFailed";
    pub const BUILD_FAILED: &str = "BuildFailed";
    pub const PRUNE_FAILED: &str = "PruneFailed";
    pub const INVALID_PATH: &str = "InvalidPath";
    pub const INVALID_URL: &str = "InvalidURL";
    pub const INVALID_CEL_EXPRESSION: &str = "InvalidCELExpression";
    pub const ACCESS_DENIED: &str = "AccessDenied";
    pub const FEATURE_GATE_DISABLED: &str = "FeatureGateDisabled";

    // Sources.
    pub const URL_INVALID: &str = "URLInvalid";
    pub const AUTHENTICATION_FAILED: &str = "AuthenticationFailed";
    pub const VERIFICATION_ERROR: &str = "VerificationError";
    pub const DIRECTORY_CREATION_FAILED: &str = "DirectoryCreationFailed";
    pub const STAT_OPERATION_FAILED: &str = "StatOperationFailed";
    pub const READ_OPERATION_FAILED: &str = "ReadOperationFailed";
    pub const ACQUIRE_LOCK_FAILED: &str = "AcquireLockFailed";
    pub const ARCHIVE_OPERATION_FAILED: &str = "ArchiveOperationFailed";
    pub const SYMLINK_UPDATE_FAILED: &str = "SymlinkUpdateFailed";
    pub const ARTIFACT_UP_TO_DATE: &str = "ArtifactUpToDate";
    pub const CACHE_OPERATION_FAILED: &str = "CacheOperationFailed";
    pub const PATCH_OPERATION_FAILED: &str = "PatchOperationFailed";
    pub const INVALID_STS_CONFIGURATION: &str = "InvalidSTSConfiguration";
    pub const INVALID_PROVIDER_CONFIGURATION: &str = "InvalidProviderConfiguration";
    pub const GIT_OPERATION_SUCCEEDED: &str = "GitOperationSucceeded";
    pub const GIT_OPERATION_FAILED: &str = "GitOperationFailed";
    pub const BUCKET_OPERATION_SUCCEEDED: &str = "BucketOperationSucceeded";
    pub const BUCKET_OPERATION_FAILED: &str = "BucketOperationFailed";
    pub const INDEXATION_FAILED: &str = "IndexationFailed";
    pub const CHART_PULL_SUCCEEDED: &str = "ChartPullSucceeded";
    pub const CHART_PACKAGE_SUCCEEDED: &str = "ChartPackageSucceeded";
    pub const OCI_PULL_FAILED: &str = "OCIArtifactPullFailed";
    pub const OCI_LAYER_OPERATION_FAILED: &str = "OCIArtifactLayerOperationFailed";
    /// Flux's word for a new revision; also used as an event reason.
    pub const NEW_ARTIFACT: &str = "NewArtifact";

    // HelmRelease.
    pub const INSTALL_SUCCEEDED: &str = "InstallSucceeded";
    pub const INSTALL_FAILED: &str = "InstallFailed";
    pub const UPGRADE_SUCCEEDED: &str = "UpgradeSucceeded";
    pub const UPGRADE_FAILED: &str = "UpgradeFailed";
    pub const TEST_SUCCEEDED: &str = "TestSucceeded";
    pub const TEST_FAILED: &str = "TestFailed";
    pub const ROLLBACK_SUCCEEDED: &str = "RollbackSucceeded";
    pub const ROLLBACK_FAILED: &str = "RollbackFailed";
    pub const UNINSTALL_SUCCEEDED: &str = "UninstallSucceeded";
    pub const UNINSTALL_FAILED: &str = "UninstallFailed";
    pub const DRIFT_DETECTED: &str = "DriftDetected";
    pub const NO_DRIFT_DETECTED: &str = "NoDriftDetected";
    pub const INVENTORY_BUILD_FAILED: &str = "InventoryBuildFailed";
    pub const NAMESPACE_CHECK_SKIPPED: &str = "NamespaceCheckSkipped";
    pub const INIT_FAILED: &str = "InitFailed";
    pub const GET_LAST_RELEASE_FAILED: &str = "GetLastReleaseFailed";

    // Notification.
    pub const INITIALIZED: &str = "Initialized";
    pub const VALIDATION_FAILED: &str = "ValidationFailed";
    pub const TOKEN_NOT_FOUND: &str = "TokenNotFound";

    // Image automation.
    pub const IMAGE_URL_INVALID: &str = "ImageURLInvalid";
    pub const INTERVAL_NOT_CONFIGURED: &str = "IntervalNotConfigured";
    pub const INVALID_POLICY_SELECTOR: &str = "InvalidPolicySelector";
    pub const INVALID_SOURCE_CONFIGURATION: &str = "InvalidSourceConfiguration";
    pub const INVALID_UPDATE_STRATEGY: &str = "InvalidUpdateStrategy";
    pub const SOURCE_MANAGER_FAILED: &str = "SourceManagerFailed";
    pub const UPDATE_FAILED: &str = "UpdateFailed";
    pub const REMOVED_TEMPLATE_FIELD: &str = "RemovedTemplateField";
}
