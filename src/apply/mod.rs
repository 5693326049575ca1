//! Applying objects as Flux's controllers do, shared by the Kustomization and
//! HelmRelease controllers: staged server-side apply (fluxcd/pkg ssa
//! `ApplyAllStaged`), prune of what the inventory had and the new set lacks, and the
//! deletion of everything when the owner goes (`DeleteAll`).
//!
//! The rules (stages, order, opt-outs, inventory ids, prune decisions) are pure and
//! tested in [`stages`] and [`inventory`]; this module is the IO around them.

pub mod applier;
mod impersonation;
pub mod inventory;
pub mod stages;

use std::collections::HashSet;
use std::time::Duration;

use kube::api::PropagationPolicy;
use serde_json::Value;

pub use applier::{Applier, ApplyError, ObjectRef, Seen};
pub use impersonation::Impersonator;
use inventory::{InventoryEntry, InventoryError, InventoryObject, Owner, PruneDecision};
use stages::{Action, ChangeSet, ChangeSetEntry, GroupKind};

/// Why an apply, prune or deletion failed. Each carries the changes made before it
/// (Flux lists them in the error: [`stages::partial_apply_error_message`]).
#[derive(Debug, thiserror::Error)]
pub enum StagedError {
    #[error("{0}")]
    Plan(#[from] InventoryError),
    #[error("{error}")]
    Apply {
        error: ApplyError,
        applied: ChangeSet,
    },
    #[error("{subject} is not ready: {message}")]
    StageNotReady { subject: String, message: String },
    /// `survivors`: the objects not confirmed deleted, to keep in the inventory.
    #[error("{error}")]
    Prune {
        error: ApplyError,
        survivors: Vec<InventoryObject>,
    },
    #[error("failed to wait for objects to be deleted: {0}")]
    Termination(String),
}

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions<'a> {
    pub owner: &'a Owner,
    /// Recreate objects whose immutable fields changed (`spec.force`).
    pub force: bool,
    /// How long to wait for the objects of a definitions stage to be ready.
    pub timeout: Duration,
    /// `--custom-stage-kinds`.
    pub custom_stage_kinds: &'a HashSet<GroupKind>,
}

/// What a staged apply did: every object's action (skipped ones included: they stay
/// in the inventory) and the state of each applied object afterwards.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    pub change_set: ChangeSet,
    pub versions: Vec<(ObjectRef, String)>,
}

impl Applied {
    /// The inventory these objects make.
    pub fn inventory(&self) -> Vec<InventoryEntry> {
        inventory::inventory_from_change_set(&self.change_set)
    }
}

/// Applies `objects` stage by stage, in Flux's order, waiting after each
/// definitions stage until its objects are ready (a CRD Established before its
/// custom resources are applied).
pub async fn apply_staged(
    applier: &Applier,
    objects: Vec<Value>,
    options: &ApplyOptions<'_>,
) -> Result<Applied, StagedError> {
    let mut applied = Applied::default();
    for stage in stages::plan_stages(objects, options.custom_stage_kinds)? {
        let mut stage_refs = Vec::new();
        for object in &stage.objects {
            let r = ObjectRef::of(object).map_err(|error| StagedError::Apply {
                error,
                applied: applied.change_set.clone(),
            })?;
            let failed = |error, applied: &Applied| StagedError::Apply {
                error,
                applied: applied.change_set.clone(),
            };
            let (before, live_opted_out) = applier
                .before_apply(&r)
                .await
                .map_err(|e| failed(e, &applied))?;
            let exists = matches!(before, Seen::Version(_));
            // The live side counts through the watch's metadata (kubectl annotate).
            let skip = live_opted_out
                || inventory::apply_skip_reason(object, None).is_some()
                || (exists && inventory::ssa_policy(object) == inventory::SsaPolicy::IfNotPresent);
            if skip {
                applied
                    .change_set
                    .entries
                    .push(ChangeSetEntry::for_object(object, Action::Skipped)?);
                continue;
            }
            let recreate = options.force || inventory::is_force_enabled(object);
            let (action, version) = applier
                .apply(object, &before, recreate)
                .await
                .map_err(|e| failed(e, &applied))?;
            applied
                .change_set
                .entries
                .push(ChangeSetEntry::for_object(object, action)?);
            applied.versions.push((r.clone(), version));
            stage_refs.push(r);
        }
        if stage.stage.waits_for_readiness() && !stage_refs.is_empty() {
            crate::health::wait_for(applier, &stage_refs, options.timeout, &[])
                .await
                .map_err(|message| StagedError::StageNotReady {
                    subject: stage_refs
                        .iter()
                        .map(ObjectRef::display)
                        .collect::<Vec<_>>()
                        .join(", "),
                    message,
                })?;
        }
    }
    Ok(applied)
}

