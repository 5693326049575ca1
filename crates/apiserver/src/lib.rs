//! An in-memory Kubernetes API server: what `ferroflux dev` runs on and what every
//! ferroflux test talks to. Real clients (kubectl, Helm, kube-rs) are its judges.

pub mod api;
pub mod audit;
pub mod controllers;
pub mod discovery;
pub mod faults;
pub mod http;
pub mod kubelet;
pub use ferroflux_merge::listmeta;
pub mod managed;
pub mod objects;
pub mod openapi;
pub mod openapi_http;
pub mod protobuf;
pub mod rbac;
pub mod request;
pub mod resources;
pub mod reviews;
pub mod scale;
pub mod schema;
pub use ferroflux_merge::selector;
pub mod server;
pub mod status;
pub mod store;
pub use ferroflux_merge::strategic;
pub mod table;
pub mod tls;
pub mod util;
pub mod watch;

pub use faults::Faults;
pub use kubelet::KubeletConfig;
pub use server::{ApiServer, Config, StartError};
