//! Per-kind preparation of objects on write: defaults, validation and the fields the
//! server owns (uid, timestamps, generation), for built-in kinds and custom resources.

use serde_json::{json, Map, Value};

use crate::listmeta::{self, MergeMeta};
use crate::resources::ResourceInfo;
use crate::schema;
use crate::status::ApiError;

/// Metadata fields only the server sets; a client's values are ignored.
const SERVER_OWNED_META: &[&str] = &[
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "resourceVersion",
    "selfLink",
];

/// The merge metadata (list keys) of a kind at a version.
pub fn merge_meta(info: &ResourceInfo, version: &str) -> Box<dyn MergeMeta> {
    match info.crd_version(version).and_then(|v| v.schema.clone()) {
        Some(schema) => Box::new(listmeta::SchemaMergeMeta { schema }),
        None if info.is_custom() => Box::new(listmeta::NoMergeMeta),
        None => Box::new(listmeta::builtin(
            static_str(&info.group),
            static_str(&info.kind),
        )),
    }
}

/// Built-in groups and kinds are a closed set; map them to the static strings the
/// merge table is keyed by.
fn static_str(s: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "",
        "apps",
        "batch",
        "policy",
        "autoscaling",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "coordination.k8s.io",
        "events.k8s.io",
        "apiextensions.k8s.io",
        "Namespace",
        "ConfigMap",
        "Secret",
        "Service",
        "ServiceAccount",
        "Pod",
        "Event",
        "PersistentVolumeClaim",
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "Job",
        "CronJob",
        "Ingress",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "Role",
        "ClusterRole",
        "RoleBinding",
        "ClusterRoleBinding",
        "Lease",
        "CustomResourceDefinition",
    ];
    KNOWN.iter().find(|k| **k == s).copied().unwrap_or("")
}

/// `Kind.group` as errors name a kind (`Deployment.apps`, `ConfigMap`).
pub fn kind_group(info: &ResourceInfo) -> String {
    if info.group.is_empty() {
        info.kind.clone()
    } else {
        format!("{}.{}", info.kind, info.group)
    }
}

fn meta_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    object["metadata"]
        .as_object_mut()
        .expect("metadata was just made an object")
}

/// Copies the server-owned metadata of `from` into `to`, dropping any the client sent.
pub fn carry_server_meta(to: &mut Value, from: Option<&Value>) {
    let meta = meta_mut(to);
    for field in SERVER_OWNED_META {
        meta.remove(*field);
    }
    if let Some(old) = from
        .and_then(|f| f.get("metadata"))
        .and_then(Value::as_object)
    {
        for field in SERVER_OWNED_META {
            if let Some(v) = old.get(*field) {
                meta.insert((*field).to_owned(), v.clone());
            }
        }
    }
}

/// Whether two objects differ outside metadata (and status, when it is a subresource):
/// what bumps `metadata.generation`.
pub fn spec_changed(old: &Value, new: &Value, ignore_status: bool) -> bool {
    let strip = |o: &Value| -> Map<String, Value> {
        let mut m = o.as_object().cloned().unwrap_or_default();
        for f in ["metadata", "apiVersion", "kind"] {
            m.remove(f);
        }
        if ignore_status {
            m.remove("status");
        }
        m
    };
    strip(old) != strip(new)
}

/// DNS-1123 subdomain: what most object names must be.
fn valid_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// DNS-1123 label: names of namespaces and services.
fn valid_label(name: &str) -> bool {
    valid_subdomain(name) && name.len() <= 63 && !name.contains('.')
}

