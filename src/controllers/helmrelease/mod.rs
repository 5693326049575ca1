//! The HelmRelease controller: Helm releases made with the native engine, stored
//! as Helm's Secret driver stores them, applied with the shared staged apply.

pub mod drift;
mod error;
mod hooks;
pub mod plan;
mod reconciler;
mod storage;

pub use reconciler::{HelmReleaseReconciler, CONTROLLER};
