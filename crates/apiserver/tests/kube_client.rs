//! The embedded API server judged by kube-rs: the client ferroflux's controllers use.

use std::time::Duration;

use ferroflux_apiserver::{ApiServer, Config};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::watcher;
use serde_json::json;

async fn server() -> (ApiServer, kube::Client) {
    let server = ApiServer::start(Config {
        bookmark_interval: Duration::from_millis(200),
        ..Config::default()
    })
    .await
    .expect("server starts");
    let client = server.client().await.expect("client from kubeconfig");
    (server, client)
}

fn cm(name: &str, data: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app": "demo"}},
        "data": {"key": data},
    }))
    .expect("valid configmap")
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
async fn crud_with_optimistic_concurrency_and_real_errors() {
    let (_server, client) = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let created = cms
        .create(&PostParams::default(), &cm("a", "1"))
        .await
        .expect("create");
    let uid = created.metadata.uid.clone().expect("uid set");
    assert!(created.metadata.creation_timestamp.is_some());
    let err = cms
        .create(&PostParams::default(), &cm("a", "1"))
        .await
        .expect_err("duplicate");
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{err:?}"
    );

    let mut stale = created.clone();
    let mut fresh = created.clone();
    fresh.data = Some([("key".to_owned(), "2".to_owned())].into());
    let updated = cms
        .replace("a", &PostParams::default(), &fresh)
        .await
        .expect("update");
    assert_ne!(
        updated.metadata.resource_version,
        created.metadata.resource_version
    );
    stale.data = Some([("key".to_owned(), "3".to_owned())].into());
    let err = cms
        .replace("a", &PostParams::default(), &stale)
        .await
        .expect_err("stale update");
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 409 && s.reason == "Conflict"),
        "{err:?}"
    );

    let missing = cms.get("nope").await.expect_err("missing");
    assert!(
        matches!(&missing, kube::Error::Api(s) if s.code == 404 && s.message == "configmaps \"nope\" not found"),
        "{missing:?}"
    );
    let other_ns: Api<ConfigMap> = Api::namespaced(client.clone(), "no-such-ns");
    let err = other_ns
        .create(&PostParams::default(), &cm("a", "1"))
        .await
        .expect_err("missing namespace");
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 404 && s.message == "namespaces \"no-such-ns\" not found"),
        "{err:?}"
    );

    let got = cms.get("a").await.expect("get");
    assert_eq!(got.metadata.uid.as_deref(), Some(uid.as_str()));
    assert_eq!(got.data.expect("data")["key"], "2");
    cms.delete("a", &DeleteParams::default())
        .await
        .expect("delete");
    assert!(cms.get_opt("a").await.expect("get_opt").is_none());
}

#[tokio::test]
async fn generation_counts_spec_changes_only() {
    let (_server, client) = server().await;
    let deployments: Api<Deployment> = Api::namespaced(client, "default");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}
    })).expect("valid deployment");
    let created = deployments
        .create(&PostParams::default(), &d)
        .await
        .expect("create");
    assert_eq!(created.metadata.generation, Some(1));
    let labelled = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .expect("label");
    assert_eq!(labelled.metadata.generation, Some(1));
    let scaled = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .expect("scale");
    assert_eq!(scaled.metadata.generation, Some(2));
}

#[tokio::test]
async fn list_paginates_and_selects() {
    let (_server, client) = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..25 {
        let mut c = cm(&format!("cm-{i:02}"), "x");
        if i % 5 == 0 {
            c.metadata.labels = Some([("tier".to_owned(), "gold".to_owned())].into());
        }
        cms.create(&PostParams::default(), &c)
            .await
            .expect("create");
    }
    let mut names = Vec::new();
    let mut params = ListParams::default().limit(10);
    let mut pages = 0;
    loop {
        let page = cms.list(&params).await.expect("list page");
        pages += 1;
        names.extend(page.items.iter().filter_map(|c| c.metadata.name.clone()));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names.len(), 25);
    assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted by name");
    let gold = cms
        .list(&ListParams::default().labels("tier=gold"))
        .await
        .expect("label selector");
    assert_eq!(gold.items.len(), 5);
    let one = cms
        .list(&ListParams::default().fields("metadata.name=cm-07"))
        .await
        .expect("field selector");
    assert_eq!(one.items.len(), 1);
}

