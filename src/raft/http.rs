//! The Raft listener: openraft's RPCs and the cluster calls, bincode over HTTP,
//! plus a JSON status page for `ferroflux get replicas`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::cluster::{Node, HEARTBEAT_PATH, STATUS_PATH, WRITE_PATH};
use super::network::{APPEND_PATH, SNAPSHOT_PATH, VOTE_PATH};
use super::store::{decode, encode};

fn bincode_reply<T: Serialize>(value: &T) -> Response {
    match encode(value) {
        Ok(bytes) => (
            [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
            bytes,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// A request body that did not decode.
struct BadBody(String);

impl IntoResponse for BadBody {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, format!("bad body: {}", self.0)).into_response()
    }
}

fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, BadBody> {
    decode(bytes).map_err(|e| BadBody(e.to_string()))
}

async fn append(State(node): State<Arc<Node>>, bytes: Bytes) -> Response {
    match body(&bytes) {
        Ok(request) => bincode_reply(&node.raft.append_entries(request).await),
        Err(bad) => bad.into_response(),
    }
}

async fn vote(State(node): State<Arc<Node>>, bytes: Bytes) -> Response {
    match body(&bytes) {
        Ok(request) => bincode_reply(&node.raft.vote(request).await),
        Err(bad) => bad.into_response(),
    }
}

async fn snapshot(State(node): State<Arc<Node>>, bytes: Bytes) -> Response {
    match body(&bytes) {
        Ok(request) => bincode_reply(&node.raft.install_snapshot(request).await),
        Err(bad) => bad.into_response(),
    }
}

async fn heartbeat(State(node): State<Arc<Node>>, bytes: Bytes) -> Response {
    match body(&bytes) {
        Ok(request) => bincode_reply(&node.on_heartbeat(request)),
        Err(bad) => bad.into_response(),
    }
}

async fn write(State(node): State<Arc<Node>>, bytes: Bytes) -> Response {
    match body(&bytes) {
        Ok(request) => bincode_reply(&node.on_write(request).await),
        Err(bad) => bad.into_response(),
    }
}

#[derive(serde::Deserialize)]
struct StatusQuery {
    #[serde(default)]
    objects: bool,
}

async fn status(State(node): State<Arc<Node>>, Query(query): Query<StatusQuery>) -> Response {
    Json(node.status(query.objects).await).into_response()
}

pub(crate) fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route(APPEND_PATH, post(append))
        .route(VOTE_PATH, post(vote))
        .route(SNAPSHOT_PATH, post(snapshot))
        .route(HEARTBEAT_PATH, post(heartbeat))
        .route(WRITE_PATH, post(write))
        .route(STATUS_PATH, get(status))
        // Snapshot chunks are at most 1 MiB; append batches stay well below this.
        .layer(DefaultBodyLimit::max(16 << 20))
        .with_state(node)
}
