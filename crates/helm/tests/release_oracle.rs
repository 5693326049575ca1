//! Whole releases against the Helm SDK's `install --dry-run=client`: the manifest
//! (dependencies processed, values coalesced, documents sorted in install order,
//! hooks and NOTES.txt taken out) and the notes must be Helm's, and so must the
//! errors. Public charts from ../shared/corpus, with their subcharts switched on
//! and off, and a chart of our own that uses every dependency feature at once.

use std::path::Path;

use ferroflux_helm::release::{render_release, ReleaseOptions};
use ferroflux_helm::render::RenderOptions;

mod common;
use common::{corpus, first_difference, same_shape, to_value};

fn helm(chart: &Path, values: &serde_json::Value) -> serde_json::Value {
    let request =
        serde_json::json!({"chart": chart, "values": values, "name": "rel", "namespace": "ns1"});
    let answer = common::sdk("release_render.py", &request);
    serde_json::from_value(answer).expect("the SDK script's answer")
}

/// Renders the release both ways; the differences, one line each.
fn compare(chart: &Path, values: serde_json::Value) -> Vec<String> {
    let label = format!("{} with {values}", chart.display());
    let theirs = helm(chart, &values);
    let loaded = ferroflux_helm::chart::load_dir(chart).expect("the chart loads");
    let options = ReleaseOptions {
        render: RenderOptions {
            name: "rel".to_owned(),
            namespace: "ns1".to_owned(),
            ..RenderOptions::default()
        },
        ..ReleaseOptions::default()
    };
    let ours = render_release(&loaded, &to_value(&values), &options);
    let mut differences = Vec::new();
    match (theirs.get("error").and_then(|e| e.as_str()), ours) {
        (None, Ok(release)) => {
            for (what, expected, got) in [
                (
                    "manifest",
                    theirs["manifest"].as_str().unwrap_or(""),
                    release.manifest.as_str(),
                ),
                (
                    "notes",
                    theirs["notes"].as_str().unwrap_or(""),
                    release.notes.as_str(),
                ),
            ] {
                if !same_shape(expected, got) {
                    let (line, helm_line, our_line) = first_difference(expected, got);
                    differences.push(format!(
                        "{label}: {what} differs first at line {}\n  helm: {helm_line:?}\n  ours: {our_line:?}",
                        line + 1
                    ));
                }
            }
        }
        (None, Err(e)) => differences.push(format!("{label}: ours failed: {e}")),
        (Some(e), Ok(_)) => differences.push(format!("{label}: helm failed, we did not: {e}")),
        (Some(expected), Err(e)) if expected != e.to_string() => differences.push(format!(
            "{label}: errors differ\n  helm: {expected}\n  ours: {e}"
        )),
        (Some(_), Err(_)) => {}
    }
    differences
}

