//! The simulated kubelet and workload controllers: given a workload object, the status a
//! real cluster would give it some time after its last change.
//!
//! There are no pods. A workload's pods are summarised by counts, and the pods started for a
//! spec become ready `ready_after` after the simulation first saw that spec's generation. The
//! statuses are shaped like the real controllers' (field names, zero counts left out where Go
//! leaves them out, condition reasons and messages) so that kstatus, `kubectl rollout status`
//! and `kubectl wait` read them as they would on a cluster.
//!
//! Simulating a failure: a pod template with a container image tagged `fail` (`nginx:fail`),
//! or the annotation `ferroflux.dev/simulate: fail` on the workload or on its pod template,
//! makes the pods started for that spec never become ready. Pods that were already ready stay
//! ready: like a broken image, the marker takes effect with the next rollout (a spec change, or
//! the workload's creation). A failing Deployment then reports `ProgressDeadlineExceeded`, and a
//! failing Job fails with `BackoffLimitExceeded`, after [`KubeletConfig::progress_deadline`].
//!
//! The simulation keeps no state: what it needs to know about the past it reads back from the
//! status it wrote before (the ReplicaSet named in a Deployment's Progressing message, a
//! StatefulSet's revisions, `observedGeneration`, a Job's `startTime`).

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Map, Value};

/// The annotation that, set to [`FAIL_MARKER`] on a workload or its pod template, makes its
/// new pods never become ready.
pub const SIMULATE_ANNOTATION: &str = "ferroflux.dev/simulate";

/// The value of [`SIMULATE_ANNOTATION`], and the image tag, that simulate failing pods.
pub const FAIL_MARKER: &str = "fail";

/// Tunables of the simulation.
#[derive(Debug, Clone)]
pub struct KubeletConfig {
    /// How long after a spec change a healthy workload becomes ready.
    pub ready_after: std::time::Duration,
    /// The longest a failing rollout runs before it is reported as failed: a Deployment's
    /// progress deadline is the smaller of this and `spec.progressDeadlineSeconds` (600s by
    /// default, too long for tests), and a failing Job fails with `BackoffLimitExceeded` this
    /// long after it started.
    pub progress_deadline: std::time::Duration,
}

/// What the simulation says of a workload at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    /// The status to write, or None when it is already right (or the kind is not
    /// simulated).
    pub status: Option<Value>,
    /// The earliest time at which the answer can change unless the object does
    /// (a rollout becoming ready, a deadline passing); None when only a change of
    /// the object can change it.
    pub changes_at: Option<DateTime<Utc>>,
}

/// Simulates `object` (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, Service) at `now`.
/// `generation_seen_at` is when the simulation first saw the object's current
/// `metadata.generation` (the rollout's start).
pub fn simulate(
    object: &Value,
    config: &KubeletConfig,
    generation_seen_at: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> Simulation {
    let clock = Clock {
        config,
        seen_at: generation_seen_at,
        now,
        next: std::cell::Cell::new(None),
    };
    let status = match Workload::of(object) {
        Some(Workload::Deployment) => Some(deployment_status(object, &clock)),
        Some(Workload::StatefulSet) => Some(stateful_set_status(object, &clock)),
        Some(Workload::DaemonSet) => Some(daemon_set_status(object, &clock)),
        Some(Workload::ReplicaSet) => Some(replica_set_status(object, &clock)),
        Some(Workload::Job) => job_status(object, &clock),
        Some(Workload::Service) => Some(service_status(object)),
        None => None,
    };
    Simulation {
        status: status.filter(|status| object.get("status") != Some(status)),
        changes_at: clock.next.get(),
    }
}

/// The status `object` should have now, or None when its kind is not simulated or
/// nothing changes (see [`simulate`]).
pub fn desired_status(
    object: &Value,
    config: &KubeletConfig,
    generation_seen_at: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Value> {
    simulate(object, config, generation_seen_at, now).status
}

/// Whether `object`'s status is final: it will not change any more unless the object changes
/// (a kind that is not simulated is always settled). `now` does not matter: the answer is
/// whether the status at the end of time is the current one.
pub fn is_settled(
    object: &Value,
    config: &KubeletConfig,
    generation_seen_at: chrono::DateTime<chrono::Utc>,
    _now: chrono::DateTime<chrono::Utc>,
) -> bool {
    desired_status(object, config, generation_seen_at, DateTime::<Utc>::MAX_UTC).is_none()
}

/// The hash that names a pod template's ReplicaSet (`NAME-HASH`, the `pod-template-hash`
/// label) or StatefulSet revision: the same for the same template whatever its key order,
/// different when anything in it changes.
pub fn pod_template_hash(template: &Value) -> String {
    let mut hasher = Fnv1a32::new();
    hash_canonical(template, &mut hasher);
    // Base 27 over consonants and digits, like Kubernetes' names: no vowels, so no words.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let base = ALPHABET.len() as u32;
    let mut value = hasher.finish();
    let mut encoded = Vec::new();
    loop {
        encoded.push(ALPHABET[(value % base) as usize]);
        value /= base;
        if value == 0 {
            break;
        }
    }
    encoded.reverse();
    String::from_utf8(encoded).expect("the alphabet is ASCII")
}

/// Whether the pods of `object`'s current spec are simulated as never becoming ready.
pub fn simulates_failure(object: &Value) -> bool {
    let marked = |metadata: Option<&Value>| {
        metadata
            .and_then(|m| m.pointer("/annotations"))
            .and_then(|a| a.get(SIMULATE_ANNOTATION))
            .and_then(Value::as_str)
            == Some(FAIL_MARKER)
    };
    let pod_spec = object.pointer("/spec/template/spec");
    let failing_image = ["initContainers", "containers"].iter().any(|list| {
        pod_spec
            .and_then(|s| s.get(*list))
            .and_then(Value::as_array)
            .is_some_and(|containers| {
                containers.iter().any(|c| {
                    c.get("image")
                        .and_then(Value::as_str)
                        .and_then(image_tag)
                        .is_some_and(|tag| tag == FAIL_MARKER)
                })
            })
    });
    marked(object.get("metadata"))
        || marked(object.pointer("/spec/template/metadata"))
        || failing_image
}

/// The tag of an image reference: `registry:5000/nginx:1.27@sha256:…` → `1.27`.
fn image_tag(image: &str) -> Option<&str> {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last_component = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last_component.split_once(':').map(|(_, tag)| tag)
}

#[derive(Debug, Clone, Copy)]
enum Workload {
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    Job,
    /// A Service: those of type LoadBalancer get an ingress address, as
    /// cloud-provider-kind gives them on a kind cluster.
    Service,
}

impl Workload {
    fn of(object: &Value) -> Option<Workload> {
        let kind = object.get("kind").and_then(Value::as_str)?;
        // A custom resource may reuse a built-in kind's name in its own group.
        let group_is = |group: &str| match object.get("apiVersion").and_then(Value::as_str) {
            Some(api_version) => api_version.split_once('/').map_or("", |(g, _)| g) == group,
            None => true,
        };
        match kind {
            "Deployment" if group_is("apps") => Some(Workload::Deployment),
            "StatefulSet" if group_is("apps") => Some(Workload::StatefulSet),
            "DaemonSet" if group_is("apps") => Some(Workload::DaemonSet),
            "ReplicaSet" if group_is("apps") => Some(Workload::ReplicaSet),
            "Job" if group_is("batch") => Some(Workload::Job),
            "Service" if group_is("") => Some(Workload::Service),
            _ => None,
        }
    }
}

/// The times a status is computed from. Every question about time goes through
/// [`Clock::passed`], which remembers the earliest moment still to come that it
/// was asked about: until then every answer, and so the status, stays the same.
struct Clock<'a> {
    config: &'a KubeletConfig,
    seen_at: DateTime<Utc>,
    now: DateTime<Utc>,
    next: std::cell::Cell<Option<DateTime<Utc>>>,
}

impl Clock<'_> {
    /// Whether `after` has passed since `start`.
    fn passed(&self, start: DateTime<Utc>, after: TimeDelta) -> bool {
        let passed = self.now.signed_duration_since(start) >= after;
        if !passed {
            // A moment beyond the calendar never comes: nothing to wait for.
            if let Some(at) = start.checked_add_signed(after) {
                let earliest = self.next.get().map_or(at, |next| next.min(at));
                self.next.set(Some(earliest));
            }
        }
        passed
    }

    /// Whether the pods started for the current generation are ready by now.
    fn rollout_ready(&self) -> bool {
        self.passed(self.seen_at, delta(self.config.ready_after))
    }

    fn stamp(&self) -> String {
        timestamp(self.now)
    }
}

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

