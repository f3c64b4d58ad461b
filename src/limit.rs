//! A bin's rate limit (`limit` in a bin's config): its config shape [`LimitSpec`], checked into a
//! [`Limit`]; the token [`Bucket`] that decides, in real time, whether a request is admitted; and
//! the answer a request over the limit gets (the limit's status, `Retry-After`, a short body).
//!
//! The bucket holds `burst` tokens and refills continuously at `rate` tokens per `per`; every
//! request to the bin takes one, before any of the bin's other rules are looked at (as a
//! provider's edge does), so a refused request moves no sequence step and reaches no forward
//! target. Its arithmetic is exact (whole nanoseconds), so it never admits more than
//! `burst + rate × elapsed / per` requests.
//!
//! Uses `units` (durations), `field` (a problem names its field) and `model` (the response
//! sent). Pure: the clock is passed in. The one [`Limiter`] of a bin is owned by the bin's
//! compiled rules (`rules`), so a new config starts a new, full bucket.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::field::{FieldError, FieldPath};
use crate::model::{Body, CapturedRequest, Header, ResponseSent};
use crate::units::{format_duration, Dur};

/// Most tokens a bucket may hold (`burst`), and most tokens per interval (`rate`).
pub const MAX_BURST: u64 = 1_000_000;
/// Longest refill interval (`per`).
pub const MAX_PER: Duration = Duration::from_secs(24 * 3600);
/// Shortest refill interval (`per`).
pub const MIN_PER: Duration = Duration::from_millis(1);

/// A bin's rate limit as its config says it: `{"rate": 5, "per": "1s", "burst": 5,
/// "status": 429}`; all but `rate` may be left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSpec {
    /// Requests admitted per `per`, on average.
    pub rate: u64,
    /// The interval `rate` is counted over (default 1s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per: Option<Dur>,
    /// Requests admitted at once after a quiet spell (default: `rate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u64>,
    /// The status a request over the limit is answered with (default 429).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

/// A checked rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub rate: u64,
    pub per: Duration,
    pub burst: u64,
    pub status: u16,
}

impl LimitSpec {
    /// Checks the values; a problem names its field under `field` (e.g. `limit.rate`).
    pub fn check(&self, field: FieldPath) -> Result<Limit, FieldError> {
        let bad = |k: &str, m: String| Err(FieldError::new(field.clone().key(k), m));
        if !(1..=MAX_BURST).contains(&self.rate) {
            return bad(
                "rate",
                format!("must be from 1 to {MAX_BURST}, got {}", self.rate),
            );
        }
        let per = self.per.map(|d| d.0).unwrap_or(Duration::from_secs(1));
        if per < MIN_PER || per > MAX_PER {
            return bad(
                "per",
                format!(
                    "must be from 1ms to 24h, got {}",
                    if per.is_zero() {
                        "0".to_owned()
                    } else if per < MIN_PER {
                        "less than 1ms".to_owned()
                    } else {
                        format_duration(per)
                    }
                ),
            );
        }
        let burst = self.burst.unwrap_or(self.rate);
        if !(1..=MAX_BURST).contains(&burst) {
            return bad(
                "burst",
                format!("must be from 1 to {MAX_BURST}, got {burst}"),
            );
        }
        let status = self.status.unwrap_or(429);
        if !(400..=599).contains(&status) {
            return bad(
                "status",
                format!("a request over the limit is refused: use a status from 400 to 599, got {status}"),
            );
        }
        Ok(Limit {
            rate: self.rate,
            per,
            burst,
            status,
        })
    }
}

impl Limit {
    /// `5/1s, burst 5`: how messages name the limit.
    pub fn describe(&self) -> String {
        format!(
            "{} per {}, burst {}",
            self.rate,
            format_duration(self.per),
            self.burst
        )
    }

    /// The answer to request `r` over the limit, a token being free again in `wait`.
    pub fn refusal(&self, r: &CapturedRequest, wait: Duration) -> ResponseSent {
        let secs = retry_after(wait);
        let body = serde_json::json!({
            "ok": false,
            "bin": r.bin,
            "id": r.id,
            "error": {
                "code": "rate_limited",
                "message": format!(
                    "over this bin's limit ({}); retry in {secs} s",
                    self.describe()
                ),
            },
        });
        ResponseSent {
            status: self.status,
            headers: vec![
                Header::new("Content-Type", &b"application/json"[..]),
                Header::new("Retry-After", secs.to_string().as_bytes()),
            ]
            .into(),
            body: Body::new(
                Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
                false,
            ),
            delay_ms: 0,
            dropped: false,
        }
    }
}

