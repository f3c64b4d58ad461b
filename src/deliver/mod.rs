//! The sender (SPEC §8): webhooks, and the deliveries fired at them, signed, retried and logged
//! attempt by attempt. This file holds the one shared state (`Sender`, a cheap handle around
//! one mutex that is never held across an `.await`, the bounded queue's sending end, the retry
//! heap) and starts the tasks; each part adds its own methods to `Sender`:
//!
//! - `retry`: the pure maths of the next delay and of `Retry-After` (no clock, no I/O);
//! - `persist`: the records a backend keeps of webhooks and deliveries (plain serde data);
//! - `registry`: webhook definitions, their prepared headers and keys, CRUD and views, and
//!   their stored records;
//! - `log`: deliveries and their attempts, JSON views, listings, the live feed, the waits
//!   for a delivery's final outcome, and their stored records;
//! - `attempt`: one attempt, `prepare → call → Successful | Failed → handle`, with the typed
//!   `attempt::Outcome`;
//! - `queue`: the bounded queue, per-webhook lanes, the dispatcher and the retry scheduler;
//! - `dispatch`: the front door (dispatch, Send Test Event, redeliver);
//! - `restore`: taking back what a backend kept, at start ([`Sender::restore`]).
//!
//! With a backend behind the store (`journal`), every change to the sender's lasting state is
//! appended to it under the one mutex, in the order it happened: webhooks made, changed or
//! deleted at run time, and every delivery made, attempted (when the attempt starts and when
//! it ends), finished or dropped from the log.
//!
//! Each part uses only the parts listed before it (and this file's shared state), except that
//! `registry` ends a deleted or deactivated webhook's pending deliveries through `log`. Pending
//! deliveries are bounded ([`SenderLimits::max_pending`]): past it a dispatch is refused with 503
//! and creates nothing. A pending retry costs one heap entry (due time + id) and its compact
//! record: the body is one `Bytes` shared by every attempt and every webhook of a message, the
//! headers hookpit sets per webhook are one shared `Arc<[Header]>`, and only the timestamp and
//! signature are kept per attempt. Every delivery carries this server's `Via` entry (a
//! `(sender)` hop marker).
//!
//! Uses `webhook` (webhook definitions), `catalog`, `sign`, `outbound` (the one HTTP client and
//! the hop marker), `store` (`publish_delivery`, the instance id, the backend), `journal`, `rand`,
//! `model`, `config` and `error`.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch, Notify, Semaphore};
use tokio::time::Instant;

use crate::catalog::Catalog;
use crate::config::Config;
use crate::error::Result;
use crate::journal::{Journal, Op};
use crate::outbound::Outbound;
use crate::store::Store;
use crate::webhook::WebhookInput;

mod attempt;
mod dispatch;
mod log;
mod persist;
mod queue;
mod registry;
mod restore;
mod retry;

pub use dispatch::{make_body, DispatchOptions, Dispatched, TestOutcome};
pub use log::{
    AttemptView, DeliveryQuery, DeliveryState, DeliveryView, DeliveryWait, RequestView,
    ResponseView, Trigger,
};
pub use registry::{RetryView, WebhookView};
pub use restore::Restored;
pub use retry::{parse_retry_after, retry_delay, JITTER};

use log::{Rec, Waits};
use queue::{dispatcher, scheduler, Lane};
use registry::{Hook, Origin};

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
    /// Waits for a delivery's outcome pending at once (`GET /_/api/deliveries/{id}/wait`); past
    /// it a wait is refused (503).
    pub max_waits: usize,
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
            max_waits: 1024,
        }
    }
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

#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    pending: usize,
    working: usize,
}

/// Everything behind the one mutex: the registry's webhooks, the log, the lanes, the counts the
/// progress watch reports, and the waits for deliveries' outcomes.
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
    waits: Waits,
}

struct Inner {
    store: Store,
    /// The backend behind the store, told every change of the sender's lasting state.
    journal: Option<Arc<dyn Journal>>,
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
                journal: store.journal_handle(),
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
                    waits: Waits::default(),
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
            s.add_hook(
                def.clone(),
                Origin::File {
                    name: Arc::from(def.name.as_str()),
                    changed: false,
                },
            )?;
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
            let catalog = s.catalog();
            let def = WebhookInput {
                name: Some(DEMO_NAME.to_owned()),
                url: Some(format!("http://{host}/demo")),
                events: Some(vec!["*".to_owned()]),
                ..WebhookInput::default()
            }
            .build(None, &|n| catalog.get(n).is_some())?;
            s.add_hook(
                def,
                Origin::File {
                    name: Arc::from(DEMO_NAME),
                    changed: false,
                },
            )?;
        }
        Ok(s)
    }

    /// Tells the backend (if any) of a change; `op` is built only when there is one. Called
    /// under the state's lock, so changes reach it in the order they happened.
    fn append(&self, op: impl FnOnce() -> Op) {
        if let Some(j) = &self.inner.journal {
            j.append(op());
        }
    }

    /// Whether a backend listens (no record is built without one).
    fn journaled(&self) -> bool {
        self.inner.journal.is_some()
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

    /// A uniform number in [0, 1) (only for jitter).
    fn rand(&self) -> f64 {
        crate::rand::next_f64_shared(&self.inner.rng)
    }

    /// The event catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
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
}

/// The name of the webhook a server starts with when no config file declares webhooks.
pub const DEMO_NAME: &str = "Local demo";
