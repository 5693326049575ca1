//! RBAC authorization: Roles, ClusterRoles and their bindings, as the Kubernetes RBAC
//! authorizer evaluates them.
//!
//! Evaluation follows kube-apiserver: ClusterRoleBindings are visited first, then the
//! RoleBindings of the request's namespace; the first rule that allows wins, rules never
//! deny. Role references that do not resolve are collected and reported as the deny
//! reason (`RBAC: clusterrole.rbac.authorization.k8s.io "x" not found`), as the real
//! authorizer does. The bootstrap policy (cluster-admin, admin/edit/view, the discovery
//! and self-review roles and their bindings) is built in, so a fresh server behaves like
//! a fresh cluster; a stored object with the same name takes its place.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

/// The group whose members may do anything (kube-apiserver's privileged group).
pub const GROUP_MASTERS: &str = "system:masters";
/// The group every authenticated user belongs to.
pub const GROUP_AUTHENTICATED: &str = "system:authenticated";
/// The group of requests that carry no credentials.
pub const GROUP_UNAUTHENTICATED: &str = "system:unauthenticated";
/// The group of all service accounts.
pub const GROUP_SERVICE_ACCOUNTS: &str = "system:serviceaccounts";
/// The user name of requests that carry no credentials.
pub const USER_ANONYMOUS: &str = "system:anonymous";

const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// Who makes a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    pub fn new(name: impl Into<String>, groups: &[&str]) -> Self {
        UserInfo {
            name: name.into(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }
    }

    /// The user a service account token authenticates as:
    /// `system:serviceaccount:NS:NAME` in `system:serviceaccounts`,
    /// `system:serviceaccounts:NS` and `system:authenticated`.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        UserInfo {
            name: format!("{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"),
            groups: vec![
                GROUP_SERVICE_ACCOUNTS.to_owned(),
                format!("{GROUP_SERVICE_ACCOUNTS}:{namespace}"),
                GROUP_AUTHENTICATED.to_owned(),
            ],
        }
    }

    /// The user of a request without credentials.
    pub fn anonymous() -> Self {
        UserInfo::new(USER_ANONYMOUS, &[GROUP_UNAUTHENTICATED])
    }

    /// `(namespace, name)` when this user is a service account.
    pub fn service_account_of(&self) -> Option<(&str, &str)> {
        let rest = self.name.strip_prefix(SERVICE_ACCOUNT_PREFIX)?;
        let (namespace, name) = rest.split_once(':')?;
        (!namespace.is_empty() && !name.is_empty() && !name.contains(':'))
            .then_some((namespace, name))
    }

    fn is_anonymous(&self) -> bool {
        self.name == USER_ANONYMOUS || self.groups.iter().any(|g| g == GROUP_UNAUTHENTICATED)
    }

    /// Group membership. Every user but the anonymous one counts as a member of
    /// `system:authenticated`, as kube-apiserver's authenticators add that group to
    /// everyone they authenticate; callers need not remember to.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
            || (group == GROUP_AUTHENTICATED && !self.is_anonymous())
    }
}

/// What a request asks to do (Kubernetes' authorizer attributes).
#[derive(Debug, Clone, Default)]
pub struct Attributes {
    pub verb: String,
    pub api_group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    /// Set for non-resource requests such as `/version`, `/healthz`.
    pub non_resource_path: Option<String>,
}

impl Attributes {
    pub fn is_resource_request(&self) -> bool {
        self.non_resource_path.is_none()
    }

    /// `resource/subresource`, or just `resource`: what rules name.
    pub fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

/// The RBAC objects in force.
#[derive(Debug, Default, Clone)]
pub struct RbacObjects {
    pub roles: Vec<Value>,
    pub cluster_roles: Vec<Value>,
    pub role_bindings: Vec<Value>,
    pub cluster_role_bindings: Vec<Value>,
}

/// The answer for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Denied; the string is the reason as the RBAC authorizer words it, or empty.
    Deny(String),
}

/// A binding whose role reference does not resolve, worded as kube-apiserver words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleRefError {
    #[error("role.rbac.authorization.k8s.io {} not found", go_quote(.0))]
    RoleNotFound(String),
    #[error("clusterrole.rbac.authorization.k8s.io {} not found", go_quote(.0))]
    ClusterRoleNotFound(String),
    #[error("unsupported role reference kind: {}", go_quote(.0))]
    UnsupportedKind(String),
}

/// Decides whether `user` may do `attrs`. Members of `system:masters` may do anything.
pub fn authorize(user: &UserInfo, attrs: &Attributes, rbac: &RbacObjects) -> Decision {
    if user.in_group(GROUP_MASTERS) {
        return Decision::Allow;
    }
    let mut allowed = false;
    let mut errors = Vec::new();
    Resolver::new(rbac).visit_rules_for(user, &attrs.namespace, &mut |visit| match visit {
        Visit::Rule(rule) if rule_allows(rule, attrs) => {
            allowed = true;
            ControlFlow::Break(())
        }
        Visit::Rule(_) => ControlFlow::Continue(()),
        Visit::Error(e) => {
            errors.push(e.to_string());
            ControlFlow::Continue(())
        }
    });
    if allowed {
        Decision::Allow
    } else if errors.is_empty() {
        Decision::Deny(String::new())
    } else {
        Decision::Deny(format!("RBAC: {}", aggregate_errors(&errors)))
    }
}

/// The message of the 403 `Status` kube-apiserver returns when `user` may not do `attrs`;
/// `reason` is the authorizer's (the string in [`Decision::Deny`]), or empty. For example
/// `deployments.apps "web" is forbidden: User "alice" cannot get resource "deployments"
/// in API group "apps" in the namespace "default"`. The Status' details are
/// `group` = the API group, `kind` = the resource (without subresource), `name` = the name.
pub fn forbidden_message(user: &UserInfo, attrs: &Attributes, reason: &str) -> String {
    let what = match &attrs.non_resource_path {
        Some(path) => format!(
            "User {} cannot {} path {}",
            go_quote(&user.name),
            attrs.verb,
            go_quote(path)
        ),
        None => {
            let scope = if attrs.namespace.is_empty() {
                "at the cluster scope".to_owned()
            } else {
                format!("in the namespace {}", go_quote(&attrs.namespace))
            };
            format!(
                "User {} cannot {} resource {} in API group {} {scope}",
                go_quote(&user.name),
                attrs.verb,
                go_quote(&attrs.combined_resource()),
                go_quote(&attrs.api_group),
            )
        }
    };
    // The API server escapes HTML in the attribute part only, not in the reason.
    let what = what
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let cause = if reason.is_empty() {
        what
    } else {
        format!("{what}: {reason}")
    };
    if !attrs.is_resource_request() || (attrs.api_group.is_empty() && attrs.resource.is_empty()) {
        return format!("forbidden: {cause}");
    }
    let qualified = if attrs.api_group.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}.{}", attrs.resource, attrs.api_group)
    };
    if attrs.name.is_empty() {
        format!("{qualified} is forbidden: {cause}")
    } else {
        format!(
            "{qualified} {} is forbidden: {cause}",
            go_quote(&attrs.name)
        )
    }
}

/// One rule about resources, as a SelfSubjectRulesReview reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceRule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
}

