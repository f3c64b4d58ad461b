//! The delivery log (SPEC §8, §12): message → deliveries → attempts, kept compactly in memory
//! (bounded: at most [`SenderLimits::max_pending`](super::SenderLimits) pending, the oldest
//! finished deliveries evicted and counted), their creation and `finish`, their JSON views and
//! listings, every change published to viewers, and the waits for a delivery's final outcome
//! (`GET /_/api/deliveries/{id}/wait`): `finish` hands each waiter the final view, so a wait
//! never polls, and a waiter that goes away (its future dropped) leaves nothing behind.
//!
//! Each delivery's stored record (`persist`) is written to the backend under the state's lock
//! when it is made, when an attempt starts and ends, when it finishes and when it leaves the
//! log, and read back.
//!
//! Uses `registry` (a webhook's name for the views), `persist` (the record format), `model`
//! (headers, times), `sign` (header names, an attempt's vendor signature), `provider` (the
//! headers a vendor scheme's receivers expect beside its signature), `store` (the live
//! feed), `journal` and `error`. A failed delivery is a value here, never an `Err`.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::persist::{
    self, AttemptRecord, Blob, DeliveryBody, DeliveryRecord, FlightRecord, ResponseRecord,
    SigRecord, VERSION,
};
use super::{Sender, State};
use crate::error::{Error, Result};
use crate::journal::Op;
use crate::model::{format_time, Header};
use crate::sign;

/// What started a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// `POST /_/api/events/{name}` (a program firing an event).
    Event,
    /// Send Test Event: one attempt, now, no retries.
    Test,
    /// `POST /_/api/deliveries/{id}/retry`: a redelivery that keeps the message id.
    Retry,
    /// An event fired by hand (`hookpit send`, the viewer; `?trigger=manual`).
    Manual,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Event => "event",
            Trigger::Test => "test",
            Trigger::Retry => "retry",
            Trigger::Manual => "manual",
        }
    }
}

impl FromStr for Trigger {
    type Err = Error;
    fn from_str(s: &str) -> Result<Trigger> {
        match s {
            "event" => Ok(Trigger::Event),
            "test" => Ok(Trigger::Test),
            "retry" => Ok(Trigger::Retry),
            "manual" => Ok(Trigger::Manual),
            _ => Err(Error::bad(
                "trigger",
                format!("expected event, test, retry or manual, got `{s}`"),
            )),
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Pending,
    Succeeded,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Succeeded => "succeeded",
            DeliveryState::Failed => "failed",
        }
    }
}

impl FromStr for DeliveryState {
    type Err = Error;
    fn from_str(s: &str) -> Result<DeliveryState> {
        match s {
            "pending" => Ok(DeliveryState::Pending),
            "succeeded" => Ok(DeliveryState::Succeeded),
            "failed" => Ok(DeliveryState::Failed),
            _ => Err(Error::bad(
                "status",
                format!("expected pending, succeeded or failed, got `{s}`"),
            )),
        }
    }
}

/// The request an attempt sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestView {
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// The exact body; `null` when a listing left bodies out (`?body=false`).
    pub body: Option<String>,
}

/// What the receiver answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseView {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The first 64 KiB (lossy UTF-8); `null` when a listing left bodies out.
    pub body: Option<String>,
    /// The body was longer than what is kept.
    #[serde(default)]
    pub truncated: bool,
}

/// One attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptView {
    pub n: u32,
    pub at: String,
    pub request: RequestView,
    pub response: Option<ResponseView>,
    pub latency_ms: f64,
    pub error: Option<String>,
    pub next_attempt_at: Option<String>,
}

/// Delivery JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub id: u64,
    pub webhook_id: u64,
    /// The webhook's current name (`null` once it is deleted).
    #[serde(default)]
    pub webhook_name: Option<String>,
    pub event: String,
    pub message_id: String,
    pub trigger: String,
    pub state: String,
    pub created_at: String,
    /// When the next attempt is due, for a pending delivery waiting on a retry.
    #[serde(default)]
    pub next_attempt_at: Option<String>,
    /// Why a delivery stopped without (another) attempt, e.g. its webhook was deactivated.
    #[serde(default)]
    pub note: Option<String>,
    pub attempts: Vec<AttemptView>,
}

/// Which deliveries a listing wants.
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    pub webhook: Option<u64>,
    pub state: Option<DeliveryState>,
    pub event: Option<String>,
    pub message_id: Option<String>,
    pub trigger: Option<Trigger>,
    /// At most this many (default 100).
    pub limit: Option<usize>,
    /// Leave request and response bodies out.
    pub omit_bodies: bool,
}

