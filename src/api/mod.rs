//! FluxCD's API types and the CustomResourceDefinitions made from them.
//!
//! One file per group (and version): the Rust types are the current storage version
//! of each kind. Older versions that Flux still served are listed in the CRDs too, so
//! manifests written for them apply unchanged; their schemas keep unknown fields
//! (see [`legacy_version`]) because the stored object is the same, only the version
//! string differs (no conversion webhook, as in Flux).

pub mod conditions;
pub mod helm_v2;
pub mod image_v1;
pub mod kustomize_v1;
pub mod meta;
pub mod notification;
pub mod source_v1;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionVersion, CustomResourceValidation,
    JSONSchemaProps,
};
use kube::core::crd::merge_crds;
use kube::CustomResourceExt;

/// Why the CRDs could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// The derived CRD has no version.
    #[error("CRD {0} has no versions")]
    NoVersions(String),
    /// The versions of a kind could not be merged into one CRD.
    #[error("merging the versions of CRD {name}: {source}")]
    Merge {
        name: String,
        source: kube::core::crd::MergeError,
    },
    /// The schema could not be converted to or from JSON.
    #[error("CRD schema JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The YAML could not be written.
    #[error("CRD YAML: {0}")]
    Yaml(#[source] serde_yaml_ng::Error),
}

/// One kind: its CRD for the storage version and the older versions still served.
struct KindVersions {
    crd: CustomResourceDefinition,
    legacy: &'static [&'static str],
}

fn kinds() -> Vec<KindVersions> {
    fn kind(crd: CustomResourceDefinition, legacy: &'static [&'static str]) -> KindVersions {
        KindVersions { crd, legacy }
    }
    const SOURCE_LEGACY: &[&str] = &["v1beta2"];
    const IMAGE_LEGACY: &[&str] = &["v1beta1", "v1beta2"];
    const NOTIFICATION_LEGACY: &[&str] = &["v1beta1", "v1beta2"];
    vec![
        kind(source_v1::GitRepository::crd(), SOURCE_LEGACY),
        kind(source_v1::HelmRepository::crd(), SOURCE_LEGACY),
        kind(source_v1::HelmChart::crd(), SOURCE_LEGACY),
        kind(source_v1::Bucket::crd(), SOURCE_LEGACY),
        kind(source_v1::OCIRepository::crd(), SOURCE_LEGACY),
        kind(kustomize_v1::Kustomization::crd(), &[]),
        kind(helm_v2::HelmRelease::crd(), &["v2beta1", "v2beta2"]),
        kind(notification::Provider::crd(), NOTIFICATION_LEGACY),
        kind(notification::Alert::crd(), NOTIFICATION_LEGACY),
        kind(notification::Receiver::crd(), NOTIFICATION_LEGACY),
        kind(image_v1::ImageRepository::crd(), IMAGE_LEGACY),
        kind(image_v1::ImagePolicy::crd(), IMAGE_LEGACY),
        kind(image_v1::ImageUpdateAutomation::crd(), IMAGE_LEGACY),
    ]
}

/// Every FluxCD CRD, one per kind, with all served versions (sorted by name; exactly
/// one is the storage version).
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    try_all_crds().expect("the derived CRDs are well-formed")
}

fn try_all_crds() -> Result<Vec<CustomResourceDefinition>, CrdError> {
    kinds()
        .into_iter()
        .map(|KindVersions { crd, legacy }| {
            let crd = tidy(crd)?;
            let storage = crd
                .spec
                .versions
                .first()
                .map(|version| version.name.clone())
                .ok_or_else(|| {
                    CrdError::NoVersions(crd.metadata.name.clone().unwrap_or_default())
                })?;
            let mut versions = vec![crd.clone()];
            versions.extend(
                legacy
                    .iter()
                    .map(|name| legacy_version(&crd, name, &storage)),
            );
            let mut merged = merge_crds(versions, &storage).map_err(|source| CrdError::Merge {
                name: crd.metadata.name.clone().unwrap_or_default(),
                source,
            })?;
            // merge_crds appends in reverse; list versions as Flux does, sorted by name.
            merged.spec.versions.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(merged)
        })
        .collect()
}

