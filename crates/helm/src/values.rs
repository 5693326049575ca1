//! Helm's value coalescing (chart/common/util/coalesce.go), in its two modes:
//! *coalesce* (what an install renders with: a user `null` deletes a default and
//! the chart's own nulls are dropped) and *merge* (what dependency processing uses:
//! nulls are kept).
//!
//! Maps are [`MapRef`]s, shared and changed in place, as Go's maps are. The port
//! keeps Go's copies where Helm copies (deep where it uses copystructure, shallow
//! where it uses maps.Copy) and shares where Helm shares, because real charts see
//! the difference: a subchart's default globals reach the parent's nested global
//! tables through the shallow copy `coalesceGlobals` makes.

use std::collections::BTreeMap;

use ferroflux_gotemplate::sprig::deep_copy;
use ferroflux_gotemplate::{MapRef, Value};

use crate::chart::Chart;

/// Why values could not be coalesced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValuesError {
    /// A subchart's key holds something other than a map (Helm prints it with `%t`).
    #[error("type mismatch on {name}: {shown}")]
    TypeMismatch { name: String, shown: String },
}

const GLOBAL_KEY: &str = "global";

/// Helm's CoalesceValues: `values` (copied, not changed) over the defaults of
/// `chart` and of its subcharts, nulls deleting defaults.
pub fn coalesce_values(chart: &Chart, values: &Value) -> Result<MapRef, ValuesError> {
    let dest = copy_values(values);
    coalesce(chart, &dest, false)?;
    Ok(dest)
}

/// Helm's MergeValues: as [`coalesce_values`], nulls kept.
pub fn merge_values(chart: &Chart, values: &Value) -> Result<MapRef, ValuesError> {
    let dest = copy_values(values);
    coalesce(chart, &dest, true)?;
    Ok(dest)
}

/// Helm's CoalesceTables: `src` fills in what `dst` lacks; a null in `dst` deletes
/// the key where `src` has a value. Changes `dst` (and `src`) in place.
pub fn coalesce_tables(dst: &MapRef, src: &MapRef) {
    coalesce_tables_full(dst, src, false);
}

/// Helm's MergeTables: as [`coalesce_tables`], nulls kept.
pub fn merge_tables(dst: &MapRef, src: &MapRef) {
    coalesce_tables_full(dst, src, true);
}

fn copy_values(values: &Value) -> MapRef {
    match deep_copy(values) {
        Value::Map(map) => map,
        _ => MapRef::new(BTreeMap::new()),
    }
}

fn coalesce(chart: &Chart, dest: &MapRef, merge: bool) -> Result<(), ValuesError> {
    coalesce_own_values(chart, dest, merge);
    coalesce_dependencies(chart, dest, merge)
}

/// Each subchart's defaults under its key of `dest`, with the globals handed down.
fn coalesce_dependencies(chart: &Chart, dest: &MapRef, merge: bool) -> Result<(), ValuesError> {
    for sub in &chart.dependencies {
        let name = sub.name();
        let own = match dest.get(&name) {
            None => {
                let fresh = MapRef::new(BTreeMap::new());
                dest.insert(name.clone(), Value::Map(fresh.clone()));
                fresh
            }
            Some(Value::Map(map)) => map,
            Some(other) => {
                return Err(ValuesError::TypeMismatch {
                    shown: ferroflux_gotemplate::gofmt::sprintf("%t", &[other]),
                    name,
                })
            }
        };
        coalesce_globals(&own, dest);
        coalesce(sub, &own, merge)?;
    }
    Ok(())
}

/// Helm's coalesceGlobals: the parent's `global` table merged into the subchart's,
/// the parent's entries winning. Each parent table is copied one level deep only.
fn coalesce_globals(dest: &MapRef, src: &MapRef) {
    let dest_globals = match dest.get(GLOBAL_KEY) {
        None => MapRef::new(BTreeMap::new()),
        Some(Value::Map(map)) => map,
        // Helm warns and skips globals that are not tables.
        Some(_) => return,
    };
    let src_globals = match src.get(GLOBAL_KEY) {
        None => MapRef::new(BTreeMap::new()),
        Some(Value::Map(map)) => map,
        Some(_) => return,
    };
    for (key, value) in src_globals.entries() {
        match (&value, dest_globals.get(&key)) {
            (Value::Map(table), None) => {
                dest_globals.insert(key, Value::Map(MapRef::new(table.snapshot())));
            }
            (Value::Map(table), Some(Value::Map(existing))) => {
                let copy = MapRef::new(table.snapshot());
                coalesce_tables_full(&copy, &existing, true);
                dest_globals.insert(key, Value::Map(copy));
            }
            // "cannot merge map onto non-map": skipped.
            (Value::Map(_), Some(_)) => {}
            // "key is table": skipped.
            (_, Some(Value::Map(_))) => {}
            (_, _) => dest_globals.insert(key, value),
        }
    }
    dest.insert(GLOBAL_KEY, Value::Map(dest_globals));
}

/// Helm's coalesceValues: the chart's own defaults (a fresh copy) under `values`.
fn coalesce_own_values(chart: &Chart, values: &MapRef, merge: bool) {
    let Value::Map(defaults) = deep_copy(&chart.values) else {
        return;
    };
    for (key, default) in defaults.entries() {
        match values.get(&key) {
            Some(Value::Nil) if !merge => {
                values.remove(&key);
            }
            Some(Value::Map(dest)) => {
                let Value::Map(src) = default else {
                    // Helm warns that the default is not a table and keeps the user's.
                    continue;
                };
                // A subchart's section is always merged: its nulls must reach the
                // subchart, where its own coalesce deletes the defaults they name.
                let merge = merge || chart.dependencies.iter().any(|d| d.name() == key);
                if !merge {
                    clean_nil_values(&src);
                }
                coalesce_tables_full(&dest, &src, merge);
            }
            Some(_) => {}
            None => {
                if !merge {
                    match &default {
                        Value::Nil => continue,
                        Value::Map(sub) => clean_nil_values(sub),
                        _ => {}
                    }
                }
                values.insert(key, default);
            }
        }
    }
}