/// One rule about non-resource URLs, as a SelfSubjectRulesReview reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NonResourceRule {
    pub verbs: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

/// What a user may do in a namespace: the status of a SelfSubjectRulesReview
/// (`kubectl auth can-i --list`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RulesReview {
    pub resource_rules: Vec<ResourceRule>,
    pub non_resource_rules: Vec<NonResourceRule>,
    pub incomplete: bool,
    /// Unresolvable role references, empty when there were none.
    pub evaluation_error: String,
}

impl RulesReview {
    /// The `status` of a SelfSubjectRulesReview, with the JSON field names and
    /// omitted-when-empty fields of authorization.k8s.io/v1.
    pub fn to_status(&self) -> Value {
        let resource_rules: Vec<Value> = self
            .resource_rules
            .iter()
            .map(|r| {
                let mut rule = Map::new();
                rule.insert("verbs".into(), json!(r.verbs));
                insert_non_empty(&mut rule, "apiGroups", &r.api_groups);
                insert_non_empty(&mut rule, "resources", &r.resources);
                insert_non_empty(&mut rule, "resourceNames", &r.resource_names);
                Value::Object(rule)
            })
            .collect();
        let non_resource_rules: Vec<Value> = self
            .non_resource_rules
            .iter()
            .map(|r| {
                let mut rule = Map::new();
                rule.insert("verbs".into(), json!(r.verbs));
                insert_non_empty(&mut rule, "nonResourceURLs", &r.non_resource_urls);
                Value::Object(rule)
            })
            .collect();
        let mut status = json!({
            "resourceRules": resource_rules,
            "nonResourceRules": non_resource_rules,
            "incomplete": self.incomplete,
        });
        if !self.evaluation_error.is_empty() {
            status["evaluationError"] = json!(self.evaluation_error);
        }
        status
    }
}

fn insert_non_empty(map: &mut Map<String, Value>, key: &str, values: &[String]) {
    if !values.is_empty() {
        map.insert(key.into(), json!(values));
    }
}

/// The rules `user` has in `namespace` (cluster-wide ones included), as
/// SelfSubjectRulesReview reports them. Members of `system:masters` first get the
/// all-powerful rules of the privileged-group authorizer, as on a real server.
pub fn rules_for(user: &UserInfo, namespace: &str, rbac: &RbacObjects) -> RulesReview {
    let mut review = RulesReview::default();
    if user.in_group(GROUP_MASTERS) {
        review.resource_rules.push(ResourceRule {
            verbs: vec!["*".into()],
            api_groups: vec!["*".into()],
            resources: vec!["*".into()],
            resource_names: Vec::new(),
        });
        review.non_resource_rules.push(NonResourceRule {
            verbs: vec!["*".into()],
            non_resource_urls: vec!["*".into()],
        });
    }
    let mut errors = Vec::new();
    Resolver::new(rbac).visit_rules_for(user, namespace, &mut |visit| {
        match visit {
            Visit::Rule(rule) => {
                let owned = |key: &str| strings(rule, key).map(str::to_owned).collect::<Vec<_>>();
                let resources = owned("resources");
                if !resources.is_empty() {
                    review.resource_rules.push(ResourceRule {
                        verbs: owned("verbs"),
                        api_groups: owned("apiGroups"),
                        resources,
                        resource_names: owned("resourceNames"),
                    });
                }
                let urls = owned("nonResourceURLs");
                if !urls.is_empty() {
                    review.non_resource_rules.push(NonResourceRule {
                        verbs: owned("verbs"),
                        non_resource_urls: urls,
                    });
                }
            }
            Visit::Error(e) => errors.push(e.to_string()),
        }
        ControlFlow::Continue(())
    });
    review.evaluation_error = aggregate_errors(&errors);
    review
}

/// The effective rules of a ClusterRole: its own `rules`, or for one with an
/// `aggregationRule` the rules the aggregation controller would write into it.
/// The server may use this to materialise `rules` on stored aggregated roles.
pub fn cluster_role_rules(name: &str, rbac: &RbacObjects) -> Option<Vec<Value>> {
    let resolver = Resolver::new(rbac);
    let role = resolver.cluster_role(name)?;
    Some(
        resolver
            .rules_of_cluster_role(role)
            .into_iter()
            .cloned()
            .collect(),
    )
}

/// Kubernetes' bootstrap RBAC policy as storable objects: the cluster roles
/// cluster-admin, admin, edit, view (aggregated), system:aggregate-to-{admin,edit,view},
/// system:basic-user, system:discovery, system:public-info-viewer, and their cluster
/// role bindings. These are in force whether or not the server stores them.
pub fn bootstrap_policy() -> &'static RbacObjects {
    static POLICY: OnceLock<RbacObjects> = OnceLock::new();
    POLICY.get_or_init(build_bootstrap_policy)
}

// ---------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------

enum Visit<'a> {
    Rule(&'a Value),
    Error(RoleRefError),
}

/// Looks up RBAC objects in the stored ones, then in the bootstrap policy.
struct Resolver<'a> {
    stored: &'a RbacObjects,
    builtin: &'a RbacObjects,
}

impl<'a> Resolver<'a> {
    fn new(stored: &'a RbacObjects) -> Self {
        Resolver {
            stored,
            builtin: bootstrap_policy(),
        }
    }