/// A copy of `crd` for an older served version whose spec and status keep whatever
/// fields they are given: Flux served these without conversion, so the same stored
/// object is read and written under either version.
fn legacy_version(
    crd: &CustomResourceDefinition,
    name: &str,
    storage: &str,
) -> CustomResourceDefinition {
    let mut crd = crd.clone();
    let kind = crd.spec.names.kind.clone();
    let group = crd.spec.group.clone();
    for version in &mut crd.spec.versions {
        let has_status = version
            .subresources
            .as_ref()
            .is_some_and(|s| s.status.is_some());
        *version = CustomResourceDefinitionVersion {
            name: name.to_owned(),
            served: true,
            storage: false,
            deprecated: Some(true),
            deprecation_warning: Some(format!(
                "{group}/{name} {kind} is deprecated, upgrade to {storage}"
            )),
            schema: Some(CustomResourceValidation {
                open_api_v3_schema: Some(open_schema(&kind, name, has_status)),
            }),
            ..version.clone()
        };
    }
    crd
}

fn open_schema(kind: &str, version: &str, has_status: bool) -> JSONSchemaProps {
    let open = || JSONSchemaProps {
        type_: Some("object".to_owned()),
        x_kubernetes_preserve_unknown_fields: Some(true),
        ..Default::default()
    };
    let string = || JSONSchemaProps {
        type_: Some("string".to_owned()),
        ..Default::default()
    };
    let mut properties = std::collections::BTreeMap::from([
        ("apiVersion".to_owned(), string()),
        ("kind".to_owned(), string()),
        (
            "metadata".to_owned(),
            JSONSchemaProps {
                type_: Some("object".to_owned()),
                ..Default::default()
            },
        ),
        ("spec".to_owned(), open()),
    ]);
    if has_status {
        properties.insert("status".to_owned(), open());
    }
    JSONSchemaProps {
        description: Some(format!(
            "{kind} {version}: deprecated API version, schema not enforced."
        )),
        type_: Some("object".to_owned()),
        properties: Some(properties),
        ..Default::default()
    }
}

/// Makes a derived CRD look like Flux's: no `nullable` (Flux's optional fields are
/// omitted, never null, and a null there should be pruned, not kept), and the kind's
/// own description at the top instead of kube's generated one.
fn tidy(crd: CustomResourceDefinition) -> Result<CustomResourceDefinition, CrdError> {
    let kind = crd.spec.names.kind.clone();
    let mut json = serde_json::to_value(&crd).map_err(CrdError::Json)?;
    if let Some(versions) = json
        .pointer_mut("/spec/versions")
        .and_then(|v| v.as_array_mut())
    {
        for version in versions {
            if let Some(schema) = version.pointer_mut("/schema/openAPIV3Schema") {
                strip_nullable(schema);
                add_type_meta(schema);
                add_cel_rules(schema, &kind);
                let spec_description = schema.pointer("/properties/spec/description").cloned();
                if let (Some(description), Some(root)) = (spec_description, schema.as_object_mut())
                {
                    root.insert("description".to_owned(), description);
                }
            }
        }
    }
    serde_json::from_value(json).map_err(CrdError::Json)
}

/// A CEL rule (`x-kubernetes-validations`) and the message a user sees when it fails.
type CelRule = (&'static str, &'static str);

