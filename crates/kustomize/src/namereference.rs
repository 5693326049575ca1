//! Name references: after renames (prefix, suffix, namespace, hash), fields that
//! referred to a resource by an earlier name are updated to its current name, as
//! kustomize's NameReferenceTransformer does at the end of a build.
//!
//! For every referral kind and every referrer field (see `fieldspecs_builtin`), the
//! value in the field is an earlier name of some resource of the build. Which one is
//! decided by kustomize's sieve, reproduced step by step in [`Referrer::select`]:
//! earlier name, kind, `roleRef` kind, namespace, then the prefixes and suffixes of
//! the kustomizations both went through. Several distinct survivors are an error.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::error::{KustomizeError, Result};
use crate::fieldspec::{apply_fieldspec, FieldSpec, NameBackReference};
use crate::resid::{Gvk, ResId, NOT_A_NAMESPACE};
use crate::resource::{ResMap, Resource};

use crate::sort::{DEFAULT_FIRST as ORDER_FIRST, DEFAULT_LAST as ORDER_LAST};

fn kind_rank(kind: &str) -> i64 {
    if let Some(i) = ORDER_FIRST.iter().position(|k| *k == kind) {
        return i as i64 - ORDER_FIRST.len() as i64;
    }
    if let Some(i) = ORDER_LAST.iter().position(|k| *k == kind) {
        return i as i64 + 1;
    }
    0
}

/// kyaml's stable sort string: `group_version_kind` with `~G`, `~V`, `~K` for blanks.
fn stable_sort_string(gvk: &Gvk) -> String {
    let or = |s: &str, blank: &'static str| {
        if s.is_empty() {
            blank.to_owned()
        } else {
            s.to_owned()
        }
    };
    format!(
        "{}_{}_{}",
        or(&gvk.group, "~G"),
        or(&gvk.version, "~V"),
        or(&gvk.kind, "~K")
    )
}

/// kustomize's Gvk ordering (IsLessThan), used to sort configuration entries.
pub(crate) fn compare_gvk(a: &Gvk, b: &Gvk) -> Ordering {
    kind_rank(&a.kind)
        .cmp(&kind_rank(&b.kind))
        .then_with(|| stable_sort_string(a).cmp(&stable_sort_string(b)))
}

/// Sorts name references the way kustomize sorts its configuration after every
/// merge. The order decides which referral kind gets to rewrite a field first.
pub(crate) fn sort_backrefs(backrefs: &mut [NameBackReference]) {
    backrefs.sort_by(|a, b| compare_gvk(&a.gvk(), &b.gvk()));
}

/// What the sieve needs to know of one resource, as it was when fixing started
/// (refreshed for a referrer after its own fields change).
struct View {
    cur: ResId,
    /// Earlier ids, oldest first. As in kustomize, their group and version are the
    /// resource's current ones (only names, namespaces and kinds are remembered).
    prev: Vec<ResId>,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
}

impl View {
    fn of(resource: &Resource) -> Self {
        let cur = resource.cur_id();
        let prev = resource
            .prev_ids()
            .iter()
            .map(|id| {
                let gvk = Gvk::new(&cur.gvk.group, &cur.gvk.version, &id.gvk.kind);
                ResId::new(gvk, &id.name, &id.namespace)
            })
            .collect();
        Self {
            cur,
            prev,
            prefixes: resource.name_prefixes.clone(),
            suffixes: resource.name_suffixes.clone(),
        }
    }

    fn org(&self) -> &ResId {
        self.prev.first().unwrap_or(&self.cur)
    }

    fn is_cluster_scoped(&self) -> bool {
        self.cur.gvk.is_cluster_scoped()
    }
}

/// Whether the shorter list is the tail of the longer one (two empty lists match;
/// an empty list matches no non-empty one). Prefixes are recorded innermost first,
/// so this asks whether both went through the same outer kustomizations.
fn same_ending(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.is_empty() {
        return long.is_empty();
    }
    long.ends_with(short)
}

