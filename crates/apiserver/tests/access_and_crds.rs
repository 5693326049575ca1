//! Users, service accounts, impersonation and RBAC; custom resources with several
//! versions, the status and scale subresources; server-side apply conflicts.

use std::time::Duration;

use ferroflux_apiserver::{ApiServer, Config};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use serde_json::json;

async fn server() -> (ApiServer, kube::Client) {
    let server = ApiServer::start(Config::default())
        .await
        .expect("server starts");
    let client = server.client().await.expect("client");
    (server, client)
}

/// A client that authenticates with `token` instead of the admin's.
async fn client_with_token(server: &ApiServer, token: &str) -> kube::Client {
    let mut config = server.client_config().await.expect("config");
    config.auth_info.token = Some(token.to_owned().into());
    kube::Client::try_from(config).expect("client")
}

async fn apply_json(client: &kube::Client, manifest: serde_json::Value) {
    let gvk = GroupVersionKind::try_from(&kube::api::TypeMeta {
        api_version: manifest["apiVersion"]
            .as_str()
            .expect("apiVersion")
            .to_owned(),
        kind: manifest["kind"].as_str().expect("kind").to_owned(),
    })
    .expect("gvk");
    let (resource, _) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .expect("discovered");
    let name = manifest["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_owned();
    let api: Api<DynamicObject> = match manifest["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    api.patch(
        &name,
        &PatchParams::apply("test").force(),
        &Patch::Apply(manifest),
    )
    .await
    .expect("apply");
}

#[tokio::test]
async fn a_tenant_service_account_is_confined_to_its_namespace() {
    let (server, admin) = server().await;
    for manifest in [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-b"}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "deployer", "namespace": "team-a"}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "deployer-admin", "namespace": "team-a"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
            "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": "team-a"}]}),
    ] {
        apply_json(&admin, manifest).await;
    }
    // A token for the service account, as `kubectl create token` gets it.
    let token_request: serde_json::Value = admin
        .request(
            http::Request::post("/api/v1/namespaces/team-a/serviceaccounts/deployer/token")
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})).expect("json"))
                .expect("request"),
        )
        .await
        .expect("token request");
    let token = token_request["status"]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let tenant = client_with_token(&server, &token).await;

    let own: Api<ConfigMap> = Api::namespaced(tenant.clone(), "team-a");
    own.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "ok"}})).expect("cm"),
    )
    .await
    .expect("allowed in its own namespace");
    let other: Api<ConfigMap> = Api::namespaced(tenant.clone(), "team-b");
    let err = other
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "no"}})).expect("cm"),
        )
        .await
        .expect_err("denied elsewhere");
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 403);
            assert_eq!(
                s.message,
                "configmaps is forbidden: User \"system:serviceaccount:team-a:deployer\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"team-b\""
            );
        }
        other => panic!("expected 403, got {other:?}"),
    }
    // Impersonating the same account as the admin gives the same answers.
    let mut config = server.client_config().await.expect("config");
    config.auth_info.impersonate = Some("system:serviceaccount:team-a:deployer".into());
    let impersonating = kube::Client::try_from(config).expect("client");
    let via_impersonation: Api<ConfigMap> = Api::namespaced(impersonating, "team-b");
    assert!(via_impersonation
        .list(&ListParams::default())
        .await
        .is_err());

    // A user who may not impersonate is refused.
    let bob = server.add_user("bob", &[]);
    let mut config = server.client_config().await.expect("config");
    config.auth_info.token = Some(bob.into());
    config.auth_info.impersonate = Some("system:admin".into());
    let sneaky = kube::Client::try_from(config).expect("client");
    let err = Api::<ConfigMap>::namespaced(sneaky, "default")
        .list(&ListParams::default())
        .await
        .expect_err("no impersonation right");
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 403),
        "{err:?}"
    );
}

fn widget_crd() -> serde_json::Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [
                {"name": "v1beta1", "served": true, "storage": false,
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                {"name": "v1", "served": true, "storage": true,
                 "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                 "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                     "spec": {"type": "object", "properties": {"replicas": {"type": "integer"}, "size": {"type": "integer"}}},
                     "status": {"type": "object", "properties": {"replicas": {"type": "integer"}, "phase": {"type": "string"}}}}}}},
            ],
        },
    })
}

fn widgets(client: &kube::Client, version: &str) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", version, "Widget"),
        "widgets",
    );
    Api::namespaced_with(client.clone(), "default", &resource)
}