// ---- Deployment ----

/// The pods of a Deployment, by whether they run its current template. Old pods are all
/// available: only available old pods are carried into a rollout.
#[derive(Debug, Clone, Copy, Default)]
struct RolloutPods {
    old: i64,
    new: i64,
    new_available: i64,
}

fn deployment_status(object: &Value, clock: &Clock) -> Value {
    let spec = object.get("spec").unwrap_or(&Value::Null);
    let generation = generation(object);
    let desired = desired_replicas(spec);
    let replica_set = format!(
        "{}-{}",
        str_at(object, "/metadata/name"),
        pod_template_hash(spec.get("template").unwrap_or(&Value::Null))
    );
    let prev = status_of(object);
    let prev_generation = prev.get("observedGeneration").and_then(Value::as_i64);
    let prev_progressing = find_condition(prev, "Progressing");
    let recreate = str_at(spec, "/strategy/type") == "Recreate";

    // Which pods run the current template: the ReplicaSet named in the last Progressing
    // message says; without one, a status written for this generation describes this template.
    let same_template = match prev_progressing.and_then(replica_set_in_message) {
        Some(named) => named == replica_set,
        None => prev_generation == Some(generation),
    };
    let count = |field: &str| count_at(prev, field);
    let mut pods = if prev_generation.is_none() {
        RolloutPods::default()
    } else if same_template {
        let old = (count("replicas") - count("updatedReplicas")).max(0);
        let new = count("updatedReplicas");
        RolloutPods {
            old,
            new,
            new_available: (count("availableReplicas") - old).clamp(0, new),
        }
    } else {
        // A new template: the new ReplicaSet starts empty while the old pods keep serving,
        // unless the Recreate strategy kills them first.
        RolloutPods {
            old: if recreate {
                0
            } else {
                count("availableReplicas")
            },
            ..RolloutPods::default()
        }
    };

    let deadline = progress_deadline(spec, clock.config);
    let progressing_about = |status, reason, message: &str| Condition {
        kind: "Progressing",
        status,
        reason,
        message: format!("ReplicaSet \"{replica_set}\" {message}"),
    };
    let progressing = if spec.get("paused").and_then(Value::as_bool) == Some(true) {
        // A paused Deployment starts no new ReplicaSet and scales nothing: its pods stay as
        // they are (scaling a paused Deployment is not simulated).
        Some(Condition {
            kind: "Progressing",
            status: "Unknown",
            reason: "DeploymentPaused",
            message: "Deployment is paused".to_owned(),
        })
    } else {
        pods.new = desired;
        if !simulates_failure(object) && clock.rollout_ready() {
            pods = RolloutPods {
                old: 0,
                new: desired,
                new_available: desired,
            };
        } else {
            pods.new_available = pods.new_available.min(desired);
        }
        let complete = pods.old == 0 && pods.new_available == desired;
        // Once timed out, a rollout stays so until its spec changes, even if the simulation
        // starts timing it again (after a restart or a metadata change).
        let timed_out_before = same_template
            && prev_generation == Some(generation)
            && prev_progressing.map(|c| str_at(c, "/reason")) == Some("ProgressDeadlineExceeded");
        deadline.map(|deadline| {
            if complete {
                progressing_about(
                    "True",
                    "NewReplicaSetAvailable",
                    "has successfully progressed.",
                )
            } else if timed_out_before || clock.passed(clock.seen_at, deadline) {
                progressing_about(
                    "False",
                    "ProgressDeadlineExceeded",
                    "has timed out progressing.",
                )
            } else {
                progressing_about("True", "ReplicaSetUpdated", "is progressing.")
            }
        })
    };

    let replicas = pods.old + pods.new;
    let available = pods.old + pods.new_available;
    let available_condition = if available >= desired - max_unavailable(spec, desired) {
        Condition {
            kind: "Available",
            status: "True",
            reason: "MinimumReplicasAvailable",
            message: "Deployment has minimum availability.".to_owned(),
        }
    } else {
        Condition {
            kind: "Available",
            status: "False",
            reason: "MinimumReplicasUnavailable",
            message: "Deployment does not have minimum availability.".to_owned(),
        }
    };
    let conditions: Vec<Condition> = std::iter::once(available_condition)
        .chain(progressing)
        .collect();

    let mut status = Map::new();
    status.insert("observedGeneration".into(), generation.into());
    put_count(&mut status, "replicas", replicas);
    put_count(&mut status, "updatedReplicas", pods.new);
    put_count(&mut status, "readyReplicas", available);
    put_count(&mut status, "availableReplicas", available);
    put_count(
        &mut status,
        "unavailableReplicas",
        (replicas - available).max(0),
    );
    status.insert(
        "conditions".into(),
        conditions_json(prev, conditions, "lastUpdateTime", &clock.stamp()),
    );
    if let Some(collisions) = prev.get("collisionCount") {
        status.insert("collisionCount".into(), collisions.clone());
    }
    Value::Object(status)
}

/// The ReplicaSet a Deployment condition's message names (`ReplicaSet "web-7c9f" …`).
fn replica_set_in_message(condition: &Value) -> Option<&str> {
    let rest = str_at(condition, "/message").strip_prefix("ReplicaSet \"")?;
    rest.split_once('"').map(|(name, _)| name)
}

