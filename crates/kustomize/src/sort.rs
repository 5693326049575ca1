//! Output order. kustomize sorts by kind ("legacy" order: namespaces, CRDs, RBAC and
//! config before workloads, webhooks last) unless `sortOptions.order` is `fifo`.

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::error::{KustomizeError, Result};
use crate::kustomization::SortOptions;
use crate::resid::{Gvk, ResId};
use crate::resource::ResMap;

/// kustomize's legacy kind order: these kinds first, in this order.
pub(crate) const DEFAULT_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

/// ... and these last.
pub(crate) const DEFAULT_LAST: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

pub fn apply(resources: &mut ResMap, options: Option<&SortOptions>) -> Result<()> {
    let (first, last): (Vec<String>, Vec<String>) = match options {
        None => (owned(DEFAULT_FIRST), owned(DEFAULT_LAST)),
        Some(options) => match (options.order.as_str(), &options.legacy_sort_options) {
            ("fifo", None) => return Ok(()),
            ("fifo", Some(_)) => {
                return Err(KustomizeError::field(
                    "",
                    "sortOptions.legacySortOptions",
                    "the field 'sortOptions.legacySortOptions' is set but the selected sort order is 'fifo', not 'legacy'",
                ))
            }
            ("legacy", None) => (owned(DEFAULT_FIRST), owned(DEFAULT_LAST)),
            ("legacy", Some(legacy)) => (legacy.order_first.clone(), legacy.order_last.clone()),
            _ => {
                return Err(KustomizeError::field(
                    "",
                    "sortOptions.order",
                    "the field 'sortOptions.order' must be one of [fifo, legacy]",
                ))
            }
        },
    };
    let mut rank: HashMap<String, i64> = HashMap::new();
    let n_first = first.len() as i64;
    for (i, kind) in first.into_iter().enumerate() {
        rank.insert(kind, i as i64 - n_first);
    }
    for (i, kind) in last.into_iter().enumerate() {
        rank.insert(kind, 1 + i as i64);
    }
    resources
        .resources
        .sort_by_cached_key(|r| SortKey::new(r.cur_id(), &rank));
    Ok(())
}

fn owned(kinds: &[&str]) -> Vec<String> {
    kinds.iter().map(|k| (*k).to_owned()).collect()
}

/// kustomize's legacy comparison, as a sort key.
#[derive(PartialEq, Eq)]
struct SortKey {
    rank: i64,
    gvk: Gvk,
    gvk_text: String,
    id_text: String,
}

impl SortKey {
    fn new(id: ResId, rank: &HashMap<String, i64>) -> Self {
        let or = |s: &str, empty: &str| {
            if s.is_empty() {
                empty.to_owned()
            } else {
                s.to_owned()
            }
        };
        let gvk_text = format!(
            "{}_{}_{}",
            or(&id.gvk.group, "~G"),
            or(&id.gvk.version, "~V"),
            or(&id.gvk.kind, "~K")
        );
        let id_text = format!("{}|{}", or(&id.namespace, "~X"), or(&id.name, "~N"));
        Self {
            rank: rank.get(&id.gvk.kind).copied().unwrap_or(0),
            gvk: id.gvk,
            gvk_text,
            id_text,
        }
    }
}

impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> Ordering {
        if self.gvk != other.gvk {
            if self.rank != other.rank {
                return self.rank.cmp(&other.rank);
            }
            // Core Namespaces sort after other groups' Namespace kinds (kustomize's quirk).
            if self.gvk.kind == "Namespace"
                && other.gvk.kind == "Namespace"
                && (self.gvk.group.is_empty() || other.gvk.group.is_empty())
            {
                return other.gvk_text.cmp(&self.gvk_text);
            }
            return self.gvk_text.cmp(&other.gvk_text);
        }
        self.id_text.cmp(&other.id_text)
    }
}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
