//! ferroflux: a GitOps operator for Kubernetes that speaks the FluxCD v2 API.
//! The binary (`src/main.rs`) only parses the command line and hands off to [`cli`].

pub mod actors;
pub mod api;
pub mod apply;
pub mod cli;
pub mod controllers;
pub mod health;
pub mod raft;
pub mod sharding;
pub mod source;
pub mod storage_http;
pub mod telemetry;
