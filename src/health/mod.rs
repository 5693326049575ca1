//! kstatus: whether an applied object is ready, as fluxcd/cli-utils
//! `pkg/kstatus/status.Compute` decides it, with its statuses and messages; plus the
//! pieces of fluxcd/pkg ssa `WaitForSet` that turn statuses into a health-check
//! verdict and the `HealthCheckFailed` message.
//!
//! Order of the rules (as kstatus): a deletion timestamp means Terminating; a
//! `metadata.generation` not yet observed in `status.observedGeneration` means
//! InProgress; a `Reconciling=True` or `Stalled=True` condition decides; then the
//! kind's own rule (Deployment, StatefulSet, ...); then a `Ready` condition; and an
//! object with none of these is Current.

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::apply::inventory::{split_api_version, InventoryObject, ObjMetadata};
use crate::controllers::kustomization::spec_check::format_go_duration;

mod wait;
pub use wait::wait_for;

/// kstatus statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthStatus {
    InProgress,
    Failed,
    Current,
    Terminating,
    NotFound,
    Unknown,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::InProgress => "InProgress",
            HealthStatus::Failed => "Failed",
            HealthStatus::Current => "Current",
            HealthStatus::Terminating => "Terminating",
            HealthStatus::NotFound => "NotFound",
            HealthStatus::Unknown => "Unknown",
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kstatus condition a result implies (`Reconciling` for InProgress, `Stalled`
/// for Failed), with the reason kstatus gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KstatusCondition {
    pub type_: &'static str,
    pub reason: String,
    pub message: String,
}

/// The status of one object and kstatus's message for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthResult {
    pub status: HealthStatus,
    pub message: String,
    pub condition: Option<KstatusCondition>,
}

impl HealthResult {
    fn current(message: impl Into<String>) -> Self {
        Self {
            status: HealthStatus::Current,
            message: message.into(),
            condition: None,
        }
    }

    fn in_progress(reason: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            status: HealthStatus::InProgress,
            condition: Some(KstatusCondition {
                type_: "Reconciling",
                reason: reason.into(),
                message: message.clone(),
            }),
            message,
        }
    }

    fn failed(reason: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            status: HealthStatus::Failed,
            condition: Some(KstatusCondition {
                type_: "Stalled",
                reason: reason.into(),
                message: message.clone(),
            }),
            message,
        }
    }
}

/// The object could not be read the way kstatus expects (a field of the wrong type).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HealthError {
    #[error("looking up {field} from resource: {detail}")]
    BadField { field: &'static str, detail: String },
    #[error("conditions do not have the expected structure: {0}")]
    BadConditions(String),
    #[error("unknown phase {0}")]
    UnknownPodPhase(String),
}

/// How long a Pod may be unschedulable before kstatus calls it Failed.
pub const SCHEDULE_WINDOW_SECONDS: i64 = 15;

/// The status of an object as the status poller reports it: `None` (not found)
/// is NotFound, an unreadable object is Unknown with the error as message.
pub fn status_of(object: Option<&Value>, now: DateTime<Utc>) -> HealthResult {
    match object {
        None => HealthResult {
            status: HealthStatus::NotFound,
            message: "Resource not found".into(),
            condition: None,
        },
        Some(object) => compute(object, now).unwrap_or_else(|e| HealthResult {
            status: HealthStatus::Unknown,
            message: e.to_string(),
            condition: None,
        }),
    }
}

/// kstatus `Compute`. `now` only matters for Pods (the scheduling window).
pub fn compute(object: &Value, now: DateTime<Utc>) -> Result<HealthResult, HealthError> {
    if let Some(result) = generic_status(object)? {
        return Ok(result);
    }
    let api_version = str_at(object, &["apiVersion"]).unwrap_or_default();
    let group = split_api_version(api_version)
        .map(|(g, _)| g)
        .unwrap_or_default();
    let kind = str_at(object, &["kind"]).unwrap_or_default();
    let rule = match (group, kind) {
        ("", "Service") => Some(service_status(object)),
        ("", "Pod") => Some(pod_status(object, now)?),
        ("", "Secret") | ("", "ConfigMap") | ("batch", "CronJob") => {
            Some(HealthResult::current("Resource is always ready"))
        }
        ("", "PersistentVolumeClaim") => Some(pvc_status(object)),
        ("apps", "StatefulSet") => Some(statefulset_status(object)),
        ("apps" | "extensions", "DaemonSet") => Some(daemonset_status(object)?),
        ("apps" | "extensions", "Deployment") => Some(deployment_status(object)?),
        ("apps" | "extensions", "ReplicaSet") => Some(replicaset_status(object)?),
        ("policy", "PodDisruptionBudget") => Some(HealthResult::current(
            "AllowedDisruptions has been computed.",
        )),
        ("batch", "Job") => Some(job_status(object)?),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => Some(crd_status(object)?),
        _ => None,
    };
    if let Some(result) = rule {
        return Ok(result);
    }
    if let Some(result) = ready_condition_status(object)? {
        return Ok(result);
    }
    Ok(HealthResult::current("Resource is current"))
}

// ---------------------------------------------------------------------------------
// Field access with kstatus's defaults
// ---------------------------------------------------------------------------------

fn value_at<'a>(object: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter()
        .try_fold(object, |current, key| current.get(key))
}

fn str_at<'a>(object: &'a Value, path: &[&str]) -> Option<&'a str> {
    value_at(object, path).and_then(Value::as_str)
}

/// kstatus `GetStringField`: a string, or the default when missing or not a string.
fn string_field<'a>(object: &'a Value, path: &[&str], default: &'a str) -> &'a str {
    str_at(object, path).unwrap_or(default)
}

/// kstatus `GetIntField`: an integer, or the default when missing or not an integer
/// (a float such as `3.0` counts as missing, as in Go).
fn int_field(object: &Value, path: &[&str], default: i64) -> i64 {
    value_at(object, path)
        .and_then(Value::as_i64)
        .unwrap_or(default)
}

/// `unstructured.NestedInt64`: absent is `None`; present but not an integer is an error.
fn nested_i64(
    object: &Value,
    path: &[&str],
    field: &'static str,
) -> Result<Option<i64>, HealthError> {
    match value_at(object, path) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_i64()
            .map(Some)
            .ok_or_else(|| HealthError::BadField {
                field,
                detail: format!("{value} is not an int64"),
            }),
    }
}

struct BasicCondition {
    type_: String,
    status: String,
    reason: String,
    message: String,
}

