//! Chart repository indexes against the Helm SDK: charts packaged and indexed by Helm
//! (`helm package`, `helm repo index`), served over loopback HTTP and read by Helm's
//! `DownloadIndexFile`/`loadIndex`, then read by `ferroflux_helm::repo`; entries,
//! versions and their order, digests, URLs must agree, and so must the version Helm
//! pulls for a constraint. Then a set of hand-written indexes (flow style, anchors,
//! JSON, invalid entries, wrong types, ...) must load the same or fail with Helm's
//! message.

use std::path::Path;
use std::process::{Command, Stdio};

use ferroflux_helm::repo::{load_index, IndexFile};
use serde_json::{json, Value};

mod common;

/// The SDK side of every case, in one Python process: a loopback HTTP server on the
/// directory, then the requested calls.
const SDK_SCRIPT: &str = r#"
import functools, http.server, json, os, sys, threading
import helm_python as helm

req = json.load(sys.stdin)

class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(
    ("127.0.0.1", 0), functools.partial(Quiet, directory=req["serve"]))
threading.Thread(target=server.serve_forever, daemon=True).start()
base = "http://127.0.0.1:%d" % server.server_address[1]

def attempt(call):
    try:
        return {"ok": call()}
    except helm.HelmError as e:
        return {"err": str(e)}

out = {"base": base}
if "package" in req:
    for chart in req["package"]:
        helm.package(chart, destination=req["repo"])
    out["generated"] = helm.repo_index_generate(req["repo"], base_url=base + "/repo")
    out["downloaded"] = attempt(lambda: helm.repo_index(base + "/repo"))
    picks = []
    for i, (name, version) in enumerate(req["queries"]):
        def pick():
            dest = os.path.join(req["pulls"], str(i))
            os.makedirs(dest)
            helm.pull(name, repo_url=base + "/repo", version=version or None, destination=dest)
            (archive,) = os.listdir(dest)
            return archive[len(name) + 1:-len(".tgz")]
        picks.append(attempt(pick))
    out["picks"] = picks
if "indexes" in req:
    out["indexes"] = [attempt(lambda: helm.repo_index(base + "/" + name)) for name in req["indexes"]]
server.shutdown()
print(json.dumps(out))
"#;

fn sdk(request: &Value, home: &Path) -> Value {
    let mut child = Command::new(common::python())
        .arg("-c")
        .arg(SDK_SCRIPT)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the Helm SDK's python runs");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(request.to_string().as_bytes())
            .expect("request written");
    }
    let out = child.wait_with_output().expect("the SDK script ends");
    assert!(
        out.status.success(),
        "the SDK script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the SDK script's JSON")
}