/// The signature header of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Sig {
    None,
    Standard(Box<str>),
    Github(Box<str>),
    /// `Stripe-Signature` (its `t=` is the attempt's timestamp).
    Stripe(Box<str>),
    Shopify(Box<str>),
    /// `X-Slack-Signature` (sent with the attempt's timestamp as `X-Slack-Request-Timestamp`).
    Slack(Box<str>),
}

impl Sig {
    /// The signature of a vendor scheme over `body`, made with `key` at `ts`.
    pub(super) fn vendor(scheme: sign::Scheme, key: &[u8], ts: i64, body: &[u8]) -> Sig {
        match scheme {
            sign::Scheme::Github => Sig::Github(sign::github_sign(key, body).into()),
            sign::Scheme::Stripe => Sig::Stripe(sign::stripe_sign(key, ts, body).into()),
            sign::Scheme::Shopify => Sig::Shopify(sign::shopify_sign(key, body).into()),
            sign::Scheme::Slack => Sig::Slack(sign::slack_sign(key, ts, body).into()),
            // a Standard Webhooks key is a parsed secret, never raw bytes
            sign::Scheme::StandardWebhooks => Sig::None,
        }
    }
}

/// A response, compactly: headers packed as `name:value\n` lines.
pub(super) struct RespRec {
    pub(super) status: u16,
    pub(super) truncated: bool,
    pub(super) headers: Box<[u8]>,
    pub(super) body: Bytes,
}

pub(super) struct AttemptRec {
    pub(super) at: SystemTime,
    pub(super) url: Arc<str>,
    pub(super) base: Arc<[Header]>,
    pub(super) timestamp: i64,
    pub(super) sig: Sig,
    pub(super) response: Option<Box<RespRec>>,
    pub(super) latency_us: u64,
    pub(super) error: Option<Box<str>>,
    pub(super) next_attempt_at: Option<SystemTime>,
}

pub(super) struct Rec {
    pub(super) webhook_id: u64,
    pub(super) event: Arc<str>,
    pub(super) message_id: Arc<str>,
    pub(super) trigger: Trigger,
    pub(super) state: DeliveryState,
    pub(super) created_at: SystemTime,
    pub(super) body: Bytes,
    pub(super) attempts: Vec<AttemptRec>,
    pub(super) note: Option<Box<str>>,
}

impl Rec {
    /// Whether this delivery goes even to an inactive webhook: a Send Test Event, and the first
    /// attempt of a manual redelivery.
    pub(super) fn forced(&self) -> bool {
        self.trigger == Trigger::Test
            || (self.trigger == Trigger::Retry && self.attempts.is_empty())
    }
}

/// The pending waits for deliveries' outcomes, by delivery id. `finish` takes a delivery's
/// entry and sends each waiter the final view; a waiter that goes away removes its own.
#[derive(Default)]
pub(super) struct Waits {
    next: u64,
    count: usize,
    by_delivery: HashMap<u64, Vec<(u64, oneshot::Sender<DeliveryView>)>>,
}

/// What a wait for a delivery's outcome came to.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryWait {
    /// The delivery succeeded or failed: its final view.
    Finished(DeliveryView),
    /// The timeout passed first: the delivery as it stands (still pending).
    TimedOut(DeliveryView),
}

/// Unregisters a wait when it ends, however it ends (answered, timed out, or dropped because
/// the client went away).
struct WaitGuard<'a> {
    sender: &'a Sender,
    delivery: u64,
    wait: u64,
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        let mut st = self.sender.lock();
        let waits = &mut st.waits;
        if let Some(list) = waits.by_delivery.get_mut(&self.delivery) {
            let before = list.len();
            list.retain(|(w, _)| *w != self.wait);
            waits.count -= before - list.len();
            if list.is_empty() {
                waits.by_delivery.remove(&self.delivery);
            }
        }
    }
}

impl Sender {
    /// Is there room for `n` more pending deliveries? Past [`SenderLimits::max_pending`] the
    /// caller is told at once (503) rather than accepted and dropped later.
    pub(super) fn room(&self, st: &State, n: usize) -> Result<()> {
        let max = self.inner.limits.max_pending;
        if st.pending.saturating_add(n) > max {
            return Err(Error::Busy(format!(
                "{max} deliveries are already pending (the sender's limit); \
                 try again when some have finished"
            )));
        }
        Ok(())
    }

    pub(super) fn create(
        &self,
        st: &mut State,
        webhook_id: u64,
        event: Arc<str>,
        message_id: Arc<str>,
        trigger: Trigger,
        body: Bytes,
    ) -> u64 {
        let id = st.next_delivery;
        st.next_delivery += 1;
        st.log.insert(
            id,
            Rec {
                webhook_id,
                event,
                message_id,
                trigger,
                state: DeliveryState::Pending,
                created_at: SystemTime::now(),
                body,
                attempts: Vec::new(),
                note: None,
            },
        );
        st.pending += 1;
        st.working += 1;
        self.journal_delivery(st, id, None);
        self.bump(st);
        id
    }

