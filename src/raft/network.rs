//! Raft traffic between replicas: HTTP POSTs with bincode bodies. The server
//! side is in [`super::http`]; both share the paths below.

use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::{de::DeserializeOwned, Serialize};

use super::store::{decode, encode};
use super::types::{NodeId, TypeConfig};

pub const APPEND_PATH: &str = "/raft/append";
pub const VOTE_PATH: &str = "/raft/vote";
pub const SNAPSHOT_PATH: &str = "/raft/snapshot";

/// Why a call to another replica failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("cannot reach {addr}: {source}")]
    Unreachable {
        addr: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("request to {addr} failed: {message}")]
    Failed { addr: String, message: String },
}

/// The HTTP client for Raft and cluster calls. With `bind`, outgoing
/// connections leave from that local address (the Raft listen address), so a
/// replica's traffic can be told apart, and cut, by source address.
pub fn http_client(bind: Option<std::net::IpAddr>) -> reqwest::Result<reqwest::Client> {
    // Plain HTTP, but reqwest wants a TLS provider to build any client.
    crate::source::git::install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_millis(500))
        .local_address(bind)
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
}

/// POSTs a bincode body to `http://addr/path` and decodes the bincode reply.
pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
    http: &reqwest::Client,
    addr: &str,
    path: &str,
    request: &Req,
    timeout: Duration,
) -> Result<Resp, CallError> {
    let failed = |message: String| CallError::Failed {
        addr: addr.to_owned(),
        message,
    };
    let body = encode(request).map_err(|e| failed(format!("encoding: {e}")))?;
    let response = http
        .post(format!("http://{addr}{path}"))
        .timeout(timeout)
        .header(http::header::CONTENT_TYPE, "application/octet-stream")
        .body(body)
        .send()
        .await
        .map_err(|source| {
            if source.is_connect() {
                CallError::Unreachable {
                    addr: addr.to_owned(),
                    source,
                }
            } else {
                failed(source.to_string())
            }
        })?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| failed(format!("reading the reply: {e}")))?;
    if !status.is_success() {
        return Err(failed(format!(
            "{status}: {}",
            String::from_utf8_lossy(&bytes)
        )));
    }
    decode(&bytes).map_err(|e| failed(format!("decoding the reply: {e}")))
}

/// Makes a [`PeerClient`] per target for openraft.
#[derive(Clone)]
pub struct Network {
    pub http: reqwest::Client,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Self::Network {
        PeerClient {
            target,
            addr: node.addr.clone(),
            http: self.http.clone(),
        }
    }
}

pub struct PeerClient {
    target: NodeId,
    addr: String,
    http: reqwest::Client,
}

impl PeerClient {
    async fn rpc<Req, Resp, E>(
        &self,
        path: &str,
        request: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let reply: Result<Resp, RaftError<NodeId, E>> =
            call(&self.http, &self.addr, path, request, option.hard_ttl())
                .await
                .map_err(|e| match e {
                    CallError::Unreachable { .. } => RPCError::Unreachable(Unreachable::new(&e)),
                    CallError::Failed { .. } => RPCError::Network(NetworkError::new(&e)),
                })?;
        reply.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.rpc(APPEND_PATH, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.rpc(SNAPSHOT_PATH, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.rpc(VOTE_PATH, &rpc, &option).await
    }
}
