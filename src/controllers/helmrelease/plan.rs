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
}
