//! Whole charts against the Helm SDK: public charts from ../shared/corpus/charts
//! rendered by Helm 4 and by ferroflux-helm with the same values, release name and
//! namespace; every template's output must be identical.

use std::path::Path;

use ferroflux_helm::render::RenderOptions;

mod common;
use common::{corpus, first_difference, same_shape, to_value};

fn helm(chart: &Path, values: &serde_json::Value) -> serde_json::Value {
    let request =
        serde_json::json!({"chart": chart, "values": values, "name": "demo", "namespace": "apps"});
    let answer = common::sdk("chart_render.py", &request);
    serde_json::from_value(answer).expect("the SDK script's answer")
}

/// Renders `chart` both ways with `values`; the differences, one line each.
fn compare(chart: &Path, values: serde_json::Value) -> Vec<String> {
    let theirs = helm(chart, &values);
    let loaded = ferroflux_helm::chart::load_dir(chart).expect("the chart loads");
    let options = RenderOptions {
        name: "demo".to_owned(),
        namespace: "apps".to_owned(),
        ..RenderOptions::default()
    };
    let ours = ferroflux_helm::render::render(&loaded, &to_value(&values), &options);
    let mut differences = Vec::new();
    match (theirs.get("templates").and_then(|t| t.as_object()), ours) {
        (Some(expected), Ok(rendered)) => {
            println!(
                "{}: {} templates from Helm, {} from us",
                chart.display(),
                expected.len(),
                rendered.len()
            );
            for (path, text) in expected {
                match rendered.get(path) {
                    Some(ours) if same_shape(text.as_str().unwrap_or(""), ours) => {}
                    Some(ours) => differences.push(format!(
                        "{path}: first difference at line {}\n  helm: {:?}\n  ours: {:?}",
                        first_difference(text.as_str().unwrap_or(""), ours).0 + 1,
                        first_difference(text.as_str().unwrap_or(""), ours).1,
                        first_difference(text.as_str().unwrap_or(""), ours).2,
                    )),
                    None => differences.push(format!("{path}: not rendered by us")),
                }
            }
            for path in rendered.keys() {
                if !expected.contains_key(path) {
                    differences.push(format!("{path}: rendered by us only"));
                }
            }
        }
        (Some(_), Err(e)) => differences.push(format!("ours failed: {e}")),
        (None, Ok(_)) => differences.push(format!("helm failed, we did not: {}", theirs["error"])),
        (None, Err(e)) => {
            if theirs["error"].as_str() != Some(e.as_str()) {
                differences.push(format!(
                    "errors differ\n  helm: {}\n  ours: {e}",
                    theirs["error"]
                ));
            }
        }
    }
    differences
}

#[test]
fn podinfo_renders_as_helm_renders_it() {
    let Some(corpus) = corpus() else { return };
    let chart = corpus.join("podinfo");
    let mut differences = compare(&chart, serde_json::json!({}));
    let prod = ferroflux_helm::yaml::unmarshal(
        &std::fs::read_to_string(chart.join("values-prod.yaml")).expect("values-prod.yaml"),
    )
    .expect("values-prod.yaml is YAML");
    let prod_json: serde_json::Value =
        serde_json::from_str(&ferroflux_gotemplate::gojson::marshal(&prod, false).expect("JSON"))
            .expect("JSON");
    differences.extend(compare(&chart, prod_json));
    let switched_on = serde_json::json!({
        "ingress": {"enabled": true, "hosts": [{"host": "podinfo.local", "paths": [{"path": "/", "pathType": "ImplementationSpecific"}]}]},
        "hpa": {"enabled": true, "maxReplicas": 5, "cpu": 80},
        "serviceMonitor": {"enabled": true},
        "redis": {"enabled": true},
        "certificate": {"create": true, "issuerRef": {"name": "self"}},
        "podDisruptionBudget": {"maxUnavailable": 1},
        "serviceAccount": {"enabled": true}
    });
    differences.extend(compare(&chart, switched_on));
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

/// Every other chart of the corpus, with its defaults, and some with features
/// switched on.
#[test]
fn corpus_charts_render_as_helm_renders_them() {
    let Some(corpus) = corpus() else { return };
    let mut differences = Vec::new();
    for name in [
        "ingress-nginx",
        "cert-manager",
        "kube-state-metrics",
        "grafana",
        "prometheus",
        "nginx",
        "redis",
        "traefik",
    ] {
        let chart = corpus.join(name);
        differences.extend(compare(&chart, serde_json::json!({})));
    }
    let grafana_on = serde_json::json!({
        "persistence": {"enabled": true},
        "ingress": {"enabled": true, "hosts": ["grafana.local"]},
        "serviceMonitor": {"enabled": true},
        "datasources": {"datasources.yaml": {"apiVersion": 1, "datasources": [{"name": "Prometheus", "type": "prometheus", "url": "http://prometheus", "isDefault": true}]}},
        "podDisruptionBudget": {"minAvailable": 1}
    });
    differences.extend(compare(&corpus.join("grafana"), grafana_on));
    let ingress_on = serde_json::json!({
        "controller": {"kind": "DaemonSet", "metrics": {"enabled": true, "serviceMonitor": {"enabled": true}}, "autoscaling": {"enabled": true}},
        "defaultBackend": {"enabled": true},
        "tcp": {"8080": "default/svc:8080"}
    });
    differences.extend(compare(&corpus.join("ingress-nginx"), ingress_on));
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
}
