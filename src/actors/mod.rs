//! The actor runtime (DESIGN §4): one ractor supervision tree per replica,
//! `ReplicaSupervisor` → `ShardRouter` → one supervisor per kind → one actor
//! per Kubernetes object.
//!
//! A controller plugs in by implementing [`Reconciler`] for its kind and
//! passing a [`KindRegistration`] to [`Replica::start`]; the watch pump feeds
//! [`RouterMsg::Applied`] / [`RouterMsg::Deleted`] to [`Replica::router`].

mod kind;
mod object;
mod queue;
mod reconciler;
mod replica;
mod router;
mod timing;

#[cfg(test)]
mod tests;

pub use kind::{KindConfig, KindMsg, KindRegistration, KindStats};
pub use object::{ObjectMsg, ObjectSnapshot};
pub use queue::{ReconcilePermit, SchedulerStats};
pub use reconciler::{
    needs_reconcile, ObjectKey, ReconcileContext, ReconcileError, ReconcileOutcome,
    ReconcileReason, Reconciler,
};
pub use replica::{Replica, ReplicaError, ReplicaMsg};
pub use router::{OwnAll, Ownership, RouterMsg};
pub use timing::{backoff_delay, jittered, parse_duration, DurationError};
