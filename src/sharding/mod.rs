//! Spreading objects over replicas: the consistent-hash ring with bounded loads
//! that every replica computes alike from the committed membership (DESIGN.md §4).
//! Membership itself comes from Raft ([`crate::raft`]); this module is the pure part.

pub mod ring;
pub mod slots;