/// `Retry-After` for a wait: whole seconds, rounded up, at least 1.
pub fn retry_after(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// A token bucket in exact integer arithmetic: one token is `per`-in-nanoseconds units, and every
/// elapsed nanosecond adds `rate` units, up to `burst` tokens.
#[derive(Debug, Clone)]
pub struct Bucket {
    /// Units per token: `per` in nanoseconds.
    per_ns: u128,
    /// Units added per elapsed nanosecond.
    rate: u128,
    /// The most units the bucket holds: `burst` tokens.
    cap: u128,
    level: u128,
    /// When `level` was last brought up to date.
    at: Instant,
}

impl Bucket {
    /// A full bucket at `now`.
    pub fn new(limit: &Limit, now: Instant) -> Bucket {
        let per_ns = limit.per.as_nanos().max(1);
        let cap = per_ns * u128::from(limit.burst);
        Bucket {
            per_ns,
            rate: u128::from(limit.rate),
            cap,
            level: cap,
            at: now,
        }
    }

    /// Takes a token at `now`: `Ok` when one was there, else how long until one is. A `now`
    /// earlier than the last call (two callers' clocks read in the other order) adds nothing.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        if now > self.at {
            let elapsed = now.duration_since(self.at).as_nanos();
            self.level = self
                .level
                .saturating_add(elapsed.saturating_mul(self.rate))
                .min(self.cap);
            self.at = now;
        }
        if self.level >= self.per_ns {
            self.level -= self.per_ns;
            return Ok(());
        }
        let missing = self.per_ns - self.level;
        let ns = missing.div_ceil(self.rate);
        Err(Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX)))
    }
}

/// A bin's limit with its bucket: what the capture path asks before anything else.
#[derive(Debug)]
pub struct Limiter {
    pub limit: Limit,
    bucket: Mutex<Bucket>,
}

impl Limiter {
    /// A limiter whose bucket starts full at `now`.
    pub fn new(limit: Limit, now: Instant) -> Limiter {
        Limiter {
            bucket: Mutex::new(Bucket::new(&limit, now)),
            limit,
        }
    }