    /// Is any viewer listening? Views are built for the live feed only then.
    pub(super) fn live(&self) -> bool {
        self.inner.store.has_subscribers()
    }

    pub(super) fn publish(&self, views: Vec<DeliveryView>) {
        for v in views {
            if let Ok(j) = serde_json::to_value(&v) {
                self.inner.store.publish_delivery(j);
            }
        }
    }

    /// Ends a delivery whose attempt was under way (counted in `working`); returns its final
    /// view, or `None` when something else (a deleted or deactivated webhook) ended it first.
    pub(super) fn finish(
        &self,
        st: &mut State,
        id: u64,
        state: DeliveryState,
        note: Option<&str>,
    ) -> Option<DeliveryView> {
        st.working = st.working.saturating_sub(1);
        let view = self.end(st, id, state, note);
        self.bump(st);
        view
    }

    /// A delivery taken off the queue that is no longer pending: its turn is over.
    pub(super) fn skipped(&self, st: &mut State) {
        st.working = st.working.saturating_sub(1);
        self.bump(st);
    }

    /// Ends the pending deliveries of webhook `webhook` that `which` picks (none of them under
    /// way is touched twice: an attempt that ends later finds it ended), with `note`.
    pub(super) fn end_pending_of(
        &self,
        st: &mut State,
        webhook: u64,
        which: impl Fn(&Rec) -> bool,
        note: &str,
    ) -> Vec<DeliveryView> {
        let ids: Vec<u64> = st
            .log
            .iter()
            .filter(|(_, r)| {
                r.webhook_id == webhook && r.state == DeliveryState::Pending && which(r)
            })
            .map(|(id, _)| *id)
            .collect();
        let views = ids
            .into_iter()
            .filter_map(|id| self.end(st, id, DeliveryState::Failed, Some(note)))
            .collect();
        self.bump(st);
        views
    }

    /// Ends a pending delivery: its state and note, the waits on it, the log's bound.
    pub(super) fn end(
        &self,
        st: &mut State,
        id: u64,
        state: DeliveryState,
        note: Option<&str>,
    ) -> Option<DeliveryView> {
        let rec = st.log.get_mut(&id)?;
        if rec.state != DeliveryState::Pending {
            return None;
        }
        rec.state = state;
        rec.note = note.map(Box::from);
        st.pending = st.pending.saturating_sub(1);
        st.finished.insert(id);
        if let Some(waiting) = st.waits.by_delivery.remove(&id) {
            st.waits.count -= waiting.len();
            if let Some(v) = view_of(st, id, false) {
                for (_, tx) in waiting {
                    let _ = tx.send(v.clone());
                }
            }
        }
        let view = self.live().then(|| view_of(st, id, false)).flatten();
        self.journal_delivery(st, id, None);
        self.trim(st);
        view
    }

    /// Keeps the log within [`SenderLimits::max_deliveries`](super::SenderLimits): the oldest
    /// finished deliveries leave it, counted.
    pub(super) fn trim(&self, st: &mut State) {
        while st.finished.len() > self.inner.limits.max_deliveries {
            let Some(old) = st.finished.pop_first() else {
                break;
            };
            st.log.remove(&old);
            st.evicted += 1;
            self.journal_delivery_dropped(st, old);
        }
    }

    /// One delivery.
    pub fn delivery(&self, id: u64) -> Option<DeliveryView> {
        view_of(&self.lock(), id, false)
    }

    /// Deliveries matching `q`, newest first.
    pub fn deliveries(&self, q: &DeliveryQuery) -> Vec<DeliveryView> {
        let st = self.lock();
        st.log
            .iter()
            .rev()
            .filter(|(_, r)| {
                q.webhook.is_none_or(|w| r.webhook_id == w)
                    && q.state.is_none_or(|s| r.state == s)
                    && q.event.as_deref().is_none_or(|e| &*r.event == e)
                    && q.message_id.as_deref().is_none_or(|m| &*r.message_id == m)
                    && q.trigger.is_none_or(|t| r.trigger == t)
            })
            .take(q.limit.unwrap_or(100))
            .filter_map(|(id, _)| view_of(&st, *id, q.omit_bodies))
            .collect()
    }

    /// Waits until every delivery in `ids` is finished (or no longer kept) and returns those
    /// still kept.
    pub async fn settled(&self, ids: &[u64]) -> Vec<DeliveryView> {
        let mut rx = self.inner.progress.subscribe();
        loop {
            rx.borrow_and_update();
            {
                let st = self.lock();
                let done = ids.iter().all(|id| {
                    st.log
                        .get(id)
                        .is_none_or(|r| r.state != DeliveryState::Pending)
                });
                if done {
                    return ids
                        .iter()
                        .filter_map(|id| view_of(&st, *id, false))
                        .collect();
                }
            }
            if rx.changed().await.is_err() {
                return Vec::new();
            }
        }
    }

