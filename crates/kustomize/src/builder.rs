//! The build: accumulate a kustomization directory (recursively through bases and
//! components), then finish at the top (hash suffixes, name references, vars, sort).
//! The step order is kustomize's; changing it changes output.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{KustomizeError, Result};
use crate::fieldspec::TransformerConfig;
use crate::kustomization::{Kustomization, FILE_NAMES};
use crate::loader::{is_remote, KustDir, LoadRestriction, Loader};
use crate::resource::{ResMap, Resource};
use crate::{
    generators, images, labels, namereference, namespace, patches, plugins, prefix_suffix,
    replacements, replicas, sort, vars, yaml,
};

/// How a build may read files.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Nothing outside this directory may be read, through `..` or symlinks (Flux
    /// fences a build into its source artifact).
    pub fence: Option<PathBuf>,
    /// Whether a kustomization may read files outside its own directory.
    pub restriction: LoadRestriction,
    /// Build a directory without a kustomization file as if it had one listing every
    /// manifest under it (Flux's behaviour); otherwise that is an error, as in kubectl.
    pub generate_missing: bool,
    /// What a Flux Kustomization adds to the top kustomization.
    pub overlay: Option<crate::flux::FluxOverlay>,
}

impl BuildOptions {
    /// What Flux's kustomize-controller does: any file inside `root`, and directories
    /// without kustomization files are built from their manifests.
    pub fn flux(root: &Path) -> Self {
        Self {
            fence: Some(root.to_path_buf()),
            restriction: LoadRestriction::None,
            generate_missing: true,
            overlay: None,
        }
    }
}

/// Builds `dir` as `kubectl kustomize dir` does, returning the objects in output order.
pub fn build_dir(dir: &Path) -> Result<Vec<Value>> {
    build_dir_with(dir, &BuildOptions::default())
}

/// Builds `dir` with `options`.
pub fn build_dir_with(dir: &Path, options: &BuildOptions) -> Result<Vec<Value>> {
    let loader = Loader::new(dir, options.fence.as_deref(), options.restriction)?;
    let mut builder = Builder {
        loader,
        options: options.clone(),
        stack: Vec::new(),
        openapi: None,
        schema_set: false,
        origin: None,
    };
    let root = builder.kust_dir(dir)?;
    let mut kustomization = builder.load(&root)?;
    if let Some(overlay) = &options.overlay {
        overlay.apply_to(&mut kustomization);
    }
    if kustomization
        .build_metadata
        .iter()
        .any(|m| m == "originAnnotations")
    {
        builder.origin = Some(String::new());
    }
    // A Component built on its own is accumulated like a Kustomization, as kustomize does.
    let mut acc = builder.accumulate(&root, &kustomization, Accumulator::default())?;
    generators::add_hashes(&mut acc.resources)?;
    namereference::fix_back_references(&mut acc.resources, &acc.config.name_reference)?;
    vars::resolve(&mut acc.resources, &acc.vars, &acc.config.var_reference)?;
    drop_local_config(&mut acc.resources);
    sort::apply(&mut acc.resources, kustomization.sort_options.as_ref())?;
    Ok(acc
        .resources
        .resources
        .into_iter()
        .map(|r| Value::Object(r.obj))
        .collect())
}

/// What a kustomization directory contributes: its resources, the transformer
/// configuration (built in plus `configurations:`) and its vars.
#[derive(Debug, Clone, Default)]
pub struct Accumulator {
    pub resources: ResMap,
    pub config: TransformerConfig,
    pub vars: Vec<vars::Var>,
}

impl Accumulator {
    /// Folds a child kustomization's accumulation into this one.
    fn merge(&mut self, child: Accumulator, file: &str) -> Result<()> {
        self.resources.append_all(child.resources, file)?;
        self.config = self
            .config
            .merged(&child.config)
            .map_err(|e| KustomizeError::field(file, "resources", e))?;
        vars::absorb(&mut self.vars, child.vars, file)
    }
}

struct Builder {
    loader: Loader,
    options: BuildOptions,
    /// Kustomization directories being built, to catch cycles.
    stack: Vec<PathBuf>,
    /// The OpenAPI document named by `openapi: {path}`. As in kustomize it is global:
    /// once a kustomization sets it, it replaces the built-in schema for the rest of
    /// the build.
    openapi: Option<Value>,
    /// Whether a kustomization has named the schema (see `set_schema`).
    schema_set: bool,
    /// With `buildMetadata: [originAnnotations]`: the path from the build root to the
    /// kustomization being accumulated, for `config.kubernetes.io/origin`.
    origin: Option<String>,
}

