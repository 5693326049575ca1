//! An in-memory Kubernetes API server: what `ferroflux dev` runs on and what every
//! ferroflux test talks to. Real clients (kubectl, Helm, kube-rs) are its judges.

pub mod kubelet;
pub mod listmeta;
pub mod managed;
pub mod rbac;
pub mod schema;
pub mod strategic;
pub mod table;
