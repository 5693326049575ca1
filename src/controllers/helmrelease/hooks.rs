//! Helm hooks as Helm's action/hooks.go runs them: the hooks of one event in order
//! of weight then name; each deleted first under `before-hook-creation` (the
//! default policy), created, waited for (a Job until it completes, a Pod until it
//! succeeds, anything else once it exists), and deleted afterwards under
//! `hook-succeeded` or `hook-failed`. Each run is recorded in the hook's `last_run`,
//! as Helm stores it with the release.

use std::time::Duration;

use ferroflux_helm::storage::StoredHook;
use serde_json::{json, Value};

use crate::apply::{Applier, ObjectRef, Seen};

const BEFORE_HOOK_CREATION: &str = "before-hook-creation";
const HOOK_SUCCEEDED: &str = "hook-succeeded";
const HOOK_FAILED: &str = "hook-failed";

/// The hooks of `event` in the order Helm runs them: by weight, then by name.
pub fn ordered<'a>(hooks: &'a mut [StoredHook], event: &str) -> Vec<&'a mut StoredHook> {
    let mut selected: Vec<&mut StoredHook> = hooks
        .iter_mut()
        .filter(|h| h.events.iter().any(|e| e == event))
        .collect();
    selected.sort_by(|a, b| a.weight.cmp(&b.weight).then_with(|| a.name.cmp(&b.name)));
    selected
}

/// The delete policies in effect: Helm's default is `before-hook-creation`.
pub fn delete_policies(hook: &StoredHook) -> Vec<&str> {
    if hook.delete_policies.is_empty() {
        vec![BEFORE_HOOK_CREATION]
    } else {
        hook.delete_policies.iter().map(String::as_str).collect()
    }
}

