//! The Kustomization controller.

pub mod applier;
pub mod health;
pub mod inventory;
mod reconciler;
pub mod sops;
pub mod spec_check;
pub mod stages;
pub mod substitute;

pub(crate) use reconciler::{inventory_ref, label_owner, overlay};
pub use reconciler::{KustomizationReconciler, CONTROLLER};
