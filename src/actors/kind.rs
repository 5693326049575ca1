//! The supervisor of one kind's object actors: starts, updates and stops them
//! for the router, and restarts an actor whose reconcile panicked.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr,
    SupervisionEvent,
};
use serde_json::Value;

use super::object::{record_result, ObjectActor, ObjectArgs, ObjectMsg};
use super::queue::{ReconcileScheduler, SchedulerStats};
use super::reconciler::{ObjectKey, Reconciler};
use super::router::RouterMsg;

/// Runtime settings of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindConfig {
    /// Reconciles of this kind in flight at once (Flux's `--concurrent`).
    pub concurrency: usize,
    /// First retry delay after a transient failure (Flux's `--min-retry-delay`).
    pub min_retry_delay: Duration,
    /// Cap of the exponential retry delay (Flux's `--max-retry-delay`).
    pub max_retry_delay: Duration,
    /// Interval jitter, ± percent (Flux's `--interval-jitter-percentage`).
    pub jitter_percent: u8,
}

impl Default for KindConfig {
    fn default() -> Self {
        Self {
            concurrency: 4,
            min_retry_delay: Duration::from_millis(750),
            max_retry_delay: Duration::from_secs(15 * 60),
            jitter_percent: 5,
        }
    }
}

/// Messages to a kind supervisor (sent by the router).
#[derive(Debug)]
pub enum KindMsg {
    /// Start the object's actor, or hand it the new version of the object.
    Apply(Arc<Value>),
    /// Stop the object's actor (deleted, or no longer owned here).
    Remove(ObjectKey),
    /// Stop these objects' actors and answer once they have all stopped; with
    /// `true`, abandon reconciles in flight instead of letting them finish.
    RemoveAndWait(Vec<ObjectKey>, bool, RpcReplyPort<()>),
    /// Deliver a message to the object's actor if it runs.
    Send(ObjectKey, ObjectMsg),
    /// The actor reconciled successfully after panicking: forget its panics.
    Recovered(ObjectKey),
    /// Keys of the running object actors.
    Running(RpcReplyPort<Vec<ObjectKey>>),
    Stats(RpcReplyPort<KindStats>),
}

/// A kind's actors and budget at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KindStats {
    pub running: usize,
    /// Actor restarts after panics since this supervisor started.
    pub restarts: u64,
    pub scheduler: SchedulerStats,
}

struct RunningObject {
    actor: ActorRef<ObjectMsg>,
    object: Arc<Value>,
    panics: u32,
}

pub(crate) struct KindState<R> {
    reconciler: Arc<R>,
    config: KindConfig,
    scheduler: Arc<ReconcileScheduler>,
    router: ActorRef<RouterMsg>,
    actors: HashMap<ObjectKey, RunningObject>,
    keys_by_actor: HashMap<ActorId, ObjectKey>,
    restarts: u64,
}

pub(crate) struct KindArgs<R> {
    pub reconciler: Arc<R>,
    pub config: KindConfig,
    pub router: ActorRef<RouterMsg>,
}

pub(crate) struct KindSupervisor<R>(std::marker::PhantomData<fn() -> R>);

impl<R: Reconciler> KindState<R> {
    async fn spawn_object(
        &mut self,
        myself: &ActorRef<KindMsg>,
        key: ObjectKey,
        object: Arc<Value>,
        panics: u32,
    ) {
        let args = ObjectArgs {
            key: key.clone(),
            object: object.clone(),
            reconciler: Arc::clone(&self.reconciler),
            config: self.config.clone(),
            scheduler: Arc::clone(&self.scheduler),
            router: self.router.clone(),
            supervisor: myself.clone(),
            panics,
        };
        match Actor::spawn_linked(None, ObjectActor::<R>::new(), args, myself.get_cell()).await {
            Ok((actor, _join)) => {
                self.keys_by_actor.insert(actor.get_id(), key.clone());
                self.actors.insert(
                    key,
                    RunningObject {
                        actor,
                        object,
                        panics,
                    },
                );
            }
            Err(error) => tracing::error!(object = %key, %error, "could not start object actor"),
        }
    }

    fn forget_actor(&mut self, cell: &ActorCell) -> Option<ObjectKey> {
        let key = self.keys_by_actor.remove(&cell.get_id())?;
        // The key may already belong to a newer actor (stopped then re-applied).
        let is_current = self
            .actors
            .get(&key)
            .is_some_and(|r| r.actor.get_id() == cell.get_id());
        is_current.then_some(key)
    }
}

