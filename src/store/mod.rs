//! The store: every bin, every kept request, the retention limits, and the one broadcast feed
//! that viewers and waiters hang off.
//!
//! Owns all captured state behind one lock, and only mutates it: `record` is the only way a
//! request gets in, and it assigns the id, inserts, evicts and publishes under that lock, so the
//! feed's order is id order and a subscriber can never see an event for a request the store does
//! not hold. Bins are kept in least-recently-used order and bounded (`max_bins`); their
//! bookkeeping counts toward the memory budget. Never awaits while holding the lock, and never
//! matches filters or serialises JSON under it: readers (listings, `q=` filters, the rules'
//! `decide` inputs, waits) take `Arc` snapshots under the lock and do the work after. The feed's
//! JSON is made lazily, once per event, however many viewers read it. Waits live in `wait`.
//! Uses `model`, `matcher` and `rules`; called by the server, the API and the live feed.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::SystemTime;

use bytes::Bytes;
use serde_json::json;
use tokio::sync::broadcast;

use crate::journal::{BinRecord, Gone, Health, Journal, Op, Snapshot};
use crate::model::{BinSummary, CapturedRequest, RequestId};
use crate::rules::{BinRules, BinSetup, Progress};

mod index;
mod wait;
use index::IdIndex;
use wait::BinWaits;
pub use wait::{Miss, WaitFailed, WaitOutcome, WaitReport, WaitSpec};

/// Retention limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_requests: usize,
    pub max_memory: usize,
    /// Bins kept at once; past it the least recently used one is evicted with its requests.
    pub max_bins: usize,
    /// Bodies above this are left out of the feed's `request` messages.
    pub preview_limit: usize,
    pub feed_capacity: usize,
}

/// The most requests one wait may ask for.
pub const MAX_WAIT_COUNT: usize = 10_000;
/// Bins listed in a `hello` (the most recently active); the rest are in `GET /_/api/bins`.
pub const HELLO_BINS: usize = 200;
/// What a bin costs in the memory budget besides its name and config.
const BIN_WEIGHT: usize = 512;
/// What a bin's config costs in memory per byte of its JSON: the parsed config is kept twice
/// (the settings and the summaries' shared copy) and compiled into rules (measured: about 15).
const CONFIG_WEIGHT_PER_BYTE: usize = 16;
/// Configs larger than this (as JSON) are abridged in listings: `hello`, `GET /_/api/bins` and
/// the feed's `bin` messages name their keys only (`config_omitted`); `GET /_/api/bins/{bin}`
/// has the whole config.
const LISTED_CONFIG_MAX: usize = 4096;
/// Requests read under the lock at a time by listings and the wait matcher.
const CHUNK: usize = 1024;

/// What a shared store says of a request's bin when it hands the request over
/// ([`Store::ingest`]); each replaces what this store would have counted itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct BinFacts {
    /// The bin's sequence position after this request's step, when it took one.
    pub sequence_position: Option<usize>,
    /// The bin's eviction count.
    pub evicted: Option<u64>,
    /// When the bin was made.
    pub created_at: Option<SystemTime>,
}

/// Why a bin went away, as told to viewers in its `cleared` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    /// `DELETE /_/api/bins/{bin}`.
    Deleted,
    /// The least recently used bin, past `max_bins` or the memory budget.
    Evicted,
}

impl Removed {
    fn as_str(self) -> &'static str {
        match self {
            Removed::Deleted => "deleted",
            Removed::Evicted => "evicted",
        }
    }
}

/// What happened, as published on the feed.
#[derive(Debug)]
pub enum Change {
    Request(Arc<CapturedRequest>),
    /// A kept request changed (a forward's result arrived).
    Updated(Arc<CapturedRequest>),
    Deleted {
        bin: Arc<str>,
        id: RequestId,
    },
    /// A bin's requests are gone; with `removed`, the bin itself too.
    Cleared {
        bin: Arc<str>,
        removed: Option<Removed>,
    },
    Bin(Box<BinSummary>),
    /// A sender delivery changed; the JSON is the delivery's.
    Delivery(serde_json::Value),
    /// A message for every viewer as it is (`resync` after the shared store restarted empty,
    /// `store` when it goes offline or returns).
    Notice(serde_json::Value),
}

/// One feed event; its websocket JSON is built on first use and shared.
#[derive(Debug)]
pub struct FeedEvent {
    pub change: Change,
    preview_limit: usize,
    json: OnceLock<Bytes>,
    /// What this event keeps alive (its request and that request's message), counted in
    /// the store's feed budget until the event is dropped.
    pinned: usize,
    feed_bytes: Arc<AtomicUsize>,
}

impl Drop for FeedEvent {
    fn drop(&mut self) {
        self.feed_bytes.fetch_sub(self.pinned, Ordering::AcqRel);
    }
}

impl FeedEvent {
    /// The bin this event concerns (none for deliveries).
    pub fn bin(&self) -> Option<&str> {
        match &self.change {
            Change::Request(r) | Change::Updated(r) => Some(&r.bin),
            Change::Deleted { bin, .. } | Change::Cleared { bin, .. } => Some(bin),
            Change::Bin(s) => Some(&s.name),
            Change::Delivery(_) | Change::Notice(_) => None,
        }
    }

    /// The websocket message (SPEC §12), serialised once.
    pub fn json(&self) -> Bytes {
        self.json
            .get_or_init(|| {
                let v = match &self.change {
                    Change::Request(r) => {
                        json!({"type": "request", "request": &*r.preview(self.preview_limit)})
                    }
                    Change::Updated(r) => {
                        json!({"type": "updated", "request": &*r.preview(self.preview_limit)})
                    }
                    Change::Deleted { bin, id } => {
                        json!({"type": "deleted", "bin": &**bin, "id": id})
                    }
                    Change::Cleared { bin, removed: None } => {
                        json!({"type": "cleared", "bin": &**bin})
                    }
                    Change::Cleared {
                        bin,
                        removed: Some(why),
                    } => json!({"type": "cleared", "bin": &**bin, "removed": why.as_str()}),
                    Change::Bin(s) => json!({"type": "bin", "bin": s}),
                    Change::Delivery(d) => json!({"type": "delivery", "delivery": d}),
                    Change::Notice(v) => v.clone(),
                };
                Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
            })
            .clone()
    }
}

/// A bin's settings as the store keeps them under its lock: the config JSON (SPEC §12), its
/// capacity, and the sequence position and fault generator state that `record` advances. The
/// compiled rules are not here: their one copy is the store's rules map, read without the lock.
#[derive(Debug, Clone, Default)]
pub struct BinSettings {
    pub config: serde_json::Value,
    pub max_requests: Option<usize>,
    pub progress: Progress,
}

