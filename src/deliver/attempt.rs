//! One attempt of a delivery, read straight down: `prepare` copies what the attempt needs out of
//! the state (or says why nothing is sent), `call` signs and POSTs it, [`Outcome::of`] names what
//! the answer means — `Successful`, or `Failed` with a [`Failure`] saying whether to retry — and
//! `handle` records the attempt and moves the delivery on: finished, or a retry timer for the
//! scheduler. With a backend, the delivery's record is written when its attempt is signed and
//! about to go (`in_flight`) and again with the outcome; an attempt whose outcome never came
//! (the process stopped) is recorded at restore as a failed one by [`Sender::interrupted`].
//!
//! Uses `registry` (the webhook's key, headers and counters), `log` (the attempt record, `finish`,
//! the views), `retry` (the next delay, `Retry-After`), `outbound` (the one HTTP client) and
//! `sign`. The state's lock is never held across the call.

use std::cmp::Reverse;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::time::Instant;

use super::log::{
    attempt_view, pack_headers, view_of, wire_headers, AttemptRec, AttemptView, DeliveryState,
    Flight, RespRec, Sig, Trigger,
};
use super::registry::SignKey;
use super::retry::{parse_retry_after, retry_delay};
use super::Sender;
use crate::model::Header;
use crate::outbound::Outgoing;
use crate::sign;

/// What one attempt needs, copied out of the state.
struct Plan {
    webhook_id: u64,
    trigger: Trigger,
    url: Arc<str>,
    base: Arc<[Header]>,
    msg: Arc<str>,
    body: Bytes,
    key: SignKey,
    timeout: Duration,
    insecure: bool,
}

/// What `prepare` found.
enum Step {
    /// Nothing to do: the delivery is gone from the log or no longer pending.
    Skip,
    /// The delivery ends without an attempt, for this reason.
    Cancel(&'static str),
    Send(Plan),
}

/// What was sent and what came back.
struct Call {
    at: SystemTime,
    timestamp: i64,
    sig: Sig,
    status: Option<u16>,
    response: Option<Box<RespRec>>,
    latency: Duration,
    error: Option<String>,
    retry_after: Option<Duration>,
}

/// What an attempt's answer means for its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx: the delivery succeeded.
    Successful,
    /// Anything else (3xx included: redirects are not followed).
    Failed(Failure),
}

/// Why an attempt failed, as far as what happens next is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// `410 Gone` on a delivery that is not a test: the webhook is deactivated, nothing retried.
    Gone,
    /// A test send failed: it is one attempt, never retried.
    Once,
    /// A non-2xx answer, a refused connection or a timeout: retried while the webhook's
    /// schedule lasts, no sooner than `retry_after` allows.
    Retryable { retry_after: Option<Duration> },
}

/// The error of an attempt whose outcome was never known: the process stopped during it.
pub(super) const INTERRUPTED: &str =
    "hookpit stopped during this attempt; its outcome is unknown, so it counts as failed";

/// The note a delivery ends with when its receiver answered `410 Gone`.
const GONE: &str = "410 Gone: the webhook was deactivated";

impl Outcome {
    /// Names the outcome of an answer with `status` (`None`: no answer at all).
    pub fn of(status: Option<u16>, retry_after: Option<Duration>, trigger: Trigger) -> Outcome {
        match status {
            Some(200..=299) => Outcome::Successful,
            _ if trigger == Trigger::Test => Outcome::Failed(Failure::Once),
            Some(410) => Outcome::Failed(Failure::Gone),
            _ => Outcome::Failed(Failure::Retryable { retry_after }),
        }
    }
}

/// Where the delivery goes after an attempt.
enum Next {
    Finish(DeliveryState, Option<&'static str>),
    RetryIn(Duration),
}

impl Sender {
    /// Makes one attempt of a pending delivery and records it. Returns the attempt's view for
    /// a test delivery.
    pub(super) async fn attempt(&self, id: u64) -> Option<AttemptView> {
        let plan = match self.prepare(id) {
            Step::Skip => {
                self.skipped(&mut self.lock());
                return None;
            }
            Step::Cancel(note) => {
                let v = {
                    let mut st = self.lock();
                    self.finish(&mut st, id, DeliveryState::Failed, Some(note))
                };
                self.publish(v.into_iter().collect());
                return None;
            }
            Step::Send(p) => p,
        };
        let call = self.call(id, &plan).await;
        let outcome = Outcome::of(call.status, call.retry_after, plan.trigger);
        self.handle(id, &plan, call, outcome)
    }