/// The Deployment's progress deadline, None when it has none (`progressDeadlineSeconds` set
/// to the largest int32, which the controller reads as "no deadline").
fn progress_deadline(spec: &Value, config: &KubeletConfig) -> Option<TimeDelta> {
    let seconds = spec
        .get("progressDeadlineSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(600);
    if seconds >= i64::from(i32::MAX) {
        return None;
    }
    Some(TimeDelta::seconds(seconds.max(0)).min(delta(config.progress_deadline)))
}

/// How many pods a Deployment may be short of `desired` and still count as available.
fn max_unavailable(spec: &Value, desired: i64) -> i64 {
    if str_at(spec, "/strategy/type") == "Recreate" || desired == 0 {
        return 0;
    }
    let rolling = spec.pointer("/strategy/rollingUpdate");
    let scaled = |field: &str, round_up: bool| {
        int_or_percent(rolling.and_then(|r| r.get(field)), desired, round_up)
    };
    let unavailable = scaled("maxUnavailable", false);
    let surge = scaled("maxSurge", true);
    // Both zero would deadlock a rollout, so the controller lets one pod be unavailable.
    let unavailable = if unavailable == 0 && surge == 0 {
        1
    } else {
        unavailable
    };
    unavailable.clamp(0, desired)
}

/// An int-or-percent field of a rolling update (25% when unset) scaled against `total`.
fn int_or_percent(value: Option<&Value>, total: i64, round_up: bool) -> i64 {
    let percent_of = |percent: i64| {
        let scaled = percent * total;
        if round_up {
            (scaled + 99) / 100
        } else {
            scaled / 100
        }
    };
    match value {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => match s.strip_suffix('%') {
            Some(percent) => percent.parse().map(percent_of).unwrap_or(0),
            None => s.parse().unwrap_or(0),
        },
        _ => percent_of(25),
    }
}

// ---- StatefulSet ----

/// A LoadBalancer Service's address: one per Service, stable, from the range a
/// kind cluster's Docker network hands out; other Services have none.
fn service_status(object: &Value) -> Value {
    let mut status = status_of(object).clone();
    if !status.is_object() {
        status = Value::Object(Map::new());
    }
    if str_at(object, "/spec/type") != "LoadBalancer"
        && status.pointer("/loadBalancer/ingress").is_none()
    {
        // Nothing to give or take away: the status stays as the API server wrote it.
        return status;
    }
    let load_balancer = if str_at(object, "/spec/type") == "LoadBalancer" {
        let mut hasher = Fnv1a32::new();
        hasher.write(str_at(object, "/metadata/namespace").as_bytes());
        hasher.write(b"/");
        hasher.write(str_at(object, "/metadata/name").as_bytes());
        let host = 2 + hasher.finish() % 250;
        serde_json::json!({"ingress": [{"ip": format!("172.18.255.{host}"), "ipMode": "VIP"}]})
    } else {
        serde_json::json!({})
    };
    status["loadBalancer"] = load_balancer;
    status
}

fn stateful_set_status(object: &Value, clock: &Clock) -> Value {
    let spec = object.get("spec").unwrap_or(&Value::Null);
    let desired = desired_replicas(spec);
    let update_revision = format!(
        "{}-{}",
        str_at(object, "/metadata/name"),
        pod_template_hash(spec.get("template").unwrap_or(&Value::Null))
    );
    let prev = status_of(object);
    let prev_ready = count_at(prev, "readyReplicas").clamp(0, desired);
    // Pods still on another revision: the controller replaces them one by one, from the
    // highest ordinal down to the partition.
    let rolling_from = Some(str_at(prev, "/currentRevision"))
        .filter(|revision| !revision.is_empty() && *revision != update_revision);
    let partition = if matches!(str_at(spec, "/updateStrategy/type"), "" | "RollingUpdate") {
        spec.pointer("/updateStrategy/rollingUpdate/partition")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .clamp(0, desired)
    } else {
        0
    };
    let sts = |current_revision: &str, current: i64, updated: i64, ready: i64| StatefulSetPods {
        current_revision: current_revision.to_owned(),
        current,
        updated,
        ready,
    };
    let done = match rolling_from {
        Some(old) if partition > 0 => sts(old, partition, desired - partition, desired),
        _ => sts(&update_revision, desired, desired, desired),
    };
    let in_progress = match rolling_from {
        // One pod at a time is down while it is replaced.
        Some(old) => sts(old, desired, 0, prev_ready.min(desired - 1).max(0)),
        None => sts(&update_revision, desired, desired, prev_ready),
    };
    let done = done.status(object, prev, &update_revision);
    // A status already done for this generation stays done when timing restarts.
    if (!simulates_failure(object) && clock.rollout_ready()) || *prev == done {
        done
    } else {
        in_progress.status(object, prev, &update_revision)
    }
}

struct StatefulSetPods {
    current_revision: String,
    current: i64,
    updated: i64,
    ready: i64,
}

impl StatefulSetPods {
    fn status(&self, object: &Value, prev: &Value, update_revision: &str) -> Value {
        let mut status = Map::new();
        status.insert("observedGeneration".into(), generation(object).into());
        status.insert(
            "replicas".into(),
            desired_replicas(object.get("spec").unwrap_or(&Value::Null)).into(),
        );
        put_count(&mut status, "readyReplicas", self.ready);
        put_count(&mut status, "currentReplicas", self.current);
        put_count(&mut status, "updatedReplicas", self.updated);
        status.insert(
            "currentRevision".into(),
            self.current_revision.clone().into(),
        );
        status.insert("updateRevision".into(), update_revision.into());
        status.insert(
            "collisionCount".into(),
            prev.get("collisionCount").cloned().unwrap_or(0.into()),
        );
        status.insert("availableReplicas".into(), self.ready.into());
        Value::Object(status)
    }
}

// ---- DaemonSet ----

fn daemon_set_status(object: &Value, clock: &Clock) -> Value {
    let generation = generation(object);
    let prev = status_of(object);
    // The simulated cluster has one node, so one pod. A spec change replaces it (most spec
    // changes of a DaemonSet are template changes); otherwise it keeps its readiness.
    let carried_ready =
        if prev.get("observedGeneration").and_then(Value::as_i64) == Some(generation) {
            count_at(prev, "numberReady").clamp(0, 1)
        } else {
            0
        };
    let ready = if !simulates_failure(object) && clock.rollout_ready() {
        1
    } else {
        carried_ready
    };
    let mut status = Map::new();
    status.insert("currentNumberScheduled".into(), 1.into());
    status.insert("numberMisscheduled".into(), 0.into());
    status.insert("desiredNumberScheduled".into(), 1.into());
    status.insert("numberReady".into(), ready.into());
    status.insert("observedGeneration".into(), generation.into());
    status.insert("updatedNumberScheduled".into(), 1.into());
    put_count(&mut status, "numberAvailable", ready);
    put_count(&mut status, "numberUnavailable", 1 - ready);
    Value::Object(status)
}

// ---- ReplicaSet ----

fn replica_set_status(object: &Value, clock: &Clock) -> Value {
    let desired = desired_replicas(object.get("spec").unwrap_or(&Value::Null));
    // A ReplicaSet never replaces running pods when its template changes; only the pods it
    // adds have to become ready.
    let carried_ready = count_at(status_of(object), "readyReplicas").clamp(0, desired);
    let ready = if !simulates_failure(object) && clock.rollout_ready() {
        desired
    } else {
        carried_ready
    };
    let mut status = Map::new();
    status.insert("replicas".into(), desired.into());
    put_count(&mut status, "fullyLabeledReplicas", desired);
    put_count(&mut status, "readyReplicas", ready);
    put_count(&mut status, "availableReplicas", ready);
    status.insert("observedGeneration".into(), generation(object).into());
    Value::Object(status)
}

// ---- Job ----

enum JobOutcome {
    Running,
    Succeeded,
    Failed {
        reason: &'static str,
        message: &'static str,
        failed_pods: i64,
    },
}

fn job_status(object: &Value, clock: &Clock) -> Option<Value> {
    let prev = status_of(object);
    if has_true_condition(prev, "Complete") || has_true_condition(prev, "Failed") {
        // A finished Job never changes again.
        return None;
    }
    let spec = object.get("spec").unwrap_or(&Value::Null);
    let parallelism = spec
        .get("parallelism")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0);
    let completions = spec.get("completions").and_then(Value::as_i64);
    // Without completions, a Job is a work queue: done when its parallel pods succeed.
    let to_succeed = completions.unwrap_or(parallelism).max(0);
    let active = parallelism.min(to_succeed);
    let mut conditions = Vec::new();
    let mut status = Map::new();

    if spec.get("suspend").and_then(Value::as_bool) == Some(true) {
        // Suspending deletes the pods and forgets the start time (activeDeadlineSeconds
        // counts again from the resume).
        conditions.push(Condition {
            kind: "Suspended",
            status: "True",
            reason: "JobSuspended",
            message: "Job suspended".to_owned(),
        });
        status.insert(
            "conditions".into(),
            conditions_json(prev, conditions, "lastProbeTime", &clock.stamp()),
        );
        for field in ["succeeded", "failed"] {
            put_count(&mut status, field, count_at(prev, field));
        }
        status.insert("terminating".into(), 0.into());
        status.insert("uncountedTerminatedPods".into(), Value::Object(Map::new()));
        status.insert("ready".into(), 0.into());
        return Some(Value::Object(status));
    }
    if find_condition(prev, "Suspended").is_some() {
        conditions.push(Condition {
            kind: "Suspended",
            status: "False",
            reason: "JobResumed",
            message: "Job resumed".to_owned(),
        });
    }

    let start_time = match prev.get("startTime").and_then(Value::as_str) {
        Some(written) => written.to_owned(),
        None => timestamp(clock.seen_at),
    };
    let started = DateTime::parse_from_rfc3339(&start_time)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(clock.seen_at);
    let active_deadline = spec
        .get("activeDeadlineSeconds")
        .and_then(Value::as_i64)
        .map(|s| TimeDelta::try_seconds(s.max(0)).unwrap_or(TimeDelta::MAX));
    let (finishes_after, finish) = if completions == Some(0) {
        (TimeDelta::zero(), JobOutcome::Succeeded)
    } else if parallelism == 0 {
        // No pods run, so nothing ever finishes (but the active deadline still applies).
        (TimeDelta::MAX, JobOutcome::Running)
    } else if simulates_failure(object) {
        let backoff_limit = spec
            .get("backoffLimit")
            .and_then(Value::as_i64)
            .unwrap_or(6)
            .max(0);
        (
            delta(clock.config.progress_deadline),
            JobOutcome::Failed {
                reason: "BackoffLimitExceeded",
                message: "Job has reached the specified backoff limit",
                failed_pods: backoff_limit + 1,
            },
        )
    } else {
        (delta(clock.config.ready_after), JobOutcome::Succeeded)
    };
    let (finishes_after, finish) = match active_deadline {
        Some(deadline) if deadline < finishes_after => (
            deadline,
            JobOutcome::Failed {
                reason: "DeadlineExceeded",
                message: "Job was active longer than specified deadline",
                failed_pods: active,
            },
        ),
        _ => (finishes_after, finish),
    };
    let outcome = if clock.passed(started, finishes_after) {
        finish
    } else {
        JobOutcome::Running
    };

    let mut completion_time = None;
    let (mut active_now, mut succeeded, mut failed) = (active, 0, 0);
    match outcome {
        JobOutcome::Running => {}
        JobOutcome::Succeeded => {
            for kind in ["SuccessCriteriaMet", "Complete"] {
                conditions.push(Condition {
                    kind,
                    status: "True",
                    reason: "CompletionsReached",
                    message: "Reached expected number of succeeded pods".to_owned(),
                });
            }
            completion_time = Some(clock.stamp());
            (active_now, succeeded) = (0, to_succeed);
        }
        JobOutcome::Failed {
            reason,
            message,
            failed_pods,
        } => {
            for kind in ["FailureTarget", "Failed"] {
                conditions.push(Condition {
                    kind,
                    status: "True",
                    reason,
                    message: message.to_owned(),
                });
            }
            (active_now, failed) = (0, failed_pods);
        }
    }
    if !conditions.is_empty() {
        status.insert(
            "conditions".into(),
            conditions_json(prev, conditions, "lastProbeTime", &clock.stamp()),
        );
    }
    status.insert("startTime".into(), start_time.into());
    if let Some(time) = completion_time {
        status.insert("completionTime".into(), time.into());
    }
    put_count(&mut status, "active", active_now);
    put_count(&mut status, "succeeded", succeeded);
    put_count(&mut status, "failed", failed);
    status.insert("terminating".into(), 0.into());
    if str_at(spec, "/completionMode") == "Indexed" && succeeded > 0 {
        let indexes = if succeeded == 1 {
            "0".to_owned()
        } else {
            format!("0-{}", succeeded - 1)
        };
        status.insert("completedIndexes".into(), indexes.into());
    }
    status.insert("uncountedTerminatedPods".into(), Value::Object(Map::new()));
    status.insert("ready".into(), 0.into());
    Some(Value::Object(status))
}

