//! A replica's life in the Raft cluster: bootstrapping or joining it,
//! heartbeats, the leader's removal of silent members, and the ownership loop
//! that turns the committed membership into the objects this replica runs.
//!
//! The fence (DESIGN.md §4): in each epoch a replica first stops the objects
//! it lost, then acknowledges the epoch through the log; objects it gained start
//! only once every member of the epoch has acknowledged it. A member that goes
//! silent is removed after `--member-timeout`, and it stops everything itself
//! after half that time without the leader's word, so the others can take its
//! objects as soon as it is removed. A replica cut off from the majority hears
//! no leader and so stops reconciling.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use openraft::{BasicNode, ChangeMembers, ServerState};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::network::{call, http_client, Network};
use super::store::{LogStore, StateMachineStore};
use super::types::{node_id, Command, NodeId, Raft};
use crate::actors::{ObjectKey, Ownership};
use crate::sharding::slots::{slot_of, SlotTable};

pub const HEARTBEAT_PATH: &str = "/cluster/heartbeat";
pub const WRITE_PATH: &str = "/cluster/write";
pub const STATUS_PATH: &str = "/cluster/status";

/// Why the cluster could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("data directory {dir}: {source}")]
    DataDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("data directory {dir} belongs to replica {found}, not {id}: give each replica its own --data-dir")]
    WrongIdentity {
        dir: PathBuf,
        found: String,
        id: String,
    },
    #[error("invalid Raft configuration: {0}")]
    Config(String),
    #[error("starting Raft: {0}")]
    Raft(String),
    #[error("listening for Raft on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("building the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Where the bootstrap Lease lives. Its holder's identity is `ID ADDRESS`, so
/// joining replicas find the cluster from it.
#[derive(Clone)]
pub struct LeaseConfig {
    pub client: kube::Client,
    pub namespace: String,
    pub name: String,
}

/// How this replica takes part.
#[derive(Clone)]
pub struct ClusterOptions {
    pub id: String,
    pub raft_listen: SocketAddr,
    /// host:port the others reach this replica's Raft server at.
    pub advertise: String,
    /// Replicas to ask for the cluster when joining (host:port).
    pub peers: Vec<String>,
    pub data_dir: PathBuf,
    pub member_timeout: Duration,
    pub lease: Option<LeaseConfig>,
}

/// What the cluster drives: the replica's router.
pub trait OwnershipSink: Send + Sync + 'static {
    /// Switch to `ownership`; resolves once the actors of objects no longer
    /// owned have stopped (their reconciles finished).
    fn apply(&self, ownership: Arc<dyn Ownership>) -> BoxFuture<'static, ()>;
    /// The objects running here.
    fn owned(&self) -> BoxFuture<'static, Vec<ObjectKey>>;
}

impl OwnershipSink for ractor::ActorRef<crate::actors::RouterMsg> {
    fn apply(&self, ownership: Arc<dyn Ownership>) -> BoxFuture<'static, ()> {
        let router = self.clone();
        Box::pin(async move {
            let changed = router
                .call(
                    |port| crate::actors::RouterMsg::OwnershipChangedThenAck(ownership, port),
                    None,
                )
                .await;
            if let Err(error) = changed {
                tracing::error!(%error, "the router did not take the new ownership");
            }
        })
    }

    fn owned(&self) -> BoxFuture<'static, Vec<ObjectKey>> {
        let router = self.clone();
        Box::pin(async move {
            match router.call(crate::actors::RouterMsg::Owned, None).await {
                Ok(ractor::rpc::CallResult::Success(keys)) => keys,
                _ => Vec::new(),
            }
        })
    }
}

/// The objects of the slots this replica may run.
pub struct SlotOwnership {
    allowed: Arc<Vec<bool>>,
    fenced: bool,
}

impl SlotOwnership {
    /// Nothing: before joining, and while leaving.
    pub fn none() -> Self {
        Self {
            allowed: Arc::new(Vec::new()),
            fenced: false,
        }
    }
}

impl Ownership for SlotOwnership {
    fn abort_in_flight(&self) -> bool {
        self.fenced
    }

    fn owns(&self, key: &ObjectKey) -> bool {
        self.allowed
            .get(slot_of(&key.to_string()))
            .copied()
            .unwrap_or(false)
    }
}

