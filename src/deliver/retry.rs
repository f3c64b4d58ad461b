//! The sender's pure retry maths: the delay before the next attempt (the webhook's schedule,
//! jittered ±20 % and scaled by `time_scale`, lengthened by a `Retry-After` within the schedule's
//! bounds) and the `Retry-After` parser (delay-seconds or an IMF-fixdate HTTP date).
//!
//! Uses only `webhook` (the `RetryPolicy` data type). No clock, no I/O: the caller passes `now`
//! and the random draw, so every case is a plain unit test.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::webhook::RetryPolicy;

/// Retry delays vary by up to this fraction either way (±20 %).
pub const JITTER: f64 = 0.2;

/// The delay before the retry that follows attempt number `attempts_done` (1-based), or `None`
/// when the schedule is exhausted. The step is jittered by ±20 % (`r` in [0, 1)) and scaled by
/// `time_scale`. A `Retry-After` can lengthen the wait, never shorten it, and never past the
/// schedule's largest step × `time_scale`.
pub fn retry_delay(
    policy: &RetryPolicy,
    attempts_done: usize,
    retry_after: Option<Duration>,
    r: f64,
) -> Option<Duration> {
    let step = policy.schedule.get(attempts_done.checked_sub(1)?)?;
    let scale = policy.time_scale;
    let r = if r.is_finite() {
        r.clamp(0.0, 1.0)
    } else {
        0.5
    };
    let base = step.as_secs_f64() * scale * (1.0 - JITTER + 2.0 * JITTER * r);
    let largest = policy
        .schedule
        .iter()
        .max()
        .map_or(0.0, Duration::as_secs_f64)
        * scale;
    let secs = match retry_after {
        Some(ra) => ra.as_secs_f64().max(base).min(largest.max(base)),
        None => base,
    };
    if !secs.is_finite() {
        return Some(Duration::ZERO);
    }
    Some(Duration::from_secs_f64(secs.clamp(0.0, 1e9)))
}

/// The longest `Retry-After` taken as it is (136 years); `retry_delay` caps it by the schedule.
const RETRY_AFTER_CAP: u64 = 1 << 32;

/// Parses `Retry-After`: delay-seconds or an HTTP date (IMF-fixdate); a date in the past is 0.
/// Huge values (seconds or years) saturate; nothing overflows.
pub fn parse_retry_after(v: &str, now: SystemTime) -> Option<Duration> {
    let v = v.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(
            v.parse::<u64>().unwrap_or(u64::MAX).min(RETRY_AFTER_CAP),
        ));
    }
    let at = parse_http_date(v)?;
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    Some(Duration::from_secs(
        at.saturating_sub(now).min(RETRY_AFTER_CAP),
    ))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) into seconds since the Unix epoch
/// (0 for earlier dates; a year past 9999 saturates to the far future).
fn parse_http_date(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split_ascii_whitespace().collect();
    let [_, day, mon, year, hms, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: u32 = day.parse().ok()?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mon = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(mon))? as u32 + 1;
    let year: i64 = year.parse().ok()?;
    let mut t = hms.split(':');
    let h: u64 = t.next()?.parse().ok()?;
    let m: u64 = t.next()?.parse().ok()?;
    let sec: u64 = t.next()?.parse().ok()?;
    if t.next().is_some() || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    if year > 9999 {
        return Some(u64::MAX);
    }
    if year < 1970 {
        return Some(0);
    }
    let days = u64::try_from(days_from_civil(year, mon, day)).unwrap_or(0);
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm); callers keep
/// the year within 1970..=9999.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(steps: &[u64], scale: f64) -> RetryPolicy {
        RetryPolicy {
            schedule: steps.iter().map(|s| Duration::from_secs(*s)).collect(),
            time_scale: scale,
        }
    }

    #[test]
    fn retry_delays_follow_the_schedule_with_twenty_percent_jitter() {
        let p = policy(&[1, 5, 30], 1.0);
        assert_eq!(
            retry_delay(&p, 1, None, 0.0),
            Some(Duration::from_millis(800))
        );
        assert_eq!(
            retry_delay(&p, 1, None, 1.0),
            Some(Duration::from_millis(1200))
        );
        let mid = retry_delay(&p, 2, None, 0.5).unwrap();
        assert!((mid.as_secs_f64() - 5.0).abs() < 1e-9);
        assert_eq!(retry_delay(&p, 4, None, 0.5), None);
        assert_eq!(retry_delay(&p, 0, None, 0.5), None);
    }

    #[test]
    fn time_scale_compresses_the_schedule() {
        let p = policy(&[10], 0.001);
        let d = retry_delay(&p, 1, None, 0.5).unwrap();
        assert!((d.as_secs_f64() - 0.01).abs() < 1e-9);
    }

    #[test]
    fn retry_after_lengthens_the_wait_but_never_past_the_largest_step() {
        let p = policy(&[1, 60], 1.0);
        let d = retry_delay(&p, 1, Some(Duration::from_secs(20)), 0.5).unwrap();
        assert_eq!(d, Duration::from_secs(20));
        let d = retry_delay(&p, 1, Some(Duration::from_secs(3600)), 0.5).unwrap();
        assert_eq!(d, Duration::from_secs(60));
        let d = retry_delay(&p, 1, Some(Duration::ZERO), 0.5).unwrap();
        assert_eq!(d, Duration::from_secs(1));
    }

    #[test]
    fn retry_after_parses_seconds_and_http_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn a_retry_after_date_with_a_huge_year_stays_within_the_schedule() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let p = policy(&[1, 60], 1.0);
        for v in [
            "Sun, 06 Nov 9223372036854775807 08:49:37 GMT",
            "Sun, 06 Nov -9223372036854775808 08:49:37 GMT",
            "Sun, 06 Nov 999999999999 08:49:37 GMT",
            "18446744073709551615",
            "99999999999999999999999999",
        ] {
            let ra = parse_retry_after(v, now);
            let d = retry_delay(&p, 1, ra, 0.5).unwrap();
            assert!(d <= Duration::from_secs(60), "{v}: {d:?}");
        }
    }

    fn retry_after_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            any::<u64>().prop_map(|n| n.to_string()),
            "[0-9]{1,40}",
            (any::<i64>(), 0u32..40, 0u64..30, 0u64..70, 0u64..70).prop_map(|(y, d, h, m, s)| {
                format!("Sun, {d:02} Nov {y} {h:02}:{m:02}:{s:02} GMT")
            }),
            "\\PC{0,40}",
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]

        #[test]
        fn any_retry_after_gives_a_delay_within_the_schedule(
            v in retry_after_text(),
            steps in proptest::collection::vec(0u64..100_000, 1..6),
            scale in 0.0001f64..10.0,
            attempt in 1usize..6,
            r in 0.0f64..1.0,
            now_secs in 0u64..8_000_000_000,
        ) {
            let now = UNIX_EPOCH + Duration::from_secs(now_secs);
            let p = policy(&steps, scale);
            let ra = parse_retry_after(&v, now);
            if let Some(d) = retry_delay(&p, attempt, ra, r) {
                let largest = *steps.iter().max().unwrap() as f64 * scale * (1.0 + JITTER);
                proptest::prop_assert!(d.as_secs_f64() <= largest + 1e-6, "{d:?} > {largest}");
            }
        }
    }
}
