//! Status conditions as Flux's controllers keep them (kstatus): `Ready`, `Reconciling`,
//! `Stalled` and kind-specific ones, with transition times that only move when the
//! status flips.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

pub use crate::api::conditions::types::{READY, RECONCILING, STALLED};

pub const TRUE: &str = "True";
pub const FALSE: &str = "False";
pub const UNKNOWN: &str = "Unknown";

/// Sets (or adds) the condition `type_`. The transition time changes only when the
/// status does, so watchers can tell a flip from a refresh.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    observed_generation: Option<i64>,
    now: chrono::DateTime<chrono::Utc>,
) {
    let now = Time(to_timestamp(now));
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            if existing.status != status {
                existing.last_transition_time = now;
            }
            existing.status = status.to_owned();
            existing.reason = reason.to_owned();
            existing.message = message.to_owned();
            existing.observed_generation = observed_generation;
        }
        None => conditions.push(Condition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: reason.to_owned(),
            message: message.to_owned(),
            observed_generation,
            last_transition_time: now,
        }),
    }
    // Flux orders the kstatus conditions first: Ready, Reconciling, Stalled, then others.
    conditions.sort_by_key(|c| match c.type_.as_str() {
        READY => 0,
        RECONCILING => 1,
        STALLED => 2,
        _ => 3,
    });
}

/// Removes the condition `type_` if present.
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) {
    conditions.retain(|c| c.type_ != type_);
}

pub fn get<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    get(conditions, type_).is_some_and(|c| c.status == TRUE)
}

/// k8s-openapi represents `Time` with a `jiff` timestamp.
fn to_timestamp(now: chrono::DateTime<chrono::Utc>) -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::from_second(now.timestamp())
        .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc
            .timestamp_opt(secs, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn transition_time_moves_only_when_the_status_flips() {
        let mut cs = Vec::new();
        set(
            &mut cs,
            READY,
            FALSE,
            "GitOperationFailed",
            "boom",
            Some(1),
            at(100),
        );
        set(
            &mut cs,
            READY,
            FALSE,
            "GitOperationFailed",
            "boom again",
            Some(1),
            at(200),
        );
        assert_eq!(cs[0].last_transition_time.0.as_second(), 100);
        assert_eq!(cs[0].message, "boom again");
        set(
            &mut cs,
            READY,
            TRUE,
            "Succeeded",
            "stored",
            Some(2),
            at(300),
        );
        assert_eq!(cs[0].last_transition_time.0.as_second(), 300);
        assert_eq!(cs[0].observed_generation, Some(2));
    }

    #[test]
    fn kstatus_conditions_come_first() {
        let mut cs = Vec::new();
        set(
            &mut cs,
            "ArtifactInStorage",
            TRUE,
            "Succeeded",
            "x",
            None,
            at(1),
        );
        set(&mut cs, STALLED, TRUE, "InvalidURL", "x", None, at(1));
        set(&mut cs, READY, FALSE, "InvalidURL", "x", None, at(1));
        let order: Vec<&str> = cs.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(order, vec![READY, STALLED, "ArtifactInStorage"]);
        remove(&mut cs, STALLED);
        assert!(get(&cs, STALLED).is_none());
        assert!(!is_true(&cs, READY));
    }
}