#[tokio::test]
async fn watch_delivers_changes_in_order_and_resumes_after_a_drop() {
    let (server, client) = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let start = cms
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");

    // A raw watch from a known version sees every change, in order.
    let mut stream = cms
        .watch(&WatchParams::default(), &start)
        .await
        .expect("watch")
        .boxed();
    cms.create(&PostParams::default(), &cm("w", "1"))
        .await
        .expect("create");
    cms.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"key": "2"}})),
    )
    .await
    .expect("patch");
    cms.delete("w", &DeleteParams::default())
        .await
        .expect("delete");
    let mut seen = Vec::new();
    while seen.len() < 3 {
        match stream
            .try_next()
            .await
            .expect("event")
            .expect("stream open")
        {
            WatchEvent::Added(c) => seen.push(("ADDED", c.data.expect("data")["key"].clone())),
            WatchEvent::Modified(c) => {
                seen.push(("MODIFIED", c.data.expect("data")["key"].clone()))
            }
            WatchEvent::Deleted(c) => seen.push(("DELETED", c.data.expect("data")["key"].clone())),
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(e) => panic!("watch error {e:?}"),
        }
    }
    assert_eq!(
        seen,
        vec![
            ("ADDED", "1".to_owned()),
            ("MODIFIED", "2".to_owned()),
            ("DELETED", "2".to_owned())
        ]
    );

    // kube-rs's watcher keeps a consistent view while the server drops every watch
    // after a short while: each value written arrives, in order, none twice.
    server
        .faults()
        .set_watch_drop_after(Some(Duration::from_millis(300)));
    let watcher_stream = watcher(cms.clone(), watcher::Config::default().labels("app=demo"));
    let collected = tokio::spawn(async move {
        let mut values = Vec::new();
        let mut stream = watcher_stream.boxed();
        while let Some(event) = stream.try_next().await.expect("watcher event") {
            if let watcher::Event::Apply(c) = event {
                if c.metadata.name.as_deref() == Some("counter") {
                    let v: u32 = c.data.expect("data")["key"].parse().expect("number");
                    if values.last() != Some(&v) {
                        values.push(v);
                    }
                    if v == 30 {
                        break;
                    }
                }
            }
        }
        values
    });
    cms.create(&PostParams::default(), &cm("counter", "0"))
        .await
        .expect("create counter");
    for v in 1..=30 {
        cms.patch(
            "counter",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"key": v.to_string()}})),
        )
        .await
        .expect("bump");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let values = tokio::time::timeout(Duration::from_secs(30), collected)
        .await
        .expect("watcher finishes")
        .expect("task");
    assert!(
        values.windows(2).all(|w| w[0] < w[1]),
        "in order, no repeats: {values:?}"
    );
    assert_eq!(values.last(), Some(&30));
}

#[tokio::test]
async fn too_old_resource_version_is_gone() {
    let server = ApiServer::start(Config {
        watch_history: 5,
        ..Config::default()
    })
    .await
    .expect("server starts");
    let client = server.client().await.expect("client");
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let start = cms
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");
    for i in 0..10 {
        cms.create(&PostParams::default(), &cm(&format!("g{i}"), "x"))
            .await
            .expect("create");
    }
    let err = match cms.watch(&WatchParams::default(), &start).await {
        Err(e) => e,
        Ok(stream) => match stream.boxed().try_next().await {
            Ok(Some(WatchEvent::Error(e))) => kube::Error::Api(e),
            Err(e) => e,
            other => panic!("expected 410 Gone, got {other:?}"),
        },
    };
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 410),
        "{err:?}"
    );
    // A recent version still resumes.
    let recent = cms
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");
    cms.create(&PostParams::default(), &cm("late", "x"))
        .await
        .expect("create");
    let mut stream = cms
        .watch(&WatchParams::default(), &recent)
        .await
        .expect("watch")
        .boxed();
    let first = stream.try_next().await.expect("event").expect("open");
    assert!(
        matches!(first, WatchEvent::Added(ref c) if c.metadata.name.as_deref() == Some("late")),
        "{first:?}"
    );
}

#[tokio::test]
async fn namespace_deletion_removes_its_contents() {
    let (_server, client) = server().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "doomed"}})).expect("ns");
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("create ns");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    cms.create(&PostParams::default(), &cm("x", "1"))
        .await
        .expect("create cm");
    namespaces
        .delete("doomed", &DeleteParams::default())
        .await
        .expect("delete ns");
    poll("namespace gone", || async {
        namespaces
            .get_opt("doomed")
            .await
            .expect("get")
            .is_none()
            .then_some(())
    })
    .await;
    assert!(cms
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .is_empty());
}