    /// Waits until delivery `id` has succeeded or failed, at most `timeout`, without polling:
    /// the wait registers under the lock that `finish` takes, so an outcome recorded while it
    /// is being set up is never missed. An unknown (or evicted) id is [`Error::NotFound`]; past
    /// [`SenderLimits::max_waits`](super::SenderLimits) pending waits, [`Error::Busy`].
    pub async fn wait_delivery(&self, id: u64, timeout: Duration) -> Result<DeliveryWait> {
        let (mut rx, guard) = {
            let mut st = self.lock();
            let rec = st
                .log
                .get(&id)
                .ok_or_else(|| Error::not_found("delivery", id))?;
            if rec.state != DeliveryState::Pending {
                let v = view_of(&st, id, false).ok_or_else(|| Error::not_found("delivery", id))?;
                return Ok(DeliveryWait::Finished(v));
            }
            let max = self.inner.limits.max_waits;
            if st.waits.count >= max {
                return Err(Error::Busy(format!(
                    "{max} waits for deliveries are already pending (the sender's limit); \
                     try again when some have ended"
                )));
            }
            let (tx, rx) = oneshot::channel();
            let wait = st.waits.next;
            st.waits.next += 1;
            st.waits.count += 1;
            st.waits.by_delivery.entry(id).or_default().push((wait, tx));
            let guard = WaitGuard {
                sender: self,
                delivery: id,
                wait,
            };
            (rx, guard)
        };
        if let Ok(Ok(v)) = tokio::time::timeout(timeout, &mut rx).await {
            return Ok(DeliveryWait::Finished(v));
        }
        drop(guard);
        // the outcome may have landed between the timer firing and the unregistering
        if let Ok(v) = rx.try_recv() {
            return Ok(DeliveryWait::Finished(v));
        }
        match view_of(&self.lock(), id, false) {
            Some(v) if v.state == DeliveryState::Pending.as_str() => Ok(DeliveryWait::TimedOut(v)),
            Some(v) => Ok(DeliveryWait::Finished(v)),
            None => Err(Error::not_found("delivery", id)),
        }
    }

    /// Waits for deliveries' outcomes pending now.
    pub fn pending_waits(&self) -> usize {
        self.lock().waits.count
    }
}

/// The headers of one attempt of a delivery of `event`, in the order they are sent: the
/// webhook's base headers, then `webhook-id`, `webhook-timestamp`, the headers a vendor
/// scheme's receivers expect beside its signature (`provider::delivery_headers`), and the
/// signature header.
pub(super) fn wire_headers(
    base: &[Header],
    event: &str,
    msg_id: &str,
    ts: i64,
    sig: &Sig,
) -> Vec<Header> {
    let mut v = Vec::with_capacity(base.len() + 8);
    v.extend(base.iter().cloned());
    v.push(Header::new(sign::WEBHOOK_ID, msg_id.as_bytes()));
    v.push(Header::new(
        sign::WEBHOOK_TIMESTAMP,
        ts.to_string().into_bytes(),
    ));
    let scheme = match sig {
        Sig::Github(_) => Some(sign::Scheme::Github),
        Sig::Shopify(_) => Some(sign::Scheme::Shopify),
        _ => None,
    };
    if let Some(scheme) = scheme {
        // a custom header of the webhook's by the same name is sent instead
        for (name, value) in crate::provider::delivery_headers(scheme, event, msg_id, ts) {
            if !base.iter().any(|h| h.name.eq_ignore_ascii_case(name)) {
                v.push(Header::new(name, value.into_bytes()));
            }
        }
    }
    match sig {
        Sig::Standard(s) => v.push(Header::new(sign::WEBHOOK_SIGNATURE, s.as_bytes())),
        Sig::Github(s) => v.push(Header::new(sign::GITHUB_SIGNATURE_256, s.as_bytes())),
        Sig::Stripe(s) => v.push(Header::new(sign::STRIPE_SIGNATURE, s.as_bytes())),
        Sig::Shopify(s) => v.push(Header::new(sign::SHOPIFY_HMAC, s.as_bytes())),
        Sig::Slack(s) => {
            v.push(Header::new(
                sign::SLACK_TIMESTAMP,
                ts.to_string().into_bytes(),
            ));
            v.push(Header::new(sign::SLACK_SIGNATURE, s.as_bytes()));
        }
        Sig::None => {}
    }
    v
}