/// Validates the parts of an object every kind shares, plus the kind's own rules and
/// its CRD schema. Errors are 422 Invalid naming the fields.
pub fn validate(info: &ResourceInfo, version: &str, object: &Value) -> Result<(), ApiError> {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut causes: Vec<(String, String, String)> = Vec::new();
    let label_names =
        matches!(info.kind.as_str(), "Namespace" | "Service") && info.group.is_empty();
    let name_ok = if label_names {
        valid_label(name)
    } else if info.group == "rbac.authorization.k8s.io" {
        // RBAC names are path segments, so only '/' and '%' are refused.
        !name.is_empty() && !name.contains('/') && !name.contains('%')
    } else {
        valid_subdomain(name)
    };
    if !name_ok {
        let rule = if label_names {
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        } else {
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        };
        causes.push((
            "FieldValueInvalid".into(),
            "metadata.name".into(),
            format!("Invalid value: \"{name}\": {rule}"),
        ));
    }
    for field in ["labels", "annotations"] {
        if let Some(map) = object.pointer(&format!("/metadata/{field}")) {
            let all_strings = map
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_string));
            if !all_strings {
                causes.push((
                    "FieldValueInvalid".into(),
                    format!("metadata.{field}"),
                    "Invalid value: must be a map of strings".into(),
                ));
            }
        }
    }
    validate_builtin(info, object, &mut causes);
    if let Some(schema) = info.crd_version(version).and_then(|v| v.schema.as_ref()) {
        for e in schema::validate(schema, object) {
            causes.push((e.reason.to_owned(), e.field, e.message));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&kind_group(info), name, causes))
    }
}

fn validate_builtin(
    info: &ResourceInfo,
    object: &Value,
    causes: &mut Vec<(String, String, String)>,
) {
    let required = |causes: &mut Vec<(String, String, String)>, field: &str| {
        causes.push((
            "FieldValueRequired".into(),
            field.to_owned(),
            "Required value".into(),
        ));
    };
    let workload_template = match (info.group.as_str(), info.kind.as_str()) {
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") | ("batch", "Job") => {
            Some("/spec/template")
        }
        ("batch", "CronJob") => Some("/spec/jobTemplate/spec/template"),
        ("", "Pod") => Some(""),
        _ => None,
    };
    if let Some(template) = workload_template {
        let containers = object
            .pointer(&format!("{template}/spec/containers"))
            .and_then(Value::as_array);
        let field = format!("{}/spec/containers", template)
            .trim_start_matches('/')
            .replace('/', ".");
        match containers {
            None => required(causes, &field),
            Some(cs) if cs.is_empty() => required(causes, &field),
            Some(cs) => {
                for (i, c) in cs.iter().enumerate() {
                    if c.get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .is_empty()
                    {
                        required(causes, &format!("{field}[{i}].name"));
                    }
                    if c.get("image")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .is_empty()
                    {
                        required(causes, &format!("{field}[{i}].image"));
                    }
                }
            }
        }
        if info.group == "apps" && object.pointer("/spec/selector").is_none() {
            required(causes, "spec.selector");
        }
        if info.group == "apps" {
            if let (Some(selector), Some(labels)) = (
                object.pointer("/spec/selector"),
                object
                    .pointer("/spec/template/metadata/labels")
                    .and_then(Value::as_object),
            ) {
                let matches = crate::selector::LabelSelector::from_object(selector)
                    .map(|s| s.matches(Some(labels)))
                    .unwrap_or(false);
                if !matches {
                    causes.push((
                        "FieldValueInvalid".into(),
                        "spec.template.metadata.labels".into(),
                        format!(
                            "Invalid value: {}: `selector` does not match template `labels`",
                            Value::Object(labels.clone())
                        ),
                    ));
                }
            }
        }
    }
    if info.group.is_empty() && info.kind == "Service" {
        for (i, p) in object
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if p.get("port").and_then(Value::as_i64).is_none() {
                required(causes, &format!("spec.ports[{i}].port"));
            }
        }
    }
    if info.group == "rbac.authorization.k8s.io" && info.kind.ends_with("Binding") {
        if object.pointer("/roleRef/name").is_none() {
            required(causes, "roleRef.name");
        }
        if object.pointer("/roleRef/kind").is_none() {
            required(causes, "roleRef.kind");
        }
    }
}