    fn prepare(&self, id: u64) -> Step {
        let st = self.lock();
        let Some(rec) = st.log.get(&id) else {
            return Step::Skip;
        };
        if rec.state != DeliveryState::Pending {
            return Step::Skip;
        }
        let Some(h) = st.hooks.get(&rec.webhook_id) else {
            return Step::Cancel("the webhook was deleted");
        };
        if !h.def.active && !rec.forced() {
            return Step::Cancel("the webhook is inactive");
        }
        Step::Send(Plan {
            webhook_id: rec.webhook_id,
            trigger: rec.trigger,
            url: h.url.clone(),
            base: h.base.clone(),
            msg: rec.message_id.clone(),
            body: rec.body.clone(),
            key: h.key.clone(),
            timeout: h.def.timeout,
            insecure: h.def.insecure_tls,
        })
    }

    /// Signs the plan's body now and POSTs it (delivery `id`'s record says so first).
    async fn call(&self, id: u64, plan: &Plan) -> Call {
        let at = SystemTime::now();
        let ts = sign::unix_now();
        let sig = match &plan.key {
            SignKey::Standard(s) => Sig::Standard(sign::sign(s, &plan.msg, ts, &plan.body).into()),
            SignKey::Raw(scheme, k) => Sig::vendor(*scheme, k, ts, &plan.body),
            SignKey::None => Sig::None,
        };
        if self.journaled() {
            let flight = Flight {
                at,
                url: plan.url.clone(),
                base: plan.base.clone(),
                timestamp: ts,
                sig: sig.clone(),
            };
            let st = self.lock();
            if st
                .log
                .get(&id)
                .is_some_and(|r| r.state == DeliveryState::Pending)
            {
                self.journal_delivery(&st, id, Some(&flight));
            }
        }
        let headers = wire_headers(&plan.base, &plan.msg, ts, &sig);
        let outcome = self
            .inner
            .http
            .send(Outgoing {
                method: "POST".to_owned(),
                url: plan.url.to_string(),
                headers,
                body: plan.body.clone(),
                timeout: plan.timeout,
                insecure_tls: plan.insecure,
                keep_body: self.inner.limits.keep_response,
            })
            .await;
        let retry_after = outcome
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("retry-after"))
            .and_then(|h| parse_retry_after(&h.value_str(), SystemTime::now()));
        let response = outcome.status.map(|s| {
            Box::new(RespRec {
                status: s,
                truncated: outcome.body_truncated,
                headers: pack_headers(&outcome.headers),
                body: Bytes::copy_from_slice(&outcome.body),
            })
        });
        Call {
            at,
            timestamp: ts,
            sig,
            status: outcome.status,
            response,
            latency: outcome.latency,
            error: outcome.error,
            retry_after,
        }
    }

