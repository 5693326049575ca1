//! configMapGenerator and secretGenerator, generator behaviors, and the content hash
//! suffix.
//!
//! What a generator makes is kustomize's (api/kv and api/internal/generators): pairs
//! come from env files, then literals, then files; a key may appear once; keys are
//! written sorted; ConfigMap values that are not UTF-8 go to `binaryData`; Secret
//! values and binary data are base64, broken into 70-column lines as kustomize does
//! (the line breaks are part of the value, so they change the hash). The hash is
//! kustomize's too, down to the JSON encoding it hashes, so names match
//! `kubectl kustomize` byte for byte.

use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{KustomizeError, Result};
use crate::kustomization::{GeneratorArgs, GeneratorOptions, Kustomization};
use crate::loader::{KustDir, Loader};
use crate::resource::{Behavior, ResMap, Resource};

/// Which generator an entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GeneratedKind {
    ConfigMap,
    Secret,
}

impl GeneratedKind {
    fn kind(self) -> &'static str {
        match self {
            Self::ConfigMap => "ConfigMap",
            Self::Secret => "Secret",
        }
    }

    fn field(self) -> &'static str {
        match self {
            Self::ConfigMap => "configMapGenerator",
            Self::Secret => "secretGenerator",
        }
    }
}

/// The ConfigMaps and Secrets `k` generates, in order (configMapGenerator entries
/// first), each marked with its behavior and whether it needs a hash suffix.
pub fn generate(loader: &Loader, dir: &KustDir, k: &Kustomization) -> Result<ResMap> {
    let mut generated = ResMap::new();
    let entries = k
        .config_map_generator
        .iter()
        .enumerate()
        .map(|(i, args)| (GeneratedKind::ConfigMap, i, args))
        .chain(
            k.secret_generator
                .iter()
                .enumerate()
                .map(|(i, args)| (GeneratedKind::Secret, i, args)),
        );
    for (kind, i, args) in entries {
        let field = format!("{}[{i}]", kind.field());
        let generator = Generator {
            loader,
            dir,
            args,
            kind,
            field: &field,
        };
        let options = GeneratorOptions::merged(args.options.as_ref(), k.generator_options.as_ref());
        generated.resources.push(generator.make(&options)?);
    }
    Ok(generated)
}

/// What a ConfigMapGenerator or SecretGenerator plugin config generates: one object,
/// with the entry's own options only (the kustomization's `generatorOptions` apply to
/// its own generator fields, not to plugins).
pub fn generate_one(
    loader: &Loader,
    dir: &KustDir,
    args: &GeneratorArgs,
    secret: bool,
    field: &str,
) -> Result<Resource> {
    let kind = if secret {
        GeneratedKind::Secret
    } else {
        GeneratedKind::ConfigMap
    };
    let generator = Generator {
        loader,
        dir,
        args,
        kind,
        field,
    };
    generator.make(&GeneratorOptions::merged(args.options.as_ref(), None))
}

/// One generator entry being turned into an object.
struct Generator<'a> {
    loader: &'a Loader,
    dir: &'a KustDir,
    args: &'a GeneratorArgs,
    kind: GeneratedKind,
    /// `configMapGenerator[2]`, for errors.
    field: &'a str,
}

/// A key and its value, with the entry field it came from (for errors).
struct Pair {
    key: String,
    value: Vec<u8>,
    source: &'static str,
}