pub(super) fn pack_headers(h: &[Header]) -> Box<[u8]> {
    let mut out = Vec::with_capacity(h.iter().map(|h| h.name.len() + h.value.len() + 2).sum());
    for h in h {
        out.extend_from_slice(h.name.as_bytes());
        out.push(b':');
        out.extend(h.value.iter().map(|b| if *b == b'\n' { b' ' } else { *b }));
        out.push(b'\n');
    }
    out.into_boxed_slice()
}

pub(super) fn unpack_headers(b: &[u8]) -> Vec<(String, String)> {
    b.split(|c| *c == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let i = l.iter().position(|c| *c == b':').unwrap_or(l.len());
            let (k, v) = l.split_at(i);
            (
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v.get(1..).unwrap_or_default()).into_owned(),
            )
        })
        .collect()
}

pub(super) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(super) fn attempt_view(rec: &Rec, i: usize, a: &AttemptRec, bodies: bool) -> AttemptView {
    let headers = wire_headers(&a.base, &rec.event, &rec.message_id, a.timestamp, &a.sig)
        .iter()
        .map(|h| (h.name.to_string(), h.value_str().into_owned()))
        .collect();
    AttemptView {
        n: (i + 1) as u32,
        at: format_time(a.at),
        request: RequestView {
            url: a.url.to_string(),
            headers,
            body: bodies.then(|| text(&rec.body)),
        },
        response: a.response.as_ref().map(|r| ResponseView {
            status: r.status,
            headers: unpack_headers(&r.headers),
            body: bodies.then(|| text(&r.body)),
            truncated: r.truncated,
        }),
        latency_ms: a.latency_us as f64 / 1000.0,
        error: a.error.as_deref().map(str::to_owned),
        next_attempt_at: a.next_attempt_at.map(format_time),
    }
}

pub(super) fn view_of(st: &State, id: u64, omit_bodies: bool) -> Option<DeliveryView> {
    let rec = st.log.get(&id)?;
    let next = if rec.state == DeliveryState::Pending {
        rec.attempts
            .last()
            .and_then(|a| a.next_attempt_at)
            .map(format_time)
    } else {
        None
    };
    Some(DeliveryView {
        id,
        webhook_id: rec.webhook_id,
        webhook_name: st.hooks.get(&rec.webhook_id).map(|h| h.def.name.clone()),
        event: rec.event.to_string(),
        message_id: rec.message_id.to_string(),
        trigger: rec.trigger.as_str().to_owned(),
        state: rec.state.as_str().to_owned(),
        created_at: format_time(rec.created_at),
        next_attempt_at: next,
        note: rec.note.as_deref().map(str::to_owned),
        attempts: rec
            .attempts
            .iter()
            .enumerate()
            .map(|(i, a)| attempt_view(rec, i, a, !omit_bodies))
            .collect(),
    })
}

// -- stored records ----------------------------------------------------------------------------

/// An attempt signed and sent whose outcome is not known yet: what was sent.
pub(super) struct Flight {
    pub(super) at: SystemTime,
    pub(super) url: Arc<str>,
    pub(super) base: Arc<[Header]>,
    pub(super) timestamp: i64,
    pub(super) sig: Sig,
}

/// A stored delivery record, read back.
pub(super) enum StoredDelivery {
    /// Ids continue from `next_id`; `evicted` deliveries had left the log.
    Sequence { next_id: u64, evicted: u64 },
    /// A delivery, and the attempt it had under way when the record was written.
    Delivery(Box<Rec>, Option<Flight>),
}

fn sig_record(s: &Sig) -> Option<SigRecord> {
    match s {
        Sig::None => None,
        Sig::Standard(v) => Some(SigRecord::Standard {
            value: v.to_string(),
        }),
        Sig::Github(v) => Some(SigRecord::Github {
            value: v.to_string(),
        }),
        Sig::Stripe(v) => Some(SigRecord::Stripe {
            value: v.to_string(),
        }),
        Sig::Shopify(v) => Some(SigRecord::Shopify {
            value: v.to_string(),
        }),
        Sig::Slack(v) => Some(SigRecord::Slack {
            value: v.to_string(),
        }),
    }
}

fn sig_of(s: Option<SigRecord>) -> Sig {
    match s {
        None => Sig::None,
        Some(SigRecord::Standard { value }) => Sig::Standard(value.into()),
        Some(SigRecord::Github { value }) => Sig::Github(value.into()),
        Some(SigRecord::Stripe { value }) => Sig::Stripe(value.into()),
        Some(SigRecord::Shopify { value }) => Sig::Shopify(value.into()),
        Some(SigRecord::Slack { value }) => Sig::Slack(value.into()),
    }
}