/// Fills in the defaults a real server gives built-in kinds, and the schema defaults of
/// custom resources; drops fields a structural schema does not know.
/// Returns the fields dropped as unknown (for `fieldValidation=Strict`).
pub fn default_and_prune(info: &ResourceInfo, version: &str, object: &mut Value) -> Vec<String> {
    if let Some(schema) = info.crd_version(version).and_then(|v| v.schema.as_ref()) {
        let unknown = schema::prune_unknown_fields(schema, object);
        schema::prune_non_nullable_nulls(schema, object);
        schema::apply_defaults(schema, object);
        return unknown;
    }
    match (info.group.as_str(), info.kind.as_str()) {
        ("apps", "Deployment") => {
            set_default(object, "/spec/replicas", json!(1));
            set_default(object, "/spec/revisionHistoryLimit", json!(10));
            set_default(object, "/spec/progressDeadlineSeconds", json!(600));
            set_default(object, "/spec/strategy/type", json!("RollingUpdate"));
            if object
                .pointer("/spec/strategy/type")
                .and_then(Value::as_str)
                == Some("RollingUpdate")
            {
                set_default(
                    object,
                    "/spec/strategy/rollingUpdate/maxUnavailable",
                    json!("25%"),
                );
                set_default(
                    object,
                    "/spec/strategy/rollingUpdate/maxSurge",
                    json!("25%"),
                );
            }
            default_pod_template(object, "/spec/template/spec");
        }
        ("apps", "StatefulSet") => {
            set_default(object, "/spec/replicas", json!(1));
            set_default(object, "/spec/podManagementPolicy", json!("OrderedReady"));
            set_default(object, "/spec/revisionHistoryLimit", json!(10));
            default_pod_template(object, "/spec/template/spec");
        }
        ("apps", "ReplicaSet") => {
            set_default(object, "/spec/replicas", json!(1));
            default_pod_template(object, "/spec/template/spec");
        }
        ("apps", "DaemonSet") => {
            set_default(object, "/spec/revisionHistoryLimit", json!(10));
            default_pod_template(object, "/spec/template/spec");
        }
        ("batch", "Job") => {
            set_default(object, "/spec/backoffLimit", json!(6));
            set_default(object, "/spec/completions", json!(1));
            set_default(object, "/spec/parallelism", json!(1));
            default_pod_template(object, "/spec/template/spec");
        }
        ("", "Pod") => default_pod_template(object, "/spec"),
        ("", "Service") => {
            set_default(object, "/spec/type", json!("ClusterIP"));
            set_default(object, "/spec/sessionAffinity", json!("None"));
            if let Some(ports) = object
                .pointer_mut("/spec/ports")
                .and_then(Value::as_array_mut)
            {
                for p in ports {
                    if p.get("protocol").is_none() {
                        p["protocol"] = json!("TCP");
                    }
                    if p.get("targetPort").is_none() {
                        if let Some(port) = p.get("port").cloned() {
                            p["targetPort"] = port;
                        }
                    }
                }
            }
        }
        ("", "Secret") => {
            set_default(object, "/type", json!("Opaque"));
            fold_string_data(object);
        }
        ("", "Namespace") => {
            set_default(object, "/spec/finalizers", json!(["kubernetes"]));
            set_default(object, "/status/phase", json!("Active"));
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let labels = meta_mut(object)
                .entry("labels")
                .or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert(
                    "kubernetes.io/metadata.name".to_owned(),
                    Value::String(name),
                );
            }
        }
        _ => {}
    }
    Vec::new()
}

fn default_pod_template(object: &mut Value, spec: &str) {
    if object.pointer(spec).is_none() {
        return;
    }
    set_default(object, &format!("{spec}/restartPolicy"), json!("Always"));
    set_default(object, &format!("{spec}/dnsPolicy"), json!("ClusterFirst"));
    set_default(
        object,
        &format!("{spec}/terminationGracePeriodSeconds"),
        json!(30),
    );
    set_default(
        object,
        &format!("{spec}/schedulerName"),
        json!("default-scheduler"),
    );
    set_default(object, &format!("{spec}/securityContext"), json!({}));
    if let Some(containers) = object
        .pointer_mut(&format!("{spec}/containers"))
        .and_then(Value::as_array_mut)
    {
        for c in containers {
            let image = c.get("image").and_then(Value::as_str).unwrap_or("");
            let latest = !image.contains(':') || image.ends_with(":latest");
            if c.get("imagePullPolicy").is_none() {
                c["imagePullPolicy"] = json!(if latest { "Always" } else { "IfNotPresent" });
            }
            if c.get("terminationMessagePath").is_none() {
                c["terminationMessagePath"] = json!("/dev/termination-log");
            }
            if c.get("terminationMessagePolicy").is_none() {
                c["terminationMessagePolicy"] = json!("File");
            }
            if c.get("resources").is_none() {
                c["resources"] = json!({});
            }
            if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports {
                    if p.get("protocol").is_none() {
                        p["protocol"] = json!("TCP");
                    }
                }
            }
        }
    }
}

