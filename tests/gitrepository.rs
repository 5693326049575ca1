//! The GitRepository controller end to end: the embedded API server with ferroflux's
//! CRDs, a real `git daemon` on loopback, and `ferroflux run` as a process; the user
//! drives it with the ferroflux CLI as with flux.

#[path = "common/replica.rs"]
mod replica;
#[path = "../src/source/testutil.rs"]
#[allow(dead_code)]
mod testutil;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use ferroflux_apiserver::Config;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use replica::{cli, flux_cluster, poll, ready, start_replica};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use testutil::{GitDaemon, GitHttpServer, HttpAuth, TestRepo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_repository_lifecycle() {
    let (server, client) = flux_cluster(Config::default(), &["flux-system"]).await;

    let repo = TestRepo::new("podinfo");
    repo.write(
        "deploy/app.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n",
    );
    repo.write("README.md", "hello\n");
    let first = repo.commit("first");
    let daemon = GitDaemon::start(repo.base.path());
    let storage = tempfile::tempdir().expect("storage");
    let _replica = start_replica(server.kubeconfig_path(), storage.path());

    // The GitRepository example of the guide, pointed at the loopback server.
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "GitRepository"),
        "gitrepositories",
    );
    let repos: Api<DynamicObject> = Api::namespaced_with(client.clone(), "flux-system", &resource);
    let manifest = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "podinfo", "namespace": "flux-system"},
        "spec": {"interval": "1m", "url": daemon.url("podinfo.git"), "ref": {"branch": "main"}},
    });
    repos
        .patch(
            "podinfo",
            &PatchParams::apply("test"),
            &Patch::Apply(manifest),
        )
        .await
        .expect("apply GitRepository");

    let get = |name: &'static str| {
        let repos = repos.clone();
        async move { serde_json::to_value(repos.get(name).await.expect("get")).expect("json") }
    };
    let revision = format!("main@sha1:{first}");
    let object = poll("Ready with the first revision", || async {
        let o = get("podinfo").await;
        (ready(&o).is_some_and(|(s, _, _)| s == "True")
            && o.pointer("/status/artifact/revision") == Some(&json!(revision)))
        .then_some(o)
    })
    .await;
    let (_, reason, message) = ready(&object).expect("ready");
    assert_eq!(reason, "Succeeded");
    assert_eq!(
        message,
        format!("stored artifact for revision '{revision}'")
    );
    assert_eq!(
        object["status"]["observedGeneration"],
        object["metadata"]["generation"]
    );

    // The artifact URL serves a tarball whose sha256 is the status digest.
    let url = object["status"]["artifact"]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let bytes = reqwest::get(&url)
        .await
        .expect("download")
        .bytes()
        .await
        .expect("body");
    let digest = format!("sha256:{:x}", Sha256::digest(&bytes));
    assert_eq!(object["status"]["artifact"]["digest"], json!(digest));
    let hex = digest.trim_start_matches("sha256:");
    assert!(
        url.ends_with(&format!("/gitrepository/flux-system/podinfo/{hex}.tar.gz")),
        "{url}"
    );
    let unpacked = tempfile::tempdir().expect("dir");
    ferroflux::source::artifact::extract_tar_gz(&bytes[..], unpacked.path()).expect("extract");
    assert!(unpacked.path().join("deploy/app.yaml").is_file());
    assert!(
        !unpacked.path().join(".git").exists(),
        ".git never reaches the artifact"
    );

    // `ferroflux get sources git` reads like `flux get sources git`.
    let (ok, out, err) = cli(server.kubeconfig_path(), &["get", "sources", "git"]);
    assert!(ok, "{err}");
    let rows: Vec<Vec<String>> = out
        .lines()
        .map(|l| l.split('\t').map(|c| c.trim().to_owned()).collect())
        .collect();
    assert_eq!(
        rows[0],
        vec!["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]
    );
    assert_eq!(
        rows[1][..4],
        [
            String::from("podinfo"),
            revision.clone(),
            "False".into(),
            "True".into()
        ]
    );

    // --watch prints the table, then a line per change.
    let mut watch = Command::new(env!("CARGO_BIN_EXE_ferroflux"))
        .args(["get", "sources", "git", "--watch", "--kubeconfig"])
        .arg(server.kubeconfig_path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("get --watch");
    let watch_out = watch.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(watch_out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let header = rx.recv_timeout(Duration::from_secs(30)).expect("header");
    assert!(header.starts_with("NAME"), "{header}");
    let first_row = rx.recv_timeout(Duration::from_secs(30)).expect("row");
    assert!(
        first_row.starts_with("podinfo") && first_row.contains(&revision),
        "{first_row}"
    );

    // A new commit is picked up at once on `reconcile` (the interval is a minute).
    repo.write(
        "deploy/app.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app2\n",
    );
    let second = repo.commit("second");
    let (ok, out, err) = cli(
        server.kubeconfig_path(),
        &["reconcile", "source", "git", "podinfo"],
    );
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&format!("✔ fetched revision main@sha1:{second}")),
        "{out}"
    );

    // The watch saw the new revision.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let second_seen = loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(line) if line.contains(&second) => break true,
            _ if std::time::Instant::now() > deadline => break false,
            _ => {}
        }
    };
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(second_seen, "get --watch printed the second revision");

    // On its interval a GitRepository follows new commits by itself.
    let fast = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "fast", "namespace": "flux-system"},
        "spec": {"interval": "1s", "url": daemon.url("podinfo.git"), "ref": {"branch": "main"}},
    });
    repos
        .patch("fast", &PatchParams::apply("test"), &Patch::Apply(fast))
        .await
        .expect("apply fast");
    let second_revision = format!("main@sha1:{second}");
    poll("fast at the second commit", || async {
        (get("fast").await.pointer("/status/artifact/revision") == Some(&json!(second_revision)))
            .then_some(())
    })
    .await;
    repo.write("README.md", "third\n");
    let third = repo.commit("third");
    let third_revision = format!("main@sha1:{third}");
    poll("fast follows the third commit on its interval", || async {
        (get("fast").await.pointer("/status/artifact/revision") == Some(&json!(third_revision)))
            .then_some(())
    })
    .await;

    // spec.include: another repository's files are copied in, and a new commit there
    // rebuilds this artifact without anyone asking.
    let shared = TestRepo::new("shared");
    shared.write("base/policy.yaml", "kind: Policy\nversion: 1\n");
    shared.commit("policy v1");
    let shared_daemon = GitDaemon::start(shared.base.path());
    let shared_manifest = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "shared", "namespace": "flux-system"},
        "spec": {"interval": "1s", "url": shared_daemon.url("shared.git"), "ref": {"branch": "main"}},
    });
    repos
        .patch(
            "shared",
            &PatchParams::apply("test"),
            &Patch::Apply(shared_manifest),
        )
        .await
        .expect("apply shared");
    repos
        .patch("podinfo", &PatchParams::apply("test"), &Patch::Apply(json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "podinfo", "namespace": "flux-system"},
            "spec": {"interval": "1m", "url": daemon.url("podinfo.git"), "ref": {"branch": "main"},
                "include": [{"repository": {"name": "shared"}, "fromPath": "base", "toPath": "vendor/shared"}]},
        })))
        .await
        .expect("add include");
    let file_in_artifact = |object: Value, path: &'static str| async move {
        let url = object.pointer("/status/artifact/url")?.as_str()?.to_owned();
        let bytes = reqwest::get(&url).await.ok()?.bytes().await.ok()?;
        let dir = tempfile::tempdir().ok()?;
        ferroflux::source::artifact::extract_tar_gz(&bytes[..], dir.path()).ok()?;
        std::fs::read_to_string(dir.path().join(path)).ok()
    };
    poll("the included file in the artifact", || async {
        let o = get("podinfo").await;
        (file_in_artifact(o, "vendor/shared/policy.yaml")
            .await
            .as_deref()
            == Some("kind: Policy\nversion: 1\n"))
        .then_some(())
    })
    .await;
    assert_eq!(
        get("podinfo").await["status"]["includedArtifacts"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    shared.write("base/policy.yaml", "kind: Policy\nversion: 2\n");
    shared.commit("policy v2");
    poll("the include's new commit reaches this artifact", || async {
        let o = get("podinfo").await;
        (file_in_artifact(o, "vendor/shared/policy.yaml")
            .await
            .as_deref()
            == Some("kind: Policy\nversion: 2\n"))
        .then_some(())
    })
    .await;
    // Back to no include for what follows.
    repos
        .patch(
            "podinfo",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"include": null}})),
        )
        .await
        .expect("drop include");

    // Suspend and resume.
    let (ok, out, _) = cli(
        server.kubeconfig_path(),
        &["suspend", "source", "git", "podinfo"],
    );
    assert!(ok && out.contains("✔ GitRepository suspended"), "{out}");
    assert_eq!(get("podinfo").await["spec"]["suspend"], true);
    let (ok, out, err) = cli(
        server.kubeconfig_path(),
        &["resume", "source", "git", "podinfo"],
    );
    assert!(ok && out.contains("✔ GitRepository resumed"), "{out}{err}");

    // A repository that does not exist: Ready=False with a clear message, and the last
    // good artifact stays.
    let good = get("podinfo").await["status"]["artifact"].clone();
    repos
        .patch(
            "podinfo",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"url": daemon.url("missing.git")}})),
        )
        .await
        .expect("break the url");
    let broken = poll("Ready=False", || async {
        let o = get("podinfo").await;
        ready(&o).is_some_and(|(s, _, _)| s == "False").then_some(o)
    })
    .await;
    let (_, reason, message) = ready(&broken).expect("ready");
    assert_eq!(reason, "GitOperationFailed");
    assert!(message.contains("missing.git"), "{message}");
    assert_eq!(
        broken["status"]["artifact"], good,
        "the last artifact is kept"
    );
    assert!(reqwest::get(good["url"].as_str().expect("url"))
        .await
        .expect("download")
        .status()
        .is_success());

    // Over HTTP with basic auth: wrong credentials give AuthenticationFailed without
    // the password in the message; the right ones give an artifact.
    let http = GitHttpServer::start(
        repo.base.path(),
        HttpAuth::Basic {
            user: "flux".into(),
            password: "s3cret".into(),
        },
    );
    let secrets: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "flux-system",
        &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Secret"), "secrets"),
    );
    let secret = |password: &str| {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "git-auth", "namespace": "flux-system"},
        "stringData": {"username": "flux", "password": password}})
    };
    secrets
        .patch(
            "git-auth",
            &PatchParams::apply("test").force(),
            &Patch::Apply(secret("wrong-password")),
        )
        .await
        .expect("secret");
    repos
        .patch("private", &PatchParams::apply("test"), &Patch::Apply(json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "private", "namespace": "flux-system"},
            "spec": {"interval": "1m", "url": http.url("podinfo.git"), "ref": {"branch": "main"}, "secretRef": {"name": "git-auth"}},
        })))
        .await
        .expect("private repo");
    let denied = poll("AuthenticationFailed", || async {
        let o = get("private").await;
        ready(&o).filter(|(s, _, _)| s == "False")
    })
    .await;
    assert_eq!(denied.1, "AuthenticationFailed", "{denied:?}");
    assert!(
        !denied.2.contains("wrong-password"),
        "no secret in the message: {}",
        denied.2
    );
    secrets
        .patch(
            "git-auth",
            &PatchParams::apply("test").force(),
            &Patch::Apply(secret("s3cret")),
        )
        .await
        .expect("fix secret");
    let (ok, out, err) = cli(
        server.kubeconfig_path(),
        &["reconcile", "source", "git", "private"],
    );
    assert!(ok, "{out}{err}");
    assert!(ready(&get("private").await).is_some_and(|(s, _, _)| s == "True"));

    // An invalid spec stalls, naming the field.
    repos
        .patch("podinfo", &PatchParams::default(), &Patch::Merge(json!({"spec": {"url": daemon.url("podinfo.git"), "ref": {"branch": null, "semver": "not a range"}}})))
        .await
        .expect("invalid semver");
    let stalled = poll("Stalled", || async {
        let o = get("podinfo").await;
        let stalled = o
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Stalled" && c["status"] == "True")
            });
        stalled.then_some(o)
    })
    .await;
    let (_, _, message) = ready(&stalled).expect("ready");
    assert!(message.contains("spec.ref.semver"), "{message}");
}

