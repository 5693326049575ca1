//! Helm's dependency processing (chart/v2/util/dependencies.go), run before every
//! install or template: Chart.yaml's `dependencies` decide which subcharts take
//! part (aliases copy a subchart under another name, `tags` and `condition`
//! switch them off), and `import-values` lift a subchart's values into its parent.
//!
//! The chart given is never changed: the result is a new chart whose subcharts
//! and Chart.yaml dependency list are the processed ones, so one loaded chart can
//! be rendered again and again with other values.

use std::collections::{BTreeMap, BTreeSet};

use ferroflux_gotemplate::sprig::deep_copy;
use ferroflux_gotemplate::{MapRef, Value};

use crate::chart::Chart;
use crate::values::{self, ValuesError};

/// Why a chart's dependencies do not line up with its `charts/` directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DependencyError {
    #[error("found in Chart.yaml, but missing in charts/ directory: {}", .0.join(", "))]
    Missing(Vec<String>),
}

/// One entry of Chart.yaml's `dependencies`, as a map shared with the processed
/// chart's metadata (so changing it changes what `.Chart.Dependencies` shows).
struct Requirement(MapRef);

impl Requirement {
    fn text(&self, key: &str) -> String {
        self.0
            .get(key)
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
    fn name(&self) -> String {
        self.text("name")
    }
    fn enabled(&self) -> bool {
        matches!(self.0.get("enabled"), Some(Value::Bool(true)))
    }
    fn set_enabled(&self, enabled: bool) {
        self.0.insert("enabled", Value::Bool(enabled));
    }
    fn tags(&self) -> Vec<String> {
        match self.0.get("tags") {
            Some(Value::List(items)) => items
                .iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    }
    fn import_values(&self) -> Vec<Value> {
        match self.0.get("import-values") {
            Some(Value::List(items)) => items.to_vec(),
            _ => Vec::new(),
        }
    }
}

/// The requirements of `chart` (fresh copies), or None when Chart.yaml has no
/// `dependencies` key at all (Helm then skips processing; an empty list does not).
fn requirements(chart: &Chart) -> Option<Vec<Requirement>> {
    let Value::Map(meta) = &chart.metadata else {
        return None;
    };
    match meta.get("dependencies") {
        None | Some(Value::Nil) => None,
        Some(Value::List(items)) => Some(
            items
                .iter()
                .filter_map(|item| match deep_copy(item) {
                    Value::Map(map) => Some(Requirement(map)),
                    _ => None,
                })
                .collect(),
        ),
        Some(_) => Some(Vec::new()),
    }
}

/// A copy of `chart` whose Chart.yaml is its own (not shared with `chart`), with
/// `dependencies` replaced by `requirements` when given.
fn with_metadata(chart: &Chart, name: Option<&str>, reqs: Option<&[Requirement]>) -> Chart {
    let meta = match deep_copy(&chart.metadata) {
        Value::Map(map) => map,
        _ => MapRef::new(BTreeMap::new()),
    };
    if let Some(name) = name {
        meta.insert("name", Value::from(name));
    }
    if let Some(reqs) = reqs {
        meta.insert(
            "dependencies",
            Value::list(reqs.iter().map(|r| Value::Map(r.0.clone())).collect()),
        );
    }
    Chart {
        metadata: Value::Map(meta),
        ..chart.clone()
    }
}

/// Helm's IsCompatibleRange: whether `version` satisfies the constraint; anything
/// unparsable is not compatible.
pub fn is_compatible_range(constraint: &str, version: &str) -> bool {
    ferroflux_gotemplate::semver::semver_compare(constraint, version).unwrap_or(false)
}

/// Helm's CheckDependencies: every Chart.yaml dependency has its chart in `charts/`.
pub fn check_dependencies(chart: &Chart) -> Result<(), DependencyError> {
    let Some(reqs) = requirements(chart) else {
        return Ok(());
    };
    let present: BTreeSet<String> = chart.dependencies.iter().map(Chart::name).collect();
    let missing: Vec<String> = reqs
        .iter()
        .map(Requirement::name)
        .filter(|name| !present.contains(name))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(DependencyError::Missing(missing))
    }
}

/// Helm's ProcessDependencies: the chart with only its enabled subcharts (aliases
/// applied), and import-values merged into each chart's values.
pub fn process_dependencies(chart: &Chart, values: &Value) -> Result<Chart, ValuesError> {
    let values = match values {
        Value::Map(_) => values.clone(),
        _ => Value::map(BTreeMap::new()),
    };
    let enabled = process_enabled(chart, &values, "")?;
    process_import_values(&enabled)
}

fn process_enabled(chart: &Chart, values: &Value, path: &str) -> Result<Chart, ValuesError> {
    let Some(reqs) = requirements(chart) else {
        return Ok(chart.clone());
    };
    // Subcharts no requirement names (by name and a compatible version) stay as
    // they are; each requirement gets its own copy, under its alias.
    let mut subcharts: Vec<Chart> = chart
        .dependencies
        .iter()
        .filter(|existing| {
            !reqs.iter().any(|req| {
                existing.name() == req.name()
                    && is_compatible_range(&req.text("version"), &existing.version())
            })
        })
        .cloned()
        .collect();
    for req in &reqs {
        let alias = req.text("alias");
        let found = chart.dependencies.iter().find(|c| {
            c.name() == req.name() && is_compatible_range(&req.text("version"), &c.version())
        });
        if let Some(found) = found {
            let name = (!alias.is_empty()).then_some(alias.as_str());
            subcharts.push(with_metadata(found, name, None));
        }
        if !alias.is_empty() {
            req.0.insert("name", Value::from(alias));
        }
    }
    for req in &reqs {
        req.set_enabled(true);
    }
    let this = Chart {
        dependencies: subcharts,
        ..with_metadata(chart, None, Some(&reqs))
    };
    let coalesced = values::coalesce_values(&this, values)?;
    apply_tags(&reqs, &coalesced);
    apply_conditions(&reqs, &coalesced, path);

    let disabled: BTreeSet<String> = reqs
        .iter()
        .filter(|r| !r.enabled())
        .map(Requirement::name)
        .collect();
    let coalesced = Value::Map(coalesced);
    let mut kept = Vec::new();
    for sub in this
        .dependencies
        .iter()
        .filter(|c| !disabled.contains(&c.name()))
    {
        let sub_path = format!("{path}{}.", sub.name());
        kept.push(process_enabled(sub, &coalesced, &sub_path)?);
    }
    let kept_reqs: Vec<Requirement> = reqs
        .into_iter()
        .filter(|r| !disabled.contains(&r.name()))
        .collect();
    Ok(Chart {
        dependencies: kept,
        ..with_metadata(&this, None, Some(&kept_reqs))
    })
}

/// Helm's processDependencyTags: a requirement is off when one of its tags is
/// false in `tags:` and none is true.
fn apply_tags(reqs: &[Requirement], values: &MapRef) {
    let Ok(tags) = table(values, "tags") else {
        return;
    };
    for req in reqs {
        let (mut any_true, mut any_false) = (false, false);
        for tag in req.tags() {
            match tags.get(&tag) {
                Some(Value::Bool(true)) => any_true = true,
                Some(Value::Bool(false)) => any_false = true,
                // Helm warns about a tag that is not a bool, and ignores it.
                _ => {}
            }
        }
        req.set_enabled(any_true || !any_false);
    }
}

/// Helm's processDependencyConditions: the first of the comma-separated paths
/// that holds a bool decides (paths relative to where the chart sits).
fn apply_conditions(reqs: &[Requirement], values: &MapRef, path: &str) {
    for req in reqs {
        for condition in req.text("condition").trim().split(',') {
            if condition.is_empty() {
                continue;
            }
            if let Some(Value::Bool(on)) = path_value(values, &format!("{path}{condition}")) {
                req.set_enabled(on);
                break;
            }
        }
    }
}

/// Helm's Values.Table: the table at a dotted path.
fn table(values: &MapRef, path: &str) -> Result<MapRef, ()> {
    let mut current = values.clone();
    for part in path.split('.') {
        match current.get(part) {
            Some(Value::Map(next)) => current = next,
            _ => return Err(()),
        }
    }
    Ok(current)
}

/// Helm's Values.PathValue: the non-table value at a dotted path.
fn path_value(values: &MapRef, path: &str) -> Option<Value> {
    let (parent, key) = match path.rsplit_once('.') {
        Some((parent, key)) => (table(values, parent).ok()?, key),
        None => (values.clone(), path),
    };
    match parent.get(key) {
        Some(Value::Map(_)) | None => None,
        Some(value) => Some(value),
    }
}

/// Helm's processDependencyImportValues: children first, then each chart's
/// `import-values` lifted out of its subcharts' (merged) values into its own.
fn process_import_values(chart: &Chart) -> Result<Chart, ValuesError> {
    let mut children = Vec::with_capacity(chart.dependencies.len());
    for sub in &chart.dependencies {
        children.push(process_import_values(sub)?);
    }
    let chart = Chart {
        dependencies: children,
        ..chart.clone()
    };
    let Some(reqs) = requirements(&chart) else {
        return Ok(chart);
    };
    let merged = values::merge_values(&chart, &Value::map(BTreeMap::new()))?;
    let imported = MapRef::new(BTreeMap::new());
    for req in &reqs {
        let mut normalized = Vec::new();
        for import in req.import_values() {
            let (child, parent) = match &import {
                Value::Map(map) => {
                    let field = |key: &str| {
                        ferroflux_gotemplate::gofmt::sprintf(
                            "%v",
                            &[map.get(key).unwrap_or(Value::Nil)],
                        )
                    };
                    (field("child"), field("parent"))
                }
                Value::String(name) => (format!("exports.{name}"), ".".to_owned()),
                // Helm ignores entries of other types (and drops them from the list).
                _ => continue,
            };
            let mut entry = BTreeMap::new();
            entry.insert("child".to_owned(), Value::from(child.as_str()));
            entry.insert("parent".to_owned(), Value::from(parent.as_str()));
            normalized.push(Value::map(entry));
            let Ok(found) = table(&merged, &format!("{}.{child}", req.name())) else {
                // Helm warns that the table is missing and goes on.
                continue;
            };
            values::merge_tables(&imported, &path_to_map(&parent, found));
        }
        // Helm replaces the list with the normalized one (nil when empty).
        if normalized.is_empty() {
            req.0.remove("import-values");
        } else {
            req.0.insert("import-values", Value::list(normalized));
        }
    }
    let own = match deep_copy(&Value::Map(merged)) {
        Value::Map(map) => map,
        _ => MapRef::new(BTreeMap::new()),
    };
    values::merge_tables(&own, &imported);
    Ok(Chart {
        values: Value::Map(own),
        ..with_metadata(&chart, None, Some(&reqs))
    })
}

/// Helm's pathToMap: `data` nested under the dotted `path` (`.` is the top).
fn path_to_map(path: &str, data: MapRef) -> MapRef {
    if path == "." {
        return data;
    }
    let mut current = data;
    for part in path.split('.').rev() {
        let mut wrapper = BTreeMap::new();
        wrapper.insert(part.to_owned(), Value::Map(current));
        current = MapRef::new(wrapper);
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn chart(meta: &str, values: &str, dependencies: Vec<Chart>) -> Chart {
        Chart {
            metadata: yaml::unmarshal(meta).unwrap(),
            values: yaml::unmarshal(values).unwrap(),
            dependencies,
            ..Chart::default()
        }
    }

    fn names(chart: &Chart) -> Vec<String> {
        chart.dependencies.iter().map(Chart::name).collect()
    }

    fn json(value: &Value) -> String {
        ferroflux_gotemplate::gojson::marshal(value, false).expect("JSON")
    }

    fn parent(deps: &str, values: &str) -> Chart {
        chart(
            &format!("name: top\nversion: 1.0.0\ndependencies:\n{deps}"),
            values,
            vec![
                chart(
                    "name: db\nversion: 1.2.3\n",
                    "port: 5432\nexports: {conn: {url: x}}\n",
                    vec![],
                ),
                chart("name: cache\nversion: 2.0.0\n", "size: 1\n", vec![]),
            ],
        )
    }

    #[test]
    fn conditions_switch_subcharts_off_and_the_first_bool_wins() {
        let c = parent(
            "- {name: db, version: ^1.0.0, condition: 'missing.on,db.enabled,cache.enabled'}\n- {name: cache, version: 2.0.0, condition: cache.enabled}\n",
            "db: {enabled: false}\ncache: {enabled: true}\n",
        );
        let got = process_dependencies(&c, &Value::map(BTreeMap::new())).unwrap();
        assert_eq!(names(&got), ["cache"]);
        let user = yaml::unmarshal("db: {enabled: true}\ncache: {enabled: false}\n").unwrap();
        let got = process_dependencies(&c, &user).unwrap();
        assert_eq!(names(&got), ["db"]);
        // The given chart is left as it was.
        assert_eq!(names(&c), ["db", "cache"]);
    }

    #[test]
    fn tags_disable_only_when_none_is_true() {
        let c = parent(
            "- {name: db, version: 1.2.3, tags: [backend, storage]}\n- {name: cache, version: 2.0.0, tags: [backend]}\n",
            "tags: {backend: false, storage: true}\n",
        );
        let got = process_dependencies(&c, &Value::map(BTreeMap::new())).unwrap();
        assert_eq!(names(&got), ["db"]);
    }

    #[test]
    fn an_alias_is_a_renamed_copy_and_an_incompatible_version_keeps_the_original() {
        let c = parent(
            "- {name: db, version: 1.x, alias: primary}\n- {name: db, version: 1.x, alias: replica}\n- {name: cache, version: ^3.0.0}\n",
            "",
        );
        let got = process_dependencies(&c, &Value::map(BTreeMap::new())).unwrap();
        assert_eq!(names(&got), ["cache", "primary", "replica"]);
        let Value::Map(meta) = &got.metadata else {
            panic!("metadata")
        };
        assert_eq!(
            json(&meta.get("dependencies").unwrap()),
            r#"[{"alias":"primary","enabled":true,"name":"primary","version":"1.x"},{"alias":"replica","enabled":true,"name":"replica","version":"1.x"},{"enabled":true,"name":"cache","version":"^3.0.0"}]"#
        );
    }

    #[test]
    fn import_values_lift_exports_and_child_tables_under_the_parents_values() {
        let c = parent(
            "- {name: db, version: 1.2.3, import-values: [conn, {child: port, parent: ignored}, {child: exports.conn, parent: imported.db}]}\n",
            "url: parent-wins\n",
        );
        let got = process_dependencies(&c, &Value::map(BTreeMap::new())).unwrap();
        let Value::Map(values) = &got.values else {
            panic!("values")
        };
        // `port` is not a table, so it imports nothing; the parent's own `url` wins.
        assert_eq!(
            values.get("url").map(|v| json(&v)),
            Some(r#""parent-wins""#.into())
        );
        assert_eq!(
            json(&values.get("imported").unwrap()),
            r#"{"db":{"url":"x"}}"#
        );
        let Value::Map(meta) = &got.metadata else {
            panic!("metadata")
        };
        assert_eq!(
            json(&meta.get("dependencies").unwrap()),
            r#"[{"enabled":true,"import-values":[{"child":"exports.conn","parent":"."},{"child":"port","parent":"ignored"},{"child":"exports.conn","parent":"imported.db"}],"name":"db","version":"1.2.3"}]"#
        );
    }

    #[test]
    fn missing_subcharts_are_named() {
        let c = chart(
            "name: top\nversion: 1.0.0\ndependencies: [{name: db, version: 1.0.0}, {name: mq, version: 1.0.0}, {name: cache}]\n",
            "",
            vec![chart("name: cache\nversion: 2.0.0\n", "", vec![])],
        );
        assert_eq!(
            check_dependencies(&c).unwrap_err().to_string(),
            "found in Chart.yaml, but missing in charts/ directory: db, mq"
        );
    }
}