    /// Records the attempt, updates the webhook's counters, and finishes the delivery or puts
    /// its retry on the timer heap.
    fn handle(&self, id: u64, plan: &Plan, call: Call, outcome: Outcome) -> Option<AttemptView> {
        let test = plan.trigger == Trigger::Test;
        let (views, attempt_view, due) = {
            let mut st = self.lock();
            let n = st.log.get(&id).map_or(0, |r| r.attempts.len()) + 1;
            let mut next = match outcome {
                Outcome::Successful => Next::Finish(DeliveryState::Succeeded, None),
                Outcome::Failed(Failure::Gone) => Next::Finish(DeliveryState::Failed, Some(GONE)),
                Outcome::Failed(Failure::Once | Failure::Retryable { .. }) => {
                    Next::Finish(DeliveryState::Failed, None)
                }
            };
            if let Some(h) = st.hooks.get_mut(&plan.webhook_id) {
                // "sent" counts deliveries (once, at their first attempt), not attempts; test
                // events are the webhook form's and stay out of it
                if !test {
                    if n == 1 {
                        h.sent_count += 1;
                    }
                    h.last_status = call.status;
                }
                match outcome {
                    Outcome::Failed(Failure::Gone) => {
                        h.def.active = false;
                        h.changed_at_run_time();
                    }
                    Outcome::Failed(Failure::Retryable { retry_after }) => {
                        if let Some(d) = retry_delay(&h.def.retry, n, retry_after, self.rand()) {
                            next = Next::RetryIn(d);
                        }
                    }
                    Outcome::Successful | Outcome::Failed(Failure::Once) => {}
                }
            }
            if !test || outcome == Outcome::Failed(Failure::Gone) {
                self.journal_hook(&st, plan.webhook_id);
            }
            let rec = st.log.get_mut(&id)?;
            let was_pending = rec.state == DeliveryState::Pending;
            // exact growth: a pending retry keeps one attempt, not a default capacity of four
            rec.attempts.reserve_exact(1);
            rec.attempts.push(AttemptRec {
                at: call.at,
                url: plan.url.clone(),
                base: plan.base.clone(),
                timestamp: call.timestamp,
                sig: call.sig,
                response: call.response,
                latency_us: call.latency.as_micros().min(u128::from(u64::MAX)) as u64,
                error: call.error.map(Box::from),
                next_attempt_at: match next {
                    Next::RetryIn(d) => Some(SystemTime::now() + d),
                    Next::Finish(..) => None,
                },
            });
            let attempt_view = if test {
                st.log.get(&id).and_then(|r| {
                    r.attempts
                        .last()
                        .map(|a| attempt_view(r, r.attempts.len() - 1, a, true))
                })
            } else {
                None
            };
            let (view, due) = match next {
                Next::Finish(state, note) => {
                    if !was_pending {
                        // ended meanwhile (its webhook deleted or deactivated): `finish` leaves
                        // it as it is, with this attempt added
                        self.journal_delivery(&st, id, None);
                    }
                    (self.finish(&mut st, id, state, note), false)
                }
                Next::RetryIn(d) => {
                    self.journal_delivery(&st, id, None);
                    // the timer goes in before `working` drops, so `drained()` never sees a gap
                    // (lock order: state, then timers; nothing takes them the other way round)
                    self.timers().push(Reverse((Instant::now() + d, id)));
                    st.working = st.working.saturating_sub(1);
                    self.bump(&st);
                    (self.live().then(|| view_of(&st, id, false)).flatten(), true)
                }
            };
            (view, attempt_view, due)
        };
        if due {
            self.inner.wake.notify_one();
        }
        self.publish(views.into_iter().collect());
        attempt_view
    }
}

impl Sender {
    /// Records the attempt `flight` of delivery `id`, whose outcome never came because the
    /// process stopped during it, as a failed one (no answer, latency 0) and moves the delivery
    /// on as any failed attempt does: a retry on the webhook's schedule, or failed. The caller
    /// counts the delivery in `working`, as for an attempt under way.
    pub(super) fn interrupted(&self, id: u64, flight: Flight) {
        let plan = {
            let st = self.lock();
            let Some(rec) = st.log.get(&id) else {
                return;
            };
            Plan {
                webhook_id: rec.webhook_id,
                trigger: rec.trigger,
                url: flight.url,
                base: flight.base,
                msg: rec.message_id.clone(),
                body: rec.body.clone(),
                key: SignKey::None,
                timeout: Duration::ZERO,
                insecure: false,
            }
        };
        let call = Call {
            at: flight.at,
            timestamp: flight.timestamp,
            sig: flight.sig,
            status: None,
            response: None,
            latency: Duration::ZERO,
            error: Some(INTERRUPTED.to_owned()),
            retry_after: None,
        };
        let outcome = Outcome::of(None, None, plan.trigger);
        self.handle(id, &plan, call, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_2xx_is_successful_and_only_a_gone_event_delivery_stops_retries() {
        let ra = Some(Duration::from_secs(3));
        for s in [200, 204, 299] {
            assert_eq!(
                Outcome::of(Some(s), None, Trigger::Event),
                Outcome::Successful
            );
        }
        for s in [Some(199), Some(301), Some(500), None] {
            assert_eq!(
                Outcome::of(s, ra, Trigger::Event),
                Outcome::Failed(Failure::Retryable { retry_after: ra })
            );
        }
        for t in [Trigger::Event, Trigger::Retry, Trigger::Manual] {
            assert_eq!(
                Outcome::of(Some(410), None, t),
                Outcome::Failed(Failure::Gone)
            );
        }
        for s in [Some(410), Some(500), None] {
            assert_eq!(
                Outcome::of(s, ra, Trigger::Test),
                Outcome::Failed(Failure::Once)
            );
        }
        assert_eq!(
            Outcome::of(Some(200), None, Trigger::Test),
            Outcome::Successful
        );
    }
}
