//! Why a Kustomization reconcile failed: one variant per phase, each with Flux's
//! condition reason and whether retrying can help.

use crate::apply::stages::partial_apply_error_message;
use crate::apply::StagedError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum KustomizationError {
    /// The spec can never work (schema, `--no-cross-namespace-refs`, feature gates).
    #[error("{message}")]
    InvalidSpec {
        reason: &'static str,
        message: String,
    },
    #[error("{0}")]
    DependencyNotReady(String),
    #[error("{message}")]
    Artifact { message: String, stalled: bool },
    #[error("{message}")]
    Decryption { message: String, stalled: bool },
    /// Build or post-build substitution.
    #[error("{0}")]
    Build(String),
    #[error("{0}")]
    Apply(String),
    #[error("{0}")]
    Prune(String),
    /// `message` is the Ready message; `failure` the inner one the Healthy
    /// condition carries.
    #[error("{message}")]
    HealthCheck { message: String, failure: String },
    /// The controller could not act as the Kustomization's service account.
    #[error("{0}")]
    Impersonation(String),
}

impl KustomizationError {
    pub(crate) fn artifact(message: impl Into<String>) -> Self {
        Self::Artifact {
            message: message.into(),
            stalled: false,
        }
    }

    pub(crate) fn decryption(message: impl Into<String>) -> Self {
        Self::Decryption {
            message: message.into(),
            stalled: false,
        }
    }

    /// Flux's condition reason.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Self::InvalidSpec { reason, .. } => reason,
            Self::DependencyNotReady(_) => "DependencyNotReady",
            Self::Artifact { .. } => "ArtifactFailed",
            Self::Decryption { .. } => "DecryptionFailed",
            Self::Build(_) => "BuildFailed",
            Self::Apply(_) | Self::Impersonation(_) => "ReconciliationFailed",
            Self::Prune(_) => "PruneFailed",
            Self::HealthCheck { .. } => "HealthCheckFailed",
        }
    }

    /// Whether only a change of the spec can fix it.
    pub(crate) fn stalled(&self) -> bool {
        match self {
            Self::InvalidSpec { .. } => true,
            Self::Artifact { stalled, .. } | Self::Decryption { stalled, .. } => *stalled,
            _ => false,
        }
    }
}

impl From<StagedError> for KustomizationError {
    fn from(error: StagedError) -> Self {
        match error {
            StagedError::Apply { error, applied } => {
                Self::Apply(partial_apply_error_message(&error.to_string(), &applied)).trimmed()
            }
            StagedError::Prune { error, .. } => Self::Prune(error.to_string()),
            StagedError::Termination(message) => Self::Prune(message),
            other => Self::Apply(other.to_string()),
        }
    }
}

impl KustomizationError {
    /// Without the trailing newline of an empty change log.
    fn trimmed(self) -> Self {
        match self {
            Self::Apply(message) => Self::Apply(message.trim_end().to_owned()),
            other => other,
        }
    }
}