impl Rec {
    fn record(&self, flight: Option<&Flight>) -> DeliveryRecord {
        let attempts = self
            .attempts
            .iter()
            .map(|a| AttemptRecord {
                sent: flight_record(a.at, &a.url, &a.base, a.timestamp, &a.sig),
                response: a.response.as_ref().map(|r| ResponseRecord {
                    status: r.status,
                    truncated: r.truncated,
                    headers: Blob::of(&r.headers),
                    body: Blob::of(&r.body),
                }),
                latency_us: a.latency_us,
                error: a.error.as_deref().map(str::to_owned),
                next_attempt_at: a.next_attempt_at,
            })
            .collect();
        DeliveryRecord::Delivery(Box::new(DeliveryBody {
            v: VERSION,
            webhook_id: self.webhook_id,
            event: self.event.to_string(),
            message_id: self.message_id.to_string(),
            trigger: self.trigger.as_str().to_owned(),
            state: self.state.as_str().to_owned(),
            created_at: self.created_at,
            body: Blob::of(&self.body),
            note: self.note.as_deref().map(str::to_owned),
            attempts,
            in_flight: flight.map(|f| flight_record(f.at, &f.url, &f.base, f.timestamp, &f.sig)),
        }))
    }
}

/// The stored form of an attempt as sent (of a finished attempt or one in flight).
fn flight_record(
    at: SystemTime,
    url: &str,
    base: &[Header],
    timestamp: i64,
    sig: &Sig,
) -> FlightRecord {
    FlightRecord {
        at,
        url: url.to_owned(),
        headers: base.to_vec(),
        timestamp,
        sig: sig_record(sig),
    }
}

/// An attempt as sent, read back (`last`: the headers of the attempt before, shared when equal).
fn flight_of(f: FlightRecord, last: &mut Option<Arc<[Header]>>) -> Flight {
    Flight {
        at: f.at,
        url: Arc::from(f.url),
        base: shared(f.headers, last),
        timestamp: f.timestamp,
        sig: sig_of(f.sig),
    }
}

/// One allocation of a webhook's headers for the attempts that sent the same ones.
fn shared(headers: Vec<Header>, last: &mut Option<Arc<[Header]>>) -> Arc<[Header]> {
    if let Some(prev) = last {
        if prev[..] == headers[..] {
            return prev.clone();
        }
    }
    let a: Arc<[Header]> = headers.into();
    *last = Some(a.clone());
    a
}

/// Reads stored delivery record `id` back.
pub(super) fn read_delivery(id: u64, v: serde_json::Value) -> Result<StoredDelivery> {
    let d = match persist::read("delivery", id, v)? {
        DeliveryRecord::Sequence {
            next_id, evicted, ..
        } => return Ok(StoredDelivery::Sequence { next_id, evicted }),
        DeliveryRecord::Delivery(d) => *d,
    };
    let bad = |e: Error| persist::unreadable("delivery", id, e);
    let mut last = None;
    let mut attempts = Vec::with_capacity(d.attempts.len());
    for a in d.attempts {
        let response = match a.response {
            Some(r) => Some(Box::new(RespRec {
                status: r.status,
                truncated: r.truncated,
                headers: r.headers.bytes().map_err(bad)?.into_boxed_slice(),
                body: Bytes::from(r.body.bytes().map_err(bad)?),
            })),
            None => None,
        };
        let sent = flight_of(a.sent, &mut last);
        attempts.push(AttemptRec {
            at: sent.at,
            url: sent.url,
            base: sent.base,
            timestamp: sent.timestamp,
            sig: sent.sig,
            response,
            latency_us: a.latency_us,
            error: a.error.map(Box::from),
            next_attempt_at: a.next_attempt_at,
        });
    }
    let flight = d.in_flight.map(|f| flight_of(f, &mut last));
    let rec = Rec {
        webhook_id: d.webhook_id,
        event: Arc::from(d.event),
        message_id: Arc::from(d.message_id),
        trigger: d.trigger.parse::<Trigger>().map_err(bad)?,
        state: d.state.parse::<DeliveryState>().map_err(bad)?,
        created_at: d.created_at,
        body: Bytes::from(d.body.bytes().map_err(bad)?),
        attempts,
        note: d.note.map(Box::from),
    };
    Ok(StoredDelivery::Delivery(Box::new(rec), flight))
}

impl Sender {
    /// Delivery `id` as it stands (with `flight`, the attempt it has under way), to the
    /// backend. Call under the lock.
    pub(super) fn journal_delivery(&self, st: &State, id: u64, flight: Option<&Flight>) {
        if let Some(rec) = st.log.get(&id) {
            self.append(|| Op::Delivery {
                id,
                record: Some(Arc::new(persist::to_json(&rec.record(flight)))),
            });
        }
    }