impl Generator<'_> {
    fn error(&self, sub_field: &str, message: impl Into<String>) -> KustomizeError {
        let field = if sub_field.is_empty() {
            self.field.to_owned()
        } else {
            format!("{}.{sub_field}", self.field)
        };
        KustomizeError::field(self.dir.file.clone(), field, message)
    }

    fn make(&self, options: &GeneratorOptions) -> Result<Resource> {
        let args = self.args;
        if self.kind == GeneratedKind::ConfigMap && !args.secret_type.is_empty() {
            // kustomize's ConfigMapArgs has no such field: its strict decoding refuses it.
            return Err(self.error(
                "type",
                "unknown field: only a secretGenerator entry has a type",
            ));
        }
        if args.name.is_empty() {
            let what = match self.kind {
                GeneratedKind::ConfigMap => "a configmap",
                GeneratedKind::Secret => "a secret",
            };
            return Err(self.error("name", format!("{what} must have a name")));
        }
        let pairs = self.load_pairs()?;

        let mut data = Map::new();
        let mut binary_data = Map::new();
        for (key, value) in pairs {
            match self.kind {
                GeneratedKind::ConfigMap => match String::from_utf8(value) {
                    Ok(text) => {
                        data.insert(key, Value::String(text));
                    }
                    Err(not_text) => {
                        binary_data.insert(key, Value::String(encode_base64(not_text.as_bytes())));
                    }
                },
                GeneratedKind::Secret => {
                    data.insert(key, Value::String(encode_base64(&value)));
                }
            }
        }

        // Keys in the order kubectl prints them (sorted), whatever the printer does.
        let mut obj = Map::new();
        obj.insert("apiVersion".into(), Value::String("v1".into()));
        if !binary_data.is_empty() {
            obj.insert("binaryData".into(), Value::Object(binary_data));
        }
        // A Secret always has `data`, even empty; a ConfigMap only with content.
        if !data.is_empty() || self.kind == GeneratedKind::Secret {
            obj.insert("data".into(), Value::Object(data));
        }
        if options.immutable {
            obj.insert("immutable".into(), Value::Bool(true));
        }
        obj.insert("kind".into(), Value::String(self.kind.kind().into()));
        let mut metadata = Map::new();
        let string_map = |map: &crate::kustomization::StringMap| {
            Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            )
        };
        if !options.annotations.is_empty() {
            metadata.insert("annotations".into(), string_map(&options.annotations));
        }
        if !options.labels.is_empty() {
            metadata.insert("labels".into(), string_map(&options.labels));
        }
        metadata.insert("name".into(), Value::String(args.name.clone()));
        if !args.namespace.is_empty() {
            metadata.insert("namespace".into(), Value::String(args.namespace.clone()));
        }
        obj.insert("metadata".into(), Value::Object(metadata));
        if self.kind == GeneratedKind::Secret {
            let secret_type = if args.secret_type.is_empty() {
                "Opaque"
            } else {
                &args.secret_type
            };
            obj.insert("type".into(), Value::String(secret_type.to_owned()));
        }

        let mut resource = Resource::new(obj, &self.dir.file);
        resource.needs_hash = !options.disable_name_suffix_hash;
        // kustomize treats a behavior it does not know as none given.
        resource.behavior = Behavior::parse(&args.behavior).unwrap_or_default();
        Ok(resource)
    }

    /// The entry's pairs, sorted by key; a repeated key is an error.
    fn load_pairs(&self) -> Result<std::collections::BTreeMap<String, Vec<u8>>> {
        let mut pairs = Vec::new();
        for path in &self.args.envs {
            let content =
                self.loader
                    .read_bytes(self.dir, path, &format!("{}.envs", self.field))?;
            for (key, value) in parse_env_file(&content)
                .map_err(|e| self.error("envs", format!("'{path}': {e}")))?
            {
                pairs.push(Pair {
                    key,
                    value: value.into_bytes(),
                    source: "envs",
                });
            }
        }
        for literal in &self.args.literals {
            let (key, value) = parse_literal(literal).map_err(|e| self.error("literals", e))?;
            pairs.push(Pair {
                key,
                value: value.into_bytes(),
                source: "literals",
            });
        }
        for source in &self.args.files {
            let (key, path) = parse_file_source(source).map_err(|e| self.error("files", e))?;
            let value =
                self.loader
                    .read_bytes(self.dir, &path, &format!("{}.files", self.field))?;
            pairs.push(Pair {
                key,
                value,
                source: "files",
            });
        }

        let mut by_key = std::collections::BTreeMap::new();
        for pair in pairs {
            if by_key.contains_key(&pair.key) {
                return Err(self.error(
                    pair.source,
                    format!(
                        "configmap {} illegally repeats the key `{}`",
                        self.args.name, pair.key
                    ),
                ));
            }
            by_key.insert(pair.key, pair.value);
        }
        Ok(by_key)
    }
}