/// kustomize's PrefixesSuffixesEquals; with `allow_empty`, a side without any
/// prefixes (or suffixes) matches anything.
fn affixes_match(candidate: &View, referrer: &View, allow_empty: bool) -> bool {
    let matches = |a: &[String], b: &[String]| {
        (allow_empty && (a.is_empty() || b.is_empty())) || same_ending(a, b)
    };
    matches(&candidate.prefixes, &referrer.prefixes)
        && matches(&candidate.suffixes, &referrer.suffixes)
}

/// The text of a scalar node as YAML would give it.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        Value::Object(_) | Value::Array(_) => None,
    }
}

/// One referrer field being fixed: the referrer, the kind referred to, and the
/// resources that could be referred to from it.
struct Referrer<'a> {
    views: &'a [View],
    index: usize,
    target: Gvk,
    /// The `roleRef` kind, when fixing `roleRef/name`: only a Role may stand for a
    /// Role, even if a ClusterRole once had the same name.
    role_ref: Option<Gvk>,
    candidates: &'a [usize],
    /// Referrals found, to be recorded on them (`ref_by`) afterwards.
    found: Vec<usize>,
}

/// Whether two candidates would give the same result, so either may be taken.
#[derive(Clone, Copy)]
enum Sameness {
    Name,
    NameAndNamespace,
}

impl Referrer<'_> {
    fn view(&self) -> &View {
        &self.views[self.index]
    }

    fn ids(&self, candidates: &[usize]) -> String {
        candidates
            .iter()
            .map(|&c| kustomize_id(&self.views[c].cur))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The value found at the field path: a name, a map with name (and namespace),
    /// or a list of either.
    fn set(&mut self, node: &mut Value) -> Result<()> {
        match node {
            Value::Null => Ok(()),
            Value::Object(map) => self.set_mapping(map),
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::Null => {}
                        Value::Object(map) => self.set_mapping(map)?,
                        Value::Array(_) => {
                            return Err(KustomizeError::transform(
                                "a list item is expected to be either a string or a map of string",
                            ))
                        }
                        scalar => self.set_scalar(scalar)?,
                    }
                }
                Ok(())
            }
            scalar => self.set_scalar(scalar),
        }
    }

    fn set_scalar(&mut self, node: &mut Value) -> Result<()> {
        let old = scalar_text(node).unwrap_or_default();
        let candidates = self.candidates.to_vec();
        let Some(referral) = self.select(&old, candidates, Sameness::Name)? else {
            return Ok(());
        };
        self.found.push(referral);
        let name = &self.views[referral].cur.name;
        if *name != old {
            *node = Value::String(name.clone());
        }
        Ok(())
    }

    /// A map holding `name` and maybe `namespace` (binding subjects, webhook
    /// services): both are taken from the referral.
    fn set_mapping(&mut self, map: &mut Map<String, Value>) -> Result<()> {
        let Some(name) = map.get("name") else {
            return Err(KustomizeError::transform(
                "path config error; no 'name' field in node",
            ));
        };
        let old = scalar_text(name).unwrap_or_default();
        let candidates = match map.get("namespace") {
            None => self.candidates.to_vec(),
            Some(namespace) => self.in_namespace(&scalar_text(namespace).unwrap_or_default()),
        };
        let Some(referral) = self.select(&old, candidates, Sameness::NameAndNamespace)? else {
            return Ok(());
        };
        self.found.push(referral);
        let cur = &self.views[referral].cur;
        if cur.name == old && cur.namespace.is_empty() {
            return Ok(());
        }
        map.insert("name".into(), Value::String(cur.name.clone()));
        // An empty namespace is a wildcard here, not `default`: leave the field be.
        if !cur.namespace.is_empty() {
            map.insert("namespace".into(), Value::String(cur.namespace.clone()));
        }
        Ok(())
    }

    /// Candidates in `namespace`: those that started there if any did, otherwise
    /// those there now. Cluster-scoped ones are never in a namespace.
    fn in_namespace(&self, namespace: &str) -> Vec<usize> {
        if namespace == NOT_A_NAMESPACE {
            return Vec::new();
        }
        let pick = |ns_of: &dyn Fn(&View) -> &str| -> Vec<usize> {
            self.candidates
                .iter()
                .copied()
                .filter(|&c| ns_of(&self.views[c]) == namespace)
                .collect()
        };
        let original = pick(&|v: &View| v.org().effective_namespace());
        if !original.is_empty() {
            return original;
        }
        pick(&|v: &View| v.cur.effective_namespace())
    }

    /// kustomize's selectReferral.
    fn select(
        &self,
        old: &str,
        mut candidates: Vec<usize>,
        sameness: Sameness,
    ) -> Result<Option<usize>> {
        let views = self.views;
        let referrer = self.view();
        // Only resources that were renamed (or moved) can be referred to by an
        // earlier name; one never renamed needs no fixing.
        candidates.retain(|&c| views[c].prev.iter().any(|id| id.name == old));
        candidates.retain(|&c| {
            views[c]
                .prev
                .iter()
                .any(|id| id.gvk.is_selected_by(&self.target))
        });
        if let Some(role_ref) = &self.role_ref {
            candidates.retain(|&c| {
                views[c]
                    .prev
                    .iter()
                    .any(|id| id.gvk.is_selected_by(role_ref))
            });
        }
        if !referrer.is_cluster_scoped() {
            // A RoleBinding may name a ServiceAccount of another namespace; other
            // namespaced referrals must share the referrer's namespace.
            candidates.retain(|&c| {
                let candidate = &views[c];
                candidate.is_cluster_scoped()
                    || candidate.cur.gvk.kind == "ServiceAccount"
                    || candidate.cur.ns_equals(&referrer.cur)
            });
        }
        if candidates.len() == 1 {
            return Ok(Some(candidates[0]));
        }
        candidates.retain(|&c| affixes_match(&views[c], referrer, true));
        if candidates.len() > 1 {
            candidates.retain(|&c| affixes_match(&views[c], referrer, false));
        }
        match candidates.as_slice() {
            [] => Ok(None),
            [only] => Ok(Some(*only)),
            [first, rest @ ..] => {
                let same = |c: &usize| {
                    let (a, b) = (&views[*first].cur, &views[*c].cur);
                    a.name == b.name
                        && match sameness {
                            Sameness::Name => true,
                            Sameness::NameAndNamespace => a.namespace == b.namespace,
                        }
                };
                if rest.iter().all(same) {
                    Ok(Some(*first))
                } else {
                    Err(KustomizeError::transform(format!(
                        "found multiple possible referrals: {}",
                        self.ids(&candidates)
                    )))
                }
            }
        }
    }
}

