//! Reading a big chart repository index, ours against the Helm SDK's, in the same run:
//! `cargo bench -p ferroflux-helm --bench index`.
//!
//! A bitnami-like `index.yaml` of 500 charts x 30 versions (annotations with a literal
//! block, dependencies, maintainers, keywords, folded descriptions) is written as
//! Helm writes it; we time `load_index` + `get(name, "^3.0.0")` (median of runs) and
//! measure the peak memory in a fresh process of this bench (VmHWM from
//! /proc/self/status, reset through /proc/self/clear_refs after the file is read, minus
//! VmRSS at that point: resident memory the parse adds, the input excluded). The
//! same index read through the general YAML parser (a tag on the first line makes the
//! block scanner hand over) and as JSON shows what each path costs. The Helm SDK reads
//! the same file from a loopback HTTP server (`helm_python.repo_index`), timed inside
//! its Python process: that includes the download and handing the result to Python as
//! JSON, which is what a caller of the SDK pays. An index this big is read in two
//! halves on two threads (`read_halves` in repo.rs); the time is the wall time.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use ferroflux_helm::repo::load_index;

const CHARTS: usize = 500;
const VERSIONS: usize = 30;
const RUNS: usize = 15;

const CATEGORIES: [&str; 5] = [
    "Database",
    "Infrastructure",
    "Analytics",
    "CMS",
    "Networking",
];

/// One chart version, as (key, YAML text of the value at `indent`) in go-yaml's key
/// order; the same data feeds the JSON form.
struct Entry {
    name: String,
    version: String,
    app_version: String,
    created: String,
    description: String,
    digest: String,
    images: String,
    category: &'static str,
    keywords: Vec<String>,
    dependencies: Vec<(String, String, Option<String>)>,
}

fn entries() -> Vec<Entry> {
    let mut out = Vec::with_capacity(CHARTS * VERSIONS);
    for c in 0..CHARTS {
        let name = format!("chart-{c:03}");
        for v in 0..VERSIONS {
            let (major, minor, patch) = (1 + v / 10, (v % 10) / 3, v % 3);
            let version = format!("{major}.{minor}.{patch}");
            let app_version = format!("{}.{}.{}", 8 + major, minor * 2, patch + 1);
            let seed = (c * VERSIONS + v) as u64;
            let digest: String = (0..4)
                .map(|i| {
                    format!(
                        "{:016x}",
                        seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(i * 16)
                    )
                })
                .collect();
            let images = format!(
                "- name: {name}\n  image: docker.io/bitnami/{name}:{app_version}-debian-12-r{v}\n\
                 - name: os-shell\n  image: docker.io/bitnami/os-shell:12-debian-12-r{c}\n"
            );
            let description = format!(
                "{name} is an open source component packaged by Bitnami, version {version}. \
                 It provides a production-ready deployment with metrics, persistence and \
                 high availability options for Kubernetes clusters."
            );
            let mut dependencies = vec![("common".to_owned(), "2.x.x".to_owned(), None::<String>)];
            if c % 3 == 0 {
                dependencies.push((
                    "redis".to_owned(),
                    "19.x.x".to_owned(),
                    Some("redis.enabled".to_owned()),
                ));
            }
            out.push(Entry {
                created: format!(
                    "2024-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
                    1 + v % 12,
                    1 + c % 28,
                    v % 24,
                    c % 60,
                    (c + v) % 60,
                    seed * 7919 % 1_000_000_000
                ),
                keywords: vec![
                    name.clone(),
                    CATEGORIES[c % 5].to_lowercase(),
                    "bitnami".to_owned(),
                ],
                category: CATEGORIES[c % 5],
                name: name.clone(),
                version,
                app_version,
                description,
                digest,
                images,
                dependencies,
            });
        }
    }
    out
}

/// go-yaml's emitter folds plain scalars at spaces past column 80.
fn folded(text: &str, first_column: usize, indent: usize) -> String {
    let mut out = String::new();
    let mut column = first_column;
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            if column > 80 {
                out.push('\n');
                out.push_str(&" ".repeat(indent));
                column = indent;
            } else {
                out.push(' ');
                column += 1;
            }
        }
        out.push_str(word);
        column += word.len();
    }
    out
}