/// `key=value`; the value loses one pair of surrounding quotes, as in kustomize.
fn parse_literal(source: &str) -> std::result::Result<(String, String), String> {
    match source.split_once('=') {
        Some((key, value)) if !key.is_empty() => {
            Ok((key.to_owned(), remove_quotes(value).to_owned()))
        }
        _ => Err(format!(
            "invalid literal source {source}, expected key=value"
        )),
    }
}

/// Strips quotes only when the same quote character opens and closes the value.
fn remove_quotes(value: &str) -> &str {
    let bytes = value.as_bytes();
    if bytes.len() >= 2 && bytes[0] == bytes[bytes.len() - 1] && matches!(bytes[0], b'"' | b'\'') {
        &value[1..value.len() - 1]
    } else {
        value
    }
}

/// `path` (key: the file's base name) or `key=path`.
fn parse_file_source(source: &str) -> std::result::Result<(String, String), String> {
    match source.matches('=').count() {
        0 => Ok((base_name(source), source.to_owned())),
        1 => {
            let (key, path) = source.split_once('=').unwrap_or_default();
            if key.is_empty() {
                Err(format!(
                    "missing key name for file path \"{path}\" in source \"{source}\""
                ))
            } else if path.is_empty() {
                Err(format!(
                    "missing file path for key name \"{key}\" in source \"{source}\""
                ))
            } else {
                Ok((key.to_owned(), path.to_owned()))
            }
        }
        _ => Err(format!(
            "source \"{source}\" key name or file path contains '='"
        )),
    }
}

/// The last element of a slash-separated path, as Go's `path.Base`.
fn base_name(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".to_owned();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_owned()
}

/// Parses an env file: `KEY=value` lines; blank lines and `#` comments skipped;
/// leading whitespace dropped, nothing else trimmed; a line without `=` is a key
/// with an empty value (kustomize 5 does not read the process environment).
fn parse_env_file(content: &[u8]) -> std::result::Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for (number, line) in scan_lines(content).enumerate() {
        let text = std::str::from_utf8(line)
            .map_err(|_| format!("line {} has invalid utf8 bytes", number + 1))?;
        // A byte order mark is only skipped at the start of the file.
        let text = if number == 0 {
            text.strip_prefix('\u{feff}').unwrap_or(text)
        } else {
            text
        };
        let text = text.trim_start();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let (key, value) = text.split_once('=').unwrap_or((text, ""));
        if key.is_empty() {
            continue;
        }
        pairs.push((key.to_owned(), value.to_owned()));
    }
    Ok(pairs)
}

/// Lines as Go's bufio.ScanLines gives them: split at `\n`, one trailing `\r`
/// dropped, no empty last line after a final newline.
fn scan_lines(content: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = content.strip_suffix(b"\n").unwrap_or(content);
    let lines: Vec<&[u8]> = if content.is_empty() {
        Vec::new()
    } else {
        body.split(|b| *b == b'\n').collect()
    };
    lines
        .into_iter()
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
}