/// Cross-field rules of Flux's CRDs, by kind and the property path they sit on.
/// Real API servers enforce them; they are kept here so `ferroflux install` gives a
/// cluster the same admission behaviour as Flux's CRDs.
fn cel_rules(kind: &str) -> Vec<(&'static [&'static str], Vec<CelRule>)> {
    const KUBE_CONFIG: [CelRule; 2] = [
        (
            "has(self.configMapRef) || has(self.secretRef)",
            "exactly one of spec.kubeConfig.configMapRef or spec.kubeConfig.secretRef must be specified",
        ),
        (
            "!(has(self.configMapRef) && has(self.secretRef))",
            "exactly one of spec.kubeConfig.configMapRef or spec.kubeConfig.secretRef must be specified",
        ),
    ];
    match kind {
        "GitRepository" => vec![(&["spec"][..], vec![(
            "!has(self.serviceAccountName) || (has(self.provider) && self.provider in ['azure', 'aws'])",
            "serviceAccountName can only be set when provider is 'azure' or 'aws'",
        )])],
        "Bucket" => vec![(&["spec"][..], vec![
            ("!has(self.sts) || self.provider in ['aws', 'generic']",
             "STS configuration is only supported for the 'aws' and 'generic' Bucket providers"),
            ("self.provider != 'aws' || !has(self.sts) || self.sts.provider == 'aws'",
             "'aws' is the only supported STS provider for the 'aws' Bucket provider"),
            ("self.provider != 'generic' || !has(self.sts) || self.sts.provider == 'ldap'",
             "'ldap' is the only supported STS provider for the 'generic' Bucket provider"),
            ("!has(self.sts) || self.sts.provider != 'aws' || !has(self.sts.secretRef)",
             "spec.sts.secretRef is not required for the 'aws' STS provider"),
            ("!has(self.sts) || self.sts.provider != 'aws' || !has(self.sts.certSecretRef)",
             "spec.sts.certSecretRef is not required for the 'aws' STS provider"),
            ("self.provider != 'generic' || !has(self.serviceAccountName)",
             "ServiceAccountName is not supported for the 'generic' Bucket provider"),
            ("!(has(self.secretRef) && has(self.serviceAccountName))",
             "cannot set both .spec.secretRef and .spec.serviceAccountName"),
        ])],
        "HelmChart" => vec![(&["spec"][..], vec![(
            "!has(self.verify) || self.sourceRef.kind == 'HelmRepository'",
            "spec.verify is only supported when spec.sourceRef.kind is 'HelmRepository'",
        )])],
        "Kustomization" => vec![(&["spec", "kubeConfig"][..], KUBE_CONFIG.to_vec())],
        "HelmRelease" => vec![
            (&["spec"][..], vec![(
                "has(self.chart) != has(self.chartRef)",
                "either chart or chartRef must be set",
            )]),
            (&["spec", "kubeConfig"][..], KUBE_CONFIG.to_vec()),
            (&["spec", "install", "strategy"][..], vec![(
                "!has(self.retryInterval) || self.name != 'RemediateOnFailure'",
                ".retryInterval cannot be set when .name is 'RemediateOnFailure'",
            )]),
            (&["spec", "upgrade", "strategy"][..], vec![(
                "!has(self.retryInterval) || self.name == 'RetryOnFailure'",
                ".retryInterval can only be set when .name is 'RetryOnFailure'",
            )]),
        ],
        "Provider" => vec![(&["spec"][..], vec![(
            "!has(self.commitStatusExpr) || self.type in ['github', 'gitlab', 'gitea', 'bitbucketserver', 'bitbucket', 'azuredevops']",
            "spec.commitStatusExpr is only supported for the 'github', 'gitlab', 'gitea', 'bitbucketserver', 'bitbucket', 'azuredevops' provider types",
        )])],
        "Receiver" => vec![(&["spec"][..], vec![
            ("self.type != 'generic-oidc' || (has(self.oidcProviders) && size(self.oidcProviders) > 0)",
             "generic-oidc receivers must define at least one oidcProvider"),
            ("self.type == 'generic-oidc' || !has(self.oidcProviders) || size(self.oidcProviders) == 0",
             "oidcProviders can only be set when type is generic-oidc"),
            ("self.type != 'generic-oidc' || !has(self.secretRef)",
             "secretRef cannot be set when type is generic-oidc"),
            ("self.type == 'generic-oidc' || has(self.secretRef)",
             "secretRef is required when type is not generic-oidc"),
        ])],
        "ImagePolicy" => vec![(&["spec"][..], vec![
            ("!has(self.interval) || (has(self.digestReflectionPolicy) && self.digestReflectionPolicy == 'Always')",
             "spec.interval is only accepted when spec.digestReflectionPolicy is set to 'Always'"),
            ("has(self.interval) || !has(self.digestReflectionPolicy) || self.digestReflectionPolicy != 'Always'",
             "spec.interval must be set when spec.digestReflectionPolicy is set to 'Always'"),
        ])],
        _ => Vec::new(),
    }
}