struct Bin {
    name: Arc<str>,
    requests: VecDeque<Arc<CapturedRequest>>,
    evicted: u64,
    /// Highest id evicted (not deleted) from this bin.
    evicted_up_to: RequestId,
    last_id: RequestId,
    created_at: SystemTime,
    settings: BinSettings,
    /// The config as summaries show it, shared rather than copied into each summary.
    config: Arc<serde_json::Value>,
    /// The config as listings show it: `config` itself, or its keys alone when it is large.
    listed_config: Arc<serde_json::Value>,
    /// Its place in `State::lru`.
    touched: u64,
    /// What the bin itself costs in `State::memory` (not counting its requests).
    weight: usize,
}

impl Bin {
    /// Whether someone gave this bin a config (API, file, CLI or viewer).
    fn is_configured(&self) -> bool {
        !(self.settings.config.is_null()
            || self
                .settings
                .config
                .as_object()
                .is_some_and(|o| o.is_empty()))
    }

    fn new(name: &str) -> Bin {
        let config = Arc::new(json!({}));
        Bin {
            name: Arc::from(name),
            requests: VecDeque::new(),
            evicted: 0,
            evicted_up_to: 0,
            last_id: 0,
            created_at: SystemTime::now(),
            settings: BinSettings::default(),
            // one value: the listing shows it whole (not abridged, so no `config_omitted`)
            listed_config: config.clone(),
            config,
            touched: 0,
            weight: BIN_WEIGHT + name.len(),
        }
    }

    /// The summary for listings: a large config abridged to its keys.
    fn summary(&self, rules: &RulesMap) -> BinSummary {
        let mut s = self.full_summary(rules);
        if !Arc::ptr_eq(&self.listed_config, &self.config) {
            s.config = self.listed_config.clone();
            s.config_omitted = true;
        }
        s
    }

    /// The summary with the whole config.
    fn full_summary(&self, rules: &RulesMap) -> BinSummary {
        BinSummary {
            name: self.name.to_string(),
            count: self.requests.len(),
            last_id: self.last_id,
            evicted: self.evicted,
            created_at: self.created_at,
            config: self.config.clone(),
            config_omitted: false,
            sequence_position: rules
                .get(&*self.name)
                .filter(|r| r.has_sequence())
                .map(|_| self.settings.progress.sequence_position),
        }
    }

    /// Its lasting state, as a backend keeps it.
    fn record(&self) -> BinRecord {
        BinRecord {
            name: self.name.clone(),
            config: self.config.clone(),
            sequence_position: self.settings.progress.sequence_position,
            rng: self.settings.progress.rng,
            created_at: self.created_at,
            evicted: self.evicted,
            evicted_up_to: self.evicted_up_to,
            last_id: self.last_id,
        }
    }

    /// Index of the first request with id > `id` (requests are in id order).
    fn index_after(&self, id: RequestId) -> usize {
        self.requests.partition_point(|r| r.id <= id)
    }

    /// The kept request with this id.
    fn position(&self, id: RequestId) -> Option<usize> {
        let i = self.index_after(id.saturating_sub(1));
        self.requests.get(i).filter(|r| r.id == id).map(|_| i)
    }
}

/// Bytes a JSON value takes when serialised (a config's share of the memory budget).
fn json_len(v: &serde_json::Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

struct State {
    next_id: RequestId,
    waiters: std::collections::HashMap<Arc<str>, BinWaits>,
    next_waiter: u64,
    bins: BTreeMap<Arc<str>, Bin>,
    /// Every bin by when it was last used (a capture or a config change), oldest first.
    lru: BTreeMap<u64, Arc<str>>,
    clock: u64,
    /// Every kept request by id (its bin is the request's): the oldest-first order for the
    /// memory budget. The same pointers as the bins' rings hold.
    index: IdIndex<Arc<CapturedRequest>>,
    memory: usize,
    evicted_total: u64,
    evicted_bins: u64,
    /// Requests a lagging wait matcher dropped from its backlog ([`MATCH_BACKLOG`]).
    wait_backlog_dropped: u64,
    evicted_up_to: RequestId,
}

impl State {
    /// Marks a bin as just used.
    fn touch(&mut self, name: &Arc<str>) {
        if self
            .bins
            .get(name)
            .is_some_and(|b| b.touched != 0 && b.touched == self.clock)
        {
            return; // already the most recently used: a run of captures to one bin costs nothing
        }
        self.clock += 1;
        let now = self.clock;
        if let Some(b) = self.bins.get_mut(name) {
            self.lru.remove(&b.touched);
            b.touched = now;
            self.lru.insert(now, name.clone());
        }
    }

    /// Inserts a new, empty bin (the caller made room) and returns its key.
    fn insert_bin(&mut self, name: &str) -> Arc<str> {
        let b = Bin::new(name);
        let key = b.name.clone();
        self.memory += b.weight;
        self.bins.insert(key.clone(), b);
        self.touch(&key);
        key
    }

    /// Removes a bin and its requests in one step; returns them so the caller frees them after
    /// unlocking. Evicted requests count as evicted (viewers resync), deleted ones do not.
    fn remove_bin(&mut self, name: &str, why: Removed) -> Option<(Arc<str>, Bin)> {
        let (key, bin) = self.bins.remove_entry(name)?;
        self.lru.remove(&bin.touched);
        self.memory = self.memory.saturating_sub(bin.weight);
        for r in &bin.requests {
            self.index.remove(r.id);
            self.memory = self.memory.saturating_sub(r.weight());
        }
        if why == Removed::Evicted {
            self.evicted_bins += 1;
            self.evicted_total += bin.requests.len() as u64;
            if let Some(last) = bin.requests.back() {
                self.evicted_up_to = self.evicted_up_to.max(last.id);
            }
        }
        Some((key, bin))
    }

    /// Evicts the oldest kept request of all; false when there is none. Always removes an
    /// index entry, so a loop over it ends.
    fn evict_oldest(&mut self) -> Option<Arc<CapturedRequest>> {
        let (id, kept) = self.index.pop_first()?;
        let b = self.bins.get_mut(&*kept.bin)?;
        let r = b.requests.remove(b.position(id)?)?;
        b.evicted += 1;
        b.evicted_up_to = b.evicted_up_to.max(id);
        self.evicted_total += 1;
        self.evicted_up_to = self.evicted_up_to.max(id);
        self.memory = self.memory.saturating_sub(r.weight());
        Some(r)
    }

    /// Evicts a bin's oldest request and returns it, so the caller can free it after unlocking.
    fn evict_front(&mut self, bin: &str) -> Option<Arc<CapturedRequest>> {
        let b = self.bins.get_mut(bin)?;
        let r = b.requests.pop_front()?;
        b.evicted += 1;
        b.evicted_up_to = b.evicted_up_to.max(r.id);
        self.evicted_total += 1;
        self.evicted_up_to = self.evicted_up_to.max(r.id);
        self.memory = self.memory.saturating_sub(r.weight());
        self.index.remove(r.id);
        Some(r)
    }

    /// The least recently used bin other than `keep`.
    fn lru_except(&self, keep: &str) -> Option<Arc<str>> {
        self.lru.values().find(|n| &***n != keep).cloned()
    }
}

/// What `record` and `configure_bin` free after releasing the lock, and tell viewers.
#[derive(Default)]
struct Evicted {
    requests: Vec<Arc<CapturedRequest>>,
    bins: Vec<(Arc<str>, Bin)>,
}

/// Compiled rules by bin name.
type RulesMap = dashmap::DashMap<Arc<str>, Arc<BinRules>>;

struct Inner {
    state: Mutex<State>,
    /// Live receivers of `feed`; publishing is skipped while there are none.
    subscribers: AtomicUsize,
    /// Each configured bin's compiled rules: their one copy. Written under the state lock (a
    /// config applied, a bin removed), so `record` reads them consistently with the bin's
    /// progress; read without it on every capture (matching before the lock).
    rules: RulesMap,
    feed: broadcast::Sender<Arc<FeedEvent>>,
    /// Bytes the feed's events keep alive: the feed ring holds its last events (and the
    /// requests in them) whoever has read them, past the store's own eviction. Bounded by
    /// [`Store::feed_budget`].
    feed_bytes: Arc<AtomicUsize>,
    limits: Limits,
    /// A random id for this server's lifetime, or the shared store's run id: clients that
    /// resume with another one resync.
    instance: std::sync::RwLock<Arc<str>>,
}

/// The shared store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
    /// The backend written behind this store (the disk, or the shared store's writer), if any:
    /// told every change, under the state lock, in the order it happened. A [`Store::quiet`]
    /// handle has none.
    journal: Option<Arc<dyn Journal>>,
}

