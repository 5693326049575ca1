//! kubectl, the default one and the oldest and newest installed, against a running
//! `ferroflux apiserver`: the things a person does on a small real cluster.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use common::{fixture, Kubectl, ServerProcess};

const WAIT: Duration = Duration::from_secs(30);

fn kubectl_versions() -> Vec<String> {
    vec![
        "kubectl".to_owned(),
        "/usr/lib/google-cloud-sdk/bin/kubectl.1.27".to_owned(),
        "/usr/lib/google-cloud-sdk/bin/kubectl.1.33".to_owned(),
    ]
}

fn session(bin: &str) {
    let server = ServerProcess::start(&[
        "--ready-after-seconds",
        "1",
        "--progress-deadline-seconds",
        "3",
    ]);
    let k = Kubectl::new(bin, &server.kubeconfig);
    let app = fixture("app.yaml");

    // Client-side apply of a multi-document file, then again: nothing changes.
    let out = k.ok(&["apply", "-f", &app]);
    for line in [
        "namespace/demo created",
        "configmap/cfg created",
        "deployment.apps/web created",
        "service/web created",
    ] {
        assert!(out.contains(line), "{out}");
    }
    let again = k.ok(&["apply", "-f", &app]);
    assert!(again.contains("deployment.apps/web unchanged"), "{again}");
    let ssa = k.ok(&["apply", "--server-side", "--force-conflicts", "-f", &app]);
    assert!(
        ssa.contains("deployment.apps/web serverside-applied"),
        "{ssa}"
    );

    // Reading back in every format.
    let yaml = k.ok(&["-n", "demo", "get", "deployment", "web", "-o", "yaml"]);
    assert!(
        yaml.contains("replicas: 3") && yaml.contains("image: nginx:1.27"),
        "{yaml}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&k.ok(&["-n", "demo", "get", "service", "web", "-o", "json"]))
            .expect("json");
    assert_eq!(json["spec"]["ports"][0]["protocol"], "TCP");
    let wide = k.ok(&["-n", "demo", "get", "deployments", "-o", "wide"]);
    assert!(
        wide.contains("IMAGES") && wide.contains("nginx:1.27"),
        "{wide}"
    );

    // The simulated kubelet makes the Deployment available.
    k.ok(&[
        "-n",
        "demo",
        "wait",
        "--for=condition=Available",
        "deployment/web",
        "--timeout=30s",
    ]);
    let rollout = k.ok(&[
        "-n",
        "demo",
        "rollout",
        "status",
        "deployment/web",
        "--timeout=30s",
    ]);
    assert!(rollout.contains("successfully rolled out"), "{rollout}");

    // scale, then the three patch types.
    k.ok(&["-n", "demo", "scale", "deployment/web", "--replicas=5"]);
    assert_eq!(
        k.ok(&[
            "-n",
            "demo",
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "5"
    );
    k.ok(&[
        "-n",
        "demo",
        "patch",
        "deployment",
        "web",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"replicas":2}}"#,
    ]);
    k.ok(&[
        "-n",
        "demo",
        "patch",
        "deployment",
        "web",
        "--type",
        "json",
        "-p",
        r#"[{"op":"add","path":"/metadata/labels/tier","value":"front"}]"#,
    ]);
    k.ok(&["-n", "demo", "patch", "deployment", "web", "--type", "strategic", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"MODE","value":"fast"}]}]}}}}"#]);
    let container: serde_json::Value = serde_json::from_str(&k.ok(&[
        "-n",
        "demo",
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0]}",
    ]))
    .expect("container json");
    assert_eq!(
        container["image"], "nginx:1.27",
        "strategic merge keeps the rest of the container"
    );
    assert_eq!(container["env"][0]["value"], "fast");
    assert_eq!(
        k.ok(&[
            "-n",
            "demo",
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.replicas}/{.metadata.labels.tier}"
        ]),
        "2/front"
    );

    // label and annotate.
    k.ok(&["-n", "demo", "label", "configmap", "cfg", "team=platform"]);
    k.ok(&["-n", "demo", "annotate", "configmap", "cfg", "note=hello"]);
    assert_eq!(
        k.ok(&[
            "-n",
            "demo",
            "get",
            "cm",
            "cfg",
            "-o",
            "jsonpath={.metadata.labels.team}/{.metadata.annotations.note}"
        ]),
        "platform/hello"
    );

    // diff: the live Deployment drifted from the file (replicas 2, not 3).
    let diff = k.output(&["diff", "-f", &app], None);
    assert_eq!(
        diff.status.code(),
        Some(1),
        "diff finds drift: {}",
        String::from_utf8_lossy(&diff.stderr)
    );
    assert!(
        String::from_utf8_lossy(&diff.stdout).contains("+  replicas: 3"),
        "{}",
        String::from_utf8_lossy(&diff.stdout)
    );

    // Discovery, OpenAPI and explain.
    let resources = k.ok(&["api-resources"]);
    assert!(
        resources
            .lines()
            .any(|l| l.starts_with("deployments") && l.contains("apps/v1")),
        "{resources}"
    );
    assert!(k.ok(&["api-versions"]).lines().any(|l| l == "apps/v1"));
    let explain = k.ok(&["explain", "deployment.spec.replicas"]);
    assert!(
        explain.contains("replicas") && explain.contains("<integer>"),
        "{explain}"
    );

    // Authorization: the admin may; an unbound user may not.
    assert_eq!(
        k.ok(&["auth", "can-i", "create", "deployments"]).trim(),
        "yes"
    );
    let denied = k.output(&["-n", "demo", "get", "pods", "--as", "alice"], None);
    assert!(!denied.status.success());
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(
        stderr.contains("Forbidden")
            && stderr.contains("User \"alice\" cannot list resource \"pods\""),
        "{stderr}"
    );
    let can_i = k.output(&["auth", "can-i", "get", "pods", "--as", "alice"], None);
    assert_eq!(String::from_utf8_lossy(&can_i.stdout).trim(), "no");

    // A service account token (every namespace has a `default` account) authenticates
    // as that account, which RBAC gives nothing by default.
    let token = k.ok(&["-n", "demo", "create", "token", "default"]);
    let as_account = k.output(
        &["--token", token.trim(), "-n", "demo", "get", "configmaps"],
        None,
    );
    assert!(!as_account.status.success());
    assert!(
        String::from_utf8_lossy(&as_account.stderr).contains(
            "User \"system:serviceaccount:demo:default\" cannot list resource \"configmaps\""
        ),
        "{}",
        String::from_utf8_lossy(&as_account.stderr)
    );

    // A CRD, then a custom resource shown with its printer columns.
    k.ok(&["apply", "-f", &fixture("widget-crd.yaml")]);
    k.eventually(&["api-resources", "--api-group=example.com"], WAIT, |o| {
        o.contains("widgets")
    });
    k.ok(&["apply", "-f", &fixture("widget.yaml")]);
    let widgets = k.ok(&["-n", "demo", "get", "wd"]);
    let header: Vec<&str> = widgets
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(header, vec!["NAME", "SIZE", "READY", "AGE"], "{widgets}");
    assert!(
        widgets
            .lines()
            .nth(1)
            .is_some_and(|l| l.split_whitespace().take(2).collect::<Vec<_>>() == vec!["w1", "3"]),
        "{widgets}"
    );

    // get -w sees ADDED, MODIFIED and DELETED.
    let mut watch = k
        .command(&[
            "-n",
            "demo",
            "get",
            "configmaps",
            "-w",
            "--output-watch-events",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w");
    let (tx, rx) = mpsc::channel();
    let stdout = watch.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The watch has started once it lists what exists.
    let header = rx.recv_timeout(WAIT).expect("header");
    assert!(
        header
            .split_whitespace()
            .eq(["EVENT", "NAME", "DATA", "AGE"]),
        "{header}"
    );
    let first = rx.recv_timeout(WAIT).expect("initial watch event");
    assert!(
        first.starts_with("ADDED") && first.contains(" cfg "),
        "{first}"
    );
    k.ok(&[
        "-n",
        "demo",
        "create",
        "configmap",
        "watched",
        "--from-literal=a=1",
    ]);
    k.ok(&[
        "-n",
        "demo",
        "patch",
        "configmap",
        "watched",
        "-p",
        r#"{"data":{"a":"2"}}"#,
    ]);
    k.ok(&["-n", "demo", "delete", "configmap", "watched"]);
    let mut events = Vec::new();
    while events.len() < 3 {
        let line = rx.recv_timeout(WAIT).expect("watch event");
        if line.split_whitespace().nth(1) == Some("watched") {
            events.push(line.split_whitespace().next().unwrap_or("").to_owned());
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    assert_eq!(events, vec!["ADDED", "MODIFIED", "DELETED"]);

    // Foreground cascading delete waits until the Deployment is gone.
    k.ok(&[
        "-n",
        "demo",
        "delete",
        "deployment",
        "web",
        "--cascade=foreground",
        "--timeout=30s",
    ]);
    let gone = k.output(&["-n", "demo", "get", "deployment", "web"], None);
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("NotFound"),
        "{}",
        String::from_utf8_lossy(&gone.stderr)
    );
}

#[test]
fn kubectl_default_version() {
    session(&kubectl_versions()[0]);
}

#[test]
fn kubectl_oldest_installed() {
    session(&kubectl_versions()[1]);
}

#[test]
fn kubectl_newest_installed() {
    session(&kubectl_versions()[2]);
}

#[test]
fn a_workload_that_cannot_start_reports_progress_deadline_exceeded() {
    let server = ServerProcess::start(&[
        "--ready-after-seconds",
        "1",
        "--progress-deadline-seconds",
        "2",
    ]);
    let k = Kubectl::new("kubectl", &server.kubeconfig);
    k.ok(&["create", "deployment", "broken", "--image=nginx:fail"]);
    let reason = k.eventually(
        &[
            "get",
            "deployment",
            "broken",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}",
        ],
        WAIT,
        |o| o == "ProgressDeadlineExceeded",
    );
    assert_eq!(reason, "ProgressDeadlineExceeded");
    let rollout = k.output(
        &["rollout", "status", "deployment/broken", "--timeout=20s"],
        None,
    );
    assert!(!rollout.status.success());
    assert!(
        String::from_utf8_lossy(&rollout.stderr).contains("exceeded its progress deadline"),
        "{}",
        String::from_utf8_lossy(&rollout.stderr)
    );
}
