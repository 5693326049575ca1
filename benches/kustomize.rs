//! Build time of a large overlay by ferroflux's kustomize engine against
//! `kubectl kustomize` on the same directory, in the same run. Run with
//! `cargo bench --bench kustomize`.
//!
//! The overlay: a base of 200 apps (Deployment, Service, ConfigMap, ServiceAccount,
//! HorizontalPodAutoscaler: 1,000 resources), an overlay with a namespace, a name
//! prefix, common labels and annotations, images, replicas, 200 configMapGenerator
//! entries referenced by the Deployments (hash suffixes and name references), and a
//! strategic merge patch plus a JSON 6902 patch that select every Deployment.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const APPS: usize = 200;

fn write(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, content).expect("write");
}

fn make_tree(root: &Path) {
    let mut base_resources = String::from("resources:\n");
    for i in 0..APPS {
        let app = format!("app-{i}");
        base_resources.push_str(&format!("- {app}.yaml\n"));
        write(
            &root.join(format!("base/{app}.yaml")),
            &format!(
                r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {app}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: {app}
  template:
    metadata:
      labels:
        app: {app}
    spec:
      serviceAccountName: {app}
      containers:
      - name: main
        image: registry.example.com/{app}:1.0.0
        envFrom:
        - configMapRef:
            name: {app}-settings
        ports:
        - containerPort: 8080
      - name: sidecar
        image: envoyproxy/envoy:v1.29.0
---
apiVersion: v1
kind: Service
metadata:
  name: {app}
spec:
  selector:
    app: {app}
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {app}-static
data:
  LOG_LEVEL: info
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {app}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {app}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {app}
  minReplicas: 1
  maxReplicas: 5
"#
            ),
        );
    }
    write(&root.join("base/kustomization.yaml"), &base_resources);
    let mut overlay = String::from(
        r#"resources:
- ../base
namespace: production
namePrefix: prod-
commonLabels:
  env: production
commonAnnotations:
  owner: platform-team
images:
- name: envoyproxy/envoy
  newTag: v1.30.1
replicas:
- name: app-0
  count: 3
patches:
- target:
    kind: Deployment
  patch: |
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: any
    spec:
      template:
        spec:
          containers:
          - name: main
            resources:
              limits:
                memory: 256Mi
- target:
    kind: Deployment
    labelSelector: app
  patch: |
    - op: add
      path: /spec/revisionHistoryLimit
      value: 5
configMapGenerator:
"#,
    );
    for i in 0..APPS {
        writeln!(
            overlay,
            "- name: app-{i}-settings\n  literals:\n  - REGION=eu-west-1\n  - APP_INDEX={i}"
        )
        .expect("write");
    }
    write(&root.join("overlay/kustomization.yaml"), &overlay);
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("kustomize benchmark: run with `cargo bench --bench kustomize`");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    make_tree(tmp.path());
    let overlay = tmp.path().join("overlay");
    let ours_objects = ferroflux_kustomize::build_dir(&overlay).expect("our build");
    println!(
        "overlay: {} objects out ({APPS} apps x 5 base resources + {APPS} generated ConfigMaps)",
        ours_objects.len()
    );

    let runs = 5;
    let mut ours = Duration::ZERO;
    for _ in 0..runs {
        let t = Instant::now();
        let objects = ferroflux_kustomize::build_dir(&overlay).expect("our build");
        let yaml = ferroflux_kustomize::to_yaml_stream(&objects);
        ours += t.elapsed();
        assert!(!yaml.is_empty());
    }
    let mut theirs = Duration::ZERO;
    let mut their_output = String::new();
    for _ in 0..runs {
        let t = Instant::now();
        let out = Command::new("kubectl")
            .arg("kustomize")
            .arg(&overlay)
            .output()
            .expect("kubectl must be installed");
        theirs += t.elapsed();
        assert!(
            out.status.success(),
            "kubectl kustomize failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        their_output = String::from_utf8(out.stdout).expect("utf8");
    }
    // The command line, process start and printing included: what a user runs.
    let mut cli = Duration::ZERO;
    let mut cli_output = String::new();
    for _ in 0..runs {
        let t = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_ferroflux"))
            .args(["kustomize", "build"])
            .arg(&overlay)
            .output()
            .expect("ferroflux binary");
        cli += t.elapsed();
        assert!(
            out.status.success(),
            "ferroflux kustomize build failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cli_output = String::from_utf8(out.stdout).expect("utf8");
    }
    let their_objects = their_output.matches("\n---\n").count() + 1;
    assert_eq!(
        their_objects,
        ours_objects.len(),
        "both builds give the same number of objects"
    );
    println!(
        "output byte-identical to kubectl's: {}",
        if cli_output == their_output {
            "yes"
        } else {
            "no"
        }
    );
    let cli = cli / runs;
    println!(
        "ferroflux kustomize build (command):     {:>8.1} ms",
        cli.as_secs_f64() * 1000.0
    );
    let ours = ours / runs;
    let theirs = theirs / runs;
    println!(
        "ferroflux kustomize build (in process): {:>8.1} ms",
        ours.as_secs_f64() * 1000.0
    );
    println!(
        "kubectl kustomize (kustomize v5.5):      {:>8.1} ms",
        theirs.as_secs_f64() * 1000.0
    );
    println!(
        "speed-up: {:.1}x in process, {:.1}x as a command (kubectl time / ferroflux time, mean of {runs} runs)",
        theirs.as_secs_f64() / ours.as_secs_f64(),
        theirs.as_secs_f64() / cli.as_secs_f64()
    );
    time_largest_corpus_dirs(runs);
}

/// The shared corpus of public overlays (../shared/corpus/kustomize), when present.
fn corpus_manifest() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/kustomize/MANIFEST.tsv")
}

/// The build directories of the corpus rows kubectl builds (`expect: ok`).
fn corpus_dirs(manifest: &Path) -> Vec<(String, std::path::PathBuf)> {
    let text = std::fs::read_to_string(manifest).expect("reading MANIFEST.tsv");
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("MANIFEST.tsv has no column {name}"))
    };
    let (id, case, dir, expect) = (
        column("id"),
        column("case_path"),
        column("build_dir"),
        column("expect"),
    );
    let cases = manifest.parent().expect("corpus directory").join("cases");
    lines
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|cells| cells.get(expect) == Some(&"ok"))
        .map(|cells| {
            (
                cells[id].to_owned(),
                cases.join(cells[case]).join(cells[dir]),
            )
        })
        .collect()
}

