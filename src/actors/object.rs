//! The actor of one Kubernetes object: its cached object, its timer and its
//! backoff. It asks its kind's scheduler for a turn and reconciles when given one.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::concurrency::JoinHandle;
use ractor::{Actor, ActorProcessingErr, ActorRef, MessagingErr, RpcReplyPort};
use serde_json::Value;

use super::kind::{KindConfig, KindMsg};
use super::queue::{ReconcilePermit, ReconcileScheduler};
use super::reconciler::{
    needs_reconcile, ObjectKey, ReconcileContext, ReconcileOutcome, ReconcileReason, Reconciler,
};
use super::router::RouterMsg;
use super::timing::{backoff_delay, jittered};

/// Messages to an object actor.
#[derive(Debug)]
pub enum ObjectMsg {
    /// Reconcile soon (as soon as the kind's budget allows).
    Reconcile { reason: ReconcileReason },
    /// The watch saw a new version of the object; reconciles only if the
    /// change matters (generation, requestedAt, deletion), not for status writes.
    SpecChanged(Arc<Value>),
    /// A source this object depends on has a new artifact.
    ArtifactChanged { source: ObjectKey },
    /// An object this object depends on became ready.
    DependencyReady { dependency: ObjectKey },
    /// Stop this actor (object deleted or no longer owned here).
    Stop,
    /// A snapshot of the actor's state, for `ferroflux get`-like views and tests.
    Inspect(RpcReplyPort<ObjectSnapshot>),
    /// The kind's scheduler grants a reconcile slot (runtime-internal).
    Run(ReconcilePermit),
    /// A timer set by this actor fired (runtime-internal); stale generations are ignored.
    Timer {
        generation: u64,
        reason: ReconcileReason,
    },
}

/// What an object actor knows about itself.
#[derive(Debug, Clone)]
pub struct ObjectSnapshot {
    pub key: ObjectKey,
    pub object: Value,
    /// Completed reconciles by this actor incarnation.
    pub reconciles: u64,
    /// Consecutive failures (transient errors and panics) since the last success.
    pub failures: u32,
    pub ready: bool,
    pub stalled: bool,
    /// Waiting for a reconcile slot.
    pub queued: bool,
    /// Whether a timer (interval, requeue or backoff) is armed.
    pub timer_armed: bool,
}

pub(crate) struct ObjectArgs<R> {
    pub key: ObjectKey,
    /// Shared with the kind supervisor and the router: one copy per object.
    pub object: Arc<Value>,
    pub reconciler: Arc<R>,
    pub config: KindConfig,
    pub scheduler: Arc<ReconcileScheduler>,
    pub router: ActorRef<RouterMsg>,
    pub supervisor: ActorRef<KindMsg>,
    /// Panics of earlier incarnations since the last success.
    pub panics: u32,
}

pub(crate) struct ObjectState<R> {
    args: ObjectArgs<R>,
    reconciles: u64,
    failures: u32,
    ready: bool,
    stalled: bool,
    queued_reason: Option<ReconcileReason>,
    timer: Option<JoinHandle<Result<(), MessagingErr<ObjectMsg>>>>,
    timer_generation: u64,
}

pub(crate) struct ObjectActor<R>(PhantomData<fn() -> R>);

impl<R> ObjectActor<R> {
    pub(crate) fn new() -> Self {
        Self(PhantomData)
    }
}

impl<R: Reconciler> ObjectState<R> {
    /// Asks for a reconcile slot unless one is already pending or the object is
    /// stalled (only a spec change un-stalls it).
    fn request(&mut self, myself: &ActorRef<ObjectMsg>, reason: ReconcileReason) {
        if self.stalled || self.queued_reason.is_some() {
            return;
        }
        self.queued_reason = Some(reason);
        self.args
            .scheduler
            .enqueue(self.args.key.clone(), myself.clone());
    }

    fn cancel_timer(&mut self) {
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
        // Invalidates a timer message that was already sent but not yet handled.
        self.timer_generation += 1;
    }

    fn arm_timer(
        &mut self,
        myself: &ActorRef<ObjectMsg>,
        delay: Duration,
        reason: ReconcileReason,
    ) {
        self.cancel_timer();
        let generation = self.timer_generation;
        self.timer =
            Some(myself.send_after(delay, move || ObjectMsg::Timer { generation, reason }));
    }