/// A heartbeat: "I am here at this address; am I a member?"
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heartbeat {
    pub id: String,
    pub addr: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum HeartbeatReply {
    /// A member in the leader's current epoch.
    Member { epoch: u64 },
    /// Not (or no longer) a member; the leader is adding it.
    Joining,
    /// Ask the leader instead (if known).
    NotLeader { leader: Option<String> },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WriteReply {
    Done { epoch: u64 },
    NotLeader { leader: Option<String> },
    Failed(String),
}

/// The leader's latest word to this replica.
#[derive(Debug, Clone, Copy, Default)]
struct Contact {
    at: Option<Instant>,
    member: bool,
    epoch: u64,
}

#[derive(Default)]
struct LeaderDuty {
    leader_since: Option<Instant>,
    last_seen: HashMap<String, Instant>,
    quorum_at: Option<Instant>,
    lease_renewed_at: Option<Instant>,
}

/// What `ferroflux get replicas` shows of one replica.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaStatus {
    pub id: String,
    pub addr: String,
    pub role: String,
    pub leader: Option<String>,
    pub epoch: u64,
    pub members: BTreeMap<String, String>,
    pub acks: BTreeMap<String, u64>,
    pub fenced: bool,
    pub owned_slots: usize,
    pub owned: BTreeMap<String, usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<String>,
}

#[derive(Default, Clone)]
struct View {
    fenced: bool,
    owned_slots: usize,
}

pub(crate) struct Node {
    id: String,
    node_id: NodeId,
    advertise: String,
    peers: Vec<String>,
    pub(crate) raft: Raft,
    machine: StateMachineStore,
    http: reqwest::Client,
    member_timeout: Duration,
    fence_timeout: Duration,
    tick: Duration,
    lease: Option<LeaseConfig>,
    duty: Mutex<LeaderDuty>,
    membership_changes: tokio::sync::Mutex<()>,
    contact: watch::Sender<Contact>,
    sink: Arc<dyn OwnershipSink>,
    view: Mutex<View>,
    leaving: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Node {
    fn is_leader(&self) -> bool {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        m.state == ServerState::Leader && m.current_leader == Some(self.node_id)
    }

    fn leader_addr(&self) -> Option<String> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        let leader = m.current_leader?;
        m.membership_config
            .membership()
            .get_node(&leader)
            .map(|n| n.addr.clone())
    }

    fn voters(&self) -> BTreeSet<NodeId> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect()
    }

    fn quorum_fresh(&self) -> bool {
        lock(&self.duty)
            .quorum_at
            .is_some_and(|at| at.elapsed() < self.fence_timeout)
    }

    /// The leader's side of a heartbeat.
    pub(crate) fn on_heartbeat(self: &Arc<Self>, heartbeat: Heartbeat) -> HeartbeatReply {
        if !self.is_leader() || !self.quorum_fresh() {
            // A leader without a recent quorum cannot vouch for anyone.
            return HeartbeatReply::NotLeader {
                leader: self.leader_addr().filter(|_| !self.is_leader()),
            };
        }
        lock(&self.duty)
            .last_seen
            .insert(heartbeat.id.clone(), Instant::now());
        let state = self.machine.state();
        let is_voter = self.voters().contains(&node_id(&heartbeat.id));
        let known = state.members.get(&heartbeat.id).map(|m| m.addr.as_str());
        if is_voter && known == Some(heartbeat.addr.as_str()) {
            return HeartbeatReply::Member { epoch: state.epoch };
        }
        let node = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(error) = node.add_member(&heartbeat).await {
                tracing::warn!(replica = %heartbeat.id, %error, "adding a member failed; it will ask again");
            }
        });
        HeartbeatReply::Joining
    }

    /// Makes `heartbeat.id` a voter and a ring member (leader only).
    async fn add_member(&self, heartbeat: &Heartbeat) -> Result<(), String> {
        let Ok(_guard) = self.membership_changes.try_lock() else {
            return Ok(()); // another change is under way; the next heartbeat retries
        };
        let id = node_id(&heartbeat.id);
        let node = BasicNode::new(heartbeat.addr.clone());
        let known_node = self
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&id)
            .cloned();
        match known_node {
            None => {
                tracing::info!(replica = %heartbeat.id, addr = %heartbeat.addr, "adding a replica");
                self.raft
                    .add_learner(id, node, true)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Some(existing) if existing != node => {
                self.raft
                    .change_membership(ChangeMembers::SetNodes([(id, node)].into()), true)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Some(_) => {}
        }
        if !self.voters().contains(&id) {
            self.raft
                .change_membership(ChangeMembers::AddVoterIds([id].into()), false)
                .await
                .map_err(|e| e.to_string())?;
        }
        self.raft
            .client_write(Command::Join {
                id: heartbeat.id.clone(),
                addr: heartbeat.addr.clone(),
            })
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Takes `member` out of the ring and then out of Raft (leader only).
    async fn remove_member(&self, member: &str) -> Result<u64, String> {
        let _guard = self.membership_changes.lock().await;
        tracing::info!(replica = %member, "removing a replica");
        let written = self
            .raft
            .client_write(Command::Leave {
                id: member.to_owned(),
            })
            .await
            .map_err(|e| e.to_string())?;
        let id = node_id(member);
        let voters = self.voters();
        // The last voter stays: a membership cannot be empty, and a cluster of
        // one that restarts from its log finds itself again.
        if voters.contains(&id) && voters.len() > 1 {
            self.raft
                .change_membership(ChangeMembers::RemoveVoters([id].into()), false)
                .await
                .map_err(|e| e.to_string())?;
        }
        lock(&self.duty).last_seen.remove(member);
        Ok(written.data.epoch)
    }

    /// The leader's side of a write from another replica.
    pub(crate) async fn on_write(&self, command: Command) -> WriteReply {
        if !self.is_leader() {
            return WriteReply::NotLeader {
                leader: self.leader_addr(),
            };
        }
        let result = match &command {
            Command::Ack { .. } => self
                .raft
                .client_write(command)
                .await
                .map(|r| r.data.epoch)
                .map_err(|e| e.to_string()),
            Command::Leave { id } => self.remove_member(id).await,
            Command::Join { .. } => Err("replicas join with heartbeats".to_owned()),
        };
        match result {
            Ok(epoch) => WriteReply::Done { epoch },
            Err(message) => WriteReply::Failed(message),
        }
    }

    /// Commits `command` through the leader, wherever it is.
    async fn write(self: &Arc<Self>, command: Command) -> Result<u64, String> {
        if self.is_leader() {
            return match self.on_write(command).await {
                WriteReply::Done { epoch } => Ok(epoch),
                WriteReply::Failed(message) => Err(message),
                WriteReply::NotLeader { .. } => Err("lost leadership".to_owned()),
            };
        }
        let mut addr = self.leader_addr().ok_or("no leader known")?;
        for _ in 0..3 {
            match call(&self.http, &addr, WRITE_PATH, &command, self.tick * 4)
                .await
                .map_err(|e| e.to_string())?
            {
                WriteReply::Done { epoch } => return Ok(epoch),
                WriteReply::Failed(message) => return Err(message),
                WriteReply::NotLeader { leader: Some(next) } => addr = next,
                WriteReply::NotLeader { leader: None } => return Err("no leader".to_owned()),
            }
        }
        Err("the leader kept moving".to_owned())
    }

    /// Where to look for the leader, most likely first.
    async fn candidates(&self) -> Vec<String> {
        let mut found: Vec<String> = Vec::new();
        let mut add = |addr: String| {
            if addr != self.advertise && !found.contains(&addr) {
                found.push(addr);
            }
        };
        if let Some(addr) = self.leader_addr() {
            add(addr);
        }
        for (_, node) in self.raft.metrics().borrow().membership_config.nodes() {
            add(node.addr.clone());
        }
        for peer in &self.peers {
            add(peer.clone());
        }
        if let Some(holder) = self.lease_holder().await {
            add(holder);
        }
        found
    }

    async fn lease_holder(&self) -> Option<String> {
        let lease = self.lease.as_ref()?;
        let api: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
            kube::Api::namespaced(lease.client.clone(), &lease.namespace);
        let found = api.get_opt(&lease.name).await.ok()??;
        let holder = found.spec?.holder_identity?;
        let (_, addr) = holder.split_once(' ')?;
        Some(addr.to_owned())
    }

    fn lease_lock(&self) -> Option<kube_leader_election::LeaseLock> {
        let lease = self.lease.as_ref()?;
        Some(kube_leader_election::LeaseLock::new(
            lease.client.clone(),
            &lease.namespace,
            kube_leader_election::LeaseLockParams {
                lease_name: lease.name.clone(),
                holder_id: format!("{} {}", self.id, self.advertise),
                lease_ttl: LEASE_TTL,
            },
        ))
    }

    /// One heartbeat: to itself when leading, else to the leader.
    async fn heartbeat(self: &Arc<Self>) -> Option<HeartbeatReply> {
        let me = Heartbeat {
            id: self.id.clone(),
            addr: self.advertise.clone(),
        };
        if self.is_leader() {
            let confirmed =
                tokio::time::timeout(self.fence_timeout / 2, self.raft.ensure_linearizable()).await;
            if matches!(confirmed, Ok(Ok(_))) {
                lock(&self.duty).quorum_at = Some(Instant::now());
            }
            return Some(self.on_heartbeat(me));
        }
        for addr in self.candidates().await {
            let mut target = addr;
            for _ in 0..2 {
                match call::<_, HeartbeatReply>(&self.http, &target, HEARTBEAT_PATH, &me, self.tick)
                    .await
                {
                    Ok(HeartbeatReply::NotLeader { leader: Some(next) }) if next != target => {
                        target = next;
                    }
                    Ok(HeartbeatReply::NotLeader { .. }) | Err(_) => break,
                    Ok(reply) => return Some(reply),
                }
            }
        }
        None
    }

    /// With no cluster anywhere, the holder of the bootstrap Lease starts one;
    /// returns whether this replica did.
    async fn bootstrap_if_alone(&self) -> bool {
        if self.raft.is_initialized().await.unwrap_or(true) {
            return false;
        }
        let acquired = match self.lease_lock() {
            Some(lock) => match lock.try_acquire_or_renew().await {
                Ok(kube_leader_election::LeaseLockResult::Acquired(_)) => true,
                Ok(_) => false,
                Err(error) => {
                    tracing::warn!(%error, "could not take the bootstrap Lease");
                    false
                }
            },
            // No Lease and no peers: a cluster of one.
            None => self.peers.is_empty(),
        };
        if !acquired {
            return false;
        }
        if self.lease.is_some() || !self.peers.is_empty() {
            tracing::info!(replica = %self.id, "no cluster found: initialising one");
        } else {
            tracing::debug!(replica = %self.id, "a replica alone: a cluster of one");
        }
        let members: BTreeMap<NodeId, BasicNode> =
            [(self.node_id, BasicNode::new(self.advertise.clone()))].into();
        match self.raft.initialize(members).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(%error, "initialising the cluster failed");
                false
            }
        }
    }

    /// The leader removes members it has not heard from, and keeps the Lease
    /// pointing at itself so that joining replicas find it.
    async fn leader_duties(self: &Arc<Self>) {
        if !self.is_leader() {
            lock(&self.duty).leader_since = None;
            return;
        }
        let state = self.machine.state();
        let (silent, renew) = {
            let mut duty = lock(&self.duty);
            let since = *duty.leader_since.get_or_insert_with(Instant::now);
            let silent: Vec<String> = state
                .members
                .keys()
                .filter(|id| **id != self.id)
                .filter(|id| {
                    let seen = duty.last_seen.get(*id).copied().unwrap_or(since).max(since);
                    seen.elapsed() > self.member_timeout
                })
                .cloned()
                .collect();
            let renew = duty
                .lease_renewed_at
                .is_none_or(|at| at.elapsed() > LEASE_TTL / 3);
            if renew {
                duty.lease_renewed_at = Some(Instant::now());
            }
            (silent, renew)
        };
        for member in silent {
            if let Err(error) = self.remove_member(&member).await {
                tracing::warn!(replica = %member, %error, "removing a silent member failed");
            }
        }
        if renew {
            if let Some(lease) = self.lease_lock() {
                if let Err(error) = lease.try_acquire_or_renew().await {
                    tracing::debug!(%error, "renewing the bootstrap Lease");
                }
            }
        }
    }

    async fn heartbeat_loop(self: Arc<Self>) {
        let mut ticker = tokio::time::interval(self.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if self.leaving.load(Ordering::SeqCst) {
                return;
            }
            let reply = self.heartbeat().await;
            // The first member asks again at once rather than a tick later.
            if reply.is_none() && self.bootstrap_if_alone().await {
                ticker.reset_immediately();
            }
            if let Some(reply) = reply {
                self.contact.send_modify(|contact| match reply {
                    HeartbeatReply::Member { epoch } => {
                        *contact = Contact {
                            at: Some(Instant::now()),
                            member: true,
                            epoch,
                        }
                    }
                    HeartbeatReply::Joining => {
                        contact.at = Some(Instant::now());
                        contact.member = false;
                    }
                    HeartbeatReply::NotLeader { .. } => {}
                });
            }
            self.leader_duties().await;
        }
    }

    /// Turns the committed membership and the leader's word into the objects
    /// this replica runs, and acknowledges epochs.
    async fn ownership_loop(self: Arc<Self>) {
        let mut states = self.machine.subscribe();
        let mut contacts = self.contact.subscribe();
        let mut running: Arc<Vec<bool>> = Arc::new(Vec::new());
        let mut table: Option<(Vec<String>, SlotTable)> = None;
        let mut acked_at: Option<(u64, Instant)> = None;
        loop {
            tokio::select! {
                _ = states.changed() => {}
                _ = contacts.changed() => {}
                _ = tokio::time::sleep(self.tick) => {}
            }
            if self.leaving.load(Ordering::SeqCst) {
                return;
            }
            let state = states.borrow_and_update().clone();
            let contact = *contacts.borrow_and_update();
            let fresh = contact
                .at
                .is_some_and(|at| at.elapsed() < self.fence_timeout);
            let fenced = !(fresh && contact.member && state.members.contains_key(&self.id));
            let allowed: Arc<Vec<bool>> = if fenced {
                Arc::new(Vec::new())
            } else {
                let members = state.member_names();
                if table.as_ref().is_none_or(|(m, _)| *m != members) {
                    table = Some((members.clone(), SlotTable::new(&members)));
                }
                let mine = table
                    .as_ref()
                    .map(|(_, t)| t.mask_of(&self.id))
                    .unwrap_or_default();
                // Grow only on an up-to-date view with every member's
                // acknowledgement; shrinking is always safe.
                let may_grow = state.epoch >= contact.epoch && state.all_acknowledged();
                Arc::new(
                    mine.iter()
                        .enumerate()
                        .map(|(slot, owns)| {
                            *owns && (may_grow || running.get(slot).copied().unwrap_or(false))
                        })
                        .collect(),
                )
            };
            if allowed != running {
                self.sink
                    .apply(Arc::new(SlotOwnership {
                        allowed: Arc::clone(&allowed),
                        fenced,
                    }))
                    .await;
                running = allowed;
            }
            let owned_slots = running.iter().filter(|o| **o).count();
            *lock(&self.view) = View {
                fenced,
                owned_slots,
            };
            metrics::gauge!("ferroflux_ring_epoch").set(state.epoch as f64);
            metrics::gauge!("ferroflux_ring_members").set(state.members.len() as f64);
            metrics::gauge!("ferroflux_owned_slots").set(owned_slots as f64);
            metrics::gauge!("ferroflux_fenced").set(if fenced { 1.0 } else { 0.0 });
            metrics::gauge!("ferroflux_raft_leader").set(if self.is_leader() { 1.0 } else { 0.0 });

            let acked = state.acks.get(&self.id).copied().unwrap_or(0);
            let retry_due = acked_at
                .is_none_or(|(epoch, at)| epoch != state.epoch || at.elapsed() > self.tick * 4);
            if !fenced && acked < state.epoch && retry_due {
                acked_at = Some((state.epoch, Instant::now()));
                let node = Arc::clone(&self);
                let epoch = state.epoch;
                tokio::spawn(async move {
                    let ack = Command::Ack {
                        id: node.id.clone(),
                        epoch,
                    };
                    if let Err(error) = node.write(ack).await {
                        tracing::debug!(epoch, %error, "acknowledging the epoch failed; retrying");
                    }
                });
            }
        }
    }

    pub(crate) async fn status(&self, with_objects: bool) -> ReplicaStatus {
        let state = self.machine.state();
        let metrics = self.raft.metrics().borrow().clone();
        let leader = metrics.current_leader.and_then(|leader| {
            state
                .members
                .keys()
                .find(|id| node_id(id) == leader)
                .cloned()
        });
        let owned_keys = self.sink.owned().await;
        let mut owned: BTreeMap<String, usize> = BTreeMap::new();
        for key in &owned_keys {
            *owned.entry(key.kind.clone()).or_default() += 1;
        }
        let view = lock(&self.view).clone();
        ReplicaStatus {
            id: self.id.clone(),
            addr: self.advertise.clone(),
            role: format!("{:?}", metrics.state),
            leader,
            epoch: state.epoch,
            members: state
                .members
                .iter()
                .map(|(id, m)| (id.clone(), m.addr.clone()))
                .collect(),
            acks: state.acks.clone(),
            fenced: view.fenced,
            owned_slots: view.owned_slots,
            owned,
            objects: if with_objects {
                owned_keys.iter().map(ToString::to_string).collect()
            } else {
                Vec::new()
            },
        }
    }
}