/// `stringData` is write-only: it is folded into `data` as base64.
fn fold_string_data(object: &mut Value) {
    use base64::Engine as _;
    let Some(Value::Object(string_data)) =
        object.as_object_mut().and_then(|o| o.remove("stringData"))
    else {
        return;
    };
    if !object.get("data").is_some_and(Value::is_object) {
        object["data"] = json!({});
    }
    if let Some(data) = object["data"].as_object_mut() {
        for (k, v) in string_data {
            let text = v.as_str().unwrap_or_default();
            data.insert(
                k,
                Value::String(base64::engine::general_purpose::STANDARD.encode(text)),
            );
        }
    }
}

/// Sets the value at `pointer` when absent, creating parent objects.
pub fn set_default(object: &mut Value, pointer: &str, value: Value) {
    if object.pointer(pointer).is_some() {
        return;
    }
    let mut node = object;
    let segments: Vec<&str> = pointer.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        let Some(map) = node.as_object_mut() else {
            return;
        };
        if i == segments.len() - 1 {
            map.insert((*seg).to_owned(), value);
            return;
        }
        node = map.entry((*seg).to_owned()).or_insert_with(|| json!({}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    #[test]
    fn deployment_gets_the_defaults_kubectl_diff_expects() {
        let reg = Registry::with_builtins();
        let info = reg.lookup("apps", "v1", "deployments").expect("served");
        let mut d = json!({"spec": {"selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}}}});
        default_and_prune(&info, "v1", &mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c["ports"][0]["protocol"], "TCP");
    }

    #[test]
    fn an_empty_strategy_is_defaulted_too() {
        // kubectl create sends `strategy: {}` in protobuf.
        let reg = Registry::with_builtins();
        let info = reg.lookup("apps", "v1", "deployments").expect("served");
        let mut d = json!({"spec": {"strategy": {}}});
        default_and_prune(&info, "v1", &mut d);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        let mut r = json!({"spec": {"strategy": {"type": "Recreate"}}});
        default_and_prune(&info, "v1", &mut r);
        assert_eq!(r["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn secret_string_data_becomes_base64_data() {
        let reg = Registry::with_builtins();
        let info = reg.lookup("", "v1", "secrets").expect("served");
        let mut s = json!({"stringData": {"password": "hunter2"}});
        default_and_prune(&info, "v1", &mut s);
        assert_eq!(s["data"]["password"], "aHVudGVyMg==");
        assert!(s.get("stringData").is_none());
        assert_eq!(s["type"], "Opaque");
    }

    #[test]
    fn invalid_name_and_missing_image_are_named() {
        let reg = Registry::with_builtins();
        let info = reg.lookup("apps", "v1", "deployments").expect("served");
        let d = json!({"metadata": {"name": "Bad_Name"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c"}]}}}});
        let err = validate(&info, "v1", &d).expect_err("invalid");
        assert_eq!(err.code, 422);
        assert!(
            err.message
                .contains("metadata.name: Invalid value: \"Bad_Name\""),
            "{}",
            err.message
        );
        assert!(
            err.message
                .contains("spec.template.spec.containers[0].image: Required value"),
            "{}",
            err.message
        );
    }

    #[test]
    fn generation_ignores_metadata_and_status() {
        let a = json!({"metadata": {"labels": {"x": "1"}}, "spec": {"r": 1}, "status": {"s": 1}});
        let b = json!({"metadata": {"labels": {"x": "2"}}, "spec": {"r": 1}, "status": {"s": 2}});
        assert!(!spec_changed(&a, &b, true));
        assert!(spec_changed(&a, &b, false));
        let c = json!({"metadata": {}, "spec": {"r": 2}});
        assert!(spec_changed(&a, &c, true));
    }
}
