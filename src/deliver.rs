//! The sender (SPEC §8): the webhook registry, the bounded delivery queue and its dispatcher
//! (at most a few attempts in flight per webhook), one scheduler task holding every pending
//! retry in a heap keyed by due time, and the in-memory delivery log (message → deliveries →
//! attempts) whose every change is published to viewers. Pending deliveries are bounded
//! ([`SenderLimits::max_pending`]): past it a dispatch is refused with 503 and creates nothing.
//! Every delivery carries this server's `Via` entry (a `(sender)` hop marker).
//!
//! Uses `webhook` (webhook definitions), `catalog`, `sign`, `outbound` (the one HTTP client and
//! the hop marker), `store` (`publish_delivery`, the instance id), `model`, `config`, `units` and `error`. All state sits behind one
//! mutex that is never held across an `.await`. A failed delivery is a value in the log, never an
//! `Err`. A pending retry costs one heap entry (due time + id) and its compact record: the body
//! is one `Bytes` shared by every attempt and every webhook of a message, the headers hookpit
//! sets per webhook are one shared `Arc<[Header]>`, and only the timestamp and signature are kept
//! per attempt (the exact headers sent are rebuilt from them by the same function that built
//! them for the wire).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch, Notify, Semaphore};
use tokio::time::Instant;

use crate::catalog::{event_matches, Catalog};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::{format_time, Header};
use crate::outbound::{Outbound, Outgoing};
use crate::sign::{self, Secret};
use crate::store::Store;
use crate::units::format_duration;
use crate::webhook::{Format, RetryPolicy, SignatureScheme, WebhookDef, WebhookInput};

/// Retry delays vary by up to this fraction either way (±20 %).
pub const JITTER: f64 = 0.2;

/// The sender's sizes.
#[derive(Debug, Clone, Copy)]
pub struct SenderLimits {
    /// Deliveries waiting in the queue before enqueueing awaits (work is never dropped).
    pub queue: usize,
    /// Attempts in flight per webhook.
    pub per_webhook: usize,
    /// Deliveries taken off the queue but waiting for their webhook's turn, across webhooks.
    pub backlog: usize,
    /// Finished deliveries kept in the log (pending ones are always kept).
    pub max_deliveries: usize,
    /// Response body bytes kept per attempt.
    pub keep_response: usize,
    /// Deliveries pending at once (queued, in flight or waiting on a retry); past it a dispatch
    /// is refused (503) and nothing is created.
    pub max_pending: usize,
}

impl Default for SenderLimits {
    fn default() -> Self {
        SenderLimits {
            queue: 1024,
            per_webhook: 4,
            backlog: 16 * 1024,
            max_deliveries: 10_000,
            keep_response: 64 * 1024,
            max_pending: 10_000,
        }
    }
}

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

// ---------------------------------------------------------------------------------------------
// JSON views (SPEC §12)
// ---------------------------------------------------------------------------------------------

/// A webhook's retry settings as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryView {
    pub schedule: Vec<String>,
    pub time_scale: f64,
}

/// Webhook JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookView {
    pub id: u64,
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
    pub secret: String,
    pub signature: String,
    pub headers: Vec<(String, String)>,
    pub timeout: String,
    pub retry: RetryView,
    pub format: String,
    pub insecure_tls: bool,
    pub sent_count: u64,
    pub last_status: Option<u16>,
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

/// The answer to a dispatch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dispatched {
    pub message_id: String,
    pub event: String,
    pub deliveries: Vec<u64>,
}

/// The answer to Send Test Event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestOutcome {
    /// True only for a 2xx.
    pub ok: bool,
    pub status: Option<u16>,
    pub latency_ms: f64,
    pub response: Option<ResponseView>,
    pub error: Option<String>,
    pub delivery_id: u64,
}

/// Figures about the sender.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SenderStats {
    pub webhooks: usize,
    /// Deliveries in the log.
    pub deliveries: usize,
    /// Deliveries not finished yet.
    pub pending: usize,
    /// Pending deliveries queued or in flight (not waiting on a retry timer).
    pub working: usize,
    /// Pending deliveries waiting on a retry timer.
    pub pending_retries: usize,
    /// Finished deliveries dropped from the log to keep it bounded.
    pub evicted: u64,
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