/// Whether a hook object has finished: `Some(Ok)` done, `Some(Err)` failed, `None`
/// still running. Jobs and Pods run; other kinds are done once they exist.
pub fn outcome(object: &Value) -> Option<Result<(), String>> {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match kind {
        "Pod" => match object.pointer("/status/phase").and_then(Value::as_str) {
            Some("Succeeded") => Some(Ok(())),
            Some("Failed") => Some(Err("pod failed".into())),
            _ => None,
        },
        // Helm waits for a Job to finish (kstatus would call a running Job Current).
        "Job" => {
            let conditions = object
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let is_true = |type_: &str| {
                conditions
                    .iter()
                    .find(|c| c["type"] == type_ && c["status"] == "True")
            };
            if is_true("Complete").is_some() {
                return Some(Ok(()));
            }
            is_true("Failed").map(|c| {
                Err(format!(
                    "job failed: {}",
                    c["reason"].as_str().unwrap_or("Failed")
                ))
            })
        }
        _ => Some(Ok(())),
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Runs the hooks of `event`; the first failure stops the rest, as in Helm.
pub async fn run(
    applier: &Applier,
    hooks: &mut [StoredHook],
    event: &str,
    namespace: &str,
    timeout: Duration,
) -> Result<(), String> {
    for hook in ordered(hooks, event) {
        run_one(applier, hook, namespace, timeout)
            .await
            .map_err(|e| format!("{event} hook {} failed: {e}", hook.name))?;
    }
    Ok(())
}

async fn run_one(
    applier: &Applier,
    hook: &mut StoredHook,
    namespace: &str,
    timeout: Duration,
) -> Result<(), String> {
    let mut object: Value = serde_yaml_ng::from_str(&hook.manifest).map_err(|e| e.to_string())?;
    let r = ObjectRef::of(&object).map_err(|e| e.to_string())?;
    let r = if r.namespace.is_empty() {
        let (_, namespaced) = applier.resolve(&r).await.map_err(|e| e.to_string())?;
        if namespaced {
            object["metadata"]["namespace"] = json!(namespace);
        }
        ObjectRef::of(&object).map_err(|e| e.to_string())?
    } else {
        r
    };
    let policies: Vec<String> = delete_policies(hook)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let has = |policy: &str| policies.iter().any(|p| p == policy);
    if has(BEFORE_HOOK_CREATION) {
        delete_and_wait(applier, &r, timeout).await?;
    }
    hook.last_run.started_at = now();
    hook.last_run.completed_at = String::new();
    hook.last_run.phase = "Running".into();
    applier
        .apply(&object, &Seen::Absent, false)
        .await
        .map_err(|e| e.to_string())?;
    let result = wait_finished(applier, &r, tokio::time::Instant::now() + timeout).await;
    hook.last_run.completed_at = now();
    hook.last_run.phase = if result.is_ok() {
        "Succeeded"
    } else {
        "Failed"
    }
    .into();
    let delete = match &result {
        Ok(()) => has(HOOK_SUCCEEDED),
        Err(_) => has(HOOK_FAILED),
    };
    if delete {
        // Helm waits for every hook deletion, so the release (and whoever looks at
        // it next) never sees a hook that its policy removed.
        delete_and_wait(applier, &r, timeout).await?;
    }
    result
}

/// Polls `r` until it has finished ([`outcome`]): a Job until it completes or fails,
/// as Helm waits for hooks and (`--wait-for-jobs`) for a release's Jobs.
pub async fn wait_finished(
    applier: &Applier,
    r: &ObjectRef,
    deadline: tokio::time::Instant,
) -> Result<(), String> {
    loop {
        let live = applier.get(r).await.map_err(|e| e.to_string())?;
        if let Some(done) = live.as_ref().and_then(outcome) {
            return done;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err("timed out waiting for the condition".into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Deletes a hook's object (an earlier run's, or one its policy removes) and waits
/// until it is gone.
async fn delete_and_wait(
    applier: &Applier,
    r: &ObjectRef,
    timeout: Duration,
) -> Result<(), String> {
    if applier.get(r).await.map_err(|e| e.to_string())?.is_none() {
        return Ok(());
    }
    applier.delete(r).await.map_err(|e| e.to_string())?;
    let deadline = tokio::time::Instant::now() + timeout;
    while applier.get(r).await.map_err(|e| e.to_string())?.is_some() {
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("{} was not deleted in time", r.display()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferroflux_helm::storage::HookRun;

    fn hook(name: &str, weight: i64, events: &[&str], policies: &[&str]) -> StoredHook {
        StoredHook {
            name: name.into(),
            kind: "Job".into(),
            path: format!("chart/templates/{name}.yaml"),
            manifest: String::new(),
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            last_run: HookRun::default(),
            weight,
            delete_policies: policies.iter().map(|p| (*p).to_owned()).collect(),
            output_log_policies: Vec::new(),
        }
    }

    #[test]
    fn hooks_run_by_weight_then_name_for_their_event_only() {
        let mut hooks = vec![
            hook("migrate", 5, &["pre-upgrade", "pre-install"], &[]),
            hook("backup", -1, &["pre-upgrade"], &[]),
            hook("announce", 5, &["pre-upgrade"], &[]),
            hook("smoke", 0, &["test"], &[]),
        ];
        let names: Vec<String> = ordered(&mut hooks, "pre-upgrade")
            .iter()
            .map(|h| h.name.clone())
            .collect();
        assert_eq!(names, ["backup", "announce", "migrate"]);
        assert_eq!(ordered(&mut hooks, "test").len(), 1);
    }

    #[test]
    fn the_default_delete_policy_is_before_hook_creation() {
        assert_eq!(
            delete_policies(&hook("a", 0, &[], &[])),
            ["before-hook-creation"]
        );
        assert_eq!(
            delete_policies(&hook("a", 0, &[], &["hook-succeeded"])),
            ["hook-succeeded"]
        );
    }

    #[test]
    fn jobs_and_pods_run_until_they_finish_other_kinds_are_done_at_once() {
        let job = |conditions: Value| {
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "generation": 1},
                "status": {"conditions": conditions}})
        };
        assert_eq!(outcome(&job(json!([]))), None);
        let mut running = job(json!([]));
        running["status"]["startTime"] = json!("2026-12-03T10:00:00Z");
        running["status"]["active"] = json!(1);
        assert_eq!(outcome(&running), None, "running is not done");
        assert_eq!(
            outcome(&job(json!([{"type": "Complete", "status": "True"}]))),
            Some(Ok(()))
        );
        assert!(matches!(
            outcome(&job(
                json!([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}])
            )),
            Some(Err(_))
        ));
        let pod = |phase: &str| json!({"kind": "Pod", "status": {"phase": phase}});
        assert_eq!(outcome(&pod("Running")), None);
        assert_eq!(outcome(&pod("Succeeded")), Some(Ok(())));
        assert!(matches!(outcome(&pod("Failed")), Some(Err(_))));
        assert_eq!(outcome(&json!({"kind": "ConfigMap"})), Some(Ok(())));
    }
}
