//! Feeds the actor runtime from the Kubernetes API: one watch per kind, every change
//! routed to the ShardRouter, which decides which objects this replica owns.

use std::collections::HashSet;

use futures::TryStreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::watcher;
use ractor::ActorRef;
use serde_json::Value;

use crate::actors::{ObjectKey, RouterMsg};

/// The object as the router wants it: with `apiVersion` and `kind` set, and
/// without `managedFields`, which no reconciler reads and which were about half
/// of every cached Flux object.
fn to_value(resource: &ApiResource, mut object: DynamicObject) -> Option<Value> {
    object.metadata.managed_fields = None;
    let mut value = serde_json::to_value(object).ok()?;
    value["apiVersion"] = Value::String(resource.api_version.clone());
    value["kind"] = Value::String(resource.kind.clone());
    Some(value)
}

/// The watch's next event, None when it ends. The watcher retries by itself: a
/// failed poll is only worth a log line and a pause.
async fn next_event<K>(
    stream: &mut (impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Unpin),
    kind: &str,
) -> Option<watcher::Event<K>> {
    loop {
        match stream.try_next().await {
            Ok(event) => return event,
            Err(e) => {
                tracing::warn!(%kind, error = %e, "watch error");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

/// Watches every object of `resource` in all namespaces and tells `router` about each
/// change, until the router stops. After a re-list, objects that vanished meanwhile
/// are reported deleted.
pub async fn pump(client: kube::Client, resource: ApiResource, router: ActorRef<RouterMsg>) {
    let api: Api<DynamicObject> = Api::all_with(client, &resource);
    let stream = watcher(api, watcher::Config::default());
    futures::pin_mut!(stream);
    let mut known: HashSet<ObjectKey> = HashSet::new();
    let mut relisted: HashSet<ObjectKey> = HashSet::new();
    loop {
        let Some(event) = next_event(&mut stream, &resource.kind).await else {
            return;
        };
        let sent = match event {
            watcher::Event::Init => {
                relisted.clear();
                Ok(())
            }
            watcher::Event::InitApply(object) | watcher::Event::Apply(object) => {
                let Some(value) = to_value(&resource, object) else {
                    continue;
                };
                if let Some(key) = ObjectKey::of(&value) {
                    known.insert(key.clone());
                    relisted.insert(key);
                }
                router.send_message(RouterMsg::Applied(value))
            }
            watcher::Event::InitDone => {
                let gone: Vec<ObjectKey> = known.difference(&relisted).cloned().collect();
                let mut result = Ok(());
                for key in gone {
                    known.remove(&key);
                    result = result.and(router.send_message(RouterMsg::Deleted(key)));
                }
                result
            }
            watcher::Event::Delete(object) => {
                let Some(key) = to_value(&resource, object).as_ref().and_then(ObjectKey::of) else {
                    continue;
                };
                known.remove(&key);
                router.send_message(RouterMsg::Deleted(key))
            }
        };
        if sent.is_err() {
            // The router is gone: the replica is shutting down.
            return;
        }
    }
}

/// The label that makes a ConfigMap or Secret referenced by a HelmRelease's
/// `valuesFrom` trigger a reconcile when it changes (helm-controller's default
/// `--watch-configs-label-selector`).
pub const WATCH_LABEL_SELECTOR: &str = "reconcile.fluxcd.io/watch=Enabled";

/// Watches the metadata (never the data: Secrets stay unread) of the objects of
/// `resource` carrying `label_selector`, and announces each change as a new
/// "artifact" of that object, so the objects subscribed to it reconcile.
pub async fn pump_referenced(
    client: kube::Client,
    resource: ApiResource,
    label_selector: &'static str,
    router: ActorRef<RouterMsg>,
) {
    use kube::core::PartialObjectMeta;
    let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(client, &resource);
    // An Api of PartialObjectMeta makes metadata-only requests.
    let stream = watcher(api, watcher::Config::default().labels(label_selector));
    futures::pin_mut!(stream);
    loop {
        let Some(event) = next_event(&mut stream, &resource.kind).await else {
            return;
        };
        // The initial list is not a change: what it lists was read by the first
        // reconcile anyway.
        let (watcher::Event::Apply(object) | watcher::Event::Delete(object)) = event else {
            continue;
        };
        let key = ObjectKey::new(
            &resource.kind,
            object.metadata.namespace.as_deref().unwrap_or_default(),
            object.metadata.name.as_deref().unwrap_or_default(),
        );
        if router
            .send_message(RouterMsg::ArtifactChanged(key))
            .is_err()
        {
            return;
        }
    }
}