// ---- Conditions ----

struct Condition {
    kind: &'static str,
    status: &'static str,
    reason: &'static str,
    message: String,
}

/// `conditions` as JSON, keeping the times of the previous status where nothing happened:
/// `lastTransitionTime` while the condition's status stays, and `time_field`
/// (`lastUpdateTime` or `lastProbeTime`) while nothing about it changes at all.
fn conditions_json(prev: &Value, conditions: Vec<Condition>, time_field: &str, now: &str) -> Value {
    let conditions = conditions.into_iter().map(|condition| {
        let before = find_condition(prev, condition.kind);
        let same_status = before.is_some_and(|b| str_at(b, "/status") == condition.status);
        let unchanged = same_status
            && before.is_some_and(|b| {
                str_at(b, "/reason") == condition.reason
                    && str_at(b, "/message") == condition.message
            });
        let kept = |field: &str, keep: bool| {
            before
                .and_then(|b| b.get(field))
                .filter(|_| keep)
                .cloned()
                .unwrap_or_else(|| now.into())
        };
        let mut json = Map::new();
        json.insert("type".into(), condition.kind.into());
        json.insert("status".into(), condition.status.into());
        json.insert(time_field.into(), kept(time_field, unchanged));
        json.insert(
            "lastTransitionTime".into(),
            kept("lastTransitionTime", same_status),
        );
        json.insert("reason".into(), condition.reason.into());
        json.insert("message".into(), condition.message.into());
        Value::Object(json)
    });
    Value::Array(conditions.collect())
}

fn find_condition<'a>(status: &'a Value, kind: &str) -> Option<&'a Value> {
    status
        .get("conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| str_at(c, "/type") == kind)
}

fn has_true_condition(status: &Value, kind: &str) -> bool {
    find_condition(status, kind).is_some_and(|c| str_at(c, "/status") == "True")
}

// ---- Small readers ----

static NO_STATUS: Value = Value::Null;