#[tokio::test]
async fn a_crd_created_by_server_side_apply_is_served() {
    // `kubectl apply --server-side -f crds/` and Flux create CRDs this way.
    let (_server, client) = server().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "widgets.example.com",
        &PatchParams::apply("kubectl").force(),
        &Patch::Apply(widget_crd()),
    )
    .await
    .expect("crd by apply");
    let crd = crds.get("widgets.example.com").await.expect("crd");
    let established = crd
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Established" && c.status == "True");
    assert!(established, "Established");
    widgets(&client, "v1")
        .patch(
            "w",
            &PatchParams::apply("test"),
            &Patch::Apply(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}})),
        )
        .await
        .expect("the new kind is served");
}

#[tokio::test]
async fn custom_resources_with_versions_status_and_scale() {
    let (_server, client) = server().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(
        &PostParams::default(),
        &serde_json::from_value(widget_crd()).expect("crd"),
    )
    .await
    .expect("crd");
    let crd = crds.get("widgets.example.com").await.expect("crd");
    let established = crd
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Established" && c.status == "True");
    assert!(established);

    let v1 = widgets(&client, "v1");
    v1.patch(
        "w",
        &PatchParams::apply("test"),
        &Patch::Apply(json!({
            "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"replicas": 1, "size": 2}, "status": {"phase": "ignored"},
        })),
    )
    .await
    .expect("create by apply");
    // Status only changes through /status.
    let w = v1.get("w").await.expect("get");
    assert!(
        w.data.get("status").is_none(),
        "status from the main resource is dropped: {:?}",
        w.data
    );
    v1.patch_status(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Ready", "replicas": 1}})),
    )
    .await
    .expect("status");
    let generation = v1.get("w").await.expect("get").metadata.generation;
    assert_eq!(
        generation,
        Some(1),
        "a status change is not a new generation"
    );

    // The same object is served at the other version.
    let beta = widgets(&client, "v1beta1")
        .get("w")
        .await
        .expect("v1beta1 read");
    assert_eq!(
        beta.types.expect("types").api_version,
        "example.com/v1beta1"
    );
    assert_eq!(beta.data["status"]["phase"], "Ready");

    // Scale reads and writes the declared paths.
    let scale = v1.get_scale("w").await.expect("scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(1));
    v1.patch_scale(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 4}})),
    )
    .await
    .expect("scale up");
    let w = v1.get("w").await.expect("get");
    assert_eq!(w.data["spec"]["replicas"], 4);
    assert_eq!(w.metadata.generation, Some(2));
}

#[tokio::test]
async fn server_side_apply_conflicts_unless_forced() {
    let (_server, client) = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let manifest = |value: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared"}, "data": {"key": value}});
    cms.patch(
        "shared",
        &PatchParams::apply("alpha"),
        &Patch::Apply(manifest("a")),
    )
    .await
    .expect("alpha applies");
    // Same value: shared ownership, no conflict.
    cms.patch(
        "shared",
        &PatchParams::apply("beta"),
        &Patch::Apply(manifest("a")),
    )
    .await
    .expect("beta shares");
    let err = cms
        .patch(
            "shared",
            &PatchParams::apply("beta"),
            &Patch::Apply(manifest("b")),
        )
        .await
        .expect_err("conflict");
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert_eq!(
                s.message,
                "Apply failed with 1 conflict: conflict with \"alpha\": .data.key"
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let forced = cms
        .patch(
            "shared",
            &PatchParams::apply("beta").force(),
            &Patch::Apply(manifest("b")),
        )
        .await
        .expect("forced");
    assert_eq!(forced.data.expect("data")["key"], "b");
    let managers: Vec<String> = forced
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.contains(&"beta".to_owned()));
    // A re-apply that changes nothing is not a write.
    let before = cms
        .get("shared")
        .await
        .expect("get")
        .metadata
        .resource_version;
    let after = cms
        .patch(
            "shared",
            &PatchParams::apply("beta").force(),
            &Patch::Apply(manifest("b")),
        )
        .await
        .expect("no-op")
        .metadata
        .resource_version;
    assert_eq!(before, after);
}

#[tokio::test]
async fn deletecollection_removes_only_selected_objects() {
    let (_server, client) = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    for (name, tier) in [("a", "x"), ("b", "x"), ("c", "y")] {
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name, "labels": {"tier": tier}}}))
                .expect("cm"),
        )
        .await
        .expect("create");
    }
    cms.delete_collection(&Default::default(), &ListParams::default().labels("tier=x"))
        .await
        .expect("deletecollection");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<String> = cms
            .list(&ListParams::default())
            .await
            .expect("list")
            .items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect();
        if left == vec!["c".to_owned()] {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "left: {left:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
