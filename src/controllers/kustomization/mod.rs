//! The Kustomization controller.

mod error;
mod plan;
mod reconciler;
pub mod sops;
pub mod spec_check;
pub mod substitute;

pub(crate) use plan::{applied_only, plan};
pub(crate) use reconciler::{inventory_ref, overlay, overlay_images, overlay_patches};
pub use reconciler::{KustomizationReconciler, CONTROLLER};
