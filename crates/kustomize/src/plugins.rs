//! Builtin plugin configurations listed under `transformers:`, `generators:` and
//! `validators:`: objects with `apiVersion: builtin` and a builtin's kind (a
//! LabelTransformer with field specs of its own, a PatchTransformer, a
//! ConfigMapGenerator, ...). kustomize runs its builtins from such configs as it runs
//! them from kustomization fields, so do we, with the same modules. Any other plugin
//! (exec, Go, KRM-function containers) runs code from outside the build and is
//! refused, as `kubectl kustomize` refuses it without `--enable-alpha-plugins`.
//!
//! A config is read as kustomize reads it: leniently (unknown fields are ignored),
//! with Go's zero values for what is absent. The field specs of a config are the only
//! ones it uses: a LabelTransformer without `fieldSpecs` sets nothing.

use serde::Deserialize;
use serde_json::Value;

use crate::error::{KustomizeError, Result};
use crate::fieldspec::FieldSpec;
use crate::kustomization::{GeneratorArgs, Image, Patch, Replica, StringMap};
use crate::loader::{KustDir, Loader};
use crate::namespace::{NamespaceOptions, SubjectMode};
use crate::resource::{ResMap, Resource, Selector};
use crate::{
    generators, images, labels, namespace, patches, prefix_suffix, replacements, replicas,
};

/// The apiVersion that marks a builtin plugin's config (group empty, version `builtin`).
const BUILTIN_API_VERSION: &str = "builtin";

/// A builtin transformer, configured.
#[derive(Debug, Clone)]
pub enum Transformer {
    Labels {
        labels: StringMap,
        specs: Vec<FieldSpec>,
    },
    Annotations {
        annotations: StringMap,
        specs: Vec<FieldSpec>,
    },
    Namespace {
        namespace: String,
        specs: Vec<FieldSpec>,
        options: NamespaceOptions,
    },
    /// PrefixTransformer, SuffixTransformer, and PrefixSuffixTransformer (both, prefix
    /// first).
    Affixes {
        prefix: Option<String>,
        suffix: Option<String>,
        specs: Vec<FieldSpec>,
    },
    ImageTag {
        image: Image,
        specs: Vec<FieldSpec>,
    },
    ReplicaCount {
        replica: Replica,
        specs: Vec<FieldSpec>,
    },
    Patch(Patch),
    /// PatchStrategicMergeTransformer: file paths, then the inline `patches` text.
    PatchStrategicMerge(Vec<String>),
    PatchJson6902(Patch),
    Replacement(Vec<Value>),
    /// HashTransformer: generated objects get their content hash now.
    Hash,
    ValueAdd {
        value: String,
        targets: Vec<ValueAddTarget>,
    },
}

/// A builtin generator, configured.
#[derive(Debug, Clone)]
pub enum Generator {
    ConfigMap(GeneratorArgs),
    Secret(GeneratorArgs),
    /// IAMPolicyGenerator (GKE): a ServiceAccount bound to a cloud service account.
    IamPolicy(IamPolicyArgs),
}

/// What a plugin config is, once its apiVersion and kind are read.
#[derive(Debug, Clone)]
pub enum Plugin {
    Transformer(Transformer),
    Generator(Generator),
}

/// Where the config came from, for errors: the kustomization file and a description
/// such as `transformers: LabelTransformer 'labels'`.
pub struct Origin<'a> {
    pub file: &'a str,
    pub field: &'a str,
}

