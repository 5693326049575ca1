//! The reconcilers of the Flux kinds, and what they share.

pub mod bucket;
pub mod conditions;
pub mod events;
pub mod finalizer;
pub mod gitrepository;
pub mod helmchart;
pub mod helmrelease;
pub mod helmrepository;
pub mod kustomization;
pub mod ocirepository;
pub mod source_status;
pub mod watch;
