//! Time arithmetic for object actors: Flux/Go duration strings, interval jitter
//! and the per-object exponential retry backoff.

use std::time::Duration;

use rand::Rng;

/// Why a duration string from a spec was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("invalid duration {0:?}: expected a number followed by a unit (ns, us, ms, s, m, h)")]
    Invalid(String),
    #[error("unknown unit {unit:?} in duration {input:?}")]
    UnknownUnit { input: String, unit: String },
    #[error("missing unit in duration {0:?}")]
    MissingUnit(String),
    #[error("negative duration {0:?}")]
    Negative(String),
    #[error("duration {0:?} is too long")]
    Overflow(String),
}

/// Parses a Go `time.ParseDuration` string, the format of every Flux
/// `interval`, `timeout` and `retryInterval` field: "1m30s", "5m", "1.5h",
/// "300ms", "0". Negative durations are rejected because no Flux interval
/// may be negative.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let invalid = || DurationError::Invalid(input.to_string());
    let mut rest = input;
    if rest.is_empty() {
        return Err(DurationError::Empty);
    }
    if let Some(stripped) = rest.strip_prefix('-') {
        // Go accepts "-0"; anything else negative is an error for an interval.
        if stripped.chars().all(|c| c == '0') && !stripped.is_empty() {
            return Ok(Duration::ZERO);
        }
        return Err(DurationError::Negative(input.to_string()));
    }
    if let Some(stripped) = rest.strip_prefix('+') {
        rest = stripped;
    }
    // Go special-cases a bare "0" (no unit needed).
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total_nanos: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, after_int) = rest.split_at(int_len);
        let (frac_digits, after_number) = match after_int.strip_prefix('.') {
            Some(after_dot) => {
                let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
                after_dot.split_at(frac_len)
            }
            None => ("", after_int),
        };
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(invalid());
        }
        let unit_len = after_number
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after_number.len(), |(i, _)| i);
        let (unit, after_unit) = after_number.split_at(unit_len);
        if unit.is_empty() {
            return Err(DurationError::MissingUnit(input.to_string()));
        }
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            _ => {
                return Err(DurationError::UnknownUnit {
                    input: input.to_string(),
                    unit: unit.to_string(),
                })
            }
        };
        let overflow = || DurationError::Overflow(input.to_string());
        let int_value: u128 = if int_digits.is_empty() {
            0
        } else {
            int_digits.parse().map_err(|_| overflow())?
        };
        let mut nanos = int_value.checked_mul(unit_nanos).ok_or_else(overflow)?;
        // Fractions beyond nanosecond precision are truncated, as Go does.
        let mut scale = unit_nanos;
        for digit in frac_digits.bytes() {
            scale /= 10;
            if scale == 0 {
                break;
            }
            nanos += u128::from(digit - b'0') * scale;
        }
        total_nanos = total_nanos.checked_add(nanos).ok_or_else(overflow)?;
        // Go's limit is an int64 of nanoseconds (~292 years).
        if total_nanos > i64::MAX as u128 {
            return Err(overflow());
        }
        rest = after_unit;
    }
    let secs = u64::try_from(total_nanos / 1_000_000_000).map_err(|_| invalid())?;
    let subsec = u32::try_from(total_nanos % 1_000_000_000).map_err(|_| invalid())?;
    Ok(Duration::new(secs, subsec))
}

/// Spreads `interval` uniformly over ±`percent`% so that thousands of objects
/// applied together do not reconcile in lockstep forever (Flux's
/// `--interval-jitter-percentage`).
pub fn jittered(interval: Duration, percent: u8) -> Duration {
    if percent == 0 || interval.is_zero() {
        return interval;
    }
    let fraction = f64::from(percent.min(100)) / 100.0;
    let factor = rand::rng().random_range((1.0 - fraction)..=(1.0 + fraction));
    interval.mul_f64(factor)
}