fn add_cel_rules(root: &mut serde_json::Value, kind: &str) {
    for (path, rules) in cel_rules(kind) {
        let pointer: String = path.iter().map(|p| format!("/properties/{p}")).collect();
        if let Some(serde_json::Value::Object(node)) = root.pointer_mut(&pointer) {
            let rules: Vec<serde_json::Value> = rules
                .into_iter()
                .map(|(rule, message)| serde_json::json!({"message": message, "rule": rule}))
                .collect();
            node.insert("x-kubernetes-validations".to_owned(), rules.into());
        }
    }
}

/// Flux's root schema declares `apiVersion`, `kind` and `metadata`, and does not
/// require `spec` (kube's derive does the opposite).
fn add_type_meta(root: &mut serde_json::Value) {
    let Some(object) = root.as_object_mut() else {
        return;
    };
    object.remove("required");
    let properties = object
        .entry("properties")
        .or_insert_with(|| serde_json::json!({}));
    if let Some(properties) = properties.as_object_mut() {
        let mut ordered = serde_json::Map::new();
        ordered.insert(
            "apiVersion".to_owned(),
            serde_json::json!({"type": "string"}),
        );
        ordered.insert("kind".to_owned(), serde_json::json!({"type": "string"}));
        ordered.insert("metadata".to_owned(), serde_json::json!({"type": "object"}));
        ordered.extend(std::mem::take(properties));
        *properties = ordered;
    }
}