/// Times the five corpus directories with the most objects, ours in process and
/// `kubectl kustomize`, as the issue asks: real overlays, not only the synthetic one.
fn time_largest_corpus_dirs(runs: u32) {
    let manifest = corpus_manifest();
    if !manifest.is_file() {
        println!(
            "no corpus at {}: real overlays not timed",
            manifest.display()
        );
        return;
    }
    let mut sized: Vec<(usize, String, std::path::PathBuf)> = corpus_dirs(&manifest)
        .into_iter()
        .filter_map(|(id, dir)| {
            let objects = ferroflux_kustomize::build_dir(&dir).ok()?.len();
            Some((objects, id, dir))
        })
        .collect();
    sized.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    println!("largest corpus directories (mean of {runs} runs):");
    for (objects, id, dir) in sized.into_iter().take(5) {
        let t = Instant::now();
        for _ in 0..runs {
            let built = ferroflux_kustomize::build_dir(&dir).expect("our build");
            assert!(!ferroflux_kustomize::to_yaml_stream(&built).is_empty());
        }
        let ours = t.elapsed() / runs;
        let t = Instant::now();
        for _ in 0..runs {
            let out = Command::new("kubectl")
                .arg("kustomize")
                .arg(&dir)
                .output()
                .expect("kubectl must be installed");
            assert!(out.status.success(), "kubectl kustomize {id} failed");
        }
        let theirs = t.elapsed() / runs;
        println!(
            "  {id:<40} {objects:>5} objects  ferroflux {:>7.2} ms  kubectl {:>7.1} ms  {:>6.1}x",
            ours.as_secs_f64() * 1000.0,
            theirs.as_secs_f64() * 1000.0,
            theirs.as_secs_f64() / ours.as_secs_f64()
        );
    }
}
