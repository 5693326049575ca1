//! The ShardRouter: receives watch events for every registered kind, keeps the
//! objects owned by this replica running as actors, and carries notifications
//! between objects (artifact changed, dependency ready).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde_json::Value;

use super::kind::{KindMsg, KindRegistration, KindStats};
use super::object::{ObjectMsg, ObjectSnapshot};
use super::reconciler::ObjectKey;

/// Which objects this replica reconciles. The Raft issue plugs in the
/// consistent-hash ring; until then [`OwnAll`].
pub trait Ownership: Send + Sync + 'static {
    fn owns(&self, key: &ObjectKey) -> bool;
    /// Whether objects lost should stop at once, abandoning reconciles in flight:
    /// a replica cut off from the cluster must stop writing before the others
    /// take over, whatever its reconciles are waiting for.
    fn abort_in_flight(&self) -> bool {
        false
    }
}

/// A replica alone owns everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct OwnAll;

impl Ownership for OwnAll {
    fn owns(&self, _key: &ObjectKey) -> bool {
        true
    }
}

impl<F: Fn(&ObjectKey) -> bool + Send + Sync + 'static> Ownership for F {
    fn owns(&self, key: &ObjectKey) -> bool {
        self(key)
    }
}

/// Messages to the router.
pub enum RouterMsg {
    /// The watch saw this object created or updated.
    Applied(Value),
    /// The watch saw this object deleted.
    Deleted(ObjectKey),
    /// The ring changed: stop actors of objects lost, start those gained.
    OwnershipChanged(Arc<dyn Ownership>),
    /// As `OwnershipChanged`, answering once the actors of the objects lost
    /// have stopped (their reconciles in flight finished): the fence before a
    /// replica acknowledges a ring epoch.
    OwnershipChangedThenAck(Arc<dyn Ownership>, RpcReplyPort<()>),
    /// The objects running here.
    Owned(RpcReplyPort<Vec<ObjectKey>>),
    /// Deliver a message to an owned object's actor (e.g. a webhook's
    /// `Reconcile { reason }`); dropped if the object is not owned here.
    Send(ObjectKey, ObjectMsg),
    /// A source published a new artifact (sent through [`super::ReconcileContext`]).
    ArtifactChanged(ObjectKey),
    /// An object became ready; its dependents are told (runtime-internal).
    BecameReady(ObjectKey),
    /// Keys of the running actors of one kind.
    Running(String, RpcReplyPort<Vec<ObjectKey>>),
    KindStats(String, RpcReplyPort<KindStats>),
    Inspect(ObjectKey, RpcReplyPort<ObjectSnapshot>),
    /// The objects subscribed to a source.
    Subscribers(ObjectKey, RpcReplyPort<Vec<ObjectKey>>),
}

impl fmt::Debug for RouterMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Applied(object) => write!(f, "Applied({:?})", ObjectKey::of(object)),
            Self::Deleted(key) => write!(f, "Deleted({key})"),
            Self::OwnershipChanged(_) => f.write_str("OwnershipChanged"),
            Self::OwnershipChangedThenAck(..) => f.write_str("OwnershipChangedThenAck"),
            Self::Owned(_) => f.write_str("Owned"),
            Self::Send(key, message) => write!(f, "Send({key}, {message:?})"),
            Self::ArtifactChanged(key) => write!(f, "ArtifactChanged({key})"),
            Self::BecameReady(key) => write!(f, "BecameReady({key})"),
            Self::Running(kind, _) => write!(f, "Running({kind})"),
            Self::KindStats(kind, _) => write!(f, "KindStats({kind})"),
            Self::Inspect(key, _) => write!(f, "Inspect({key})"),
            Self::Subscribers(key, _) => write!(f, "Subscribers({key})"),
        }
    }
}

/// source → subscribers, kept from each object's declared dependencies.
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    subscribers: HashMap<ObjectKey, BTreeSet<ObjectKey>>,
    dependencies: HashMap<ObjectKey, Vec<ObjectKey>>,
}

impl Subscriptions {
    pub(crate) fn set(&mut self, subscriber: &ObjectKey, dependencies: Vec<ObjectKey>) {
        self.remove(subscriber);
        for source in &dependencies {
            self.subscribers
                .entry(source.clone())
                .or_default()
                .insert(subscriber.clone());
        }
        if !dependencies.is_empty() {
            self.dependencies.insert(subscriber.clone(), dependencies);
        }
    }

