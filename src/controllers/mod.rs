//! The reconcilers of the Flux kinds, and what they share.

pub mod conditions;
pub mod events;
pub mod gitrepository;
pub mod kustomization;
pub mod watch;