/// Deletes what `old` had and `new` lacks, in reverse apply order, when `owner`
/// still owns it and it did not opt out. On failure the error lists the objects
/// not confirmed deleted, for the caller to keep in the inventory.
pub async fn prune(
    applier: &Applier,
    old: &[InventoryEntry],
    new: &[InventoryEntry],
    owner: &Owner,
) -> Result<ChangeSet, StagedError> {
    let stale = inventory::stale_objects(old, new)?;
    delete_objects(applier, &stale, owner, PropagationPolicy::Background).await
}

/// Deletes every object the inventory lists (the owner is being deleted), in
/// reverse apply order, with the same rules as prune. With `wait_for`, waits
/// until the deleted objects are gone (`deletionPolicy: WaitForTermination`).
/// `propagation` is what happens to their dependents (a HelmRelease's
/// `uninstall.deletionPropagation`).
pub async fn delete_all(
    applier: &Applier,
    entries: &[InventoryEntry],
    owner: &Owner,
    wait_for: Option<Duration>,
    propagation: PropagationPolicy,
) -> Result<ChangeSet, StagedError> {
    let objects = inventory::deletion_order(entries)?;
    let deleted = delete_objects(applier, &objects, owner, propagation).await?;
    if let Some(timeout) = wait_for {
        wait_terminated(applier, &deleted, timeout).await?;
    }
    Ok(deleted)
}

async fn delete_objects(
    applier: &Applier,
    objects: &[InventoryObject],
    owner: &Owner,
    propagation: PropagationPolicy,
) -> Result<ChangeSet, StagedError> {
    let mut results = ChangeSet::default();
    for object in objects {
        let r = ObjectRef::from_inventory(object);
        let live = match applier.get(&r).await {
            Ok(live) => live,
            // The kind is no longer served (its CRD went first): nothing to delete.
            Err(ApplyError::NoMatch { .. }) => None,
            Err(error) => {
                return Err(StagedError::Prune {
                    error,
                    survivors: inventory::prune_survivors(objects, &results),
                })
            }
        };
        let decision = inventory::prune_decision(live.as_ref(), owner);
        if decision == PruneDecision::Delete {
            if let Err(error) = applier.delete_with(&r, propagation.clone()).await {
                return Err(StagedError::Prune {
                    error,
                    survivors: inventory::prune_survivors(objects, &results),
                });
            }
        }
        results
            .entries
            .push(inventory::prune_entry(object, decision));
    }
    Ok(results)
}

/// Polls until every deleted object is gone, or the timeout.
async fn wait_terminated(
    applier: &Applier,
    deleted: &ChangeSet,
    timeout: Duration,
) -> Result<(), StagedError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let refs: Vec<ObjectRef> = deleted
        .entries
        .iter()
        .filter(|e| e.action == Action::Deleted)
        .map(|e| {
            ObjectRef::from_inventory(&InventoryObject {
                meta: e.object.clone(),
                version: e.version.clone(),
            })
        })
        .collect();
    loop {
        let mut remaining = Vec::new();
        for r in &refs {
            match applier.get(r).await {
                Ok(None) | Err(ApplyError::NoMatch { .. }) => {}
                Ok(Some(_)) => remaining.push(r.display()),
                Err(e) => return Err(StagedError::Termination(e.to_string())),
            }
        }
        if remaining.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StagedError::Termination(format!(
                "timeout waiting for: [{}]",
                remaining.join(", ")
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// An object without what the API server keeps for itself (status, managed fields,
/// resourceVersion, generation, creation time, uid): what is left is what applying
/// decides, for comparing a live object with a dry run.
pub fn without_server_fields(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    if let Some(Value::Object(metadata)) = object.get_mut("metadata") {
        for field in [
            "managedFields",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "uid",
        ] {
            metadata.remove(field);
        }
    }
    object
}
