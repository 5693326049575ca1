//! Checks of a Kustomization `.spec` that must hold before anything is fetched, and
//! Go's duration syntax, which every interval and timeout field uses.
//!
//! Most of these rules are the CRD schema of kustomize-controller (enums, patterns,
//! lengths): with Flux an invalid manifest is refused at admission. ferroflux checks
//! them again because an object can reach the controller without that schema (an
//! older CRD, a test fixture), and a spec that can never work must end in `Stalled`
//! rather than in a retry loop. The remaining rules are the controller's own refusals
//! (`--no-cross-namespace-refs`, feature gates), with Flux's reasons and messages.

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use regex::Regex;
use serde_json::Value;
use thiserror::Error;

/// The CRD pattern of `interval`, `retryInterval` and `timeout`: stricter than Go's
/// `time.ParseDuration` (no sign, no `ns`/`us`, no leading `.`).
pub const INTERVAL_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$";

/// The source kinds a Kustomization can build from.
pub const SOURCE_KINDS: [&str; 4] = [
    "OCIRepository",
    "GitRepository",
    "Bucket",
    "ExternalArtifact",
];

/// Kind that needs the `ExternalArtifact` feature gate.
pub const EXTERNAL_ARTIFACT_KIND: &str = "ExternalArtifact";

/// Flux's `DeletionPolicy` values.
pub const DELETION_POLICIES: [&str; 4] = ["MirrorPrune", "Delete", "WaitForTermination", "Orphan"];

/// Condition reasons used for the refusals below. `AccessDenied` and
/// `FeatureGateDisabled` are Flux's; `InvalidSpec` is ferroflux's name for what Flux
/// leaves to the API server's schema validation.
pub const ACCESS_DENIED_REASON: &str = "AccessDenied";
pub const FEATURE_GATE_DISABLED_REASON: &str = "FeatureGateDisabled";
pub const INVALID_SPEC_REASON: &str = "InvalidSpec";

/// Flux's prefix for terminal configuration errors in `Ready`/`Stalled` messages.
pub const TERMINAL_ERROR_MESSAGE: &str =
    "Reconciliation failed terminally due to configuration error";

// ---------------------------------------------------------------------------------
// Go durations
// ---------------------------------------------------------------------------------

const NANOS_PER_MICRO: u64 = 1_000;
const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SECOND: u64 = 1_000_000_000;
const NANOS_PER_MINUTE: u64 = 60 * NANOS_PER_SECOND;

/// Formats a duration as Go's `Duration.String()` does (`5m0s`, `1h0m0s`, `1.5s`,
/// `250ms`): Flux puts these in user-facing messages such as "with a timeout of 5m0s".
pub fn format_go_duration(duration: Duration) -> String {
    let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < NANOS_PER_SECOND {
        return if nanos < NANOS_PER_MICRO {
            format!("{nanos}ns")
        } else if nanos < NANOS_PER_MILLI {
            format!("{}\u{b5}s", with_fraction(nanos, 3))
        } else {
            format!("{}ms", with_fraction(nanos, 6))
        };
    }
    let seconds_text = with_fraction(nanos % NANOS_PER_MINUTE, 9);
    let whole_minutes = nanos / NANOS_PER_MINUTE;
    if whole_minutes == 0 {
        return format!("{seconds_text}s");
    }
    let minutes = whole_minutes % 60;
    let hours = whole_minutes / 60;
    if hours == 0 {
        format!("{minutes}m{seconds_text}s")
    } else {
        format!("{hours}h{minutes}m{seconds_text}s")
    }
}

