//! The actor runtime fed by a real watch on the embedded API server: objects are
//! reconciled when created, when their spec changes and when asked to, and their
//! actors stop when they are deleted.

use std::sync::Arc;
use std::time::Duration;

use ferroflux::actors::{
    KindConfig, KindRegistration, ObjectKey, OwnAll, ReconcileContext, ReconcileError,
    ReconcileOutcome, Reconciler, Replica, RouterMsg,
};
use ferroflux_apiserver::{ApiServer, Config};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{json, Value};

/// Writes `status.seen` = `spec.size` and counts its calls in `status.reconciles`.
struct EchoReconciler {
    client: kube::Client,
    resource: ApiResource,
}

impl Reconciler for EchoReconciler {
    fn kind(&self) -> &'static str {
        "Widget"
    }

    async fn reconcile(&self, object: &Value, ctx: &ReconcileContext) -> ReconcileOutcome {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &ctx.key.namespace, &self.resource);
        let current = match api.get(&ctx.key.name).await {
            Ok(o) => o,
            Err(e) => {
                return ReconcileOutcome::Transient(ReconcileError::new("GetFailed", e.to_string()))
            }
        };
        let count = current
            .data
            .pointer("/status/reconciles")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let status = json!({"status": {"seen": object["spec"]["size"], "reconciles": count + 1,
            "lastHandledReconcileAt": object.pointer("/metadata/annotations/reconcile.fluxcd.io~1requestedAt")}});
        match api
            .patch_status(
                &ctx.key.name,
                &PatchParams::default(),
                &Patch::Merge(status),
            )
            .await
        {
            Ok(_) => ReconcileOutcome::Ready {
                requeue_after: None,
            },
            Err(e) => {
                ReconcileOutcome::Transient(ReconcileError::new("StatusFailed", e.to_string()))
            }
        }
    }
}

async fn poll<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn watched_objects_are_reconciled_by_their_actors() {
    let server = ApiServer::start(Config::default()).await.expect("server");
    let client = server.client().await.expect("client");
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let crd: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]},
    })).expect("crd");
    crds.create(&PostParams::default(), &crd)
        .await
        .expect("crd created");
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    );

    let replica = Replica::start(
        vec![KindRegistration::new(
            EchoReconciler {
                client: client.clone(),
                resource: resource.clone(),
            },
            KindConfig::default(),
        )],
        Arc::new(OwnAll),
    )
    .await
    .expect("replica");
    let pump = tokio::spawn(ferroflux::controllers::watch::pump(
        client.clone(),
        resource.clone(),
        replica.router.clone(),
    ));

    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &resource);
    let w: DynamicObject =
        serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w"}, "spec": {"size": 1, "interval": "1h"}}))
        .expect("widget");
    widgets
        .create(&PostParams::default(), &w)
        .await
        .expect("create");
    let status_of = |field: &'static str| {
        let widgets = widgets.clone();
        move || {
            let widgets = widgets.clone();
            async move {
                widgets
                    .get("w")
                    .await
                    .ok()
                    .and_then(|o| o.data.pointer(&format!("/status/{field}")).cloned())
            }
        }
    };
    poll("first reconcile", || async {
        (status_of("seen")().await == Some(json!(1))).then_some(())
    })
    .await;

    // A spec change reconciles again; the reconciler's own status writes do not.
    widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 2}})),
        )
        .await
        .expect("patch");
    poll("reconcile after a spec change", || async {
        (status_of("seen")().await == Some(json!(2))).then_some(())
    })
    .await;
    let count = status_of("reconciles")()
        .await
        .and_then(|v| v.as_i64())
        .expect("count");
    assert_eq!(count, 2, "one reconcile per change, none for status writes");

    // requestedAt asks for one more.
    widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "now-1"}}}),
            ),
        )
        .await
        .expect("annotate");
    poll("requested reconcile", || async {
        (status_of("lastHandledReconcileAt")().await == Some(json!("now-1"))).then_some(())
    })
    .await;

    // Deleting the object stops its actor.
    widgets
        .delete("w", &Default::default())
        .await
        .expect("delete");
    let key = ObjectKey::new("Widget", "default", "w");
    poll("actor stopped", || async {
        let running = ractor::call!(replica.router, RouterMsg::Running, "Widget".to_owned())
            .expect("router answers");
        (!running.contains(&key)).then_some(())
    })
    .await;
    pump.abort();
}
