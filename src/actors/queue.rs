//! The per-kind reconcile budget: at most `limit` reconciles in flight, handed
//! out round-robin over namespaces so one tenant with thousands of objects
//! cannot starve a tenant with a few.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ractor::ActorRef;

use super::object::ObjectMsg;
use super::reconciler::ObjectKey;

/// A waiting line per namespace and a rotation over the namespaces that have
/// someone waiting. Each key waits at most once; `T` is whatever wakes it.
#[derive(Debug)]
pub(crate) struct FairQueue<T> {
    by_namespace: HashMap<String, VecDeque<ObjectKey>>,
    rotation: VecDeque<String>,
    waiting: HashMap<ObjectKey, T>,
}

impl<T> Default for FairQueue<T> {
    fn default() -> Self {
        Self {
            by_namespace: HashMap::new(),
            rotation: VecDeque::new(),
            waiting: HashMap::new(),
        }
    }
}

impl<T> FairQueue<T> {
    /// Queues `key`; if it is already waiting it keeps its place and only its
    /// waker is replaced (a restarted actor has a new address).
    pub(crate) fn push(&mut self, key: ObjectKey, waker: T) {
        if let Some(existing) = self.waiting.get_mut(&key) {
            *existing = waker;
            return;
        }
        let line = self.by_namespace.entry(key.namespace.clone()).or_default();
        if line.is_empty() {
            self.rotation.push_back(key.namespace.clone());
        }
        line.push_back(key.clone());
        self.waiting.insert(key, waker);
    }

    /// The next key: the head of the next namespace in the rotation.
    pub(crate) fn pop(&mut self) -> Option<(ObjectKey, T)> {
        while let Some(namespace) = self.rotation.pop_front() {
            let Some(line) = self.by_namespace.get_mut(&namespace) else {
                continue;
            };
            let Some(key) = line.pop_front() else {
                self.by_namespace.remove(&namespace);
                continue;
            };
            if line.is_empty() {
                self.by_namespace.remove(&namespace);
            } else {
                self.rotation.push_back(namespace);
            }
            if let Some(waker) = self.waiting.remove(&key) {
                return Some((key, waker));
            }
        }
        None
    }

    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }
}

/// Queue depth and in-flight reconciles of one kind, for tests and readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchedulerStats {
    pub queued: usize,
    pub in_flight: usize,
    pub limit: usize,
}

#[derive(Debug)]
struct SchedulerState {
    queue: FairQueue<ActorRef<ObjectMsg>>,
    in_flight: usize,
    limit: usize,
}

/// Shared by a kind supervisor and all its object actors. Actors ask for a
/// turn with [`ReconcileScheduler::enqueue`]; their turn arrives as
/// [`ObjectMsg::Run`] carrying a [`ReconcilePermit`] whose drop (also during a
/// panic's unwinding) frees the slot.
#[derive(Debug)]
pub struct ReconcileScheduler {
    state: Mutex<SchedulerState>,
}

impl ReconcileScheduler {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(SchedulerState {
                queue: FairQueue::default(),
                in_flight: 0,
                limit: limit.max(1),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, SchedulerState> {
        // The state stays consistent across a panic (no user code runs under
        // the lock), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn enqueue(self: &Arc<Self>, key: ObjectKey, actor: ActorRef<ObjectMsg>) {
        let grants = {
            let mut state = self.lock();
            state.queue.push(key, actor);
            self.take_grants(&mut state)
        };
        deliver(grants);
    }

    pub fn stats(&self) -> SchedulerStats {
        let state = self.lock();
        SchedulerStats {
            queued: state.queue.len(),
            in_flight: state.in_flight,
            limit: state.limit,
        }
    }

    fn release(self: &Arc<Self>) {
        let grants = {
            let mut state = self.lock();
            state.in_flight = state.in_flight.saturating_sub(1);
            self.take_grants(&mut state)
        };
        deliver(grants);
    }

    fn take_grants(
        self: &Arc<Self>,
        state: &mut SchedulerState,
    ) -> Vec<(ActorRef<ObjectMsg>, ReconcilePermit)> {
        let mut grants = Vec::new();
        while state.in_flight < state.limit {
            let Some((_, actor)) = state.queue.pop() else {
                break;
            };
            state.in_flight += 1;
            grants.push((
                actor,
                ReconcilePermit {
                    scheduler: Arc::clone(self),
                },
            ));
        }
        grants
    }
}

/// Sends outside the lock: a failed send drops the permit, which re-enters
/// the scheduler to hand the slot to the next waiter.
fn deliver(grants: Vec<(ActorRef<ObjectMsg>, ReconcilePermit)>) {
    for (actor, permit) in grants {
        let _ = actor.send_message(ObjectMsg::Run(permit));
    }
}

/// One reconcile slot of a kind; freed when dropped.
pub struct ReconcilePermit {
    scheduler: Arc<ReconcileScheduler>,
}

impl fmt::Debug for ReconcilePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReconcilePermit")
    }
}

impl Drop for ReconcilePermit {
    fn drop(&mut self) {
        self.scheduler.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(namespace: &str, name: &str) -> ObjectKey {
        ObjectKey::new("Kustomization", namespace, name)
    }

    #[test]
    fn small_tenant_is_served_between_a_large_tenants_objects() {
        let mut queue = FairQueue::default();
        for i in 0..1000 {
            queue.push(key("big", &format!("a{i}")), ());
        }
        for i in 0..3 {
            queue.push(key("small", &format!("b{i}")), ());
        }
        let order: Vec<ObjectKey> = std::iter::from_fn(|| queue.pop().map(|(k, ())| k))
            .take(6)
            .collect();
        let namespaces: Vec<&str> = order.iter().map(|k| k.namespace.as_str()).collect();
        assert_eq!(namespaces, ["big", "small", "big", "small", "big", "small"]);
        assert_eq!(queue.len(), 1000 - 3);
    }

    #[test]
    fn a_waiting_key_is_queued_once_and_keeps_its_place() {
        let mut queue = FairQueue::default();
        queue.push(key("ns", "x"), 1);
        queue.push(key("ns", "y"), 2);
        queue.push(key("ns", "x"), 3);
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.pop(), Some((key("ns", "x"), 3)));
        assert_eq!(queue.pop(), Some((key("ns", "y"), 2)));
        assert_eq!(queue.pop(), None);
        // After leaving the queue the key can wait again.
        queue.push(key("ns", "x"), 4);
        assert_eq!(queue.pop(), Some((key("ns", "x"), 4)));
    }
}