/// Go's RFC 3339 output for the times both sides read: two-digit fields, no trailing
/// zeros in the fraction, `Z` for a zero offset. (Ours keeps the text as written.)
fn canonical_time(text: &str) -> String {
    if text.is_empty() || text == "0001-01-01T00:00:00Z" {
        return String::new();
    }
    let (date, rest) = text.split_once('T').unwrap_or((text, ""));
    let zone_at = rest.find(['Z', '+', '-']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(zone_at);
    let (hms, frac) = clock.split_once(['.', ',']).unwrap_or((clock, ""));
    let hms: Vec<String> = hms.split(':').map(|p| format!("{p:0>2}")).collect();
    let frac = frac.trim_end_matches('0');
    let zone = match zone {
        "+00:00" | "-00:00" => "Z",
        z => z,
    };
    let frac = if frac.is_empty() {
        String::new()
    } else {
        format!(".{frac}")
    };
    format!("{date}T{}{frac}{zone}", hms.join(":"))
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_owned()
}

/// The differences between Helm's index (as the SDK returns it) and ours.
fn compare(theirs: &Value, ours: &IndexFile) -> Vec<String> {
    let mut diffs = Vec::new();
    if text(theirs, "apiVersion") != ours.api_version {
        diffs.push(format!(
            "apiVersion: {:?} vs {:?}",
            theirs["apiVersion"], ours.api_version
        ));
    }
    if canonical_time(&text(theirs, "generated")) != canonical_time(&ours.generated) {
        diffs.push(format!(
            "generated: {:?} vs {:?}",
            theirs["generated"], ours.generated
        ));
    }
    let empty = serde_json::Map::new();
    let entries = theirs
        .get("entries")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let their_names: Vec<&String> = entries.keys().collect();
    let our_names: Vec<&String> = ours.entries.keys().collect();
    if their_names != our_names {
        diffs.push(format!("charts: {their_names:?} vs {our_names:?}"));
        return diffs;
    }
    for (name, versions) in entries {
        let theirs: Vec<Value> = versions.as_array().cloned().unwrap_or_default();
        let ours = &ours.entries[name];
        let their_versions: Vec<String> = theirs.iter().map(|v| text(v, "version")).collect();
        let our_versions: Vec<String> = ours.iter().map(|v| v.version.to_string()).collect();
        if their_versions != our_versions {
            diffs.push(format!(
                "{name} versions: {their_versions:?} vs {our_versions:?}"
            ));
            continue;
        }
        for (t, o) in theirs.iter().zip(ours) {
            let at = format!("{name} {}", o.version);
            let urls: Vec<String> = t
                .get("urls")
                .and_then(Value::as_array)
                .map(|u| {
                    u.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let our_urls: Vec<String> = o.urls.iter().map(|u| u.to_string()).collect();
            let pairs = [
                ("name", text(t, "name"), o.name.to_string()),
                (
                    "appVersion",
                    text(t, "appVersion"),
                    o.app_version.to_string(),
                ),
                (
                    "apiVersion",
                    text(t, "apiVersion"),
                    o.api_version.to_string(),
                ),
                ("digest", text(t, "digest"), o.digest.to_string()),
                (
                    "created",
                    canonical_time(&text(t, "created")),
                    canonical_time(&o.created),
                ),
                ("urls", format!("{urls:?}"), format!("{our_urls:?}")),
                (
                    "deprecated",
                    t.get("deprecated")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                        .to_string(),
                    o.deprecated.to_string(),
                ),
                (
                    "removed",
                    t.get("removed")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                        .to_string(),
                    o.removed.to_string(),
                ),
            ];
            for (field, a, b) in pairs {
                if a != b {
                    diffs.push(format!("{at} {field}: {a:?} vs {b:?}"));
                }
            }
        }
    }
    diffs
}

fn write_chart(root: &Path, name: &str, version: &str, extra: &str) -> String {
    let dir = root.join(format!("{name}-{version}"));
    std::fs::create_dir_all(dir.join("templates")).expect("chart dir");
    std::fs::write(
        dir.join("Chart.yaml"),
        format!(
            "apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"{version}-app\"\n\
             description: A chart called {name}, at {version}, for the index oracle, a line long \
             enough that the YAML emitter has to fold it over several lines of the index.\n\
             home: https://example.com/{name}\nicon: https://example.com/{name}.png\n\
             keywords: [index, {name}]\nsources: [https://github.com/example/{name}]\n\
             maintainers:\n- name: Someone\n  email: someone@example.com\n\
             annotations:\n  category: Testing\n  images: |\n    - name: {name}\n      image: example/{name}:{version}\n\
             {extra}"
        ),
    )
    .expect("Chart.yaml");
    std::fs::write(
        dir.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
    )
    .expect("template");
    dir.display().to_string()
}

#[test]
fn packaged_charts_indexed_and_served_by_helm() {
    let home = tempfile::tempdir().expect("tempdir");
    let charts = home.path().join("src");
    let serve = home.path().join("serve");
    let repo = serve.join("repo");
    std::fs::create_dir_all(&repo).expect("repo dir");
    let mut dirs = Vec::new();
    for version in [
        "1.0.0",
        "1.2.0",
        "1.10.0",
        "2.0.0-rc.1",
        "1.2.1+build.5",
        "v2.1",
    ] {
        dirs.push(write_chart(&charts, "alpha", version, ""));
    }
    for version in ["0.1.0", "0.2.0", "0.10.3"] {
        dirs.push(write_chart(
            &charts,
            "beta",
            version,
            "deprecated: true\nkubeVersion: \">=1.19.0-0\"\n",
        ));
    }
    // Many versions of equal precedence, to check Go's unstable sort order too.
    for build in 0..40 {
        dirs.push(write_chart(
            &charts,
            "gamma",
            &format!("3.0.0+b{build}"),
            "",
        ));
    }
    dirs.push(write_chart(&charts, "gamma", "3.1.0", ""));
    let queries = [
        ("alpha", ""),
        ("alpha", "^1.0.0"),
        ("alpha", "~1.2.0"),
        ("alpha", "1.2.0"),
        ("alpha", ">=2.0.0-0"),
        ("alpha", "v2.1"),
        ("alpha", "1.10"),
        ("alpha", "^9"),
        ("beta", "0.x"),
        ("beta", "<0.2.0"),
        ("gamma", "3.0.0"),
    ];
    let request = json!({
        "serve": serve,
        "repo": repo,
        "package": dirs,
        "queries": queries,
        "pulls": home.path().join("pulls"),
    });
    let answer = sdk(&request, home.path());
    let bytes = std::fs::read(repo.join("index.yaml")).expect("Helm wrote index.yaml");
    let ours = load_index(&bytes).expect("we read Helm's index");
    assert_eq!(ours.entries["alpha"].len(), 6);
    assert_eq!(ours.entries["gamma"].len(), 41);

    let generated = compare(&answer["generated"], &ours);
    assert!(generated.is_empty(), "against repo index: {generated:#?}");
    let downloaded = answer["downloaded"]
        .get("ok")
        .unwrap_or_else(|| panic!("Helm read its index: {}", answer["downloaded"]));
    let diffs = compare(downloaded, &ours);
    assert!(diffs.is_empty(), "against loadIndex: {diffs:#?}");
    assert!(ours.entries["beta"].iter().all(|v| v.deprecated));
    assert!(ours.entries["alpha"][0].urls[0].starts_with("http://127.0.0.1:"));

    let picks = answer["picks"].as_array().expect("picks");
    for ((name, constraint), pick) in queries.iter().zip(picks) {
        let ours = ours.get(name, constraint).map(|v| v.version.to_string());
        match (pick.get("ok").and_then(Value::as_str), &ours) {
            (Some(theirs), Ok(ours)) => {
                assert_eq!(theirs, ours, "get({name:?}, {constraint:?})")
            }
            (None, Err(_)) => {}
            _ => panic!("get({name:?}, {constraint:?}): Helm {pick}, ours {ours:?}"),
        }
    }
}

/// What a hand-written index must give.
enum Expect {
    /// Helm's result: the same entries, or the same error message.
    Same,
    /// An error whose message starts the same (go-yaml's and yaml-rust2's syntax
    /// messages differ).
    ErrorLike(&'static str),
}

const CASES: &[(&str, &str, Expect)] = &[
    (
        "helm-block",
        "apiVersion: v1\nentries:\n  nginx:\n  - apiVersion: v2\n    appVersion: 1.2.3\n    created: \"2016-10-06T16:23:20.499814565-06:00\"\n    description: string\n    digest: sha256:1234567890abcdef\n    name: nginx\n    urls:\n    - https://charts.helm.sh/stable/nginx-0.2.0.tgz\n    version: 0.2.0\n  - name: nginx\n    version: 0.10.0\n    urls: [nginx-0.10.0.tgz]\ngenerated: \"2016-10-06T16:23:20.499029981-06:00\"\n",
        Expect::Same,
    ),
    (
        "flow",
        "{apiVersion: v1, entries: {a: [{name: a, version: 1.0.0, urls: [u]}, {name: a, version: 1.1.0}]}}\n",
        Expect::Same,
    ),
    (
        "comments-and-quotes",
        "# an index\napiVersion: 'v1' # trailing\nentries:\n  # charts\n  a:\n    - name: \"a\"\n      version: '1.0.0'\n      digest: \"sha256:\\u0041\"\n      description: \"folded\n        over lines\"\n",
        Expect::Same,
    ),
    (
        "block-scalars",
        "apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    description: |\n      line one\n\n      line three\n    annotations:\n      images: |-\n        - name: a\n          image: x\n      changes: |+\n        kept\n\n    appVersion: >-\n      folded\n      text\n",
        Expect::Same,
    ),
    (
        "anchors-and-aliases",
        "apiVersion: v1\nserverInfo:\n  common: &c\n    name: a\nentries:\n  a:\n  - &x\n    name: a\n    version: 1.0.0\n    urls: &u [a.tgz]\n  - name: a\n    version: 1.1.0\n    urls: *u\n  b: [*x]\n",
        Expect::Same,
    ),
    (
        "merge-key-overlap",
        "apiVersion: v1\nentries:\n  a:\n  - &x\n    name: a\n    version: 1.0.0\n  - <<: *x\n    version: 2.0.0\n",
        Expect::Same,
    ),
    (
        "merge-key",
        "apiVersion: v1\nentries:\n  a:\n  - &x\n    name: a\n    version: 1.0.0\n  - <<: *x\n    urls: [b]\n",
        Expect::Same,
    ),
    (
        "repeated-chart",
        "apiVersion: v1\nentries:\n  nginx:\n  - name: nginx\n    version: 1.0.0\n  nginx:\n  - name: nginx\n    version: 2.0.0\n",
        Expect::Same,
    ),
    (
        "repeated-fields",
        "apiVersion: v1\nentries:\n  nginx:\n  - name: nginx\n    version: 1.0.0\n    name: x\n    annotations:\n      a: b\n      a: c\n",
        Expect::Same,
    ),
    (
        "repeated-bool-keys",
        "apiVersion: v1\nentries:\n  yes: []\n  true: []\n",
        Expect::Same,
    ),
    ("empty-document", "# nothing\n", Expect::Same),
    ("no-api-version", "entries: {}\n", Expect::Same),
    ("null-api-version", "apiVersion:\nentries:\n", Expect::Same),
    ("unknown-top-field", "apiVersion: v1\nfoo: 1\nentries: {}\n", Expect::Same),
    (
        "unknown-entry-field",
        "apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    license: MIT\n",
        Expect::Same,
    ),
    (
        "server-info-and-annotations",
        "apiVersion: v1\nserverInfo: {contextPath: /x, n: [1, {a: b}]}\nannotations: {helm.sh/test: foo bar, n: 1.50}\npublicKeys: [abc, 12]\nentries: {}\n",
        Expect::Same,
    ),
    (
        "invalid-entries-skipped",
        "apiVersion: v1\nentries:\n  nginx:\n  - name: nginx\n    version: 0.2.0\n    urls: [nginx-0.2.0.tgz]\n    deprecated: true\n    removed: on\n    maintainers: [{name: a, email: b}]\n    dependencies:\n    - {name: dep, version: 1.x, repository: 'https://x', alias: foo}\n    - {name: dep, alias: foo}\n    - {name: late, alias: 'bad alias'}\n  - name: nginx\n    version: notsemver\n  - name: nginx\n    version: v1.2\n  - name: nginx\n    version: 1.3.0-rc.1\n  - null\n  -\n  - apiVersion: v2\n    name: nginx\n  - name: nginx\n    version: 1.2.3\n    type: foo\n  - name: nginx/x\n    version: 1.2.4\n  - name: other\n    version: 1.2.5\n  - version: 1.2.6\n  - name: \" \\tnginx\\u0001\"\n    version: 1.2.7\n    appVersion: \"a\\tb\"\n  - name: nginx\n    version: 1.2.8\n    maintainers: [null]\n  - name: nginx\n    version: 1.2.9\n    dependencies: [null]\n  - name: nginx\n    version: 1.2.10\n    dependencies: [{name: x, alias: \"a.b\"}]\n  - name: ..\n    version: 1.2.11\n  - name: nginx\n    version: \"1.2.3-01\"\n  - name: nginx\n    version: \"01.2.3\"\n  foo:\n  -\n  bar: []\n  baz:\n",
        Expect::Same,
    ),
    (
        "float-version",
        "apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.10\n",
        Expect::Same,
    ),
    (
        "converted-scalars",
        "apiVersion: 1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    urls: [1.10, yes, 0x1F, 1e7, 017, ~, 3.14159265358979, 99999999999999999999]\n    digest: 08\n    checksum: 1_000\n    annotations:\n      version: 1.0\n      Name: true\n",
        Expect::Same,
    ),
    (
        "annotation-number",
        "apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    annotations:\n      foo: 1.0\n",
        Expect::Same,
    ),
    (
        "maintainer-number",
        "apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    maintainers:\n    - name: 1\n",
        Expect::Same,
    ),
    (
        "dependency-number",
        "apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    dependencies:\n    - name: x\n      version: 1.2\n      enabled: yes\n      import-values: [1, {a: b}]\n",
        Expect::Same,
    ),
    (
        "errors-in-key-order",
        "apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    zzz: 1\n    keywords: [1]\n",
        Expect::Same,
    ),
    (
        "time-error-first",
        "errs: 1\napiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    zzz: 1\n    created: bad\n    keywords: [1]\n",
        Expect::Same,
    ),
    (
        "urls-not-a-list",
        "apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    urls: x\n",
        Expect::Same,
    ),
    ("entries-a-list", "apiVersion: v1\nentries: [1]\n", Expect::Same),
    ("entry-a-number", "apiVersion: v1\nentries:\n  a: [1]\n", Expect::Same),
    ("entries-a-string", "apiVersion: v1\nentries:\n  a: x\n", Expect::Same),
    ("document-a-string", "just text\n", Expect::Same),
    (
        "case-insensitive-fields",
        "apiVersion: v1\nentries:\n  a:\n  - Name: a\n    VERSION: 1.0.0\n    version: 2.0.0\n    Urls: [x]\n  - name: a\n    appVersion: \"1\"\n    appversion: \"2\"\n    version: 1.0.0\n",
        Expect::Same,
    ),
    (
        "times",
        "apiVersion: v1\ngenerated: 2016-10-06T16:23:20.123Z\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    created: 2016-10-06T16:23:20+00:00\n  - name: a\n    version: 1.1.0\n    created: \"2016-10-06T16:23:20.500Z\"\n  - name: a\n    version: 1.2.0\n    created: null\n  - name: a\n    version: 1.3.0\n    created: 2016-10-06T6:23:20,5+05:30\n",
        Expect::Same,
    ),
    (
        "time-day",
        "apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    created: 2016-02-30T16:23:20Z\n",
        Expect::Same,
    ),
    (
        "time-date-only",
        "apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    created: 2016-10-06\n",
        Expect::Same,
    ),
    (
        "time-space",
        "apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    created: 2016-10-06 16:23:20\n",
        Expect::Same,
    ),
    (
        "time-zone",
        "apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    created: \"2016-10-06T16:23:20+0100\"\n",
        Expect::Same,
    ),
    (
        "time-zone-hour",
        "apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    created: 2016-10-06T16:23:20+25:00\n",
        Expect::Same,
    ),
    (
        "time-number",
        "apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    created: 1\n",
        Expect::Same,
    ),
    (
        "time-extra",
        "apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    created: 2016-10-06T16:23:20Zjunk\n",
        Expect::Same,
    ),
    (
        "json",
        "{\"apiVersion\": \"v1\", \"entries\": {\"a\": [{\"name\": \"a\", \"version\": \"1.0.0\", \"Version\": \"3.0.0\", \"foo\": 1, \"urls\": [\"u\\u00e9\"]}, null]}, \"generated\": \"2020-01-01T00:00:00+00:00\"}",
        Expect::Same,
    ),
    (
        "json-number",
        "{\"apiVersion\": \"v1\", \"entries\": {\"a\": [{\"name\": \"a\", \"version\": 1, \"urls\": [1]}]}}",
        Expect::Same,
    ),
    (
        "json-then-junk",
        "{\"apiVersion\": \"v1\", \"entries\": {}} trailing: x",
        Expect::ErrorLike("error converting YAML to JSON: yaml: "),
    ),
    (
        "json-is-yaml",
        "{\"apiVersion\": \"v1\", \"entries\": {\"a\": [{\"name\": \"a\", \"version\": \"1.0.0\",}]}}",
        Expect::Same,
    ),
    (
        "second-document-ignored",
        "apiVersion: v1\nentries: {}\n---\nfoo: [\n",
        Expect::Same,
    ),
    (
        "syntax-error",
        "apiVersion: v1\nentries:\n  a: [\n",
        Expect::ErrorLike("error converting YAML to JSON: yaml: "),
    ),
    (
        "tab-indentation",
        "apiVersion: v1\nentries:\n\ta: []\n",
        Expect::ErrorLike("error converting YAML to JSON: yaml: "),
    ),
    (
        "null-key",
        "apiVersion: v1\nentries:\n  ~: []\n",
        Expect::ErrorLike("error converting YAML to JSON: unsupported map key of type: %!s(<nil>), key: <nil>, value: "),
    ),
    (
        "number-keys",
        "apiVersion: v1\nentries:\n  1.50:\n  - name: a\n    version: 1.0.0\n  0x10: []\n",
        Expect::Same,
    ),
    (
        "equal-precedence-order",
        "apiVersion: v1\nentries:\n  a:\n  - {name: a, version: 1.0.0+a}\n  - {name: a, version: 2.0.0}\n  - {name: a, version: 1.0.0+b}\n  - {name: a, version: v1.0.0}\n  - {name: a, version: \"1\"}\n  - {name: a, version: \"1.0\"}\n  - {name: a, version: 1.0.0+c}\n  - {name: a, version: 0.9.0}\n  - {name: a, version: 1.0.0+d}\n  - {name: a, version: 1.0.0+e}\n  - {name: a, version: 1.0.0+f}\n  - {name: a, version: 1.0.0+g}\n  - {name: a, version: 1.0.0+h}\n  - {name: a, version: 3.0.0-rc.1}\n  - {name: a, version: 1.0.0+i}\n  - {name: a, version: 1.0.0+j}\n",
        Expect::Same,
    ),
    (
        "crlf",
        "apiVersion: v1\r\nentries:\r\n  a:\r\n  - name: a\r\n    version: 1.0.0\r\n",
        Expect::Same,
    ),
    (
        "block-sequence-indented",
        "apiVersion: v1\nentries:\n    a:\n        -   name: a\n            version: 1.0.0\n            urls:\n                - x\n                - y\n        -   name: a\n            version: 1.1.0\n",
        Expect::Same,
    ),
    (
        "quoted-keys",
        "\"apiVersion\": v1\n'entries':\n  \"a b\":\n  - 'name': a b\n    \"version\": 1.0.0\n",
        Expect::Same,
    ),
    (
        "plain-multiline",
        "apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    description: a plain scalar\n      that goes on - and on\n      [with brackets] and colons\n    home: x\n",
        Expect::Same,
    ),
];

#[test]
fn hand_written_indexes_against_helm() {
    let home = tempfile::tempdir().expect("tempdir");
    let serve = home.path().join("serve");
    for (name, text, _) in CASES {
        let dir = serve.join(name);
        std::fs::create_dir_all(&dir).expect("case dir");
        std::fs::write(dir.join("index.yaml"), text).expect("index.yaml");
    }
    let names: Vec<&str> = CASES.iter().map(|(n, _, _)| *n).collect();
    let answer = sdk(&json!({"serve": serve, "indexes": names}), home.path());
    let results = answer["indexes"].as_array().expect("results");
    let mut failures = Vec::new();
    for ((name, text, expect), theirs) in CASES.iter().zip(results) {
        let ours = load_index(text.as_bytes());
        match (
            theirs.get("ok"),
            theirs.get("err").and_then(Value::as_str),
            &ours,
        ) {
            (Some(index), _, Ok(ours)) => {
                let diffs = compare(index, ours);
                if !diffs.is_empty() {
                    failures.push(format!("{name}: {diffs:?}"));
                }
            }
            (_, Some(message), Err(error)) => {
                let ours = error.to_string();
                let same = match expect {
                    Expect::Same => ours == message,
                    Expect::ErrorLike(prefix) => {
                        ours.starts_with(prefix) && message.starts_with(prefix)
                    }
                };
                if !same {
                    failures.push(format!("{name}: Helm {message:?}\n  ours {ours:?}"));
                }
            }
            _ => failures.push(format!("{name}: Helm {theirs}\n  ours {ours:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}