/// Delay before retry number `failures` (1 = first retry): `min * 2^(failures-1)`,
/// capped at `max`.
pub fn backoff_delay(failures: u32, min: Duration, max: Duration) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let exponent = (failures - 1).min(63);
    min.checked_mul(1u32.checked_shl(exponent.min(31)).unwrap_or(u32::MAX))
        .map_or(max, |delay| delay.min(max))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn parses_the_intervals_flux_users_write() {
        assert_eq!(parse_duration("1m30s"), Ok(secs(90)));
        assert_eq!(parse_duration("5m"), Ok(secs(300)));
        assert_eq!(parse_duration("1h"), Ok(secs(3600)));
        assert_eq!(parse_duration("10m0s"), Ok(secs(600)));
        assert_eq!(parse_duration("2h45m"), Ok(secs(2 * 3600 + 45 * 60)));
        assert_eq!(parse_duration("1.5h"), Ok(secs(5400)));
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(
            parse_duration("1h1m1s1ms1us1ns"),
            Ok(Duration::new(3661, 1_001_001))
        );
        assert_eq!(parse_duration("2µs"), Ok(Duration::from_micros(2)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("+5s"), Ok(secs(5)));
    }

    #[test]
    fn rejects_what_go_rejects_and_negative_intervals() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert!(matches!(
            parse_duration("5"),
            Err(DurationError::MissingUnit(_))
        ));
        assert!(matches!(
            parse_duration("1m30"),
            Err(DurationError::MissingUnit(_))
        ));
        assert!(matches!(
            parse_duration("5d"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_duration("m"),
            Err(DurationError::Invalid(_))
        ));
        assert!(matches!(
            parse_duration("."),
            Err(DurationError::Invalid(_))
        ));
        assert!(matches!(
            parse_duration("1 m"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_duration("-1m"),
            Err(DurationError::Negative(_))
        ));
        assert!(matches!(
            parse_duration("3000000h"),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn jitter_stays_within_the_percentage_and_varies() {
        let base = secs(600);
        let samples: Vec<Duration> = (0..200).map(|_| jittered(base, 10)).collect();
        assert!(samples.iter().all(|d| *d >= secs(540) && *d <= secs(660)));
        assert!(
            samples.iter().any(|d| *d != samples[0]),
            "jitter never varied"
        );
        assert_eq!(jittered(base, 0), base);
    }

    #[test]
    fn backoff_doubles_from_min_and_is_capped() {
        let min = Duration::from_millis(750);
        let max = secs(15 * 60);
        assert_eq!(backoff_delay(1, min, max), Duration::from_millis(750));
        assert_eq!(backoff_delay(2, min, max), Duration::from_millis(1500));
        assert_eq!(backoff_delay(5, min, max), Duration::from_millis(12_000));
        assert_eq!(backoff_delay(20, min, max), max);
        assert_eq!(backoff_delay(u32::MAX, min, max), max);
    }

    #[test]
    fn every_form_go_accepts_parses() {
        assert_eq!(parse_duration("10m").unwrap(), secs(600));
        assert_eq!(parse_duration("1m30s").unwrap(), secs(90));
        assert_eq!(parse_duration("1h").unwrap(), secs(3600));
        assert_eq!(parse_duration("1h30m").unwrap(), secs(5400));
        assert_eq!(parse_duration("1.5h").unwrap(), secs(5400));
        assert_eq!(parse_duration("300ms").unwrap(), Duration::from_millis(300));
        assert_eq!(parse_duration("2m0s").unwrap(), secs(120));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("+5s").unwrap(), secs(5));
        assert_eq!(parse_duration(".5s").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.s").unwrap(), secs(1));
        assert_eq!(parse_duration("10us").unwrap(), Duration::from_micros(10));
        assert_eq!(
            parse_duration("10\u{b5}s").unwrap(),
            Duration::from_micros(10)
        );
        assert_eq!(
            parse_duration("10\u{3bc}s").unwrap(),
            Duration::from_micros(10)
        );
        assert_eq!(parse_duration("7ns").unwrap(), Duration::from_nanos(7));
        assert_eq!(
            parse_duration("1h1m1s1ms").unwrap(),
            Duration::from_millis(3_661_001)
        );
        assert_eq!(parse_duration("0.1s").unwrap(), Duration::from_millis(100));
    }
}