/// The index as `helm repo index` writes it (sigs.k8s.io/yaml: keys sorted, two-space
/// indentation, sequences at their key's indentation, times and digests as Helm has
/// them).
fn index_yaml(entries: &[Entry]) -> String {
    let mut y = String::from("apiVersion: v1\nentries:\n");
    for (i, e) in entries.iter().enumerate() {
        if i % VERSIONS == 0 {
            let _ = writeln!(y, "  {}:", e.name);
        }
        let _ = writeln!(
            y,
            "  - annotations:\n      category: {}\n      images: |",
            e.category
        );
        for line in e.images.lines() {
            let _ = writeln!(y, "        {line}");
        }
        let _ = writeln!(y, "      licenses: Apache-2.0");
        let _ = writeln!(y, "    apiVersion: v2\n    appVersion: {}", e.app_version);
        let _ = writeln!(y, "    created: \"{}\"\n    dependencies:", e.created);
        for (name, version, condition) in &e.dependencies {
            let mut first = true;
            let mut field = |y: &mut String, k: &str, v: &str| {
                let _ = writeln!(y, "    {} {k}: {v}", if first { "-" } else { " " });
                first = false;
            };
            if let Some(condition) = condition {
                field(&mut y, "condition", condition);
            }
            field(&mut y, "name", name);
            field(
                &mut y,
                "repository",
                "oci://registry-1.docker.io/bitnamicharts",
            );
            if name == "common" {
                let _ = writeln!(y, "      tags:\n      - bitnami-common");
            }
            let _ = writeln!(y, "      version: {version}");
        }
        let _ = writeln!(y, "    description: {}", folded(&e.description, 17, 6));
        let _ = writeln!(y, "    digest: {}\n    home: https://bitnami.com", e.digest);
        let _ = writeln!(
            y,
            "    icon: https://bitnami.com/assets/stacks/{0}/img/{0}-stack-220x234.png\n    keywords:",
            e.name
        );
        for k in &e.keywords {
            let _ = writeln!(y, "    - {k}");
        }
        let _ = writeln!(
            y,
            "    maintainers:\n    - name: Broadcom, Inc. All Rights Reserved.\n      url: https://github.com/bitnami/charts"
        );
        let _ = writeln!(
            y,
            "    name: {0}\n    sources:\n    - https://github.com/bitnami/charts/tree/main/bitnami/{0}",
            e.name
        );
        let _ = writeln!(
            y,
            "    urls:\n    - https://charts.bitnami.com/bitnami/{}-{}.tgz\n    version: {}",
            e.name, e.version, e.version
        );
    }
    y.push_str("generated: \"2024-05-02T00:00:00.123456789Z\"\n");
    y
}

fn index_json(entries: &[Entry]) -> String {
    let mut charts = serde_json::Map::new();
    for e in entries {
        let deps: Vec<serde_json::Value> = e
            .dependencies
            .iter()
            .map(|(n, v, c)| serde_json::json!({"name": n, "version": v, "condition": c, "repository": "oci://registry-1.docker.io/bitnamicharts"}))
            .collect();
        let entry = serde_json::json!({
            "annotations": {"category": e.category, "images": e.images, "licenses": "Apache-2.0"},
            "apiVersion": "v2", "appVersion": e.app_version, "created": e.created,
            "dependencies": deps, "description": e.description, "digest": e.digest,
            "home": "https://bitnami.com", "keywords": e.keywords, "name": e.name,
            "maintainers": [{"name": "Broadcom, Inc. All Rights Reserved.", "url": "https://github.com/bitnami/charts"}],
            "urls": [format!("https://charts.bitnami.com/bitnami/{}-{}.tgz", e.name, e.version)],
            "version": e.version,
        });
        charts
            .entry(e.name.clone())
            .or_insert_with(|| serde_json::Value::Array(Vec::new()))
            .as_array_mut()
            .expect("an array")
            .push(entry);
    }
    serde_json::json!({"apiVersion": "v1", "entries": charts, "generated": "2024-05-02T00:00:00Z"})
        .to_string()
}

/// Median seconds of parse + one resolution.
fn measure(bytes: &[u8]) -> f64 {
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        let index = load_index(bytes).expect("the index loads");
        let chosen = index.get("chart-250", "^3.0.0").expect("a 3.x version");
        assert_eq!(&*chosen.version, "3.3.2");
        times.push(start.elapsed().as_secs_f64());
        assert_eq!(index.entries.len(), CHARTS);
    }
    times.sort_by(f64::total_cmp);
    times[RUNS / 2]
}