/// A resource id as kustomize prints it in this error (`[noGrp]` for the core group).
fn kustomize_id(id: &ResId) -> String {
    let or = |s: &str, blank: &'static str| {
        if s.is_empty() {
            blank.to_owned()
        } else {
            s.to_owned()
        }
    };
    format!(
        "{}.{}.{}/{}.{}",
        or(&id.gvk.kind, "[noKind]"),
        or(&id.gvk.version, "[noVer]"),
        or(&id.gvk.group, "[noGrp]"),
        or(&id.name, "[noName]"),
        or(&id.namespace, "[noNs]")
    )
}

/// The `roleRef` kind of a binding, if it names both group and kind.
fn role_ref_gvk(resource: &Resource) -> Option<Gvk> {
    let role_ref = resource.obj.get("roleRef")?;
    let group = role_ref.get("apiGroup")?;
    let kind = role_ref.get("kind")?;
    Some(Gvk::new(
        &scalar_text(group).unwrap_or_default(),
        "",
        &scalar_text(kind).unwrap_or_default(),
    ))
}

/// Namespaces of the ServiceAccounts a RoleBinding names: resources there may be
/// referred to from it although they are in another namespace.
fn role_binding_namespaces(resource: &Resource, id: &ResId) -> Result<BTreeSet<String>> {
    let mut namespaces = BTreeSet::new();
    if resource.kind() != "RoleBinding" {
        return Ok(namespaces);
    }
    let Some(Value::Array(subjects)) = resource.obj.get("subjects") else {
        return Ok(namespaces);
    };
    for subject in subjects.iter().filter_map(Value::as_object) {
        let (Some(namespace), Some(kind)) = (subject.get("namespace"), subject.get("kind")) else {
            continue;
        };
        if kind.as_str() != Some("ServiceAccount") {
            continue;
        }
        match namespace.as_str() {
            Some(namespace) => {
                namespaces.insert(namespace.to_owned());
            }
            None => {
                return Err(KustomizeError::transform(format!(
                    "Invalid Input: namespace is blank for resource \"{}\"",
                    kustomize_id(id)
                )))
            }
        }
    }
    Ok(namespaces)
}