    pub(crate) fn remove(&mut self, subscriber: &ObjectKey) {
        for source in self.dependencies.remove(subscriber).unwrap_or_default() {
            if let Some(set) = self.subscribers.get_mut(&source) {
                set.remove(subscriber);
                if set.is_empty() {
                    self.subscribers.remove(&source);
                }
            }
        }
    }

    pub(crate) fn subscribers_of(&self, source: &ObjectKey) -> Vec<ObjectKey> {
        self.subscribers
            .get(source)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// What the cross-replica notifications compare between two versions of an
/// object this replica does not run: its artifact (digest and address) and its
/// readiness (with the revision it is ready at).
#[derive(Debug, Clone, Default, PartialEq)]
struct StatusSummary {
    artifact: Option<(Value, Option<Value>)>,
    ready_at: Option<Option<Value>>,
}

impl StatusSummary {
    fn of(object: &Value) -> Self {
        let artifact = object.pointer("/status/artifact/digest").map(|digest| {
            (
                digest.clone(),
                object.pointer("/status/artifact/url").cloned(),
            )
        });
        let ready = object
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
            .is_some_and(|c| c["status"] == "True");
        let revision = object
            .pointer("/status/lastAppliedRevision")
            .or_else(|| object.pointer("/status/artifact/revision"))
            .cloned();
        Self {
            artifact,
            ready_at: ready.then_some(revision),
        }
    }
}

/// A watched object as the router keeps it: shared with its actor while it runs
/// here; otherwise packed as JSON, a fraction of the memory of a parsed object,
/// until this replica gains it.
enum Kept {
    Running(Arc<Value>),
    Packed(Box<[u8]>),
}

impl Kept {
    fn new(object: Arc<Value>, running: bool) -> Self {
        if running {
            return Self::Running(object);
        }
        match serde_json::to_vec(&*object) {
            Ok(json) => Self::Packed(json.into_boxed_slice()),
            Err(_) => Self::Running(object),
        }
    }

    fn object(&self) -> Option<Arc<Value>> {
        match self {
            Self::Running(object) => Some(object.clone()),
            Self::Packed(json) => serde_json::from_slice(json).ok().map(Arc::new),
        }
    }
}

struct KeptObject {
    kept: Kept,
    summary: StatusSummary,
}

pub(crate) struct RouterArgs {
    pub kinds: Vec<KindRegistration>,
    pub ownership: Arc<dyn Ownership>,
}

struct KindEntry {
    registration: KindRegistration,
    supervisor: ActorRef<KindMsg>,
}

pub(crate) struct RouterState {
    kinds: HashMap<String, KindEntry>,
    kinds_by_supervisor: HashMap<ActorId, String>,
    /// Every watched object of a registered kind, owned or not, so that a
    /// gained object starts without a relist.
    objects: HashMap<ObjectKey, KeptObject>,
    owned: HashSet<ObjectKey>,
    owned_by_kind: HashMap<String, usize>,
    ownership: Arc<dyn Ownership>,
    subscriptions: Subscriptions,
}

impl RouterState {
    fn supervisor(&self, kind: &str) -> Option<&ActorRef<KindMsg>> {
        self.kinds.get(kind).map(|entry| &entry.supervisor)
    }

    fn send_to_kind(&self, kind: &str, message: KindMsg) {
        if let Some(supervisor) = self.supervisor(kind) {
            let _ = supervisor.send_message(message);
        }
    }

    fn send_to_owned(&self, key: &ObjectKey, message: ObjectMsg) {
        if self.owned.contains(key) {
            self.send_to_kind(&key.kind, KindMsg::Send(key.clone(), message));
        }
    }

    fn start(&mut self, key: &ObjectKey, object: Arc<Value>) {
        if self.owned.insert(key.clone()) {
            self.count_owned(&key.kind, 1);
        }
        self.send_to_kind(&key.kind, KindMsg::Apply(object));
    }

    fn stop(&mut self, key: &ObjectKey) {
        if self.owned.remove(key) {
            self.count_owned(&key.kind, -1);
            self.send_to_kind(&key.kind, KindMsg::Remove(key.clone()));
        }
    }

    fn count_owned(&mut self, kind: &str, delta: isize) {
        let count = self.owned_by_kind.entry(kind.to_owned()).or_default();
        *count = count.saturating_add_signed(delta);
        // One series per registered kind: bounded.
        metrics::gauge!("ferroflux_owned_objects", "kind" => kind.to_owned()).set(*count as f64);
    }

    /// Switches ownership; returns the objects lost, already removed from
    /// `owned`, for the caller to stop.
    fn change_ownership(&mut self, ownership: Arc<dyn Ownership>) -> Vec<ObjectKey> {
        self.ownership = ownership;
        let (gained, lost): (Vec<ObjectKey>, Vec<ObjectKey>) = self
            .objects
            .keys()
            .filter(|key| self.ownership.owns(key) != self.owned.contains(*key))
            .cloned()
            .partition(|key| self.ownership.owns(key));
        let mut lost_keys = Vec::with_capacity(lost.len());
        for key in lost {
            if self.owned.remove(&key) {
                self.count_owned(&key.kind, -1);
                lost_keys.push(key.clone());
            }
            if let Some(entry) = self.objects.get_mut(&key) {
                if let Some(object) = entry.kept.object() {
                    entry.kept = Kept::new(object, false);
                }
            }
        }
        for key in gained {
            let Some(entry) = self.objects.get_mut(&key) else {
                continue;
            };
            let Some(object) = entry.kept.object() else {
                tracing::error!(object = %key, "a kept object no longer parses; waiting for the watch");
                continue;
            };
            entry.kept = Kept::Running(object.clone());
            self.start(&key, object);
        }
        lost_keys
    }

    /// Tells the owned subscribers of an object this replica does not run that
    /// its watch showed a new artifact or readiness: the cross-replica path of
    /// `ArtifactChanged` / `BecameReady`, which the object's own actor sends
    /// when it runs here.
    fn notify_from_status(
        &self,
        key: &ObjectKey,
        before: Option<&StatusSummary>,
        after: &StatusSummary,
    ) {
        if self.owned.contains(key) {
            return;
        }
        // A new digest, or the same one served from a new address (its
        // source moved to another replica).
        if after.artifact.is_some() && before.map(|b| &b.artifact) != Some(&after.artifact) {
            for subscriber in self.subscriptions.subscribers_of(key) {
                self.send_to_owned(
                    &subscriber,
                    ObjectMsg::ArtifactChanged {
                        source: key.clone(),
                    },
                );
            }
        }
        if after.ready_at.is_some() && before.map(|b| &b.ready_at) != Some(&after.ready_at) {
            for subscriber in self.subscriptions.subscribers_of(key) {
                self.send_to_owned(
                    &subscriber,
                    ObjectMsg::DependencyReady {
                        dependency: key.clone(),
                    },
                );
            }
        }
    }
}

pub(crate) struct ShardRouter;

impl Actor for ShardRouter {
    type Msg = RouterMsg;
    type State = RouterState;
    type Arguments = RouterArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut kinds = HashMap::new();
        let mut kinds_by_supervisor = HashMap::new();
        for registration in args.kinds {
            let supervisor = registration
                .spawn(myself.clone(), myself.get_cell())
                .await?;
            kinds_by_supervisor.insert(supervisor.get_id(), registration.kind().to_string());
            kinds.insert(
                registration.kind().to_string(),
                KindEntry {
                    registration,
                    supervisor,
                },
            );
        }
        Ok(RouterState {
            kinds,
            kinds_by_supervisor,
            objects: HashMap::new(),
            owned: HashSet::new(),
            owned_by_kind: HashMap::new(),
            ownership: args.ownership,
            subscriptions: Subscriptions::default(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RouterMsg::Applied(object) => {
                let Some(key) = ObjectKey::of(&object) else {
                    tracing::warn!("watch event for an object without kind or name");
                    return Ok(());
                };
                let Some(entry) = state.kinds.get(&key.kind) else {
                    return Ok(());
                };
                let dependencies = entry.registration.dependencies(&object);
                state.subscriptions.set(&key, dependencies);
                let object = Arc::new(object);
                let summary = StatusSummary::of(&object);
                let owned = state.ownership.owns(&key);
                let before = state.objects.insert(
                    key.clone(),
                    KeptObject {
                        kept: Kept::new(object.clone(), owned),
                        summary: summary.clone(),
                    },
                );
                state.notify_from_status(&key, before.as_ref().map(|b| &b.summary), &summary);
                if owned {
                    state.start(&key, object);
                } else {
                    state.stop(&key);
                }
            }
            RouterMsg::Deleted(key) => {
                state.objects.remove(&key);
                state.subscriptions.remove(&key);
                state.stop(&key);
            }
            RouterMsg::OwnershipChanged(ownership) => {
                for key in state.change_ownership(ownership) {
                    state.send_to_kind(&key.kind, KindMsg::Remove(key.clone()));
                }
            }
            RouterMsg::OwnershipChangedThenAck(ownership, reply) => {
                let abort = ownership.abort_in_flight();
                let mut lost_by_kind: HashMap<String, Vec<ObjectKey>> = HashMap::new();
                for key in state.change_ownership(ownership) {
                    lost_by_kind.entry(key.kind.clone()).or_default().push(key);
                }
                let supervisors: Vec<_> = lost_by_kind
                    .into_iter()
                    .filter_map(|(kind, keys)| Some((state.supervisor(&kind)?.clone(), keys)))
                    .collect();
                // Waiting here would stall every watch event behind the slowest
                // reconcile; a task waits instead.
                tokio::spawn(async move {
                    for (supervisor, keys) in supervisors {
                        let _ = supervisor
                            .call(|port| KindMsg::RemoveAndWait(keys, abort, port), None)
                            .await;
                    }
                    let _ = reply.send(());
                });
            }
            RouterMsg::Owned(reply) => {
                let mut keys: Vec<ObjectKey> = state.owned.iter().cloned().collect();
                keys.sort();
                let _ = reply.send(keys);
            }
            RouterMsg::Send(key, message) => state.send_to_owned(&key, message),
            RouterMsg::ArtifactChanged(source) => {
                for subscriber in state.subscriptions.subscribers_of(&source) {
                    state.send_to_owned(
                        &subscriber,
                        ObjectMsg::ArtifactChanged {
                            source: source.clone(),
                        },
                    );
                }
            }
            RouterMsg::BecameReady(dependency) => {
                for subscriber in state.subscriptions.subscribers_of(&dependency) {
                    state.send_to_owned(
                        &subscriber,
                        ObjectMsg::DependencyReady {
                            dependency: dependency.clone(),
                        },
                    );
                }
            }
            // Queries are forwarded with their reply port so the router never
            // waits on a supervisor; an unknown kind or object drops the port,
            // which the caller sees as an error.
            RouterMsg::Running(kind, reply) => state.send_to_kind(&kind, KindMsg::Running(reply)),
            RouterMsg::KindStats(kind, reply) => state.send_to_kind(&kind, KindMsg::Stats(reply)),
            RouterMsg::Inspect(key, reply) => {
                state.send_to_kind(
                    &key.kind,
                    KindMsg::Send(key.clone(), ObjectMsg::Inspect(reply)),
                );
            }
            RouterMsg::Subscribers(source, reply) => {
                let _ = reply.send(state.subscriptions.subscribers_of(&source));
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let cell = match event {
            SupervisionEvent::ActorFailed(cell, error) => {
                tracing::error!(%error, "kind supervisor failed");
                cell
            }
            SupervisionEvent::ActorTerminated(cell, _, _) => cell,
            _ => return Ok(()),
        };
        let Some(kind) = state.kinds_by_supervisor.remove(&cell.get_id()) else {
            return Ok(());
        };
        let Some(registration) = state
            .kinds
            .get(&kind)
            .map(|entry| entry.registration.clone())
        else {
            return Ok(());
        };
        // Its object actors died with it: start a new supervisor and hand it
        // every owned object of the kind from the cache.
        let supervisor = registration
            .spawn(myself.clone(), myself.get_cell())
            .await?;
        state
            .kinds_by_supervisor
            .insert(supervisor.get_id(), kind.clone());
        for (key, entry) in &state.objects {
            if key.kind == kind && state.owned.contains(key) {
                if let Some(object) = entry.kept.object() {
                    let _ = supervisor.send_message(KindMsg::Apply(object));
                }
            }
        }
        state.kinds.insert(
            kind,
            KindEntry {
                registration,
                supervisor,
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: &str, name: &str) -> ObjectKey {
        ObjectKey::new(kind, "apps", name)
    }

    #[test]
    fn subscriptions_follow_spec_changes_and_deletions() {
        let mut subs = Subscriptions::default();
        let repo = key("GitRepository", "repo");
        let other = key("GitRepository", "other");
        subs.set(&key("Kustomization", "a"), vec![repo.clone()]);
        subs.set(
            &key("Kustomization", "b"),
            vec![repo.clone(), other.clone()],
        );
        assert_eq!(
            subs.subscribers_of(&repo),
            [key("Kustomization", "a"), key("Kustomization", "b")]
        );
        // b's sourceRef moves away from repo.
        subs.set(&key("Kustomization", "b"), vec![other.clone()]);
        assert_eq!(subs.subscribers_of(&repo), [key("Kustomization", "a")]);
        subs.remove(&key("Kustomization", "a"));
        assert!(subs.subscribers_of(&repo).is_empty());
        assert_eq!(subs.subscribers_of(&other), [key("Kustomization", "b")]);
    }
}
