//! Staged apply as fluxcd/pkg `ssa.ApplyAllStaged` does it, the order objects are
//! applied in (`ssa.SortableUnstructureds`), and the change set Flux reports in its
//! events (`Deployment/apps/web configured`).
//!
//! Stages, in order:
//! 1. cluster definitions: CustomResourceDefinitions, Namespaces, ClusterRoles
//!    (then wait for them to be ready: a CRD must be Established before its
//!    custom resources can be applied);
//! 2. class definitions: every kind whose name ends in `Class` (StorageClass,
//!    IngressClass, GatewayClass, ...), then wait again;
//! 3. the controller's custom stage kinds (`--custom-stage-kinds`), no wait;
//! 4. everything else.
//!
//! Within a stage objects are sorted by kind (Flux's `ReconcileOrder`: kinds listed
//! first, unknown kinds in the middle, webhook configurations last), then group,
//! kind, namespace and name.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use super::inventory::{InventoryError, ObjMetadata};

/// Kinds applied before all others, in this order (fluxcd/pkg ssa `ReconcileOrder.First`).
pub const KINDS_FIRST: [&str; 23] = [
    "CustomResourceDefinition",
    "Namespace",
    "ClusterRole",
    "ClusterClass",
    "RuntimeClass",
    "PriorityClass",
    "StorageClass",
    "VolumeSnapshotClass",
    "IngressClass",
    "GatewayClass",
    "ClusterRoleBinding",
    "ResourceQuota",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Secret",
    "Service",
    "LimitRange",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

/// Kinds applied after all others (`ReconcileOrder.Last`): webhooks last, so they
/// cannot block the objects of their own release.
pub const KINDS_LAST: [&str; 2] = [
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// Position of a kind in the apply order: negative for the first kinds, 0 for kinds
/// Flux does not list, positive for the last ones. Only the kind counts, not the group.
pub fn kind_rank(kind: &str) -> i32 {
    if let Some(i) = KINDS_FIRST.iter().position(|k| *k == kind) {
        return i as i32 - KINDS_FIRST.len() as i32;
    }
    if let Some(i) = KINDS_LAST.iter().position(|k| *k == kind) {
        return i as i32 + 1;
    }
    0
}

/// Flux's apply order between two objects: kind rank, group, kind, namespace, name.
pub fn compare_for_apply(a: &ObjMetadata, b: &ObjMetadata) -> Ordering {
    kind_rank(&a.kind)
        .cmp(&kind_rank(&b.kind))
        .then_with(|| a.group.cmp(&b.group))
        .then_with(|| a.kind.cmp(&b.kind))
        .then_with(|| a.namespace.cmp(&b.namespace))
        .then_with(|| a.name.cmp(&b.name))
}

/// The apply stages, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// CRDs, Namespaces and ClusterRoles.
    ClusterDefinitions,
    /// Kinds ending in `Class`.
    ClassDefinitions,
    /// Kinds the controller was told to apply in a stage of their own.
    Custom,
    /// Everything else.
    Resources,
}

impl Stage {
    /// Whether apply waits for this stage's objects to become ready (kstatus
    /// Current) before the next stage.
    pub fn waits_for_readiness(self) -> bool {
        matches!(self, Stage::ClusterDefinitions | Stage::ClassDefinitions)
    }
}

/// A `group/kind` the controller applies in the custom stage (empty group = core).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupKind {
    pub group: String,
    pub kind: String,
}

/// Parses `--custom-stage-kinds` (`group1/Kind1,Kind2`), as fluxcd/pkg `ParseGroupKindSet`.
pub fn parse_group_kinds(text: &str) -> HashSet<GroupKind> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| match item.split_once('/') {
            Some((group, kind)) => GroupKind {
                group: group.into(),
                kind: kind.into(),
            },
            None => GroupKind {
                group: String::new(),
                kind: item.into(),
            },
        })
        .collect()
}

