//! Watches: a stream of JSON events (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR), one
//! per line, resumable from a resourceVersion while it is in the store's history.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use crate::api::Target;
use crate::http::{reshape, Body, Shape, Shared};
use crate::request::Query;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{Change, EventType};

struct Filter {
    key: String,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn matches(&self, object: &Value) -> bool {
        self.labels.matches(
            object
                .pointer("/metadata/labels")
                .and_then(Value::as_object),
        ) && self.fields.matches(object)
    }

    /// The event a watcher sees for `change`: selector transitions turn MODIFIED into
    /// ADDED or DELETED, as on a real server.
    fn event_for(&self, change: &Change) -> Option<EventType> {
        if *change.key != self.key {
            return None;
        }
        if let Some(ns) = &self.namespace {
            if &change.namespace != ns {
                return None;
            }
        }
        let now = self.matches(&change.object);
        match change.event {
            EventType::Modified => {
                let before = change.previous.as_deref().is_some_and(|p| self.matches(p));
                match (before, now) {
                    (true, true) => Some(EventType::Modified),
                    (false, true) => Some(EventType::Added),
                    (true, false) => Some(EventType::Deleted),
                    (false, false) => None,
                }
            }
            event => now.then_some(event),
        }
    }
}

struct Encoder {
    shared: Arc<Shared>,
    target: Target,
    shape: Shape,
    include_object: String,
}

impl Encoder {
    fn line(&self, event: &str, object: &Value) -> Bytes {
        let presented = crate::api::present(&self.target, object);
        let object = match self.shape {
            Shape::Object => presented,
            shape => reshape(
                &self.shared,
                &self.target,
                shape,
                &self.include_object,
                vec![presented],
                None,
            ),
        };
        let mut text = json!({"type": event, "object": object}).to_string();
        text.push('\n');
        Bytes::from(text)
    }

    fn bookmark(&self, rv: u64, initial_events_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_events_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({
            "kind": self.target.info.kind,
            "apiVersion": self.target.info.api_version(&self.target.version),
            "metadata": meta,
        });
        let mut text = json!({"type": "BOOKMARK", "object": object}).to_string();
        text.push('\n');
        Bytes::from(text)
    }
}

/// Starts a watch and returns the streaming response.
pub fn serve(
    shared: Arc<Shared>,
    target: Target,
    labels: LabelSelector,
    fields: FieldSelector,
    query: &Query,
    shape: Shape,
    include_object: String,
) -> Result<Response<Body>, ApiError> {
    let requested_rv = query.get("resourceVersion").cloned().unwrap_or_default();
    let bookmarks = query
        .get("allowWatchBookmarks")
        .is_some_and(|v| v == "true");
    let send_initial = query.get("sendInitialEvents").is_some_and(|v| v == "true");
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let filter = Filter {
        key: target.info.key(),
        namespace: (target.info.namespaced && !target.namespace.is_empty())
            .then(|| target.namespace.clone())
            .or_else(|| fields.equality("metadata.namespace").map(str::to_owned)),
        labels,
        fields,
    };
    // Under one lock: the initial state (or the replay) and the subscription, so no
    // change falls between them.
    let (initial, backlog, receiver, start_rv) = {
        let state = shared.lock();
        let current = state.store.resource_version();
        let from_state = requested_rv.is_empty() || requested_rv == "0" || send_initial;
        let since = if from_state {
            current
        } else {
            requested_rv.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("invalid resource version: {requested_rv}"))
            })?
        };
        let Some((backlog, receiver)) = state.store.subscribe(since) else {
            // A real server accepts the watch and sends one ERROR event with the 410.
            let gone = ApiError::gone(format!("too old resource version: {since} ({current})"));
            let mut line = json!({"type": "ERROR", "object": gone.to_status()}).to_string();
            line.push('\n');
            return Ok(Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(crate::http::full(line))
                .expect("static headers are valid"));
        };
        let initial: Vec<Arc<Value>> = if from_state {
            state
                .store
                .list(&filter.key, filter.namespace.as_deref())
                .into_iter()
                .filter(|o| filter.matches(o))
                .collect()
        } else {
            Vec::new()
        };
        (initial, backlog, receiver, since)
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let encoder = Encoder {
        shared: shared.clone(),
        target,
        shape,
        include_object,
    };
    let drop_after = shared.faults.watch_drop_after();
    let bookmark_every = shared.bookmark_interval;
    tokio::spawn(async move {
        let deadline = [timeout, drop_after].into_iter().flatten().min();
        let run = pump(
            encoder,
            filter,
            initial,
            backlog,
            receiver,
            start_rv,
            tx,
            bookmarks,
            send_initial,
            bookmark_every,
        );
        match deadline {
            Some(d) => {
                let _ = tokio::time::timeout(d, run).await;
            }
            None => run.await,
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let body = StreamBody::new(futures::StreamExt::map(stream, |b| {
        Ok::<_, std::convert::Infallible>(Frame::data(b))
    }));
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("transfer-encoding", "chunked")
        .body(body.boxed_unsync())
        .expect("static headers are valid"))
}

#[allow(clippy::too_many_arguments)]
async fn pump(
    encoder: Encoder,
    filter: Filter,
    initial: Vec<Arc<Value>>,
    backlog: Vec<Arc<Change>>,
    mut receiver: broadcast::Receiver<Arc<Change>>,
    start_rv: u64,
    tx: mpsc::Sender<Bytes>,
    bookmarks: bool,
    send_initial: bool,
    bookmark_every: Duration,
) {
    let mut last_rv = start_rv;
    for object in initial {
        if tx.send(encoder.line("ADDED", &object)).await.is_err() {
            return;
        }
    }
    if send_initial && bookmarks && tx.send(encoder.bookmark(last_rv, true)).await.is_err() {
        return;
    }
    for change in backlog {
        last_rv = change.rv;
        if let Some(event) = filter.event_for(&change) {
            if tx
                .send(encoder.line(event.as_str(), &change.object))
                .await
                .is_err()
            {
                return;
            }
        }
    }
    let mut ticker = tokio::time::interval(bookmark_every);
    ticker.reset();
    loop {
        tokio::select! {
            received = receiver.recv() => match received {
                Ok(change) => {
                    if change.rv <= last_rv {
                        continue;
                    }
                    last_rv = change.rv;
                    if let Some(event) = filter.event_for(&change) {
                        if tx.send(encoder.line(event.as_str(), &change.object)).await.is_err() {
                            return;
                        }
                    }
                }
                // A watcher too slow to keep up is closed; it resumes from its last
                // resourceVersion, as after any dropped watch.
                Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = ticker.tick(), if bookmarks => {
                if tx.send(encoder.bookmark(last_rv, false)).await.is_err() {
                    return;
                }
            }
            () = tx.closed() => return,
        }
    }
}