/// Memory and eviction figures.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Stats {
    pub requests: usize,
    pub bins: usize,
    pub memory: usize,
    pub evicted: u64,
    /// Bins evicted past `max_bins` or the memory budget.
    pub evicted_bins: u64,
    /// Requests pending waits never saw because their bin's matcher fell more than 65,536
    /// requests behind (0 unless a flood outruns the filters).
    pub wait_backlog_dropped: u64,
    /// Bytes the live feed keeps alive now: at most [`Store::feed_budget`] plus one request,
    /// plus a small message (about 1 KiB) for each later one in the feed's ring.
    pub feed_bytes: usize,
    pub last_id: RequestId,
}

impl Store {
    /// An empty store with these limits.
    pub fn new(limits: Limits) -> Store {
        Store::with_journal(limits, None)
    }

    /// An empty store with these limits that tells `journal` every change.
    pub fn with_journal(limits: Limits, journal: Option<Arc<dyn Journal>>) -> Store {
        let (feed, _) = broadcast::channel(limits.feed_capacity.max(16));
        let mut rnd = [0u8; 8];
        let _ = getrandom::fill(&mut rnd);
        Store {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    next_id: 1,
                    waiters: std::collections::HashMap::new(),
                    next_waiter: 1,
                    bins: BTreeMap::new(),
                    lru: BTreeMap::new(),
                    clock: 0,
                    index: IdIndex::default(),
                    memory: 0,
                    evicted_total: 0,
                    evicted_bins: 0,
                    wait_backlog_dropped: 0,
                    evicted_up_to: 0,
                }),
                feed,
                feed_bytes: Arc::new(AtomicUsize::new(0)),
                subscribers: AtomicUsize::new(0),
                rules: dashmap::DashMap::new(),
                limits,
                instance: std::sync::RwLock::new(
                    rnd.iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                        .into(),
                ),
            }),
            journal,
        }
    }

    /// Tells the backend (if any) of a change. Called under the state lock.
    fn journal(&self, op: impl FnOnce() -> Op) {
        if let Some(j) = &self.journal {
            j.append(op());
        }
    }

    /// Whether the backend behind this store takes writes now (always, without one).
    pub fn health(&self) -> Health {
        self.journal.as_ref().map_or(Health::Ok, |j| j.health())
    }

    /// The store as `/_/api/health` shows it: its kind (`memory`, or the backend's), whether it
    /// takes writes, and why not.
    pub fn describe(&self) -> serde_json::Value {
        let mut v = match &self.journal {
            Some(j) => j.describe(),
            None => json!({"kind": "memory"}),
        };
        let (ok, error) = match self.health() {
            Health::Ok => (true, None),
            Health::Behind => (false, Some("behind with its writes".to_string())),
            Health::Failing(why) | Health::Offline(why) => (false, Some(why)),
        };
        v["ok"] = json!(ok);
        if let Some(e) = error {
            v["error"] = json!(e);
        }
        v
    }

    /// The backend behind this store, for the sender to tell of its own changes.
    pub fn journal_handle(&self) -> Option<Arc<dyn Journal>> {
        self.journal.clone()
    }

    /// Writes everything the backend was told so far (returns at once without one).
    pub fn flush(&self) {
        if let Some(j) = &self.journal {
            j.flush();
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // a panic elsewhere while holding the lock must not take the whole store down
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, change: Change) {
        // an atomic, not `receiver_count()`, which takes the channel's lock on every capture
        if self.inner.subscribers.load(Ordering::Acquire) == 0 {
            return;
        }
        let change = match change {
            Change::Request(r) => Change::Request(self.within_feed_budget(r)),
            Change::Updated(r) => Change::Updated(self.within_feed_budget(r)),
            other => other,
        };
        let pinned = match &change {
            // the request, and its message once built (about as large again)
            Change::Request(r) | Change::Updated(r) => 2 * r.weight(),
            _ => 0,
        };
        self.inner.feed_bytes.fetch_add(pinned, Ordering::AcqRel);
        let _ = self.inner.feed.send(Arc::new(FeedEvent {
            change,
            preview_limit: self.inner.limits.preview_limit,
            json: OnceLock::new(),
            pinned,
            feed_bytes: self.inner.feed_bytes.clone(),
        }));
    }

    /// What the live feed may keep alive: an eighth of `max_memory`, at least 4 MiB.
    pub fn feed_budget(&self) -> usize {
        (self.inner.limits.max_memory / 8).max(4 * 1024 * 1024)
    }

    /// The request as the feed may carry it: whole while the feed is within its budget, else
    /// without its body and headers but a short Content-Type (marked `omitted`; viewers load such
    /// a request over REST),
    /// so a flood of large requests cannot pin memory past the store's own limits.
    fn within_feed_budget(&self, r: Arc<CapturedRequest>) -> Arc<CapturedRequest> {
        let now = self.inner.feed_bytes.load(Ordering::Acquire);
        if now + 2 * r.weight() <= self.feed_budget() {
            return r;
        }
        let mut lite = r.without_body();
        // a short Content-Type still labels the row
        lite.headers
            .retain(|h| h.name.eq_ignore_ascii_case("content-type") && h.value.len() <= 128);
        Arc::new(lite)
    }

    /// How many feed subscribers (viewers, `tail`) there are now.
    pub fn subscribers(&self) -> usize {
        self.inner.subscribers.load(Ordering::Acquire)
    }

    /// Is anyone subscribed to the feed (a viewer, `tail`)? Lets producers skip building
    /// messages nobody reads.
    pub fn has_subscribers(&self) -> bool {
        self.inner.subscribers.load(Ordering::Acquire) > 0
    }

    /// A random id for this server's lifetime, so clients notice a restart.
    pub fn instance(&self) -> Arc<str> {
        self.inner
            .instance
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Takes another instance id (the shared store's run id): clients resuming with the old
    /// one resync.
    pub fn set_instance(&self, id: &str) {
        *self
            .inner
            .instance
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::from(id);
    }

    /// A handle on the same store that tells no backend of its changes: for applying what a
    /// backend itself reported (the shared store's feed), which must not be written back.
    pub fn quiet(&self) -> Store {
        Store {
            inner: self.inner.clone(),
            journal: None,
        }
    }

    /// The limits this store enforces.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// Subscribes to the feed. Subscribe *before* scanning the store, so nothing falls between.
    pub fn subscribe(&self) -> Subscriber {
        self.inner.subscribers.fetch_add(1, Ordering::AcqRel);
        Subscriber {
            rx: self.inner.feed.subscribe(),
            inner: self.inner.clone(),
        }
    }

    /// Makes room for one more bin: evicts least recently used bins past `max_bins`, those
    /// nobody configured first (a flood of new paths must not wipe out a bin's behaviour); a
    /// configured bin goes only when every bin is configured.
    fn make_room_for_bin(&self, st: &mut State, out: &mut Evicted) {
        let max = self.inner.limits.max_bins.max(1);
        while st.bins.len() >= max {
            let plain = st
                .lru
                .values()
                .find(|n| st.bins.get(*n).is_some_and(|b| !b.is_configured()))
                .or_else(|| st.lru.values().next())
                .cloned();
            let Some(victim) = plain else {
                break;
            };
            match st.remove_bin(&victim, Removed::Evicted) {
                Some(b) => out.bins.push(b),
                None => {
                    // an entry without its bin: drop it and go on
                    st.lru.retain(|_, n| *n != victim);
                }
            }
        }
    }

    /// Keeps memory within the budget: the oldest requests first, then the least recently used
    /// bins other than `keep`. Every round removes something or stops.
    fn fit_memory(&self, st: &mut State, keep: &str, out: &mut Evicted) {
        while st.memory > self.inner.limits.max_memory {
            if st.index.len() > 1 {
                out.requests.extend(st.evict_oldest());
                continue;
            }
            let Some(victim) = st.lru_except(keep) else {
                break;
            };
            match st.remove_bin(&victim, Removed::Evicted) {
                Some(b) => out.bins.push(b),
                None => break,
            }
        }
    }

    /// Gives the backend's space back past its budget (`--max-disk`): evicts the oldest
    /// requests, about as many bytes as it is over (a request's weight is close to its size on
    /// disk).
    fn fit_disk(&self, st: &mut State, out: &mut Evicted) {
        let Some(j) = &self.journal else {
            return;
        };
        let over = j.over_budget();
        if over == 0 {
            return;
        }
        let mut freed = 0u64;
        while freed < over && st.index.len() > 1 {
            match st.evict_oldest() {
                Some(r) => {
                    freed += r.weight() as u64;
                    out.requests.push(r);
                }
                None => break,
            }
        }
        j.evicted_for_budget();
    }

    /// Brings a bin back within its capacity (oldest first) and the store within its memory
    /// budget, and tells viewers which bins went; what goes is handed to `out`, freed by the
    /// caller after unlocking.
    fn enforce_limits(&self, st: &mut State, name: &Arc<str>, cap: usize, out: &mut Evicted) {
        while st.bins.get(name).is_some_and(|b| b.requests.len() > cap) {
            match st.evict_front(name) {
                Some(r) => out.requests.push(r),
                None => break,
            }
        }
        self.fit_memory(st, name, out);
        self.fit_disk(st, out);
        self.publish_evicted(out);
        if let Some(j) = &self.journal {
            for r in &out.requests {
                // the bin's own key when it still exists: no allocation per eviction
                let bin = match st.bins.get_key_value(r.bin.as_str()) {
                    Some((k, _)) => k.clone(),
                    None => Arc::from(r.bin.as_str()),
                };
                j.append(Op::Remove {
                    bin,
                    id: r.id,
                    why: Gone::Evicted,
                });
            }
            for (bin, gone) in &out.bins {
                j.append(Op::RemoveBin {
                    bin: bin.clone(),
                    why: Gone::Evicted,
                    ids: gone.requests.iter().map(|r| r.id).collect(),
                });
            }
        }
    }

    /// Tells viewers which bins went.
    fn publish_evicted(&self, out: &Evicted) {
        for (name, _) in &out.bins {
            self.inner.rules.remove(name);
            self.publish(Change::Cleared {
                bin: name.clone(),
                removed: Some(Removed::Evicted),
            });
        }
    }

    /// Records a request: assigns its id, lets `respond` fill in the response (which may depend
    /// on the id and the bin's settings), stores it, applies retention and publishes it.
    pub fn record(
        &self,
        mut req: CapturedRequest,
        respond: impl FnOnce(&mut CapturedRequest, &mut Progress, Option<Arc<BinRules>>),
    ) -> Arc<CapturedRequest> {
        // evicted requests and bins are freed after the lock is released
        let mut evicted = Evicted::default();
        let mut st = self.lock();
        let id = st.next_id;
        st.next_id += 1;
        req.id = id;
        let (name, created) = self.bin_for(&mut st, &req.bin, &mut evicted);
        let Some(bin) = st.bins.get_mut(&name) else {
            // unreachable: the bin was inserted above under this lock
            respond(&mut req, &mut Progress::default(), None);
            return Arc::new(req);
        };
        let before = bin.settings.progress;
        let rules = self.inner.rules.get(&*name).map(|r| r.value().clone());
        respond(&mut req, &mut bin.settings.progress, rules);
        // a sequence step moved: viewers showing the position hear of it
        let stepped = bin.settings.progress.sequence_position != before.sequence_position;
        let progressed = bin.settings.progress != before;
        let arc = self.keep(
            &mut st,
            &name,
            req,
            created,
            stepped,
            progressed,
            &mut evicted,
        );
        drop(st);
        drop(evicted);
        arc
    }

    /// Keeps a request whose id and response a shared store gave it (its feed, in id order),
    /// as [`record`] keeps one: retention, waits and the live feed, with what the shared store
    /// says of its bin (`facts`). Nothing happens for a request at or below its bin's last id
    /// (already kept, or deleted since).
    ///
    /// [`record`]: Store::record
    pub fn ingest(&self, req: CapturedRequest, facts: BinFacts) -> Option<Arc<CapturedRequest>> {
        let mut evicted = Evicted::default();
        let mut st = self.lock();
        if st
            .bins
            .get(req.bin.as_str())
            .is_some_and(|b| b.last_id >= req.id)
        {
            return None;
        }
        st.next_id = st.next_id.max(req.id + 1);
        let (name, created) = self.bin_for(&mut st, &req.bin, &mut evicted);
        let bin = st.bins.get_mut(&name)?;
        if let Some(t) = facts.created_at {
            bin.created_at = t;
        }
        let before = bin.settings.progress;
        if let Some(p) = facts.sequence_position {
            bin.settings.progress.sequence_position = p;
        }
        let stepped = bin.settings.progress != before;
        let arc = self.keep(&mut st, &name, req, created, stepped, stepped, &mut evicted);
        if let Some(n) = facts.evicted {
            let mut up_to = 0;
            if let Some(bin) = st.bins.get_mut(&name) {
                bin.evicted = n;
                // requests evicted before this store knew the bin: none newer than its oldest
                // kept one, so a client resuming below that is told to resync
                if n > 0 && bin.evicted_up_to == 0 {
                    bin.evicted_up_to = bin.requests.front().map_or(0, |r| r.id - 1);
                    up_to = bin.evicted_up_to;
                }
            }
            st.evicted_up_to = st.evicted_up_to.max(up_to);
        }
        drop(st);
        drop(evicted);
        Some(arc)
    }

    /// The bin a request goes to, made (room first) when new; marked as just used.
    fn bin_for(&self, st: &mut State, bin: &str, evicted: &mut Evicted) -> (Arc<str>, bool) {
        match st.bins.get_key_value(bin) {
            Some((k, _)) => {
                let name = k.clone();
                st.touch(&name);
                (name, false)
            }
            None => {
                self.make_room_for_bin(st, evicted);
                (st.insert_bin(bin), true)
            }
        }
    }

    /// Keeps a request with its id and response in its bin (which exists), tells the backend,
    /// hands it to the bin's waits, applies retention and publishes it (after the bin's summary
    /// when the bin is new or its sequence moved: `announce`). `progressed`: the bin's lasting
    /// state changed (the backend hears of it).
    #[allow(clippy::too_many_arguments)]
    fn keep(
        &self,
        st: &mut State,
        name: &Arc<str>,
        req: CapturedRequest,
        created: bool,
        announce: bool,
        progressed: bool,
        evicted: &mut Evicted,
    ) -> Arc<CapturedRequest> {
        let id = req.id;
        let max_default = self.inner.limits.max_requests;
        let arc = Arc::new(req);
        let cap = match st.bins.get_mut(name) {
            Some(bin) => {
                bin.requests.push_back(arc.clone());
                bin.last_id = id;
                if let Some(j) = &self.journal {
                    if created || progressed {
                        j.append(Op::Bin(Box::new(bin.record())));
                    }
                    j.append(Op::Request(arc.clone()));
                }
                bin.settings.max_requests.unwrap_or(max_default)
            }
            None => return arc,
        };
        st.memory += arc.weight();
        st.index.insert(id, arc.clone());
        if let Some(w) = st.waiters.get_mut(name) {
            // the bin's matcher matches the request after the lock is released
            let dropped = w.hand_over(arc.clone());
            st.wait_backlog_dropped += u64::from(dropped);
        }
        self.enforce_limits(st, name, cap.max(1), evicted);
        if created || announce {
            let summary = st.bins.get(name).map(|b| b.summary(&self.inner.rules));
            if let Some(s) = summary {
                self.publish(Change::Bin(Box::new(s)));
            }
        }
        self.publish(Change::Request(arc.clone()));
        arc
    }

    /// Takes back what a backend held at start: its bins (configs compiled again, sequence
    /// positions, fault generators, eviction counts), its requests and its id sequence, then
    /// applies this run's limits (what no longer fits is evicted, and the backend told).
    /// Publishes nothing and wakes no wait: call it before serving. Returns the names of bins
    /// whose stored config no longer compiles (kept, unconfigured).
    pub fn restore(&self, snap: Snapshot) -> Vec<String> {
        let mut stale = Vec::new();
        let mut bins = snap.bins;
        let mut requests = snap.requests;
        // the least recently active first, so the most recent end up most recently used
        bins.sort_by_key(|b| b.last_id);
        let (gone_bins, gone_requests) = self.drop_bins_past_max(&mut bins, &mut requests);
        for rec in &bins {
            let configured = rec.config.as_object().is_some_and(|o| !o.is_empty());
            let setup = configured
                .then(|| BinSetup::from_json(&rec.config, usize::MAX))
                .transpose();
            match setup {
                Ok(Some(setup)) => {
                    self.apply_bin_config(&rec.name, setup);
                }
                Ok(None) => {
                    self.configure_bin(&rec.name, |_| {});
                }
                Err(_) => {
                    stale.push(rec.name.to_string());
                    self.configure_bin(&rec.name, |_| {});
                }
            }
            let mut st = self.lock();
            st.evicted_up_to = st.evicted_up_to.max(rec.evicted_up_to);
            if let Some(b) = st.bins.get_mut(&*rec.name) {
                b.settings.progress = Progress {
                    sequence_position: rec.sequence_position,
                    rng: rec.rng,
                };
                b.created_at = rec.created_at;
                b.evicted = rec.evicted;
                b.evicted_up_to = rec.evicted_up_to;
                b.last_id = rec.last_id;
                let record = b.record();
                // configuring it above told the backend of a fresh bin: tell it the whole state
                self.journal(|| Op::Bin(Box::new(record)));
            }
        }
        let mut evicted = Evicted::default();
        let mut st = self.lock();
        st.evicted_total = st.evicted_total.max(snap.evicted_total) + gone_requests;
        st.evicted_bins = st.evicted_bins.max(snap.evicted_bins) + gone_bins;
        let mut touched: Vec<Arc<str>> = Vec::new();
        for req in requests {
            let id = req.id;
            let name = match st.bins.get_key_value(req.bin.as_str()) {
                Some((k, _)) => k.clone(),
                None => {
                    self.make_room_for_bin(&mut st, &mut evicted);
                    st.insert_bin(&req.bin)
                }
            };
            st.next_id = st.next_id.max(id + 1);
            let arc = Arc::new(req);
            st.memory += arc.weight();
            st.index.insert(id, arc.clone());
            if let Some(b) = st.bins.get_mut(&name) {
                b.last_id = b.last_id.max(id);
                b.requests.push_back(arc);
            }
            if touched.last() != Some(&name) {
                st.touch(&name);
                touched.push(name);
            }
        }
        st.next_id = st.next_id.max(snap.next_id);
        touched.sort();
        touched.dedup();
        let max_default = self.inner.limits.max_requests;
        // `enforce_limits` tells the backend of everything in what it is handed: each bin's
        // round gets its own, or earlier rounds' evictions would be written (and counted) again
        let mut gone = Vec::with_capacity(touched.len());
        for name in touched {
            let cap = st.bins.get(&name).map_or(max_default, |b| {
                b.settings.max_requests.unwrap_or(max_default)
            });
            self.enforce_limits(&mut st, &name, cap.max(1), &mut evicted);
            gone.push(std::mem::take(&mut evicted));
        }
        drop(st);
        drop((evicted, gone));
        stale
    }

    /// Before a restore: the stored bins past this run's `max_bins` (with the bins already
    /// here), the least recently active plain ones first as [`Store::make_room_for_bin`] picks,
    /// leave `bins` and their requests leave `requests`, each evicted once with its requests
    /// and the backend told. Evicting them while restoring instead would evict bins whose
    /// requests are not in yet and make them again for those. Returns (bins, requests) gone.
    fn drop_bins_past_max(
        &self,
        bins: &mut Vec<BinRecord>,
        requests: &mut Vec<CapturedRequest>,
    ) -> (u64, u64) {
        let plain = |b: &BinRecord| b.config.as_object().is_none_or(|o| o.is_empty());
        let mut victims: Vec<Arc<str>> = {
            let st = self.lock();
            let mut new: Vec<&BinRecord> = bins
                .iter()
                .filter(|b| !st.bins.contains_key(&*b.name))
                .collect();
            let max = self.inner.limits.max_bins.max(1);
            let over = new.len().saturating_sub(max.saturating_sub(st.bins.len()));
            // stable: among plain and among configured ones, the least recently active first
            new.sort_by_key(|b| !plain(b));
            new.iter().take(over).map(|b| b.name.clone()).collect()
        };
        if victims.is_empty() {
            return (0, 0);
        }
        victims.sort();
        bins.retain(|b| victims.binary_search(&b.name).is_err());
        let mut ids: Vec<Vec<RequestId>> = vec![Vec::new(); victims.len()];
        requests.retain(
            |r| match victims.binary_search_by(|v| (**v).cmp(r.bin.as_str())) {
                Ok(i) => {
                    ids[i].push(r.id);
                    false
                }
                Err(_) => true,
            },
        );
        let gone = ids.iter().map(|v| v.len() as u64).sum();
        let bins_gone = victims.len() as u64;
        for (bin, ids) in victims.into_iter().zip(ids) {
            self.journal(|| Op::RemoveBin {
                bin,
                why: Gone::Evicted,
                ids,
            });
        }
        (bins_gone, gone)
    }

    /// A request by id.
    pub fn get(&self, id: RequestId) -> Option<Arc<CapturedRequest>> {
        let st = self.lock();
        let bin = st.bins.get(&*st.index.get(id)?.bin)?;
        bin.position(id).and_then(|i| bin.requests.get(i)).cloned()
    }

    /// The newest request, in one bin or overall.
    pub fn latest(&self, bin: Option<&str>) -> Option<Arc<CapturedRequest>> {
        let st = self.lock();
        match bin {
            Some(b) => st.bins.get(b)?.requests.back().cloned(),
            None => {
                let (id, r) = st.index.last()?;
                st.bins
                    .get(&*r.bin)?
                    .requests
                    .back()
                    .filter(|r| r.id == id)
                    .cloned()
            }
        }
    }

    /// Up to `CHUNK` kept requests with `after < id < below`, newest first: a snapshot taken
    /// under the lock for work done after it.
    fn chunk(
        &self,
        bin: Option<&str>,
        after: RequestId,
        below: RequestId,
    ) -> Vec<Arc<CapturedRequest>> {
        if below <= after.saturating_add(1) {
            return Vec::new();
        }
        let st = self.lock();
        match bin {
            Some(b) => match st.bins.get(b) {
                Some(bin) => {
                    let from = bin.index_after(after);
                    let to = bin.requests.partition_point(|r| r.id < below).max(from);
                    bin.requests
                        .range(from..to)
                        .rev()
                        .take(CHUNK)
                        .cloned()
                        .collect()
                }
                None => Vec::new(),
            },
            None => st
                .index
                .range_rev(after, below)
                .filter_map(|(id, r)| {
                    let bin = st.bins.get(&*r.bin)?;
                    bin.requests.get(bin.position(id)?).cloned()
                })
                .take(CHUNK)
                .collect(),
        }
    }

    /// Requests of a bin (or of all bins), newest first, with `after < id < before`, that pass
    /// `keep`; at most `limit`. Returns them and whether more matched. `keep` runs outside the
    /// store's lock, on snapshots taken a chunk at a time, so a slow filter never holds a
    /// capture.
    pub fn list(
        &self,
        bin: Option<&str>,
        after: RequestId,
        before: Option<RequestId>,
        limit: usize,
        keep: impl Fn(&CapturedRequest) -> bool,
    ) -> (Vec<Arc<CapturedRequest>>, bool) {
        let mut below = before.unwrap_or(RequestId::MAX);
        let mut out = Vec::new();
        loop {
            let chunk = self.chunk(bin, after, below);
            let Some(last) = chunk.last() else {
                return (out, false);
            };
            below = last.id;
            let exhausted = chunk.len() < CHUNK;
            for r in chunk {
                if !keep(&r) {
                    continue;
                }
                if out.len() == limit {
                    return (out, true);
                }
                out.push(r);
            }
            if exhausted {
                return (out, false);
            }
        }
    }

    /// Kept requests newer than `after`, oldest first, and whether requests newer than `after`
    /// were already evicted (the caller missed some and should resync).
    pub fn replay(&self, bin: Option<&str>, after: RequestId) -> (Vec<Arc<CapturedRequest>>, bool) {
        let (mut v, _) = self.list(bin, after, None, usize::MAX, |_| true);
        v.reverse();
        let st = self.lock();
        let lost = match bin {
            Some(b) => st.bins.get(b).is_some_and(|b| b.evicted_up_to > after),
            None => st.evicted_up_to > after,
        };
        (v, lost)
    }

    /// Deletes one request; false when it is not kept.
    pub fn delete(&self, id: RequestId) -> bool {
        let mut st = self.lock();
        let Some(kept) = st.index.remove(id) else {
            return false;
        };
        let name: Arc<str> = match st.bins.get_key_value(&*kept.bin) {
            Some((k, _)) => k.clone(),
            None => Arc::from(&*kept.bin),
        };
        let mut gone = None;
        if let Some(bin) = st.bins.get_mut(&name) {
            if let Some(i) = bin.position(id) {
                gone = bin.requests.remove(i);
            }
        }
        if let Some(r) = &gone {
            st.memory = st.memory.saturating_sub(r.weight());
        }
        self.journal(|| Op::Remove {
            bin: name.clone(),
            id,
            why: Gone::Deleted,
        });
        self.publish(Change::Deleted { bin: name, id });
        drop(st);
        drop((gone, kept));
        true
    }

    /// Deletes a bin's requests that pass `matches` (all of them for a plain clear); returns
    /// how many went. None when the bin does not exist. The filter runs outside the lock.
    pub fn clear(
        &self,
        bin: &str,
        matches: Option<&dyn Fn(&CapturedRequest) -> bool>,
    ) -> Option<usize> {
        let Some(m) = matches else {
            let mut st = self.lock();
            let b = st.bins.get_mut(bin)?;
            let name = b.name.clone();
            let gone = std::mem::take(&mut b.requests);
            for r in &gone {
                st.index.remove(r.id);
                st.memory = st.memory.saturating_sub(r.weight());
            }
            self.journal(|| Op::Clear {
                bin: name.clone(),
                ids: gone.iter().map(|r| r.id).collect(),
            });
            self.publish(Change::Cleared {
                bin: name,
                removed: None,
            });
            drop(st);
            return Some(gone.len());
        };
        // a cheap existence check first (a missing bin is `None`, not `Some(0)`)
        self.lock().bins.get(bin)?;
        let (hits, _) = self.list(Some(bin), 0, None, usize::MAX, m);
        let mut st = self.lock();
        let Some(b) = st.bins.get_mut(bin) else {
            return Some(0);
        };
        let name = b.name.clone();
        let mut gone = Vec::new();
        for r in &hits {
            if let Some(i) = b.position(r.id) {
                gone.extend(b.requests.remove(i));
            }
        }
        for r in &gone {
            st.index.remove(r.id);
            st.memory = st.memory.saturating_sub(r.weight());
            self.journal(|| Op::Remove {
                bin: name.clone(),
                id: r.id,
                why: Gone::Deleted,
            });
            self.publish(Change::Deleted {
                bin: name.clone(),
                id: r.id,
            });
        }
        drop(st);
        Some(gone.len())
    }

    /// Evicts a bin with its requests, counted as evicted (the shared store evicted it past
    /// its bin limit); false when it does not exist.
    pub fn evict_bin(&self, bin: &str) -> bool {
        self.remove_bin(bin, Removed::Evicted)
    }

    /// Sets when a bin was made (as the shared store says); nothing when it does not exist.
    pub fn set_created_at(&self, bin: &str, at: SystemTime) {
        if let Some(b) = self.lock().bins.get_mut(bin) {
            b.created_at = at;
        }
    }

    /// The most requests a bin keeps (its config's `max_requests`, else the default).
    pub fn bin_capacity(&self, bin: &str) -> usize {
        let st = self.lock();
        st.bins
            .get(bin)
            .and_then(|b| b.settings.max_requests)
            .unwrap_or(self.inner.limits.max_requests)
            .max(1)
    }

    /// Deletes a bin, its settings and its requests in one step; false when it does not exist.
    pub fn delete_bin(&self, bin: &str) -> bool {
        self.remove_bin(bin, Removed::Deleted)
    }

    fn remove_bin(&self, bin: &str, why: Removed) -> bool {
        let mut st = self.lock();
        let Some(gone) = st.remove_bin(bin, why) else {
            return false;
        };
        self.inner.rules.remove(bin);
        self.journal(|| Op::RemoveBin {
            bin: gone.0.clone(),
            why: match why {
                Removed::Deleted => Gone::Deleted,
                Removed::Evicted => Gone::Evicted,
            },
            ids: gone.1.requests.iter().map(|r| r.id).collect(),
        });
        self.publish(Change::Cleared {
            bin: gone.0.clone(),
            removed: Some(why),
        });
        drop(st);
        drop(gone);
        true
    }

    /// Sets a bin's behaviour to a validated config (creating the bin if needed): its compiled
    /// rules, its JSON and its capacity; its sequence and fault generator start over.
    pub fn apply_bin_config(&self, bin: &str, setup: BinSetup) -> BinSummary {
        let BinSetup {
            config,
            rules,
            json,
        } = setup;
        let max = config.max_requests;
        let map = &self.inner.rules;
        self.configure_bin(bin, move |s| {
            s.progress = Progress {
                sequence_position: 0,
                rng: rules.seed,
            };
            // under the state lock, like every write of the rules map
            map.insert(Arc::from(bin), Arc::new(rules));
            s.config = json;
            s.max_requests = max;
        })
    }

    /// Creates a bin if needed and applies `change` to its settings; returns the new summary.
    pub fn configure_bin(&self, bin: &str, change: impl FnOnce(&mut BinSettings)) -> BinSummary {
        let mut evicted = Evicted::default();
        let mut st = self.lock();
        let name = match st.bins.get_key_value(bin) {
            Some((k, _)) => k.clone(),
            None => {
                self.make_room_for_bin(&mut st, &mut evicted);
                st.insert_bin(bin)
            }
        };
        st.touch(&name);
        let max_default = self.inner.limits.max_requests;
        let (cap, weight_change, summary) = match st.bins.get_mut(&name) {
            Some(b) => {
                change(&mut b.settings);
                if b.settings.config.is_null() {
                    b.config = Arc::new(json!({}));
                } else if *b.config != b.settings.config {
                    b.config = Arc::new(b.settings.config.clone());
                }
                let before = b.weight;
                let len = json_len(&b.config);
                b.weight = BIN_WEIGHT + b.name.len() + CONFIG_WEIGHT_PER_BYTE * len;
                b.listed_config = if len <= LISTED_CONFIG_MAX {
                    b.config.clone()
                } else {
                    let keys = b.config.as_object().map(|o| {
                        o.keys()
                            .map(|k| (k.clone(), json!("…")))
                            .collect::<serde_json::Map<_, _>>()
                    });
                    Arc::new(keys.map(serde_json::Value::Object).unwrap_or(json!({})))
                };
                let cap = b.settings.max_requests.unwrap_or(max_default).max(1);
                if let Some(j) = &self.journal {
                    j.append(Op::Bin(Box::new(b.record())));
                }
                (cap, (before, b.weight), b.full_summary(&self.inner.rules))
            }
            None => {
                // unreachable: the bin was inserted above under this lock
                let mut s = BinSettings::default();
                change(&mut s);
                let b = Bin::new(bin);
                return b.full_summary(&self.inner.rules);
            }
        };
        st.memory = st.memory.saturating_sub(weight_change.0) + weight_change.1;
        self.enforce_limits(&mut st, &name, cap, &mut evicted);
        self.publish(Change::Bin(Box::new(summary.clone())));
        drop(st);
        drop(evicted);
        summary
    }

    /// Replaces a kept request with `change` applied (e.g. a forward's result) and tells viewers.
    pub fn update(&self, id: RequestId, change: impl FnOnce(&mut CapturedRequest)) -> bool {
        let mut guard = self.lock();
        let st = &mut *guard;
        let Some(kept) = st.index.get(id) else {
            return false;
        };
        let Some(bin) = st.bins.get_mut(&*kept.bin) else {
            return false;
        };
        let Some(slot) = bin.position(id).and_then(|i| bin.requests.get_mut(i)) else {
            return false;
        };
        let before = slot.weight();
        let mut r = CapturedRequest::clone(slot);
        change(&mut r);
        let after = r.weight();
        let arc = Arc::new(r);
        let old = std::mem::replace(slot, arc.clone());
        let old_indexed = st.index.replace(id, arc.clone());
        st.memory = st.memory.saturating_sub(before) + after;
        self.journal(|| Op::Updated(arc.clone()));
        self.publish(Change::Updated(arc));
        drop(guard);
        drop((old, old_indexed));
        true
    }

    /// The compiled rules of a bin, if it has any.
    pub fn bin_rules(&self, bin: &str) -> Option<Arc<BinRules>> {
        // read on every capture: a sharded map, not the store's lock
        self.inner.rules.get(bin).map(|r| r.value().clone())
    }

    /// One bin's summary.
    pub fn bin(&self, bin: &str) -> Option<BinSummary> {
        self.lock()
            .bins
            .get(bin)
            .map(|b| b.full_summary(&self.inner.rules))
    }

    /// Every bin's summary, by name (at most `max_bins`).
    pub fn bins(&self) -> Vec<BinSummary> {
        self.bins_page(0, usize::MAX).0
    }

    /// A page of the bins' summaries by name, and how many bins there are. Summaries share
    /// their configs; nothing is serialised under the lock.
    pub fn bins_page(&self, offset: usize, limit: usize) -> (Vec<BinSummary>, usize) {
        let st = self.lock();
        let page = st
            .bins
            .values()
            .skip(offset)
            .take(limit)
            .map(|b| b.summary(&self.inner.rules))
            .collect();
        (page, st.bins.len())
    }

    /// Totals.
    pub fn stats(&self) -> Stats {
        let st = self.lock();
        Stats {
            requests: st.index.len(),
            bins: st.bins.len(),
            memory: st.memory,
            evicted: st.evicted_total,
            evicted_bins: st.evicted_bins,
            wait_backlog_dropped: st.wait_backlog_dropped,
            feed_bytes: self.inner.feed_bytes.load(Ordering::Acquire),
            last_id: st.next_id - 1,
        }
    }

    /// Publishes a sender delivery change to viewers.
    pub fn publish_delivery(&self, delivery: serde_json::Value) {
        if let Some(j) = &self.journal {
            j.append(Op::Broadcast(Arc::new(delivery.clone())));
        }
        self.publish(Change::Delivery(delivery));
    }

    /// Tells every viewer something as it is (see [`Change::Notice`]).
    pub fn notice(&self, message: serde_json::Value) {
        self.publish(Change::Notice(message));
    }

    /// Forgets every bin and request (the shared store they came from restarted empty) and
    /// tells viewers to resync; ids go on from where they were. Tells no backend.
    pub fn reset(&self, reason: &str) {
        let mut st = self.lock();
        let names: Vec<Arc<str>> = st.bins.keys().cloned().collect();
        let mut gone = Vec::with_capacity(names.len());
        for name in names {
            gone.extend(st.remove_bin(&name, Removed::Deleted));
            self.inner.rules.remove(&name);
        }
        self.publish(Change::Notice(json!({"type": "resync", "reason": reason})));
        drop(st);
        drop(gone);
    }

    /// The websocket `hello` message: the `HELLO_BINS` most recently active bins (by name) and
    /// `bins_total`; a viewer fetches the rest from `GET /_/api/bins`. Snapshotted under the
    /// lock, serialised after.
    pub fn hello(&self) -> serde_json::Value {
        let (last_id, evicted, total, mut bins) = {
            let st = self.lock();
            let bins: Vec<BinSummary> = st
                .lru
                .values()
                .rev()
                .filter_map(|n| st.bins.get(n))
                .take(HELLO_BINS)
                .map(|b| b.summary(&self.inner.rules))
                .collect();
            (st.next_id - 1, st.evicted_total, st.bins.len(), bins)
        };
        bins.sort_by(|a, b| a.name.cmp(&b.name));
        // whether captures are taken now (a shared store may be offline)
        let store = match self.health() {
            Health::Ok => json!({"ok": true}),
            Health::Behind => json!({"ok": false, "error": "behind with its writes"}),
            Health::Failing(why) | Health::Offline(why) => json!({"ok": false, "error": why}),
        };
        json!({
            "type": "hello",
            "store": store,
            "version": env!("CARGO_PKG_VERSION"),
            "instance": &*self.instance(),
            "last_id": last_id,
            "evicted": evicted,
            "bins": bins,
            "bins_total": total,
        })
    }
}

/// A receiver of the store's feed; counted, so the store publishes only while someone listens.
pub struct Subscriber {
    rx: broadcast::Receiver<Arc<FeedEvent>>,
    inner: Arc<Inner>,
}

impl std::ops::Deref for Subscriber {
    type Target = broadcast::Receiver<Arc<FeedEvent>>;
    fn deref(&self) -> &Self::Target {
        &self.rx
    }
}

impl std::ops::DerefMut for Subscriber {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.rx
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.inner.subscribers.fetch_sub(1, Ordering::AcqRel);
    }
}