    async fn reconcile(&mut self, myself: &ActorRef<ObjectMsg>, permit: ReconcilePermit) {
        let reason = self
            .queued_reason
            .take()
            .unwrap_or(ReconcileReason::Interval);
        let key = self.args.key.clone();
        let ctx = ReconcileContext {
            key: key.clone(),
            reason: reason.clone(),
            failures: self.failures,
            router: self.args.router.clone(),
        };
        tracing::debug!(object = %key, ?reason, "reconciling");
        let started = Instant::now();
        // A panic here unwinds through `permit` (freeing the slot) and fails
        // this actor only; the kind supervisor restarts it. Boxed: a reconcile's
        // state is kilobytes, and inline it would size every idle actor's task.
        let outcome = Box::pin(self.args.reconciler.reconcile(&self.args.object, &ctx)).await;
        drop(permit);
        self.reconciles += 1;
        record_reconcile(&key, started.elapsed(), outcome_label(&outcome));

        match outcome {
            ReconcileOutcome::Ready { requeue_after } => {
                self.failures = 0;
                if self.args.panics > 0 {
                    self.args.panics = 0;
                    let _ = self
                        .args
                        .supervisor
                        .send_message(KindMsg::Recovered(key.clone()));
                }
                if !self.ready {
                    self.ready = true;
                    let _ = self.args.router.send_message(RouterMsg::BecameReady(key));
                }
                let next = match requeue_after {
                    Some(delay) => Some((delay, ReconcileReason::Requeue)),
                    None => self
                        .args
                        .reconciler
                        .interval(&self.args.object)
                        .map(|interval| {
                            (
                                jittered(interval, self.args.config.jitter_percent),
                                ReconcileReason::Interval,
                            )
                        }),
                };
                match next {
                    Some((delay, reason)) => self.arm_timer(myself, delay, reason),
                    None => self.cancel_timer(),
                }
            }
            ReconcileOutcome::Transient(error) => {
                self.failures = self.failures.saturating_add(1);
                self.ready = false;
                let delay = backoff_delay(
                    self.failures,
                    self.args.config.min_retry_delay,
                    self.args.config.max_retry_delay,
                );
                tracing::warn!(object = %key, failures = self.failures, retry_in = ?delay, %error, "reconcile failed");
                self.arm_timer(myself, delay, ReconcileReason::Backoff);
            }
            ReconcileOutcome::RetryAfter(error, delay) => {
                self.failures = self.failures.saturating_add(1);
                self.ready = false;
                tracing::warn!(object = %key, failures = self.failures, retry_in = ?delay, %error, "reconcile failed");
                self.arm_timer(myself, delay, ReconcileReason::Backoff);
            }
            ReconcileOutcome::Stalled(error) => {
                self.ready = false;
                self.stalled = true;
                self.cancel_timer();
                tracing::warn!(object = %key, %error, "reconcile stalled until the spec changes");
            }
        }
    }

    fn snapshot(&self) -> ObjectSnapshot {
        ObjectSnapshot {
            key: self.args.key.clone(),
            object: (*self.args.object).clone(),
            reconciles: self.reconciles,
            failures: self.failures,
            ready: self.ready,
            stalled: self.stalled,
            queued: self.queued_reason.is_some(),
            timer_armed: self.timer.as_ref().is_some_and(|t| !t.is_finished()),
        }
    }
}

fn outcome_label(outcome: &ReconcileOutcome) -> &'static str {
    match outcome {
        ReconcileOutcome::Ready { .. } => "success",
        ReconcileOutcome::Transient(_) | ReconcileOutcome::RetryAfter(..) => "transient",
        ReconcileOutcome::Stalled(_) => "stalled",
    }
}

/// Flux's reconcile histogram (same name and labels, so existing dashboards
/// work) plus a counter by result category.
pub(crate) fn record_reconcile(key: &ObjectKey, elapsed: Duration, result: &'static str) {
    metrics::histogram!(
        "gotk_reconcile_duration_seconds",
        "kind" => key.kind.clone(),
        "name" => key.name.clone(),
        "namespace" => key.namespace.clone()
    )
    .record(elapsed.as_secs_f64());
    record_result(key, result);
}

pub(crate) fn record_result(key: &ObjectKey, result: &'static str) {
    metrics::counter!(
        "ferroflux_reconcile_total",
        "kind" => key.kind.clone(),
        "name" => key.name.clone(),
        "namespace" => key.namespace.clone(),
        "result" => result
    )
    .increment(1);
}

impl<R: Reconciler> Actor for ObjectActor<R> {
    type Msg = ObjectMsg;
    type State = ObjectState<R>;
    type Arguments = ObjectArgs<R>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(ObjectState {
            failures: args.panics,
            args,
            reconciles: 0,
            ready: false,
            stalled: false,
            queued_reason: None,
            timer: None,
            timer_generation: 0,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if state.args.panics == 0 {
            state.request(&myself, ReconcileReason::Started);
        } else {
            // Back off after a panic too, so a reconcile that always panics
            // does not spin.
            let delay = backoff_delay(
                state.args.panics,
                state.args.config.min_retry_delay,
                state.args.config.max_retry_delay,
            );
            state.arm_timer(&myself, delay, ReconcileReason::Restarted);
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.cancel_timer();
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ObjectMsg::Reconcile { reason } => state.request(&myself, reason),
            ObjectMsg::SpecChanged(object) => {
                let relevant = needs_reconcile(&state.args.object, &object);
                state.args.object = object;
                if relevant {
                    state.stalled = false;
                    state.request(&myself, ReconcileReason::SpecChanged);
                }
            }
            ObjectMsg::ArtifactChanged { source } => {
                state.request(&myself, ReconcileReason::ArtifactChanged(source));
            }
            ObjectMsg::DependencyReady { dependency } => {
                state.request(&myself, ReconcileReason::DependencyReady(dependency));
            }
            ObjectMsg::Stop => {
                state.cancel_timer();
                myself.stop(None);
            }
            ObjectMsg::Inspect(reply) => {
                let _ = reply.send(state.snapshot());
            }
            ObjectMsg::Run(permit) => state.reconcile(&myself, permit).await,
            ObjectMsg::Timer { generation, reason } => {
                if generation == state.timer_generation {
                    state.timer = None;
                    state.request(&myself, reason);
                }
            }
        }
        Ok(())
    }
}