#[tokio::test]
async fn owner_references_are_garbage_collected() {
    let (_server, client) = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let owner = cms
        .create(&PostParams::default(), &cm("owner", "1"))
        .await
        .expect("owner");
    let mut dependent = cm("dependent", "1");
    dependent.metadata.owner_references = Some(vec![serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid.expect("uid"),
    })).expect("owner ref")]);
    cms.create(&PostParams::default(), &dependent)
        .await
        .expect("dependent");
    let mut orphan = cm("orphan-of-orphaning", "1");
    let owner2 = cms
        .create(&PostParams::default(), &cm("owner2", "1"))
        .await
        .expect("owner2");
    orphan.metadata.owner_references = Some(vec![serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap", "name": "owner2", "uid": owner2.metadata.uid.expect("uid"),
    })).expect("owner ref")]);
    cms.create(&PostParams::default(), &orphan)
        .await
        .expect("orphan");

    cms.delete("owner", &DeleteParams::background())
        .await
        .expect("delete owner");
    poll("dependent collected", || async {
        cms.get_opt("dependent")
            .await
            .expect("get")
            .is_none()
            .then_some(())
    })
    .await;

    cms.delete("owner2", &DeleteParams::orphan())
        .await
        .expect("delete owner2");
    poll("owner2 gone", || async {
        cms.get_opt("owner2")
            .await
            .expect("get")
            .is_none()
            .then_some(())
    })
    .await;
    let kept = cms.get("orphan-of-orphaning").await.expect("orphan kept");
    assert!(kept
        .metadata
        .owner_references
        .unwrap_or_default()
        .is_empty());
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let (_server, client) = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut c = cm("held", "1");
    c.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&PostParams::default(), &c)
        .await
        .expect("create");
    cms.delete("held", &DeleteParams::default())
        .await
        .expect("delete");
    let held = cms.get("held").await.expect("still there");
    assert!(held.metadata.deletion_timestamp.is_some());
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("drop finalizer");
    assert!(cms.get_opt("held").await.expect("get").is_none());
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let (_server, client) = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(
        &PostParams {
            dry_run: true,
            ..PostParams::default()
        },
        &cm("dry", "1"),
    )
    .await
    .expect("dry create");
    assert!(cms.get_opt("dry").await.expect("get").is_none());
}

#[tokio::test]
async fn injected_faults_reach_the_client() {
    let (server, _) = server().await;
    // kube-rs retries 429s by default; this test wants to see them.
    let mut config = server.client_config().await.expect("config");
    config.default_retry = false;
    let client = kube::Client::try_from(config).expect("client");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    server.faults().set_throttle_rate(1.0);
    let err = cms
        .list(&ListParams::default())
        .await
        .expect_err("throttled");
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 429),
        "{err:?}"
    );
    server.faults().set_throttle_rate(0.0);
    server.faults().set_error_rate(1.0);
    let err = cms.list(&ListParams::default()).await.expect_err("failing");
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 500),
        "{err:?}"
    );
    server.faults().set_error_rate(0.0);
    cms.list(&ListParams::default())
        .await
        .expect("healthy again");
}

#[tokio::test]
async fn watch_bookmarks_and_timeout() {
    let (_server, client) = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let started = tokio::time::Instant::now();
    let mut stream = cms
        .watch(&WatchParams::default().timeout(1), "0")
        .await
        .expect("watch")
        .boxed();
    let mut bookmarks = 0;
    while let Some(event) = stream.try_next().await.expect("event") {
        if let WatchEvent::Bookmark(b) = event {
            assert!(!b.metadata.resource_version.is_empty());
            bookmarks += 1;
        }
    }
    let lasted = started.elapsed();
    assert!(
        bookmarks >= 2,
        "bookmarks every 200ms within a second: {bookmarks}"
    );
    assert!(
        lasted >= Duration::from_millis(900) && lasted < Duration::from_secs(5),
        "{lasted:?}"
    );
}

#[tokio::test]
async fn the_audit_log_records_every_request() {
    let dir = tempfile::tempdir().expect("dir");
    let audit = dir.path().join("audit.log");
    let server = ApiServer::start(Config {
        audit_log: Some(audit.clone()),
        ..Config::default()
    })
    .await
    .expect("server");
    let client = server.client().await.expect("client");
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    cms.create(&PostParams::default(), &cm("audited", "1"))
        .await
        .expect("create");
    let _ = cms.get("missing").await;
    let events: Vec<serde_json::Value> = std::fs::read_to_string(&audit)
        .expect("audit log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let create = events
        .iter()
        .find(|e| e["verb"] == "create")
        .expect("create recorded");
    assert_eq!(create["apiVersion"], "audit.k8s.io/v1");
    assert_eq!(create["kind"], "Event");
    assert_eq!(create["objectRef"]["resource"], "configmaps");
    assert_eq!(create["objectRef"]["namespace"], "default");
    assert_eq!(create["user"]["username"], "ferroflux-admin");
    assert_eq!(create["responseStatus"]["code"], 201);
    // kube-rs sends no User-Agent unless told to; the field is there, empty.
    assert!(create["userAgent"].is_string());
    assert!(create["requestReceivedTimestamp"].as_str() <= create["stageTimestamp"].as_str());
    let get = events
        .iter()
        .find(|e| e["verb"] == "get" && e["objectRef"]["name"] == "missing")
        .expect("get recorded");
    assert_eq!(get["responseStatus"]["code"], 404);
}