fn status_kib(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("a kB figure")
}

/// In a fresh process (this bench again): the file read, the peak RSS reset, then
/// one parse + resolution; prints VmHWM minus the RSS before it, in KiB.
fn memory_child(path: &str) {
    let bytes = std::fs::read(path).expect("the index file");
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    let before = status_kib("VmRSS:");
    let index = load_index(&bytes).expect("the index loads");
    index.get("chart-250", "^3.0.0").expect("a 3.x version");
    let peak = status_kib("VmHWM:");
    println!("{}", peak.saturating_sub(before));
    drop(index);
}

/// Peak extra memory (MiB) of reading `path`, measured in a child process.
fn peak_mib(path: &Path) -> f64 {
    let out = Command::new(std::env::current_exe().expect("this bench"))
        .arg("--bench")
        .arg("--memory-child")
        .arg(path)
        .output()
        .expect("the bench runs itself");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kib: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("KiB");
    kib / 1024.0
}

fn helm_seconds(dir: &Path, runs: usize) -> f64 {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    let script = format!(
        r#"
import functools, http.server, statistics, threading, time
import helm_python
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory={dir:?}))
threading.Thread(target=server.serve_forever, daemon=True).start()
url = "http://127.0.0.1:%d" % server.server_address[1]
times = []
for _ in range({runs}):
    start = time.perf_counter()
    index = helm_python.repo_index(url)
    times.append(time.perf_counter() - start)
assert len(index["entries"]) == {CHARTS}
print(statistics.median(times))
"#,
        dir = dir.display().to_string()
    );
    let home = dir.join("helm-home");
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .expect("the Helm SDK in .venv");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("seconds")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--memory-child") {
        memory_child(&args[i + 1]);
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        println!("index benchmark: run with `cargo bench -p ferroflux-helm --bench index`");
        return;
    }
    let data = entries();
    let yaml = index_yaml(&data);
    let json = index_json(&data);
    // A tag on the first key: the block scanner hands the whole text to yaml-rust2.
    let general = yaml.replacen("apiVersion: v1", "apiVersion: !!str v1", 1);
    drop(data);
    let dir = tempfile::tempdir().expect("tempdir");
    let (yaml_path, general_path, json_path) = (
        dir.path().join("index.yaml"),
        dir.path().join("general.yaml"),
        dir.path().join("index.json"),
    );
    std::fs::write(&yaml_path, &yaml).expect("index.yaml");
    std::fs::write(&general_path, &general).expect("general.yaml");
    std::fs::write(&json_path, &json).expect("index.json");
    println!(
        "index of {} entries ({CHARTS} charts x {VERSIONS} versions), {:.1} MiB of YAML, {:.1} MiB as JSON",
        CHARTS * VERSIONS,
        yaml.len() as f64 / 1048576.0,
        json.len() as f64 / 1048576.0
    );
    println!(
        "load_index + get(\"chart-250\", \"^3.0.0\"): median of {RUNS} runs; peak extra memory \
         (VmHWM - VmRSS before the parse, fresh process, input already read):"
    );
    let ours = measure(yaml.as_bytes());
    println!(
        "  ferroflux, Helm's YAML (block scanner) {:>8.1} ms  {:>6.1} MiB",
        ours * 1000.0,
        peak_mib(&yaml_path)
    );
    let general_time = measure(general.as_bytes());
    println!(
        "  ferroflux, general YAML (yaml-rust2)   {:>8.1} ms  {:>6.1} MiB",
        general_time * 1000.0,
        peak_mib(&general_path)
    );
    let json_time = measure(json.as_bytes());
    println!(
        "  ferroflux, JSON                        {:>8.1} ms  {:>6.1} MiB",
        json_time * 1000.0,
        peak_mib(&json_path)
    );
    std::fs::remove_file(&general_path).expect("cleanup");
    std::fs::remove_file(&json_path).expect("cleanup");
    let theirs = helm_seconds(dir.path(), 5);
    println!(
        "  Helm SDK repo_index over loopback HTTP {:>8.1} ms  (median of 5)",
        theirs * 1000.0
    );
    println!(
        "ratios: Helm / ferroflux {:.0}x (block scanner), {:.1}x (yaml-rust2), {:.0}x (JSON)",
        theirs / ours,
        theirs / general_time,
        theirs / json_time
    );
}