fn status_of(object: &Value) -> &Value {
    object.get("status").unwrap_or(&NO_STATUS)
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn count_at(status: &Value, field: &str) -> i64 {
    status.get(field).and_then(Value::as_i64).unwrap_or(0)
}

/// `metadata.generation`; 1 when unset, as the API server sets it on create.
fn generation(object: &Value) -> i64 {
    object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// `spec.replicas`, 1 when unset as the API server defaults it.
fn desired_replicas(spec: &Value) -> i64 {
    spec.get("replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0)
}

/// Sets a count the Go types mark omitempty: left out when zero.
fn put_count(status: &mut Map<String, Value>, field: &str, count: i64) {
    if count != 0 {
        status.insert(field.into(), count.into());
    }
}

// ---- Hashing ----

/// 32-bit FNV-1a: fixed, so hashes are the same in every process and release.
struct Fnv1a32(u32);

impl Fnv1a32 {
    fn new() -> Self {
        Fnv1a32(0x811c_9dc5)
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u32::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0193);
        }
    }

    fn finish(&self) -> u32 {
        self.0
    }
}

/// Feeds `value` to the hasher as JSON with object keys sorted, so key order does not matter.
fn hash_canonical(value: &Value, hasher: &mut Fnv1a32) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            hasher.write(b"{");
            for key in keys {
                hash_canonical(&Value::String(key.clone()), hasher);
                hasher.write(b":");
                if let Some(field) = map.get(key) {
                    hash_canonical(field, hasher);
                }
                hasher.write(b",");
            }
            hasher.write(b"}");
        }
        Value::Array(items) => {
            hasher.write(b"[");
            for item in items {
                hash_canonical(item, hasher);
                hasher.write(b",");
            }
            hasher.write(b"]");
        }
        scalar => hasher.write(scalar.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> KubeletConfig {
        KubeletConfig {
            ready_after: Duration::from_secs(2),
            progress_deadline: Duration::from_secs(10),
        }
    }

    /// The moment the simulation first saw the tests' objects.
    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .expect("a valid time")
            .with_timezone(&Utc)
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        start() + TimeDelta::seconds(seconds)
    }

    /// Runs the simulation once, as the server's loop does: writes the status if it changed.
    fn step(object: &mut Value, seen_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        match desired_status(object, &config(), seen_at, now) {
            Some(status) => {
                object["status"] = status;
                true
            }
            None => false,
        }
    }

    fn pod_template(image: &str) -> Value {
        json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": image}]}
        })
    }

    fn deployment(replicas: i64, image: &str) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "generation": 1},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": pod_template(image)
            }
        })
    }

    fn condition<'a>(object: &'a Value, kind: &str) -> &'a Value {
        find_condition(&object["status"], kind).expect("the condition is set")
    }

    fn replica_set_name(image: &str) -> String {
        format!("web-{}", pod_template_hash(&pod_template(image)))
    }

    /// The rollout state as `kubectl rollout status deployment` reports it.
    fn kubectl_rollout_done(object: &Value) -> bool {
        let status = &object["status"];
        let spec_replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
        status["observedGeneration"].as_i64() >= object["metadata"]["generation"].as_i64()
            && count_at(status, "updatedReplicas") >= spec_replicas
            && count_at(status, "replicas") <= count_at(status, "updatedReplicas")
            && count_at(status, "availableReplicas") >= count_at(status, "updatedReplicas")
    }

    #[test]
    fn new_deployment_progresses_then_becomes_available_after_ready_after() {
        let mut web = deployment(3, "nginx:1.27");
        assert!(step(&mut web, start(), at(0)));
        let status = &web["status"];
        assert_eq!(status["observedGeneration"], 1);
        assert_eq!(status["replicas"], 3);
        assert_eq!(status["updatedReplicas"], 3);
        assert_eq!(status["unavailableReplicas"], 3);
        assert!(status.get("readyReplicas").is_none());
        assert!(status.get("availableReplicas").is_none());
        let available = condition(&web, "Available");
        assert_eq!(available["status"], "False");
        assert_eq!(available["reason"], "MinimumReplicasUnavailable");
        assert_eq!(
            available["message"],
            "Deployment does not have minimum availability."
        );
        let progressing = condition(&web, "Progressing");
        assert_eq!(progressing["status"], "True");
        assert_eq!(progressing["reason"], "ReplicaSetUpdated");
        let rs = replica_set_name("nginx:1.27");
        assert_eq!(
            progressing["message"],
            format!("ReplicaSet \"{rs}\" is progressing.")
        );
        assert_eq!(progressing["lastTransitionTime"], "2026-11-24T10:00:00Z");
        assert!(!kubectl_rollout_done(&web));

        assert!(
            !step(&mut web, start(), at(1)),
            "nothing happens before ready_after"
        );
        assert!(step(&mut web, start(), at(2)));
        let status = &web["status"];
        assert_eq!(status["readyReplicas"], 3);
        assert_eq!(status["availableReplicas"], 3);
        assert!(status.get("unavailableReplicas").is_none());
        let available = condition(&web, "Available");
        assert_eq!(available["status"], "True");
        assert_eq!(available["reason"], "MinimumReplicasAvailable");
        assert_eq!(available["message"], "Deployment has minimum availability.");
        assert_eq!(available["lastTransitionTime"], "2026-11-24T10:00:02Z");
        let progressing = condition(&web, "Progressing");
        assert_eq!(progressing["reason"], "NewReplicaSetAvailable");
        assert_eq!(
            progressing["message"],
            format!("ReplicaSet \"{rs}\" has successfully progressed.")
        );
        // Still True, so the transition time is the rollout's start; the update time moves.
        assert_eq!(progressing["lastTransitionTime"], "2026-11-24T10:00:00Z");
        assert_eq!(progressing["lastUpdateTime"], "2026-11-24T10:00:02Z");
        assert!(kubectl_rollout_done(&web));
    }

    #[test]
    fn an_unchanged_status_is_not_rewritten_and_a_finished_rollout_is_settled() {
        let mut web = deployment(2, "nginx:1.27");
        step(&mut web, start(), at(0));
        assert!(!is_settled(&web, &config(), start(), at(0)));
        step(&mut web, start(), at(5));
        assert_eq!(desired_status(&web, &config(), start(), at(5)), None);
        assert_eq!(desired_status(&web, &config(), start(), at(3600)), None);
        assert!(is_settled(&web, &config(), start(), at(5)));
        // The server forgets settled objects and times them again from any later change
        // (a label, say): a finished rollout stays finished.
        assert_eq!(desired_status(&web, &config(), at(100), at(100)), None);
    }

    #[test]
    fn the_simulation_says_when_to_look_again() {
        let mut web = deployment(2, "nginx:1.27");
        let first = simulate(&web, &config(), start(), at(0));
        assert!(first.status.is_some(), "a new Deployment gets a status");
        // Its pods become ready `ready_after` (2 s) after the rollout began.
        assert_eq!(first.changes_at, Some(at(2)));
        step(&mut web, start(), at(0));
        let waiting = simulate(&web, &config(), start(), at(1));
        assert_eq!(waiting.status, None);
        assert_eq!(waiting.changes_at, Some(at(2)));
        let ready = simulate(&web, &config(), start(), at(2));
        assert!(ready.status.is_some(), "ready when the moment comes");
        step(&mut web, start(), at(2));
        assert_eq!(
            simulate(&web, &config(), start(), at(3)),
            Simulation {
                status: None,
                changes_at: None
            },
            "a finished rollout waits for nothing"
        );
        // A failing one waits for its progress deadline (10 s).
        let mut failing = deployment(1, "nginx:fail");
        step(&mut failing, start(), at(0));
        assert_eq!(
            simulate(&failing, &config(), start(), at(1)).changes_at,
            Some(at(10))
        );
    }

    #[test]
    fn a_new_template_rolls_out_a_new_replica_set_while_old_pods_serve() {
        let mut web = deployment(3, "nginx:1.27");
        step(&mut web, start(), at(0));
        step(&mut web, start(), at(2));
        web["spec"]["template"] = pod_template("nginx:1.28");
        web["metadata"]["generation"] = json!(2);

        assert!(step(&mut web, at(10), at(10)));
        let status = &web["status"];
        assert_eq!(status["observedGeneration"], 2);
        assert_eq!(status["updatedReplicas"], 3);
        assert_eq!(
            status["replicas"], 6,
            "old pods run until the new ones are ready"
        );
        assert_eq!(status["availableReplicas"], 3);
        assert_eq!(condition(&web, "Available")["status"], "True");
        let progressing = condition(&web, "Progressing");
        assert_eq!(progressing["reason"], "ReplicaSetUpdated");
        let new_rs = replica_set_name("nginx:1.28");
        assert_ne!(new_rs, replica_set_name("nginx:1.27"));
        assert_eq!(
            progressing["message"],
            format!("ReplicaSet \"{new_rs}\" is progressing.")
        );
        assert!(!kubectl_rollout_done(&web));
        assert!(
            !step(&mut web, at(10), at(11)),
            "the in-progress status is stable"
        );

        assert!(step(&mut web, at(10), at(12)));
        assert_eq!(web["status"]["replicas"], 3);
        assert_eq!(web["status"]["availableReplicas"], 3);
        assert_eq!(
            condition(&web, "Progressing")["reason"],
            "NewReplicaSetAvailable"
        );
        assert!(kubectl_rollout_done(&web));
    }

    #[test]
    fn scaling_up_keeps_the_replica_set_and_waits_for_the_new_pods() {
        let mut web = deployment(2, "nginx:1.27");
        step(&mut web, start(), at(0));
        step(&mut web, start(), at(2));
        web["spec"]["replicas"] = json!(5);
        web["metadata"]["generation"] = json!(2);

        step(&mut web, at(10), at(10));
        assert_eq!(web["status"]["replicas"], 5);
        assert_eq!(web["status"]["availableReplicas"], 2);
        assert_eq!(web["status"]["unavailableReplicas"], 3);
        let rs = replica_set_name("nginx:1.27");
        assert_eq!(
            condition(&web, "Progressing")["message"],
            format!("ReplicaSet \"{rs}\" is progressing.")
        );
        step(&mut web, at(10), at(12));
        assert_eq!(web["status"]["availableReplicas"], 5);
        assert!(kubectl_rollout_done(&web));
    }

    #[test]
    fn a_fail_image_ends_in_progress_deadline_exceeded() {
        let mut web = deployment(2, "nginx:fail");
        step(&mut web, start(), at(0));
        assert!(
            !step(&mut web, start(), at(5)),
            "failing pods never become ready"
        );
        assert!(!is_settled(&web, &config(), start(), at(5)));
        assert!(!step(&mut web, start(), at(9)));
        assert!(
            step(&mut web, start(), at(10)),
            "config.progress_deadline caps the 600s default"
        );
        let progressing = condition(&web, "Progressing");
        assert_eq!(progressing["status"], "False");
        assert_eq!(progressing["reason"], "ProgressDeadlineExceeded");
        let rs = replica_set_name("nginx:fail");
        assert_eq!(
            progressing["message"],
            format!("ReplicaSet \"{rs}\" has timed out progressing.")
        );
        assert_eq!(progressing["lastTransitionTime"], "2026-11-24T10:00:10Z");
        assert_eq!(condition(&web, "Available")["status"], "False");
        assert!(web["status"].get("availableReplicas").is_none());
        assert!(is_settled(&web, &config(), start(), at(10)));
        // Timing restarts (server restart, metadata change): still timed out.
        assert_eq!(desired_status(&web, &config(), at(60), at(60)), None);
    }

    #[test]
    fn a_shorter_progress_deadline_in_the_spec_wins() {
        let mut web = deployment(1, "nginx:fail");
        web["spec"]["progressDeadlineSeconds"] = json!(3);
        step(&mut web, start(), at(0));
        step(&mut web, start(), at(3));
        assert_eq!(
            condition(&web, "Progressing")["reason"],
            "ProgressDeadlineExceeded"
        );
    }

    #[test]
    fn the_simulate_annotation_keeps_a_deployment_unavailable() {
        let mut web = deployment(1, "nginx:1.27");
        web["metadata"]["annotations"] = json!({"ferroflux.dev/simulate": "fail"});
        step(&mut web, start(), at(0));
        step(&mut web, start(), at(30));
        assert_eq!(condition(&web, "Available")["status"], "False");
        assert_eq!(
            condition(&web, "Progressing")["reason"],
            "ProgressDeadlineExceeded"
        );
    }

    #[test]
    fn a_failing_update_keeps_the_old_pods_available() {
        let mut web = deployment(2, "nginx:1.27");
        step(&mut web, start(), at(0));
        step(&mut web, start(), at(2));
        web["spec"]["template"] = pod_template("registry.local:5000/nginx:fail");
        web["metadata"]["generation"] = json!(2);
        step(&mut web, at(10), at(10));
        step(&mut web, at(10), at(20));
        assert_eq!(condition(&web, "Available")["status"], "True");
        assert_eq!(
            condition(&web, "Progressing")["reason"],
            "ProgressDeadlineExceeded"
        );
        assert_eq!(web["status"]["replicas"], 4);
        assert_eq!(web["status"]["availableReplicas"], 2);
    }

    #[test]
    fn a_deployment_without_a_progress_deadline_has_no_progressing_condition() {
        let mut web = deployment(1, "nginx:fail");
        web["spec"]["progressDeadlineSeconds"] = json!(i32::MAX);
        step(&mut web, start(), at(0));
        step(&mut web, start(), at(3600));
        assert!(find_condition(&web["status"], "Progressing").is_none());
        assert_eq!(condition(&web, "Available")["status"], "False");
    }

    #[test]
    fn a_long_active_deadline_keeps_a_job_unsettled_until_it_passes() {
        let mut idle = job("migrate:1");
        idle["spec"]["parallelism"] = json!(0);
        idle["spec"]["activeDeadlineSeconds"] = json!(86_400);
        step(&mut idle, start(), at(0));
        assert!(!is_settled(&idle, &config(), start(), at(60)));
        step(&mut idle, start(), at(86_400));
        assert_eq!(condition(&idle, "Failed")["reason"], "DeadlineExceeded");
        assert!(is_settled(&idle, &config(), start(), at(86_400)));
    }

    #[test]
    fn load_balancer_services_get_an_address_and_others_are_left_alone() {
        let service = |type_: &str| {
            serde_json::json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "web", "namespace": "apps"},
                "spec": {"type": type_, "ports": [{"port": 80}]},
                "status": {"loadBalancer": {}}})
        };
        let mut lb = service("LoadBalancer");
        assert!(step(&mut lb, start(), at(0)), "an address is given at once");
        let ip = lb
            .pointer("/status/loadBalancer/ingress/0/ip")
            .and_then(Value::as_str);
        assert!(ip.is_some_and(|ip| ip.starts_with("172.18.255.")), "{lb}");
        assert!(!step(&mut lb, start(), at(1)), "and kept");
        let mut plain = service("ClusterIP");
        assert!(!step(&mut plain, start(), at(0)));
        // Changed to ClusterIP: the address goes.
        lb["spec"]["type"] = serde_json::json!("ClusterIP");
        assert!(step(&mut lb, start(), at(2)));
        assert_eq!(lb["status"]["loadBalancer"], serde_json::json!({}));
    }

    #[test]
    fn a_deployment_scaled_to_zero_is_complete_at_once() {
        let mut web = deployment(0, "nginx:1.27");
        step(&mut web, start(), at(0));
        let status = &web["status"];
        assert!(status.get("replicas").is_none());
        assert!(status.get("updatedReplicas").is_none());
        assert_eq!(condition(&web, "Available")["status"], "True");
        assert_eq!(
            condition(&web, "Progressing")["reason"],
            "NewReplicaSetAvailable"
        );
        assert!(is_settled(&web, &config(), start(), at(0)));
    }

    #[test]
    fn a_paused_deployment_does_not_roll_out_a_template_change() {
        let mut web = deployment(2, "nginx:1.27");
        step(&mut web, start(), at(0));
        step(&mut web, start(), at(2));
        web["spec"]["paused"] = json!(true);
        web["spec"]["template"] = pod_template("nginx:1.28");
        web["metadata"]["generation"] = json!(2);
        step(&mut web, at(10), at(10));
        step(&mut web, at(10), at(20));
        let progressing = condition(&web, "Progressing");
        assert_eq!(progressing["status"], "Unknown");
        assert_eq!(progressing["reason"], "DeploymentPaused");
        assert_eq!(progressing["message"], "Deployment is paused");
        assert!(web["status"].get("updatedReplicas").is_none());
        assert_eq!(web["status"]["availableReplicas"], 2);
        assert!(is_settled(&web, &config(), at(10), at(20)));

        // Resuming rolls the new template out.
        web["spec"]["paused"] = json!(false);
        web["metadata"]["generation"] = json!(3);
        step(&mut web, at(30), at(30));
        assert_eq!(web["status"]["updatedReplicas"], 2);
        assert!(!kubectl_rollout_done(&web));
        step(&mut web, at(30), at(32));
        assert!(kubectl_rollout_done(&web));
        assert_eq!(
            condition(&web, "Progressing")["message"],
            format!(
                "ReplicaSet \"{}\" has successfully progressed.",
                replica_set_name("nginx:1.28")
            )
        );
    }

    #[test]
    fn recreate_replaces_all_pods_so_the_deployment_is_briefly_unavailable() {
        let mut web = deployment(2, "nginx:1.27");
        web["spec"]["strategy"] = json!({"type": "Recreate"});
        step(&mut web, start(), at(0));
        step(&mut web, start(), at(2));
        web["spec"]["template"] = pod_template("nginx:1.28");
        web["metadata"]["generation"] = json!(2);
        step(&mut web, at(10), at(10));
        assert_eq!(web["status"]["replicas"], 2);
        assert_eq!(condition(&web, "Available")["status"], "False");
    }

    #[test]
    fn max_unavailable_decides_minimum_availability() {
        // One replica that may be unavailable: available from the start, as on a cluster.
        let mut web = deployment(1, "nginx:1.27");
        web["spec"]["strategy"] =
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}});
        step(&mut web, start(), at(0));
        assert_eq!(condition(&web, "Available")["status"], "True");
        assert_eq!(
            condition(&web, "Progressing")["reason"],
            "ReplicaSetUpdated"
        );
        // The 25% default on 4 replicas allows one missing pod.
        assert_eq!(max_unavailable(&json!({}), 4), 1);
        assert_eq!(max_unavailable(&json!({}), 3), 0);
    }

    #[test]
    fn template_hashes_are_stable_and_follow_the_template() {
        let one = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"containers": []}});
        let reordered = json!({"spec": {"containers": []}, "metadata": {"labels": {"a": "1"}}});
        assert_eq!(pod_template_hash(&one), pod_template_hash(&reordered));
        assert_ne!(
            pod_template_hash(&pod_template("nginx:1")),
            pod_template_hash(&pod_template("nginx:2"))
        );
        let hash = pod_template_hash(&one);
        assert!(hash
            .chars()
            .all(|c| c.is_ascii_alphanumeric() && !"aeiou".contains(c)));
    }

    #[test]
    fn image_tags_are_read_past_registry_ports_and_digests() {
        assert_eq!(image_tag("nginx:fail"), Some("fail"));
        assert_eq!(image_tag("registry:5000/team/nginx"), None);
        assert_eq!(
            image_tag("registry:5000/nginx:fail@sha256:abc"),
            Some("fail")
        );
    }

    fn stateful_set(replicas: i64, image: &str) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db", "generation": 1},
            "spec": {"replicas": replicas, "serviceName": "db", "template": pod_template(image)}
        })
    }

    fn revision(image: &str) -> String {
        format!("db-{}", pod_template_hash(&pod_template(image)))
    }

    #[test]
    fn a_stateful_set_becomes_ready_on_one_revision() {
        let mut db = stateful_set(3, "postgres:16");
        step(&mut db, start(), at(0));
        let status = &db["status"];
        assert_eq!(status["replicas"], 3);
        assert_eq!(status["currentReplicas"], 3);
        assert_eq!(status["availableReplicas"], 0);
        assert!(status.get("readyReplicas").is_none());
        assert_eq!(status["currentRevision"], revision("postgres:16"));
        assert_eq!(status["updateRevision"], revision("postgres:16"));
        step(&mut db, start(), at(2));
        assert_eq!(db["status"]["readyReplicas"], 3);
        assert_eq!(db["status"]["availableReplicas"], 3);
        assert_eq!(db["status"]["collisionCount"], 0);
        assert!(is_settled(&db, &config(), start(), at(2)));
    }

    #[test]
    fn a_stateful_set_update_moves_pods_to_the_update_revision() {
        let mut db = stateful_set(3, "postgres:16");
        step(&mut db, start(), at(0));
        step(&mut db, start(), at(2));
        db["spec"]["template"] = pod_template("postgres:17");
        db["metadata"]["generation"] = json!(2);
        step(&mut db, at(10), at(10));
        let status = &db["status"];
        assert_eq!(status["currentRevision"], revision("postgres:16"));
        assert_eq!(status["updateRevision"], revision("postgres:17"));
        assert!(status.get("updatedReplicas").is_none());
        assert_eq!(
            status["readyReplicas"], 2,
            "one pod is down while it is replaced"
        );
        step(&mut db, at(10), at(12));
        let status = &db["status"];
        assert_eq!(status["currentRevision"], revision("postgres:17"));
        assert_eq!(status["updateRevision"], revision("postgres:17"));
        assert_eq!(status["updatedReplicas"], 3);
        assert_eq!(status["currentReplicas"], 3);
        assert_eq!(status["readyReplicas"], 3);
    }

    #[test]
    fn a_partitioned_stateful_set_update_stops_at_the_partition() {
        let mut db = stateful_set(3, "postgres:16");
        step(&mut db, start(), at(0));
        step(&mut db, start(), at(2));
        db["spec"]["template"] = pod_template("postgres:17");
        db["spec"]["updateStrategy"] =
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}});
        db["metadata"]["generation"] = json!(2);
        step(&mut db, at(10), at(10));
        step(&mut db, at(10), at(12));
        let status = &db["status"];
        assert_eq!(status["updatedReplicas"], 1);
        assert_eq!(status["currentReplicas"], 2);
        assert_eq!(status["currentRevision"], revision("postgres:16"));
        assert_eq!(status["readyReplicas"], 3);
        // Timing restarts: the finished partitioned rollout does not regress.
        assert_eq!(desired_status(&db, &config(), at(50), at(50)), None);
    }

    #[test]
    fn a_daemon_set_runs_one_pod_on_the_single_node() {
        let mut agent = json!({
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent", "generation": 1},
            "spec": {"template": pod_template("agent:1")}
        });
        step(&mut agent, start(), at(0));
        let status = &agent["status"];
        assert_eq!(status["desiredNumberScheduled"], 1);
        assert_eq!(status["currentNumberScheduled"], 1);
        assert_eq!(status["updatedNumberScheduled"], 1);
        assert_eq!(status["numberReady"], 0);
        assert_eq!(status["numberMisscheduled"], 0);
        assert_eq!(status["numberUnavailable"], 1);
        step(&mut agent, start(), at(2));
        assert_eq!(agent["status"]["numberReady"], 1);
        assert_eq!(agent["status"]["numberAvailable"], 1);
        assert!(agent["status"].get("numberUnavailable").is_none());
        // A template change replaces the pod.
        agent["spec"]["template"] = pod_template("agent:2");
        agent["metadata"]["generation"] = json!(2);
        step(&mut agent, at(10), at(10));
        assert_eq!(agent["status"]["numberReady"], 0);
        assert_eq!(agent["status"]["observedGeneration"], 2);
    }

    #[test]
    fn a_replica_set_counts_ready_pods_and_keeps_them_across_template_edits() {
        let mut rs = json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": "web-abc", "generation": 1},
            "spec": {"replicas": 2, "template": pod_template("nginx:1.27")}
        });
        step(&mut rs, start(), at(0));
        assert_eq!(rs["status"]["replicas"], 2);
        assert_eq!(rs["status"]["fullyLabeledReplicas"], 2);
        assert!(rs["status"].get("readyReplicas").is_none());
        step(&mut rs, start(), at(2));
        assert_eq!(rs["status"]["readyReplicas"], 2);
        assert_eq!(rs["status"]["availableReplicas"], 2);
        rs["spec"]["template"] = pod_template("nginx:fail");
        rs["metadata"]["generation"] = json!(2);
        step(&mut rs, at(10), at(10));
        assert_eq!(
            rs["status"]["readyReplicas"], 2,
            "a ReplicaSet does not replace pods"
        );
        assert_eq!(rs["status"]["observedGeneration"], 2);
    }

    fn job(image: &str) -> Value {
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "migrate", "generation": 1},
            "spec": {"completions": 3, "parallelism": 2, "template": pod_template(image)}
        })
    }

    #[test]
    fn a_job_runs_then_completes_with_the_conditions_of_kubernetes_1_31() {
        let mut migrate = job("migrate:1");
        step(&mut migrate, start(), at(0));
        let status = &migrate["status"];
        assert_eq!(status["active"], 2);
        assert_eq!(status["startTime"], "2026-11-24T10:00:00Z");
        assert!(status.get("conditions").is_none());
        assert!(status.get("completionTime").is_none());
        assert!(!is_settled(&migrate, &config(), start(), at(0)));

        step(&mut migrate, start(), at(3));
        let status = &migrate["status"];
        assert_eq!(status["succeeded"], 3);
        assert!(status.get("active").is_none());
        assert_eq!(status["completionTime"], "2026-11-24T10:00:03Z");
        assert_eq!(status["startTime"], "2026-11-24T10:00:00Z");
        assert_eq!(status["uncountedTerminatedPods"], json!({}));
        let kinds: Vec<&str> = status["conditions"]
            .as_array()
            .expect("conditions")
            .iter()
            .map(|c| str_at(c, "/type"))
            .collect();
        assert_eq!(kinds, ["SuccessCriteriaMet", "Complete"]);
        let complete = condition(&migrate, "Complete");
        assert_eq!(complete["status"], "True");
        assert_eq!(complete["reason"], "CompletionsReached");
        assert_eq!(
            complete["message"],
            "Reached expected number of succeeded pods"
        );
        assert_eq!(complete["lastProbeTime"], "2026-11-24T10:00:03Z");
        assert!(is_settled(&migrate, &config(), start(), at(3)));
        assert_eq!(desired_status(&migrate, &config(), at(99), at(99)), None);
    }

    #[test]
    fn a_failing_job_exceeds_its_backoff_limit_after_the_deadline() {
        let mut migrate = job("migrate:fail");
        migrate["spec"]["backoffLimit"] = json!(2);
        step(&mut migrate, start(), at(0));
        assert!(!step(&mut migrate, start(), at(9)));
        assert!(step(&mut migrate, start(), at(10)));
        let status = &migrate["status"];
        assert_eq!(status["failed"], 3);
        assert!(status.get("completionTime").is_none());
        assert!(status.get("active").is_none());
        for kind in ["FailureTarget", "Failed"] {
            let failed = condition(&migrate, kind);
            assert_eq!(failed["status"], "True");
            assert_eq!(failed["reason"], "BackoffLimitExceeded");
            assert_eq!(
                failed["message"],
                "Job has reached the specified backoff limit"
            );
        }
        assert!(is_settled(&migrate, &config(), start(), at(10)));
    }

    #[test]
    fn a_job_past_its_active_deadline_fails_with_deadline_exceeded() {
        let mut migrate = job("migrate:1");
        migrate["spec"]["activeDeadlineSeconds"] = json!(1);
        step(&mut migrate, start(), at(0));
        step(&mut migrate, start(), at(1));
        let failed = condition(&migrate, "Failed");
        assert_eq!(failed["reason"], "DeadlineExceeded");
        assert_eq!(
            failed["message"],
            "Job was active longer than specified deadline"
        );
        assert!(find_condition(&migrate["status"], "Complete").is_none());
    }

    #[test]
    fn a_suspended_job_starts_nothing_until_resumed() {
        let mut migrate = job("migrate:1");
        migrate["spec"]["suspend"] = json!(true);
        step(&mut migrate, start(), at(0));
        step(&mut migrate, start(), at(30));
        let suspended = condition(&migrate, "Suspended");
        assert_eq!(suspended["status"], "True");
        assert_eq!(suspended["reason"], "JobSuspended");
        assert!(migrate["status"].get("startTime").is_none());
        assert!(migrate["status"].get("active").is_none());

        migrate["spec"]["suspend"] = json!(false);
        migrate["metadata"]["generation"] = json!(2);
        step(&mut migrate, at(40), at(40));
        assert_eq!(migrate["status"]["startTime"], "2026-11-24T10:00:40Z");
        assert_eq!(migrate["status"]["active"], 2);
        let resumed = condition(&migrate, "Suspended");
        assert_eq!(resumed["status"], "False");
        assert_eq!(resumed["reason"], "JobResumed");
        step(&mut migrate, at(40), at(42));
        assert_eq!(condition(&migrate, "Complete")["status"], "True");
    }

    #[test]
    fn an_indexed_job_reports_its_completed_indexes() {
        let mut migrate = job("migrate:1");
        migrate["spec"]["completionMode"] = json!("Indexed");
        step(&mut migrate, start(), at(2));
        assert_eq!(migrate["status"]["completedIndexes"], "0-2");
    }

    #[test]
    fn other_kinds_are_not_simulated() {
        let config_map =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert_eq!(desired_status(&config_map, &config(), start(), at(5)), None);
        assert!(is_settled(&config_map, &config(), start(), at(5)));
        let mut custom = deployment(1, "nginx:1");
        custom["apiVersion"] = json!("example.com/v1");
        assert_eq!(desired_status(&custom, &config(), start(), at(5)), None);
    }
}
