//! Runtime tests: a real in-process actor tree with a scripted fake reconciler.
//! The fake reads its behaviour from the object's spec (`failTimes`,
//! `panicTimes`, `stall`, `publish`, `sourceRef`, `dependsOn`), counted per
//! object generation, so each test states its scenario as Kubernetes objects.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ractor::rpc::CallResult;
use serde_json::{json, Value};
use tokio::sync::watch;

use super::*;

const DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
struct Call {
    key: ObjectKey,
    reason: ReconcileReason,
    failures: u32,
    at: Instant,
}

#[derive(Default)]
struct Probe {
    calls: Mutex<Vec<Call>>,
    per_generation: Mutex<HashMap<(ObjectKey, u64), usize>>,
    completed: Mutex<Vec<ObjectKey>>,
}

impl Probe {
    fn calls_for(&self, key: &ObjectKey) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| &c.key == key)
            .cloned()
            .collect()
    }

    fn completed(&self) -> Vec<ObjectKey> {
        self.completed.lock().unwrap().clone()
    }
}

struct Fake {
    kind: &'static str,
    probe: Arc<Probe>,
    gate: Option<watch::Receiver<bool>>,
}

fn spec_u64(object: &Value, field: &str) -> u64 {
    object
        .pointer(&format!("/spec/{field}"))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

fn ref_key(object: &Value, reference: &Value, default_kind: &str) -> Option<ObjectKey> {
    let namespace = reference
        .get("namespace")
        .or_else(|| object.pointer("/metadata/namespace"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = reference
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or(default_kind);
    Some(ObjectKey::new(
        kind,
        namespace,
        reference.get("name")?.as_str()?,
    ))
}

impl Reconciler for Fake {
    fn kind(&self) -> &'static str {
        self.kind
    }

    async fn reconcile(&self, object: &Value, ctx: &ReconcileContext) -> ReconcileOutcome {
        let generation = object
            .pointer("/metadata/generation")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let nth = {
            let mut counts = self.probe.per_generation.lock().unwrap();
            let count = counts.entry((ctx.key.clone(), generation)).or_default();
            *count += 1;
            (*count - 1) as u64
        };
        self.probe.calls.lock().unwrap().push(Call {
            key: ctx.key.clone(),
            reason: ctx.reason.clone(),
            failures: ctx.failures,
            at: Instant::now(),
        });
        if let Some(gate) = &self.gate {
            let _ = gate.clone().wait_for(|open| *open).await;
        }
        if nth < spec_u64(object, "panicTimes") {
            panic!("injected panic in {}", ctx.key);
        }
        let outcome = if object.pointer("/spec/stall") == Some(&json!(true)) {
            ReconcileOutcome::Stalled(ReconcileError::new("InvalidSpec", "stalled on purpose"))
        } else if nth < spec_u64(object, "failTimes") {
            match object.pointer("/spec/retryMillis").and_then(Value::as_u64) {
                Some(ms) => ReconcileOutcome::RetryAfter(
                    ReconcileError::new("FetchFailed", "retry on purpose"),
                    Duration::from_millis(ms),
                ),
                None => ReconcileOutcome::Transient(ReconcileError::new(
                    "FetchFailed",
                    "transient on purpose",
                )),
            }
        } else {
            if object.pointer("/spec/publish") == Some(&json!(true)) {
                ctx.publish_artifact_changed();
            }
            ReconcileOutcome::Ready {
                requeue_after: None,
            }
        };
        self.probe.completed.lock().unwrap().push(ctx.key.clone());
        outcome
    }

    fn dependencies(&self, object: &Value) -> Vec<ObjectKey> {
        let mut keys = Vec::new();
        if let Some(source) = object.pointer("/spec/sourceRef") {
            keys.extend(ref_key(object, source, "GitRepository"));
        }
        for dependency in object
            .pointer("/spec/dependsOn")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            keys.extend(ref_key(object, dependency, self.kind));
        }
        keys
    }
}

fn object(kind: &str, namespace: &str, name: &str, generation: u64, spec: Value) -> Value {
    json!({
        "apiVersion": "test.ferroflux.io/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "generation": generation},
        "spec": spec,
    })
}

fn fast_config(concurrency: usize) -> KindConfig {
    KindConfig {
        concurrency,
        min_retry_delay: Duration::from_millis(20),
        max_retry_delay: Duration::from_millis(80),
        jitter_percent: 10,
    }
}

async fn start(
    kinds: Vec<(&'static str, KindConfig)>,
    gate: Option<watch::Receiver<bool>>,
) -> (Replica, Arc<Probe>) {
    let probe = Arc::new(Probe::default());
    let registrations = kinds
        .into_iter()
        .map(|(kind, config)| {
            KindRegistration::new(
                Fake {
                    kind,
                    probe: Arc::clone(&probe),
                    gate: gate.clone(),
                },
                config,
            )
        })
        .collect();
    let replica = Replica::start(registrations, Arc::new(OwnAll))
        .await
        .expect("replica starts");
    (replica, probe)
}

/// Polls `condition` until it holds; fails the test after [`DEADLINE`].
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn inspect(replica: &Replica, key: &ObjectKey) -> Option<ObjectSnapshot> {
    match replica
        .router
        .call(
            |reply| RouterMsg::Inspect(key.clone(), reply),
            Some(DEADLINE),
        )
        .await
    {
        Ok(CallResult::Success(snapshot)) => Some(snapshot),
        _ => None,
    }
}

async fn running(replica: &Replica, kind: &str) -> Vec<ObjectKey> {
    match replica
        .router
        .call(
            |reply| RouterMsg::Running(kind.to_string(), reply),
            Some(DEADLINE),
        )
        .await
    {
        Ok(CallResult::Success(keys)) => keys,
        other => panic!("running query failed: {other:?}"),
    }
}

async fn kind_stats(replica: &Replica, kind: &str) -> KindStats {
    match replica
        .router
        .call(
            |reply| RouterMsg::KindStats(kind.to_string(), reply),
            Some(DEADLINE),
        )
        .await
    {
        Ok(CallResult::Success(stats)) => stats,
        other => panic!("stats query failed: {other:?}"),
    }
}

async fn eventually_async<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + DEADLINE;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_reconciles_when_applied_and_then_on_its_interval() {
    let (replica, probe) = start(vec![("GitRepository", fast_config(4))], None).await;
    let key = ObjectKey::new("GitRepository", "flux-system", "podinfo");
    replica
        .router
        .send_message(RouterMsg::Applied(object(
            "GitRepository",
            "flux-system",
            "podinfo",
            1,
            json!({"interval": "40ms"}),
        )))
        .unwrap();

    eventually("three reconciles", || probe.calls_for(&key).len() >= 3).await;
    let calls = probe.calls_for(&key);
    assert_eq!(calls[0].reason, ReconcileReason::Started);
    assert_eq!(calls[1].reason, ReconcileReason::Interval);
    assert_eq!(calls[2].reason, ReconcileReason::Interval);
    // 40ms with 10% jitter: never sooner than 36ms apart.
    for pair in calls.windows(2).take(2) {
        assert!(
            pair[1].at - pair[0].at >= Duration::from_millis(35),
            "interval not respected"
        );
    }
    let snapshot = inspect(&replica, &key).await.expect("actor runs");
    assert!(snapshot.ready && !snapshot.stalled && snapshot.failures == 0);
    replica.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_retry_interval_is_kept_instead_of_backing_off() {
    let (replica, probe) = start(vec![("Kustomization", fast_config(4))], None).await;
    let key = ObjectKey::new("Kustomization", "apps", "fixed");
    replica
        .router
        .send_message(RouterMsg::Applied(object(
            "Kustomization",
            "apps",
            "fixed",
            1,
            json!({"interval": "1h", "failTimes": 3, "retryMillis": 60}),
        )))
        .unwrap();
    eventually("three failures then a success", || {
        probe.calls_for(&key).len() >= 4
    })
    .await;
    let calls = probe.calls_for(&key);
    assert_eq!(
        calls.iter().map(|c| c.failures).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    for pair in calls.windows(2) {
        let gap = pair[1].at - pair[0].at;
        // Exponential backoff here would be 20, 40, 80 ms; the fixed delay is 60 ms each.
        assert!(
            gap >= Duration::from_millis(58),
            "retried after {gap:?}, not after the fixed 60ms"
        );
    }
    replica.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_errors_back_off_exponentially_and_success_resets_the_backoff() {
    let (replica, probe) = start(vec![("Kustomization", fast_config(4))], None).await;
    let key = ObjectKey::new("Kustomization", "apps", "web");
    let apply = |generation, fail_times| {
        RouterMsg::Applied(object(
            "Kustomization",
            "apps",
            "web",
            generation,
            json!({"interval": "1h", "failTimes": fail_times}),
        ))
    };
    replica.router.send_message(apply(1, 4)).unwrap();
    eventually("four failures then a success", || {
        probe.calls_for(&key).len() >= 5
    })
    .await;
    let calls = probe.calls_for(&key);
    let failures: Vec<u32> = calls.iter().map(|c| c.failures).collect();
    assert_eq!(failures, [0, 1, 2, 3, 4]);
    assert!(calls[1..]
        .iter()
        .all(|c| c.reason == ReconcileReason::Backoff));
    // 20ms, 40ms, 80ms, then capped at 80ms.
    let expected = [20, 40, 80, 80];
    for (pair, min_gap) in calls.windows(2).zip(expected) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(min_gap - 2),
            "retry after {gap:?}, expected at least {min_gap}ms"
        );
    }
    eventually_async("ready after the retries", || async {
        inspect(&replica, &key)
            .await
            .is_some_and(|s| s.ready && s.failures == 0)
    })
    .await;

    // A new generation that fails once: the count starts again from zero.
    replica.router.send_message(apply(2, 1)).unwrap();
    eventually("the new generation succeeds", || {
        probe.calls_for(&key).len() >= 7
    })
    .await;
    let calls = probe.calls_for(&key);
    assert_eq!(calls[5].reason, ReconcileReason::SpecChanged);
    assert_eq!((calls[5].failures, calls[6].failures), (0, 1));
    assert!(
        calls[6].at - calls[5].at < Duration::from_millis(20 * 8),
        "backoff was not reset by the success"
    );
    replica.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_object_is_not_retried_until_its_spec_changes() {
    let (replica, probe) = start(vec![("Kustomization", fast_config(4))], None).await;
    let key = ObjectKey::new("Kustomization", "apps", "broken");
    replica
        .router
        .send_message(RouterMsg::Applied(object(
            "Kustomization",
            "apps",
            "broken",
            1,
            json!({"interval": "20ms", "stall": true}),
        )))
        .unwrap();
    eventually("first reconcile", || probe.calls_for(&key).len() == 1).await;

    // Nudges that are not spec changes: an explicit request, an artifact, and
    // a status-only update of the same generation.
    replica
        .router
        .send_message(RouterMsg::Send(
            key.clone(),
            ObjectMsg::Reconcile {
                reason: ReconcileReason::Requested("cli".into()),
            },
        ))
        .unwrap();
    replica
        .router
        .send_message(RouterMsg::Send(
            key.clone(),
            ObjectMsg::ArtifactChanged {
                source: ObjectKey::new("GitRepository", "apps", "repo"),
            },
        ))
        .unwrap();
    let mut with_status = object(
        "Kustomization",
        "apps",
        "broken",
        1,
        json!({"interval": "20ms", "stall": true}),
    );
    with_status["status"] = json!({"observedGeneration": 1});
    replica
        .router
        .send_message(RouterMsg::Applied(with_status))
        .unwrap();

    // The actor handles messages in order, so this answer comes after all of the above.
    let snapshot = inspect(&replica, &key).await.expect("actor runs");
    assert!(snapshot.stalled && !snapshot.queued && !snapshot.timer_armed);
    assert_eq!(
        snapshot.object["status"]["observedGeneration"], 1,
        "cache holds the latest object"
    );
    // Observation window: at 20ms interval / 20ms backoff, several retries would have run.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        probe.calls_for(&key).len(),
        1,
        "a stalled object was retried"
    );

    replica
        .router
        .send_message(RouterMsg::Applied(object(
            "Kustomization",
            "apps",
            "broken",
            2,
            json!({"interval": "1h"}),
        )))
        .unwrap();
    eventually("reconcile after the fix", || {
        probe.calls_for(&key).len() == 2
    })
    .await;
    assert_eq!(
        probe.calls_for(&key)[1].reason,
        ReconcileReason::SpecChanged
    );
    eventually_async("ready", || async {
        inspect(&replica, &key)
            .await
            .is_some_and(|s| s.ready && !s.stalled)
    })
    .await;
    replica.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_object_stops_its_actor() {
    let (replica, probe) = start(vec![("GitRepository", fast_config(4))], None).await;
    let key = ObjectKey::new("GitRepository", "apps", "repo");
    replica
        .router
        .send_message(RouterMsg::Applied(object(
            "GitRepository",
            "apps",
            "repo",
            1,
            json!({"interval": "30ms"}),
        )))
        .unwrap();
    eventually("first reconcile", || !probe.calls_for(&key).is_empty()).await;
    replica
        .router
        .send_message(RouterMsg::Deleted(key.clone()))
        .unwrap();
    eventually_async("actor stopped", || async {
        running(&replica, "GitRepository").await.is_empty()
    })
    .await;
    assert!(inspect(&replica, &key).await.is_none());
    // Once the actor is gone its interval timer is gone too.
    let calls_after_stop = probe.calls_for(&key).len();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(probe.calls_for(&key).len(), calls_after_stop);
    replica.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ownership_change_stops_lost_objects_and_starts_gained_ones() {
    let (replica, probe) = start(vec![("HelmRelease", fast_config(4))], None).await;
    let a = ObjectKey::new("HelmRelease", "team-a", "app");
    let b = ObjectKey::new("HelmRelease", "team-b", "app");
    for namespace in ["team-a", "team-b"] {
        replica
            .router
            .send_message(RouterMsg::Applied(object(
                "HelmRelease",
                namespace,
                "app",
                1,
                json!({"interval": "1h"}),
            )))
            .unwrap();
    }
    eventually("both reconciled", || {
        probe.calls_for(&a).len() == 1 && probe.calls_for(&b).len() == 1
    })
    .await;

    let only_team_a: Arc<dyn Ownership> = Arc::new(|key: &ObjectKey| key.namespace == "team-a");
    replica
        .router
        .send_message(RouterMsg::OwnershipChanged(only_team_a))
        .unwrap();
    eventually_async("team-b's actor stopped", || async {
        running(&replica, "HelmRelease").await == [a.clone()]
    })
    .await;
    // Events for objects owned elsewhere start nothing.
    replica
        .router
        .send_message(RouterMsg::Applied(object(
            "HelmRelease",
            "team-b",
            "app",
            2,
            json!({"interval": "1h"}),
        )))
        .unwrap();
    replica
        .router
        .send_message(RouterMsg::Applied(object(
            "HelmRelease",
            "team-b",
            "other",
            1,
            json!({"interval": "1h"}),
        )))
        .unwrap();
    assert_eq!(
        running(&replica, "HelmRelease").await,
        std::slice::from_ref(&a)
    );

    replica
        .router
        .send_message(RouterMsg::OwnershipChanged(Arc::new(OwnAll)))
        .unwrap();
    eventually("gained objects reconcile", || {
        probe.calls_for(&b).len() == 2
            && probe
                .calls_for(&ObjectKey::new("HelmRelease", "team-b", "other"))
                .len()
                == 1
    })
    .await;
    assert_eq!(probe.calls_for(&b)[1].reason, ReconcileReason::Started);
    assert_eq!(
        probe.calls_for(&a).len(),
        1,
        "a kept object is not restarted"
    );
    // The gained actor started from the latest cached version (generation 2).
    let snapshot = inspect(&replica, &b).await.expect("actor runs");
    assert_eq!(snapshot.object["metadata"]["generation"], 2);
    replica.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_artifact_and_ready_dependency_reach_subscribers_without_polling() {
    let (replica, probe) = start(
        vec![
            ("GitRepository", fast_config(4)),
            ("Kustomization", fast_config(4)),
        ],
        None,
    )
    .await;
    let repo = ObjectKey::new("GitRepository", "flux-system", "repo");
    let infra = ObjectKey::new("Kustomization", "flux-system", "infra");
    let apps = ObjectKey::new("Kustomization", "flux-system", "apps");
    let unrelated = ObjectKey::new("Kustomization", "flux-system", "unrelated");
    let kustomization = |name: &str, extra: Value| {
        let mut spec =
            json!({"interval": "1h", "sourceRef": {"kind": "GitRepository", "name": "repo"}});
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        object("Kustomization", "flux-system", name, 1, spec)
    };
    // infra fails once, so it becomes ready only on its retry, after apps started.
    replica
        .router
        .send_message(RouterMsg::Applied(kustomization(
            "infra",
            json!({"failTimes": 1}),
        )))
        .unwrap();
    replica
        .router
        .send_message(RouterMsg::Applied(kustomization(
            "apps",
            json!({"dependsOn": [{"name": "infra"}]}),
        )))
        .unwrap();
    replica
        .router
        .send_message(RouterMsg::Applied(object(
            "Kustomization",
            "flux-system",
            "unrelated",
            1,
            json!({"interval": "1h"}),
        )))
        .unwrap();
    let subscribers = replica
        .router
        .call(
            |reply| RouterMsg::Subscribers(repo.clone(), reply),
            Some(DEADLINE),
        )
        .await;
    assert!(
        matches!(subscribers, Ok(CallResult::Success(ref s)) if *s == [apps.clone(), infra.clone()])
    );
    eventually("kustomizations started", || {
        probe.calls_for(&apps).len() == 1
            && probe.calls_for(&infra).len() == 1
            && probe.calls_for(&unrelated).len() == 1
    })
    .await;

    replica
        .router
        .send_message(RouterMsg::Applied(object(
            "GitRepository",
            "flux-system",
            "repo",
            1,
            json!({"interval": "1h", "publish": true}),
        )))
        .unwrap();
    let artifact = ReconcileReason::ArtifactChanged(repo.clone());
    eventually("both subscribers heard of the artifact", || {
        probe.calls_for(&apps).iter().any(|c| c.reason == artifact)
            && probe.calls_for(&infra).iter().any(|c| c.reason == artifact)
    })
    .await;
    // apps is told when infra becomes ready. When apps is already queued (for the
    // artifact) at that moment the two requests are one reconcile, so what counts is
    // that apps reconciles after infra's successful one.
    eventually("apps reconciled after infra became ready", || {
        let completed = probe.completed();
        // infra fails once: its second completed reconcile is the one that made it ready.
        let infra_ready = completed
            .iter()
            .enumerate()
            .filter(|(_, k)| **k == infra)
            .nth(1)
            .map(|(i, _)| i);
        let apps_last = completed.iter().rposition(|k| *k == apps);
        matches!((infra_ready, apps_last), (Some(i), Some(a)) if a > i)
    })
    .await;
    // Let every queued reconcile finish, then check nobody else was told.
    eventually_async("all idle", || async {
        kind_stats(&replica, "Kustomization").await.scheduler
            == SchedulerStats {
                queued: 0,
                in_flight: 0,
                limit: 4,
            }
    })
    .await;
    assert_eq!(probe.calls_for(&unrelated).len(), 1);
    replica.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_reconcile_restarts_only_its_own_actor() {
    // One slot: if the panic leaked the slot, nothing would reconcile again.
    let (replica, probe) = start(vec![("Kustomization", fast_config(1))], None).await;
    let bad = ObjectKey::new("Kustomization", "apps", "bad");
    let good = ObjectKey::new("Kustomization", "apps", "good");
    replica
        .router
        .send_message(RouterMsg::Applied(object(
            "Kustomization",
            "apps",
            "good",
            1,
            json!({"interval": "20ms"}),
        )))
        .unwrap();
    replica
        .router
        .send_message(RouterMsg::Applied(object(
            "Kustomization",
            "apps",
            "bad",
            1,
            json!({"interval": "1h", "panicTimes": 2}),
        )))
        .unwrap();

    eventually("bad reconciled after two panics", || {
        probe.completed().contains(&bad)
    })
    .await;
    let bad_calls = probe.calls_for(&bad);
    assert_eq!(bad_calls.len(), 3);
    assert_eq!(bad_calls[1].reason, ReconcileReason::Restarted);
    assert_eq!(
        (bad_calls[1].failures, bad_calls[2].failures),
        (1, 2),
        "panics count as failures"
    );
    // The restart backs off like a transient error (20ms, then 40ms).
    assert!(bad_calls[2].at - bad_calls[1].at >= Duration::from_millis(38));

    let good_before = probe.calls_for(&good).len();
    eventually("good keeps reconciling", || {
        probe.calls_for(&good).len() >= good_before + 3
    })
    .await;
    let stats = kind_stats(&replica, "Kustomization").await;
    assert_eq!((stats.restarts, stats.running), (2, 2));
    eventually_async("bad is ready with a clean slate", || async {
        inspect(&replica, &bad)
            .await
            .is_some_and(|s| s.ready && s.failures == 0)
    })
    .await;
    replica.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_tenant_does_not_starve_a_small_one() {
    let (open_gate, gate) = watch::channel(false);
    // One slot: each completion hands the slot to the next in line, so the order
    // of completions is the order of the turns. (With two slots a turn granted to
    // an actor whose worker thread the OS has descheduled can finish arbitrarily
    // late on a loaded machine, which says nothing about fairness.)
    let (replica, probe) = start(vec![("Kustomization", fast_config(1))], Some(gate)).await;
    for i in 0..500 {
        replica
            .router
            .send_message(RouterMsg::Applied(object(
                "Kustomization",
                "tenant-a",
                &format!("a{i}"),
                1,
                json!({}),
            )))
            .unwrap();
    }
    for i in 0..5 {
        replica
            .router
            .send_message(RouterMsg::Applied(object(
                "Kustomization",
                "tenant-b",
                &format!("b{i}"),
                1,
                json!({}),
            )))
            .unwrap();
    }
    // Everything is queued behind the one (gated) slot before any completes.
    eventually_async("all 505 queued", || async {
        let stats = kind_stats(&replica, "Kustomization").await;
        stats.running == 505 && stats.scheduler.queued == 504 && stats.scheduler.in_flight == 1
    })
    .await;
    open_gate.send(true).unwrap();
    eventually("all reconciled", || probe.completed().len() == 505).await;

    let completed = probe.completed();
    let b_positions: Vec<usize> = completed
        .iter()
        .enumerate()
        .filter(|(_, k)| k.namespace == "tenant-b")
        .map(|(i, _)| i)
        .collect();
    // Round-robin over the two namespaces: after the first turn, b's five take
    // every other turn, so the last of them is done by the eleventh completion
    // (sooner if some of b's actors queued before some of a's).
    assert_eq!(b_positions.len(), 5, "{completed:?}");
    assert!(
        b_positions[4] <= 10,
        "tenant-b's reconciles completed at positions {b_positions:?}"
    );
    replica.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_bounded_per_kind() {
    let (open_gate, gate) = watch::channel(false);
    let (replica, probe) = start(
        vec![
            ("GitRepository", fast_config(3)),
            ("Kustomization", fast_config(1)),
        ],
        Some(gate),
    )
    .await;
    for i in 0..10 {
        replica
            .router
            .send_message(RouterMsg::Applied(object(
                "GitRepository",
                "ns",
                &format!("r{i}"),
                1,
                json!({}),
            )))
            .unwrap();
        replica
            .router
            .send_message(RouterMsg::Applied(object(
                "Kustomization",
                "ns",
                &format!("k{i}"),
                1,
                json!({}),
            )))
            .unwrap();
    }
    eventually("both kinds saturated", || {
        probe.calls.lock().unwrap().len() == 4
    })
    .await;
    // The other actors may still be starting under load: wait until every object
    // waits its turn, then check that none got past the bound meanwhile.
    eventually_async("every other object queued", || async {
        let repos = kind_stats(&replica, "GitRepository").await;
        let kustomizations = kind_stats(&replica, "Kustomization").await;
        repos.scheduler.queued == 7 && kustomizations.scheduler.queued == 9
    })
    .await;
    let (repos, kustomizations) = (
        kind_stats(&replica, "GitRepository").await,
        kind_stats(&replica, "Kustomization").await,
    );
    assert_eq!((repos.scheduler.in_flight, repos.scheduler.queued), (3, 7));
    assert_eq!(
        (
            kustomizations.scheduler.in_flight,
            kustomizations.scheduler.queued
        ),
        (1, 9)
    );
    assert_eq!(
        probe.calls.lock().unwrap().len(),
        4,
        "no reconcile beyond the bounds started"
    );
    open_gate.send(true).unwrap();
    eventually("all reconciled", || probe.completed().len() == 20).await;
    replica.shutdown().await;
}

/// Current-thread runtime: the metrics recorder below is thread-local and
/// every actor task runs on this thread.
#[tokio::test]
async fn reconciles_are_counted_and_timed_per_kind() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);

    let (replica, probe) = start(vec![("Bucket", fast_config(2))], None).await;
    let ok = ObjectKey::new("Bucket", "apps", "ok");
    let flaky = ObjectKey::new("Bucket", "apps", "flaky");
    replica
        .router
        .send_message(RouterMsg::Applied(object(
            "Bucket",
            "apps",
            "ok",
            1,
            json!({}),
        )))
        .unwrap();
    replica
        .router
        .send_message(RouterMsg::Applied(object(
            "Bucket",
            "apps",
            "flaky",
            1,
            json!({"failTimes": 1}),
        )))
        .unwrap();
    eventually("both done", || {
        probe.completed().iter().filter(|k| **k == flaky).count() == 2
            && probe.completed().contains(&ok)
    })
    .await;

    let mut counters: HashMap<(String, String), u64> = HashMap::new();
    let mut histogram_samples = 0;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let labels: HashMap<&str, &str> =
            key.key().labels().map(|l| (l.key(), l.value())).collect();
        assert_eq!(labels.get("kind"), Some(&"Bucket"));
        match (key.key().name(), value) {
            ("ferroflux_reconcile_total", DebugValue::Counter(n)) => {
                counters.insert(
                    (labels["name"].to_string(), labels["result"].to_string()),
                    n,
                );
            }
            ("gotk_reconcile_duration_seconds", DebugValue::Histogram(samples)) => {
                assert!(labels.contains_key("namespace") && labels.contains_key("name"));
                histogram_samples += samples.len();
            }
            // The router counts the objects running here, per kind.
            ("ferroflux_owned_objects", DebugValue::Gauge(owned)) => {
                assert!(owned.into_inner() >= 1.0, "{owned}");
            }
            (name, _) => panic!("unexpected metric {name}"),
        }
    }
    assert_eq!(counters.get(&("ok".into(), "success".into())), Some(&1));
    assert_eq!(
        counters.get(&("flaky".into(), "transient".into())),
        Some(&1)
    );
    assert_eq!(counters.get(&("flaky".into(), "success".into())), Some(&1));
    assert_eq!(histogram_samples, 3);
    replica.shutdown().await;
}