    /// Delivery `id` left the log: the backend drops it and keeps the id sequence and the
    /// count of deliveries gone. Call under the lock, after the removal.
    fn journal_delivery_dropped(&self, st: &State, id: u64) {
        self.append(|| Op::Delivery { id, record: None });
        self.append(|| Op::Delivery {
            id: 0,
            record: Some(Arc::new(persist::to_json(&DeliveryRecord::Sequence {
                v: VERSION,
                next_id: st.next_delivery,
                evicted: st.evicted,
            }))),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::deliver::{DispatchOptions, SenderLimits};
    use crate::outbound::Outbound;
    use crate::store::Store;
    use crate::webhook::WebhookInput;
    use tokio::sync::watch;

    #[tokio::test]
    async fn the_log_keeps_the_newest_finished_deliveries_and_counts_evictions() {
        let store = Store::new(crate::store::Limits {
            max_requests: 10,
            max_memory: 1 << 20,
            max_bins: 100,
            preview_limit: 1024,
            feed_capacity: 16,
        });
        let (_stop, shutdown) = watch::channel(false);
        let limits = SenderLimits {
            max_deliveries: 3,
            ..SenderLimits::default()
        };
        let s = Sender::start(store, Outbound::new(), Catalog::default(), limits, shutdown);
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", dead.local_addr().unwrap());
        drop(dead);
        s.create_webhook(WebhookInput {
            name: Some("dead".into()),
            url: Some(url),
            retry: Some(crate::webhook::RetryInput {
                schedule: Some(Vec::new()),
                time_scale: None,
            }),
            ..WebhookInput::default()
        })
        .unwrap();
        let mut ids = Vec::new();
        for _ in 0..5 {
            let d = s
                .dispatch("payment_received", None, DispatchOptions::default())
                .await
                .unwrap();
            ids.extend(d.deliveries);
        }
        s.idle().await;
        let st = s.stats();
        assert_eq!((st.deliveries, st.evicted, st.pending), (3, 2, 0));
        let kept: Vec<u64> = s
            .deliveries(&DeliveryQuery::default())
            .iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(kept, vec![ids[4], ids[3], ids[2]]);
        assert!(s.delivery(ids[0]).is_none());
    }

    /// A sender with `limits` and one webhook to an address nothing listens on, retrying after
    /// `retry` (an empty schedule: no retries).
    fn sender_to_nowhere(limits: SenderLimits, retry: &[&str]) -> (Sender, watch::Sender<bool>) {
        let store = Store::new(crate::store::Limits {
            max_requests: 10,
            max_memory: 1 << 20,
            max_bins: 100,
            preview_limit: 1024,
            feed_capacity: 16,
        });
        let (stop, shutdown) = watch::channel(false);
        let s = Sender::start(store, Outbound::new(), Catalog::default(), limits, shutdown);
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", dead.local_addr().unwrap());
        drop(dead);
        s.create_webhook(WebhookInput {
            name: Some("dead".into()),
            url: Some(url),
            retry: Some(crate::webhook::RetryInput {
                schedule: Some(
                    retry
                        .iter()
                        .map(|r| crate::units::NumOrText::Text((*r).to_owned()))
                        .collect(),
                ),
                time_scale: None,
            }),
            ..WebhookInput::default()
        })
        .unwrap();
        (s, stop)
    }

    async fn until_waits(s: &Sender, n: usize) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while s.pending_waits() != n {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{n} waits never showed ({})", s.pending_waits()));
    }

    #[tokio::test]
    async fn waits_past_the_limit_are_refused_and_an_abandoned_wait_frees_its_place() {
        let limits = SenderLimits {
            max_waits: 2,
            ..SenderLimits::default()
        };
        let (s, _stop) = sender_to_nowhere(limits, &["1h"]);
        let d = s
            .dispatch("payment_received", None, DispatchOptions::default())
            .await
            .unwrap();
        let id = d.deliveries[0];
        let wait = |s: &Sender| {
            let s = s.clone();
            tokio::spawn(async move { s.wait_delivery(id, Duration::from_secs(3600)).await })
        };
        let first = wait(&s);
        let _second = wait(&s);
        until_waits(&s, 2).await;
        let third = s.wait_delivery(id, Duration::from_millis(1)).await;
        assert!(matches!(third, Err(Error::Busy(_))), "{third:?}");
        first.abort();
        let _ = first.await;
        assert_eq!(s.pending_waits(), 1);
        let _fourth = wait(&s);
        until_waits(&s, 2).await;
        assert!(matches!(
            s.wait_delivery(424_242, Duration::ZERO).await,
            Err(Error::NotFound { .. })
        ));
    }

    #[tokio::test]
    async fn a_wait_gets_the_final_outcome_even_when_the_log_evicts_the_delivery_at_once() {
        let limits = SenderLimits {
            max_deliveries: 0,
            ..SenderLimits::default()
        };
        let (s, _stop) = sender_to_nowhere(limits, &[]);
        // a receiver that takes the connection and never answers, until it goes away
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", held.local_addr().unwrap());
        let hook = s.find_webhook("dead").unwrap();
        s.update_webhook(
            hook,
            WebhookInput {
                url: Some(url),
                ..WebhookInput::default()
            },
        )
        .unwrap();
        let d = s
            .dispatch("payment_received", None, DispatchOptions::default())
            .await
            .unwrap();
        let id = d.deliveries[0];
        let s2 = s.clone();
        let wait = tokio::spawn(async move { s2.wait_delivery(id, Duration::from_secs(20)).await });
        until_waits(&s, 1).await;
        drop(held);
        match wait.await.unwrap() {
            Ok(DeliveryWait::Finished(v)) => {
                assert_eq!((v.id, v.state.as_str()), (id, "failed"));
                assert!(v.attempts[0].error.is_some(), "{v:?}");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            s.delivery(id).is_none(),
            "the log keeps no finished delivery"
        );
        assert_eq!(s.pending_waits(), 0);
    }

    #[test]
    fn a_delivery_record_reads_back_exactly_as_written() {
        let t = std::time::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        let ns = Duration::from_nanos(1);
        let url: Arc<str> = Arc::from("http://127.0.0.1:1/h");
        let base: Arc<[Header]> = vec![
            Header::new("Content-Type", &b"application/json"[..]),
            Header::new("X-Odd", vec![0xff, 0x01]),
        ]
        .into();
        let attempt = |sig, response, error: Option<&str>, next| AttemptRec {
            at: t + ns,
            url: url.clone(),
            base: base.clone(),
            timestamp: 1_700_000_000,
            sig,
            response,
            latency_us: 1234,
            error: error.map(Box::from),
            next_attempt_at: next,
        };
        let rec = Rec {
            webhook_id: 3,
            event: Arc::from("payment_received"),
            message_id: Arc::from("msg_1"),
            trigger: Trigger::Retry,
            state: DeliveryState::Pending,
            created_at: t,
            body: Bytes::from_static(b"{\"a\":1}"),
            attempts: vec![
                attempt(
                    Sig::Standard("v1,abc".into()),
                    Some(Box::new(RespRec {
                        status: 503,
                        truncated: true,
                        headers: pack_headers(&[Header::new("Retry-After", &b"3"[..])]),
                        body: Bytes::from_static(&[0, 159, 146, 150]),
                    })),
                    None,
                    Some(t + Duration::from_secs(2) + ns * 7),
                ),
                attempt(Sig::Github("sha256=00".into()), None, Some("refused"), None),
                attempt(Sig::Stripe("t=1,v1=00".into()), None, Some("refused"), None),
                attempt(Sig::Shopify("AA==".into()), None, Some("refused"), None),
                attempt(Sig::Slack("v0=00".into()), None, Some("refused"), None),
            ],
            note: Some("a note".into()),
        };
        let flight = Flight {
            at: t + ns * 9,
            url: url.clone(),
            base: base.clone(),
            timestamp: 5,
            sig: Sig::None,
        };
        let json = persist::to_json(&rec.record(Some(&flight)));
        let Ok(StoredDelivery::Delivery(back, Some(f))) = read_delivery(9, json.clone()) else {
            panic!("{json}");
        };
        assert_eq!(persist::to_json(&back.record(Some(&f))), json);
        assert_eq!(
            back.attempts[0].next_attempt_at,
            rec.attempts[0].next_attempt_at
        );
        assert_eq!(f.at, t + ns * 9);
        let body = &back.attempts[0].response.as_ref().unwrap().body;
        assert_eq!(&body[..], &[0, 159, 146, 150]);
        assert!(Arc::ptr_eq(&back.attempts[0].base, &back.attempts[1].base));
        assert_eq!(back.attempts[1].base[1].value[..], [0xff, 0x01]);
        assert_eq!(back.attempts[4].sig, Sig::Slack("v0=00".into()));
        // a Slack attempt sends its timestamp beside the signature
        let wire = wire_headers(
            &[],
            "payment_received",
            "msg_1",
            1_700_000_000,
            &back.attempts[4].sig,
        );
        assert_eq!(wire[2].name.as_ref(), sign::SLACK_TIMESTAMP);
        assert_eq!(&wire[2].value[..], b"1700000000");
        assert_eq!(wire[3].name.as_ref(), sign::SLACK_SIGNATURE);
    }

    #[test]
    fn response_headers_survive_packing() {
        let h = vec![
            Header::new("Content-Type", &b"text/plain"[..]),
            Header::new("X-Odd", &b"a:b: c"[..]),
        ];
        assert_eq!(
            unpack_headers(&pack_headers(&h)),
            vec![
                ("Content-Type".to_owned(), "text/plain".to_owned()),
                ("X-Odd".to_owned(), "a:b: c".to_owned())
            ]
        );
    }
}
