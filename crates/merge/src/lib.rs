//! How Kubernetes objects merge and are selected. Shared by the embedded API server (strategic merge
//! patch, server-side apply) and the kustomize engine (patches), so both agree on the
//! merge keys of the built-in kinds.

pub mod listmeta;
pub mod selector;
pub mod strategic;