const LEASE_TTL: Duration = Duration::from_secs(15);

/// A running cluster membership. Dropping it without [`Cluster::leave`] is a
/// crash as far as the others are concerned.
pub struct Cluster {
    node: Arc<Node>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Cluster {
    /// Opens the log under `data_dir`, serves Raft on `raft_listen`, and joins
    /// (or starts) the cluster in the background.
    pub async fn start(
        options: ClusterOptions,
        sink: Arc<dyn OwnershipSink>,
    ) -> Result<Self, ClusterError> {
        let dir = options.data_dir.join("raft");
        let io = |source| ClusterError::DataDir {
            dir: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let identity = dir.join("replica-id");
        match std::fs::read_to_string(&identity) {
            Ok(found) if found.trim() != options.id => {
                return Err(ClusterError::WrongIdentity {
                    dir,
                    found: found.trim().to_owned(),
                    id: options.id,
                })
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::write(&identity, &options.id).map_err(io)?;
            }
            Err(e) => return Err(io(e)),
        }
        let log = LogStore::open(&dir).map_err(io)?;
        let machine = StateMachineStore::open(&dir).map_err(io)?;

        let member_timeout = options.member_timeout.max(Duration::from_secs(2));
        // Heartbeats and the ownership loop run at this pace: a twentieth of the
        // member timeout, so that joining (a few rounds) takes about a second.
        let tick =
            (member_timeout / 20).clamp(Duration::from_millis(100), Duration::from_millis(500));
        let config = openraft::Config {
            cluster_name: "ferroflux".into(),
            // A dead leader costs one election on top of the member timeout;
            // keep it short. A needless election changes no epoch.
            heartbeat_interval: 200,
            election_timeout_min: 800,
            election_timeout_max: 1_600,
            install_snapshot_timeout: 10_000,
            snapshot_max_chunk_size: 1 << 20,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(1_000),
            max_in_snapshot_log_to_keep: 100,
            ..Default::default()
        }
        .validate()
        .map_err(|e| ClusterError::Config(e.to_string()))?;
        let listener = tokio::net::TcpListener::bind(options.raft_listen)
            .await
            .map_err(|source| ClusterError::Listen {
                addr: options.raft_listen,
                source,
            })?;
        // No address to advertise: the one bound (a cluster of one on port 0).
        let advertise = match options.advertise.is_empty() {
            true => listener
                .local_addr()
                .map(|addr| addr.to_string())
                .unwrap_or_default(),
            false => options.advertise,
        };
        let bind = Some(options.raft_listen.ip()).filter(|ip| !ip.is_unspecified());
        let http = http_client(bind)?;
        let network = Network { http: http.clone() };
        let node_id = node_id(&options.id);
        let raft = Raft::new(node_id, Arc::new(config), network, log, machine.clone())
            .await
            .map_err(|e| ClusterError::Raft(e.to_string()))?;

        let node = Arc::new(Node {
            id: options.id,
            node_id,
            advertise,
            peers: options.peers,
            raft,
            machine,
            http,
            member_timeout,
            fence_timeout: member_timeout / 2,
            tick,
            lease: options.lease,
            duty: Mutex::default(),
            membership_changes: tokio::sync::Mutex::new(()),
            contact: watch::Sender::new(Contact::default()),
            sink,
            view: Mutex::new(View {
                fenced: true,
                owned_slots: 0,
            }),
            leaving: AtomicBool::new(false),
        });
        let app = super::http::router(Arc::clone(&node));
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "the Raft server stopped");
            }
        });
        let tasks = vec![
            server,
            tokio::spawn(Arc::clone(&node).heartbeat_loop()),
            tokio::spawn(Arc::clone(&node).ownership_loop()),
        ];
        Ok(Self { node, tasks })
    }

    pub async fn status(&self) -> ReplicaStatus {
        self.node.status(false).await
    }

    /// Leaves cleanly: stops every object here, tells the leader, shuts Raft down.
    pub async fn leave(self) {
        self.node.leaving.store(true, Ordering::SeqCst);
        self.node.sink.apply(Arc::new(SlotOwnership::none())).await;
        let leave = Command::Leave {
            id: self.node.id.clone(),
        };
        match tokio::time::timeout(Duration::from_secs(5), self.node.write(leave)).await {
            Ok(Ok(_)) => tracing::info!("left the cluster"),
            Ok(Err(error)) => {
                tracing::warn!(%error, "could not leave the cluster; the others will remove this replica")
            }
            Err(_) => {
                tracing::warn!("leaving the cluster timed out; the others will remove this replica")
            }
        }
        let _ = self.node.raft.shutdown().await;
        for task in self.tasks {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Records the ownership the cluster hands the replica.
    #[derive(Default)]
    struct Recorder(Mutex<Option<Arc<dyn Ownership>>>);

    impl OwnershipSink for Recorder {
        fn apply(&self, ownership: Arc<dyn Ownership>) -> BoxFuture<'static, ()> {
            *lock(&self.0) = Some(ownership);
            Box::pin(async {})
        }
        fn owned(&self) -> BoxFuture<'static, Vec<ObjectKey>> {
            Box::pin(async { Vec::new() })
        }
    }

    impl Recorder {
        fn owns(&self, key: &ObjectKey) -> bool {
            lock(&self.0).as_ref().is_some_and(|o| o.owns(key))
        }
    }

    fn lone(dir: &Path) -> ClusterOptions {
        ClusterOptions {
            id: "lone".into(),
            raft_listen: "127.0.0.1:0".parse().expect("address"),
            advertise: String::new(),
            peers: Vec::new(),
            data_dir: dir.to_path_buf(),
            member_timeout: Duration::from_secs(10),
            lease: None,
        }
    }

    async fn owning_everything(cluster: &Cluster, sink: &Recorder) -> ReplicaStatus {
        let keys: Vec<ObjectKey> = (0..50)
            .map(|i| ObjectKey::new("Kustomization", "apps", format!("app-{i}")))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let status = cluster.status().await;
            if status.owned_slots == crate::sharding::slots::SLOTS
                && keys.iter().all(|key| sink.owns(key))
            {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "a cluster of one owns everything: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn a_replica_alone_is_a_cluster_of_one_that_restarts_from_its_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = Arc::new(Recorder::default());
        let cluster = Cluster::start(lone(dir.path()), sink.clone())
            .await
            .expect("starts");
        let first = owning_everything(&cluster, &sink).await;
        assert_eq!(first.role, "Leader");
        assert_eq!(first.members.keys().collect::<Vec<_>>(), ["lone"]);
        assert!(!first.fenced);
        cluster.leave().await;
        assert!(
            !sink.owns(&ObjectKey::new("Kustomization", "apps", "app-0")),
            "leaving stops everything"
        );

        // Same directory, another port: it finds itself in its log and rejoins.
        let sink = Arc::new(Recorder::default());
        let cluster = Cluster::start(lone(dir.path()), sink.clone())
            .await
            .expect("restarts");
        let again = owning_everything(&cluster, &sink).await;
        assert!(
            again.epoch > first.epoch,
            "{} > {}",
            again.epoch,
            first.epoch
        );
        assert_eq!(again.members.keys().collect::<Vec<_>>(), ["lone"]);
        cluster.leave().await;
    }
}