/// `status.conditions` as kstatus reads them; wrongly typed entries are errors.
fn conditions(object: &Value) -> Result<Vec<BasicCondition>, HealthError> {
    let Some(list) = value_at(object, &["status", "conditions"]).filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let Some(items) = list.as_array() else {
        return Err(HealthError::BadConditions(
            "status.conditions is not a list".into(),
        ));
    };
    let text = |map: &Map<String, Value>, key: &str| -> Result<String, HealthError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(HealthError::BadConditions(format!(
                "condition {key} {other} is not a string"
            ))),
        }
    };
    items
        .iter()
        .map(|item| {
            let map = item
                .as_object()
                .ok_or_else(|| HealthError::BadConditions("a condition is not an object".into()))?;
            Ok(BasicCondition {
                type_: text(map, "type")?,
                status: text(map, "status")?,
                reason: text(map, "reason")?,
                message: text(map, "message")?,
            })
        })
        .collect()
}

fn find_condition<'a>(
    conditions: &'a [BasicCondition],
    type_: &str,
    status: &str,
) -> Option<&'a BasicCondition> {
    conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
}

// ---------------------------------------------------------------------------------
// Generic rules
// ---------------------------------------------------------------------------------

fn generic_status(object: &Value) -> Result<Option<HealthResult>, HealthError> {
    match value_at(object, &["metadata", "deletionTimestamp"]) {
        None | Some(Value::Null) => {}
        Some(Value::String(ts)) if ts.is_empty() => {}
        Some(Value::String(_)) => {
            return Ok(Some(HealthResult {
                status: HealthStatus::Terminating,
                message: "Resource scheduled for deletion".into(),
                condition: None,
            }))
        }
        Some(other) => {
            return Err(HealthError::BadField {
                field: "metadata.deletionTimestamp",
                detail: format!("{other} is not a string"),
            })
        }
    }
    if let Some(result) = generation_status(object)? {
        return Ok(Some(result));
    }
    for condition in conditions(object)? {
        if condition.type_ == "Reconciling" && condition.status == "True" {
            return Ok(Some(HealthResult::in_progress(
                &condition.reason,
                condition.message,
            )));
        }
        if condition.type_ == "Stalled" && condition.status == "True" {
            return Ok(Some(HealthResult::failed(
                &condition.reason,
                condition.message,
            )));
        }
    }
    Ok(None)
}

/// A generation the controller has not observed yet means the status is stale.
/// Objects without either field are not judged by this rule.
fn generation_status(object: &Value) -> Result<Option<HealthResult>, HealthError> {
    let Some(generation) = nested_i64(object, &["metadata", "generation"], "metadata.generation")?
    else {
        return Ok(None);
    };
    let Some(observed) = nested_i64(
        object,
        &["status", "observedGeneration"],
        "status.observedGeneration",
    )?
    else {
        return Ok(None);
    };
    if observed == generation {
        return Ok(None);
    }
    let kind = string_field(object, &["kind"], "");
    Ok(Some(HealthResult::in_progress(
        "LatestGenerationNotObserved",
        format!("{kind} generation is {generation}, but latest observed generation is {observed}"),
    )))
}

