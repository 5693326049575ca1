//! Fault injection: latency, errors, throttling and dropped watches, adjustable while
//! the server runs, so clients can be tested against a misbehaving API server.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// Faults in force. Rates are fractions in 0.0..=1.0.
#[derive(Debug, Default)]
pub struct Faults {
    latency_us: AtomicU64,
    error_rate_ppm: AtomicU32,
    throttle_rate_ppm: AtomicU32,
    watch_drop_after_ms: AtomicU64,
}

fn ppm(rate: f64) -> u32 {
    // Rates are clamped to [0, 1] so the cast cannot overflow.
    (rate.clamp(0.0, 1.0) * 1_000_000.0).round() as u32
}

impl Faults {
    /// Added latency before every request is handled.
    pub fn set_latency(&self, latency: Duration) {
        self.latency_us.store(
            u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
    pub fn latency(&self) -> Duration {
        Duration::from_micros(self.latency_us.load(Ordering::Relaxed))
    }
    /// The share of requests answered with 500 InternalError.
    pub fn set_error_rate(&self, rate: f64) {
        self.error_rate_ppm.store(ppm(rate), Ordering::Relaxed);
    }
    /// The share of requests answered with 429 TooManyRequests and Retry-After: 1.
    pub fn set_throttle_rate(&self, rate: f64) {
        self.throttle_rate_ppm.store(ppm(rate), Ordering::Relaxed);
    }
    /// Watches are closed by the server this long after they start (None: never).
    pub fn set_watch_drop_after(&self, after: Option<Duration>) {
        let ms = after.map_or(0, |d| {
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
        });
        self.watch_drop_after_ms.store(ms, Ordering::Relaxed);
    }
    pub fn watch_drop_after(&self) -> Option<Duration> {
        match self.watch_drop_after_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }
    /// Draws whether this request fails, and how.
    pub fn draw(&self) -> Option<InjectedFault> {
        let errors = self.error_rate_ppm.load(Ordering::Relaxed);
        let throttles = self.throttle_rate_ppm.load(Ordering::Relaxed);
        if errors == 0 && throttles == 0 {
            return None;
        }
        let roll: u32 = rand::random_range(0..1_000_000);
        if roll < errors {
            Some(InjectedFault::Error)
        } else if roll < errors.saturating_add(throttles) {
            Some(InjectedFault::Throttle)
        } else {
            None
        }
    }
}

/// A failure drawn for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectedFault {
    Error,
    Throttle,
}