impl Origin<'_> {
    fn error(&self, config: &Value, message: impl std::fmt::Display) -> KustomizeError {
        let kind = config.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = config
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("");
        KustomizeError::field(self.file, self.field, format!("{kind} '{name}': {message}"))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Metadata {
    name: String,
    namespace: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct MapConfig {
    labels: StringMap,
    annotations: StringMap,
    field_specs: Option<Vec<FieldSpec>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct NamespaceConfig {
    metadata: Metadata,
    field_specs: Vec<FieldSpec>,
    unset_only: bool,
    set_role_binding_subjects: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct AffixConfig {
    prefix: String,
    suffix: String,
    field_specs: Option<Vec<FieldSpec>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ImageTagConfig {
    image_tag: Image,
    field_specs: Vec<FieldSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ReplicaCountConfig {
    replica: Option<Replica>,
    field_specs: Vec<FieldSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct PatchConfig {
    path: String,
    patch: String,
    target: Option<Selector>,
    options: std::collections::BTreeMap<String, bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct StrategicMergeConfig {
    paths: Vec<String>,
    patches: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Json6902Config {
    target: Option<Selector>,
    path: String,
    json_op: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ReplacementConfig {
    replacements: Vec<Value>,
}

/// One target of a ValueAddTransformer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ValueAddTarget {
    selector: Option<Selector>,
    field_path: String,
    file_path_position: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ValueAddConfig {
    value: String,
    targets: Vec<ValueAddTarget>,
    target_file_path: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct GeneratorConfig {
    metadata: Metadata,
    #[serde(flatten)]
    args: LenientGeneratorArgs,
}

/// A generator entry read leniently (GeneratorArgs itself refuses unknown fields, as
/// a kustomization's entries must).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct LenientGeneratorArgs {
    name: String,
    namespace: String,
    behavior: String,
    literals: Vec<String>,
    files: Vec<String>,
    envs: Vec<String>,
    env: String,
    options: Option<crate::kustomization::GeneratorOptions>,
    #[serde(rename = "type")]
    secret_type: String,
}

/// IAMPolicyGenerator's arguments.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IamPolicyArgs {
    cloud: String,
    kubernetes_service: Metadata,
    service_account: IamServiceAccount,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct IamServiceAccount {
    name: String,
    project_id: String,
}

/// Reads one plugin config. `loader` and `dir` resolve the files a config names
/// (`targetFilePath`).
pub fn parse(
    config: &Value,
    origin: &Origin<'_>,
    loader: &Loader,
    dir: &KustDir,
) -> Result<Plugin> {
    let text = |key: &str| config.get(key).and_then(Value::as_str).unwrap_or("");
    let kind = text("kind");
    if text("apiVersion") != BUILTIN_API_VERSION {
        return Err(origin.error(
            config,
            format!(
                "external plugins are not supported: unable to load external plugin '{kind}' \
                 (only builtin plugins, apiVersion: builtin, run in a build)"
            ),
        ));
    }
    macro_rules! config_as {
        ($ty:ty) => {
            serde_json::from_value::<$ty>(config.clone())
                .map_err(|e| origin.error(config, format!("invalid config: {e}")))?
        };
    }
    let transformer = match kind {
        "LabelTransformer" => {
            let c = config_as!(MapConfig);
            Transformer::Labels {
                labels: c.labels,
                specs: c.field_specs.unwrap_or_default(),
            }
        }
        "AnnotationsTransformer" => {
            let c = config_as!(MapConfig);
            Transformer::Annotations {
                annotations: c.annotations,
                specs: c.field_specs.unwrap_or_default(),
            }
        }
        "NamespaceTransformer" => {
            let c = config_as!(NamespaceConfig);
            let Some(subjects) = SubjectMode::parse(&c.set_role_binding_subjects) else {
                return Err(origin.error(
                    config,
                    format!(
                        "invalid value \"{}\" for setRoleBindingSubjects: must be one of \
                         \"defaultOnly\", \"none\" or \"allServiceAccounts\"",
                        c.set_role_binding_subjects
                    ),
                ));
            };
            Transformer::Namespace {
                namespace: c.metadata.namespace,
                specs: c.field_specs,
                options: NamespaceOptions {
                    unset_only: c.unset_only,
                    subjects,
                },
            }
        }
        "PrefixTransformer" | "SuffixTransformer" | "PrefixSuffixTransformer" => {
            let c = config_as!(AffixConfig);
            let Some(specs) = c.field_specs else {
                return Err(origin.error(config, "fieldSpecs is not expected to be nil"));
            };
            Transformer::Affixes {
                prefix: (kind != "SuffixTransformer").then_some(c.prefix),
                suffix: (kind != "PrefixTransformer").then_some(c.suffix),
                specs,
            }
        }
        "ImageTagTransformer" => {
            let c = config_as!(ImageTagConfig);
            Transformer::ImageTag {
                image: c.image_tag,
                specs: c.field_specs,
            }
        }
        "ReplicaCountTransformer" => {
            let c = config_as!(ReplicaCountConfig);
            Transformer::ReplicaCount {
                replica: c.replica.unwrap_or_default(),
                specs: c.field_specs,
            }
        }
        "PatchTransformer" => {
            let c = config_as!(PatchConfig);
            Transformer::Patch(Patch {
                path: c.path,
                patch: c.patch,
                target: c.target,
                options: c.options,
            })
        }
        "PatchStrategicMergeTransformer" => {
            let c = config_as!(StrategicMergeConfig);
            if c.paths.is_empty() && c.patches.is_empty() {
                return Err(origin.error(config, "empty file path and empty patch content"));
            }
            let mut entries = c.paths;
            if !c.patches.is_empty() {
                entries.push(c.patches);
            }
            Transformer::PatchStrategicMerge(entries)
        }
        "PatchJson6902Transformer" => {
            let c = config_as!(Json6902Config);
            if c.target.as_ref().is_none_or(|t| t.name.is_empty()) {
                return Err(origin.error(config, "must specify the target name"));
            }
            match (c.path.is_empty(), c.json_op.is_empty()) {
                (true, true) => {
                    return Err(origin.error(config, "empty file path and empty jsonOp"))
                }
                (false, false) => {
                    return Err(origin.error(config, "must specify a file path or jsonOp, not both"))
                }
                _ => {}
            }
            Transformer::PatchJson6902(Patch {
                path: c.path,
                patch: c.json_op,
                target: c.target,
                options: Default::default(),
            })
        }
        "ReplacementTransformer" => {
            let c = config_as!(ReplacementConfig);
            Transformer::Replacement(c.replacements)
        }
        "HashTransformer" => Transformer::Hash,
        "ValueAddTransformer" => {
            let mut c = config_as!(ValueAddConfig);
            c.value = c.value.trim().to_owned();
            if c.value.is_empty() {
                // kustomize's default: the name of the kustomization's directory.
                c.value = dir
                    .path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_owned();
            }
            if !c.target_file_path.is_empty() {
                #[derive(Deserialize)]
                struct Targets {
                    #[serde(default)]
                    targets: Vec<ValueAddTarget>,
                }
                let content = loader.read_file(dir, &c.target_file_path, origin.field)?;
                let document = crate::yaml::parse_documents(&content, &c.target_file_path)?
                    .into_iter()
                    .next()
                    .unwrap_or(Value::Null);
                let more: Targets = serde_json::from_value(document)
                    .map_err(|e| origin.error(config, format!("targetFilePath: {e}")))?;
                c.targets.extend(more.targets);
            }
            if c.targets.is_empty() {
                return Err(origin.error(config, "must specify at least one target"));
            }
            for target in &c.targets {
                if target.field_path.is_empty() {
                    return Err(origin.error(config, "fieldPath cannot be empty"));
                }
                if target.file_path_position < 0 {
                    return Err(origin.error(
                        config,
                        format!(
                            "value of FilePathPosition ({}) cannot be negative",
                            target.file_path_position
                        ),
                    ));
                }
            }
            Transformer::ValueAdd {
                value: c.value,
                targets: c.targets,
            }
        }
        "ConfigMapGenerator" | "SecretGenerator" => {
            let c = config_as!(GeneratorConfig);
            let a = c.args;
            let mut envs = a.envs;
            if !a.env.is_empty() {
                envs.push(a.env);
            }
            let args = GeneratorArgs {
                name: if a.name.is_empty() {
                    c.metadata.name
                } else {
                    a.name
                },
                namespace: if a.namespace.is_empty() {
                    c.metadata.namespace
                } else {
                    a.namespace
                },
                behavior: a.behavior,
                literals: a.literals,
                files: a.files,
                envs,
                env: String::new(),
                options: a.options,
                secret_type: if kind == "SecretGenerator" {
                    a.secret_type
                } else {
                    String::new()
                },
            };
            return Ok(Plugin::Generator(if kind == "SecretGenerator" {
                Generator::Secret(args)
            } else {
                Generator::ConfigMap(args)
            }));
        }
        "IAMPolicyGenerator" => {
            return Ok(Plugin::Generator(Generator::IamPolicy(config_as!(
                IamPolicyArgs
            ))))
        }
        "HelmChartInflationGenerator" => {
            return Err(origin.error(
                config,
                "inflating Helm charts is not supported: use a HelmRelease",
            ))
        }
        other => return Err(origin.error(config, format!("unable to load builtin {other}"))),
    };
    Ok(Plugin::Transformer(transformer))
}

/// What a transformer needs besides the resources.
pub struct Context<'a> {
    pub loader: &'a Loader,
    pub dir: &'a KustDir,
    pub openapi: Option<&'a Value>,
    /// How errors name the config (`transformers[0]`).
    pub field: &'a str,
}

impl Transformer {
    /// Runs the transformer over `resources`, as kustomize's builtin of that kind does.
    pub fn run(&self, resources: &mut ResMap, cx: &Context<'_>) -> Result<()> {
        let (loader, dir, field) = (cx.loader, cx.dir, cx.field);
        match self {
            Self::Labels { labels, specs } => labels::set_entries(resources, labels, specs),
            Self::Annotations { annotations, specs } => {
                labels::set_entries(resources, annotations, specs)
            }
            Self::Namespace {
                namespace,
                specs,
                options,
            } => namespace::transform_with(resources, namespace, specs, *options),
            Self::Affixes {
                prefix,
                suffix,
                specs,
            } => {
                if let Some(prefix) = prefix {
                    prefix_suffix::add_prefix(resources, prefix, specs)?;
                }
                match suffix {
                    Some(suffix) => prefix_suffix::add_suffix(resources, suffix, specs),
                    None => Ok(()),
                }
            }
            Self::ImageTag { image, specs } => {
                images::transform(resources, std::slice::from_ref(image), specs)
            }
            Self::ReplicaCount { replica, specs } => {
                replicas::transform(resources, std::slice::from_ref(replica), specs, &dir.file)
            }
            Self::Patch(entry) => patches::patch(resources, loader, dir, entry, field, cx.openapi),
            Self::PatchStrategicMerge(entries) => entries.iter().try_for_each(|entry| {
                patches::strategic_merge_entry(resources, loader, dir, entry, field, cx.openapi)
            }),
            Self::PatchJson6902(entry) => {
                patches::json6902_entry(resources, loader, dir, entry, field)
            }
            Self::Replacement(entries) => replacements::transform(resources, loader, dir, entries),
            Self::Hash => generators::add_hashes(resources),
            Self::ValueAdd { value, targets } => value_add(resources, value, targets),
        }
    }
}

impl Generator {
    /// The objects the generator makes, marked as generated (behavior, hash suffix).
    pub fn generate(&self, loader: &Loader, dir: &KustDir, field: &str) -> Result<ResMap> {
        let mut generated = ResMap::new();
        match self {
            Self::ConfigMap(args) => generated
                .resources
                .push(generators::generate_one(loader, dir, args, false, field)?),
            Self::Secret(args) => generated
                .resources
                .push(generators::generate_one(loader, dir, args, true, field)?),
            Self::IamPolicy(args) => generated
                .resources
                .push(iam_service_account(args, dir, field)?),
        }
        Ok(generated)
    }
}

/// The GKE workload-identity ServiceAccount an IAMPolicyGenerator makes.
fn iam_service_account(args: &IamPolicyArgs, dir: &KustDir, field: &str) -> Result<Resource> {
    if args.cloud != "gke" {
        return Err(KustomizeError::field(
            dir.file.clone(),
            field,
            format!(
                "IAMPolicyGenerator: cloud provider {} not supported yet",
                args.cloud
            ),
        ));
    }
    let mut metadata = serde_json::Map::new();
    metadata.insert(
        "annotations".into(),
        serde_json::json!({
            "iam.gke.io/gcp-service-account": format!(
                "{}@{}.iam.gserviceaccount.com",
                args.service_account.name, args.service_account.project_id
            )
        }),
    );
    metadata.insert(
        "name".into(),
        Value::String(args.kubernetes_service.name.clone()),
    );
    if !args.kubernetes_service.namespace.is_empty() {
        metadata.insert(
            "namespace".into(),
            Value::String(args.kubernetes_service.namespace.clone()),
        );
    }
    let mut object = serde_json::Map::new();
    object.insert("apiVersion".into(), Value::String("v1".into()));
    object.insert("kind".into(), Value::String("ServiceAccount".into()));
    object.insert("metadata".into(), Value::Object(metadata));
    Ok(Resource::new(object, &dir.file))
}

/// ValueAddTransformer: writes `value` at each target's field path (a `metadata/namespace`
/// path runs the namespace transformer instead), or splices it into a path-like value
/// at `filePathPosition`.
fn value_add(resources: &mut ResMap, value: &str, targets: &[ValueAddTarget]) -> Result<()> {
    for target in targets {
        let selected: Vec<usize> = match &target.selector {
            Some(selector) => resources.select(selector)?,
            None => (0..resources.resources.len()).collect(),
        };
        if target.field_path == "metadata/namespace" {
            let mut chosen = ResMap {
                resources: selected
                    .iter()
                    .map(|&i| resources.resources[i].clone())
                    .collect(),
            };
            namespace::transform(&mut chosen, value, &[])?;
            for (&i, resource) in selected.iter().zip(chosen.resources) {
                resources.resources[i] = resource;
            }
            continue;
        }
        let fields = crate::fieldspec::split_path(&target.field_path);
        for &i in &selected {
            let slot = scalar_slot(&mut resources.resources[i].obj, &fields, &target.field_path)?;
            let current = match slot {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                Value::Bool(_) | Value::Number(_) => crate::replacements::scalar_text(slot),
                _ => {
                    return Err(KustomizeError::transform(format!(
                        "ValueAddTransformer: '{}' is not a scalar",
                        target.field_path
                    )))
                }
            };
            let new_value = if target.file_path_position > 0 {
                insert_path_part(&current, (target.file_path_position - 1) as usize, value)
            } else {
                value.to_owned()
            };
            *slot = Value::String(new_value);
        }
    }
    Ok(())
}

/// The value at `fields` under `map`, created (as maps, and "" at the end) where
/// missing; `path` names it in errors.
fn scalar_slot<'m>(
    map: &'m mut serde_json::Map<String, Value>,
    fields: &[String],
    path: &str,
) -> Result<&'m mut Value> {
    let Some((first, rest)) = fields.split_first() else {
        return Err(KustomizeError::transform(
            "ValueAddTransformer: fieldPath cannot be empty",
        ));
    };
    if rest.is_empty() {
        return Ok(map
            .entry(first.clone())
            .or_insert(Value::String(String::new())));
    }
    match map
        .entry(first.clone())
        .or_insert_with(|| Value::Object(serde_json::Map::new()))
    {
        Value::Object(next) => scalar_slot(next, rest, path),
        _ => Err(KustomizeError::transform(format!(
            "ValueAddTransformer: '{first}' is not a map on the way to '{path}'"
        ))),
    }
}

/// kustomize's filesys.InsertPathPart: `part` becomes element `pos` of the
/// slash-separated `path`; in an absolute path the leading slash does not count.
fn insert_path_part(path: &str, pos: usize, part: &str) -> String {
    if part.is_empty() {
        return path.to_owned();
    }
    let mut parts: Vec<&str> = if path.is_empty() {
        Vec::new()
    } else {
        path.split('/').collect()
    };
    let mut pos = pos.min(parts.len());
    let absolute = parts.first() == Some(&"");
    if absolute && pos < parts.len() {
        pos += 1;
    }
    parts.insert(pos, part);
    // filepath.Join drops empty elements.
    let joined = parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_part_goes_in_at_its_position_after_a_leading_slash() {
        assert_eq!(insert_path_part("a/b", 0, "x"), "x/a/b");
        assert_eq!(insert_path_part("a/b", 1, "x"), "a/x/b");
        assert_eq!(insert_path_part("/a/b", 0, "x"), "/x/a/b");
        assert_eq!(insert_path_part("a/b", 9, "x"), "a/b/x");
        assert_eq!(insert_path_part("a/b", 1, ""), "a/b");
        assert_eq!(insert_path_part("", 3, "x"), "x");
    }
}