/// `value / 10^precision` with the fraction's trailing zeros (and a bare dot) dropped.
fn with_fraction(value: u64, precision: u32) -> String {
    let divisor = 10u64.pow(precision);
    let whole = value / divisor;
    let fraction = value % divisor;
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = format!("{fraction:0width$}", width = precision as usize);
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// How long apply and health checks may take: `spec.timeout`, else the interval
/// minus 30s, and never less than 30s (kustomize-controller's `GetTimeout`).
pub fn effective_timeout(interval: Duration, timeout: Option<Duration>) -> Duration {
    let floor = Duration::from_secs(30);
    let candidate = timeout.unwrap_or_else(|| interval.saturating_sub(floor));
    candidate.max(floor)
}

/// When to retry after a failure: `spec.retryInterval`, else the interval.
pub fn effective_retry_interval(interval: Duration, retry_interval: Option<Duration>) -> Duration {
    retry_interval.unwrap_or(interval)
}

// ---------------------------------------------------------------------------------
// Artifact paths
// ---------------------------------------------------------------------------------

/// `spec.path` resolved inside the artifact, as a relative path ("" is the root).
///
/// Flux joins the path with `securejoin.SecureJoin`, which does not refuse `..` but
/// clamps it at the root: `../../apps` builds `apps` of the artifact. ferroflux does
/// the same so the same manifests build the same way; escaping is impossible either
/// way. (Symlinks are the extractor's concern: this is the lexical half.)
pub fn confine_artifact_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for component in path.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

// ---------------------------------------------------------------------------------
// Spec validation
// ---------------------------------------------------------------------------------

/// Controller-level settings that change what a valid spec is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecCheckContext {
    /// Namespace of the Kustomization being checked.
    pub namespace: String,
    /// `--no-cross-namespace-refs`: sources in other namespaces are refused.
    pub no_cross_namespace_refs: bool,
    /// The `ExternalArtifact` feature gate.
    pub allow_external_artifact: bool,
    /// The `ObjectLevelWorkloadIdentity` feature gate (`decryption.serviceAccountName`).
    pub object_level_workload_identity: bool,
}

/// What is wrong with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecProblem {
    Missing,
    WrongType {
        expected: &'static str,
    },
    NotOneOf {
        value: String,
        allowed: Vec<&'static str>,
    },
    BadDuration {
        value: String,
        reason: String,
    },
    TooShort {
        min: usize,
    },
    TooLong {
        max: usize,
    },
    /// `--no-cross-namespace-refs` refused a reference; the text is Flux's.
    CrossNamespaceRefused {
        message: String,
    },
    /// A feature gate is off; the text is Flux's.
    FeatureGateDisabled {
        message: String,
    },
}

/// One invalid field, named by its path (`spec.sourceRef.kind`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct SpecError {
    pub field: String,
    pub problem: SpecProblem,
}

impl SpecError {
    fn new(field: impl Into<String>, problem: SpecProblem) -> Self {
        Self {
            field: field.into(),
            problem,
        }
    }

    /// The `Ready`/`Stalled` reason this error is reported with.
    pub fn reason(&self) -> &'static str {
        match self.problem {
            SpecProblem::CrossNamespaceRefused { .. } => ACCESS_DENIED_REASON,
            SpecProblem::FeatureGateDisabled { .. } => FEATURE_GATE_DISABLED_REASON,
            _ => INVALID_SPEC_REASON,
        }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            // Flux's own messages do not name the field; keep them verbatim.
            SpecProblem::CrossNamespaceRefused { message }
            | SpecProblem::FeatureGateDisabled { message } => f.write_str(message),
            SpecProblem::Missing => write!(f, "{}: Required value", self.field),
            SpecProblem::WrongType { expected } => {
                write!(f, "{}: Invalid value: must be {expected}", self.field)
            }
            SpecProblem::NotOneOf { value, allowed } => {
                let quoted: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
                write!(
                    f,
                    "{}: Unsupported value: \"{value}\": supported values: {}",
                    self.field,
                    quoted.join(", ")
                )
            }
            SpecProblem::BadDuration { value, reason } => {
                write!(f, "{}: Invalid value: \"{value}\": {reason}", self.field)
            }
            SpecProblem::TooShort { min } => {
                write!(
                    f,
                    "{}: Invalid value: should be at least {min} chars long",
                    self.field
                )
            }
            SpecProblem::TooLong { max } => {
                write!(
                    f,
                    "{}: Too long: may not be more than {max} bytes",
                    self.field
                )
            }
        }
    }
}