fn strip_nullable(schema: &mut serde_json::Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    object.remove("nullable");
    // Go's `int` fields carry no format in Flux's CRDs; ours are i32.
    if object.get("format").and_then(|f| f.as_str()) == Some("int32") {
        object.remove("format");
    }
    for key in ["properties", "patternProperties"] {
        if let Some(properties) = object.get_mut(key).and_then(|p| p.as_object_mut()) {
            properties.values_mut().for_each(strip_nullable);
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(child) = object.get_mut(key) {
            strip_nullable(child);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(children) = object.get_mut(key).and_then(|c| c.as_array_mut()) {
            children.iter_mut().for_each(strip_nullable);
        }
    }
}

/// The file name Flux uses for a CRD: `<group>_<plural>.yaml`.
pub fn crd_file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}

/// A CRD as the YAML document written to `crds/`.
pub fn crd_yaml(crd: &CustomResourceDefinition) -> Result<String, CrdError> {
    let yaml = serde_yaml_ng::to_string(crd).map_err(CrdError::Yaml)?;
    Ok(format!("---\n{yaml}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_kind(kind: &str) -> CustomResourceDefinition {
        all_crds()
            .into_iter()
            .find(|crd| crd.spec.names.kind == kind)
            .expect("kind present")
    }

    fn schema(crd: &CustomResourceDefinition, version: &str) -> serde_json::Value {
        let version = crd
            .spec
            .versions
            .iter()
            .find(|v| v.name == version)
            .expect("version served");
        serde_json::to_value(&version.schema).expect("json")["openAPIV3Schema"].clone()
    }

    /// `crds/*.yaml` are what users `kubectl apply`; they must match the Rust types.
    /// Run with FERROFLUX_UPDATE_CRDS=1 to rewrite them.
    #[test]
    fn crd_files_match_the_rust_types() {
        // crds/ for `kubectl apply`, and the same files in the Helm chart.
        for dir in ["crds", "helm/ferroflux/crds"] {
            check_crd_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir));
        }
    }

    fn check_crd_dir(dir: &std::path::Path) {
        let dir = dir.to_path_buf();
        let update = std::env::var_os("FERROFLUX_UPDATE_CRDS").is_some_and(|v| v == "1");
        let crds = all_crds();
        let mut expected_files: Vec<String> = Vec::new();
        for crd in &crds {
            let name = crd_file_name(crd);
            let yaml = crd_yaml(crd).expect("yaml");
            let path = dir.join(&name);
            if update {
                std::fs::create_dir_all(&dir).expect("create crds/");
                std::fs::write(&path, &yaml).expect("write CRD");
            } else {
                let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
                assert!(
                    on_disk == yaml,
                    "{} is out of date; run FERROFLUX_UPDATE_CRDS=1 cargo test",
                    path.display()
                );
            }
            expected_files.push(name);
        }
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("crds/ exists")
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(".yaml"))
            .collect();
        on_disk.sort();
        expected_files.sort();
        assert_eq!(
            on_disk,
            expected_files,
            "{} holds exactly one file per kind",
            dir.display()
        );
    }

    #[test]
    fn every_flux_kind_is_defined_once_with_its_served_versions() {
        let served: Vec<(String, Vec<String>)> = all_crds()
            .iter()
            .map(|crd| {
                (
                    format!("{}/{}", crd.spec.group, crd.spec.names.kind),
                    crd.spec.versions.iter().map(|v| v.name.clone()).collect(),
                )
            })
            .collect();
        let expect = |kind: &str, versions: &[&str]| {
            let found = served.iter().find(|(k, _)| k == kind).expect(kind);
            assert_eq!(found.1, versions, "{kind}");
        };
        expect("source.toolkit.fluxcd.io/GitRepository", &["v1", "v1beta2"]);
        expect("source.toolkit.fluxcd.io/OCIRepository", &["v1", "v1beta2"]);
        expect("kustomize.toolkit.fluxcd.io/Kustomization", &["v1"]);
        expect(
            "helm.toolkit.fluxcd.io/HelmRelease",
            &["v2", "v2beta1", "v2beta2"],
        );
        expect(
            "notification.toolkit.fluxcd.io/Alert",
            &["v1beta1", "v1beta2", "v1beta3"],
        );
        expect(
            "notification.toolkit.fluxcd.io/Receiver",
            &["v1", "v1beta1", "v1beta2"],
        );
        expect(
            "image.toolkit.fluxcd.io/ImagePolicy",
            &["v1", "v1beta1", "v1beta2"],
        );
        assert_eq!(served.len(), 13);
        for crd in all_crds() {
            let storage: Vec<_> = crd.spec.versions.iter().filter(|v| v.storage).collect();
            assert_eq!(
                storage.len(),
                1,
                "{} has one storage version",
                crd.spec.names.kind
            );
            assert!(storage[0].deprecated.is_none());
        }
    }

    #[test]
    fn names_match_what_flux_users_type() {
        let names = |kind: &str| {
            let crd = by_kind(kind);
            (
                crd.spec.names.short_names.unwrap_or_default(),
                crd.spec.names.categories.unwrap_or_default(),
            )
        };
        assert_eq!(names("GitRepository").0, ["gitrepo"]);
        assert_eq!(names("Kustomization").0, ["ks"]);
        assert_eq!(names("HelmRelease").0, ["hr"]);
        assert_eq!(names("HelmChart").0, ["hc"]);
        assert_eq!(
            names("ImageUpdateAutomation").0,
            ["iua", "imgupd", "imgauto"]
        );
        // `kubectl get fluxcd` lists every Flux object.
        for crd in all_crds() {
            let categories = crd.spec.names.categories.unwrap_or_default();
            assert!(
                categories.contains(&"fluxcd".to_owned()),
                "{}",
                crd.spec.names.kind
            );
        }
        assert_eq!(
            by_kind("OCIRepository").spec.names.plural,
            "ocirepositories"
        );
    }

    #[test]
    fn schemas_carry_flux_defaults_and_validation() {
        let git = schema(&by_kind("GitRepository"), "v1");
        let spec = &git["properties"]["spec"];
        assert_eq!(spec["required"], serde_json::json!(["interval", "url"]));
        assert_eq!(
            spec["properties"]["interval"]["pattern"],
            meta::INTERVAL_PATTERN
        );
        assert_eq!(spec["properties"]["timeout"]["default"], "60s");
        // Flux's pattern plus git:// and file://, which ferroflux also fetches.
        assert_eq!(
            spec["properties"]["url"]["pattern"],
            "^(http|https|ssh|git|file)://.*$"
        );
        assert_eq!(
            spec["properties"]["ref"]["properties"]["branch"]["type"],
            "string"
        );
        assert_eq!(
            git["properties"]["status"]["default"]["observedGeneration"],
            -1
        );
        assert!(!serde_json::to_string(&git)
            .expect("json")
            .contains("nullable"));

        let hr = schema(&by_kind("HelmRelease"), "v2");
        let values = &hr["properties"]["spec"]["properties"]["values"];
        assert_eq!(values["x-kubernetes-preserve-unknown-fields"], true);
        let uninstall = &hr["properties"]["spec"]["properties"]["uninstall"]["properties"];
        assert_eq!(uninstall["deletionPropagation"]["default"], "background");

        let ks = schema(&by_kind("Kustomization"), "v1");
        let kind = &ks["properties"]["spec"]["properties"]["sourceRef"]["properties"]["kind"];
        assert_eq!(
            kind["enum"],
            serde_json::json!([
                "OCIRepository",
                "GitRepository",
                "Bucket",
                "ExternalArtifact"
            ])
        );
    }

    #[test]
    fn ready_columns_and_status_subresource_are_there_for_kstatus_kinds() {
        for crd in all_crds() {
            let v = crd
                .spec
                .versions
                .iter()
                .find(|v| v.storage)
                .expect("storage");
            let columns: Vec<_> = v
                .additional_printer_columns
                .iter()
                .flatten()
                .map(|c| c.name.as_str())
                .collect();
            assert!(columns.contains(&"Age"), "{}", crd.spec.names.kind);
            let static_kind = matches!(crd.spec.names.kind.as_str(), "Alert" | "Provider");
            assert_eq!(
                columns.contains(&"Ready"),
                !static_kind,
                "{}",
                crd.spec.names.kind
            );
            let has_status = v.subresources.as_ref().is_some_and(|s| s.status.is_some());
            assert_eq!(has_status, !static_kind, "{}", crd.spec.names.kind);
        }
    }

    /// Flux's cross-field rules must land on the node they are written for; a typo in
    /// a path would silently drop the rule.
    #[test]
    fn every_cel_rule_is_attached_to_its_schema_node() {
        for crd in all_crds() {
            let kind = crd.spec.names.kind.clone();
            let root = schema(
                &crd,
                &crd.spec
                    .versions
                    .iter()
                    .find(|v| v.storage)
                    .expect("storage")
                    .name,
            );
            for (path, rules) in cel_rules(&kind) {
                let pointer: String = path.iter().map(|p| format!("/properties/{p}")).collect();
                let attached = root
                    .pointer(&format!("{pointer}/x-kubernetes-validations"))
                    .and_then(|v| v.as_array())
                    .map_or(0, Vec::len);
                assert_eq!(attached, rules.len(), "{kind} {path:?}");
            }
        }
        let hr = schema(&by_kind("HelmRelease"), "v2");
        let rules = &hr["properties"]["spec"]["x-kubernetes-validations"];
        assert_eq!(rules[0]["message"], "either chart or chartRef must be set");
    }

    #[test]
    fn typed_objects_round_trip_through_json() {
        let manifest = serde_json::json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "podinfo", "namespace": "default"},
            "spec": {"interval": "5m", "url": "https://github.com/stefanprodan/podinfo",
                     "ref": {"branch": "master"}}
        });
        let repo: source_v1::GitRepository =
            serde_json::from_value(manifest.clone()).expect("parse");
        let reference = repo.spec.reference.as_ref().expect("ref");
        assert_eq!(reference.branch.as_deref(), Some("master"));
        assert_eq!(serde_json::to_value(&repo).expect("json"), manifest);
    }
}