/// Base64 as kustomize writes generated values: lines of 70 characters, each ending
/// in a newline once there are 70 characters or more.
fn encode_base64(bytes: &[u8]) -> String {
    const LINE: usize = 70;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    if encoded.len() < LINE {
        return encoded;
    }
    let mut out = String::with_capacity(encoded.len() + encoded.len() / LINE + 1);
    for chunk in encoded.as_bytes().chunks(LINE) {
        // Base64 output is ASCII, so every chunk boundary is a char boundary.
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out
}

/// Adds generated resources to `resources`, honouring each one's behavior
/// (create: must be new; merge/replace: must exist). `file` names the kustomization.
pub fn absorb(resources: &mut ResMap, generated: ResMap, file: &str) -> Result<()> {
    let (mut config_maps, mut secrets) = (0, 0);
    for resource in generated.resources {
        // generate() makes one object per entry, ConfigMaps first: count to name the entry.
        let field = if resource.kind() == "Secret" {
            secrets += 1;
            format!("secretGenerator[{}]", secrets - 1)
        } else {
            config_maps += 1;
            format!("configMapGenerator[{}]", config_maps - 1)
        };
        let id = resource.cur_id();
        let matches = resources.matching_any_id(&id);
        match (matches.as_slice(), resource.behavior) {
            ([], Behavior::Merge | Behavior::Replace) => {
                return Err(KustomizeError::field(
                    file,
                    format!("{field}.behavior"),
                    format!("id {id} does not exist; cannot merge or replace"),
                ));
            }
            ([], _) => resources.resources.push(resource),
            ([index], Behavior::Merge | Behavior::Replace) => {
                let old = &resources.resources[*index];
                let combined = combine(old, resource);
                resources.resources[*index] = combined;
            }
            ([_], _) => {
                return Err(KustomizeError::field(
                    file,
                    field,
                    format!("id {id} exists; behavior must be merge or replace"),
                ));
            }
            (many, _) => {
                let ids: Vec<String> = many
                    .iter()
                    .map(|i| resources.resources[*i].cur_id().to_string())
                    .collect();
                return Err(KustomizeError::field(
                    file,
                    field,
                    format!(
                        "found multiple objects [{}] that could accept merge of {id}",
                        ids.join(" ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A generated object (`new`, behavior merge or replace) taking the place of `old`,
/// as kustomize does it: the object is the new one, with labels and annotations
/// merged over the old ones, the old name and namespace, and the old one's build
/// history (earlier ids, prefixes, var names). For merge, `data` and `binaryData`
/// are merged too, the new values winning. The hash suffix stays only if both
/// sides want one: merging into a plain ConfigMap leaves its name alone.
fn combine(old: &Resource, new: Resource) -> Resource {
    let merge_data = new.behavior == Behavior::Merge;
    let needs_hash = old.needs_hash && new.needs_hash;
    let mut fresh = new;
    for field in ["labels", "annotations"] {
        let mut merged = old.string_map(field);
        merged.extend(fresh.string_map(field));
        fresh.set_string_map(field, merged);
    }
    // With `buildMetadata: [originAnnotations]`, a merged object still says where it
    // was first defined (a replaced one says where its replacement was).
    if merge_data {
        if let Some(origin) = old.annotations().get(ORIGIN_ANNOTATION) {
            let mut annotations = fresh.annotations();
            annotations.insert(ORIGIN_ANNOTATION.to_owned(), origin.clone());
            fresh.set_string_map("annotations", annotations);
        }
    }
    fresh.set_name(old.name());
    fresh.set_namespace(old.namespace());
    if merge_data {
        for field in ["data", "binaryData"] {
            let mut merged = text_values(old.obj.get(field));
            merged.extend(text_values(fresh.obj.get(field)));
            if merged.is_empty() {
                fresh.obj.remove(field);
            } else {
                merged.sort_keys();
                fresh.obj.insert(field.to_owned(), Value::Object(merged));
            }
        }
    }
    let mut combined = old.clone();
    combined.obj = fresh.obj;
    combined.needs_hash = needs_hash;
    combined
}

/// Where an object was defined, with `buildMetadata: [originAnnotations]`.
const ORIGIN_ANNOTATION: &str = "config.kubernetes.io/origin";

/// A data map with every value as the text kustomize reads from it.
fn text_values(map: Option<&Value>) -> Map<String, Value> {
    let Some(Value::Object(map)) = map else {
        return Map::new();
    };
    map.iter()
        .map(|(k, v)| (k.clone(), Value::String(scalar_text(v))))
        .collect()
}

/// The text of a scalar as written in YAML; empty for null, maps and lists.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null | Value::Array(_) | Value::Object(_) => String::new(),
    }
}

/// Appends the content hash to the name of every resource that needs one.
pub fn add_hashes(resources: &mut ResMap) -> Result<()> {
    for resource in &mut resources.resources {
        if !resource.needs_hash {
            continue;
        }
        let hash = content_hash(&resource.obj);
        resource.store_previous_id();
        let name = format!("{}-{hash}", resource.name());
        resource.set_name(&name);
    }
    Ok(())
}

/// kustomize's hash of a ConfigMap or Secret: sha256 of a JSON object of its kind,
/// data (and binaryData, or type and stringData for Secrets), with keys sorted as
/// Go writes them; the name takes part only as an empty string (kustomize looks it
/// up at a path that never exists). The first ten hex digits are then respelled to
/// avoid vowels and digit look-alikes.
fn content_hash(obj: &Map<String, Value>) -> String {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    let field_value = |name: &str| match obj.get(name) {
        None | Some(Value::Null) => Value::String(String::new()),
        // kustomize decodes a map here; anything else decodes to nothing.
        Some(Value::Object(map)) => Value::Object(map.clone()),
        Some(Value::Array(_)) => Value::Null,
        Some(scalar) => Value::String(scalar_text(scalar)),
    };
    let mut encoded = Map::new();
    match kind {
        "ConfigMap" | "Secret" => {
            encoded.insert("kind".into(), Value::String(kind.to_owned()));
            encoded.insert("name".into(), Value::String(String::new()));
            encoded.insert("data".into(), field_value("data"));
            let optional = if kind == "ConfigMap" {
                "binaryData"
            } else {
                encoded.insert("type".into(), field_value("type"));
                "stringData"
            };
            if let Some(Value::Object(map)) = obj.get(optional) {
                encoded.insert(optional.into(), Value::Object(map.clone()));
            }
        }
        // kustomize hashes its YAML node structure for other kinds (only reachable
        // when a patch changes a generated object's kind); the object stands in.
        _ => encoded = obj.clone(),
    }
    let mut json = String::new();
    write_go_json(&Value::Object(encoded), &mut json);
    let digest = Sha256::digest(json.as_bytes());
    digest
        .iter()
        .flat_map(|b| [b >> 4, b & 0xf])
        .take(10)
        .map(|nibble| match nibble {
            0 => 'g',
            1 => 'h',
            3 => 'k',
            0xa => 'm',
            0xe => 't',
            n => char::from_digit(u32::from(n), 16).expect("a nibble is a hex digit"),
        })
        .collect()
}

/// JSON as Go's encoding/json writes it: map keys sorted, `<`, `>`, `&`, U+2028
/// and U+2029 escaped, numbers as float64.
fn write_go_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&go_float(n.as_f64().unwrap_or_default())),
        Value::String(s) => write_go_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_string(key, out);
                out.push(':');
                write_go_json(&map[key], out);
            }
            out.push('}');
        }
    }
}

fn write_go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A float64 as Go's JSON encoder writes it: shortest form, exponent only for very
/// small or very large magnitudes.
fn go_float(f: f64) -> String {
    let magnitude = f.abs();
    if magnitude != 0.0 && !(1e-6..1e21).contains(&magnitude) {
        let formatted = format!("{f:e}");
        match formatted.split_once('e') {
            Some((mantissa, exponent)) if !exponent.starts_with('-') => {
                format!("{mantissa}e+{exponent}")
            }
            _ => formatted,
        }
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::testutil::{fixture, res, Fixture};
    use serde_json::json;

    fn kustomization(yaml: &str) -> Kustomization {
        Kustomization::parse(yaml, "kustomization.yaml").expect("kustomization")
    }

    fn build(f: &Fixture, yaml: &str) -> Result<ResMap> {
        let mut generated = generate(&f.loader, &f.dir, &kustomization(yaml))?;
        add_hashes(&mut generated)?;
        Ok(generated)
    }

    fn names(map: &ResMap) -> Vec<String> {
        map.resources.iter().map(|r| r.name().to_owned()).collect()
    }

    // Every expected name below was printed by `kubectl kustomize` (v5.5.0) for the
    // same input.

    #[test]
    fn literal_names_ignore_the_name_and_match_kubectl() {
        let f = fixture::<&str>(&[]);
        let out = build(
            &f,
            "configMapGenerator:\n- name: a\n  literals: [x=1]\n- name: b\n  literals: [x=1]\n- name: e\nsecretGenerator:\n- name: s\n  literals: [x=1]\n- name: s2\n  type: kubernetes.io/tls\n  literals: [x=1]\n",
        )
        .expect("build");
        assert_eq!(
            names(&out),
            [
                "a-hmg6f82fh6",
                "b-hmg6f82fh6",
                "e-6ct58987ht",
                "s-bf2648c599",
                "s2-79cg2k2tfk"
            ]
        );
        assert_eq!(out.resources[0].obj["data"], json!({"x": "1"}));
        assert!(
            out.resources[2].obj.get("data").is_none(),
            "an empty ConfigMap has no data"
        );
        assert_eq!(out.resources[3].obj["data"], json!({"x": "MQ=="}));
        assert_eq!(out.resources[3].obj["type"], json!("Opaque"));
        assert_eq!(out.resources[4].obj["type"], json!("kubernetes.io/tls"));
    }

    #[test]
    fn env_files_literals_files_binary_and_options_match_kubectl() {
        let long = format!("{}\n<tag>&amp;\u{2028}\u{e9}\t\"q\"\\\n", "x".repeat(200));
        let f = fixture(&[
            (
                "app.env",
                &b"\xef\xbb\xbf# comment\n\n  A=1\nB= spaced value \r\nC\nD=x=y\n E=\"quoted\"\n"[..],
            ),
            ("bin.dat", &b"\x00\x01\x02\xff\xfe binary"[..]),
            ("long.txt", long.as_bytes()),
        ]);
        let out = build(
            &f,
            r#"
generatorOptions:
  labels: {g: global, both: global}
  annotations: {ga: "1"}
  immutable: true
configMapGenerator:
- name: env
  envs: [app.env]
  options:
    labels: {both: local}
- name: files
  files: [bin.dat, custom=long.txt]
  literals: ["q='single'", 'dq="double"', "mis=\"x'", "emp=", "sp= a b "]
secretGenerator:
- name: sec
  files: [long.txt, bin.dat]
- name: empty
- name: typed
  type: kubernetes.io/tls
  literals: [tls.crt=abc, tls.key=def]
  options: {disableNameSuffixHash: true}
"#,
        )
        .expect("build");
        assert_eq!(
            names(&out),
            [
                "env-4d565d46cg",
                "files-94dcbh77kf",
                "sec-fb844kb5fb",
                "empty-46f8b28mk5",
                "typed"
            ]
        );
        let env = &out.resources[0];
        assert_eq!(
            env.obj["data"],
            json!({"A": "1", "B": " spaced value ", "C": "", "D": "x=y", "E": "\"quoted\""})
        );
        assert_eq!(
            env.labels(),
            *json!({"both": "local", "g": "global"})
                .as_object()
                .expect("map")
        );
        assert_eq!(env.obj["immutable"], json!(true));
        let files = &out.resources[1];
        assert_eq!(
            files.obj["binaryData"],
            json!({"bin.dat": "AAEC//4gYmluYXJ5"})
        );
        assert_eq!(files.obj["data"]["q"], json!("single"));
        assert_eq!(files.obj["data"]["mis"], json!("\"x'"));
        assert_eq!(files.obj["data"]["custom"], json!(long));
        let secret_long = out.resources[2].obj["data"]["long.txt"]
            .as_str()
            .expect("str");
        assert!(
            secret_long.starts_with(&format!("{}\n", &"eHh4".repeat(18)[..70])),
            "{secret_long}"
        );
        assert!(secret_long.ends_with("O+KAqMOpCSJxIlwK\n"), "{secret_long}");
        assert_eq!(
            out.resources[3].obj["data"],
            json!({}),
            "a Secret always has data"
        );
        assert_eq!(
            out.resources[4].obj["data"],
            json!({"tls.crt": "YWJj", "tls.key": "ZGVm"})
        );
    }

    #[test]
    fn bad_entries_name_the_file_and_field() {
        let f = fixture(&[("a.env", b"A=1\n")]);
        let err = |yaml: &str| build(&f, yaml).expect_err("must fail").to_string();
        let e = err("configMapGenerator:\n- name: x\n  literals: [a=1]\n  envs: [a.env]\n- name: y\n  literals: [a=1, a=2]\n");
        assert_eq!(
            e,
            "kustomization.yaml: configMapGenerator[1].literals: configmap y illegally repeats the key `a`"
        );
        let e = err("configMapGenerator:\n- name: x\n  envs: [a.env]\n  files: [A=a.env]\n");
        assert!(
            e.contains("configMapGenerator[0].files: configmap x illegally repeats the key `A`"),
            "{e}"
        );
        let e = err("secretGenerator:\n- name: x\n  files: [nope.txt]\n");
        assert!(
            e.contains("secretGenerator[0].files: 'nope.txt': no such file or directory"),
            "{e}"
        );
        let e = err("configMapGenerator:\n- name: x\n  envs: [nope.env]\n");
        assert!(e.contains("configMapGenerator[0].envs: 'nope.env'"), "{e}");
        let e = err("configMapGenerator:\n- name: x\n  literals: [novalue]\n");
        assert!(
            e.ends_with("literals: invalid literal source novalue, expected key=value"),
            "{e}"
        );
        let e = err("configMapGenerator:\n- name: x\n  literals: ['=v']\n");
        assert!(
            e.ends_with("invalid literal source =v, expected key=value"),
            "{e}"
        );
        let e = err("configMapGenerator:\n- name: x\n  files: [a=b=c]\n");
        assert!(
            e.ends_with("source \"a=b=c\" key name or file path contains '='"),
            "{e}"
        );
        let e = err("configMapGenerator:\n- name: x\n  files: ['=a.env']\n");
        assert!(
            e.ends_with("missing key name for file path \"a.env\" in source \"=a.env\""),
            "{e}"
        );
        let e = err("configMapGenerator:\n- literals: [a=1]\n");
        assert!(
            e.contains("configMapGenerator[0].name: a configmap must have a name"),
            "{e}"
        );
        let e = err("configMapGenerator:\n- name: x\n  type: Opaque\n");
        assert!(e.contains("configMapGenerator[0].type"), "{e}");
    }

    #[test]
    fn files_outside_the_kustomization_are_refused() {
        let f = fixture::<&str>(&[]);
        let e = build(
            &f,
            "configMapGenerator:\n- name: x\n  files: [../../etc/passwd]\n",
        )
        .expect_err("outside")
        .to_string();
        assert!(e.contains("configMapGenerator[0].files"), "{e}");
    }

    #[test]
    fn file_keys_default_to_the_base_name() {
        assert_eq!(
            parse_file_source("dir/sub/app.conf"),
            Ok(("app.conf".into(), "dir/sub/app.conf".into()))
        );
        assert_eq!(
            parse_file_source("k=dir/app.conf"),
            Ok(("k".into(), "dir/app.conf".into()))
        );
    }

    #[test]
    fn unknown_behavior_is_create_and_create_collides() {
        let f = fixture::<&str>(&[]);
        let k = kustomization(
            "configMapGenerator:\n- name: x\n  behavior: bogus\n  literals: [a=1]\n- name: x\n  literals: [b=1]\n",
        );
        let generated = generate(&f.loader, &f.dir, &k).expect("generate");
        let mut resources = ResMap::new();
        let err = absorb(&mut resources, generated, "kustomization.yaml").expect_err("exists");
        assert_eq!(
            err.to_string(),
            "kustomization.yaml: configMapGenerator[1]: id ConfigMap.v1.[noGrp]/x.[noNs] exists; behavior must be merge or replace"
        );
        let k =
            kustomization("configMapGenerator:\n- name: x\n  behavior: merge\n  literals: [a=1]\n");
        let generated = generate(&f.loader, &f.dir, &k).expect("generate");
        let err = absorb(&mut ResMap::new(), generated, "kustomization.yaml").expect_err("missing");
        assert!(err.to_string().contains("configMapGenerator[0].behavior: id ConfigMap.v1.[noGrp]/x.[noNs] does not exist; cannot merge or replace"), "{err}");
    }

    /// base: `namespace: prod`, `namePrefix: b-`, a plain ConfigMap `plain` and
    /// generated `gen`, `nohash` (hash disabled) and Secret `sec`; overlay:
    /// `namePrefix: o-` and merge/replace generators for all four. kubectl prints
    /// `o-b-gen-fbcmkbc66h`, `o-b-nohash`, `o-b-plain` (merged, no hash, immutable
    /// gone) and `o-b-sec-t4kdc2dcbm` (type back to Opaque).
    #[test]
    fn merge_and_replace_in_an_overlay_match_kubectl() {
        let base_dir = fixture::<&str>(&[]);
        let base = kustomization(
            "configMapGenerator:\n- name: gen\n  literals: [a=1, b=2]\n  options:\n    labels: {l1: base}\n    annotations: {an: base}\n- name: nohash\n  literals: [a=1]\n  options: {disableNameSuffixHash: true}\nsecretGenerator:\n- name: sec\n  literals: [u=admin]\n  type: kubernetes.io/basic-auth\n",
        );
        let mut resources = ResMap::new();
        resources
            .append(
                res(json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "plain", "labels": {"x": "y"}},
                    "data": {"k": "v", "n": "5"}, "immutable": true})),
                "base/kustomization.yaml",
            )
            .expect("append");
        let generated = generate(&base_dir.loader, &base_dir.dir, &base).expect("generate");
        absorb(&mut resources, generated, "base/kustomization.yaml").expect("absorb");
        // What the base's namespace and namePrefix do to every resource.
        for r in &mut resources.resources {
            r.store_previous_id();
            r.set_namespace("prod");
            let name = format!("b-{}", r.name());
            r.set_name(&name);
        }

        let overlay = kustomization(
            "configMapGenerator:\n- name: gen\n  behavior: merge\n  literals: [b=3, c=4]\n  options:\n    labels: {l2: ov}\n- name: plain\n  behavior: merge\n  literals: [k=w]\n- name: nohash\n  behavior: replace\n  literals: [z=9]\nsecretGenerator:\n- name: sec\n  behavior: merge\n  literals: [p=pw]\n",
        );
        let generated = generate(&base_dir.loader, &base_dir.dir, &overlay).expect("generate");
        absorb(&mut resources, generated, "overlay/kustomization.yaml").expect("absorb");
        for r in &mut resources.resources {
            let name = format!("o-{}", r.name());
            r.set_name(&name);
        }
        add_hashes(&mut resources).expect("hashes");

        assert_eq!(
            names(&resources),
            [
                "o-b-plain",
                "o-b-gen-fbcmkbc66h",
                "o-b-nohash",
                "o-b-sec-t4kdc2dcbm"
            ],
            "merged objects keep their place"
        );
        let plain = &resources.resources[0];
        assert_eq!(plain.obj["data"], json!({"k": "w", "n": "5"}));
        assert!(plain.obj.get("immutable").is_none());
        assert_eq!(plain.namespace(), "prod");
        let gen = &resources.resources[1];
        assert_eq!(gen.obj["data"], json!({"a": "1", "b": "3", "c": "4"}));
        assert_eq!(
            gen.labels(),
            *json!({"l1": "base", "l2": "ov"}).as_object().expect("map")
        );
        assert_eq!(
            gen.annotations(),
            *json!({"an": "base"}).as_object().expect("map")
        );
        assert_eq!(resources.resources[2].obj["data"], json!({"z": "9"}));
        let sec = &resources.resources[3];
        assert_eq!(sec.obj["data"], json!({"p": "cHc=", "u": "YWRtaW4="}));
        assert_eq!(sec.obj["type"], json!("Opaque"));
        assert!(gen.matches_any_id(&crate::resid::ResId::new(
            crate::resid::Gvk::new("", "v1", "ConfigMap"),
            "gen",
            ""
        )));
    }

    #[test]
    fn go_json_escapes_like_go() {
        let mut out = String::new();
        write_go_json(
            &json!({"b": "<&>\u{2028}\u{1}\u{8}", "a": [1, 1.5, true, null]}),
            &mut out,
        );
        assert_eq!(
            out,
            r#"{"a":[1,1.5,true,null],"b":"\u003c\u0026\u003e\u2028\u0001\b"}"#
        );
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(1e-7), "1e-7");
    }

    #[test]
    fn base64_lines_break_at_seventy() {
        assert_eq!(encode_base64(b"1"), "MQ==");
        let exactly_seventy = encode_base64(&[0u8; 51]); // 68 chars: no break
        assert!(!exactly_seventy.contains('\n'));
        let broken = encode_base64(&[0u8; 54]); // 72 chars
        assert_eq!(broken.lines().map(str::len).collect::<Vec<_>>(), [70, 2]);
        assert!(broken.ends_with('\n'));
    }
}