/// Joins several spec errors into one message, as the API server lists field errors.
pub fn spec_errors_message(errors: &[SpecError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The durations of a spec that passed the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecDurations {
    pub interval: Duration,
    pub retry_interval: Duration,
    pub timeout: Duration,
}

/// Checks a Kustomization `.spec` (as JSON). Returns every problem, each naming its
/// field, so one status message shows them all; on success, the parsed durations.
pub fn check_spec(
    spec: &Value,
    context: &SpecCheckContext,
) -> Result<SpecDurations, Vec<SpecError>> {
    let mut errors = Vec::new();
    let Some(spec_map) = spec.as_object() else {
        return Err(vec![SpecError::new(
            "spec",
            SpecProblem::WrongType {
                expected: "an object",
            },
        )]);
    };
    let field = |name: &str| spec_map.get(name).filter(|v| !v.is_null());

    let interval = check_duration(field("interval"), "spec.interval", true, &mut errors);
    let retry_interval = check_duration(
        field("retryInterval"),
        "spec.retryInterval",
        false,
        &mut errors,
    );
    let timeout = check_duration(field("timeout"), "spec.timeout", false, &mut errors);

    check_source_ref(field("sourceRef"), context, &mut errors);

    match field("prune") {
        None => errors.push(SpecError::new("spec.prune", SpecProblem::Missing)),
        Some(Value::Bool(_)) => {}
        Some(_) => errors.push(SpecError::new(
            "spec.prune",
            SpecProblem::WrongType {
                expected: "a boolean",
            },
        )),
    }
    for name in ["suspend", "force", "wait", "ignoreMissingComponents"] {
        if let Some(value) = field(name) {
            if !value.is_boolean() {
                errors.push(SpecError::new(
                    format!("spec.{name}"),
                    SpecProblem::WrongType {
                        expected: "a boolean",
                    },
                ));
            }
        }
    }
    for name in ["path", "serviceAccountName"] {
        check_string(field(name), &format!("spec.{name}"), false, &mut errors);
    }
    check_length(
        field("targetNamespace"),
        "spec.targetNamespace",
        1,
        63,
        &mut errors,
    );
    check_length(field("namePrefix"), "spec.namePrefix", 1, 200, &mut errors);
    check_length(field("nameSuffix"), "spec.nameSuffix", 1, 200, &mut errors);
    check_enum(
        field("deletionPolicy"),
        "spec.deletionPolicy",
        &DELETION_POLICIES,
        &mut errors,
    );

    if let Some(items) = list_field(field("buildMetadata"), "spec.buildMetadata", &mut errors) {
        for (i, item) in items.iter().enumerate() {
            check_enum(
                Some(item),
                &format!("spec.buildMetadata[{i}]"),
                &["originAnnotations", "transformerAnnotations"],
                &mut errors,
            );
        }
    }
    if let Some(items) = list_field(field("components"), "spec.components", &mut errors) {
        for (i, item) in items.iter().enumerate() {
            check_string(
                Some(item),
                &format!("spec.components[{i}]"),
                true,
                &mut errors,
            );
        }
    }
    if let Some(items) = list_field(field("dependsOn"), "spec.dependsOn", &mut errors) {
        for (i, item) in items.iter().enumerate() {
            let path = format!("spec.dependsOn[{i}]");
            if let Some(map) = object_field(Some(item), &path, &mut errors) {
                check_string(map.get("name"), &format!("{path}.name"), true, &mut errors);
                check_string(
                    map.get("namespace"),
                    &format!("{path}.namespace"),
                    false,
                    &mut errors,
                );
            }
        }
    }
    if let Some(items) = list_field(field("healthChecks"), "spec.healthChecks", &mut errors) {
        for (i, item) in items.iter().enumerate() {
            let path = format!("spec.healthChecks[{i}]");
            if let Some(map) = object_field(Some(item), &path, &mut errors) {
                check_string(map.get("kind"), &format!("{path}.kind"), true, &mut errors);
                check_string(map.get("name"), &format!("{path}.name"), true, &mut errors);
                check_string(
                    map.get("apiVersion"),
                    &format!("{path}.apiVersion"),
                    false,
                    &mut errors,
                );
                check_string(
                    map.get("namespace"),
                    &format!("{path}.namespace"),
                    false,
                    &mut errors,
                );
            }
        }
    }
    check_decryption(field("decryption"), context, &mut errors);
    check_post_build(field("postBuild"), &mut errors);

    if !errors.is_empty() {
        return Err(errors);
    }
    // Unreachable without an interval error, but keep the fallback explicit.
    let interval = interval.unwrap_or(Duration::ZERO);
    Ok(SpecDurations {
        interval,
        retry_interval: effective_retry_interval(interval, retry_interval),
        timeout: effective_timeout(interval, timeout),
    })
}

fn interval_pattern() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| Regex::new(INTERVAL_PATTERN).expect("INTERVAL_PATTERN is a valid regex"))
}

