//! `ferroflux helm template` as a user runs it, against the Helm SDK: the printed
//! manifests of public charts with -f files and --set flags, --include-crds,
//! --show-only, --no-hooks and --skip-tests, and Helm's errors on stderr with a
//! non-zero exit.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The chart corpus, or None (said) outside this workplace; required in the
/// test command.
fn corpus() -> Option<PathBuf> {
    let dir = repo_root().join("../shared/corpus/charts");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("FERROFLUX_REQUIRE_CORPUS").is_none(),
        "the chart corpus is missing at {}",
        dir.display()
    );
    println!(
        "no chart corpus at {}: its cases are not run",
        dir.display()
    );
    None
}

fn ferroflux(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferroflux"))
        .arg("helm")
        .arg("template")
        .args(args)
        .output()
        .expect("ferroflux runs")
}

fn helm(request: serde_json::Value) -> serde_json::Value {
    let python = repo_root().join(".venv/bin/python");
    assert!(
        python.is_file(),
        "the Helm SDK oracle is missing: run ./scripts/test.sh, which creates .venv"
    );
    let mut child = Command::new(python)
        .arg(repo_root().join("tests/helm/template_oracle.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the Helm SDK");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("request");
    let output = child.wait_with_output().expect("the Helm SDK ran");
    assert!(output.status.success(), "the Helm SDK script failed");
    serde_json::from_slice(&output.stdout).expect("JSON from the Helm SDK")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "ferroflux failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What `helm template --no-hooks` prints for a manifest Helm rendered.
fn printed(manifest: &str) -> String {
    format!("{}\n", manifest.trim())
}

fn assert_same(theirs: &str, ours: &str, what: &str) {
    if theirs != ours {
        let line = theirs
            .lines()
            .zip(ours.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| theirs.lines().count().min(ours.lines().count()));
        panic!(
            "{what}: output differs at line {}\n  helm: {:?}\n  ours: {:?}",
            line + 1,
            theirs.lines().nth(line),
            ours.lines().nth(line)
        );
    }
}

#[test]
fn podinfo_with_values_files_and_set_flags_prints_what_helm_prints() {
    let Some(corpus) = corpus() else { return };
    let chart = corpus.join("podinfo");
    let prod = chart.join("values-prod.yaml");
    let extra = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(extra.path(), "replicaCount: 4\nui: {color: '#00ff00'}\n").expect("write");
    let theirs = helm(serde_json::json!({
        "chart": chart, "name": "web", "namespace": "shop",
        "files": [prod, extra.path()],
        "set": ["image.tag=6.5.0,ingress.enabled=true", "hpa.enabled=true"],
        "set_string": ["podAnnotations.build=0123"],
    }));
    let files = format!("{},{}", prod.display(), extra.path().display());
    let ours = ferroflux(&[
        "web",
        chart.to_str().expect("utf-8"),
        "-n",
        "shop",
        "-f",
        &files,
        "--set",
        "image.tag=6.5.0,ingress.enabled=true",
        "--set",
        "hpa.enabled=true",
        "--set-string",
        "podAnnotations.build=0123",
        "--skip-tests",
    ]);
    let manifest = theirs["manifest"].as_str().expect("a manifest");
    assert!(
        manifest.contains("build: \"0123\""),
        "the string value reached Helm"
    );
    assert_same(&printed(manifest), &stdout(&ours), "podinfo");

    // Without --skip-tests the test hooks follow the manifest.
    let with_tests = stdout(&ferroflux(&["web", chart.to_str().expect("utf-8")]));
    let defaults = helm(serde_json::json!({"chart": chart, "name": "web", "namespace": "default"}));
    let rest = with_tests
        .strip_prefix(printed(defaults["manifest"].as_str().unwrap_or_default()).as_str())
        .expect("the manifest comes first");
    assert!(
        rest.starts_with("---\n# Source: podinfo/templates/tests/")
            && rest.contains("helm.sh/hook"),
        "test hooks after the manifest: {rest:.200}"
    );
}

#[test]
fn crds_lead_with_include_crds_and_hooks_go_with_no_hooks() {
    let Some(corpus) = corpus() else { return };
    let chart = corpus.join("traefik");
    let theirs = helm(serde_json::json!({"chart": chart, "name": "edge", "namespace": "ingress"}));
    let mut expected = String::new();
    for crd in theirs["crds"].as_array().expect("crds") {
        expected.push_str(&format!(
            "---\n# Source: {}\n{}\n",
            crd[0].as_str().expect("filename"),
            crd[1].as_str().expect("data")
        ));
    }
    expected.push_str(theirs["manifest"].as_str().expect("a manifest"));
    let ours = ferroflux(&[
        "edge",
        chart.to_str().expect("utf-8"),
        "--namespace",
        "ingress",
        "--include-crds",
        "--no-hooks",
    ]);
    assert!(theirs["crds"].as_array().is_some_and(|c| c.len() > 10));
    assert_same(&printed(&expected), &stdout(&ours), "traefik with CRDs");

    // cert-manager has a post-install hook: --no-hooks leaves exactly the manifest.
    let chart = corpus.join("cert-manager");
    let theirs = helm(serde_json::json!({"chart": chart, "name": "cm", "namespace": "default"}));
    let ours = stdout(&ferroflux(&[
        "cm",
        chart.to_str().expect("utf-8"),
        "--no-hooks",
    ]));
    assert_same(
        &printed(theirs["manifest"].as_str().expect("manifest")),
        &ours,
        "cert-manager",
    );
    let with_hooks = stdout(&ferroflux(&["cm", chart.to_str().expect("utf-8")]));
    assert!(with_hooks.len() > ours.len() && with_hooks.contains("helm.sh/hook: post-install"));
}

#[test]
fn show_only_prints_the_documents_of_the_named_templates() {
    let Some(corpus) = corpus() else { return };
    let chart = corpus.join("podinfo");
    let chart = chart.to_str().expect("utf-8");
    let ours = stdout(&ferroflux(&[
        chart,
        "-s",
        "templates/service.yaml",
        "--show-only",
        "templates/deploy*.yaml",
    ]));
    let sources: Vec<&str> = ours
        .lines()
        .filter(|l| l.starts_with("# Source: "))
        .collect();
    assert_eq!(
        sources,
        [
            "# Source: podinfo/templates/service.yaml",
            "# Source: podinfo/templates/deployment.yaml"
        ]
    );
    assert!(ours.starts_with(
        "---\n# Source: podinfo/templates/service.yaml\napiVersion: v1\nkind: Service\n"
    ));
    assert!(
        ours.contains("name: release-name-podinfo"),
        "the default release name"
    );

    let missing = ferroflux(&[chart, "-s", "templates/nothing.yaml"]);
    assert!(!missing.status.success());
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr),
        "Error: could not find template templates/nothing.yaml in chart\n"
    );
}

