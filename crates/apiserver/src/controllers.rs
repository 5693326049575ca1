//! The controllers a real cluster runs beside the API server, reduced to what clients
//! notice: namespace deletion, garbage collection by ownerReferences (background,
//! foreground, orphan), CRD instance cleanup, and the simulated kubelet.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::api::{DeleteOptions, State, Target, WriteOptions};
use crate::http::Shared;
use crate::kubelet::{self, KubeletConfig};
use crate::rbac::UserInfo;
use crate::store::{str_at, Change, EventType};

type Utc = chrono::DateTime<chrono::Utc>;

/// A workload the kubelet still watches.
#[derive(Debug, Clone, Copy)]
struct Rollout {
    generation: i64,
    /// When that generation was first seen: the rollout's start.
    seen_at: Utc,
    /// When to simulate it next: at once after it changed, else when the
    /// simulation said its status could change. Looking at every workload every
    /// tick cost the server most of its CPU with thousands of Deployments.
    due: Utc,
}

/// (resource key, namespace, name) → its rollout.
type Tracked = HashMap<(Arc<str>, String, String), Rollout>;

const CRD_KEY: &str = "apiextensions.k8s.io/customresourcedefinitions";
const NAMESPACE_KEY: &str = "/namespaces";
const CRD_CLEANUP: &str = "customresourcecleanup.apiextensions.k8s.io";

/// Resources whose status the simulated kubelet writes.
const SIMULATED: &[&str] = &[
    "apps/deployments",
    "apps/statefulsets",
    "apps/daemonsets",
    "apps/replicasets",
    "batch/jobs",
    "/services",
];

fn system_options() -> WriteOptions {
    WriteOptions {
        user: UserInfo {
            name: "system:kube-controller-manager".into(),
            groups: vec!["system:masters".into()],
        },
        dry_run: false,
        field_manager: "kube-controller-manager".into(),
        field_validation: String::new(),
        now: chrono::Utc::now(),
    }
}

/// Removes `finalizer` from an object; the object goes when its last finalizer does
/// and it is being deleted.
fn drop_finalizer(state: &mut State, key: &str, namespace: &str, name: &str, finalizer: &str) {
    let Some(current) = state.store.get(key, namespace, name) else {
        return;
    };
    let mut object = (*current).clone();
    let Some(list) = object
        .pointer_mut("/metadata/finalizers")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    let before = list.len();
    list.retain(|f| f.as_str() != Some(finalizer));
    if list.len() == before {
        return;
    }
    let empty = list.is_empty();
    if empty {
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("finalizers");
        }
    }
    if empty && object.pointer("/metadata/deletionTimestamp").is_some() {
        state.remove_object(key, namespace, name);
    } else {
        state.store.put(key, object);
    }
}

fn target_for(state: &State, key: &str, namespace: &str) -> Option<Target> {
    let info = state.registry.get_key(key)?;
    Some(Target {
        version: info.versions.first()?.clone(),
        namespace: namespace.to_owned(),
        info,
    })
}

fn delete_quietly(state: &mut State, key: &str, namespace: &str, name: &str, propagation: &str) {
    let Some(target) = target_for(state, key, namespace) else {
        // A kind no longer served: drop its objects directly.
        state.remove_object(key, namespace, name);
        return;
    };
    let del = DeleteOptions {
        propagation: Some(propagation.to_owned()),
        ..DeleteOptions::default()
    };
    // NotFound just means someone else got there first.
    let _ = state.delete(&target, name, &del, &system_options());
}

fn owner_uids(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn is_deleting(object: &Value) -> bool {
    object.pointer("/metadata/deletionTimestamp").is_some()
}

fn has_finalizer(object: &Value, finalizer: &str) -> bool {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|x| x.as_str() == Some(finalizer)))
}