/// Checks a duration field against the CRD pattern, then parses it as Go does.
pub fn check_duration_text(field: &str, text: &str) -> Result<Duration, SpecError> {
    if !interval_pattern().is_match(text) {
        return Err(SpecError::new(
            field,
            SpecProblem::BadDuration {
                value: text.to_owned(),
                reason: format!("should match '{INTERVAL_PATTERN}'"),
            },
        ));
    }
    crate::actors::parse_duration(text).map_err(|e| {
        SpecError::new(
            field,
            SpecProblem::BadDuration {
                value: text.to_owned(),
                reason: e.to_string(),
            },
        )
    })
}

fn check_duration(
    value: Option<&Value>,
    field: &str,
    required: bool,
    errors: &mut Vec<SpecError>,
) -> Option<Duration> {
    match value {
        None if required => {
            errors.push(SpecError::new(field, SpecProblem::Missing));
            None
        }
        None => None,
        Some(Value::String(text)) => match check_duration_text(field, text) {
            Ok(duration) => Some(duration),
            Err(e) => {
                errors.push(e);
                None
            }
        },
        Some(_) => {
            errors.push(SpecError::new(
                field,
                SpecProblem::WrongType {
                    expected: "a string",
                },
            ));
            None
        }
    }
}

fn check_source_ref(
    value: Option<&Value>,
    context: &SpecCheckContext,
    errors: &mut Vec<SpecError>,
) {
    let Some(value) = value else {
        errors.push(SpecError::new("spec.sourceRef", SpecProblem::Missing));
        return;
    };
    let Some(map) = object_field(Some(value), "spec.sourceRef", errors) else {
        return;
    };
    let kind_ok = if map.get("kind").filter(|v| !v.is_null()).is_none() {
        errors.push(SpecError::new("spec.sourceRef.kind", SpecProblem::Missing));
        false
    } else {
        check_enum(
            map.get("kind"),
            "spec.sourceRef.kind",
            &SOURCE_KINDS,
            errors,
        )
    };
    let name_ok = check_string(map.get("name"), "spec.sourceRef.name", true, errors);
    let namespace_ok = check_string(
        map.get("namespace"),
        "spec.sourceRef.namespace",
        false,
        errors,
    );
    check_string(
        map.get("apiVersion"),
        "spec.sourceRef.apiVersion",
        false,
        errors,
    );
    if !(kind_ok && name_ok && namespace_ok) {
        return;
    }
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
    let name = map.get("name").and_then(Value::as_str).unwrap_or_default();
    let namespace = map
        .get("namespace")
        .and_then(Value::as_str)
        .filter(|ns| !ns.is_empty())
        .unwrap_or(&context.namespace);
    if context.no_cross_namespace_refs && namespace != context.namespace {
        errors.push(SpecError::new(
            "spec.sourceRef.namespace",
            SpecProblem::CrossNamespaceRefused {
                message: format!(
                    "can't access '{kind}/{namespace}/{name}', cross-namespace references have been blocked"
                ),
            },
        ));
    }
    if kind == EXTERNAL_ARTIFACT_KIND && !context.allow_external_artifact {
        errors.push(SpecError::new(
            "spec.sourceRef.kind",
            SpecProblem::FeatureGateDisabled {
                message: format!(
                    "can't access '{kind}/{namespace}/{name}', ExternalArtifact feature gate is disabled"
                ),
            },
        ));
    }
}

fn check_decryption(
    value: Option<&Value>,
    context: &SpecCheckContext,
    errors: &mut Vec<SpecError>,
) {
    let Some(map) = value.and_then(|v| object_field(Some(v), "spec.decryption", errors)) else {
        return;
    };
    if map.get("provider").is_none() {
        errors.push(SpecError::new(
            "spec.decryption.provider",
            SpecProblem::Missing,
        ));
    } else {
        check_enum(
            map.get("provider"),
            "spec.decryption.provider",
            &["sops"],
            errors,
        );
    }
    if let Some(secret_ref) = map.get("secretRef").filter(|v| !v.is_null()) {
        if let Some(secret) = object_field(Some(secret_ref), "spec.decryption.secretRef", errors) {
            check_string(
                secret.get("name"),
                "spec.decryption.secretRef.name",
                true,
                errors,
            );
        }
    }
    let account_field = "spec.decryption.serviceAccountName";
    if check_string(map.get("serviceAccountName"), account_field, false, errors) {
        let account = map
            .get("serviceAccountName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !account.is_empty() && !context.object_level_workload_identity {
            errors.push(SpecError::new(
                account_field,
                SpecProblem::FeatureGateDisabled {
                    message: "to use spec.decryption.serviceAccountName for decryption authentication please \
                              enable the ObjectLevelWorkloadIdentity feature gate in the controller"
                        .to_owned(),
                },
            ));
        }
    }
}