fn stderr_of(args: &[&str]) -> String {
    let output = ferroflux(args);
    assert!(!output.status.success(), "{args:?} should fail");
    assert!(output.stdout.is_empty(), "nothing printed on failure");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn bad_input_gets_helms_errors_on_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chart = dir.path().join("app");
    std::fs::create_dir_all(chart.join("templates")).expect("mkdir");
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: app\nversion: 1.0.0\nkubeVersion: '>=1.30.0-0'\n",
    )
    .expect("write");
    std::fs::write(chart.join("values.yaml"), "replicas: 1\n").expect("write");
    std::fs::write(
        chart.join("values.schema.json"),
        r#"{"type": "object", "properties": {"replicas": {"type": "integer", "minimum": 1}}}"#,
    )
    .expect("write");
    std::fs::write(
        chart.join("templates/cm.yaml"),
        "kind: ConfigMap\napiVersion: v1\nmetadata: {name: {{ required \"name is required\" .Values.name }}}\n",
    )
    .expect("write");
    let path = chart.to_str().expect("utf-8");

    assert_eq!(
        stderr_of(&["./no-such-chart"]),
        "Error: path \"./no-such-chart\" not found\n"
    );
    assert_eq!(
        stderr_of(&[path, "--kube-version", "1"]),
        "Error: invalid kube version '1': illegal version string \"1\"\n"
    );
    assert_eq!(
        stderr_of(&[path, "--set", "name=x", "--kube-version", "1.29.3"]),
        "Error: chart requires kubeVersion: >=1.30.0-0 which is incompatible with Kubernetes v1.29.3\n\nUse --debug flag to render out invalid YAML\n"
    );
    let theirs =
        helm(serde_json::json!({"chart": chart, "name": "release-name", "namespace": "default"}));
    let message = theirs["error"].as_str().expect("Helm requires the name");
    assert!(
        message.starts_with("execution error at (app/templates/cm.yaml:3:"),
        "{message}"
    );
    assert_eq!(
        stderr_of(&[path]),
        format!("Error: {message}\n\nUse --debug flag to render out invalid YAML\n")
    );
    let theirs = helm(
        serde_json::json!({"chart": chart, "name": "release-name", "namespace": "default", "set": ["name=x,replicas=0"]}),
    );
    let expected = format!(
        "Error: {}\n",
        theirs["error"].as_str().expect("Helm refuses replicas 0")
    );
    assert_eq!(stderr_of(&[path, "--set", "name=x,replicas=0"]), expected);
    assert!(expected.contains("values don't meet the specifications of the schema(s)"));
    for (flag, expr) in [
        ("--set", "a.b"),
        ("--set", "list[x]=1"),
        ("--set-string", "a.b"),
    ] {
        let theirs = helm(
            serde_json::json!({"chart": chart, "name": "n", "namespace": "d",
            if flag == "--set" { "set" } else { "set_string" }: [expr]}),
        );
        let message = theirs["error"]
            .as_str()
            .expect("Helm refuses the expression");
        let what = flag.trim_start_matches("--");
        assert_eq!(
            stderr_of(&[path, flag, expr]),
            format!("Error: failed parsing --{what} data: {message}\n")
        );
    }
    assert_eq!(
        stderr_of(&[path, "-f", "missing.yaml"]),
        "Error: open missing.yaml: no such file or directory\n"
    );
    // A library chart renders nothing and says why.
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: app\nversion: 1.0.0\ntype: library\n",
    )
    .expect("write");
    assert_eq!(
        stderr_of(&[path]),
        "Error: library charts are not installable\n"
    );
}