/// A reconcile whose remote ref has not moved asks the server for its references
/// only: with the server unable to send any objects (its pack-objects hook fails),
/// the GitRepository stays Ready at its revision; a new commit is fetched as soon as
/// the server can send it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_remote_is_not_fetched_again() {
    let (server, client) = flux_cluster(Config::default(), &["flux-system"]).await;
    let repo = TestRepo::new("app");
    repo.write(
        "app.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n",
    );
    let first = repo.commit("first");
    let daemon = GitDaemon::start(repo.base.path());
    let storage = tempfile::tempdir().expect("storage");
    let _replica = start_replica(server.kubeconfig_path(), storage.path());
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "GitRepository"),
        "gitrepositories",
    );
    let repos: Api<DynamicObject> = Api::namespaced_with(client.clone(), "flux-system", &resource);
    repos
        .patch(
            "app",
            &PatchParams::apply("test"),
            &Patch::Apply(json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": {"name": "app", "namespace": "flux-system"},
                "spec": {"interval": "10m", "url": daemon.url("app.git"), "ref": {"branch": "main"}},
            })),
        )
        .await
        .expect("apply GitRepository");
    let at = |revision: String, handled: Option<String>| {
        let repos = repos.clone();
        async move {
            let o = serde_json::to_value(repos.get("app").await.ok()?).ok()?;
            (ready(&o).is_some_and(|(s, _, _)| s == "True")
                && o.pointer("/status/artifact/revision") == Some(&json!(revision))
                && handled
                    .as_ref()
                    .is_none_or(|h| o.pointer("/status/lastHandledReconcileAt") == Some(&json!(h))))
            .then_some(o)
        }
    };
    poll("Ready at the first commit", || {
        at(format!("main@sha1:{first}"), None)
    })
    .await;
    // The daemon runs with HOME at the repository base: its global git config.
    let hook = repo.base.path().join(".gitconfig");
    std::fs::write(&hook, "[uploadpack]\n\tpackObjectsHook = false\n").expect("hook");
    let request =
        |at: &str| json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": at}}});
    repos
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(request("one")),
        )
        .await
        .expect("request");
    let handled = poll("the request handled without a fetch", || {
        at(format!("main@sha1:{first}"), Some("one".into()))
    })
    .await;
    assert!(
        ready(&handled).is_some_and(|(_, reason, _)| reason == "Succeeded"),
        "{}",
        handled["status"]
    );
    // A new commit needs objects: it fails while the server cannot send them...
    repo.write(
        "app.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app2\n",
    );
    let second = repo.commit("second");
    repos
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(request("two")),
        )
        .await
        .expect("request");
    poll("the fetch of the new commit fails", || async {
        let o = serde_json::to_value(repos.get("app").await.ok()?).ok()?;
        ready(&o)
            .is_some_and(|(s, _, _)| s == "False")
            .then_some(())
    })
    .await;
    // ...and is fetched once it can.
    std::fs::remove_file(&hook).expect("remove the hook");
    repos
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(request("three")),
        )
        .await
        .expect("request");
    poll("Ready at the second commit", || {
        at(format!("main@sha1:{second}"), Some("three".into()))
    })
    .await;
}