/// Indices of the resources `views[index]` could refer to: any from a
/// cluster-scoped referrer; otherwise cluster-scoped ones, those in its namespace,
/// and (for a RoleBinding) those in its ServiceAccount subjects' namespaces.
fn could_be_referenced(
    views: &[View],
    index: usize,
    binding_namespaces: &BTreeSet<String>,
) -> Vec<usize> {
    let referrer = &views[index];
    (0..views.len())
        .filter(|&c| {
            let candidate = &views[c];
            referrer.is_cluster_scoped()
                || candidate.is_cluster_scoped()
                || candidate.cur.ns_equals(&referrer.cur)
                || binding_namespaces.contains(&candidate.cur.namespace)
        })
        .collect()
}

/// kustomize's FixBackReferences / NameReferenceTransformer.
pub fn fix_back_references(resources: &mut ResMap, backrefs: &[NameBackReference]) -> Result<()> {
    let mut backrefs = backrefs.to_vec();
    sort_backrefs(&mut backrefs);
    let mut views: Vec<View> = resources.resources.iter().map(View::of).collect();

    // Per resource, the (referrer field, referral kind) pairs that apply to it, in
    // configuration order. A referrer is chosen by the kind it entered the build with.
    let mut fields: Vec<Vec<(&FieldSpec, Gvk)>> = vec![Vec::new(); views.len()];
    for backref in &backrefs {
        let target = backref.gvk();
        for spec in &backref.referrers {
            for (index, view) in views.iter().enumerate() {
                if spec.applies_to(&view.org().gvk) {
                    fields[index].push((spec, target.clone()));
                }
            }
        }
    }

    let mut referred: Vec<(usize, ResId)> = Vec::new();
    for (index, fields) in fields.iter().enumerate() {
        if fields.is_empty() {
            continue;
        }
        let resource = &resources.resources[index];
        let binding_namespaces = role_binding_namespaces(resource, &views[index].cur)?;
        let candidates = could_be_referenced(&views, index, &binding_namespaces);
        for (spec, target) in fields {
            let resource = &mut resources.resources[index];
            let role_ref = if spec.path.ends_with("roleRef/name") {
                role_ref_gvk(resource)
            } else {
                None
            };
            let referrer_id = views[index].cur.clone();
            // The field is read from the referrer whatever its kind is now.
            let current = &referrer_id.gvk;
            let at = FieldSpec::new(
                &current.group,
                &current.version,
                &current.kind,
                &spec.path,
                false,
            );
            let mut referrer = Referrer {
                views: &views,
                index,
                target: target.clone(),
                role_ref,
                candidates: &candidates,
                found: Vec::new(),
            };
            apply_fieldspec(resource, &at, None, &mut |node| referrer.set(node)).map_err(|e| {
                KustomizeError::transform(format!(
                    "updating name reference in '{}' field of '{}': {e}",
                    spec.path,
                    kustomize_id(&referrer_id)
                ))
            })?;
            referred.extend(referrer.found.into_iter().map(|r| (r, referrer_id.clone())));
            views[index] = View::of(&resources.resources[index]);
        }
    }
    for (referral, referrer) in referred {
        resources.resources[referral].ref_by.push(referrer);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fieldspecs_builtin::default_config;
    use crate::{namespace, prefix_suffix};
    use serde_json::json;

    fn resource(value: Value) -> Resource {
        let Value::Object(obj) = value else {
            panic!("map")
        };
        Resource::new(obj, "r.yaml")
    }

    /// A kustomization layer: its resources after namespace and prefix, as kustomize
    /// would leave them.
    fn layer(objects: Vec<Value>, ns: &str, prefix: &str) -> ResMap {
        let mut map = ResMap::new();
        for object in objects {
            map.append(resource(object), "kustomization.yaml")
                .expect("unique");
        }
        let config = default_config();
        namespace::transform(&mut map, ns, &config.namespace).expect("namespace");
        prefix_suffix::add_prefix(&mut map, prefix, &config.name_prefix).expect("prefix");
        map
    }

    fn merge(layers: Vec<ResMap>) -> ResMap {
        let mut all = ResMap::new();
        for layer in layers {
            all.append_all(layer, "kustomization.yaml").expect("unique");
        }
        all
    }

    /// What the generators do at the end of the build.
    fn add_hash(map: &mut ResMap, kind: &str, hash: &str) {
        for r in map.resources.iter_mut().filter(|r| r.kind() == kind) {
            r.store_previous_id();
            let name = format!("{}-{hash}", r.name());
            r.set_name(&name);
        }
    }

    fn fix(map: &mut ResMap) -> Result<()> {
        fix_back_references(map, &default_config().name_reference)
    }

    /// The object of the `kind` named `name`.
    fn find(map: &ResMap, kind: &str, name: &str) -> Value {
        map.resources
            .iter()
            .find(|r| r.kind() == kind && r.name() == name)
            .map(Resource::to_value)
            .unwrap_or_else(|| panic!("no {kind} {name}"))
    }

    fn config_map(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}})
    }

    fn deployment(name: &str, config_map: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"template": {"spec": {
            "containers": [{"name": "c", "image": "nginx",
                "envFrom": [{"configMapRef": {"name": config_map}}],
                "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": config_map, "key": "a"}}}]}],
            "volumes": [
                {"name": "v", "configMap": {"name": config_map}},
                {"name": "p", "projected": {"sources": [{"configMap": {"name": config_map}}]}}
            ]}}}})
    }

    #[test]
    fn every_pod_spec_reference_follows_prefix_and_hash() {
        let mut map = layer(vec![config_map("cfg"), deployment("web", "cfg")], "", "p-");
        add_hash(&mut map, "ConfigMap", "h4sh");
        fix(&mut map).expect("fix");
        let deployment = find(&map, "Deployment", "p-web");
        let pod = &deployment["spec"]["template"]["spec"];
        assert_eq!(
            pod["containers"][0]["envFrom"][0]["configMapRef"]["name"],
            "p-cfg-h4sh"
        );
        assert_eq!(
            pod["containers"][0]["env"][0]["valueFrom"]["configMapKeyRef"]["name"],
            "p-cfg-h4sh"
        );
        assert_eq!(pod["volumes"][0]["configMap"]["name"], "p-cfg-h4sh");
        assert_eq!(
            pod["volumes"][1]["projected"]["sources"][0]["configMap"]["name"],
            "p-cfg-h4sh"
        );
        let cm = map
            .resources
            .iter()
            .find(|r| r.kind() == "ConfigMap")
            .expect("cm");
        assert_eq!(
            cm.ref_by.len(),
            4,
            "each updated field records the referrer"
        );
        assert_eq!(cm.ref_by[0].name, "p-web");
    }

    #[test]
    fn same_named_config_maps_of_two_bases_are_told_apart_by_prefix() {
        // kubectl: each base's Deployment gets its own base's ConfigMap; a Deployment
        // of the top kustomization (no prefix) matches neither and is left alone.
        let mut map = merge(vec![
            layer(vec![config_map("cfg"), deployment("web", "cfg")], "", "a-"),
            layer(vec![config_map("cfg"), deployment("web2", "cfg")], "", "b-"),
            layer(vec![deployment("top", "cfg")], "", ""),
        ]);
        fix(&mut map).expect("fix");
        let env_from = |name: &str| {
            find(&map, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]["envFrom"]
                [0]["configMapRef"]["name"]
                .take()
        };
        assert_eq!(env_from("a-web"), "a-cfg");
        assert_eq!(env_from("b-web2"), "b-cfg");
        assert_eq!(env_from("top"), "cfg");
    }

    #[test]
    fn same_named_config_maps_in_two_namespaces_are_told_apart_by_namespace() {
        let mut map = merge(vec![
            layer(
                vec![config_map("cfg"), deployment("web", "cfg")],
                "ns-a",
                "",
            ),
            layer(
                vec![config_map("cfg"), deployment("web", "cfg")],
                "ns-b",
                "",
            ),
        ]);
        let config = default_config();
        prefix_suffix::add_prefix(&mut map, "top-", &config.name_prefix).expect("prefix");
        add_hash(&mut map, "ConfigMap", "h");
        fix(&mut map).expect("fix");
        for r in map.resources.iter().filter(|r| r.kind() == "Deployment") {
            let name = &r.obj["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"];
            assert_eq!(name, "top-cfg-h", "in {}", r.namespace());
        }
        let refs: Vec<&str> = map
            .resources
            .iter()
            .filter(|r| r.kind() == "ConfigMap")
            .map(|r| r.ref_by[0].namespace.as_str())
            .collect();
        assert_eq!(
            refs,
            ["ns-a", "ns-b"],
            "each namespace's Deployment refers to its own"
        );
    }

    #[test]
    fn two_equally_good_referrals_are_an_error_naming_both() {
        let account =
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app"}});
        let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "crb"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": "app"}]});
        let mut map = merge(vec![
            layer(vec![account.clone()], "a", ""),
            layer(vec![account], "b", ""),
            layer(vec![binding], "", ""),
        ]);
        let err = fix(&mut map).expect_err("ambiguous").to_string();
        assert!(err.starts_with("updating name reference in 'subjects' field of 'ClusterRoleBinding.v1.rbac.authorization.k8s.io/crb.[noNs]'"), "{err}");
        assert!(
            err.ends_with("found multiple possible referrals: ServiceAccount.v1.[noGrp]/app.a, ServiceAccount.v1.[noGrp]/app.b"),
            "{err}"
        );
    }

    #[test]
    fn binding_subjects_take_the_accounts_new_name_and_namespace() {
        let account =
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app"}});
        let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "rb"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "reader"},
        "subjects": [
            {"kind": "ServiceAccount", "name": "app", "namespace": "a"},
            {"kind": "ServiceAccount", "name": "app"},
            {"kind": "ServiceAccount", "name": "app", "namespace": "elsewhere"}
        ]});
        let mut workload = deployment("web", "none");
        workload["spec"]["template"]["spec"]["serviceAccountName"] = json!("app");
        let mut map = merge(vec![
            layer(vec![account], "a", ""),
            layer(vec![binding, workload], "b", ""),
        ]);
        let config = default_config();
        prefix_suffix::add_prefix(&mut map, "p-", &config.name_prefix).expect("prefix");
        fix(&mut map).expect("fix");
        let binding = find(&map, "RoleBinding", "p-rb");
        let subjects = &binding["subjects"];
        assert_eq!(
            subjects[0],
            json!({"kind": "ServiceAccount", "name": "p-app", "namespace": "a"})
        );
        // kubectl does the same for a subject without namespace: it gains the account's.
        assert_eq!(
            subjects[1],
            json!({"kind": "ServiceAccount", "name": "p-app", "namespace": "a"})
        );
        assert_eq!(
            subjects[2]["name"], "app",
            "another namespace's account is not this one"
        );
        // A Deployment cannot use another namespace's ServiceAccount.
        let deployment = find(&map, "Deployment", "p-web");
        assert_eq!(
            deployment["spec"]["template"]["spec"]["serviceAccountName"],
            "app"
        );
    }

    #[test]
    fn role_ref_follows_the_kind_it_names() {
        let rules = json!([{"apiGroups": [""], "resources": ["configmaps"]}]);
        let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "reader"}, "rules": rules});
        let cluster_role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "reader"}, "rules": rules});
        let binding = |name: &str, kind: &str| {
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": "reader"}})
        };
        let mut map = merge(vec![
            layer(vec![role, binding("to-role", "Role")], "", "r-"),
            layer(
                vec![cluster_role, binding("to-cluster-role", "ClusterRole")],
                "",
                "c-",
            ),
        ]);
        fix(&mut map).expect("fix");
        assert_eq!(
            find(&map, "RoleBinding", "r-to-role")["roleRef"]["name"],
            "r-reader"
        );
        assert_eq!(
            find(&map, "RoleBinding", "c-to-cluster-role")["roleRef"]["name"],
            "c-reader"
        );
    }

    #[test]
    fn webhook_services_get_name_and_namespace() {
        let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "hook"}});
        let webhook = json!({"apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "vwc"},
        "webhooks": [
            {"name": "a", "clientConfig": {"service": {"name": "hook", "namespace": "default", "path": "/v"}}},
            {"name": "b", "clientConfig": {"service": {"name": "hook"}}}
        ]});
        let mut map = layer(vec![service, webhook], "prod", "p-");
        fix(&mut map).expect("fix");
        let config = find(&map, "ValidatingWebhookConfiguration", "p-vwc");
        let hooks = &config["webhooks"];
        assert_eq!(
            hooks[0]["clientConfig"]["service"],
            json!({"name": "p-hook", "namespace": "prod", "path": "/v"})
        );
        assert_eq!(
            hooks[1]["clientConfig"]["service"],
            json!({"name": "p-hook", "namespace": "prod"})
        );
    }

    #[test]
    fn a_name_in_resource_names_is_claimed_by_config_maps_before_secrets() {
        // kubectl: the ConfigMap rename happens first, then the result is taken for
        // an earlier name of the Secret, which renames it again.
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cfg"}});
        let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "reader"}, "rules": [{"resourceNames": ["cfg"]}]});
        let mut map = merge(vec![
            layer(vec![config_map("cfg"), secret], "", "b-"),
            layer(vec![role], "", ""),
        ]);
        add_hash(&mut map, "Secret", "h");
        fix(&mut map).expect("fix");
        assert_eq!(
            find(&map, "Role", "reader")["rules"][0]["resourceNames"],
            json!(["b-cfg-h"])
        );
    }

    #[test]
    fn ingress_class_names_are_never_updated_as_in_kustomize() {
        let class = json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "nginx"}});
        let ingress = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web"}, "spec": {"ingressClassName": "nginx"}});
        let mut map = layer(vec![class, ingress], "", "p-");
        fix(&mut map).expect("fix");
        assert_eq!(
            find(&map, "Ingress", "p-web")["spec"]["ingressClassName"],
            "nginx"
        );
    }

    #[test]
    fn a_resource_never_renamed_is_not_a_referral() {
        let mut map = layer(vec![config_map("cfg"), deployment("web", "cfg")], "", "");
        fix(&mut map).expect("fix");
        assert!(map.resources[0].ref_by.is_empty());
    }

    #[test]
    fn configuration_order_is_kustomizes_kind_order() {
        let gvk = |g: &str, v: &str, k: &str| Gvk::new(g, v, k);
        assert_eq!(
            compare_gvk(&gvk("", "v1", "ConfigMap"), &gvk("", "v1", "Secret")),
            Ordering::Less
        );
        assert_eq!(
            compare_gvk(
                &gvk("", "", "ReplicaSet"),
                &gvk("example.com", "v1", "Widget")
            ),
            Ordering::Greater,
            "unlisted kinds by group_version_kind, `~G` after letters"
        );
        assert_eq!(
            compare_gvk(
                &gvk("", "", "Widget"),
                &gvk("", "", "ValidatingWebhookConfiguration")
            ),
            Ordering::Less
        );
    }
}