fn check_post_build(value: Option<&Value>, errors: &mut Vec<SpecError>) {
    let Some(map) = value.and_then(|v| object_field(Some(v), "spec.postBuild", errors)) else {
        return;
    };
    check_enum(
        map.get("substituteStrategy"),
        "spec.postBuild.substituteStrategy",
        &["WithVariables", "Always"],
        errors,
    );
    if let Some(substitute) = map.get("substitute").filter(|v| !v.is_null()) {
        if let Some(vars) = object_field(Some(substitute), "spec.postBuild.substitute", errors) {
            for (name, value) in vars {
                if !value.is_string() {
                    errors.push(SpecError::new(
                        format!("spec.postBuild.substitute.{name}"),
                        SpecProblem::WrongType {
                            expected: "a string",
                        },
                    ));
                }
            }
        }
    }
    if let Some(items) = list_field(
        map.get("substituteFrom"),
        "spec.postBuild.substituteFrom",
        errors,
    ) {
        for (i, item) in items.iter().enumerate() {
            let path = format!("spec.postBuild.substituteFrom[{i}]");
            let Some(reference) = object_field(Some(item), &path, errors) else {
                continue;
            };
            if reference.get("kind").is_none() {
                errors.push(SpecError::new(format!("{path}.kind"), SpecProblem::Missing));
            } else {
                check_enum(
                    reference.get("kind"),
                    &format!("{path}.kind"),
                    &["Secret", "ConfigMap"],
                    errors,
                );
            }
            if reference.get("name").is_none() {
                errors.push(SpecError::new(format!("{path}.name"), SpecProblem::Missing));
            } else {
                check_length(
                    reference.get("name"),
                    &format!("{path}.name"),
                    1,
                    253,
                    errors,
                );
            }
            if let Some(optional) = reference.get("optional").filter(|v| !v.is_null()) {
                if !optional.is_boolean() {
                    errors.push(SpecError::new(
                        format!("{path}.optional"),
                        SpecProblem::WrongType {
                            expected: "a boolean",
                        },
                    ));
                }
            }
        }
    }
}

/// A string field; `required` also refuses the empty string. True when valid.
fn check_string(
    value: Option<&Value>,
    field: &str,
    required: bool,
    errors: &mut Vec<SpecError>,
) -> bool {
    match value.filter(|v| !v.is_null()) {
        None if required => {
            errors.push(SpecError::new(field, SpecProblem::Missing));
            false
        }
        None => true,
        Some(Value::String(text)) if required && text.is_empty() => {
            errors.push(SpecError::new(field, SpecProblem::Missing));
            false
        }
        Some(Value::String(_)) => true,
        Some(_) => {
            errors.push(SpecError::new(
                field,
                SpecProblem::WrongType {
                    expected: "a string",
                },
            ));
            false
        }
    }
}

/// An optional string with the CRD's length bounds.
fn check_length(
    value: Option<&Value>,
    field: &str,
    min: usize,
    max: usize,
    errors: &mut Vec<SpecError>,
) {
    match value.filter(|v| !v.is_null()) {
        None => {}
        Some(Value::String(text)) if text.chars().count() < min => {
            errors.push(SpecError::new(field, SpecProblem::TooShort { min }));
        }
        Some(Value::String(text)) if text.chars().count() > max => {
            errors.push(SpecError::new(field, SpecProblem::TooLong { max }));
        }
        Some(Value::String(_)) => {}
        Some(_) => errors.push(SpecError::new(
            field,
            SpecProblem::WrongType {
                expected: "a string",
            },
        )),
    }
}