/// One pass of namespace deletion, CRD cleanup and garbage collection. Returns whether
/// anything changed (another pass may find more to do).
pub fn collect_garbage(state: &mut State) -> bool {
    let rv_before = state.store.resource_version();
    let keys = state.store.keys();
    // Every object once, with its identity.
    let mut all: Vec<(Arc<str>, Arc<Value>)> = Vec::new();
    for key in &keys {
        for o in state.store.list(key, None) {
            all.push((key.clone(), o));
        }
    }
    let uids: HashMap<String, (Arc<str>, Arc<Value>)> = all
        .iter()
        .map(|(k, o)| {
            (
                str_at(o, "/metadata/uid").to_owned(),
                (k.clone(), o.clone()),
            )
        })
        .collect();

    // Namespaces being deleted: delete their contents, then let them go.
    for ns in state.store.list(NAMESPACE_KEY, None) {
        if !is_deleting(&ns) {
            continue;
        }
        let name = str_at(&ns, "/metadata/name").to_owned();
        let mut remaining = 0;
        for (key, o) in &all {
            if str_at(o, "/metadata/namespace") == name && &**key != NAMESPACE_KEY {
                remaining += 1;
                if !is_deleting(o) {
                    delete_quietly(state, key, &name, str_at(o, "/metadata/name"), "Background");
                }
            }
        }
        if remaining == 0 {
            let mut object = (*ns).clone();
            object["spec"]["finalizers"] = json!([]);
            state.store.put(NAMESPACE_KEY, object);
            if ns
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
            {
                state.remove_object(NAMESPACE_KEY, "", &name);
            }
        }
    }

    // CRDs being deleted: their instances go first.
    for crd in state.store.list(CRD_KEY, None) {
        if !is_deleting(&crd) || !has_finalizer(&crd, CRD_CLEANUP) {
            continue;
        }
        let Ok(served) = crate::resources::from_crd(&crd) else {
            continue;
        };
        let key = served.key();
        let instances = state.names_of(&key, None);
        for (ns, name) in &instances {
            if let Some(o) = state.store.get(&key, ns, name) {
                if !is_deleting(&o) {
                    delete_quietly(state, &key, ns, name, "Background");
                }
            }
        }
        if state.names_of(&key, None).is_empty() {
            drop_finalizer(
                state,
                CRD_KEY,
                "",
                str_at(&crd, "/metadata/name"),
                CRD_CLEANUP,
            );
        }
    }

    // Owners being deleted in the foreground or orphaning their dependents.
    for (key, owner) in &all {
        if !is_deleting(owner) {
            continue;
        }
        let uid = str_at(owner, "/metadata/uid");
        let ns = str_at(owner, "/metadata/namespace");
        let name = str_at(owner, "/metadata/name");
        let dependents: Vec<&(Arc<str>, Arc<Value>)> = all
            .iter()
            .filter(|(_, o)| owner_uids(o).iter().any(|u| u == uid))
            .collect();
        if has_finalizer(owner, "orphan") {
            for (dkey, d) in &dependents {
                let mut object = (**d).clone();
                if let Some(refs) = object
                    .pointer_mut("/metadata/ownerReferences")
                    .and_then(Value::as_array_mut)
                {
                    refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid));
                }
                state.store.put(dkey, object);
            }
            drop_finalizer(state, key, ns, name, "orphan");
        } else if has_finalizer(owner, "foregroundDeletion") {
            let live: Vec<_> = dependents
                .iter()
                .filter(|(dk, d)| {
                    state
                        .store
                        .get(
                            dk,
                            str_at(d, "/metadata/namespace"),
                            str_at(d, "/metadata/name"),
                        )
                        .is_some()
                })
                .collect();
            if live.is_empty() {
                drop_finalizer(state, key, ns, name, "foregroundDeletion");
            } else {
                for (dkey, d) in live {
                    if !is_deleting(d) {
                        delete_quietly(
                            state,
                            dkey,
                            str_at(d, "/metadata/namespace"),
                            str_at(d, "/metadata/name"),
                            "Foreground",
                        );
                    }
                }
            }
        }
    }

    // Background collection: dependents whose owners are all gone.
    for (key, snapshot) in &all {
        // Earlier steps of this pass may have changed or removed the object.
        let Some(o) = state.store.get(
            key,
            str_at(snapshot, "/metadata/namespace"),
            str_at(snapshot, "/metadata/name"),
        ) else {
            continue;
        };
        let owners = owner_uids(&o);
        if owners.is_empty() || is_deleting(&o) {
            continue;
        }
        let any_owner_alive = owners.iter().any(|u| {
            uids.get(u).is_some_and(|(k, owner)| {
                state
                    .store
                    .get(
                        k,
                        str_at(owner, "/metadata/namespace"),
                        str_at(owner, "/metadata/name"),
                    )
                    .is_some_and(|live| str_at(&live, "/metadata/uid") == u)
            })
        });
        if !any_owner_alive {
            delete_quietly(
                state,
                key,
                str_at(&o, "/metadata/namespace"),
                str_at(&o, "/metadata/name"),
                "Background",
            );
        }
    }
    state.store.resource_version() != rv_before
}