    fn cluster_role(&self, name: &str) -> Option<&'a Value> {
        self.stored
            .cluster_roles
            .iter()
            .chain(&self.builtin.cluster_roles)
            .find(|r| object_name(r) == name)
    }

    fn role(&self, namespace: &str, name: &str) -> Option<&'a Value> {
        if namespace.is_empty() {
            return None;
        }
        self.stored
            .roles
            .iter()
            .find(|r| object_name(r) == name && object_namespace(r) == namespace)
    }

    /// Stored objects plus the built-in ones no stored object of that name replaces.
    fn with_builtin(stored: &'a [Value], builtin: &'a [Value]) -> impl Iterator<Item = &'a Value> {
        let shadowed = move |b: &Value| stored.iter().any(|s| object_name(s) == object_name(b));
        stored
            .iter()
            .chain(builtin.iter().filter(move |b| !shadowed(b)))
    }

    fn all_cluster_roles(&self) -> impl Iterator<Item = &'a Value> {
        Self::with_builtin(&self.stored.cluster_roles, &self.builtin.cluster_roles)
    }

    fn all_cluster_role_bindings(&self) -> impl Iterator<Item = &'a Value> {
        Self::with_builtin(
            &self.stored.cluster_role_bindings,
            &self.builtin.cluster_role_bindings,
        )
    }

    /// Visits every rule that applies to `user` in `namespace` (cluster-wide first), and
    /// every role reference that does not resolve, until `visit` breaks.
    fn visit_rules_for(
        &self,
        user: &UserInfo,
        namespace: &str,
        visit: &mut dyn FnMut(Visit<'a>) -> ControlFlow<()>,
    ) {
        let cluster_bindings = self.all_cluster_role_bindings().map(|b| (b, ""));
        let namespaced_bindings = self
            .stored
            .role_bindings
            .iter()
            .filter(|b| !namespace.is_empty() && object_namespace(b) == namespace)
            .map(|b| (b, namespace));
        for (binding, binding_namespace) in cluster_bindings.chain(namespaced_bindings) {
            if !binding_applies_to(binding, user, binding_namespace) {
                continue;
            }
            let role_ref = binding.get("roleRef").unwrap_or(&Value::Null);
            match self.role_reference_rules(role_ref, binding_namespace) {
                Err(e) => {
                    if visit(Visit::Error(e)).is_break() {
                        return;
                    }
                }
                Ok(rules) => {
                    for rule in rules {
                        if visit(Visit::Rule(rule)).is_break() {
                            return;
                        }
                    }
                }
            }
        }
    }

    fn role_reference_rules(
        &self,
        role_ref: &Value,
        binding_namespace: &str,
    ) -> Result<Vec<&'a Value>, RoleRefError> {
        let kind = str_field(role_ref, "kind");
        let name = str_field(role_ref, "name");
        match kind {
            "Role" => self
                .role(binding_namespace, name)
                .map(|role| strings_values(role, "rules").collect())
                .ok_or_else(|| RoleRefError::RoleNotFound(name.to_owned())),
            "ClusterRole" => self
                .cluster_role(name)
                .map(|role| self.rules_of_cluster_role(role))
                .ok_or_else(|| RoleRefError::ClusterRoleNotFound(name.to_owned())),
            other => Err(RoleRefError::UnsupportedKind(other.to_owned())),
        }
    }

    /// A ClusterRole's rules. An aggregated role's own `rules` are what the aggregation
    /// controller last wrote, so they are replaced by the union of the rules of the
    /// roles its selectors match (transitively, as the controller converges to).
    fn rules_of_cluster_role(&self, role: &'a Value) -> Vec<&'a Value> {
        if !is_aggregated(role) {
            return strings_values(role, "rules").collect();
        }
        let mut visited = HashSet::from([object_name(role)]);
        let mut rules = Vec::new();
        self.collect_aggregated(role, &mut visited, &mut rules);
        rules
    }

    fn collect_aggregated(
        &self,
        aggregator: &'a Value,
        visited: &mut HashSet<&'a str>,
        rules: &mut Vec<&'a Value>,
    ) {
        let selectors: Vec<&Value> = aggregator
            .pointer("/aggregationRule/clusterRoleSelectors")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let mut matched: Vec<&'a Value> = self
            .all_cluster_roles()
            .filter(|candidate| {
                let labels = candidate
                    .pointer("/metadata/labels")
                    .and_then(Value::as_object);
                selectors.iter().any(|s| label_selector_matches(s, labels))
            })
            .collect();
        // The controller adds rules in name order; keeping that order keeps listings stable.
        matched.sort_by_key(|r| object_name(r));
        for candidate in matched {
            if !visited.insert(object_name(candidate)) {
                continue;
            }
            if is_aggregated(candidate) {
                self.collect_aggregated(candidate, visited, rules);
            } else {
                for rule in strings_values(candidate, "rules") {
                    if !rules.contains(&rule) {
                        rules.push(rule);
                    }
                }
            }
        }
    }
}

fn is_aggregated(role: &Value) -> bool {
    role.get("aggregationRule").is_some_and(|a| !a.is_null())
}

/// Whether a `metav1.LabelSelector` object matches `labels`. The empty selector matches
/// every object, as in the aggregation controller.
fn label_selector_matches(selector: &Value, labels: Option<&Map<String, Value>>) -> bool {
    let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
    let match_labels_ok = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .is_none_or(|m| m.iter().all(|(k, v)| label(k) == v.as_str()));
    let expressions_ok = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .is_none_or(|exprs| {
            exprs.iter().all(|expr| {
                let value = label(str_field(expr, "key"));
                let mut values = strings(expr, "values");
                match str_field(expr, "operator") {
                    "In" => value.is_some_and(|v| values.any(|x| x == v)),
                    "NotIn" => value.is_none_or(|v| !values.any(|x| x == v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    // An invalid selector selects nothing, as the controller skips it.
                    _ => false,
                }
            })
        });
    match_labels_ok && expressions_ok
}

fn binding_applies_to(binding: &Value, user: &UserInfo, binding_namespace: &str) -> bool {
    strings_values(binding, "subjects").any(|subject| {
        let name = str_field(subject, "name");
        match str_field(subject, "kind") {
            "User" => user.name == name,
            "Group" => user.in_group(name),
            "ServiceAccount" => {
                // A RoleBinding may leave its service account's namespace implicit.
                let namespace = match str_field(subject, "namespace") {
                    "" => binding_namespace,
                    ns => ns,
                };
                !namespace.is_empty() && user.service_account_of() == Some((namespace, name))
            }
            _ => false,
        }
    })
}

/// Kubernetes' RBAC rule matching for one PolicyRule.
fn rule_allows(rule: &Value, attrs: &Attributes) -> bool {
    let verb_ok = strings(rule, "verbs").any(|v| v == "*" || v == attrs.verb);
    if !verb_ok {
        return false;
    }
    let Some(path) = &attrs.non_resource_path else {
        let combined = attrs.combined_resource();
        let group_ok = strings(rule, "apiGroups").any(|g| g == "*" || g == attrs.api_group);
        let resource_ok = strings(rule, "resources").any(|r| {
            r == "*"
                || r == combined
                // `*/scale` names one subresource of every resource; nothing else is a
                // pattern (`deployments/*` is a literal that matches nothing).
                || (!attrs.subresource.is_empty()
                    && r.strip_prefix("*/") == Some(attrs.subresource.as_str()))
        });
        let mut names = strings(rule, "resourceNames").peekable();
        let name_ok = names.peek().is_none() || names.any(|n| n == attrs.name);
        return group_ok && resource_ok && name_ok;
    };
    strings(rule, "nonResourceURLs").any(|url| {
        url == "*"
            || url == path
            || url
                .strip_suffix('*')
                .is_some_and(|_| path.starts_with(url.trim_end_matches('*')))
    })
}

/// How Kubernetes' error aggregates print: one message alone, several (deduplicated)
/// in brackets.
fn aggregate_errors(errors: &[String]) -> String {
    let mut unique: Vec<&str> = Vec::new();
    for e in errors {
        if !unique.contains(&e.as_str()) {
            unique.push(e);
        }
    }
    match unique.as_slice() {
        [] => String::new(),
        [one] => (*one).to_owned(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// A string quoted as Go's `%q` quotes it, which is how Kubernetes messages quote names.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn object_name(object: &Value) -> &str {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn object_namespace(object: &Value) -> &str {
    object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn str_field<'v>(object: &'v Value, key: &str) -> &'v str {
    object.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn strings_values<'v>(object: &'v Value, key: &str) -> impl Iterator<Item = &'v Value> {
    object
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn strings<'v>(object: &'v Value, key: &str) -> impl Iterator<Item = &'v str> {
    strings_values(object, key).filter_map(Value::as_str)
}

// ---------------------------------------------------------------------------
// Bootstrap policy (the roles kube-apiserver creates on a fresh cluster)
// ---------------------------------------------------------------------------

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
const READ_WRITE: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const AGGREGATE_TO_ADMIN: &str = "rbac.authorization.k8s.io/aggregate-to-admin";
const AGGREGATE_TO_EDIT: &str = "rbac.authorization.k8s.io/aggregate-to-edit";
const AGGREGATE_TO_VIEW: &str = "rbac.authorization.k8s.io/aggregate-to-view";

fn resource_rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> Value {
    json!({"verbs": verbs, "apiGroups": groups, "resources": resources})
}

fn url_rule(verbs: &[&str], urls: &[&str]) -> Value {
    json!({"verbs": verbs, "nonResourceURLs": urls})
}

fn bootstrap_cluster_role(
    name: &str,
    aggregate_label: Option<&str>,
    aggregates: Option<&str>,
    rules: Vec<Value>,
) -> Value {
    let mut labels = json!({"kubernetes.io/bootstrapping": "rbac-defaults"});
    if let Some(label) = aggregate_label {
        labels[label] = json!("true");
    }
    let mut role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        },
        "rules": rules,
    });
    if let Some(label) = aggregates {
        role["aggregationRule"] =
            json!({"clusterRoleSelectors": [{"matchLabels": {label: "true"}}]});
    }
    role
}

