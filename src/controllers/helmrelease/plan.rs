//! The pure part of the HelmRelease controller, as helm-controller decides it: the
//! release name, the values (`valuesFrom` merged in order, `values` on top), the
//! digests that say whether anything changed, and which Helm action to run.

use std::collections::BTreeMap;

use ferroflux_gotemplate::Value as TemplateValue;
use ferroflux_helm::storage::{status, StoredRelease};
use serde_json::Value;
use sha2::Digest as _;

use crate::api::helm_v2::HelmRelease;

/// Helm's longest release name.
const MAX_RELEASE_NAME: usize = 53;

/// The Helm release name: `spec.releaseName`, else `<targetNamespace>-<name>` with a
/// target namespace, else the name; shortened as Flux does when longer than 53
/// characters (the first 40, `-`, then 12 hex digits of its SHA-256).
pub fn release_name(hr: &HelmRelease) -> String {
    let name = hr.metadata.name.clone().unwrap_or_default();
    let full = match (&hr.spec.release_name, &hr.spec.target_namespace) {
        (Some(release), _) if !release.is_empty() => release.clone(),
        (_, Some(target)) if !target.is_empty() => format!("{target}-{name}"),
        _ => name,
    };
    shorten(&full)
}

fn shorten(name: &str) -> String {
    if name.len() <= MAX_RELEASE_NAME {
        return name.to_owned();
    }
    let hash = hex(&sha2::Sha256::digest(name.as_bytes()));
    format!("{}-{}", &name[..40], &hash[..12])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `<namespace>-<name>`: the HelmChart Flux makes for a HelmRelease's `spec.chart`.
pub fn chart_name(hr: &HelmRelease) -> String {
    format!(
        "{}-{}",
        hr.metadata.namespace.as_deref().unwrap_or_default(),
        hr.metadata.name.as_deref().unwrap_or_default()
    )
}

/// One `valuesFrom` entry, read: the data under its key, or `None` when the object
/// or the key is missing.
#[derive(Debug, Clone)]
pub struct ValuesSource {
    /// `ConfigMap/ns/name` or `Secret/ns/name`, for messages.
    pub subject: String,
    pub key: String,
    pub target_path: Option<String>,
    pub optional: bool,
    pub data: Option<String>,
    /// Whether the object itself was found (a missing key reads differently).
    pub found: bool,
}

/// The user values of a release: each `valuesFrom` merged over the last (or set at
/// its `targetPath`), then `spec.values` on top. Messages are Flux's and never carry
/// a value.
pub fn compose_values(
    sources: &[ValuesSource],
    inline: Option<&Value>,
) -> Result<BTreeMap<String, TemplateValue>, String> {
    let mut values = BTreeMap::new();
    for source in sources {
        let Some(data) = &source.data else {
            if source.optional {
                continue;
            }
            return Err(if source.found {
                format!("missing key '{}' in {}", source.key, source.subject)
            } else {
                format!("could not find {}", source.subject)
            });
        };
        match &source.target_path {
            Some(path) if !path.is_empty() => {
                // A single value at a path, as `--set path=value` (commas escaped).
                let expression = format!("{path}={}", data.replace(',', "\\,"));
                ferroflux_helm::strvals::parse_set(&expression, &mut values).map_err(|e| {
                    format!(
                        "unable to merge value from key '{}' in {} into target path '{path}': {e}",
                        source.key, source.subject
                    )
                })?;
            }
            _ => {
                let parsed = ferroflux_helm::package::read_values(data).map_err(|_| {
                    format!(
                        "unable to read values from key '{}' in {}",
                        source.key, source.subject
                    )
                })?;
                values = ferroflux_helm::package::merge_maps(&values, &TemplateValue::map(parsed));
            }
        }
    }
    if let Some(inline) = inline.filter(|v| !v.is_null()) {
        let parsed = ferroflux_helm::package::read_values(&inline.to_string())
            .map_err(|e| format!("spec.values: {e}"))?;
        values = ferroflux_helm::package::merge_maps(&values, &TemplateValue::map(parsed));
    }
    Ok(values)
}

/// `sha256:<hex>` of the values as Go's encoding/json prints them (keys sorted):
/// Flux's config digest.
pub fn config_digest(values: &BTreeMap<String, TemplateValue>) -> String {
    let json = ferroflux_gotemplate::gojson::marshal(&TemplateValue::map(values.clone()), false)
        .unwrap_or_default();
    format!("sha256:{}", hex(&sha2::Sha256::digest(json.as_bytes())))
}

/// `sha256:<hex>` of any bytes.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&sha2::Sha256::digest(bytes)))
}