    /// Takes a token for a request arriving at `now`; `Err(wait)` when it is over the limit.
    pub fn admit(&self, now: Instant) -> Result<(), Duration> {
        let mut b = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        b.take(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(rate: u64, per_ms: u64, burst: u64) -> Limit {
        Limit {
            rate,
            per: Duration::from_millis(per_ms),
            burst,
            status: 429,
        }
    }

    fn spec(v: serde_json::Value) -> Result<Limit, FieldError> {
        let s: LimitSpec = serde_json::from_value(v)
            .map_err(|e| FieldError::new(FieldPath::from("limit"), e.to_string()))?;
        s.check(FieldPath::from("limit"))
    }

    #[test]
    fn a_full_bucket_admits_its_burst_then_refuses_until_a_token_refills() {
        let t0 = Instant::now();
        let mut b = Bucket::new(&limit(5, 1000, 5), t0);
        for _ in 0..5 {
            assert_eq!(b.take(t0), Ok(()));
        }
        // one token every 200ms
        assert_eq!(b.take(t0), Err(Duration::from_millis(200)));
        assert_eq!(
            b.take(t0 + Duration::from_millis(150)),
            Err(Duration::from_millis(50))
        );
        assert_eq!(b.take(t0 + Duration::from_millis(200)), Ok(()));
        assert!(b.take(t0 + Duration::from_millis(200)).is_err());
    }

    #[test]
    fn a_quiet_bucket_fills_up_to_its_burst_and_no_further() {
        let t0 = Instant::now();
        let mut b = Bucket::new(&limit(1, 1000, 3), t0);
        for _ in 0..3 {
            b.take(t0).unwrap();
        }
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(b.take(later), Ok(()));
        }
        assert_eq!(b.take(later), Err(Duration::from_secs(1)));
    }

    #[test]
    fn a_clock_read_out_of_order_adds_no_tokens() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        let mut b = Bucket::new(&limit(1, 1000, 1), t0);
        assert_eq!(b.take(t1), Ok(()));
        assert!(b.take(t0).is_err());
        assert_eq!(b.take(t1 + Duration::from_secs(1)), Ok(()));
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_at_least_one() {
        assert_eq!(retry_after(Duration::ZERO), 1);
        assert_eq!(retry_after(Duration::from_millis(200)), 1);
        assert_eq!(retry_after(Duration::from_secs(2)), 2);
        assert_eq!(retry_after(Duration::from_millis(2001)), 3);
    }

    #[test]
    fn a_limit_fills_in_its_defaults() {
        let l = spec(serde_json::json!({"rate": 5})).unwrap();
        assert_eq!(l, limit(5, 1000, 5));
        let l =
            spec(serde_json::json!({"rate": 2, "per": "1m", "burst": 10, "status": 503})).unwrap();
        assert_eq!(
            l,
            Limit {
                rate: 2,
                per: Duration::from_secs(60),
                burst: 10,
                status: 503
            }
        );
    }

    #[test]
    fn a_bad_limit_names_its_field() {
        for (v, field) in [
            (serde_json::json!({"rate": 0}), "rate"),
            (serde_json::json!({"rate": 5, "burst": 0}), "burst"),
            (serde_json::json!({"rate": 5, "burst": 10_000_000}), "burst"),
            (serde_json::json!({"rate": 5, "per": "0s"}), "per"),
            (serde_json::json!({"rate": 5, "per": "25h"}), "per"),
            (serde_json::json!({"rate": 5, "status": 200}), "status"),
            (serde_json::json!({"rate": 5, "status": 700}), "status"),
        ] {
            let e = spec(v.clone()).unwrap_err();
            assert_eq!(e.field, FieldPath::from("limit").key(field), "{v}");
        }
    }

    #[test]
    fn an_interval_below_a_millisecond_is_never_shown_as_0ms() {
        let e = spec(serde_json::json!({"rate": 5, "per": "0.5ms"})).unwrap_err();
        assert!(e.message.ends_with("got less than 1ms"), "{}", e.message);
        let e = spec(serde_json::json!({"rate": 5, "per": "0s"})).unwrap_err();
        assert!(e.message.ends_with("got 0"), "{}", e.message);
    }

    #[test]
    fn a_refused_request_is_told_when_to_come_back() {
        let l = limit(5, 1000, 5);
        let r = CapturedRequest {
            id: 7,
            bin: "b".into(),
            received_at: std::time::SystemTime::now(),
            timings: Default::default(),
            method: "POST".into(),
            target: "/b".into(),
            split: None,
            version: "HTTP/1.1".into(),
            remote_addr: "127.0.0.1:1".parse().unwrap(),
            headers: Vec::new(),
            body: Body::default(),
            response: Default::default(),
            signature: None,
            forward: None,
        };
        let sent = l.refusal(&r, Duration::from_millis(1500));
        assert_eq!(sent.status, 429);
        let retry = sent
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("retry-after"))
            .unwrap();
        assert_eq!(&*retry.value, b"2");
        let v: serde_json::Value = serde_json::from_slice(&sent.body.bytes).unwrap();
        assert_eq!(v["error"]["code"], "rate_limited");
        assert_eq!(v["id"], 7);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

            /// Whatever the arrival times, the bucket admits at most
            /// `burst + rate × elapsed / per` requests over any run from its start.
            #[test]
            fn the_bucket_never_admits_more_than_its_burst_plus_its_refill(
                rate in 1u64..50,
                per_ms in 1u64..5_000,
                burst in 1u64..50,
                gaps in prop::collection::vec(0u64..400_000_000, 1..300),
            ) {
                let l = limit(rate, per_ms, burst);
                let t0 = Instant::now();
                let mut b = Bucket::new(&l, t0);
                let (mut now, mut admitted) = (t0, 0u128);
                for gap in gaps {
                    now += Duration::from_nanos(gap);
                    if b.take(now).is_ok() {
                        admitted += 1;
                    }
                    let elapsed = now.duration_since(t0).as_nanos();
                    let per_ns = u128::from(per_ms) * 1_000_000;
                    // admitted ≤ burst + rate·elapsed/per, kept in integers
                    prop_assert!(
                        admitted * per_ns <= u128::from(burst) * per_ns + u128::from(rate) * elapsed,
                        "{admitted} admitted after {elapsed} ns"
                    );
                }
            }

            /// A refused request is told a wait after which a token is indeed there.
            #[test]
            fn the_wait_a_refusal_names_is_exactly_long_enough(
                rate in 1u64..50,
                per_ms in 1u64..5_000,
                burst in 1u64..10,
                taken in 0u64..20,
            ) {
                let l = limit(rate, per_ms, burst);
                let t0 = Instant::now();
                let mut b = Bucket::new(&l, t0);
                for _ in 0..taken {
                    let _ = b.take(t0);
                }
                if let Err(wait) = b.take(t0) {
                    let mut early = b.clone();
                    prop_assert!(early.take(t0 + wait - Duration::from_nanos(1)).is_err());
                    prop_assert!(b.take(t0 + wait).is_ok());
                }
            }
        }
    }
}