fn api_version_of(object: &Value) -> &str {
    object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn kind_of(object: &Value) -> &str {
    object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// A CRD (kind compared without case, any `apiextensions.k8s.io` version).
pub fn is_crd(object: &Value) -> bool {
    kind_of(object).eq_ignore_ascii_case("CustomResourceDefinition")
        && api_version_of(object).starts_with("apiextensions.k8s.io/")
}

/// A Namespace: only the core `v1` kind, not a custom kind of the same name.
pub fn is_namespace(object: &Value) -> bool {
    kind_of(object).eq_ignore_ascii_case("Namespace") && api_version_of(object) == "v1"
}

pub fn is_cluster_role(object: &Value) -> bool {
    kind_of(object).eq_ignore_ascii_case("ClusterRole")
        && api_version_of(object).starts_with("rbac.authorization.k8s.io/")
}

/// The stage an object is applied in.
pub fn stage_of(object: &Value, custom_stage_kinds: &HashSet<GroupKind>) -> Stage {
    if is_crd(object) || is_namespace(object) || is_cluster_role(object) {
        return Stage::ClusterDefinitions;
    }
    if kind_of(object).ends_with("Class") {
        return Stage::ClassDefinitions;
    }
    let group = api_version_of(object)
        .rsplit_once('/')
        .map(|(g, _)| g)
        .unwrap_or_default();
    let group_kind = GroupKind {
        group: group.into(),
        kind: kind_of(object).into(),
    };
    if custom_stage_kinds.contains(&group_kind) {
        return Stage::Custom;
    }
    Stage::Resources
}

/// One stage of an apply plan: the objects, already in apply order.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedStage {
    pub stage: Stage,
    pub objects: Vec<Value>,
}

/// Splits built objects into stages (empty stages left out) and sorts each stage.
/// Flux always runs the last stage, even empty; callers may skip it.
pub fn plan_stages(
    objects: Vec<Value>,
    custom_stage_kinds: &HashSet<GroupKind>,
) -> Result<Vec<PlannedStage>, InventoryError> {
    let mut by_stage: BTreeMap<Stage, Vec<(ObjMetadata, Value)>> = BTreeMap::new();
    for object in objects {
        let meta = ObjMetadata::from_object(&object)?;
        by_stage
            .entry(stage_of(&object, custom_stage_kinds))
            .or_default()
            .push((meta, object));
    }
    Ok(by_stage
        .into_iter()
        .map(|(stage, mut objects)| {
            objects.sort_by(|a, b| compare_for_apply(&a.0, &b.0));
            PlannedStage {
                stage,
                objects: objects.into_iter().map(|(_, o)| o).collect(),
            }
        })
        .collect())
}

// ---------------------------------------------------------------------------------
// Change sets
// ---------------------------------------------------------------------------------

/// What apply or prune did to one object; the words are Flux's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Created,
    Configured,
    Unchanged,
    Deleted,
    Skipped,
    Unknown,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Configured => "configured",
            Action::Unchanged => "unchanged",
            Action::Deleted => "deleted",
            Action::Skipped => "skipped",
            Action::Unknown => "unknown",
        }
    }

    /// Whether the action changed the cluster: anything but `skipped` and `unchanged`
    /// (kustomize-controller's `HasChanged`). Only those go into the apply event.
    pub fn has_changed(self) -> bool {
        !matches!(self, Action::Skipped | Action::Unchanged)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One object's outcome: identity, version (for the inventory) and action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSetEntry {
    pub object: ObjMetadata,
    pub version: String,
    pub action: Action,
}

impl ChangeSetEntry {
    /// Entry for a manifest or live object.
    pub fn for_object(object: &Value, action: Action) -> Result<Self, InventoryError> {
        let meta = ObjMetadata::from_object(object)?;
        let api_version = api_version_of(object);
        let version = api_version
            .rsplit_once('/')
            .map(|(_, v)| v)
            .unwrap_or(api_version);
        Ok(Self {
            object: meta,
            version: version.to_owned(),
            action,
        })
    }

    /// `Kind/namespace/name`, as Flux prints it.
    pub fn subject(&self) -> String {
        self.object.subject()
    }
}

impl fmt::Display for ChangeSetEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.subject(), self.action)
    }
}

/// The outcome of an apply or prune, in the order the objects were handled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    pub entries: Vec<ChangeSetEntry>,
}

