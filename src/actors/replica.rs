//! The root of a replica's supervision tree.

use std::sync::Arc;

use ractor::concurrency::JoinHandle;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use super::kind::KindRegistration;
use super::router::{Ownership, RouterArgs, RouterMsg, ShardRouter};

/// Why the actor tree could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error("failed to start the replica's actor tree: {0}")]
    Spawn(#[from] ractor::SpawnErr),
    #[error("the replica supervisor stopped while starting")]
    StoppedWhileStarting,
}

/// Messages to the replica supervisor.
#[derive(Debug)]
pub enum ReplicaMsg {
    /// The router, for watch pumps and receivers.
    Router(RpcReplyPort<ActorRef<RouterMsg>>),
}

pub(crate) struct ReplicaArgs {
    kinds: Vec<KindRegistration>,
    ownership: Arc<dyn Ownership>,
}

pub(crate) struct ReplicaState {
    router: ActorRef<RouterMsg>,
}

/// `ReplicaSupervisor` → `ShardRouter` → kind supervisors → object actors.
/// The router's state (the watch cache) cannot be rebuilt without a relist,
/// so if the router dies the replica stops, and the process exits for
/// Kubernetes to restart it.
pub(crate) struct ReplicaSupervisor;

impl Actor for ReplicaSupervisor {
    type Msg = ReplicaMsg;
    type State = ReplicaState;
    type Arguments = ReplicaArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let router_args = RouterArgs {
            kinds: args.kinds,
            ownership: args.ownership,
        };
        let (router, _join) =
            Actor::spawn_linked(None, ShardRouter, router_args, myself.get_cell()).await?;
        Ok(ReplicaState { router })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ReplicaMsg::Router(reply) => {
                let _ = reply.send(state.router.clone());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        _state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(_, error) => {
                tracing::error!(%error, "shard router failed; stopping the replica");
                myself.stop(Some(format!("shard router failed: {error}")));
            }
            SupervisionEvent::ActorTerminated(_, _, reason) => {
                myself.stop(reason);
            }
            _ => {}
        }
        Ok(())
    }
}

/// A running replica: feed watch events to `router`, await `join` to learn
/// when the tree stopped.
pub struct Replica {
    pub supervisor: ActorRef<ReplicaMsg>,
    pub router: ActorRef<RouterMsg>,
    pub join: JoinHandle<()>,
}

impl Replica {
    pub async fn start(
        kinds: Vec<KindRegistration>,
        ownership: Arc<dyn Ownership>,
    ) -> Result<Self, ReplicaError> {
        let (supervisor, join) =
            Actor::spawn(None, ReplicaSupervisor, ReplicaArgs { kinds, ownership }).await?;
        let router = match supervisor.call(ReplicaMsg::Router, None).await {
            Ok(ractor::rpc::CallResult::Success(router)) => router,
            // The supervisor answers its first message unless it already died,
            // which pre_start would have reported.
            _ => return Err(ReplicaError::StoppedWhileStarting),
        };
        Ok(Self {
            supervisor,
            router,
            join,
        })
    }

    /// Stops every actor and waits for the tree to finish.
    pub async fn shutdown(self) {
        self.supervisor.stop(None);
        let _ = self.join.await;
    }
}