fn bootstrap_binding(role: &str, groups: &[&str]) -> Value {
    let subjects: Vec<Value> = groups
        .iter()
        .map(|g| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g}))
        .collect();
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {
            "name": role,
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        },
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    })
}

fn build_bootstrap_policy() -> RbacObjects {
    let cluster_roles = vec![
        bootstrap_cluster_role(
            "cluster-admin",
            None,
            None,
            vec![
                resource_rule(&["*"], &["*"], &["*"]),
                url_rule(&["*"], &["*"]),
            ],
        ),
        bootstrap_cluster_role(
            "system:discovery",
            None,
            None,
            vec![url_rule(
                &["get"],
                &[
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
            )],
        ),
        bootstrap_cluster_role(
            "system:basic-user",
            None,
            None,
            vec![
                resource_rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ),
                resource_rule(
                    &["create"],
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                ),
            ],
        ),
        bootstrap_cluster_role(
            "system:public-info-viewer",
            None,
            None,
            vec![url_rule(
                &["get"],
                &["/healthz", "/livez", "/readyz", "/version", "/version/"],
            )],
        ),
        bootstrap_cluster_role("admin", None, Some(AGGREGATE_TO_ADMIN), Vec::new()),
        bootstrap_cluster_role(
            "edit",
            Some(AGGREGATE_TO_ADMIN),
            Some(AGGREGATE_TO_EDIT),
            Vec::new(),
        ),
        bootstrap_cluster_role(
            "view",
            Some(AGGREGATE_TO_EDIT),
            Some(AGGREGATE_TO_VIEW),
            Vec::new(),
        ),
        bootstrap_cluster_role(
            "system:aggregate-to-admin",
            Some(AGGREGATE_TO_ADMIN),
            None,
            vec![
                resource_rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["localsubjectaccessreviews"],
                ),
                resource_rule(
                    READ_WRITE,
                    &["rbac.authorization.k8s.io"],
                    &["rolebindings", "roles"],
                ),
            ],
        ),
        bootstrap_cluster_role(
            "system:aggregate-to-edit",
            Some(AGGREGATE_TO_EDIT),
            None,
            vec![
                resource_rule(
                    READ,
                    &[""],
                    &[
                        "pods/attach",
                        "pods/exec",
                        "pods/portforward",
                        "pods/proxy",
                        "secrets",
                        "services/proxy",
                    ],
                ),
                resource_rule(&["impersonate"], &[""], &["serviceaccounts"]),
                resource_rule(
                    WRITE,
                    &[""],
                    &[
                        "pods",
                        "pods/attach",
                        "pods/exec",
                        "pods/portforward",
                        "pods/proxy",
                    ],
                ),
                resource_rule(&["create"], &[""], &["pods/eviction"]),
                resource_rule(
                    WRITE,
                    &[""],
                    &[
                        "configmaps",
                        "persistentvolumeclaims",
                        "replicationcontrollers",
                        "replicationcontrollers/scale",
                        "secrets",
                        "serviceaccounts",
                        "services",
                        "services/proxy",
                    ],
                ),
                resource_rule(&["create"], &[""], &["serviceaccounts/token"]),
                resource_rule(
                    WRITE,
                    &["apps"],
                    &[
                        "daemonsets",
                        "deployments",
                        "deployments/rollback",
                        "deployments/scale",
                        "replicasets",
                        "replicasets/scale",
                        "statefulsets",
                        "statefulsets/scale",
                    ],
                ),
                resource_rule(WRITE, &["autoscaling"], &["horizontalpodautoscalers"]),
                resource_rule(WRITE, &["batch"], &["cronjobs", "jobs"]),
                resource_rule(WRITE, &["policy"], &["poddisruptionbudgets"]),
                resource_rule(
                    WRITE,
                    &["networking.k8s.io"],
                    &["ingresses", "networkpolicies"],
                ),
            ],
        ),
        bootstrap_cluster_role(
            "system:aggregate-to-view",
            Some(AGGREGATE_TO_VIEW),
            None,
            vec![
                resource_rule(
                    READ,
                    &[""],
                    &[
                        "configmaps",
                        "endpoints",
                        "persistentvolumeclaims",
                        "persistentvolumeclaims/status",
                        "pods",
                        "replicationcontrollers",
                        "replicationcontrollers/scale",
                        "serviceaccounts",
                        "services",
                        "services/status",
                    ],
                ),
                resource_rule(
                    READ,
                    &[""],
                    &[
                        "bindings",
                        "events",
                        "limitranges",
                        "namespaces/status",
                        "pods/log",
                        "pods/status",
                        "replicationcontrollers/status",
                        "resourcequotas",
                        "resourcequotas/status",
                    ],
                ),
                resource_rule(READ, &[""], &["namespaces"]),
                resource_rule(READ, &["discovery.k8s.io"], &["endpointslices"]),
                resource_rule(
                    READ,
                    &["apps"],
                    &[
                        "controllerrevisions",
                        "daemonsets",
                        "daemonsets/status",
                        "deployments",
                        "deployments/scale",
                        "deployments/status",
                        "replicasets",
                        "replicasets/scale",
                        "replicasets/status",
                        "statefulsets",
                        "statefulsets/scale",
                        "statefulsets/status",
                    ],
                ),
                resource_rule(
                    READ,
                    &["autoscaling"],
                    &[
                        "horizontalpodautoscalers",
                        "horizontalpodautoscalers/status",
                    ],
                ),
                resource_rule(
                    READ,
                    &["batch"],
                    &["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
                ),
                resource_rule(
                    READ,
                    &["policy"],
                    &["poddisruptionbudgets", "poddisruptionbudgets/status"],
                ),
                resource_rule(
                    READ,
                    &["networking.k8s.io"],
                    &["ingresses", "ingresses/status", "networkpolicies"],
                ),
            ],
        ),
    ];
    let cluster_role_bindings = vec![
        bootstrap_binding("cluster-admin", &[GROUP_MASTERS]),
        bootstrap_binding("system:basic-user", &[GROUP_AUTHENTICATED]),
        bootstrap_binding("system:discovery", &[GROUP_AUTHENTICATED]),
        bootstrap_binding(
            "system:public-info-viewer",
            &[GROUP_AUTHENTICATED, GROUP_UNAUTHENTICATED],
        ),
    ];
    RbacObjects {
        roles: Vec::new(),
        cluster_roles,
        role_bindings: Vec::new(),
        cluster_role_bindings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(namespace: &str, name: &str, rules: Value) -> Value {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": name, "namespace": namespace}, "rules": rules})
    }

    fn cluster_role(name: &str, labels: Value, rules: Value) -> Value {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": name, "labels": labels}, "rules": rules})
    }

    fn role_binding(namespace: &str, name: &str, role_ref: (&str, &str), subjects: Value) -> Value {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": name, "namespace": namespace},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_ref.0, "name": role_ref.1},
               "subjects": subjects})
    }

    fn cluster_role_binding(name: &str, role_name: &str, subjects: Value) -> Value {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": name},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
               "subjects": subjects})
    }

    fn user_subject(name: &str) -> Value {
        json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}])
    }

    fn alice() -> UserInfo {
        UserInfo::new("alice", &["system:authenticated"])
    }

    fn req(verb: &str, group: &str, resource: &str, namespace: &str, name: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            api_group: group.into(),
            resource: resource.into(),
            namespace: namespace.into(),
            name: name.into(),
            ..Attributes::default()
        }
    }

    fn sub(mut attrs: Attributes, subresource: &str) -> Attributes {
        attrs.subresource = subresource.into();
        attrs
    }

    fn path(verb: &str, p: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            non_resource_path: Some(p.into()),
            ..Attributes::default()
        }
    }

    fn allowed(user: &UserInfo, attrs: &Attributes, rbac: &RbacObjects) -> bool {
        authorize(user, attrs, rbac) == Decision::Allow
    }

    /// alice may read pods in `dev` through a Role and RoleBinding there.
    fn pod_reader_in_dev() -> RbacObjects {
        RbacObjects {
            roles: vec![role(
                "dev",
                "pod-reader",
                json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]),
            )],
            role_bindings: vec![role_binding(
                "dev",
                "read-pods",
                ("Role", "pod-reader"),
                user_subject("alice"),
            )],
            ..RbacObjects::default()
        }
    }

    #[test]
    fn role_binding_grants_only_in_its_namespace_and_only_listed_verbs() {
        let rbac = pod_reader_in_dev();
        assert!(allowed(
            &alice(),
            &req("get", "", "pods", "dev", "web-0"),
            &rbac
        ));
        assert!(allowed(
            &alice(),
            &req("list", "", "pods", "dev", ""),
            &rbac
        ));
        assert!(!allowed(
            &alice(),
            &req("delete", "", "pods", "dev", "web-0"),
            &rbac
        ));
        assert!(!allowed(
            &alice(),
            &req("get", "", "pods", "prod", "web-0"),
            &rbac
        ));
        assert!(!allowed(&alice(), &req("list", "", "pods", "", ""), &rbac));
        assert!(!allowed(
            &alice(),
            &req("get", "apps", "pods", "dev", "x"),
            &rbac
        ));
        let bob = UserInfo::new("bob", &[]);
        assert!(!allowed(
            &bob,
            &req("get", "", "pods", "dev", "web-0"),
            &rbac
        ));
    }

    #[test]
    fn role_binding_cannot_use_a_role_from_another_namespace() {
        let mut rbac = pod_reader_in_dev();
        rbac.role_bindings.push(role_binding(
            "prod",
            "read-pods",
            ("Role", "pod-reader"),
            user_subject("alice"),
        ));
        assert_eq!(
            authorize(&alice(), &req("get", "", "pods", "prod", "x"), &rbac),
            Decision::Deny(r#"RBAC: role.rbac.authorization.k8s.io "pod-reader" not found"#.into())
        );
    }

    #[test]
    fn tenant_service_account_is_confined_to_its_namespace() {
        // What `flux create tenant` sets up: the tenant's reconciler gets cluster-admin,
        // but through a RoleBinding in the tenant namespace only.
        let rbac = RbacObjects {
            role_bindings: vec![role_binding(
                "team-a",
                "gotk-reconciler",
                ("ClusterRole", "cluster-admin"),
                json!([{"kind": "ServiceAccount", "name": "team-a", "namespace": "team-a"}]),
            )],
            ..RbacObjects::default()
        };
        let sa = UserInfo::service_account("team-a", "team-a");
        assert!(allowed(
            &sa,
            &req("create", "apps", "deployments", "team-a", ""),
            &rbac
        ));
        assert!(allowed(
            &sa,
            &sub(
                req("patch", "apps", "deployments", "team-a", "web"),
                "scale"
            ),
            &rbac
        ));
        assert!(!allowed(
            &sa,
            &req("create", "apps", "deployments", "team-b", ""),
            &rbac
        ));
        assert!(!allowed(&sa, &req("list", "", "secrets", "", ""), &rbac));
        assert!(!allowed(
            &sa,
            &req("create", "", "namespaces", "", ""),
            &rbac
        ));
        let other = UserInfo::service_account("team-b", "team-a");
        assert!(!allowed(
            &other,
            &req("get", "", "pods", "team-a", "x"),
            &rbac
        ));
    }

    #[test]
    fn service_account_subject_namespace_defaults_to_the_role_binding_namespace_only() {
        let mut rbac = pod_reader_in_dev();
        rbac.role_bindings[0]["subjects"] = json!([{"kind": "ServiceAccount", "name": "ci"}]);
        let ci = UserInfo::service_account("dev", "ci");
        assert!(allowed(&ci, &req("get", "", "pods", "dev", "x"), &rbac));

        // In a ClusterRoleBinding there is no namespace to default to: it matches no one.
        let cluster = RbacObjects {
            cluster_role_bindings: vec![cluster_role_binding(
                "ci",
                "cluster-admin",
                json!([{"kind": "ServiceAccount", "name": "ci"}]),
            )],
            ..RbacObjects::default()
        };
        assert!(!allowed(&ci, &req("get", "", "pods", "dev", "x"), &cluster));
    }

    #[test]
    fn service_account_users_carry_their_groups() {
        let sa = UserInfo::service_account("flux-system", "kustomize-controller");
        assert_eq!(
            sa.name,
            "system:serviceaccount:flux-system:kustomize-controller"
        );
        assert_eq!(
            sa.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:flux-system",
                "system:authenticated"
            ]
        );
        assert_eq!(
            sa.service_account_of(),
            Some(("flux-system", "kustomize-controller"))
        );
        let rbac = RbacObjects {
            cluster_role_bindings: vec![cluster_role_binding(
                "all-sa-in-flux",
                "cluster-admin",
                json!([{"kind": "Group", "name": "system:serviceaccounts:flux-system"}]),
            )],
            ..RbacObjects::default()
        };
        assert!(allowed(
            &sa,
            &req("delete", "", "namespaces", "", "x"),
            &rbac
        ));
        let outsider = UserInfo::service_account("default", "kustomize-controller");
        assert!(!allowed(
            &outsider,
            &req("delete", "", "namespaces", "", "x"),
            &rbac
        ));
    }

    #[test]
    fn cluster_role_binding_grants_in_every_namespace_and_at_cluster_scope() {
        let rbac = RbacObjects {
            cluster_roles: vec![cluster_role(
                "ns-reader",
                json!({}),
                json!([{"apiGroups": [""], "resources": ["namespaces", "pods"], "verbs": ["list"]}]),
            )],
            cluster_role_bindings: vec![cluster_role_binding(
                "readers",
                "ns-reader",
                json!([{"kind": "Group", "name": "auditors"}]),
            )],
            ..RbacObjects::default()
        };
        let carol = UserInfo::new("carol", &["auditors"]);
        assert!(allowed(
            &carol,
            &req("list", "", "namespaces", "", ""),
            &rbac
        ));
        assert!(allowed(&carol, &req("list", "", "pods", "", ""), &rbac));
        assert!(allowed(
            &carol,
            &req("list", "", "pods", "kube-system", ""),
            &rbac
        ));
        assert!(!allowed(&alice(), &req("list", "", "pods", "", ""), &rbac));
    }

    #[test]
    fn role_binding_to_cluster_role_grants_only_in_the_binding_namespace() {
        let rbac = RbacObjects {
            role_bindings: vec![role_binding(
                "dev",
                "alice-view",
                ("ClusterRole", "view"),
                user_subject("alice"),
            )],
            ..RbacObjects::default()
        };
        assert!(allowed(
            &alice(),
            &req("list", "apps", "deployments", "dev", ""),
            &rbac
        ));
        assert!(!allowed(
            &alice(),
            &req("list", "apps", "deployments", "prod", ""),
            &rbac
        ));
        assert!(!allowed(
            &alice(),
            &req("list", "apps", "deployments", "", ""),
            &rbac
        ));
    }

    #[test]
    fn wildcards_in_verbs_groups_and_resources() {
        let rbac = RbacObjects {
            roles: vec![role(
                "dev",
                "anything-apps",
                json!([{"apiGroups": ["apps"], "resources": ["*"], "verbs": ["*"]},
                       {"apiGroups": ["*"], "resources": ["configmaps"], "verbs": ["get"]}]),
            )],
            role_bindings: vec![role_binding(
                "dev",
                "b",
                ("Role", "anything-apps"),
                user_subject("alice"),
            )],
            ..RbacObjects::default()
        };
        let a = alice();
        assert!(allowed(
            &a,
            &req("deletecollection", "apps", "replicasets", "dev", ""),
            &rbac
        ));
        // `*` covers subresources too.
        assert!(allowed(
            &a,
            &sub(req("update", "apps", "deployments", "dev", "web"), "status"),
            &rbac
        ));
        assert!(allowed(
            &a,
            &req("get", "", "configmaps", "dev", "x"),
            &rbac
        ));
        assert!(allowed(
            &a,
            &req("get", "example.com", "configmaps", "dev", "x"),
            &rbac
        ));
        assert!(!allowed(
            &a,
            &req("list", "", "configmaps", "dev", ""),
            &rbac
        ));
        assert!(!allowed(
            &a,
            &req("get", "batch", "jobs", "dev", "x"),
            &rbac
        ));
    }

    #[test]
    fn subresources_must_be_named_or_matched_by_star_slash() {
        let rbac = RbacObjects {
            roles: vec![role(
                "dev",
                "scaler",
                json!([{"apiGroups": ["apps"], "resources": ["deployments", "*/scale", "statefulsets/*"], "verbs": ["get", "update"]}]),
            )],
            role_bindings: vec![role_binding(
                "dev",
                "b",
                ("Role", "scaler"),
                user_subject("alice"),
            )],
            ..RbacObjects::default()
        };
        let a = alice();
        assert!(allowed(
            &a,
            &req("get", "apps", "deployments", "dev", "web"),
            &rbac
        ));
        assert!(allowed(
            &a,
            &sub(req("update", "apps", "deployments", "dev", "web"), "scale"),
            &rbac
        ));
        assert!(allowed(
            &a,
            &sub(req("update", "apps", "replicasets", "dev", "web"), "scale"),
            &rbac
        ));
        // Access to a resource does not extend to its subresources.
        assert!(!allowed(
            &a,
            &sub(req("update", "apps", "deployments", "dev", "web"), "status"),
            &rbac
        ));
        // `*/scale` is about the subresource only, not the parent resource.
        assert!(!allowed(
            &a,
            &req("get", "apps", "replicasets", "dev", "web"),
            &rbac
        ));
        // Kubernetes has no `resource/*` pattern: it is a literal that matches nothing.
        assert!(!allowed(
            &a,
            &sub(req("get", "apps", "statefulsets", "dev", "db"), "status"),
            &rbac
        ));
    }

    #[test]
    fn resource_names_restrict_to_named_objects_and_never_match_list_or_create() {
        let rbac = RbacObjects {
            roles: vec![role(
                "dev",
                "one-cm",
                json!([{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["app-config"], "verbs": ["get", "update", "list", "create"]}]),
            )],
            role_bindings: vec![role_binding(
                "dev",
                "b",
                ("Role", "one-cm"),
                user_subject("alice"),
            )],
            ..RbacObjects::default()
        };
        let a = alice();
        assert!(allowed(
            &a,
            &req("get", "", "configmaps", "dev", "app-config"),
            &rbac
        ));
        assert!(allowed(
            &a,
            &req("update", "", "configmaps", "dev", "app-config"),
            &rbac
        ));
        assert!(!allowed(
            &a,
            &req("get", "", "configmaps", "dev", "other"),
            &rbac
        ));
        assert!(!allowed(
            &a,
            &req("list", "", "configmaps", "dev", ""),
            &rbac
        ));
        assert!(!allowed(
            &a,
            &req("create", "", "configmaps", "dev", ""),
            &rbac
        ));
    }

    #[test]
    fn non_resource_urls_match_exactly_or_by_trailing_star_prefix() {
        let rbac = RbacObjects {
            cluster_roles: vec![
                cluster_role(
                    "metrics",
                    json!({}),
                    json!([{"nonResourceURLs": ["/metrics", "/logs/*"], "verbs": ["get"]}]),
                ),
                cluster_role(
                    "pods-everywhere",
                    json!({}),
                    json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
                ),
            ],
            cluster_role_bindings: vec![
                cluster_role_binding("m", "metrics", user_subject("prom")),
                cluster_role_binding("p", "pods-everywhere", user_subject("prom")),
            ],
            ..RbacObjects::default()
        };
        let prom = UserInfo::new("prom", &[]);
        assert!(allowed(&prom, &path("get", "/metrics"), &rbac));
        assert!(!allowed(&prom, &path("get", "/metrics/cadvisor"), &rbac));
        assert!(allowed(&prom, &path("get", "/logs/kube.log"), &rbac));
        assert!(allowed(&prom, &path("get", "/logs/"), &rbac));
        assert!(!allowed(&prom, &path("post", "/metrics"), &rbac));
        // Resource wildcards do not reach non-resource URLs.
        assert!(!allowed(&prom, &path("get", "/debug/pprof"), &rbac));
        // The built-in cluster-admin role's `*` does.
        let root = RbacObjects {
            cluster_role_bindings: vec![cluster_role_binding(
                "root",
                "cluster-admin",
                user_subject("prom"),
            )],
            ..RbacObjects::default()
        };
        assert!(allowed(&prom, &path("get", "/debug/pprof"), &root));
    }

    #[test]
    fn aggregated_cluster_role_takes_rules_of_matching_roles() {
        let rbac = RbacObjects {
            cluster_roles: vec![
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                       "metadata": {"name": "monitoring"},
                       "aggregationRule": {"clusterRoleSelectors": [
                           {"matchLabels": {"example.com/aggregate-to-monitoring": "true"}}]},
                       // Whatever is stored here, the controller replaces it.
                       "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}),
                cluster_role(
                    "monitoring-endpoints",
                    json!({"example.com/aggregate-to-monitoring": "true"}),
                    json!([{"apiGroups": [""], "resources": ["services", "endpoints", "pods"], "verbs": ["get", "list", "watch"]}]),
                ),
                cluster_role(
                    "unrelated",
                    json!({"example.com/aggregate-to-monitoring": "false"}),
                    json!([{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}]),
                ),
            ],
            cluster_role_bindings: vec![cluster_role_binding(
                "mon",
                "monitoring",
                user_subject("prom"),
            )],
            ..RbacObjects::default()
        };
        let prom = UserInfo::new("prom", &[]);
        assert!(allowed(&prom, &req("list", "", "endpoints", "", ""), &rbac));
        assert!(allowed(
            &prom,
            &req("watch", "", "pods", "kube-system", ""),
            &rbac
        ));
        assert!(!allowed(&prom, &req("list", "", "nodes", "", ""), &rbac));
        assert!(!allowed(
            &prom,
            &req("get", "", "secrets", "default", "x"),
            &rbac
        ));
        assert_eq!(
            cluster_role_rules("monitoring", &rbac),
            Some(vec![
                json!({"apiGroups": [""], "resources": ["services", "endpoints", "pods"], "verbs": ["get", "list", "watch"]})
            ])
        );
    }

    #[test]
    fn crd_roles_labelled_aggregate_to_view_extend_the_built_in_view_edit_and_admin() {
        let rbac = RbacObjects {
            cluster_roles: vec![cluster_role(
                "flux-view",
                json!({"rbac.authorization.k8s.io/aggregate-to-view": "true"}),
                json!([{"apiGroups": ["kustomize.toolkit.fluxcd.io"], "resources": ["kustomizations"], "verbs": ["get", "list", "watch"]}]),
            )],
            role_bindings: vec![role_binding(
                "dev",
                "b",
                ("ClusterRole", "admin"),
                user_subject("alice"),
            )],
            ..RbacObjects::default()
        };
        let a = alice();
        // admin ⊇ edit ⊇ view ⊇ flux-view, through two levels of aggregation.
        assert!(allowed(
            &a,
            &req(
                "list",
                "kustomize.toolkit.fluxcd.io",
                "kustomizations",
                "dev",
                ""
            ),
            &rbac
        ));
        assert!(allowed(
            &a,
            &req("create", "apps", "deployments", "dev", ""),
            &rbac
        ));
        assert!(allowed(
            &a,
            &req(
                "create",
                "rbac.authorization.k8s.io",
                "rolebindings",
                "dev",
                ""
            ),
            &rbac
        ));
        assert!(!allowed(
            &a,
            &req(
                "patch",
                "kustomize.toolkit.fluxcd.io",
                "kustomizations",
                "dev",
                "x"
            ),
            &rbac
        ));
        assert!(!allowed(
            &a,
            &req("update", "", "resourcequotas", "dev", "q"),
            &rbac
        ));
    }

    #[test]
    fn built_in_edit_and_view_differ_as_on_a_real_cluster() {
        let rbac = RbacObjects {
            role_bindings: vec![
                role_binding("dev", "e", ("ClusterRole", "edit"), user_subject("alice")),
                role_binding("dev", "v", ("ClusterRole", "view"), user_subject("bob")),
            ],
            ..RbacObjects::default()
        };
        let (a, b) = (alice(), UserInfo::new("bob", &[]));
        assert!(allowed(&a, &req("get", "", "secrets", "dev", "s"), &rbac));
        assert!(allowed(
            &a,
            &sub(req("update", "apps", "deployments", "dev", "w"), "scale"),
            &rbac
        ));
        assert!(!allowed(
            &a,
            &req("create", "rbac.authorization.k8s.io", "roles", "dev", ""),
            &rbac
        ));
        assert!(allowed(
            &b,
            &req("get", "", "configmaps", "dev", "c"),
            &rbac
        ));
        assert!(allowed(
            &b,
            &sub(req("get", "", "pods", "dev", "p"), "log"),
            &rbac
        ));
        assert!(!allowed(&b, &req("get", "", "secrets", "dev", "s"), &rbac));
        assert!(!allowed(&b, &req("delete", "", "pods", "dev", "p"), &rbac));
    }

    #[test]
    fn every_authenticated_user_may_discover_and_review_itself() {
        let rbac = RbacObjects::default();
        let dave = UserInfo::new("dave", &[]);
        for p in [
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps/v1",
            "/version",
            "/healthz",
            "/livez",
            "/readyz",
            "/openapi/v3",
            "/openapi/v2",
        ] {
            assert!(allowed(&dave, &path("get", p), &rbac), "{p}");
        }
        assert!(!allowed(&dave, &path("get", "/metrics"), &rbac));
        assert!(!allowed(&dave, &path("post", "/api"), &rbac));
        for resource in ["selfsubjectaccessreviews", "selfsubjectrulesreviews"] {
            assert!(allowed(
                &dave,
                &req("create", "authorization.k8s.io", resource, "", ""),
                &rbac
            ));
        }
        assert!(allowed(
            &dave,
            &req(
                "create",
                "authentication.k8s.io",
                "selfsubjectreviews",
                "",
                ""
            ),
            &rbac
        ));
        assert!(!allowed(
            &dave,
            &req(
                "create",
                "authorization.k8s.io",
                "subjectaccessreviews",
                "",
                ""
            ),
            &rbac
        ));
        assert!(!allowed(
            &dave,
            &req("list", "", "pods", "default", ""),
            &rbac
        ));

        let anonymous = UserInfo::anonymous();
        assert!(allowed(&anonymous, &path("get", "/healthz"), &rbac));
        assert!(allowed(&anonymous, &path("get", "/version"), &rbac));
        assert!(!allowed(&anonymous, &path("get", "/apis"), &rbac));
        assert!(!allowed(
            &anonymous,
            &req(
                "create",
                "authorization.k8s.io",
                "selfsubjectaccessreviews",
                "",
                ""
            ),
            &rbac
        ));
    }

    #[test]
    fn system_masters_may_do_anything() {
        let admin = UserInfo::new("kubernetes-admin", &["system:masters"]);
        let rbac = RbacObjects::default();
        assert!(allowed(
            &admin,
            &req("delete", "", "nodes", "", "n1"),
            &rbac
        ));
        assert!(allowed(&admin, &path("get", "/metrics"), &rbac));
        assert!(allowed(
            &admin,
            &sub(req("create", "", "pods", "x", "p"), "exec"),
            &rbac
        ));
    }

    #[test]
    fn a_stored_cluster_role_replaces_the_built_in_one_of_the_same_name() {
        let rbac = RbacObjects {
            cluster_roles: vec![cluster_role(
                "view",
                json!({}),
                json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]),
            )],
            role_bindings: vec![role_binding(
                "dev",
                "v",
                ("ClusterRole", "view"),
                user_subject("alice"),
            )],
            ..RbacObjects::default()
        };
        assert!(allowed(
            &alice(),
            &req("get", "", "configmaps", "dev", "c"),
            &rbac
        ));
        assert!(!allowed(
            &alice(),
            &req("get", "", "pods", "dev", "p"),
            &rbac
        ));
    }

    #[test]
    fn unresolvable_role_references_become_the_deny_reason() {
        let rbac = RbacObjects {
            role_bindings: vec![
                role_binding("dev", "a", ("ClusterRole", "gone"), user_subject("alice")),
                role_binding("dev", "b", ("ClusterRole", "gone"), user_subject("alice")),
                role_binding("dev", "c", ("Role", "missing"), user_subject("alice")),
                role_binding("dev", "d", ("Role", "not-mine"), user_subject("bob")),
            ],
            ..RbacObjects::default()
        };
        assert_eq!(
            authorize(&alice(), &req("get", "", "pods", "dev", "p"), &rbac),
            Decision::Deny(
                r#"RBAC: [clusterrole.rbac.authorization.k8s.io "gone" not found, role.rbac.authorization.k8s.io "missing" not found]"#.into()
            )
        );
        // Bindings to other users do not matter, and neither do namespaces not asked about.
        assert_eq!(
            authorize(&alice(), &req("get", "", "pods", "prod", "p"), &rbac),
            Decision::Deny(String::new())
        );
        // A binding that does resolve still allows despite the broken ones.
        let mut ok = rbac.clone();
        ok.role_bindings.push(role_binding(
            "dev",
            "e",
            ("ClusterRole", "view"),
            user_subject("alice"),
        ));
        assert!(allowed(&alice(), &req("get", "", "pods", "dev", "p"), &ok));
    }

    #[test]
    fn forbidden_messages_match_kube_apiserver() {
        let a = alice();
        assert_eq!(
            forbidden_message(&a, &req("get", "apps", "deployments", "default", "web"), ""),
            r#"deployments.apps "web" is forbidden: User "alice" cannot get resource "deployments" in API group "apps" in the namespace "default""#
        );
        assert_eq!(
            forbidden_message(&a, &req("list", "", "pods", "", ""), ""),
            r#"pods is forbidden: User "alice" cannot list resource "pods" in API group "" at the cluster scope"#
        );
        assert_eq!(
            forbidden_message(
                &a,
                &sub(req("get", "apps", "deployments", "default", "web"), "scale"),
                ""
            ),
            r#"deployments.apps "web" is forbidden: User "alice" cannot get resource "deployments/scale" in API group "apps" in the namespace "default""#
        );
        assert_eq!(
            forbidden_message(&a, &req("get", "", "nodes", "", "node-1"), ""),
            r#"nodes "node-1" is forbidden: User "alice" cannot get resource "nodes" in API group "" at the cluster scope"#
        );
        assert_eq!(
            forbidden_message(&UserInfo::anonymous(), &path("get", "/metrics"), ""),
            r#"forbidden: User "system:anonymous" cannot get path "/metrics""#
        );
        let sa = UserInfo::service_account("team-a", "bot");
        assert_eq!(
            forbidden_message(&sa, &req("create", "", "secrets", "team-b", ""), ""),
            r#"secrets is forbidden: User "system:serviceaccount:team-a:bot" cannot create resource "secrets" in API group "" in the namespace "team-b""#
        );
    }

    #[test]
    fn forbidden_message_appends_the_reason_and_quotes_like_go() {
        let rbac = RbacObjects {
            role_bindings: vec![role_binding(
                "dev",
                "a",
                ("ClusterRole", "gone"),
                user_subject("alice"),
            )],
            ..RbacObjects::default()
        };
        let attrs = req("list", "", "pods", "dev", "");
        let Decision::Deny(reason) = authorize(&alice(), &attrs, &rbac) else {
            panic!("expected a denial");
        };
        assert_eq!(
            forbidden_message(&alice(), &attrs, &reason),
            r#"pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "dev": RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found"#
        );
        let odd = UserInfo::new("o\"brien<x>", &[]);
        assert_eq!(
            forbidden_message(&odd, &path("get", "/a\tb"), ""),
            r#"forbidden: User "o\"brien&lt;x&gt;" cannot get path "/a\tb""#
        );
    }

    #[test]
    fn rules_review_lists_cluster_and_namespace_rules() {
        let mut rbac = pod_reader_in_dev();
        rbac.role_bindings.push(role_binding(
            "dev",
            "gone",
            ("ClusterRole", "gone"),
            user_subject("alice"),
        ));
        let review = rules_for(&alice(), "dev", &rbac);
        assert!(review.resource_rules.contains(&ResourceRule {
            verbs: vec!["get".into(), "list".into(), "watch".into()],
            api_groups: vec!["".into()],
            resources: vec!["pods".into()],
            resource_names: vec![],
        }));
        assert!(review
            .resource_rules
            .iter()
            .any(|r| r.resources.contains(&"selfsubjectrulesreviews".into())));
        assert!(review
            .non_resource_rules
            .iter()
            .any(|r| r.non_resource_urls.contains(&"/apis/*".into())));
        assert!(!review.incomplete);
        assert_eq!(
            review.evaluation_error,
            r#"clusterrole.rbac.authorization.k8s.io "gone" not found"#
        );

        let elsewhere = rules_for(&alice(), "prod", &rbac);
        assert!(!elsewhere
            .resource_rules
            .iter()
            .any(|r| r.resources.contains(&"pods".into())));
        assert_eq!(elsewhere.evaluation_error, "");

        let status = elsewhere.to_status();
        assert_eq!(status["incomplete"], json!(false));
        assert!(status.get("evaluationError").is_none());
        assert!(status["nonResourceRules"]
            .as_array()
            .is_some_and(|rules| rules
                .iter()
                .all(|r| r.get("verbs").is_some() && r.get("apiGroups").is_none())));
    }

    #[test]
    fn rules_review_for_system_masters_shows_everything() {
        let admin = UserInfo::new("kubernetes-admin", &["system:masters"]);
        let review = rules_for(&admin, "default", &RbacObjects::default());
        assert_eq!(
            review.to_status()["resourceRules"][0],
            json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})
        );
        assert_eq!(
            review.to_status()["nonResourceRules"][0],
            json!({"verbs": ["*"], "nonResourceURLs": ["*"]})
        );
    }

    #[test]
    fn bootstrap_policy_objects_are_storable_cluster_roles_and_bindings() {
        let policy = bootstrap_policy();
        let names: Vec<&str> = policy.cluster_roles.iter().map(object_name).collect();
        for expected in [
            "cluster-admin",
            "admin",
            "edit",
            "view",
            "system:discovery",
            "system:basic-user",
            "system:public-info-viewer",
        ] {
            assert!(names.contains(&expected), "{expected}");
        }
        assert!(policy.cluster_roles.iter().all(
            |r| r["kind"] == "ClusterRole" && r["apiVersion"] == "rbac.authorization.k8s.io/v1"
        ));
        let masters = policy
            .cluster_role_bindings
            .iter()
            .find(|b| object_name(b) == "cluster-admin");
        assert_eq!(
            masters.map(|b| &b["subjects"][0]["name"]),
            Some(&json!("system:masters"))
        );
    }
}