impl ChangeSet {
    /// Every entry, one `Kind/ns/name action` per line (Flux's `ChangeSet.String()`).
    /// This is the prune event text, where `skipped` lines are included.
    pub fn lines(&self) -> String {
        self.entries
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The event Flux emits after an apply: only the entries that changed something,
    /// one per line; `None` when nothing changed (Flux then emits no event).
    pub fn apply_event_message(&self) -> Option<String> {
        let changed: Vec<String> = self
            .entries
            .iter()
            .filter(|e| e.action.has_changed())
            .map(ToString::to_string)
            .collect();
        (!changed.is_empty()).then(|| changed.join("\n"))
    }

    /// The event Flux emits after pruning (`garbage collection completed`): every
    /// entry, skipped ones too; `None` when nothing was stale.
    pub fn prune_event_message(&self) -> Option<String> {
        (!self.entries.is_empty()).then(|| self.lines())
    }

    /// Subjects grouped by action, for the "server-side apply completed" log line
    /// when the controller groups its change log.
    pub fn grouped_by_action(&self) -> BTreeMap<Action, Vec<String>> {
        let mut grouped: BTreeMap<Action, Vec<String>> = BTreeMap::new();
        for entry in &self.entries {
            grouped
                .entry(entry.action)
                .or_default()
                .push(entry.subject());
        }
        grouped
    }

    /// Subject to action, for the ungrouped apply log line.
    pub fn action_by_subject(&self) -> BTreeMap<String, Action> {
        self.entries
            .iter()
            .map(|e| (e.subject(), e.action))
            .collect()
    }

    /// Whether any entry changed the cluster (the `drifted` flag of a reconcile).
    pub fn has_changes(&self) -> bool {
        self.entries.iter().any(|e| e.action.has_changed())
    }
}

/// The error Flux reports when a partial apply fails: the error, then the change
/// log of what was already changed (the changed entries, each followed by a newline).
pub fn partial_apply_error_message(error: &str, already_applied: &ChangeSet) -> String {
    let mut log = String::new();
    for entry in already_applied
        .entries
        .iter()
        .filter(|e| e.action.has_changed())
    {
        log.push_str(&entry.to_string());
        log.push('\n');
    }
    format!("{error}\n{log}")
}

/// Whether a failed (dry-run) apply means "an immutable field changed", which is
/// what `force` recreates objects for. Like kubectl and fluxcd/pkg: any Conflict
/// (409) or Invalid (422) API error, or a message saying a field is immutable
/// (admission webhooks, CEL rules).
pub fn is_immutable_error(status_code: Option<u16>, reason: &str, message: &str) -> bool {
    if matches!(status_code, Some(409) | Some(422)) || reason == "Conflict" || reason == "Invalid" {
        return true;
    }
    static PATTERNS: OnceLock<[Regex; 2]> = OnceLock::new();
    let patterns = PATTERNS.get_or_init(|| {
        [
            Regex::new(r"is\simmutable").expect("valid regex"),
            Regex::new(r"immutable\sfield").expect("valid regex"),
        ]
    });
    patterns.iter().any(|p| p.is_match(message))
}

/// The error for an encrypted Secret when `spec.decryption` is not set (checked
/// before anything is applied).
pub fn encrypted_secret_error(object: &ObjMetadata) -> String {
    format!(
        "{} is SOPS encrypted, configuring decryption is required for this secret to be reconciled",
        object.subject()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(api_version: &str, kind: &str, namespace: &str, name: &str) -> Value {
        let mut metadata = json!({"name": name});
        if !namespace.is_empty() {
            metadata["namespace"] = json!(namespace);
        }
        json!({"apiVersion": api_version, "kind": kind, "metadata": metadata})
    }

    fn subjects(objects: &[Value]) -> Vec<String> {
        objects
            .iter()
            .map(|o| ObjMetadata::from_object(o).unwrap().subject())
            .collect()
    }

    #[test]
    fn kind_ranks_put_listed_kinds_first_and_webhooks_last() {
        assert!(kind_rank("CustomResourceDefinition") < kind_rank("Namespace"));
        assert!(kind_rank("Namespace") < kind_rank("ServiceAccount"));
        assert!(kind_rank("ConfigMap") < kind_rank("Deployment"));
        assert!(kind_rank("PodDisruptionBudget") < kind_rank("Widget"));
        assert_eq!(kind_rank("Widget"), 0);
        assert_eq!(kind_rank("Ingress"), 0);
        assert!(kind_rank("Widget") < kind_rank("MutatingWebhookConfiguration"));
        assert!(
            kind_rank("MutatingWebhookConfiguration") < kind_rank("ValidatingWebhookConfiguration")
        );
    }

    #[test]
    fn definitions_go_first_then_classes_then_the_rest() {
        let objects = vec![
            object("apps/v1", "Deployment", "apps", "web"),
            object("example.com/v1", "Widget", "apps", "w"),
            object("storage.k8s.io/v1", "StorageClass", "", "fast"),
            object("v1", "Namespace", "", "apps"),
            object("rbac.authorization.k8s.io/v1", "ClusterRole", "", "reader"),
            object(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                "",
                "widgets.example.com",
            ),
            object("networking.k8s.io/v1", "IngressClass", "", "nginx"),
            object("v1", "ConfigMap", "apps", "cfg"),
            object(
                "rbac.authorization.k8s.io/v1",
                "ClusterRoleBinding",
                "",
                "reader",
            ),
        ];
        let plan = plan_stages(objects, &HashSet::new()).unwrap();
        let stages: Vec<Stage> = plan.iter().map(|s| s.stage).collect();
        assert_eq!(
            stages,
            [
                Stage::ClusterDefinitions,
                Stage::ClassDefinitions,
                Stage::Resources
            ]
        );
        assert_eq!(
            subjects(&plan[0].objects),
            [
                "CustomResourceDefinition/widgets.example.com",
                "Namespace/apps",
                "ClusterRole/reader"
            ]
        );
        assert_eq!(
            subjects(&plan[1].objects),
            ["StorageClass/fast", "IngressClass/nginx"]
        );
        assert_eq!(
            subjects(&plan[2].objects),
            [
                "ClusterRoleBinding/reader",
                "ConfigMap/apps/cfg",
                "Deployment/apps/web",
                "Widget/apps/w"
            ]
        );
        assert!(plan[0].stage.waits_for_readiness());
        assert!(plan[1].stage.waits_for_readiness());
        assert!(!plan[2].stage.waits_for_readiness());
    }

    #[test]
    fn look_alike_kinds_are_not_definitions() {
        // A custom "Namespace" kind is an ordinary resource; a CRD needs the apiextensions group.
        let custom_namespace = object("example.com/v1", "Namespace", "", "x");
        assert_eq!(
            stage_of(&custom_namespace, &HashSet::new()),
            Stage::Resources
        );
        let fake_crd = object("example.com/v1", "CustomResourceDefinition", "", "x");
        assert_eq!(stage_of(&fake_crd, &HashSet::new()), Stage::Resources);
        let beta_crd = object(
            "apiextensions.k8s.io/v1beta1",
            "CustomResourceDefinition",
            "",
            "x",
        );
        assert_eq!(
            stage_of(&beta_crd, &HashSet::new()),
            Stage::ClusterDefinitions
        );
        // Any kind ending in Class is a class definition, custom ones included.
        let custom_class = object("example.com/v1", "WidgetClass", "", "x");
        assert_eq!(
            stage_of(&custom_class, &HashSet::new()),
            Stage::ClassDefinitions
        );
        // ClusterRoleBindings are not definitions.
        let binding = object(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            "",
            "x",
        );
        assert_eq!(stage_of(&binding, &HashSet::new()), Stage::Resources);
    }

    #[test]
    fn custom_stage_kinds_get_their_own_stage() {
        let kinds = parse_group_kinds("cert-manager.io/ClusterIssuer, Secret");
        assert!(kinds.contains(&GroupKind {
            group: "cert-manager.io".into(),
            kind: "ClusterIssuer".into()
        }));
        assert!(kinds.contains(&GroupKind {
            group: String::new(),
            kind: "Secret".into()
        }));
        assert!(parse_group_kinds("").is_empty());

        let plan = plan_stages(
            vec![
                object("cert-manager.io/v1", "Certificate", "apps", "tls"),
                object("cert-manager.io/v1", "ClusterIssuer", "", "letsencrypt"),
                object("v1", "Secret", "apps", "s"),
            ],
            &kinds,
        )
        .unwrap();
        assert_eq!(plan.len(), 2);
        assert_eq!(plan[0].stage, Stage::Custom);
        assert_eq!(
            subjects(&plan[0].objects),
            ["Secret/apps/s", "ClusterIssuer/letsencrypt"]
        );
        assert_eq!(subjects(&plan[1].objects), ["Certificate/apps/tls"]);
    }

    #[test]
    fn ties_are_broken_by_group_kind_namespace_name() {
        let mut metas = [
            ObjMetadata::new("b", "x", "example.com", "Widget"),
            ObjMetadata::new("a", "y", "example.com", "Widget"),
            ObjMetadata::new("a", "x", "example.com", "Widget"),
            ObjMetadata::new("a", "x", "apps.example.com", "Zebra"),
            ObjMetadata::new("a", "x", "example.com", "Gadget"),
            ObjMetadata::new("a", "x", "", "Pod"),
        ];
        metas.sort_by(compare_for_apply);
        let ids: Vec<String> = metas.iter().map(ObjMetadata::id).collect();
        assert_eq!(
            ids,
            [
                "a_x__Pod",
                "a_x_apps.example.com_Zebra",
                "a_x_example.com_Gadget",
                "a_x_example.com_Widget",
                "a_y_example.com_Widget",
                "b_x_example.com_Widget",
            ]
        );
    }

    #[test]
    fn objects_without_identity_cannot_be_planned() {
        let result = plan_stages(
            vec![json!({"apiVersion": "v1", "kind": "ConfigMap"})],
            &HashSet::new(),
        );
        assert!(result.is_err());
    }

    fn change_set(entries: &[(&str, &str, &str, &str, Action)]) -> ChangeSet {
        ChangeSet {
            entries: entries
                .iter()
                .map(|(ns, name, group, kind, action)| ChangeSetEntry {
                    object: ObjMetadata::new(ns, name, group, kind),
                    version: "v1".into(),
                    action: *action,
                })
                .collect(),
        }
    }

    #[test]
    fn apply_events_list_only_changes() {
        let set = change_set(&[
            ("", "apps", "", "Namespace", Action::Unchanged),
            ("apps", "cfg", "", "ConfigMap", Action::Created),
            ("apps", "web", "apps", "Deployment", Action::Configured),
            ("apps", "legacy", "", "Secret", Action::Skipped),
        ]);
        assert_eq!(
            set.apply_event_message().as_deref(),
            Some("ConfigMap/apps/cfg created\nDeployment/apps/web configured")
        );
        assert!(set.has_changes());
        let quiet = change_set(&[("", "apps", "", "Namespace", Action::Unchanged)]);
        assert_eq!(quiet.apply_event_message(), None);
        assert!(!quiet.has_changes());
    }

    #[test]
    fn prune_events_list_everything() {
        let set = change_set(&[
            ("apps", "web", "apps", "Deployment", Action::Deleted),
            ("apps", "kept", "", "ConfigMap", Action::Skipped),
            ("", "apps", "", "Namespace", Action::Deleted),
        ]);
        assert_eq!(
            set.prune_event_message().as_deref(),
            Some(
                "Deployment/apps/web deleted\nConfigMap/apps/kept skipped\nNamespace/apps deleted"
            )
        );
        assert_eq!(ChangeSet::default().prune_event_message(), None);
    }

    #[test]
    fn change_logs_group_by_action() {
        let set = change_set(&[
            ("apps", "a", "", "ConfigMap", Action::Created),
            ("apps", "b", "", "ConfigMap", Action::Created),
            ("apps", "web", "apps", "Deployment", Action::Unchanged),
        ]);
        let grouped = set.grouped_by_action();
        assert_eq!(
            grouped[&Action::Created],
            ["ConfigMap/apps/a", "ConfigMap/apps/b"]
        );
        assert_eq!(grouped[&Action::Unchanged], ["Deployment/apps/web"]);
        assert_eq!(
            set.action_by_subject()["Deployment/apps/web"],
            Action::Unchanged
        );
    }

    #[test]
    fn entries_come_from_objects() {
        let entry = ChangeSetEntry::for_object(
            &object("apps/v1", "Deployment", "apps", "web"),
            Action::Created,
        )
        .unwrap();
        assert_eq!(entry.version, "v1");
        assert_eq!(entry.to_string(), "Deployment/apps/web created");
        let core =
            ChangeSetEntry::for_object(&object("v1", "Namespace", "", "apps"), Action::Unchanged)
                .unwrap();
        assert_eq!(core.version, "v1");
        assert_eq!(core.to_string(), "Namespace/apps unchanged");
    }

    #[test]
    fn partial_apply_errors_carry_the_change_log() {
        let set = change_set(&[
            ("", "apps", "", "Namespace", Action::Created),
            ("apps", "cfg", "", "ConfigMap", Action::Unchanged),
        ]);
        assert_eq!(
            partial_apply_error_message("Deployment/apps/web dry-run failed", &set),
            "Deployment/apps/web dry-run failed\nNamespace/apps created\n"
        );
    }

    #[test]
    fn immutable_errors_are_recognised() {
        assert!(is_immutable_error(
            Some(422),
            "Invalid",
            "Deployment.apps \"web\" is invalid"
        ));
        assert!(is_immutable_error(Some(409), "", "conflict"));
        assert!(is_immutable_error(None, "Invalid", ""));
        assert!(is_immutable_error(
            Some(400),
            "BadRequest",
            "admission webhook denied: spec.storageClassName is immutable"
        ));
        assert!(is_immutable_error(
            Some(500),
            "",
            "cannot change immutable field spec.x"
        ));
        assert!(!is_immutable_error(Some(403), "Forbidden", "forbidden"));
        assert!(!is_immutable_error(Some(500), "InternalError", "immutable"));
    }

    #[test]
    fn encrypted_secret_message() {
        assert_eq!(
            encrypted_secret_error(&ObjMetadata::new("apps", "creds", "", "Secret")),
            "Secret/apps/creds is SOPS encrypted, configuring decryption is required for this secret to be reconciled"
        );
    }
}
