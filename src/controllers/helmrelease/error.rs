//! Why a HelmRelease reconcile failed, with helm-controller's condition reasons.

#[derive(Debug, thiserror::Error)]
pub(crate) enum HelmReleaseError {
    /// The spec can never work (no chart, a refused cross-namespace reference).
    #[error("{message}")]
    InvalidSpec {
        reason: &'static str,
        message: String,
    },
    #[error("{0}")]
    DependencyNotReady(String),
    /// The chart is not there yet, or cannot be read.
    #[error("{0}")]
    Artifact(String),
    /// Values could not be composed (`valuesFrom`, `values`).
    #[error("{0}")]
    Values(String),
    #[error("{0}")]
    Install(String),
    #[error("{0}")]
    Upgrade(String),
    /// Release storage (the `sh.helm.release.v1` Secrets) could not be read or written.
    #[error("{0}")]
    Storage(String),
    /// Drift could not be detected or corrected.
    #[error("{0}")]
    Drift(String),
    /// Failed more often than the remediation allows; waits for a spec change.
    #[error("{0}")]
    RetriesExhausted(String),
}

impl HelmReleaseError {
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Self::InvalidSpec { reason, .. } => reason,
            Self::DependencyNotReady(_) => "DependencyNotReady",
            Self::Artifact(_) => "ArtifactFailed",
            Self::Values(_) => "InitFailed",
            Self::Install(_) => "InstallFailed",
            Self::Upgrade(_) => "UpgradeFailed",
            Self::Storage(_) => "GetLastReleaseFailed",
            Self::RetriesExhausted(_) => "RetriesExhausted",
            Self::Drift(_) => "DriftDetectionFailed",
        }
    }

    pub(crate) fn stalled(&self) -> bool {
        matches!(self, Self::InvalidSpec { .. } | Self::RetriesExhausted(_))
    }
}
