//! Replica membership through Raft (openraft): the log and state machine under
//! `--data-dir`, HTTP+bincode transport, and the cluster loop that turns the
//! committed membership into owned objects with a fenced handoff (DESIGN.md §4).

pub mod cluster;
mod http;
pub mod network;
pub mod store;
pub mod types;

pub use cluster::{
    Cluster, ClusterError, ClusterOptions, LeaseConfig, OwnershipSink, ReplicaStatus,
    SlotOwnership, STATUS_PATH,
};
