//! Waiting for applied objects to become ready: polls their kstatus until all are
//! Current, one Failed, or the timeout (fluxcd/pkg ssa `WaitForSet`).

use std::time::Duration;

use crate::apply::inventory::ObjMetadata;
use crate::apply::{Applier, ObjectRef};

/// How often the objects are read while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Waits for `targets`. `Ok(elapsed)` when all are Current; `Err(why)` naming the
/// objects (`timeout waiting for: [...]`, `failed early due to stalled resources:
/// [...]`). Jobs in `jobs_with_ttl` that are gone count as finished.
pub async fn wait_for(
    applier: &Applier,
    targets: &[ObjectRef],
    timeout: Duration,
    jobs_with_ttl: &[ObjMetadata],
) -> Result<Duration, String> {
    let started = tokio::time::Instant::now();
    loop {
        let mut observed = Vec::with_capacity(targets.len());
        for r in targets {
            let (status, error) = match applier.get(r).await {
                Ok(live) => (
                    Some(super::status_of(live.as_ref(), chrono::Utc::now()).status),
                    None,
                ),
                Err(e) => (None, Some(e.to_string())),
            };
            observed.push(super::ObservedStatus {
                object: r.meta(),
                status,
                error,
            });
        }
        let timed_out = started.elapsed() >= timeout;
        if super::wait_is_over(&observed, true, jobs_with_ttl) || timed_out {
            return match super::wait_failure_message(&observed, timed_out, jobs_with_ttl) {
                None => Ok(started.elapsed()),
                Some(failure) => Err(failure),
            };
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