/// Helm's coalesceTablesFullKey.
fn coalesce_tables_full(dst: &MapRef, src: &MapRef, merge: bool) {
    let src_non_nil: Vec<String> = src
        .entries()
        .into_iter()
        .filter(|(_, v)| !matches!(v, Value::Nil))
        .map(|(k, _)| k)
        .collect();
    // A null in dst is copied into src so the loop below sees the key.
    for (key, value) in dst.entries() {
        if matches!(value, Value::Nil) {
            src.insert(key, Value::Nil);
        }
    }
    for (key, value) in src.entries() {
        match dst.get(&key) {
            Some(Value::Nil) if !merge && src_non_nil.contains(&key) => {
                dst.remove(&key);
            }
            None => dst.insert(key, value),
            Some(Value::Map(inner)) => {
                if let Value::Map(from) = &value {
                    coalesce_tables_full(&inner, from, merge);
                }
                // A table overwritten by a non-table is refused (Helm warns).
            }
            Some(_) => {}
        }
    }
}

/// Helm's cleanNilValues: nulls removed, at every depth.
fn clean_nil_values(map: &MapRef) {
    for (key, value) in map.entries() {
        match value {
            Value::Nil => {
                map.remove(&key);
            }
            Value::Map(sub) => clean_nil_values(&sub),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn chart(values: &str, dependencies: Vec<Chart>, name: &str) -> Chart {
        Chart {
            metadata: yaml::unmarshal(&format!("name: {name}\nversion: 1.0.0\n")).unwrap(),
            values: yaml::unmarshal(values).unwrap(),
            dependencies,
            ..Chart::default()
        }
    }

    fn json(map: &MapRef) -> String {
        to_json(&Value::Map(map.clone()))
    }

    fn to_json(value: &Value) -> String {
        ferroflux_gotemplate::gojson::marshal(value, false).expect("JSON")
    }

    #[test]
    fn a_user_null_deletes_a_default_and_the_charts_nulls_are_dropped() {
        let c = chart("a: 1\nb: {x: 1, y: null}\nc: null\n", vec![], "top");
        let user = yaml::unmarshal("a: null\nb: {x: null, z: 2}\nd: null\n").unwrap();
        let got = coalesce_values(&c, &user).unwrap();
        assert_eq!(json(&got), r#"{"b":{"z":2},"d":null}"#);
    }

    #[test]
    fn merging_keeps_nulls() {
        let c = chart("a: 1\nb: {x: 1, w: null}\n", vec![], "top");
        let user = yaml::unmarshal("a: null\nb: {x: null}\n").unwrap();
        let got = merge_values(&c, &user).unwrap();
        assert_eq!(json(&got), r#"{"a":null,"b":{"w":null,"x":null}}"#);
    }

    #[test]
    fn a_subchart_gets_its_defaults_the_parents_section_and_the_globals() {
        let sub = chart("port: 80\nname: sub\nglobal: {g2: s}\n", vec![], "sub");
        let c = chart(
            "global: {g1: top}\nsub: {port: 8080, name: null}\n",
            vec![sub],
            "top",
        );
        let got = coalesce_values(&c, &Value::map(BTreeMap::new())).unwrap();
        // The parent's own null for the subchart is dropped before the subchart sees it.
        assert_eq!(
            json(&got),
            r#"{"global":{"g1":"top"},"sub":{"global":{"g1":"top","g2":"s"},"name":"sub","port":8080}}"#
        );
        // A user's null for a subchart key reaches the subchart and deletes its default.
        let user = yaml::unmarshal("sub: {name: null}\n").unwrap();
        let got = coalesce_values(&c, &user).unwrap();
        assert_eq!(
            json(&got),
            r#"{"global":{"g1":"top"},"sub":{"global":{"g1":"top","g2":"s"},"port":8080}}"#
        );
    }

    #[test]
    fn a_subchart_key_that_is_not_a_map_is_a_type_mismatch() {
        let sub = chart("port: 80\n", vec![], "sub");
        let c = chart("", vec![sub], "top");
        let user = yaml::unmarshal("sub: text\n").unwrap();
        assert_eq!(
            coalesce_values(&c, &user).unwrap_err().to_string(),
            "type mismatch on sub: %!t(string=text)"
        );
    }

    #[test]
    fn a_table_is_not_overwritten_by_a_scalar_default_nor_the_reverse() {
        let c = chart("a: {x: 1}\nb: 2\n", vec![], "top");
        let user = yaml::unmarshal("a: 5\nb: {w: 1}\n").unwrap();
        let got = coalesce_values(&c, &user).unwrap();
        assert_eq!(json(&got), r#"{"a":5,"b":{"w":1}}"#);
    }

    #[test]
    fn coalescing_does_not_change_the_callers_values_or_the_chart() {
        let c = chart("a: {x: 1}\n", vec![], "top");
        let user = yaml::unmarshal("a: {w: 2}\n").unwrap();
        coalesce_values(&c, &user).unwrap();
        assert_eq!(to_json(&user), r#"{"a":{"w":2}}"#);
        assert_eq!(to_json(&c.values), r#"{"a":{"x":1}}"#);
    }
}