/// How to dispatch.
#[derive(Debug, Clone, Copy)]
pub struct DispatchOptions {
    pub trigger: Trigger,
    /// Only this webhook (whatever its events list), instead of every subscribed one.
    pub webhook: Option<u64>,
}

impl Default for DispatchOptions {
    fn default() -> Self {
        DispatchOptions {
            trigger: Trigger::Event,
            webhook: None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
enum SignKey {
    Standard(Secret),
    Raw(Arc<[u8]>),
    None,
}

struct Hook {
    def: WebhookDef,
    url: Arc<str>,
    key: SignKey,
    /// Content-Type, User-Agent and the custom headers, as sent.
    base: Arc<[Header]>,
    sent_count: u64,
    last_status: Option<u16>,
}

impl Hook {
    /// `via` is this server's `Via` entry for deliveries, appended to the headers sent.
    fn new(def: WebhookDef, via: &str) -> Result<Hook> {
        let key = match def.signature {
            SignatureScheme::StandardWebhooks => SignKey::Standard(
                Secret::parse(&def.secret).map_err(|e| Error::bad("secret", e.to_string()))?,
            ),
            SignatureScheme::Github => SignKey::Raw(Arc::from(def.secret.as_bytes())),
            SignatureScheme::None => SignKey::None,
        };
        let mut base = vec![
            Header::new("Content-Type", &b"application/json"[..]),
            Header::new(
                "User-Agent",
                format!("hookpit/{}", env!("CARGO_PKG_VERSION")).into_bytes(),
            ),
        ];
        for (k, v) in &def.headers {
            match base[..2]
                .iter_mut()
                .find(|h| h.name.eq_ignore_ascii_case(k))
            {
                Some(h) => *h = Header::new(k.as_str(), v.as_bytes()),
                None => base.push(Header::new(k.as_str(), v.as_bytes())),
            }
        }
        crate::outbound::append_via(&mut base, via);
        Ok(Hook {
            url: Arc::from(def.url.as_str()),
            key,
            base: base.into(),
            def,
            sent_count: 0,
            last_status: None,
        })
    }

    fn view(&self, id: u64) -> WebhookView {
        let d = &self.def;
        WebhookView {
            id,
            name: d.name.clone(),
            url: d.url.clone(),
            events: d.events.clone(),
            active: d.active,
            secret: d.secret.clone(),
            signature: d.signature.as_str().to_owned(),
            headers: d.headers.clone(),
            timeout: format_duration(d.timeout),
            retry: RetryView {
                schedule: d
                    .retry
                    .schedule
                    .iter()
                    .map(|s| format_duration(*s))
                    .collect(),
                time_scale: d.retry.time_scale,
            },
            format: d.format.as_str().to_owned(),
            insecure_tls: d.insecure_tls,
            sent_count: self.sent_count,
            last_status: self.last_status,
        }
    }
}

/// The signature header of one attempt.
enum Sig {
    None,
    Standard(Box<str>),
    Github(Box<str>),
}

/// A response, compactly: headers packed as `name:value\n` lines.
struct RespRec {
    status: u16,
    truncated: bool,
    headers: Box<[u8]>,
    body: Bytes,
}

struct AttemptRec {
    at: SystemTime,
    url: Arc<str>,
    base: Arc<[Header]>,
    timestamp: i64,
    sig: Sig,
    response: Option<Box<RespRec>>,
    latency_us: u64,
    error: Option<Box<str>>,
    next_attempt_at: Option<SystemTime>,
}

struct Rec {
    webhook_id: u64,
    event: Arc<str>,
    message_id: Arc<str>,
    trigger: Trigger,
    state: DeliveryState,
    created_at: SystemTime,
    body: Bytes,
    attempts: Vec<AttemptRec>,
    note: Option<Box<str>>,
}

#[derive(Default)]
struct Lane {
    in_flight: usize,
    waiting: VecDeque<u64>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    pending: usize,
    working: usize,
}

struct State {
    next_hook: u64,
    hooks: BTreeMap<u64, Hook>,
    next_delivery: u64,
    log: BTreeMap<u64, Rec>,
    finished: BTreeSet<u64>,
    evicted: u64,
    lanes: HashMap<u64, Lane>,
    pending: usize,
    working: usize,
}

struct Inner {
    store: Store,
    http: Outbound,
    catalog: Catalog,
    limits: SenderLimits,
    state: Mutex<State>,
    queue: mpsc::Sender<u64>,
    timers: Mutex<BinaryHeap<Reverse<(Instant, u64)>>>,
    wake: Notify,
    backlog: Semaphore,
    progress: watch::Sender<Progress>,
    rng: AtomicU64,
}

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

enum Step {
    Skip,
    Cancel(&'static str),
    Send(Plan),
}

/// The sender; cheap to clone.
#[derive(Clone)]
pub struct Sender {
    inner: Arc<Inner>,
}

impl Sender {
    /// Starts the dispatcher and scheduler tasks on the current runtime; they stop when
    /// `shutdown` turns true (or its sender is dropped).
    pub fn start(
        store: Store,
        http: Outbound,
        catalog: Catalog,
        limits: SenderLimits,
        shutdown: watch::Receiver<bool>,
    ) -> Sender {
        let (tx, rx) = mpsc::channel(limits.queue.max(1));
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        let (progress, _) = watch::channel(Progress::default());
        let s = Sender {
            inner: Arc::new(Inner {
                store,
                http,
                catalog,
                limits,
                state: Mutex::new(State {
                    next_hook: 1,
                    hooks: BTreeMap::new(),
                    next_delivery: 1,
                    log: BTreeMap::new(),
                    finished: BTreeSet::new(),
                    evicted: 0,
                    lanes: HashMap::new(),
                    pending: 0,
                    working: 0,
                }),
                queue: tx,
                timers: Mutex::new(BinaryHeap::new()),
                wake: Notify::new(),
                backlog: Semaphore::new(limits.backlog.max(1)),
                progress,
                rng: AtomicU64::new(u64::from_le_bytes(seed)),
            }),
        };
        tokio::spawn(dispatcher(s.clone(), rx, shutdown.clone()));
        tokio::spawn(scheduler(s.clone(), shutdown));
        s
    }

    /// The sender a server runs: the catalog with the config's custom events, the config's
    /// webhooks and, when `config.demo_webhook`, the "Local demo" webhook to this server's own
    /// bin `demo` (`addr` is the bound address).
    pub fn for_server(
        config: &Config,
        store: Store,
        http: Outbound,
        addr: SocketAddr,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Sender> {
        let catalog = Catalog::new(config.events.clone());
        let s = Sender::start(store, http, catalog, SenderLimits::default(), shutdown);
        for def in &config.webhooks {
            s.add_webhook(def.clone())?;
        }
        if config.demo_webhook && !config.webhooks.iter().any(|w| w.name == DEMO_NAME) {
            let mut host = addr;
            if host.ip().is_unspecified() {
                host.set_ip(if host.is_ipv4() {
                    std::net::Ipv4Addr::LOCALHOST.into()
                } else {
                    std::net::Ipv6Addr::LOCALHOST.into()
                });
            }
            s.create_webhook(WebhookInput {
                name: Some(DEMO_NAME.to_owned()),
                url: Some(format!("http://{host}/demo")),
                events: Some(vec!["*".to_owned()]),
                ..WebhookInput::default()
            })?;
        }
        Ok(s)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn timers(&self) -> MutexGuard<'_, BinaryHeap<Reverse<(Instant, u64)>>> {
        self.inner.timers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self, st: &State) {
        self.inner.progress.send_replace(Progress {
            pending: st.pending,
            working: st.working,
        });
    }

    /// A uniform number in [0, 1) (splitmix64; only for jitter).
    fn rand(&self) -> f64 {
        let mut z = self
            .inner
            .rng
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The `Via` entry deliveries carry: this server's hop marker, as the sender's.
    fn via(&self) -> String {
        crate::outbound::via_entry(self.inner.store.instance(), true)
    }

    /// The event catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    // -- webhooks ------------------------------------------------------------------------------

    /// Every webhook, by id.
    pub fn webhooks(&self) -> Vec<WebhookView> {
        self.lock()
            .hooks
            .iter()
            .map(|(id, h)| h.view(*id))
            .collect()
    }

    /// One webhook.
    pub fn webhook(&self, id: u64) -> Option<WebhookView> {
        self.lock().hooks.get(&id).map(|h| h.view(id))
    }

    /// Resolves a webhook id (digits) or exact name.
    pub fn find_webhook(&self, id_or_name: &str) -> Result<u64> {
        let st = self.lock();
        if let Ok(id) = id_or_name.parse::<u64>() {
            if st.hooks.contains_key(&id) {
                return Ok(id);
            }
        }
        st.hooks
            .iter()
            .find(|(_, h)| h.def.name == id_or_name)
            .map(|(id, _)| *id)
            .ok_or_else(|| Error::not_found("webhook", id_or_name))
    }

    /// Adds a validated webhook.
    pub fn add_webhook(&self, def: WebhookDef) -> Result<WebhookView> {
        let hook = Hook::new(def, &self.via())?;
        let mut st = self.lock();
        if st.hooks.values().any(|h| h.def.name == hook.def.name) {
            return Err(Error::bad(
                "name",
                format!("a webhook named `{}` already exists", hook.def.name),
            ));
        }
        let id = st.next_hook;
        st.next_hook += 1;
        let v = hook.view(id);
        st.hooks.insert(id, hook);
        Ok(v)
    }

    /// Validates and adds a webhook (`POST /_/api/webhooks`).
    pub fn create_webhook(&self, input: WebhookInput) -> Result<WebhookView> {
        let catalog = &self.inner.catalog;
        let def = input.build(None, &|n| catalog.get(n).is_some())?;
        self.add_webhook(def)
    }

    /// Changes the fields `input` names (`PUT /_/api/webhooks/{id}`); counts are kept.
    pub fn update_webhook(&self, id: u64, input: WebhookInput) -> Result<WebhookView> {
        let base = self
            .lock()
            .hooks
            .get(&id)
            .map(|h| h.def.clone())
            .ok_or_else(|| Error::not_found("webhook", id))?;
        let catalog = &self.inner.catalog;
        let def = input.build(Some(&base), &|n| catalog.get(n).is_some())?;
        let mut hook = Hook::new(def, &self.via())?;
        let mut st = self.lock();
        if st
            .hooks
            .iter()
            .any(|(other, h)| *other != id && h.def.name == hook.def.name)
        {
            return Err(Error::bad(
                "name",
                format!("a webhook named `{}` already exists", hook.def.name),
            ));
        }
        let slot = st
            .hooks
            .get_mut(&id)
            .ok_or_else(|| Error::not_found("webhook", id))?;
        hook.sent_count = slot.sent_count;
        hook.last_status = slot.last_status;
        *slot = hook;
        Ok(slot.view(id))
    }

    /// Deletes a webhook; its pending deliveries fail at their next turn.
    pub fn delete_webhook(&self, id: u64) -> Result<()> {
        match self.lock().hooks.remove(&id) {
            Some(_) => Ok(()),
            None => Err(Error::not_found("webhook", id)),
        }
    }

    // -- dispatch ------------------------------------------------------------------------------

    /// Fires `event` with `payload` (the catalog sample when `None`) at every active webhook
    /// subscribed to it (or at `opts.webhook` alone). Returns once every delivery is queued;
    /// when the queue is full this waits, it never drops work.
    pub async fn dispatch(
        &self,
        event: &str,
        payload: Option<Value>,
        opts: DispatchOptions,
    ) -> Result<Dispatched> {
        let def = self
            .inner
            .catalog
            .get(event)
            .ok_or_else(|| Error::not_found("event", event))?;
        let payload = match payload {
            Some(p) => p,
            None => def.sample.clone(),
        };
        let targets: Vec<(u64, Format)> = {
            let st = self.lock();
            match opts.webhook {
                Some(id) => {
                    let h = st
                        .hooks
                        .get(&id)
                        .ok_or_else(|| Error::not_found("webhook", id))?;
                    if !h.def.active {
                        return Err(Error::bad(
                            "webhook",
                            format!("webhook `{}` is inactive", h.def.name),
                        ));
                    }
                    vec![(id, h.def.format)]
                }
                None => st
                    .hooks
                    .iter()
                    .filter(|(_, h)| h.def.active && event_matches(&h.def.events, event))
                    .map(|(id, h)| (*id, h.def.format))
                    .collect(),
            }
        };
        let msg: Arc<str> = Arc::from(new_msg_id()?);
        let ev: Arc<str> = Arc::from(event);
        let mut raw = None;
        let mut envelope = None;
        for (_, f) in &targets {
            let slot = match f {
                Format::Raw => &mut raw,
                Format::Envelope => &mut envelope,
            };
            if slot.is_none() {
                *slot = Some(make_body(*f, event, &payload)?);
            }
        }
        let (ids, views) = {
            let mut st = self.lock();
            self.room(&st, targets.len())?;
            let mut ids = Vec::with_capacity(targets.len());
            for (id, f) in &targets {
                if !st.hooks.contains_key(id) {
                    continue;
                }
                let body = match f {
                    Format::Raw => raw.clone(),
                    Format::Envelope => envelope.clone(),
                }
                .unwrap_or_default();
                ids.push(self.create(&mut st, *id, ev.clone(), msg.clone(), opts.trigger, body));
            }
            let views: Vec<_> = if self.live() {
                ids.iter()
                    .filter_map(|id| view_of(&st, *id, false))
                    .collect()
            } else {
                Vec::new()
            };
            (ids, views)
        };
        self.publish(views);
        for id in &ids {
            self.enqueue(*id).await;
        }
        Ok(Dispatched {
            message_id: msg.to_string(),
            event: event.to_owned(),
            deliveries: ids,
        })
    }

    /// Send Test Event: one attempt to webhook `id` now (active or not), no retries; waits for
    /// the outcome. `event` defaults to the webhook's first event (for a glob, the first catalog
    /// event it matches) and `payload` to that event's sample.
    pub async fn test(
        &self,
        id: u64,
        event: Option<&str>,
        payload: Option<Value>,
    ) -> Result<TestOutcome> {
        let (format, patterns) = self
            .lock()
            .hooks
            .get(&id)
            .map(|h| (h.def.format, h.def.events.clone()))
            .ok_or_else(|| Error::not_found("webhook", id))?;
        let catalog = &self.inner.catalog;
        let event = match event {
            Some(e) => e.to_owned(),
            None => patterns
                .iter()
                .find_map(|p| catalog.matching(p).first().map(|e| e.name.clone()))
                .ok_or_else(|| {
                    Error::bad(
                        "event",
                        "the webhook's events match no catalog event; name one",
                    )
                })?,
        };
        let payload = match payload {
            Some(p) => p,
            None => catalog
                .get(&event)
                .map(|d| d.sample.clone())
                .ok_or_else(|| Error::not_found("event", &event))?,
        };
        let body = make_body(format, &event, &payload)?;
        let msg: Arc<str> = Arc::from(new_msg_id()?);
        let (did, view) = {
            let mut st = self.lock();
            if !st.hooks.contains_key(&id) {
                return Err(Error::not_found("webhook", id));
            }
            self.room(&st, 1)?;
            let did = self.create(
                &mut st,
                id,
                Arc::from(event.as_str()),
                msg,
                Trigger::Test,
                body,
            );
            (did, self.live().then(|| view_of(&st, did, false)).flatten())
        };
        self.publish(view.into_iter().collect());
        let a = self.attempt(did).await;
        Ok(match a {
            Some(a) => TestOutcome {
                ok: a
                    .response
                    .as_ref()
                    .is_some_and(|r| (200..300).contains(&r.status)),
                status: a.response.as_ref().map(|r| r.status),
                latency_ms: a.latency_ms,
                response: a.response,
                error: a.error,
                delivery_id: did,
            },
            None => TestOutcome {
                ok: false,
                status: None,
                latency_ms: 0.0,
                response: None,
                error: Some("the webhook was deleted".to_owned()),
                delivery_id: did,
            },
        })
    }

    /// Redelivers a logged delivery as a new one (trigger `retry`) with the same message id
    /// and body, through the queue and the webhook's retry schedule. Its first attempt goes out
    /// even when the webhook is inactive.
    pub async fn redeliver(&self, id: u64) -> Result<DeliveryView> {
        let (nid, view) = {
            let mut st = self.lock();
            let rec = st
                .log
                .get(&id)
                .ok_or_else(|| Error::not_found("delivery", id))?;
            let (wh, ev, msg, body) = (
                rec.webhook_id,
                rec.event.clone(),
                rec.message_id.clone(),
                rec.body.clone(),
            );
            if !st.hooks.contains_key(&wh) {
                return Err(Error::not_found("webhook", wh));
            }
            self.room(&st, 1)?;
            let nid = self.create(&mut st, wh, ev, msg, Trigger::Retry, body);
            (nid, view_of(&st, nid, false))
        };
        let view = view.ok_or_else(|| Error::not_found("delivery", nid))?;
        self.publish(vec![view.clone()]);
        self.enqueue(nid).await;
        Ok(view)
    }

    /// Is there room for `n` more pending deliveries? Past [`SenderLimits::max_pending`] the
    /// caller is told at once (503) rather than accepted and dropped later.
    fn room(&self, st: &State, n: usize) -> Result<()> {
        let max = self.inner.limits.max_pending;
        if st.pending.saturating_add(n) > max {
            return Err(Error::Busy(format!(
                "{max} deliveries are already pending (the sender's limit); \
                 try again when some have finished"
            )));
        }
        Ok(())
    }

    fn create(
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
        self.bump(st);
        id
    }

    async fn enqueue(&self, id: u64) {
        if self.inner.queue.send(id).await.is_err() {
            let v = {
                let mut st = self.lock();
                self.finish(
                    &mut st,
                    id,
                    DeliveryState::Failed,
                    Some("the sender has stopped"),
                )
            };
            self.publish(v.into_iter().collect());
        }
    }

    /// Is any viewer listening? Views are built for the live feed only then.
    fn live(&self) -> bool {
        self.inner.store.has_subscribers()
    }

    fn publish(&self, views: Vec<DeliveryView>) {
        for v in views {
            if let Ok(j) = serde_json::to_value(&v) {
                self.inner.store.publish_delivery(j);
            }
        }
    }

    /// Ends a delivery; returns its final view.
    fn finish(
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
        st.working = st.working.saturating_sub(1);
        st.finished.insert(id);
        let view = self.live().then(|| view_of(st, id, false)).flatten();
        while st.finished.len() > self.inner.limits.max_deliveries {
            let Some(old) = st.finished.pop_first() else {
                break;
            };
            st.log.remove(&old);
            st.evicted += 1;
        }
        self.bump(st);
        view
    }

    fn plan(&self, st: &State, id: u64) -> Step {
        let Some(rec) = st.log.get(&id) else {
            return Step::Skip;
        };
        if rec.state != DeliveryState::Pending {
            return Step::Skip;
        }
        let Some(h) = st.hooks.get(&rec.webhook_id) else {
            return Step::Cancel("the webhook was deleted");
        };
        let forced = rec.trigger == Trigger::Test
            || (rec.trigger == Trigger::Retry && rec.attempts.is_empty());
        if !h.def.active && !forced {
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

    /// Makes one attempt of a pending delivery and records it. Returns the attempt's view for
    /// a test delivery.
    async fn attempt(&self, id: u64) -> Option<AttemptView> {
        let step = {
            let st = self.lock();
            self.plan(&st, id)
        };
        let plan = match step {
            Step::Skip => return None,
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
        let at = SystemTime::now();
        let ts = unix_now();
        let sig = match &plan.key {
            SignKey::Standard(s) => Sig::Standard(sign::sign(s, &plan.msg, ts, &plan.body).into()),
            SignKey::Raw(k) => Sig::Github(sign::github_sign(k, &plan.body).into()),
            SignKey::None => Sig::None,
        };
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
        let status = outcome.status;
        let ok = matches!(status, Some(200..=299));
        let test = plan.trigger == Trigger::Test;
        let gone = status == Some(410) && !test;
        let response = status.map(|s| {
            Box::new(RespRec {
                status: s,
                truncated: outcome.body_truncated,
                headers: pack_headers(&outcome.headers),
                body: Bytes::copy_from_slice(&outcome.body),
            })
        });
        let (views, attempt_view, due) = {
            let mut st = self.lock();
            let n = st.log.get(&id).map_or(0, |r| r.attempts.len()) + 1;
            let mut delay = None;
            if let Some(h) = st.hooks.get_mut(&plan.webhook_id) {
                // "sent" counts deliveries (once, at their first attempt), not attempts; test
                // events are the webhook form's and stay out of it
                if !test {
                    if n == 1 {
                        h.sent_count += 1;
                    }
                    h.last_status = status;
                }
                if gone {
                    h.def.active = false;
                }
                if !ok && !gone && !test {
                    delay = retry_delay(&h.def.retry, n, retry_after, self.rand());
                }
            }
            let rec = st.log.get_mut(&id)?;
            // exact growth: a pending retry keeps one attempt, not a default capacity of four
            rec.attempts.reserve_exact(1);
            rec.attempts.push(AttemptRec {
                at,
                url: plan.url.clone(),
                base: plan.base.clone(),
                timestamp: ts,
                sig,
                response,
                latency_us: outcome.latency.as_micros().min(u128::from(u64::MAX)) as u64,
                error: outcome.error.map(Box::from),
                next_attempt_at: delay.map(|d| SystemTime::now() + d),
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
            let (view, due) = if ok {
                (
                    self.finish(&mut st, id, DeliveryState::Succeeded, None),
                    None,
                )
            } else if gone {
                let note = "410 Gone: the webhook was deactivated";
                (
                    self.finish(&mut st, id, DeliveryState::Failed, Some(note)),
                    None,
                )
            } else if let Some(d) = delay {
                // the timer goes in before `working` drops, so `drained()` never sees a gap
                // (lock order: state, then timers; nothing takes them the other way round)
                self.timers().push(Reverse((Instant::now() + d, id)));
                st.working = st.working.saturating_sub(1);
                self.bump(&st);
                (
                    self.live().then(|| view_of(&st, id, false)).flatten(),
                    Some(()),
                )
            } else {
                (self.finish(&mut st, id, DeliveryState::Failed, None), None)
            };
            (view, attempt_view, due)
        };
        if due.is_some() {
            self.inner.wake.notify_one();
        }
        self.publish(views.into_iter().collect());
        attempt_view
    }

    /// Takes a queued delivery off the queue into its webhook's lane.
    fn route(&self, id: u64) {
        let spawn = {
            let mut st = self.lock();
            let Some(wh) = st.log.get(&id).map(|r| r.webhook_id) else {
                drop(st);
                self.inner.backlog.add_permits(1);
                return;
            };
            let per = self.inner.limits.per_webhook.max(1);
            let lane = st.lanes.entry(wh).or_default();
            if lane.in_flight < per {
                lane.in_flight += 1;
                Some(wh)
            } else {
                lane.waiting.push_back(id);
                None
            }
        };
        if let Some(wh) = spawn {
            self.inner.backlog.add_permits(1);
            let s = self.clone();
            tokio::spawn(async move { s.work(wh, id).await });
        }
    }

    /// One of a webhook's workers: attempts `id`, then whatever waits in the lane.
    async fn work(self, wh: u64, mut id: u64) {
        loop {
            self.attempt(id).await;
            let next = {
                let mut st = self.lock();
                let (next, empty) = match st.lanes.get_mut(&wh) {
                    Some(lane) => match lane.waiting.pop_front() {
                        Some(n) => (Some(n), false),
                        None => {
                            lane.in_flight = lane.in_flight.saturating_sub(1);
                            (None, lane.in_flight == 0)
                        }
                    },
                    None => (None, false),
                };
                if empty {
                    st.lanes.remove(&wh);
                }
                next
            };
            match next {
                Some(n) => {
                    self.inner.backlog.add_permits(1);
                    id = n;
                }
                None => return,
            }
        }
    }

    // -- the log -------------------------------------------------------------------------------

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

    /// Pending deliveries waiting on a retry timer.
    pub fn pending_retries(&self) -> usize {
        self.timers().len()
    }

    /// Figures about the sender.
    pub fn stats(&self) -> SenderStats {
        let pending_retries = self.pending_retries();
        let st = self.lock();
        SenderStats {
            webhooks: st.hooks.len(),
            deliveries: st.log.len(),
            pending: st.pending,
            working: st.working,
            pending_retries,
            evicted: st.evicted,
        }
    }

    /// Resolves when no delivery is pending (all succeeded or failed).
    pub async fn idle(&self) {
        let mut rx = self.inner.progress.subscribe();
        let _ = rx.wait_for(|p| p.pending == 0).await;
    }

    /// Resolves when nothing is queued or in flight: every pending delivery waits on a timer.
    pub async fn drained(&self) {
        let mut rx = self.inner.progress.subscribe();
        let _ = rx.wait_for(|p| p.working == 0).await;
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
}

/// The name of the webhook a server starts with when no config file declares webhooks.
pub const DEMO_NAME: &str = "Local demo";

async fn dispatcher(s: Sender, mut rx: mpsc::Receiver<u64>, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        // room in the backlog first, so a slow webhook's lane cannot grow without bound
        let permit = tokio::select! {
            p = s.inner.backlog.acquire() => p,
            _ = shutdown.changed() => return,
        };
        match permit {
            Ok(p) => p.forget(),
            Err(_) => return,
        }
        let id = tokio::select! {
            id = rx.recv() => id,
            _ = shutdown.changed() => return,
        };
        match id {
            Some(id) => s.route(id),
            None => return,
        }
    }
}

async fn scheduler(s: Sender, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let now = Instant::now();
        let mut due = Vec::new();
        let next = {
            let mut t = s.timers();
            while t.peek().is_some_and(|Reverse((at, _))| *at <= now) {
                if let Some(Reverse((_, id))) = t.pop() {
                    due.push(id);
                }
            }
            t.peek().map(|Reverse((at, _))| *at)
        };
        if !due.is_empty() {
            {
                let mut st = s.lock();
                due.retain(|id| {
                    st.log
                        .get(id)
                        .is_some_and(|r| r.state == DeliveryState::Pending)
                });
                st.working += due.len();
                s.bump(&st);
            }
            for id in due {
                tokio::select! {
                    r = s.inner.queue.send(id) => if r.is_err() { return },
                    _ = shutdown.changed() => return,
                }
            }
            continue;
        }
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            _ = s.inner.wake.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pure helpers
// ---------------------------------------------------------------------------------------------

fn new_msg_id() -> Result<String> {
    sign::new_msg_id().map_err(|e| Error::Io(std::io::Error::other(e.to_string())))
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The body of a delivery: the payload itself (`raw`) or `{"type","timestamp","data"}`.
pub fn make_body(format: Format, event: &str, payload: &Value) -> Result<Bytes> {
    let mut bytes = match format {
        Format::Raw => serde_json::to_vec(payload)?,
        Format::Envelope => serde_json::to_vec(&json!({
            "type": event,
            "timestamp": format_time(SystemTime::now()),
            "data": payload,
        }))?,
    };
    // kept for every pending retry: no spare capacity
    bytes.shrink_to_fit();
    Ok(Bytes::from(bytes))
}

/// The headers of one attempt, in the order they are sent: the webhook's base headers, then
/// `webhook-id`, `webhook-timestamp` and the signature header.
fn wire_headers(base: &[Header], msg_id: &str, ts: i64, sig: &Sig) -> Vec<Header> {
    let mut v = Vec::with_capacity(base.len() + 3);
    v.extend(base.iter().cloned());
    v.push(Header::new(sign::WEBHOOK_ID, msg_id.as_bytes()));
    v.push(Header::new(
        sign::WEBHOOK_TIMESTAMP,
        ts.to_string().into_bytes(),
    ));
    match sig {
        Sig::Standard(s) => v.push(Header::new(sign::WEBHOOK_SIGNATURE, s.as_bytes())),
        Sig::Github(s) => v.push(Header::new(sign::GITHUB_SIGNATURE_256, s.as_bytes())),
        Sig::None => {}
    }
    v
}

fn pack_headers(h: &[Header]) -> Box<[u8]> {
    let mut out = Vec::with_capacity(h.iter().map(|h| h.name.len() + h.value.len() + 2).sum());
    for h in h {
        out.extend_from_slice(h.name.as_bytes());
        out.push(b':');
        out.extend(h.value.iter().map(|b| if *b == b'\n' { b' ' } else { *b }));
        out.push(b'\n');
    }
    out.into_boxed_slice()
}

fn unpack_headers(b: &[u8]) -> Vec<(String, String)> {
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

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn attempt_view(rec: &Rec, i: usize, a: &AttemptRec, bodies: bool) -> AttemptView {
    let headers = wire_headers(&a.base, &rec.message_id, a.timestamp, &a.sig)
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

fn view_of(st: &State, id: u64, omit_bodies: bool) -> Option<DeliveryView> {
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