/// An optional string that must be one of `allowed`. True when absent or valid.
fn check_enum(
    value: Option<&Value>,
    field: &str,
    allowed: &[&'static str],
    errors: &mut Vec<SpecError>,
) -> bool {
    match value.filter(|v| !v.is_null()) {
        None => true,
        Some(Value::String(text)) if allowed.contains(&text.as_str()) => true,
        Some(Value::String(text)) => {
            errors.push(SpecError::new(
                field,
                SpecProblem::NotOneOf {
                    value: text.clone(),
                    allowed: allowed.to_vec(),
                },
            ));
            false
        }
        Some(_) => {
            errors.push(SpecError::new(
                field,
                SpecProblem::WrongType {
                    expected: "a string",
                },
            ));
            false
        }
    }
}

fn list_field<'a>(
    value: Option<&'a Value>,
    field: &str,
    errors: &mut Vec<SpecError>,
) -> Option<&'a Vec<Value>> {
    match value.filter(|v| !v.is_null()) {
        None => None,
        Some(Value::Array(items)) => Some(items),
        Some(_) => {
            errors.push(SpecError::new(
                field,
                SpecProblem::WrongType { expected: "a list" },
            ));
            None
        }
    }
}

fn object_field<'a>(
    value: Option<&'a Value>,
    field: &str,
    errors: &mut Vec<SpecError>,
) -> Option<&'a serde_json::Map<String, Value>> {
    match value.filter(|v| !v.is_null()) {
        None => None,
        Some(Value::Object(map)) => Some(map),
        Some(_) => {
            errors.push(SpecError::new(
                field,
                SpecProblem::WrongType {
                    expected: "an object",
                },
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn durations_format_like_go() {
        assert_eq!(format_go_duration(Duration::ZERO), "0s");
        assert_eq!(format_go_duration(secs(300)), "5m0s");
        assert_eq!(format_go_duration(secs(90)), "1m30s");
        assert_eq!(format_go_duration(secs(3600)), "1h0m0s");
        assert_eq!(format_go_duration(secs(5400)), "1h30m0s");
        assert_eq!(format_go_duration(secs(30)), "30s");
        assert_eq!(format_go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_go_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_go_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(format_go_duration(Duration::from_micros(2)), "2\u{b5}s");
        assert_eq!(format_go_duration(Duration::from_nanos(42)), "42ns");
        assert_eq!(
            format_go_duration(Duration::from_nanos(30_012_345_678)),
            "30.012345678s"
        );
        assert_eq!(
            format_go_duration(Duration::from_secs(25 * 3600 + 61)),
            "25h1m1s"
        );
        // Round trip for the values users write.
        for text in ["1m30s", "10m0s", "1h0m0s", "2.5s", "100ms"] {
            assert_eq!(
                format_go_duration(crate::actors::parse_duration(text).unwrap()),
                text
            );
        }
    }

    #[test]
    fn timeout_defaults_to_interval_minus_30s_with_30s_floor() {
        assert_eq!(effective_timeout(secs(600), None), secs(570));
        assert_eq!(effective_timeout(secs(60), None), secs(30));
        assert_eq!(effective_timeout(secs(10), None), secs(30));
        assert_eq!(effective_timeout(secs(600), Some(secs(120))), secs(120));
        assert_eq!(effective_timeout(secs(600), Some(secs(5))), secs(30));
        assert_eq!(effective_retry_interval(secs(600), None), secs(600));
        assert_eq!(
            effective_retry_interval(secs(600), Some(secs(60))),
            secs(60)
        );
    }

    #[test]
    fn artifact_paths_are_clamped_like_securejoin() {
        assert_eq!(confine_artifact_path(""), "");
        assert_eq!(confine_artifact_path("./"), "");
        assert_eq!(confine_artifact_path("./apps/staging"), "apps/staging");
        assert_eq!(confine_artifact_path("apps/../infra"), "infra");
        assert_eq!(confine_artifact_path("../../etc"), "etc");
        assert_eq!(confine_artifact_path("/clusters/prod/"), "clusters/prod");
        assert_eq!(confine_artifact_path("a//b/./c/.."), "a/b");
    }

    fn valid_spec() -> Value {
        json!({
            "interval": "10m",
            "path": "./apps",
            "prune": true,
            "sourceRef": {"kind": "GitRepository", "name": "podinfo"},
        })
    }

    fn context() -> SpecCheckContext {
        SpecCheckContext {
            namespace: "flux-system".into(),
            ..Default::default()
        }
    }

    fn fields(errors: &[SpecError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_minimal_flux_spec_is_valid_and_yields_durations() {
        let durations = check_spec(&valid_spec(), &context()).unwrap();
        assert_eq!(durations.interval, secs(600));
        assert_eq!(durations.retry_interval, secs(600));
        assert_eq!(durations.timeout, secs(570));

        let mut spec = valid_spec();
        spec["retryInterval"] = json!("2m");
        spec["timeout"] = json!("3m");
        let durations = check_spec(&spec, &context()).unwrap();
        assert_eq!(durations.retry_interval, secs(120));
        assert_eq!(durations.timeout, secs(180));
    }

    #[test]
    fn source_kind_must_be_a_flux_source() {
        let mut spec = valid_spec();
        spec["sourceRef"]["kind"] = json!("HelmRepository");
        let errors = check_spec(&spec, &context()).unwrap_err();
        assert_eq!(fields(&errors), ["spec.sourceRef.kind"]);
        assert_eq!(errors[0].reason(), INVALID_SPEC_REASON);
        assert_eq!(
            errors[0].to_string(),
            "spec.sourceRef.kind: Unsupported value: \"HelmRepository\": supported values: \
             \"OCIRepository\", \"GitRepository\", \"Bucket\", \"ExternalArtifact\""
        );
        for kind in ["GitRepository", "OCIRepository", "Bucket"] {
            spec["sourceRef"]["kind"] = json!(kind);
            assert!(check_spec(&spec, &context()).is_ok(), "{kind}");
        }
    }

    #[test]
    fn missing_required_fields_are_each_named() {
        let errors = check_spec(&json!({}), &context()).unwrap_err();
        assert_eq!(
            fields(&errors),
            ["spec.interval", "spec.sourceRef", "spec.prune"]
        );
        let errors = check_spec(
            &json!({"interval": "1m", "prune": false, "sourceRef": {}}),
            &context(),
        )
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            ["spec.sourceRef.kind", "spec.sourceRef.name"]
        );
        assert_eq!(errors[1].to_string(), "spec.sourceRef.name: Required value");
        assert!(check_spec(&json!("nope"), &context()).is_err());
    }

    #[test]
    fn intervals_follow_the_crd_pattern_and_go_parsing() {
        for bad in ["10", "1d", "-1m", "10us", " 1m", "1m30", ".5s"] {
            let mut spec = valid_spec();
            spec["interval"] = json!(bad);
            let errors = check_spec(&spec, &context()).unwrap_err();
            assert_eq!(fields(&errors), ["spec.interval"], "{bad}");
        }
        let mut spec = valid_spec();
        spec["timeout"] = json!("1 m");
        spec["retryInterval"] = json!(60);
        let errors = check_spec(&spec, &context()).unwrap_err();
        assert_eq!(fields(&errors), ["spec.retryInterval", "spec.timeout"]);
        assert_eq!(
            errors[1].to_string(),
            format!("spec.timeout: Invalid value: \"1 m\": should match '{INTERVAL_PATTERN}'")
        );
        // Matches the pattern but overflows Go's int64 nanoseconds.
        let err = check_duration_text("spec.interval", "9999999999h").unwrap_err();
        assert!(
            err.to_string().contains("spec.interval") && err.to_string().contains("too long"),
            "{err}"
        );
    }

    #[test]
    fn decryption_provider_must_be_sops() {
        let mut spec = valid_spec();
        spec["decryption"] = json!({"provider": "vault"});
        let errors = check_spec(&spec, &context()).unwrap_err();
        assert_eq!(fields(&errors), ["spec.decryption.provider"]);
        spec["decryption"] = json!({"secretRef": {"name": "sops-age"}});
        assert_eq!(
            fields(&check_spec(&spec, &context()).unwrap_err()),
            ["spec.decryption.provider"]
        );
        spec["decryption"] = json!({"provider": "sops", "secretRef": {"name": "sops-age"}});
        assert!(check_spec(&spec, &context()).is_ok());
        spec["decryption"] = json!({"provider": "sops", "secretRef": {}});
        assert_eq!(
            fields(&check_spec(&spec, &context()).unwrap_err()),
            ["spec.decryption.secretRef.name"]
        );
    }

    #[test]
    fn decryption_service_account_needs_the_feature_gate() {
        let mut spec = valid_spec();
        spec["decryption"] = json!({"provider": "sops", "serviceAccountName": "kms"});
        let errors = check_spec(&spec, &context()).unwrap_err();
        assert_eq!(errors[0].reason(), FEATURE_GATE_DISABLED_REASON);
        assert!(errors[0]
            .to_string()
            .starts_with("to use spec.decryption.serviceAccountName"));
        let gated = SpecCheckContext {
            object_level_workload_identity: true,
            ..context()
        };
        assert!(check_spec(&spec, &gated).is_ok());
    }

    #[test]
    fn cross_namespace_sources_are_refused_when_flagged() {
        let mut spec = valid_spec();
        spec["sourceRef"]["namespace"] = json!("other");
        assert!(check_spec(&spec, &context()).is_ok());
        let strict = SpecCheckContext {
            no_cross_namespace_refs: true,
            ..context()
        };
        let errors = check_spec(&spec, &strict).unwrap_err();
        assert_eq!(errors[0].reason(), ACCESS_DENIED_REASON);
        assert_eq!(
            errors[0].to_string(),
            "can't access 'GitRepository/other/podinfo', cross-namespace references have been blocked"
        );
        // The same namespace, spelled out, is not a cross-namespace reference.
        spec["sourceRef"]["namespace"] = json!("flux-system");
        assert!(check_spec(&spec, &strict).is_ok());
    }

    #[test]
    fn external_artifact_needs_its_feature_gate() {
        let mut spec = valid_spec();
        spec["sourceRef"] = json!({"kind": "ExternalArtifact", "name": "ea"});
        let errors = check_spec(&spec, &context()).unwrap_err();
        assert_eq!(errors[0].reason(), FEATURE_GATE_DISABLED_REASON);
        assert_eq!(
            errors[0].to_string(),
            "can't access 'ExternalArtifact/flux-system/ea', ExternalArtifact feature gate is disabled"
        );
        let gated = SpecCheckContext {
            allow_external_artifact: true,
            ..context()
        };
        assert!(check_spec(&spec, &gated).is_ok());
    }

    #[test]
    fn enums_lengths_and_lists_are_checked() {
        let mut spec = valid_spec();
        spec["deletionPolicy"] = json!("Keep");
        spec["targetNamespace"] = json!("");
        spec["namePrefix"] = json!("x".repeat(201));
        spec["buildMetadata"] = json!(["originAnnotations", "everything"]);
        spec["dependsOn"] = json!([{"name": "infra"}, {"namespace": "x"}]);
        spec["healthChecks"] =
            json!([{"kind": "Deployment", "name": "web"}, {"kind": "Deployment"}]);
        spec["wait"] = json!("yes");
        let errors = check_spec(&spec, &context()).unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                "spec.wait",
                "spec.targetNamespace",
                "spec.namePrefix",
                "spec.deletionPolicy",
                "spec.buildMetadata[1]",
                "spec.dependsOn[1].name",
                "spec.healthChecks[1].name",
            ]
        );
        let message = spec_errors_message(&errors);
        assert!(
            message.contains("spec.namePrefix: Too long: may not be more than 200 bytes"),
            "{message}"
        );
    }

    #[test]
    fn post_build_references_are_checked() {
        let mut spec = valid_spec();
        spec["postBuild"] = json!({
            "substituteStrategy": "Sometimes",
            "substitute": {"cluster": "prod", "replicas": 3},
            "substituteFrom": [
                {"kind": "ConfigMap", "name": "vars"},
                {"kind": "Deployment", "name": "x"},
                {"kind": "Secret"},
                {"kind": "Secret", "name": "s", "optional": "true"}
            ]
        });
        let errors = check_spec(&spec, &context()).unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                "spec.postBuild.substituteStrategy",
                "spec.postBuild.substitute.replicas",
                "spec.postBuild.substituteFrom[1].kind",
                "spec.postBuild.substituteFrom[2].name",
                "spec.postBuild.substituteFrom[3].optional",
            ]
        );
        spec["postBuild"] = json!({"substituteStrategy": "Always", "substitute": {"a": "b"},
            "substituteFrom": [{"kind": "Secret", "name": "s", "optional": true}]});
        assert!(check_spec(&spec, &context()).is_ok());
    }
}