fn assert_none(differences: Vec<String>) {
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

#[test]
fn corpus_releases_are_helms() {
    let Some(corpus) = corpus() else { return };
    let mut differences = Vec::new();
    for name in [
        "podinfo",
        "cert-manager",
        "grafana",
        "ingress-nginx",
        "kube-state-metrics",
        "nginx",
        "prometheus",
        "redis",
        "traefik",
    ] {
        differences.extend(compare(&corpus.join(name), serde_json::json!({})));
    }
    assert_none(differences);
}

#[test]
fn prometheus_subcharts_follow_their_conditions() {
    let Some(corpus) = corpus() else { return };
    let chart = corpus.join("prometheus");
    let mut differences = Vec::new();
    for values in [
        serde_json::json!({"alertmanager": {"enabled": false}, "kube-state-metrics": {"enabled": false}}),
        serde_json::json!({"prometheus-node-exporter": {"enabled": false}, "prometheus-pushgateway": {"enabled": false}, "alertmanager": {"persistence": {"size": "5Gi"}}}),
        serde_json::json!({"alertmanager": "not a map"}),
        serde_json::json!({"server": {"replicaCount": "two"}, "alertmanager": {"replicaCount": -1}}),
        serde_json::json!({"server": {"replicaCount": 2, "global": null}, "kube-state-metrics": {"replicas": 3}}),
    ] {
        differences.extend(compare(&chart, values));
    }
    assert_none(differences);
}

/// A chart of our own with aliases, tags, conditions (the first bool wins),
/// import-values in both forms, a version that does not match, globals from
/// subcharts, hooks, tests and notes in parent and subcharts.
fn write_shop(root: &Path) {
    let write = |path: &str, text: &str| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    let dump = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-{{ .Chart.Name }}
  labels: {chart: {{ .Chart.Name | quote }}, root: {{ .Chart.IsRoot | quote }}}
data:
  values: |
{{ .Values | toYaml | indent 4 }}
  dependencies: {{ .Chart.Dependencies | toJson | quote }}
  subcharts: {{ keys .Subcharts | sortAlpha | join "," | quote }}
"#;
    write(
        "Chart.yaml",
        r#"apiVersion: v2
name: shop
version: 1.0.0
kubeVersion: ">=1.25.0-0"
dependencies:
  - name: db
    version: 1.x
    alias: primary
    condition: primary.enabled
    import-values:
      - conn
      - child: settings
        parent: dbSettings
  - name: db
    version: 1.x
    alias: replica
    condition: replica.enabled,global.replicas
    tags: [ha]
  - name: cache
    version: ">=2.0.0"
    tags: [cache, ha]
  - name: queue
    version: ^3.0.0
    condition: queue.enabled
"#,
    );
    write(
        "values.yaml",
        "primary: {enabled: true}\nreplica: {enabled: false}\ntags: {ha: true}\nglobal: {region: eu, nested: {a: 1}}\ndbSettings: {pool: 10}\nconnString: parent-wins\nqueue: {enabled: true}\n",
    );
    write("templates/configmap.yaml", dump);
    write(
        "templates/many.yaml",
        "---\nkind: Zebra\napiVersion: v1\nmetadata: {name: z}\n--- # a comment after the separator\nkind: Apple\napiVersion: v1\nmetadata: {name: a}\n---\n\n---\nkind: Namespace\napiVersion: v1\nmetadata: {name: {{ .Release.Namespace }}}\n",
    );
    write(
        "templates/_helpers.tpl",
        "{{ define \"shop.name\" }}shop{{ end }}",
    );
    write(
        "templates/NOTES.txt",
        "Installed {{ include \"shop.name\" . }} as {{ .Release.Name }} in {{ .Values.global.region }}.\n",
    );
    write(
        "charts/db/Chart.yaml",
        "apiVersion: v2\nname: db\nversion: 1.4.0\n",
    );
    write(
        "charts/db/values.yaml",
        "enabled: true\nport: 5432\nsettings: {pool: 5, timeout: null}\nexports: {conn: {connString: \"db:5432\", user: app}}\nglobal: {dbGlobal: from-db, nested: {b: 2}}\n",
    );
    write("charts/db/templates/configmap.yaml", dump);
    write("charts/db/templates/NOTES.txt", "db notes are not shown\n");
    write(
        "charts/cache/Chart.yaml",
        "apiVersion: v2\nname: cache\nversion: 2.1.0\n",
    );
    write("charts/cache/values.yaml", "size: 1\n");
    write("charts/cache/templates/configmap.yaml", dump);
    write(
        "charts/cache/templates/hooks.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: warm\n  annotations: {\"helm.sh/hook\": pre-install, \"helm.sh/hook-weight\": \"2\"}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: probe\n  annotations: {\"helm.sh/hook\": test}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: cache, annotations: {note: plain}}\n",
    );
    write(
        "charts/queue/Chart.yaml",
        "apiVersion: v2\nname: queue\nversion: 2.0.0\n",
    );
    write("charts/queue/values.yaml", "workers: 2\n");
    // .Files as a map: range over a Glob (path and bytes), its length and truth.
    write("conf/a.yaml", "a: 1\n");
    write("conf/b.yaml", "b: 2\n");
    write(
        "templates/files.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: files\ndata:\n{{- range $path, $bytes := .Files.Glob \"conf/*.yaml\" }}\n  {{ base $path }}: {{ len $bytes | quote }}\n{{- end }}\n  count: {{ len (.Files.Glob \"conf/*\") | quote }}\n  none: {{ if .Files.Glob \"nothing/*\" }}\"yes\"{{ else }}\"no\"{{ end }}\n",
    );
    write("charts/queue/templates/configmap.yaml", dump);
}

#[test]
fn dependency_features_work_as_in_helm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chart = dir.path().join("shop");
    write_shop(&chart);
    let mut differences = Vec::new();
    for values in [
        serde_json::json!({}),
        serde_json::json!({"replica": {"enabled": true}}),
        serde_json::json!({"tags": {"ha": false}}),
        serde_json::json!({"tags": {"ha": false, "cache": true}}),
        serde_json::json!({"replica": {"enabled": false}, "global": {"replicas": true}}),
        serde_json::json!({"replica": {"enabled": null}, "global": {"replicas": true}}),
        serde_json::json!({"queue": {"enabled": false}}),
        serde_json::json!({"primary": {"settings": {"pool": null}, "port": null}, "dbSettings": {"pool": null}}),
        serde_json::json!({"primary": {"enabled": false}, "replica": {"enabled": true, "global": {"x": 1}}}),
        serde_json::json!({"global": {"nested": {"c": 3}, "region": null}}),
        serde_json::json!({"primary": "oops"}),
        serde_json::json!({"replica": {"enabled": true}, "primary": {"exports": null}}),
    ] {
        differences.extend(compare(&chart, values));
    }
    assert_none(differences);
    // And the features did something: the aliases and the kept subchart render, a
    // false tag removes a subchart.
    let loaded = ferroflux_helm::chart::load_dir(&chart).expect("loads");
    let manifest = |values: serde_json::Value| {
        render_release(&loaded, &to_value(&values), &ReleaseOptions::default())
            .expect("renders")
            .manifest
    };
    let all = manifest(serde_json::json!({"replica": {"enabled": true}}));
    for source in [
        "charts/primary/",
        "charts/replica/",
        "charts/cache/",
        "charts/queue/",
    ] {
        assert!(
            all.contains(&format!("# Source: shop/{source}")),
            "{source} missing:\n{all}"
        );
    }
    assert!(!manifest(serde_json::json!({"tags": {"ha": false}})).contains("charts/cache/"));
}

#[test]
fn an_incompatible_kube_version_is_refused_as_helm_refuses_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chart = dir.path().join("shop");
    write_shop(&chart);
    let text = std::fs::read_to_string(chart.join("Chart.yaml")).expect("Chart.yaml");
    std::fs::write(
        chart.join("Chart.yaml"),
        text.replace(">=1.25.0-0", "<1.20.0"),
    )
    .expect("write");
    assert_none(compare(&chart, serde_json::json!({})));
}