/// What the reconcile must do with the release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseAction {
    Install,
    Upgrade,
    /// The deployed release is what the spec asks for.
    UpToDate,
}

/// What is wanted of the release now.
#[derive(Debug, Clone)]
pub struct Desired<'a> {
    pub chart_name: &'a str,
    pub chart_version: &'a str,
    pub config_digest: &'a str,
    /// `reconcile.fluxcd.io/forceAt` was newly set: upgrade even without changes.
    pub forced: bool,
}

/// helm-controller's action planning for the latest stored release: none (or only
/// an uninstalled one) means install; a deployed one with the same chart and values
/// is up to date; anything else (a change, a failed or interrupted action) upgrades.
/// `deployed_config_digest` is the config digest of the latest release's values.
pub fn next_action(
    latest: Option<&StoredRelease>,
    deployed_config_digest: Option<&str>,
    desired: &Desired,
) -> ReleaseAction {
    let Some(latest) = latest else {
        return ReleaseAction::Install;
    };
    match latest.info.status.as_str() {
        status::UNINSTALLED => return ReleaseAction::Install,
        // An install that never completed has nothing to upgrade from.
        status::PENDING_INSTALL | status::FAILED if latest.version == 1 => {
            return ReleaseAction::Install
        }
        status::DEPLOYED => {}
        _ => return ReleaseAction::Upgrade,
    }
    let meta = |key: &str| {
        latest
            .chart
            .pointer(&format!("/metadata/{key}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let same = meta("name") == desired.chart_name
        && meta("version") == desired.chart_version
        && deployed_config_digest == Some(desired.config_digest);
    if same && !desired.forced {
        ReleaseAction::UpToDate
    } else {
        ReleaseAction::Upgrade
    }
}

/// The fields helm.toolkit.fluxcd.io/v2beta1 and v2beta2 had and v2 replaced, read
/// as their v2 equivalents, so a manifest written for an older version means the
/// same: `chart.spec.valuesFile` goes first in `valuesFiles` (v2beta1 merged it
/// before them), and a kustomize post-renderer's `patchesStrategicMerge` and
/// `patchesJson6902` become `patches`, after those it has.
pub fn read_legacy_fields(object: &mut Value) {
    if let Some(chart) = object
        .pointer_mut("/spec/chart/spec")
        .and_then(Value::as_object_mut)
    {
        if let Some(Value::String(file)) = chart.remove("valuesFile").filter(|f| f != "") {
            let mut files = vec![Value::String(file)];
            if let Some(Value::Array(rest)) = chart.get("valuesFiles") {
                files.extend(rest.iter().cloned());
            }
            chart.insert("valuesFiles".into(), Value::Array(files));
        }
    }
    let Some(renderers) = object
        .pointer_mut("/spec/postRenderers")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for kustomize in renderers
        .iter_mut()
        .filter_map(|r| r.get_mut("kustomize").and_then(Value::as_object_mut))
    {
        let mut patches = Vec::new();
        if let Some(Value::Array(strategic)) = kustomize.remove("patchesStrategicMerge") {
            for patch in strategic {
                patches.push(serde_json::json!({"patch": yaml_text(&patch)}));
            }
        }
        if let Some(Value::Array(json6902)) = kustomize.remove("patchesJson6902") {
            for entry in json6902 {
                let mut patch = serde_json::json!({"patch": yaml_text(&entry["patch"])});
                if let Some(target) = entry.get("target") {
                    patch["target"] = target.clone();
                }
                patches.push(patch);
            }
        }
        if patches.is_empty() {
            continue;
        }
        let list = kustomize
            .entry("patches")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = list {
            list.extend(patches);
        }
    }
}

fn yaml_text(value: &Value) -> String {
    serde_yaml_ng::to_string(value).unwrap_or_default()
}

/// How an install or upgrade runs, from the spec's `install` or `upgrade` block with
/// helm-controller's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionSettings {
    /// `install.timeout` / `upgrade.timeout`, else `spec.timeout`, else 5m.
    pub timeout: std::time::Duration,
    pub disable_wait: bool,
    /// Jobs are waited for until complete unless this is set (Helm's `--wait-for-jobs`,
    /// which helm-controller turns on).
    pub disable_wait_for_jobs: bool,
    pub disable_hooks: bool,
    pub disable_schema_validation: bool,
    /// `install.crds` (default Create) / `upgrade.crds` (default Skip).
    pub crds: String,
    /// `upgrade.force`: recreate what cannot be patched.
    pub force: bool,
    /// `upgrade.preserveValues`: Helm's `--reuse-values`.
    pub preserve_values: bool,
    /// `upgrade.cleanupOnFail`: delete what a failed upgrade created.
    pub cleanup_on_fail: bool,
}

/// helm-controller's default for `spec.timeout`.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

fn duration(text: Option<&str>) -> Option<std::time::Duration> {
    text.and_then(|t| crate::actors::parse_duration(t).ok())
}

/// `spec.timeout`, else helm-controller's 5 minutes.
pub fn release_timeout(hr: &HelmRelease) -> std::time::Duration {
    duration(hr.spec.timeout.as_deref()).unwrap_or(DEFAULT_TIMEOUT)
}

/// The settings of the install (`install == true`) or upgrade the spec asks for.
pub fn action_settings(hr: &HelmRelease, install: bool) -> ActionSettings {
    let flag = |value: Option<bool>| value.unwrap_or(false);
    if install {
        let i = hr.spec.install.clone().unwrap_or_default();
        ActionSettings {
            timeout: duration(i.timeout.as_deref()).unwrap_or_else(|| release_timeout(hr)),
            disable_wait: flag(i.disable_wait),
            disable_wait_for_jobs: flag(i.disable_wait_for_jobs),
            disable_hooks: flag(i.disable_hooks),
            disable_schema_validation: flag(i.disable_schema_validation),
            // The deprecated `skipCRDs` still means Skip when `crds` is not set.
            crds: i
                .crds
                .clone()
                .unwrap_or_else(|| if flag(i.skip_crds) { "Skip" } else { "Create" }.into()),
            force: false,
            preserve_values: false,
            cleanup_on_fail: false,
        }
    } else {
        let u = hr.spec.upgrade.clone().unwrap_or_default();
        ActionSettings {
            timeout: duration(u.timeout.as_deref()).unwrap_or_else(|| release_timeout(hr)),
            disable_wait: flag(u.disable_wait),
            disable_wait_for_jobs: flag(u.disable_wait_for_jobs),
            disable_hooks: flag(u.disable_hooks),
            disable_schema_validation: flag(u.disable_schema_validation),
            crds: u.crds.clone().unwrap_or_else(|| "Skip".into()),
            force: flag(u.force),
            preserve_values: flag(u.preserve_values),
            cleanup_on_fail: flag(u.cleanup_on_fail),
        }
    }
}

/// The settings of a rollback (`spec.rollback`).
pub fn rollback_settings(hr: &HelmRelease) -> ActionSettings {
    let flag = |value: Option<bool>| value.unwrap_or(false);
    let r = hr.spec.rollback.clone().unwrap_or_default();
    ActionSettings {
        timeout: duration(r.timeout.as_deref()).unwrap_or_else(|| release_timeout(hr)),
        disable_wait: flag(r.disable_wait),
        disable_wait_for_jobs: flag(r.disable_wait_for_jobs),
        disable_hooks: flag(r.disable_hooks),
        disable_schema_validation: false,
        crds: "Skip".into(),
        force: flag(r.force),
        preserve_values: false,
        cleanup_on_fail: false,
    }
}

/// The user values an upgrade records: with `preserveValues`, the latest release's
/// values with the new ones merged over them (Helm's `--reuse-values`); otherwise the
/// new ones. Computed before planning, so an unchanged spec stays up to date.
pub fn effective_values(
    preserve_values: bool,
    latest: Option<&StoredRelease>,
    values: BTreeMap<String, TemplateValue>,
) -> BTreeMap<String, TemplateValue> {
    let Some(latest) = latest.filter(|r| preserve_values && r.info.status != status::UNINSTALLED)
    else {
        return values;
    };
    let previous =
        ferroflux_helm::package::read_values(&latest.config.to_string()).unwrap_or_default();
    ferroflux_helm::package::merge_maps(&previous, &TemplateValue::map(values))
}

/// `uninstall.deletionPropagation` (background, foreground, orphan; default
/// background) as the API server's propagation policy.
pub fn deletion_propagation(hr: &HelmRelease) -> kube::api::PropagationPolicy {
    use kube::api::PropagationPolicy;
    match hr
        .spec
        .uninstall
        .as_ref()
        .and_then(|u| u.deletion_propagation.as_deref())
    {
        Some("foreground") => PropagationPolicy::Foreground,
        Some("orphan") => PropagationPolicy::Orphan,
        _ => PropagationPolicy::Background,
    }
}

/// `spec.commonMetadata`: its labels and annotations set on every object of the
/// release, over any the chart gives (helm-controller's common-metadata post-renderer).
pub fn apply_common_metadata(objects: &mut [Value], hr: &HelmRelease) {
    let Some(common) = hr.spec.common_metadata.as_ref() else {
        return;
    };
    for object in objects.iter_mut() {
        for (field, entries) in [
            ("labels", &common.labels),
            ("annotations", &common.annotations),
        ] {
            let Some(entries) = entries.as_ref().filter(|e| !e.is_empty()) else {
                continue;
            };
            let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
                continue;
            };
            let target = metadata
                .entry(field)
                .or_insert_with(|| Value::Object(Default::default()));
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            if let Some(map) = target.as_object_mut() {
                for (k, v) in entries {
                    map.insert(k.clone(), Value::String(v.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferroflux_helm::storage::Info;
    use serde_json::json;

    fn hr(spec: Value) -> HelmRelease {
        serde_json::from_value(
            json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "podinfo", "namespace": "apps"}, "spec": spec}),
        )
        .expect("helmrelease")
    }

    #[test]
    fn release_names_follow_flux() {
        assert_eq!(release_name(&hr(json!({"interval": "5m"}))), "podinfo");
        assert_eq!(
            release_name(&hr(json!({"interval": "5m", "targetNamespace": "prod"}))),
            "prod-podinfo"
        );
        assert_eq!(
            release_name(&hr(
                json!({"interval": "5m", "targetNamespace": "prod", "releaseName": "web"})
            )),
            "web"
        );
        let long = "a".repeat(60);
        let short = release_name(&hr(json!({"interval": "5m", "releaseName": long})));
        assert_eq!(short.len(), 53);
        assert!(short.starts_with(&"a".repeat(40)) && short.as_bytes()[40] == b'-');
        assert_eq!(chart_name(&hr(json!({"interval": "5m"}))), "apps-podinfo");
    }

    fn source(data: Option<&str>, target_path: Option<&str>, optional: bool) -> ValuesSource {
        ValuesSource {
            subject: "ConfigMap/apps/values".into(),
            key: "values.yaml".into(),
            target_path: target_path.map(str::to_owned),
            optional,
            data: data.map(str::to_owned),
            found: data.is_some(),
        }
    }

    fn as_json(values: &BTreeMap<String, TemplateValue>) -> Value {
        serde_json::from_str(
            &ferroflux_gotemplate::gojson::marshal(&TemplateValue::map(values.clone()), false)
                .expect("json"),
        )
        .expect("json")
    }

    #[test]
    fn values_from_merge_in_order_under_inline_values() {
        let sources = [
            source(
                Some("replicaCount: 1\nservice:\n  type: ClusterIP\n  port: 80\n"),
                None,
                false,
            ),
            source(Some("service:\n  type: NodePort\n"), None, false),
            source(Some("v2"), Some("image.tag"), false),
            source(None, None, true),
        ];
        let values = compose_values(&sources, Some(&json!({"replicaCount": 3}))).expect("values");
        assert_eq!(
            as_json(&values),
            json!({"replicaCount": 3, "service": {"type": "NodePort", "port": 80}, "image": {"tag": "v2"}})
        );
    }

    #[test]
    fn missing_values_name_the_object_not_the_data() {
        let err = compose_values(&[source(None, None, false)], None).expect_err("missing");
        assert_eq!(err, "could not find ConfigMap/apps/values");
        let mut no_key = source(None, None, false);
        no_key.found = true;
        assert_eq!(
            compose_values(&[no_key], None).expect_err("no key"),
            "missing key 'values.yaml' in ConfigMap/apps/values"
        );
        let err = compose_values(&[source(Some("password: [s3cret"), None, false)], None)
            .expect_err("bad yaml");
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn config_digests_ignore_key_order() {
        let a = compose_values(&[], Some(&json!({"a": 1, "b": {"c": true}}))).expect("a");
        let b = compose_values(&[], Some(&json!({"b": {"c": true}, "a": 1}))).expect("b");
        assert_eq!(config_digest(&a), config_digest(&b));
        let c = compose_values(&[], Some(&json!({"a": 2}))).expect("c");
        assert_ne!(config_digest(&a), config_digest(&c));
        assert!(config_digest(&a).starts_with("sha256:"));
    }

    fn stored(version: i64, state: &str, chart_version: &str) -> StoredRelease {
        StoredRelease {
            name: "podinfo".into(),
            info: Info {
                status: state.into(),
                ..Info::default()
            },
            chart: json!({"metadata": {"name": "podinfo", "version": chart_version}}),
            config: json!({}),
            manifest: String::new(),
            hooks: Vec::new(),
            version,
            namespace: "apps".into(),
            apply_method: "ssa".into(),
        }
    }

    #[test]
    fn actions_are_planned_as_helm_controller_plans_them() {
        let desired = Desired {
            chart_name: "podinfo",
            chart_version: "6.5.0",
            config_digest: "sha256:aa",
            forced: false,
        };
        assert_eq!(next_action(None, None, &desired), ReleaseAction::Install);
        let deployed = stored(2, status::DEPLOYED, "6.5.0");
        assert_eq!(
            next_action(Some(&deployed), Some("sha256:aa"), &desired),
            ReleaseAction::UpToDate
        );
        assert_eq!(
            next_action(Some(&deployed), Some("sha256:bb"), &desired),
            ReleaseAction::Upgrade,
            "values changed"
        );
        let older = stored(2, status::DEPLOYED, "6.4.0");
        assert_eq!(
            next_action(Some(&older), Some("sha256:aa"), &desired),
            ReleaseAction::Upgrade,
            "chart changed"
        );
        let forced = Desired {
            forced: true,
            ..desired.clone()
        };
        assert_eq!(
            next_action(Some(&deployed), Some("sha256:aa"), &forced),
            ReleaseAction::Upgrade
        );
        for interrupted in [status::PENDING_INSTALL, status::FAILED] {
            assert_eq!(
                next_action(Some(&stored(1, interrupted, "6.5.0")), None, &desired),
                ReleaseAction::Install,
                "{interrupted}"
            );
        }
        assert_eq!(
            next_action(
                Some(&stored(3, status::PENDING_UPGRADE, "6.5.0")),
                None,
                &desired
            ),
            ReleaseAction::Upgrade
        );
        assert_eq!(
            next_action(
                Some(&stored(3, status::UNINSTALLED, "6.5.0")),
                None,
                &desired
            ),
            ReleaseAction::Install
        );
    }

    #[test]
    fn each_action_reads_its_own_block_with_helm_controllers_defaults() {
        let release = hr(json!({"interval": "5m", "timeout": "2m",
            "install": {"timeout": "30s", "disableWaitForJobs": true, "skipCRDs": true},
            "upgrade": {"force": true, "preserveValues": true, "cleanupOnFail": true,
                "disableSchemaValidation": true},
            "rollback": {"timeout": "1m", "disableHooks": true}}));
        let install = action_settings(&release, true);
        assert_eq!(install.timeout, std::time::Duration::from_secs(30));
        assert!(install.disable_wait_for_jobs && !install.disable_schema_validation);
        assert_eq!(install.crds, "Skip", "the deprecated skipCRDs");
        assert!(!install.force && !install.preserve_values && !install.cleanup_on_fail);
        let upgrade = action_settings(&release, false);
        assert_eq!(
            upgrade.timeout,
            std::time::Duration::from_secs(120),
            "spec.timeout"
        );
        assert!(upgrade.force && upgrade.preserve_values && upgrade.cleanup_on_fail);
        assert!(upgrade.disable_schema_validation && !upgrade.disable_wait_for_jobs);
        assert_eq!(upgrade.crds, "Skip");
        let rollback = rollback_settings(&release);
        assert_eq!(rollback.timeout, std::time::Duration::from_secs(60));
        assert!(rollback.disable_hooks);

        let defaults = hr(json!({"interval": "5m"}));
        let install = action_settings(&defaults, true);
        assert_eq!(install.timeout, DEFAULT_TIMEOUT);
        assert_eq!(install.crds, "Create");
        assert!(!install.disable_wait && !install.disable_wait_for_jobs && !install.disable_hooks);
    }

    #[test]
    fn preserved_values_keep_the_previous_ones_under_the_new() {
        let mut latest = stored(2, status::DEPLOYED, "1.0.0");
        latest.config = json!({"a": 1, "nested": {"x": "old", "y": "kept"}});
        let new = ferroflux_helm::package::read_values("b: 2\nnested: {x: new}").unwrap();
        let merged = as_json(&effective_values(true, Some(&latest), new.clone()));
        assert_eq!(
            merged,
            json!({"a": 1, "b": 2, "nested": {"x": "new", "y": "kept"}})
        );
        // Merging again changes nothing: an unchanged spec stays up to date.
        let mut again = latest.clone();
        again.config = merged.clone();
        assert_eq!(
            as_json(&effective_values(true, Some(&again), new.clone())),
            merged
        );
        assert_eq!(
            as_json(&effective_values(false, Some(&latest), new.clone())),
            as_json(&new)
        );
        latest.info.status = status::UNINSTALLED.into();
        assert_eq!(
            as_json(&effective_values(true, Some(&latest), new.clone())),
            as_json(&new)
        );
        assert_eq!(
            as_json(&effective_values(true, None, new.clone())),
            as_json(&new)
        );
    }

    #[test]
    fn deletion_propagation_defaults_to_background() {
        use kube::api::PropagationPolicy;
        let with = |value: Value| {
            deletion_propagation(&hr(
                json!({"interval": "5m", "uninstall": {"deletionPropagation": value}}),
            ))
        };
        assert!(matches!(with(json!("orphan")), PropagationPolicy::Orphan));
        assert!(matches!(
            with(json!("foreground")),
            PropagationPolicy::Foreground
        ));
        assert!(matches!(
            with(json!("background")),
            PropagationPolicy::Background
        ));
        assert!(matches!(
            deletion_propagation(&hr(json!({"interval": "5m"}))),
            PropagationPolicy::Background
        ));
    }

    #[test]
    fn common_metadata_is_set_over_what_the_chart_gives() {
        let release = hr(json!({"interval": "5m", "commonMetadata": {
            "labels": {"team": "platform", "app": "override"},
            "annotations": {"owner": "ops"}}}));
        let mut objects = vec![
            json!({"kind": "ConfigMap", "metadata": {"name": "a", "labels": {"app": "chart", "tier": "web"}}}),
            json!({"kind": "Service", "metadata": {"name": "b"}}),
        ];
        apply_common_metadata(&mut objects, &release);
        assert_eq!(
            objects[0]["metadata"]["labels"],
            json!({"app": "override", "team": "platform", "tier": "web"})
        );
        assert_eq!(
            objects[1]["metadata"]["labels"],
            json!({"app": "override", "team": "platform"})
        );
        assert_eq!(
            objects[1]["metadata"]["annotations"],
            json!({"owner": "ops"})
        );
        let mut untouched = objects.clone();
        apply_common_metadata(&mut untouched, &hr(json!({"interval": "5m"})));
        assert_eq!(untouched, objects);
    }

    #[test]
    fn older_versions_fields_read_as_their_v2_equivalents() {
        let mut object = json!({"apiVersion": "helm.toolkit.fluxcd.io/v2beta1", "kind": "HelmRelease",
            "metadata": {"name": "podinfo", "namespace": "apps"},
            "spec": {"interval": "5m",
                "chart": {"spec": {"chart": "podinfo", "valuesFile": "values-prod.yaml",
                    "valuesFiles": ["values-extra.yaml"],
                    "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}},
                "postRenderers": [{"kustomize": {
                    "patchesStrategicMerge": [{"apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"name": "podinfo"}, "spec": {"replicas": 3}}],
                    "patchesJson6902": [{"target": {"version": "v1", "kind": "Service", "name": "podinfo"},
                        "patch": [{"op": "add", "path": "/metadata/labels/x", "value": "y"}]}],
                    "images": [{"name": "podinfo", "newTag": "6.5.0"}]}}]}});
        read_legacy_fields(&mut object);
        let release: HelmRelease = serde_json::from_value(object.clone()).expect("v2 shape");
        let chart = release.spec.chart.expect("chart").spec;
        assert_eq!(
            chart.values_files,
            Some(vec![
                "values-prod.yaml".to_owned(),
                "values-extra.yaml".to_owned()
            ])
        );
        let kustomize = &object["spec"]["postRenderers"][0]["kustomize"];
        assert!(kustomize.get("patchesStrategicMerge").is_none());
        let patches = kustomize["patches"].as_array().expect("patches");
        assert_eq!(patches.len(), 2);
        let strategic: Value =
            serde_yaml_ng::from_str(patches[0]["patch"].as_str().expect("text")).expect("yaml");
        assert_eq!(strategic["spec"]["replicas"], 3);
        assert_eq!(patches[1]["target"]["kind"], "Service");
        let ops: Value =
            serde_yaml_ng::from_str(patches[1]["patch"].as_str().expect("text")).expect("yaml");
        assert_eq!(ops[0]["path"], "/metadata/labels/x");
        assert_eq!(
            kustomize["images"][0]["newTag"], "6.5.0",
            "the rest is kept"
        );

        let mut current = json!({"spec": {"interval": "5m", "chart": {"spec": {"chart": "a",
            "valuesFiles": ["b.yaml"], "sourceRef": {"kind": "HelmRepository", "name": "r"}}}}});
        let before = current.clone();
        read_legacy_fields(&mut current);
        assert_eq!(current, before, "a v2 manifest is left as it is");
    }
}