/// The one Kubernetes OpenAPI version kyaml v0.18 has built in (`openapi: {version}`).
const BUILTIN_OPENAPI_VERSION: &str = "v1.21.2";

/// Where an object came from, with `buildMetadata: [originAnnotations]`.
const ORIGIN: &str = "config.kubernetes.io/origin";

fn annotate(resource: &mut Resource, key: &str, value: String) {
    let mut annotations = resource.annotations();
    annotations.insert(key.to_owned(), Value::String(value));
    resource.set_string_map("annotations", annotations);
}

/// The name of `dir`'s kustomization file (for `configuredIn`).
fn kustomization_file_name(dir: &KustDir) -> &str {
    Path::new(&dir.file)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("kustomization.yaml")
}

/// Where a plugin config read from a file came from: the `path:` of the origin
/// annotation it was given when read (kustomize's OriginFromCustomPlugin).
fn config_path(config: &Value) -> Option<String> {
    let origin = config
        .pointer("/metadata/annotations")?
        .get(ORIGIN)?
        .as_str()?;
    origin
        .lines()
        .find_map(|line| line.strip_prefix("path: "))
        .map(str::to_owned)
}

/// `configuredBy` of an origin annotation: the plugin config's apiVersion, kind,
/// name and namespace (those it has), indented as kustomize writes them.
fn configured_by(config: &Value) -> String {
    let text = |pointer: &str| {
        config
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    [
        ("apiVersion", text("/apiVersion")),
        ("kind", text("/kind")),
        ("name", text("/metadata/name")),
        ("namespace", text("/metadata/namespace")),
    ]
    .iter()
    .filter(|(_, value)| !value.is_empty())
    .map(|(key, value)| format!("  {key}: {value}\n"))
    .collect()
}

/// `base/rel` with `.` and `..` resolved lexically (as Go's filepath.Join does).
fn join_clean(base: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in base.split('/').chain(rel.split('/')) {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// The annotation that keeps an object out of the output.
const LOCAL_CONFIG: &str = "config.kubernetes.io/local-config";

fn drop_local_config(resources: &mut ResMap) {
    resources
        .resources
        .retain(|r| r.annotations().get(LOCAL_CONFIG).and_then(Value::as_str) != Some("true"));
    // kustomize rewrites every object's annotations as strings when it strips its
    // internal ones: an empty map does not survive that, and a null is "".
    for resource in &mut resources.resources {
        if let Some(Value::Object(annotations)) = resource
            .obj
            .get_mut("metadata")
            .and_then(|m| m.get_mut("annotations"))
        {
            for value in annotations.values_mut() {
                match value {
                    Value::Null => *value = Value::String(String::new()),
                    Value::Bool(_) | Value::Number(_) => *value = Value::String(value.to_string()),
                    _ => {}
                }
            }
        }
        if resource
            .obj
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .is_some()
            && resource.annotations().is_empty()
        {
            resource.set_string_map("annotations", serde_json::Map::new());
        }
    }
}

impl Builder {
    fn kust_dir(&self, path: &Path) -> Result<KustDir> {
        let canonical = path.canonicalize().map_err(|source| KustomizeError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let file = FILE_NAMES
            .iter()
            .map(|name| canonical.join(name))
            .find(|p| p.is_file())
            .map(|p| self.loader.display(&p))
            .unwrap_or_else(|| self.loader.display(&canonical.join(FILE_NAMES[0])));
        Ok(KustDir {
            path: canonical,
            file,
        })
    }

    /// Reads the kustomization file of `dir` (or makes one, when allowed).
    fn load(&self, dir: &KustDir) -> Result<Kustomization> {
        let found: Vec<PathBuf> = FILE_NAMES
            .iter()
            .map(|name| dir.path.join(name))
            .filter(|p| p.is_file())
            .collect();
        match found.as_slice() {
            [] if self.options.generate_missing => self.generated_kustomization(dir),
            [] => Err(KustomizeError::field(
                self.loader.display(&dir.path),
                "",
                format!(
                    "unable to find one of {} in directory '{}'",
                    FILE_NAMES.map(|n| format!("'{n}'")).join(", "),
                    self.loader.display(&dir.path)
                ),
            )),
            [file] => {
                let content =
                    std::fs::read_to_string(file).map_err(|source| KustomizeError::Io {
                        path: dir.file.clone(),
                        source,
                    })?;
                Kustomization::parse(&content, &dir.file)
            }
            _ => Err(KustomizeError::field(
                self.loader.display(&dir.path),
                "",
                "found multiple kustomization files",
            )),
        }
    }

    /// Flux's rule for a directory with no kustomization file: every YAML manifest
    /// under it, and every subdirectory that has a kustomization file as a base.
    fn generated_kustomization(&self, dir: &KustDir) -> Result<Kustomization> {
        let mut resources = Vec::new();
        collect_manifests(&dir.path, &dir.path, &mut resources)?;
        Ok(Kustomization {
            kind: "Kustomization".into(),
            resources,
            ..Default::default()
        })
    }

    fn accumulate(
        &mut self,
        dir: &KustDir,
        kustomization: &Kustomization,
        mut acc: Accumulator,
    ) -> Result<Accumulator> {
        if self.stack.contains(&dir.path) {
            return Err(KustomizeError::Cycle {
                file: dir.file.clone(),
                path: self.loader.display(&dir.path),
            });
        }
        self.stack.push(dir.path.clone());
        let result = self.accumulate_inner(dir, kustomization, &mut acc);
        self.stack.pop();
        result.map(|()| acc)
    }

    /// `openapi:` as kyaml's SetSchema takes it: the first kustomization that names a
    /// schema (a file, or a built-in version) sets it for the whole build, and later
    /// ones are not read at all.
    fn set_schema(&mut self, dir: &KustDir, k: &Kustomization) -> Result<()> {
        if self.schema_set {
            return Ok(());
        }
        let version = k.open_api.get("version").filter(|v| !v.is_empty());
        if let Some(path) = k.open_api.get("path") {
            if k.open_api.contains_key("version") {
                return Err(KustomizeError::field(
                    dir.file.clone(),
                    "openapi",
                    "builtin version and custom schema provided, cannot use both",
                ));
            }
            let text = self.loader.read_file(dir, path, "openapi.path")?;
            self.openapi = yaml::parse_documents(&text, path)?.into_iter().next();
            self.schema_set = true;
        } else if let Some(version) = version {
            if version != BUILTIN_OPENAPI_VERSION {
                return Err(KustomizeError::field(
                    dir.file.clone(),
                    "openapi.version",
                    format!("the specified OpenAPI version is not built in: '{version}' (only {BUILTIN_OPENAPI_VERSION})"),
                ));
            }
            self.schema_set = true;
        }
        Ok(())
    }

    fn accumulate_inner(
        &mut self,
        dir: &KustDir,
        k: &Kustomization,
        acc: &mut Accumulator,
    ) -> Result<()> {
        refuse_unsupported(dir, k)?;
        self.set_schema(dir, k)?;
        for (i, entry) in k.resources.iter().enumerate() {
            self.accumulate_resource(dir, entry, &format!("resources[{i}]"), acc)?;
        }
        // As kustomize's MakeTransformerConfig: the files merged into an empty
        // configuration, that merged into the built-in one, and the result into what
        // the resources accumulated. Each merge sorts, which decides what a later
        // merge keeps (see `TransformerConfig::merged`).
        let mut custom = TransformerConfig::default();
        for (i, path) in k.configurations.iter().enumerate() {
            let field = format!("configurations[{i}]");
            let content = self.loader.read_file(dir, path, &field)?;
            let file_config: TransformerConfig =
                serde_yaml_ng::from_str(&content).map_err(|e| {
                    KustomizeError::field(dir.file.clone(), field.clone(), format!("'{path}': {e}"))
                })?;
            custom = custom
                .merged(&file_config)
                .map_err(|e| KustomizeError::field(dir.file.clone(), field, e))?;
        }
        let config = if k.configurations.is_empty() {
            TransformerConfig::builtin()
        } else {
            TransformerConfig::builtin()
                .merged(&custom)
                .map_err(|e| KustomizeError::field(dir.file.clone(), "configurations", e))?
        };
        acc.config = acc
            .config
            .merged(&config)
            .map_err(|e| KustomizeError::field(dir.file.clone(), "configurations", e))?;
        for (i, path) in k.crds.iter().enumerate() {
            let field = format!("crds[{i}]");
            let text = self.loader.read_file(dir, path, &field)?;
            let definitions = yaml::parse_documents(&text, path)?
                .into_iter()
                .next()
                .unwrap_or(Value::Null);
            acc.config = acc
                .config
                .merged(&crate::fieldspec::config_from_crd_definitions(&definitions))
                .map_err(|e| KustomizeError::field(dir.file.clone(), field, e))?;
        }

        let mut generated = generators::generate(&self.loader, dir, k)?;
        if let Some(origin) = &self.origin {
            let configured_in = join_clean(origin, kustomization_file_name(dir));
            for resource in &mut generated.resources {
                let generator = if resource.kind() == "Secret" {
                    "SecretGenerator"
                } else {
                    "ConfigMapGenerator"
                };
                annotate(
                    resource,
                    ORIGIN,
                    format!("configuredIn: {configured_in}\nconfiguredBy:\n  apiVersion: builtin\n  kind: {generator}\n"),
                );
            }
        }
        generators::absorb(&mut acc.resources, generated, &dir.file)?;
        self.run_generator_plugins(dir, k, acc)?;

        for (i, entry) in k.components.iter().enumerate() {
            let field = format!("components[{i}]");
            if is_remote(entry) {
                return Err(remote(dir, &field, entry));
            }
            let path = self.loader.resolve(dir, entry, &field)?;
            if !path.is_dir() {
                return Err(KustomizeError::field(
                    dir.file.clone(),
                    field,
                    format!("'{entry}' is not a directory"),
                ));
            }
            let component_dir = self.kust_dir(&path)?;
            let component = self.load(&component_dir)?;
            if !component.is_component() {
                return Err(KustomizeError::field(
                    dir.file.clone(),
                    field,
                    format!(
                        "expected kind 'Component' for path '{entry}' but got '{}'",
                        component.kind
                    ),
                ));
            }
            let taken = std::mem::take(acc);
            *acc = self.accumulate(&component_dir, &component, taken)?;
        }

        let config = acc.config.clone();
        let resources = &mut acc.resources;
        patches::strategic_merge_legacy(
            resources,
            &self.loader,
            dir,
            &k.patches_strategic_merge,
            self.openapi.as_ref(),
        )?;
        patches::patches(
            resources,
            &self.loader,
            dir,
            &k.patches,
            self.openapi.as_ref(),
        )?;
        namespace::transform(resources, &k.namespace, &config.namespace)?;
        prefix_suffix::add_prefix(resources, &k.name_prefix, &config.name_prefix)?;
        prefix_suffix::add_suffix(resources, &k.name_suffix, &config.name_suffix)?;
        labels::transform_labels(resources, k, &config)?;
        labels::add_annotations(resources, &k.common_annotations, &config.common_annotations)?;
        patches::json6902_legacy(resources, &self.loader, dir, &k.patches_json6902)?;
        replicas::transform(resources, &k.replicas, &config.replicas, &dir.file)?;
        images::transform(resources, &k.images, &config.images)?;
        replacements::transform(resources, &self.loader, dir, &k.replacements)?;
        self.run_transformer_plugins(dir, &k.transformers, "transformers", &mut acc.resources)?;
        self.run_validators(dir, k, &acc.resources)?;
        vars::merge(&mut acc.vars, &mut acc.resources, &k.vars, &dir.file)
    }

    /// The plugin configs that `entries` of `field` (`transformers`, ...) stand for:
    /// inline configs first, then those read from files and directories, as kustomize
    /// orders them. Each comes with the entry field it was listed under.
    fn plugin_configs(
        &mut self,
        dir: &KustDir,
        entries: &[String],
        field: &str,
    ) -> Result<Vec<(String, Value)>> {
        let mut configs = Vec::new();
        let mut paths = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let entry_field = format!("{field}[{i}]");
            match yaml::parse_documents(entry, &dir.file) {
                Ok(docs) if !docs.is_empty() && docs.iter().all(Value::is_object) => {
                    configs.extend(docs.into_iter().map(|doc| (entry_field.clone(), doc)));
                }
                _ => paths.push((entry_field, entry)),
            }
        }
        for (entry_field, entry) in paths {
            let mut loaded = Accumulator::default();
            self.accumulate_resource(dir, entry, &entry_field, &mut loaded)?;
            configs.extend(
                loaded
                    .resources
                    .resources
                    .into_iter()
                    .map(|r| (entry_field.clone(), Value::Object(r.obj))),
            );
        }
        Ok(configs)
    }

    /// Reads the plugin configs of `entries`, each of which must be a transformer.
    fn transformer_plugins(
        &mut self,
        dir: &KustDir,
        entries: &[String],
        field: &str,
    ) -> Result<Vec<(String, plugins::Transformer)>> {
        let mut transformers = Vec::new();
        for (entry_field, config) in self.plugin_configs(dir, entries, field)? {
            let origin = plugins::Origin {
                file: &dir.file,
                field: &entry_field,
            };
            match plugins::parse(&config, &origin, &self.loader, dir)? {
                plugins::Plugin::Transformer(t) => transformers.push((entry_field, t)),
                plugins::Plugin::Generator(_) => {
                    return Err(not_a(&dir.file, &entry_field, &config, "transformer"))
                }
            }
        }
        Ok(transformers)
    }

    /// `transformers:` (or validators): builtin transformer configs, run in order after
    /// the kustomization's own transformers.
    fn run_transformer_plugins(
        &mut self,
        dir: &KustDir,
        entries: &[String],
        field: &str,
        resources: &mut ResMap,
    ) -> Result<()> {
        for (entry_field, transformer) in self.transformer_plugins(dir, entries, field)? {
            let context = plugins::Context {
                loader: &self.loader,
                dir,
                openapi: self.openapi.as_ref(),
                field: &entry_field,
            };
            transformer.run(resources, &context)?;
        }
        Ok(())
    }

    /// `validators:`: transformers that may only look. kustomize fails the build when
    /// one changes anything (a `validated-by` label aside).
    fn run_validators(
        &mut self,
        dir: &KustDir,
        k: &Kustomization,
        resources: &ResMap,
    ) -> Result<()> {
        if k.validators.is_empty() {
            return Ok(());
        }
        let mut validated = resources.clone();
        self.run_transformer_plugins(dir, &k.validators, "validators", &mut validated)?;
        for resource in &mut validated.resources {
            let mut labels = resource.labels();
            if labels.shift_remove(VALIDATED_BY).is_some() {
                resource.set_string_map("labels", labels);
            }
        }
        let objects = |map: &ResMap| {
            map.resources
                .iter()
                .map(|r| r.obj.clone())
                .collect::<Vec<_>>()
        };
        if objects(&validated) != objects(resources) {
            return Err(KustomizeError::field(
                dir.file.clone(),
                "validators",
                "validator shouldn't modify the resource map",
            ));
        }
        Ok(())
    }

    /// `generators:`: builtin generator configs, run after the kustomization's own
    /// generators; what each makes is merged in as theirs is.
    fn run_generator_plugins(
        &mut self,
        dir: &KustDir,
        k: &Kustomization,
        acc: &mut Accumulator,
    ) -> Result<()> {
        for (entry_field, config) in self.plugin_configs(dir, &k.generators, "generators")? {
            let origin = plugins::Origin {
                file: &dir.file,
                field: &entry_field,
            };
            match plugins::parse(&config, &origin, &self.loader, dir)? {
                plugins::Plugin::Generator(generator) => {
                    let mut generated = generator.generate(&self.loader, dir, &entry_field)?;
                    if let Some(origin) = &self.origin {
                        let configured_in = config_path(&config)
                            .unwrap_or_else(|| join_clean(origin, kustomization_file_name(dir)));
                        let by = configured_by(&config);
                        for resource in &mut generated.resources {
                            if !resource.annotations().contains_key(ORIGIN) {
                                annotate(
                                    resource,
                                    ORIGIN,
                                    format!("configuredIn: {configured_in}\nconfiguredBy:\n{by}"),
                                );
                            }
                        }
                    }
                    generators::absorb(&mut acc.resources, generated, &dir.file)?;
                }
                plugins::Plugin::Transformer(_) => {
                    return Err(not_a(&dir.file, &entry_field, &config, "generator"))
                }
            }
        }
        Ok(())
    }

    fn accumulate_resource(
        &mut self,
        dir: &KustDir,
        entry: &str,
        field: &str,
        acc: &mut Accumulator,
    ) -> Result<()> {
        if is_remote(entry) {
            return Err(remote(dir, field, entry));
        }
        let path = self.loader.resolve(dir, entry, field)?;
        if path.is_file() {
            let path = self.loader.resolve_file(dir, entry, field)?;
            let shown = self.loader.display(&path);
            let content = std::fs::read_to_string(&path).map_err(|source| KustomizeError::Io {
                path: shown.clone(),
                source,
            })?;
            let mut map = ResMap::new();
            for (object, empty_nulls) in yaml::parse_objects_with_empty_nulls(&content, &shown)? {
                let mut resource = Resource::new(object, &shown);
                resource.empty_nulls = empty_nulls;
                if let Some(origin) = &self.origin {
                    annotate(
                        &mut resource,
                        ORIGIN,
                        format!("path: {}\n", join_clean(origin, entry)),
                    );
                }
                map.append(resource, &dir.file)?;
            }
            return acc.resources.append_all(map, &dir.file);
        }
        let child_dir = self.kust_dir(&path)?;
        if self.stack.contains(&child_dir.path) {
            return Err(KustomizeError::Cycle {
                file: dir.file.clone(),
                path: entry.to_owned(),
            });
        }
        let child = self.load(&child_dir)?;
        if child.is_component() {
            return Err(KustomizeError::field(
                dir.file.clone(),
                field,
                format!("'{entry}' is a Component: list it under components, not resources"),
            ));
        }
        let parent_origin = self.origin.clone();
        if let Some(origin) = &parent_origin {
            self.origin = Some(join_clean(origin, entry));
        }
        let child_acc = self.accumulate(&child_dir, &child, Accumulator::default());
        self.origin = parent_origin;
        acc.merge(child_acc?, &dir.file)
    }
}

/// The label a validator may add.
const VALIDATED_BY: &str = "validated-by";

fn not_a(file: &str, field: &str, config: &Value, what: &str) -> KustomizeError {
    let kind = config.get("kind").and_then(Value::as_str).unwrap_or("");
    KustomizeError::field(file, field, format!("plugin {kind} is not a {what}"))
}

fn remote(dir: &KustDir, field: &str, entry: &str) -> KustomizeError {
    KustomizeError::field(
        dir.file.clone(),
        field,
        format!("remote resource '{entry}' is not supported: builds never fetch from the network"),
    )
}

/// Fields that would fetch charts: refused with the field named. (Plugins that would
/// run code are refused when their configs are read.)
fn refuse_unsupported(dir: &KustDir, k: &Kustomization) -> Result<()> {
    let refuse = |field: &str, why: &str| Err(KustomizeError::field(dir.file.clone(), field, why));
    if !k.helm_charts.is_empty()
        || !k.helm_chart_inflation_generator.is_empty()
        || k.helm_globals.is_some()
    {
        return refuse(
            "helmCharts",
            "inflating Helm charts is not supported: use a HelmRelease",
        );
    }
    Ok(())
}

fn collect_manifests(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| KustomizeError::Io {
            path: dir.display().to_string(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let rel = path
            .strip_prefix(root)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if path.is_dir() {
            if FILE_NAMES.iter().any(|n| path.join(n).is_file()) {
                out.push(rel);
            } else {
                collect_manifests(root, &path, out)?;
            }
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(rel);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, content: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, content).expect("write");
    }

    fn names(objects: &[Value]) -> Vec<String> {
        objects
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap_or(""),
                    o["metadata"]["name"].as_str().unwrap_or("")
                )
            })
            .collect()
    }

    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: NAME\n";

    #[test]
    fn flux_builds_a_plain_directory_from_every_manifest_under_it() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path();
        write(root, "apps/a.yaml", &CM.replace("NAME", "a"));
        write(root, "apps/nested/b.yml", &CM.replace("NAME", "b"));
        write(root, "apps/README.md", "not a manifest");
        write(
            root,
            "apps/kustomized/kustomization.yaml",
            "resources: [c.yaml]\nnamePrefix: k-\n",
        );
        write(root, "apps/kustomized/c.yaml", &CM.replace("NAME", "c"));
        let objects = build_dir_with(&root.join("apps"), &BuildOptions::flux(root)).expect("build");
        assert_eq!(
            names(&objects),
            ["ConfigMap/a", "ConfigMap/b", "ConfigMap/k-c"]
        );
        // kubectl refuses the same directory.
        let err = build_dir(&root.join("apps")).expect_err("no kustomization.yaml");
        assert!(err.to_string().contains("unable to find one of"), "{err}");
    }

    #[test]
    fn nothing_outside_the_fence_is_read() {
        let tmp = tempfile::tempdir().expect("tmp");
        let repo = tmp.path().join("repo");
        write(tmp.path(), "secret.yaml", &CM.replace("NAME", "stolen"));
        write(
            &repo,
            "app/kustomization.yaml",
            "resources: [../../secret.yaml]\n",
        );
        let err =
            build_dir_with(&repo.join("app"), &BuildOptions::flux(&repo)).expect_err("escape");
        assert!(matches!(err, KustomizeError::OutsideRoot { .. }), "{err}");
        // A symlink pointing out is no way around it.
        std::os::unix::fs::symlink(tmp.path().join("secret.yaml"), repo.join("app/link.yaml"))
            .expect("link");
        write(&repo, "app/kustomization.yaml", "resources: [link.yaml]\n");
        let err =
            build_dir_with(&repo.join("app"), &BuildOptions::flux(&repo)).expect_err("symlink");
        assert!(err.to_string().contains("outside the build root"), "{err}");
    }

    #[test]
    fn remote_resources_and_helm_charts_are_refused_naming_the_field() {
        let tmp = tempfile::tempdir().expect("tmp");
        write(
            tmp.path(),
            "kustomization.yaml",
            "resources:\n- https://github.com/org/repo//deploy?ref=v1\n",
        );
        let err = build_dir(tmp.path()).expect_err("remote");
        assert!(err.to_string().contains("resources[0]"), "{err}");
        assert!(err.to_string().contains("network"), "{err}");
        write(
            tmp.path(),
            "kustomization.yaml",
            "helmCharts:\n- name: podinfo\n",
        );
        let err = build_dir(tmp.path()).expect_err("helm");
        assert!(err.to_string().contains("helmCharts"), "{err}");
    }

    #[test]
    fn a_kustomization_including_itself_is_a_cycle() {
        let tmp = tempfile::tempdir().expect("tmp");
        write(tmp.path(), "a/kustomization.yaml", "resources: [../b]\n");
        write(tmp.path(), "b/kustomization.yaml", "resources: [../a]\n");
        let err = build_dir(&tmp.path().join("a")).expect_err("cycle");
        assert!(err.to_string().contains("cycle"), "{err}");
    }

    #[test]
    fn a_flux_overlay_adds_namespace_prefix_patches_images_and_metadata() {
        let tmp = tempfile::tempdir().expect("tmp");
        write(tmp.path(), "app/deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.0\n");
        let mut options = BuildOptions::flux(tmp.path());
        options.overlay = Some(crate::flux::FluxOverlay {
            target_namespace: "prod".into(),
            name_prefix: "p-".into(),
            patches: vec![(
                "- op: add\n  path: /spec/replicas\n  value: 3\n".into(),
                Some(crate::resource::Selector {
                    kind: "Deployment".into(),
                    ..Default::default()
                }),
            )],
            images: vec![crate::flux::FluxImage {
                name: "nginx".into(),
                new_tag: "1.27".into(),
                ..Default::default()
            }],
            common_labels: [("team".to_owned(), "a".to_owned())].into(),
            ..Default::default()
        });
        let objects = build_dir_with(&tmp.path().join("app"), &options).expect("build");
        let d = &objects[0];
        assert_eq!(d["metadata"]["name"], "p-web");
        assert_eq!(d["metadata"]["namespace"], "prod");
        assert_eq!(d["metadata"]["labels"]["team"], "a");
        assert!(
            d["spec"]["selector"]["matchLabels"].get("team").is_none(),
            "selectors untouched"
        );
        assert_eq!(d["spec"]["replicas"], 3);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:1.27"
        );
    }

    #[test]
    fn origin_paths_join_lexically() {
        assert_eq!(join_clean("", "configmap.yaml"), "configmap.yaml");
        assert_eq!(
            join_clean("../base", "service.yaml"),
            "../base/service.yaml"
        );
        assert_eq!(join_clean("a/b", "../c"), "a/c");
    }
}
