//! Build errors. Each names the file and, where there is one, the kustomization field
//! at fault, because a user reading a failed Flux reconcile has nothing else to go on.

/// Why a kustomize build failed.
#[derive(Debug, thiserror::Error)]
pub enum KustomizeError {
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid YAML, or a document is not a Kubernetes object.
    #[error("{file}: invalid YAML: {message}")]
    Yaml { file: String, message: String },
    /// A kustomization field is wrong: `file` is the kustomization file, `field` the
    /// field (e.g. `resources`, `patches[2].target`).
    #[error("{file}: {field}: {message}")]
    Field {
        file: String,
        field: String,
        message: String,
    },
    /// A path leaves the directory the build may read.
    #[error("{file}: {field}: '{path}' is outside the build root '{root}'")]
    OutsideRoot {
        file: String,
        field: String,
        path: String,
        root: String,
    },
    /// A kustomization (directly or through its bases) includes itself.
    #[error("{file}: resources: cycle: '{path}' is already being built")]
    Cycle { file: String, path: String },
    /// Two resources have the same group, version, kind, name and namespace.
    #[error("{file}: may not add resource with an already registered id: {id}")]
    Duplicate { file: String, id: String },
    /// Anything kustomize refuses while transforming (a bad value at a field path,
    /// a replacement that selects nothing, ...).
    #[error("{0}")]
    Transform(String),
}

impl KustomizeError {
    pub(crate) fn field(
        file: impl Into<String>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::Field {
            file: file.into(),
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn transform(message: impl Into<String>) -> Self {
        Self::Transform(message.into())
    }
}

pub type Result<T> = std::result::Result<T, KustomizeError>;