impl<R: Reconciler> Actor for KindSupervisor<R> {
    type Msg = KindMsg;
    type State = KindState<R>;
    type Arguments = KindArgs<R>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(KindState {
            scheduler: ReconcileScheduler::new(args.config.concurrency),
            reconciler: args.reconciler,
            config: args.config,
            router: args.router,
            actors: HashMap::new(),
            keys_by_actor: HashMap::new(),
            restarts: 0,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            KindMsg::Apply(object) => {
                let Some(key) = ObjectKey::of(&object) else {
                    tracing::warn!("ignoring an object without kind or name");
                    return Ok(());
                };
                if let Some(running) = state.actors.get_mut(&key) {
                    running.object = object.clone();
                    let _ = running.actor.send_message(ObjectMsg::SpecChanged(object));
                } else {
                    state.spawn_object(&myself, key, object, 0).await;
                }
            }
            KindMsg::Remove(key) => {
                if let Some(running) = state.actors.remove(&key) {
                    running.actor.stop(None);
                }
            }
            KindMsg::RemoveAndWait(keys, abort, reply) => {
                let stopping: Vec<ActorRef<ObjectMsg>> = keys
                    .iter()
                    .filter_map(|key| state.actors.remove(key))
                    .map(|running| running.actor)
                    .collect();
                for actor in &stopping {
                    if abort {
                        actor.kill();
                    } else {
                        actor.stop(None);
                    }
                }
                // A stopped actor stops after the message it is handling, so a
                // reconcile in flight finishes first; a killed one drops it.
                tokio::spawn(async move {
                    for actor in stopping {
                        let _ = actor.wait(None).await;
                    }
                    let _ = reply.send(());
                });
            }
            KindMsg::Send(key, message) => {
                if let Some(running) = state.actors.get(&key) {
                    let _ = running.actor.send_message(message);
                }
            }
            KindMsg::Recovered(key) => {
                if let Some(running) = state.actors.get_mut(&key) {
                    running.panics = 0;
                }
            }
            KindMsg::Running(reply) => {
                let mut keys: Vec<ObjectKey> = state.actors.keys().cloned().collect();
                keys.sort();
                let _ = reply.send(keys);
            }
            KindMsg::Stats(reply) => {
                let _ = reply.send(KindStats {
                    running: state.actors.len(),
                    restarts: state.restarts,
                    scheduler: state.scheduler.stats(),
                });
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
        match event {
            SupervisionEvent::ActorFailed(cell, error) => {
                let Some(key) = state.forget_actor(&cell) else {
                    return Ok(());
                };
                let Some(running) = state.actors.remove(&key) else {
                    return Ok(());
                };
                let panics = running.panics.saturating_add(1);
                state.restarts += 1;
                record_result(&key, "panic");
                tracing::error!(object = %key, %error, panics, "object actor failed; restarting it");
                state
                    .spawn_object(&myself, key, running.object, panics)
                    .await;
            }
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                if let Some(key) = state.forget_actor(&cell) {
                    state.actors.remove(&key);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

type SpawnFuture<'a> =
    Pin<Box<dyn Future<Output = Result<ActorRef<KindMsg>, SpawnErr>> + Send + 'a>>;

/// The router's view of a kind, without its reconciler's type.
trait ErasedKind: Send + Sync {
    fn dependencies(&self, object: &Value) -> Vec<ObjectKey>;
    fn spawn<'a>(&'a self, router: ActorRef<RouterMsg>, parent: ActorCell) -> SpawnFuture<'a>;
}

struct TypedKind<R> {
    reconciler: Arc<R>,
    config: KindConfig,
}

impl<R: Reconciler> ErasedKind for TypedKind<R> {
    fn dependencies(&self, object: &Value) -> Vec<ObjectKey> {
        self.reconciler.dependencies(object)
    }

    fn spawn<'a>(&'a self, router: ActorRef<RouterMsg>, parent: ActorCell) -> SpawnFuture<'a> {
        let args = KindArgs {
            reconciler: Arc::clone(&self.reconciler),
            config: self.config.clone(),
            router,
        };
        Box::pin(async move {
            let (actor, _join) = Actor::spawn_linked(
                None,
                KindSupervisor::<R>(std::marker::PhantomData),
                args,
                parent,
            )
            .await?;
            Ok(actor)
        })
    }
}

/// A kind plugged into the runtime: its reconciler and settings.
#[derive(Clone)]
pub struct KindRegistration {
    kind: &'static str,
    inner: Arc<dyn ErasedKind>,
}

impl std::fmt::Debug for KindRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KindRegistration")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl KindRegistration {
    pub fn new<R: Reconciler>(reconciler: R, config: KindConfig) -> Self {
        Self {
            kind: reconciler.kind(),
            inner: Arc::new(TypedKind {
                reconciler: Arc::new(reconciler),
                config,
            }),
        }
    }

    pub fn kind(&self) -> &'static str {
        self.kind
    }

    pub(crate) fn dependencies(&self, object: &Value) -> Vec<ObjectKey> {
        self.inner.dependencies(object)
    }

    pub(crate) async fn spawn(
        &self,
        router: ActorRef<RouterMsg>,
        parent: ActorCell,
    ) -> Result<ActorRef<KindMsg>, SpawnErr> {
        self.inner.spawn(router, parent).await
    }
}