/// Custom resources that only speak `Ready`: True is Current; False or Unknown is
/// InProgress with the condition's reason and message (kstatus cannot tell a
/// failing resource from a slow one by `Ready` alone).
fn ready_condition_status(object: &Value) -> Result<Option<HealthResult>, HealthError> {
    for condition in conditions(object)? {
        if condition.type_ != "Ready" {
            continue;
        }
        match condition.status.as_str() {
            "True" => return Ok(Some(HealthResult::current("Resource is Ready"))),
            "False" | "Unknown" => {
                return Ok(Some(HealthResult::in_progress(
                    &condition.reason,
                    condition.message,
                )))
            }
            _ => {}
        }
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------
// Built-in kinds
// ---------------------------------------------------------------------------------

fn deployment_status(object: &Value) -> Result<HealthResult, HealthError> {
    // Without progressDeadlineSeconds the controller never sets Progressing, so the
    // rollout counts as progressing (MaxInt32 is how Kubernetes spells "unset").
    let mut progressing = int_field(
        object,
        &["spec", "progressDeadlineSeconds"],
        i64::from(i32::MAX),
    ) == i64::from(i32::MAX);
    let mut available = false;
    for condition in conditions(object)? {
        match condition.type_.as_str() {
            "Progressing" => {
                if condition.reason == "ProgressDeadlineExceeded" {
                    let mut result =
                        HealthResult::failed(&condition.reason, "Progress deadline exceeded");
                    if let Some(c) = result.condition.as_mut() {
                        c.message = condition.message.clone();
                    }
                    return Ok(result);
                }
                if condition.status == "True" && condition.reason == "NewReplicaSetAvailable" {
                    progressing = true;
                }
            }
            "Available" if condition.status == "True" => available = true,
            _ => {}
        }
    }
    let spec = int_field(object, &["spec", "replicas"], 1);
    let replicas = int_field(object, &["status", "replicas"], 0);
    let updated = int_field(object, &["status", "updatedReplicas"], 0);
    let ready = int_field(object, &["status", "readyReplicas"], 0);
    let available_replicas = int_field(object, &["status", "availableReplicas"], 0);

    if spec > replicas {
        return Ok(HealthResult::in_progress(
            "LessReplicas",
            format!("Replicas: {replicas}/{spec}"),
        ));
    }
    if spec > updated {
        return Ok(HealthResult::in_progress(
            "LessUpdated",
            format!("Updated: {updated}/{spec}"),
        ));
    }
    if replicas > spec {
        return Ok(HealthResult::in_progress(
            "ExtraPods",
            format!("Pending termination: {}", replicas - spec),
        ));
    }
    if updated > available_replicas {
        return Ok(HealthResult::in_progress(
            "LessAvailable",
            format!("Available: {available_replicas}/{updated}"),
        ));
    }
    if spec > ready {
        return Ok(HealthResult::in_progress(
            "LessReady",
            format!("Ready: {ready}/{spec}"),
        ));
    }
    if !progressing {
        return Ok(HealthResult::in_progress(
            "ReplicaSetNotAvailable",
            "ReplicaSet not Available",
        ));
    }
    if !available {
        return Ok(HealthResult::in_progress(
            "DeploymentNotAvailable",
            "Deployment not Available",
        ));
    }
    Ok(HealthResult::current(format!(
        "Deployment is available. Replicas: {replicas}"
    )))
}

/// StatefulSets set no useful conditions: judged by the replica counts and revisions.
fn statefulset_status(object: &Value) -> HealthResult {
    if string_field(object, &["spec", "updateStrategy", "type"], "") == "OnDelete" {
        return HealthResult::current("StatefulSet is using the ondelete update strategy");
    }
    let spec = int_field(object, &["spec", "replicas"], 1);
    let ready = int_field(object, &["status", "readyReplicas"], 0);
    let current = int_field(object, &["status", "currentReplicas"], 0);
    let updated = int_field(object, &["status", "updatedReplicas"], 0);
    let replicas = int_field(object, &["status", "replicas"], 0);
    let partition = int_field(
        object,
        &["spec", "updateStrategy", "rollingUpdate", "partition"],
        -1,
    );

    if spec > replicas {
        return HealthResult::in_progress("LessReplicas", format!("Replicas: {replicas}/{spec}"));
    }
    if spec > ready {
        return HealthResult::in_progress("LessReady", format!("Ready: {ready}/{spec}"));
    }
    if replicas > spec {
        return HealthResult::in_progress(
            "ExtraPods",
            format!("Pending termination: {}", replicas - spec),
        );
    }
    if partition != -1 {
        if updated < spec - partition {
            return HealthResult::in_progress(
                "PartitionRollout",
                format!("updated: {updated}/{}", spec - partition),
            );
        }
        return HealthResult::current(format!("Partition rollout complete. updated: {updated}"));
    }
    if spec > current {
        return HealthResult::in_progress("LessCurrent", format!("current: {current}/{spec}"));
    }
    if string_field(object, &["status", "currentRevision"], "")
        != string_field(object, &["status", "updateRevision"], "")
    {
        return HealthResult::in_progress(
            "RevisionMismatch",
            "Waiting for updated revision to match current",
        );
    }
    HealthResult::current(format!(
        "All replicas scheduled as expected. Replicas: {replicas}"
    ))
}

fn daemonset_status(object: &Value) -> Result<HealthResult, HealthError> {
    // The DaemonSet controller always sets both generations once it has acted, so
    // their absence means it has not yet.
    let kind = string_field(object, &["kind"], "");
    if nested_i64(object, &["metadata", "generation"], "metadata.generation")?.is_none() {
        return Ok(HealthResult::in_progress(
            "NoGeneration",
            format!("{kind} metadata.generation not found"),
        ));
    }
    if nested_i64(
        object,
        &["status", "observedGeneration"],
        "status.observedGeneration",
    )?
    .is_none()
    {
        return Ok(HealthResult::in_progress(
            "NoObservedGeneration",
            format!("{kind} status.observedGeneration not found"),
        ));
    }
    let desired = int_field(object, &["status", "desiredNumberScheduled"], -1);
    let current = int_field(object, &["status", "currentNumberScheduled"], 0);
    let updated = int_field(object, &["status", "updatedNumberScheduled"], 0);
    let available = int_field(object, &["status", "numberAvailable"], 0);
    let ready = int_field(object, &["status", "numberReady"], 0);
    if desired == -1 {
        return Ok(HealthResult::in_progress(
            "NoDesiredNumber",
            "Missing .status.desiredNumberScheduled",
        ));
    }
    if desired > current {
        return Ok(HealthResult::in_progress(
            "LessCurrent",
            format!("Current: {current}/{desired}"),
        ));
    }
    if desired > updated {
        return Ok(HealthResult::in_progress(
            "LessUpdated",
            format!("Updated: {updated}/{desired}"),
        ));
    }
    if desired > available {
        return Ok(HealthResult::in_progress(
            "LessAvailable",
            format!("Available: {available}/{desired}"),
        ));
    }
    if desired > ready {
        return Ok(HealthResult::in_progress(
            "LessReady",
            format!("Ready: {ready}/{desired}"),
        ));
    }
    Ok(HealthResult::current(format!(
        "All replicas scheduled as expected. Replicas: {desired}"
    )))
}

fn replicaset_status(object: &Value) -> Result<HealthResult, HealthError> {
    if find_condition(&conditions(object)?, "ReplicaFailure", "True").is_some() {
        return Ok(HealthResult::in_progress(
            "ReplicaFailure",
            "Replica Failure condition. Check Pods",
        ));
    }
    let spec = int_field(object, &["spec", "replicas"], 1);
    let replicas = int_field(object, &["status", "replicas"], 0);
    let ready = int_field(object, &["status", "readyReplicas"], 0);
    let available = int_field(object, &["status", "availableReplicas"], 0);
    let labelled = int_field(object, &["status", "fullyLabeledReplicas"], 0);
    if spec > labelled {
        return Ok(HealthResult::in_progress(
            "LessLabelled",
            format!("Labelled: {labelled}/{spec}"),
        ));
    }
    if spec > available {
        return Ok(HealthResult::in_progress(
            "LessAvailable",
            format!("Available: {available}/{spec}"),
        ));
    }
    if spec > ready {
        return Ok(HealthResult::in_progress(
            "LessReady",
            format!("Ready: {ready}/{spec}"),
        ));
    }
    if replicas > spec {
        return Ok(HealthResult::in_progress(
            "ExtraPods",
            format!("Pending termination: {}", replicas - spec),
        ));
    }
    Ok(HealthResult::current(format!(
        "ReplicaSet is available. Replicas: {replicas}"
    )))
}

fn pvc_status(object: &Value) -> HealthResult {
    let phase = string_field(object, &["status", "phase"], "unknown");
    if phase != "Bound" {
        return HealthResult::in_progress("NotBound", format!("PVC is not Bound. phase: {phase}"));
    }
    HealthResult::current("PVC is Bound")
}

fn pod_status(object: &Value, now: DateTime<Utc>) -> Result<HealthResult, HealthError> {
    let conditions = conditions(object)?;
    let phase = string_field(object, &["status", "phase"], "");
    match phase {
        "Succeeded" => Ok(HealthResult::current("Pod has completed successfully")),
        // kstatus treats a finished Pod as Current whatever its outcome.
        "Failed" => Ok(HealthResult::current(
            "Pod has completed, but not successfully",
        )),
        "Running" => {
            if find_condition(&conditions, "Ready", "True").is_some() {
                return Ok(HealthResult::current("Pod is Ready"));
            }
            let crash_looping = crash_looping_containers(object);
            if !crash_looping.is_empty() {
                return Ok(HealthResult::failed(
                    "ContainerCrashLooping",
                    format!("Containers in CrashLoop state: {}", crash_looping.join(",")),
                ));
            }
            Ok(HealthResult::in_progress(
                "PodRunningNotReady",
                "Pod is running but is not Ready",
            ))
        }
        "Pending" => {
            let unschedulable = find_condition(&conditions, "PodScheduled", "False")
                .is_some_and(|c| c.reason == "Unschedulable");
            if unschedulable {
                // A Pod gets a grace period to be scheduled. A missing timestamp is
                // Go's zero time: long past.
                let created = str_at(object, &["metadata", "creationTimestamp"])
                    .and_then(|ts| DateTime::parse_from_rfc3339(ts).ok())
                    .map(|ts| ts.with_timezone(&Utc));
                let window = chrono::Duration::seconds(SCHEDULE_WINDOW_SECONDS);
                if created.is_some_and(|created| now - window < created) {
                    return Ok(HealthResult::in_progress(
                        "PodNotScheduled",
                        "Pod has not been scheduled",
                    ));
                }
                return Ok(HealthResult::failed(
                    "PodUnschedulable",
                    "Pod could not be scheduled",
                ));
            }
            Ok(HealthResult::in_progress(
                "PodPending",
                "Pod is in the Pending phase",
            ))
        }
        "" => Ok(HealthResult::in_progress(
            "PodNotObserved",
            "Pod phase not available",
        )),
        other => Err(HealthError::UnknownPodPhase(other.to_owned())),
    }
}

fn crash_looping_containers(object: &Value) -> Vec<String> {
    let Some(statuses) =
        value_at(object, &["status", "containerStatuses"]).and_then(Value::as_array)
    else {
        return Vec::new();
    };
    statuses
        .iter()
        .filter(|s| str_at(s, &["state", "waiting", "reason"]) == Some("CrashLoopBackOff"))
        .filter_map(|s| str_at(s, &["name"]).map(str::to_owned))
        .collect()
}

fn job_status(object: &Value) -> Result<HealthResult, HealthError> {
    let parallelism = int_field(object, &["spec", "parallelism"], 1);
    let completions = int_field(object, &["spec", "completions"], parallelism);
    let succeeded = int_field(object, &["status", "succeeded"], 0);
    let active = int_field(object, &["status", "active"], 0);
    let failed = int_field(object, &["status", "failed"], 0);
    for condition in conditions(object)? {
        match (condition.type_.as_str(), condition.status.as_str()) {
            ("Complete", "True") => {
                return Ok(HealthResult::current(format!(
                    "Job Completed. succeeded: {succeeded}/{completions}"
                )))
            }
            ("Failed", "True") => {
                return Ok(HealthResult::failed(
                    "JobFailed",
                    format!("Job Failed. failed: {failed}/{completions}"),
                ))
            }
            _ => {}
        }
    }
    if string_field(object, &["status", "startTime"], "").is_empty() {
        return Ok(HealthResult::in_progress(
            "JobNotStarted",
            "Job not started",
        ));
    }
    // A running Job is Current: it exists and runs; only failure is a problem.
    Ok(HealthResult::current(format!(
        "Job in progress. success:{succeeded}, active: {active}, failed: {failed}"
    )))
}

/// Flux's kstatus only asks a LoadBalancer Service for a cluster IP; it does not
/// wait for the load balancer's ingress address.
fn service_status(object: &Value) -> HealthResult {
    let service_type = string_field(object, &["spec", "type"], "ClusterIP");
    if service_type == "LoadBalancer" && string_field(object, &["spec", "clusterIP"], "").is_empty()
    {
        return HealthResult::in_progress(
            "NoIPAssigned",
            "ClusterIP not set. Service type: LoadBalancer",
        );
    }
    HealthResult::current("Service is ready")
}

fn crd_status(object: &Value) -> Result<HealthResult, HealthError> {
    for condition in conditions(object)? {
        if condition.type_ == "NamesAccepted" && condition.status == "False" {
            return Ok(HealthResult::failed(&condition.reason, condition.message));
        }
        if condition.type_ == "Established" {
            if condition.status == "False" && condition.reason != "Installing" {
                return Ok(HealthResult::failed(&condition.reason, condition.message));
            }
            if condition.status == "True" {
                return Ok(HealthResult::current("CRD is established"));
            }
        }
    }
    Ok(HealthResult::in_progress(
        "Installing",
        "Install in progress",
    ))
}

// ---------------------------------------------------------------------------------
// Health checks of a Kustomization
// ---------------------------------------------------------------------------------

/// A `spec.healthChecks[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheckRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

/// What a reconcile waits for. `spec.wait` means every applied object except the
/// skipped and the pruned ones; otherwise `spec.healthChecks` (an empty apiVersion means `apps/v1`,
/// for v1beta1 manifests). The Kustomization never waits for itself. An empty list
/// means no health check: the `Healthy` condition is removed.
pub fn health_check_targets(
    wait: bool,
    health_checks: &[HealthCheckRef],
    applied: &crate::apply::stages::ChangeSet,
    kustomization_name: &str,
    kustomization_namespace: &str,
) -> Vec<InventoryObject> {
    let candidates: Vec<InventoryObject> = if wait {
        applied
            .entries
            .iter()
            // What was pruned is not waited for: it is gone.
            .filter(|e| {
                !matches!(
                    e.action,
                    crate::apply::stages::Action::Skipped | crate::apply::stages::Action::Deleted
                )
            })
            .map(|e| InventoryObject {
                meta: e.object.clone(),
                version: e.version.clone(),
            })
            .collect()
    } else {
        health_checks
            .iter()
            .map(|check| {
                let api_version = if check.api_version.is_empty() {
                    "apps/v1"
                } else {
                    &check.api_version
                };
                let (group, version) = split_api_version(api_version).unwrap_or_default();
                InventoryObject {
                    meta: ObjMetadata::new(&check.namespace, &check.name, group, &check.kind),
                    version: version.to_owned(),
                }
            })
            .collect()
    };
    candidates
        .into_iter()
        .filter(|o| {
            !(o.meta.kind == "Kustomization"
                && o.meta.name == kustomization_name
                && o.meta.namespace == kustomization_namespace)
        })
        .collect()
}

/// The latest status seen for one waited-on object; `None` when never observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedStatus {
    pub object: ObjMetadata,
    pub status: Option<HealthStatus>,
    /// A poll error attached to the status (printed after it).
    pub error: Option<String>,
}

/// Whether waiting can stop: everything is Current, or (with fail-fast) something
/// Failed, or everything is terminal (Current or Failed: a Failed object never
/// recovers on its own, so waiting for the timeout is pointless). A Job with
/// `ttlSecondsAfterFinished` that is gone counts as Current (it finished and was
/// cleaned up).
pub fn wait_is_over(
    observed: &[ObservedStatus],
    fail_fast: bool,
    jobs_with_ttl: &[ObjMetadata],
) -> bool {
    // Not yet observed counts as Unknown, as in the status collector.
    let effective: Vec<HealthStatus> = observed
        .iter()
        .map(|o| match o.status {
            None => HealthStatus::Unknown,
            Some(HealthStatus::NotFound) if jobs_with_ttl.contains(&o.object) => {
                HealthStatus::Current
            }
            Some(status) => status,
        })
        .collect();
    if fail_fast && effective.contains(&HealthStatus::Failed) {
        return true;
    }
    // All Current is success; all Current-or-Failed is terminal.
    effective
        .iter()
        .all(|s| matches!(s, HealthStatus::Current | HealthStatus::Failed))
}

/// The health-check error once waiting stopped, or `None` when healthy:
/// `timeout waiting for: [Deployment/apps/web status: 'InProgress']` or
/// `failed early due to stalled resources: [...]`.
pub fn wait_failure_message(
    observed: &[ObservedStatus],
    timed_out: bool,
    jobs_with_ttl: &[ObjMetadata],
) -> Option<String> {
    let mut problems = Vec::new();
    for entry in observed {
        let is_ttl_job = jobs_with_ttl.contains(&entry.object);
        match entry.status {
            None if is_ttl_job => {}
            None => problems.push(format!(
                "can't determine status for {}",
                entry.object.subject()
            )),
            Some(HealthStatus::NotFound) if is_ttl_job => {}
            Some(status)
                if status == HealthStatus::Failed
                    || (timed_out && status != HealthStatus::Current) =>
            {
                let mut text = format!("{} status: '{}'", entry.object.subject(), status);
                if let Some(error) = &entry.error {
                    text.push_str(": ");
                    text.push_str(error);
                }
                problems.push(text);
            }
            Some(_) => {}
        }
    }
    if problems.is_empty() {
        return None;
    }
    let prefix = if timed_out {
        "timeout waiting for"
    } else {
        "failed early due to stalled resources"
    };
    Some(format!("{prefix}: [{}]", problems.join(", ")))
}

/// The `Ready` message of a failed health check (the `Healthy` condition carries
/// the inner message alone).
pub fn health_check_failed_message(elapsed: std::time::Duration, failure: &str) -> String {
    format!(
        "health check failed after {}: {failure}",
        format_go_duration(elapsed)
    )
}

/// The `Healthy` message (and event) of a passed health check.
pub fn health_check_passed_message(elapsed: std::time::Duration) -> String {
    format!("Health check passed in {}", format_go_duration(elapsed))
}

/// Jobs whose `spec.ttlSecondsAfterFinished` is set (any value): they may vanish
/// after finishing, which then counts as success.
pub fn jobs_with_ttl(objects: &[Value]) -> Vec<ObjMetadata> {
    objects
        .iter()
        .filter(|o| {
            str_at(o, &["kind"]) == Some("Job")
                && str_at(o, &["apiVersion"]).is_some_and(|v| v.starts_with("batch/"))
                && value_at(o, &["spec", "ttlSecondsAfterFinished"]).is_some_and(Value::is_i64)
        })
        .filter_map(|o| ObjMetadata::from_object(o).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::stages::{Action, ChangeSet, ChangeSetEntry};
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn check(object: Value) -> (HealthStatus, String) {
        let result = compute(&object, now()).unwrap();
        (result.status, result.message)
    }

    fn deployment(spec_replicas: i64, status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "apps", "generation": 2},
            "spec": {"replicas": spec_replicas, "progressDeadlineSeconds": 600},
            "status": status})
    }

    fn available_conditions() -> Value {
        json!([
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
        ])
    }

    #[test]
    fn a_rolled_out_deployment_is_current() {
        let object = deployment(
            3,
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3,
            "readyReplicas": 3, "availableReplicas": 3, "conditions": available_conditions()}),
        );
        assert_eq!(
            check(object),
            (
                HealthStatus::Current,
                "Deployment is available. Replicas: 3".into()
            )
        );
    }

    #[test]
    fn deployment_rollouts_in_progress_say_what_is_missing() {
        let cases = [
            (
                json!({"observedGeneration": 2, "replicas": 1}),
                "Replicas: 1/3",
            ),
            (
                json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2}),
                "Updated: 2/3",
            ),
            (
                json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3}),
                "Pending termination: 1",
            ),
            (
                json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 1}),
                "Available: 1/3",
            ),
            (
                json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3,
                    "readyReplicas": 2}),
                "Ready: 2/3",
            ),
            (
                json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3,
                    "readyReplicas": 3, "conditions": [{"type": "Available", "status": "True"}]}),
                "ReplicaSet not Available",
            ),
            (
                json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3,
                    "readyReplicas": 3, "conditions": [{"type": "Progressing", "status": "True",
                    "reason": "NewReplicaSetAvailable"}]}),
                "Deployment not Available",
            ),
        ];
        for (status, message) in cases {
            assert_eq!(
                check(deployment(3, status)),
                (HealthStatus::InProgress, message.into())
            );
        }
    }

    #[test]
    fn deployment_progress_deadline_is_failure() {
        let object = deployment(
            3,
            json!({"observedGeneration": 2, "replicas": 3, "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": "ReplicaSet \"web-abc\" has timed out progressing."}]}),
        );
        let result = compute(&object, now()).unwrap();
        assert_eq!(result.status, HealthStatus::Failed);
        assert_eq!(result.message, "Progress deadline exceeded");
        let condition = result.condition.unwrap();
        assert_eq!(condition.type_, "Stalled");
        assert_eq!(condition.reason, "ProgressDeadlineExceeded");
        assert_eq!(
            condition.message,
            "ReplicaSet \"web-abc\" has timed out progressing."
        );
    }

    #[test]
    fn deployment_without_deadline_and_default_replicas() {
        // No progressDeadlineSeconds and no spec.replicas: one replica, progressing assumed.
        let object = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {}, "status": {"replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
            "availableReplicas": 1, "conditions": [{"type": "Available", "status": "True"}]}});
        assert_eq!(
            check(object),
            (
                HealthStatus::Current,
                "Deployment is available. Replicas: 1".into()
            )
        );
    }

    #[test]
    fn unobserved_generation_is_in_progress() {
        let object = deployment(
            3,
            json!({"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3,
            "readyReplicas": 3, "availableReplicas": 3, "conditions": available_conditions()}),
        );
        let result = compute(&object, now()).unwrap();
        assert_eq!(result.status, HealthStatus::InProgress);
        assert_eq!(
            result.message,
            "Deployment generation is 2, but latest observed generation is 1"
        );
        assert_eq!(
            result.condition.unwrap().reason,
            "LatestGenerationNotObserved"
        );
    }

    #[test]
    fn deletion_timestamp_means_terminating() {
        let mut object = deployment(1, json!({}));
        object["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert_eq!(
            check(object),
            (
                HealthStatus::Terminating,
                "Resource scheduled for deletion".into()
            )
        );
    }

    #[test]
    fn statefulset_rules() {
        let sts = |spec: Value, status: Value| {
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
                "spec": spec, "status": status})
        };
        assert_eq!(
            check(sts(
                json!({"replicas": 3}),
                json!({"replicas": 3, "readyReplicas": 3, "currentReplicas": 3,
                "updatedReplicas": 3, "currentRevision": "db-1", "updateRevision": "db-1"})
            )),
            (
                HealthStatus::Current,
                "All replicas scheduled as expected. Replicas: 3".into()
            )
        );
        assert_eq!(
            check(sts(
                json!({"replicas": 3}),
                json!({"replicas": 3, "readyReplicas": 1})
            )),
            (HealthStatus::InProgress, "Ready: 1/3".into())
        );
        assert_eq!(
            check(sts(
                json!({"replicas": 3}),
                json!({"replicas": 3, "readyReplicas": 3, "currentReplicas": 3,
                "currentRevision": "db-1", "updateRevision": "db-2"})
            )),
            (
                HealthStatus::InProgress,
                "Waiting for updated revision to match current".into()
            )
        );
        assert_eq!(
            check(sts(
                json!({"replicas": 3}),
                json!({"replicas": 3, "readyReplicas": 3, "currentReplicas": 2})
            )),
            (HealthStatus::InProgress, "current: 2/3".into())
        );
        assert_eq!(
            check(sts(
                json!({"updateStrategy": {"type": "OnDelete"}}),
                json!({})
            )),
            (
                HealthStatus::Current,
                "StatefulSet is using the ondelete update strategy".into()
            )
        );
        let partitioned =
            json!({"replicas": 3, "updateStrategy": {"rollingUpdate": {"partition": 1}}});
        assert_eq!(
            check(sts(
                partitioned.clone(),
                json!({"replicas": 3, "readyReplicas": 3, "updatedReplicas": 1})
            )),
            (HealthStatus::InProgress, "updated: 1/2".into())
        );
        assert_eq!(
            check(sts(
                partitioned,
                json!({"replicas": 3, "readyReplicas": 3, "updatedReplicas": 2})
            )),
            (
                HealthStatus::Current,
                "Partition rollout complete. updated: 2".into()
            )
        );
    }

    #[test]
    fn daemonset_rules() {
        let ds = |metadata: Value, status: Value| json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": metadata, "status": status});
        assert_eq!(
            check(ds(json!({"name": "agent"}), json!({}))),
            (
                HealthStatus::InProgress,
                "DaemonSet metadata.generation not found".into()
            )
        );
        assert_eq!(
            check(ds(json!({"name": "agent", "generation": 1}), json!({}))),
            (
                HealthStatus::InProgress,
                "DaemonSet status.observedGeneration not found".into()
            )
        );
        assert_eq!(
            check(ds(
                json!({"name": "agent", "generation": 1}),
                json!({"observedGeneration": 1})
            )),
            (
                HealthStatus::InProgress,
                "Missing .status.desiredNumberScheduled".into()
            )
        );
        assert_eq!(
            check(ds(
                json!({"name": "agent", "generation": 1}),
                json!({"observedGeneration": 1,
                "desiredNumberScheduled": 3, "currentNumberScheduled": 3, "updatedNumberScheduled": 3,
                "numberAvailable": 2})
            )),
            (HealthStatus::InProgress, "Available: 2/3".into())
        );
        assert_eq!(
            check(ds(
                json!({"name": "agent", "generation": 1}),
                json!({"observedGeneration": 1,
                "desiredNumberScheduled": 3, "currentNumberScheduled": 3, "updatedNumberScheduled": 3,
                "numberAvailable": 3, "numberReady": 3})
            )),
            (
                HealthStatus::Current,
                "All replicas scheduled as expected. Replicas: 3".into()
            )
        );
    }

    #[test]
    fn replicaset_rules() {
        let rs = |status: Value| {
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web-1"},
                "spec": {"replicas": 2}, "status": status})
        };
        assert_eq!(
            check(rs(
                json!({"replicas": 2, "fullyLabeledReplicas": 2, "availableReplicas": 2, "readyReplicas": 2})
            )),
            (
                HealthStatus::Current,
                "ReplicaSet is available. Replicas: 2".into()
            )
        );
        assert_eq!(
            check(rs(json!({"replicas": 2, "fullyLabeledReplicas": 1}))),
            (HealthStatus::InProgress, "Labelled: 1/2".into())
        );
        assert_eq!(
            check(rs(
                json!({"conditions": [{"type": "ReplicaFailure", "status": "True"}]})
            )),
            (
                HealthStatus::InProgress,
                "Replica Failure condition. Check Pods".into()
            )
        );
    }

    #[test]
    fn job_rules() {
        let job = |status: Value| {
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
                "spec": {"completions": 1}, "status": status})
        };
        assert_eq!(
            check(job(json!({}))),
            (HealthStatus::InProgress, "Job not started".into())
        );
        assert_eq!(
            check(job(
                json!({"startTime": "2026-01-01T00:00:00Z", "active": 1})
            )),
            (
                HealthStatus::Current,
                "Job in progress. success:0, active: 1, failed: 0".into()
            )
        );
        assert_eq!(
            check(job(
                json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]})
            )),
            (
                HealthStatus::Current,
                "Job Completed. succeeded: 1/1".into()
            )
        );
        assert_eq!(
            check(job(
                json!({"failed": 6, "conditions": [{"type": "Failed", "status": "True"}]})
            )),
            (HealthStatus::Failed, "Job Failed. failed: 6/1".into())
        );
    }

    fn pod(status: Value, created: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "apps", "creationTimestamp": created}, "status": status})
    }

    #[test]
    fn pod_rules() {
        let t = "2026-01-01T11:00:00Z";
        assert_eq!(
            check(pod(json!({}), t)),
            (HealthStatus::InProgress, "Pod phase not available".into())
        );
        assert_eq!(
            check(pod(json!({"phase": "Succeeded"}), t)),
            (
                HealthStatus::Current,
                "Pod has completed successfully".into()
            )
        );
        assert_eq!(
            check(pod(json!({"phase": "Failed"}), t)),
            (
                HealthStatus::Current,
                "Pod has completed, but not successfully".into()
            )
        );
        assert_eq!(
            check(pod(
                json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}),
                t
            )),
            (HealthStatus::Current, "Pod is Ready".into())
        );
        assert_eq!(
            check(pod(json!({"phase": "Running"}), t)),
            (
                HealthStatus::InProgress,
                "Pod is running but is not Ready".into()
            )
        );
        assert_eq!(
            check(pod(
                json!({"phase": "Running", "containerStatuses": [
                {"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
                {"name": "ok", "state": {"running": {}}},
                {"name": "sidecar", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}),
                t
            )),
            (
                HealthStatus::Failed,
                "Containers in CrashLoop state: app,sidecar".into()
            )
        );
        assert_eq!(
            check(pod(json!({"phase": "Pending"}), t)),
            (
                HealthStatus::InProgress,
                "Pod is in the Pending phase".into()
            )
        );
        let unschedulable = json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]});
        // Created 5s ago: still within the scheduling window.
        assert_eq!(
            check(pod(unschedulable.clone(), "2026-01-01T11:59:55Z")),
            (
                HealthStatus::InProgress,
                "Pod has not been scheduled".into()
            )
        );
        assert_eq!(
            check(pod(unschedulable, t)),
            (HealthStatus::Failed, "Pod could not be scheduled".into())
        );
        let unknown = status_of(Some(&pod(json!({"phase": "Exploded"}), t)), now());
        assert_eq!(
            (unknown.status, unknown.message.as_str()),
            (HealthStatus::Unknown, "unknown phase Exploded")
        );
    }

    #[test]
    fn pvc_service_namespace_and_always_ready_kinds() {
        let pvc = |phase: Value| {
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"}, "status": phase})
        };
        assert_eq!(
            check(pvc(json!({"phase": "Bound"}))),
            (HealthStatus::Current, "PVC is Bound".into())
        );
        assert_eq!(
            check(pvc(json!({"phase": "Pending"}))),
            (
                HealthStatus::InProgress,
                "PVC is not Bound. phase: Pending".into()
            )
        );
        assert_eq!(
            check(pvc(json!({}))),
            (
                HealthStatus::InProgress,
                "PVC is not Bound. phase: unknown".into()
            )
        );

        let lb = |spec: Value| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": spec});
        assert_eq!(
            check(lb(json!({"type": "LoadBalancer"}))),
            (
                HealthStatus::InProgress,
                "ClusterIP not set. Service type: LoadBalancer".into()
            )
        );
        assert_eq!(
            check(lb(json!({"type": "LoadBalancer", "clusterIP": "10.0.0.1"}))),
            (HealthStatus::Current, "Service is ready".into())
        );
        assert_eq!(
            check(lb(json!({}))),
            (HealthStatus::Current, "Service is ready".into())
        );

        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"},
            "status": {"phase": "Active"}});
        assert_eq!(
            check(ns),
            (HealthStatus::Current, "Resource is current".into())
        );

        for (api, kind) in [
            ("v1", "ConfigMap"),
            ("v1", "Secret"),
            ("batch/v1", "CronJob"),
        ] {
            let object = json!({"apiVersion": api, "kind": kind, "metadata": {"name": "x"}});
            assert_eq!(
                check(object),
                (HealthStatus::Current, "Resource is always ready".into())
            );
        }
        let pdb = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "x"}});
        assert_eq!(
            check(pdb),
            (
                HealthStatus::Current,
                "AllowedDisruptions has been computed.".into()
            )
        );
    }

    #[test]
    fn crd_rules() {
        let crd = |conditions: Value| {
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"}, "status": {"conditions": conditions}})
        };
        assert_eq!(
            check(crd(json!([]))),
            (HealthStatus::InProgress, "Install in progress".into())
        );
        assert_eq!(
            check(crd(json!([{"type": "Established", "status": "True"}]))),
            (HealthStatus::Current, "CRD is established".into())
        );
        assert_eq!(
            check(crd(
                json!([{"type": "Established", "status": "False", "reason": "Installing"}])
            )),
            (HealthStatus::InProgress, "Install in progress".into())
        );
        assert_eq!(
            check(crd(
                json!([{"type": "NamesAccepted", "status": "False", "reason": "MultipleNamesNotAllowed",
                "message": "plural conflicts"}])
            )),
            (HealthStatus::Failed, "plural conflicts".into())
        );
    }

    fn custom(status: Value) -> Value {
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "generation": 3},
            "status": status})
    }

    #[test]
    fn custom_resources_follow_their_conditions() {
        assert_eq!(
            check(custom(json!({}))),
            (HealthStatus::Current, "Resource is current".into())
        );
        assert_eq!(
            check(custom(
                json!({"observedGeneration": 3, "conditions": [{"type": "Ready", "status": "True"}]})
            )),
            (HealthStatus::Current, "Resource is Ready".into())
        );
        let not_ready = compute(
            &custom(json!({"observedGeneration": 3, "conditions": [
                {"type": "Ready", "status": "False", "reason": "Waiting", "message": "dependency not ready"}]})),
            now(),
        )
        .unwrap();
        assert_eq!(not_ready.status, HealthStatus::InProgress);
        assert_eq!(not_ready.message, "dependency not ready");
        assert_eq!(not_ready.condition.unwrap().reason, "Waiting");
        assert_eq!(
            check(custom(json!({"observedGeneration": 3, "conditions": [
                {"type": "Ready", "status": "Unknown", "message": "reconciling"}]}))),
            (HealthStatus::InProgress, "reconciling".into())
        );
        assert_eq!(
            check(custom(
                json!({"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True"}]})
            )),
            (
                HealthStatus::InProgress,
                "Widget generation is 3, but latest observed generation is 2".into()
            )
        );
        // Reconciling and Stalled win over Ready, whatever their order.
        assert_eq!(
            check(custom(json!({"observedGeneration": 3, "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "Reconciling", "status": "True", "reason": "Progressing", "message": "upgrading"}]}))),
            (HealthStatus::InProgress, "upgrading".into())
        );
        let stalled = compute(
            &custom(json!({"observedGeneration": 3, "conditions": [
                {"type": "Ready", "status": "False"},
                {"type": "Stalled", "status": "True", "reason": "InvalidSpec", "message": "bad field"}]})),
            now(),
        )
        .unwrap();
        assert_eq!(
            (stalled.status, stalled.message.as_str()),
            (HealthStatus::Failed, "bad field")
        );
        assert_eq!(stalled.condition.unwrap().type_, "Stalled");
        // Flux's own kinds speak this dialect: a Ready HelmRelease is Current.
        let release = json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "r", "generation": 1}, "status": {"observedGeneration": 1,
            "conditions": [{"type": "Ready", "status": "True", "reason": "InstallSucceeded"}]}});
        assert_eq!(check(release).0, HealthStatus::Current);
    }

    #[test]
    fn unreadable_objects_are_unknown_and_missing_ones_not_found() {
        let bad_generation = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "generation": "3"}, "status": {"observedGeneration": 3}});
        assert_eq!(
            status_of(Some(&bad_generation), now()).status,
            HealthStatus::Unknown
        );
        let bad_conditions = custom(json!({"conditions": "Ready"}));
        assert_eq!(
            status_of(Some(&bad_conditions), now()).status,
            HealthStatus::Unknown
        );
        let missing = status_of(None, now());
        assert_eq!(
            (missing.status, missing.message.as_str()),
            (HealthStatus::NotFound, "Resource not found")
        );
    }

    fn observed(kind: &str, name: &str, status: Option<HealthStatus>) -> ObservedStatus {
        ObservedStatus {
            object: ObjMetadata::new("apps", name, "apps", kind),
            status,
            error: None,
        }
    }

    #[test]
    fn waiting_stops_when_current_or_terminal() {
        let current = observed("Deployment", "a", Some(HealthStatus::Current));
        let progressing = observed("Deployment", "b", Some(HealthStatus::InProgress));
        let failed = observed("Deployment", "c", Some(HealthStatus::Failed));
        let unseen = observed("Deployment", "d", None);
        assert!(wait_is_over(&[], false, &[]));
        assert!(wait_is_over(std::slice::from_ref(&current), false, &[]));
        assert!(!wait_is_over(
            &[current.clone(), progressing.clone()],
            false,
            &[]
        ));
        assert!(!wait_is_over(&[current.clone(), unseen], false, &[]));
        assert!(
            wait_is_over(&[current.clone(), failed.clone()], false, &[]),
            "terminal"
        );
        assert!(!wait_is_over(
            &[progressing.clone(), failed.clone()],
            false,
            &[]
        ));
        assert!(wait_is_over(&[progressing, failed], true, &[]), "fail fast");
        // A TTL Job that finished and was deleted counts as done.
        let gone_job = ObservedStatus {
            object: ObjMetadata::new("apps", "migrate", "batch", "Job"),
            status: Some(HealthStatus::NotFound),
            error: None,
        };
        assert!(!wait_is_over(
            &[current.clone(), gone_job.clone()],
            false,
            &[]
        ));
        assert!(wait_is_over(
            &[current, gone_job.clone()],
            false,
            &[gone_job.object]
        ));
    }

    #[test]
    fn failure_messages_match_flux() {
        let statuses = [
            observed("Deployment", "web", Some(HealthStatus::InProgress)),
            observed("Deployment", "api", Some(HealthStatus::Current)),
            ObservedStatus {
                error: Some("forbidden".into()),
                ..observed("Deployment", "db", Some(HealthStatus::Unknown))
            },
            observed("Deployment", "ghost", None),
        ];
        assert_eq!(
            wait_failure_message(&statuses, true, &[]).as_deref(),
            Some(
                "timeout waiting for: [Deployment/apps/web status: 'InProgress', \
                 Deployment/apps/db status: 'Unknown': forbidden, can't determine status for Deployment/apps/ghost]"
            )
        );
        let stalled = [
            observed("Deployment", "web", Some(HealthStatus::Failed)),
            observed("Deployment", "api", Some(HealthStatus::Current)),
        ];
        assert_eq!(
            wait_failure_message(&stalled, false, &[]).as_deref(),
            Some("failed early due to stalled resources: [Deployment/apps/web status: 'Failed']")
        );
        let healthy = [observed("Deployment", "api", Some(HealthStatus::Current))];
        assert_eq!(wait_failure_message(&healthy, true, &[]), None);
        let job = ObservedStatus {
            object: ObjMetadata::new("apps", "j", "batch", "Job"),
            status: None,
            error: None,
        };
        assert_eq!(
            wait_failure_message(
                std::slice::from_ref(&job),
                true,
                std::slice::from_ref(&job.object)
            ),
            None
        );
    }

    #[test]
    fn health_messages_carry_go_durations() {
        let elapsed = std::time::Duration::from_millis(30_500);
        assert_eq!(
            health_check_failed_message(elapsed, "timeout waiting for: [Deployment/apps/web status: 'InProgress']"),
            "health check failed after 30.5s: timeout waiting for: [Deployment/apps/web status: 'InProgress']"
        );
        assert_eq!(
            health_check_passed_message(std::time::Duration::from_secs(5)),
            "Health check passed in 5s"
        );
    }

    #[test]
    fn health_check_targets_follow_wait_and_health_checks() {
        let applied = ChangeSet {
            entries: vec![
                ChangeSetEntry {
                    object: ObjMetadata::new("apps", "web", "apps", "Deployment"),
                    version: "v1".into(),
                    action: Action::Configured,
                },
                ChangeSetEntry {
                    object: ObjMetadata::new("apps", "legacy", "", "ConfigMap"),
                    version: "v1".into(),
                    action: Action::Skipped,
                },
                ChangeSetEntry {
                    object: ObjMetadata::new("apps", "retired", "apps", "Deployment"),
                    version: "v1".into(),
                    action: Action::Deleted,
                },
                ChangeSetEntry {
                    object: ObjMetadata::new(
                        "flux-system",
                        "apps",
                        "kustomize.toolkit.fluxcd.io",
                        "Kustomization",
                    ),
                    version: "v1".into(),
                    action: Action::Unchanged,
                },
            ],
        };
        let metas = |targets: Vec<InventoryObject>| -> Vec<ObjMetadata> {
            targets.into_iter().map(|t| t.meta).collect()
        };
        let waited = health_check_targets(true, &[], &applied, "apps", "flux-system");
        assert_eq!(waited[0].api_version(), "apps/v1");
        assert_eq!(
            metas(waited),
            [ObjMetadata::new("apps", "web", "apps", "Deployment")]
        );

        let checks = [
            HealthCheckRef {
                api_version: String::new(),
                kind: "Deployment".into(),
                name: "web".into(),
                namespace: "apps".into(),
            },
            HealthCheckRef {
                api_version: "helm.toolkit.fluxcd.io/v2".into(),
                kind: "HelmRelease".into(),
                name: "redis".into(),
                namespace: "apps".into(),
            },
        ];
        let targets = health_check_targets(false, &checks, &applied, "apps", "flux-system");
        assert_eq!(targets[1].api_version(), "helm.toolkit.fluxcd.io/v2");
        assert_eq!(
            metas(targets),
            [
                ObjMetadata::new("apps", "web", "apps", "Deployment"),
                ObjMetadata::new("apps", "redis", "helm.toolkit.fluxcd.io", "HelmRelease"),
            ]
        );
        assert!(health_check_targets(false, &[], &applied, "apps", "flux-system").is_empty());
    }

    #[test]
    fn jobs_with_ttl_are_found() {
        let objects = [
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "a", "namespace": "x"},
                "spec": {"ttlSecondsAfterFinished": 0}}),
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "b", "namespace": "x"}, "spec": {}}),
            json!({"apiVersion": "example.com/v1", "kind": "Job", "metadata": {"name": "c"},
                "spec": {"ttlSecondsAfterFinished": 5}}),
        ];
        assert_eq!(
            jobs_with_ttl(&objects),
            [ObjMetadata::new("x", "a", "batch", "Job")]
        );
    }
}