/// Runs the controllers until the server stops.
pub async fn run(
    shared: Arc<Shared>,
    kubelet_config: KubeletConfig,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut changes = shared.lock().store.subscribe_live();
    let mut tracked: Tracked = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            () = shared.wake.notified() => {}
            _ = tick.tick() => {}
        }
        {
            if drain_changes(&mut changes, &mut tracked).is_err() {
                // Lagged: re-read every simulated workload instead.
                changes = shared.lock().store.subscribe_live();
                let state = shared.lock();
                for key in SIMULATED {
                    for (ns, name) in state.names_of(key, None) {
                        let now = chrono::Utc::now();
                        tracked
                            .entry((Arc::from(*key), ns, name))
                            .and_modify(|rollout| rollout.due = now)
                            .or_insert(Rollout {
                                generation: -1,
                                seen_at: now,
                                due: now,
                            });
                    }
                }
            }
        }
        let mut state = shared.lock();
        if state.gc_pending {
            state.gc_pending = false;
            for _ in 0..16 {
                if !collect_garbage(&mut state) {
                    break;
                }
            }
        }
        simulate(&mut state, &mut tracked, &kubelet_config);
    }
}

fn drain_changes(
    rx: &mut broadcast::Receiver<Arc<Change>>,
    tracked: &mut Tracked,
) -> Result<(), ()> {
    loop {
        match rx.try_recv() {
            Ok(change) => {
                if !SIMULATED.contains(&&*change.key) {
                    continue;
                }
                let id = (
                    change.key.clone(),
                    change.namespace.clone(),
                    str_at(&change.object, "/metadata/name").to_owned(),
                );
                if change.event == EventType::Deleted {
                    tracked.remove(&id);
                    continue;
                }
                let generation = change
                    .object
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                let now = chrono::Utc::now();
                let rollout = tracked.entry(id).or_insert(Rollout {
                    generation,
                    seen_at: now,
                    due: now,
                });
                if rollout.generation != generation {
                    rollout.generation = generation;
                    rollout.seen_at = now;
                }
                rollout.due = now;
            }
            Err(broadcast::error::TryRecvError::Empty)
            | Err(broadcast::error::TryRecvError::Closed) => return Ok(()),
            Err(broadcast::error::TryRecvError::Lagged(_)) => return Err(()),
        }
    }
}

fn simulate(state: &mut State, tracked: &mut Tracked, config: &KubeletConfig) {
    let now = chrono::Utc::now();
    let mut settled = HashSet::new();
    for (id, rollout) in tracked.iter_mut().filter(|(_, r)| r.due <= now) {
        let (key, ns, name) = id;
        let Some(object) = state.store.get(key, ns, name) else {
            settled.insert(id.clone());
            continue;
        };
        let simulation = kubelet::simulate(&object, config, rollout.seen_at, now);
        match (simulation.status, simulation.changes_at) {
            (Some(status), _) => {
                let mut next = (*object).clone();
                next["status"] = status;
                state.store.put(key, next);
                // The write comes back as a change, which looks again at once.
                rollout.due = simulation.changes_at.unwrap_or(now);
            }
            (None, Some(at)) => rollout.due = at,
            (None, None) => {
                settled.insert(id.clone());
            }
        }
    }
    for id in settled {
        tracked.remove(&id);
    }
}
