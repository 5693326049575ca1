//! The Kustomization controller.

pub mod applier;
mod reconciler;

pub use reconciler::{KustomizationReconciler, CONTROLLER};
