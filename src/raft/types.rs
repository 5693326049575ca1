//! The Raft type configuration and the replicated state: which replicas are
//! members, the ring epoch, and which epoch each member has acknowledged.

use std::collections::BTreeMap;
use std::io::Cursor;

use serde::{Deserialize, Serialize};

openraft::declare_raft_types!(
    /// ferroflux's Raft types: commands change membership or acknowledge epochs.
    pub TypeConfig:
        D = Command,
        R = CommandResult,
        NodeId = u64,
        Node = openraft::BasicNode,
);

pub type NodeId = u64;
pub type Raft = openraft::Raft<TypeConfig>;

/// Raft identifies nodes by number; replicas are named. The number is a fixed
/// hash of the name, so every replica derives the same one.
pub fn node_id(name: &str) -> NodeId {
    crate::sharding::ring::stable_hash(name.as_bytes())
}

/// A change to the cluster state, committed through the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A replica joins (or re-joins with a new address): a new ring epoch.
    Join { id: String, addr: String },
    /// A replica leaves or is removed: a new ring epoch.
    Leave { id: String },
    /// A replica stopped every object it does not own in `epoch`.
    Ack { id: String, epoch: u64 },
}

/// What applying a command left: the epoch after it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResult {
    pub epoch: u64,
}

/// One member of the ring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The Raft address other replicas reach it at.
    pub addr: String,
}

/// The replicated state machine's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    /// Bumped by every membership change; ownership is computed per epoch.
    pub epoch: u64,
    pub members: BTreeMap<String, Member>,
    /// The last epoch each member acknowledged (stopped what it lost).
    pub acks: BTreeMap<String, u64>,
}

impl ClusterState {
    pub fn apply(&mut self, command: &Command) -> CommandResult {
        match command {
            Command::Join { id, addr } => {
                let member = Member { addr: addr.clone() };
                if self.members.get(id) != Some(&member) {
                    self.members.insert(id.clone(), member);
                    self.epoch += 1;
                }
            }
            Command::Leave { id } => {
                if self.members.remove(id).is_some() {
                    self.acks.remove(id);
                    self.epoch += 1;
                }
            }
            Command::Ack { id, epoch } => {
                if self.members.contains_key(id) {
                    let acked = self.acks.entry(id.clone()).or_default();
                    *acked = (*acked).max(*epoch);
                }
            }
        }
        CommandResult { epoch: self.epoch }
    }

    /// Every member has stopped what it lost in the current epoch, so gained
    /// objects may start.
    pub fn all_acknowledged(&self) -> bool {
        self.members
            .keys()
            .all(|id| self.acks.get(id).copied().unwrap_or(0) >= self.epoch)
    }

    pub fn member_names(&self) -> Vec<String> {
        self.members.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(id: &str) -> Command {
        Command::Join {
            id: id.into(),
            addr: format!("{id}:9000"),
        }
    }

    #[test]
    fn membership_changes_bump_the_epoch_and_repeats_do_not() {
        let mut state = ClusterState::default();
        assert_eq!(state.apply(&join("a")).epoch, 1);
        assert_eq!(
            state.apply(&join("a")).epoch,
            1,
            "a repeated join changes nothing"
        );
        assert_eq!(state.apply(&join("b")).epoch, 2);
        let moved = Command::Join {
            id: "b".into(),
            addr: "elsewhere:9000".into(),
        };
        assert_eq!(state.apply(&moved).epoch, 3, "a new address is a change");
        assert_eq!(state.apply(&Command::Leave { id: "a".into() }).epoch, 4);
        assert_eq!(state.apply(&Command::Leave { id: "a".into() }).epoch, 4);
        assert_eq!(state.member_names(), ["b"]);
    }

    #[test]
    fn gained_objects_wait_for_every_member_to_acknowledge() {
        let mut state = ClusterState::default();
        state.apply(&join("a"));
        state.apply(&join("b"));
        assert!(!state.all_acknowledged());
        state.apply(&Command::Ack {
            id: "a".into(),
            epoch: 2,
        });
        assert!(!state.all_acknowledged(), "b has not acknowledged");
        state.apply(&Command::Ack {
            id: "b".into(),
            epoch: 2,
        });
        assert!(state.all_acknowledged());
        // An acknowledgement from a non-member (removed meanwhile) is ignored.
        state.apply(&Command::Leave { id: "b".into() });
        state.apply(&Command::Ack {
            id: "b".into(),
            epoch: 3,
        });
        assert!(!state.acks.contains_key("b"));
        assert!(!state.all_acknowledged(), "a must acknowledge epoch 3");
    }
}
