//! The store: every bin, every kept request, the retention limits, and the one broadcast feed
//! that viewers and waiters hang off.
//!
//! Owns all captured state behind one lock. `record` is the only way a request gets in, and it
//! assigns the id, inserts, evicts and publishes under that lock, so the feed's order is id order
//! and a subscriber can never see an event for a request the store does not hold. Never awaits
//! while holding the lock. Uses `model` only; the feed's JSON is made lazily, once per event,
//! however many viewers read it. Waiters are registered in the store itself, per bin, checked in
//! `record` under the same lock: a wait can never miss a request, and a capture only pays for
//! the waits on its own bin.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::SystemTime;

use bytes::Bytes;
use serde_json::json;
use tokio::sync::broadcast;

use crate::matcher::Filter;
use crate::model::{BinSummary, CapturedRequest, RequestId};
use crate::rules::{BinRules, Progress};

/// Retention limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_requests: usize,
    pub max_memory: usize,
    /// Bodies above this are left out of the feed's `request` messages.
    pub preview_limit: usize,
    pub feed_capacity: usize,
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
    Cleared {
        bin: Arc<str>,
    },
    Bin(Box<BinSummary>),
    /// A sender delivery changed; the JSON is the delivery's.
    Delivery(serde_json::Value),
}

/// One feed event; its websocket JSON is built on first use and shared.
#[derive(Debug)]
pub struct FeedEvent {
    pub change: Change,
    preview_limit: usize,
    json: OnceLock<Bytes>,
}

impl FeedEvent {
    /// The bin this event concerns (none for deliveries).
    pub fn bin(&self) -> Option<&str> {
        match &self.change {
            Change::Request(r) | Change::Updated(r) => Some(&r.bin),
            Change::Deleted { bin, .. } | Change::Cleared { bin } => Some(bin),
            Change::Bin(s) => Some(&s.name),
            Change::Delivery(_) => None,
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
                    Change::Cleared { bin } => json!({"type": "cleared", "bin": &**bin}),
                    Change::Bin(s) => json!({"type": "bin", "bin": s}),
                    Change::Delivery(d) => json!({"type": "delivery", "delivery": d}),
                };
                Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
            })
            .clone()
    }
}

/// A bin's settings as the store keeps them: the config JSON (SPEC §12), its compiled rules,
/// its capacity, and the sequence position and fault generator state that `record` advances.
#[derive(Debug, Clone, Default)]
pub struct BinSettings {
    pub config: serde_json::Value,
    pub rules: Option<Arc<BinRules>>,
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
}

impl Bin {
    fn new(name: &str) -> Bin {
        Bin {
            name: Arc::from(name),
            requests: VecDeque::new(),
            evicted: 0,
            evicted_up_to: 0,
            last_id: 0,
            created_at: SystemTime::now(),
            settings: BinSettings::default(),
        }
    }

    fn summary(&self) -> BinSummary {
        BinSummary {
            name: self.name.to_string(),
            count: self.requests.len(),
            last_id: self.last_id,
            evicted: self.evicted,
            created_at: self.created_at,
            config: if self.settings.config.is_null() {
                json!({})
            } else {
                self.settings.config.clone()
            },
            sequence_position: self
                .settings
                .rules
                .as_ref()
                .filter(|r| r.has_sequence())
                .map(|_| self.settings.progress.sequence_position),
        }
    }

    /// Index of the first request with id > `id` (requests are in id order).
    fn index_after(&self, id: RequestId) -> usize {
        self.requests.partition_point(|r| r.id <= id)
    }
}

/// A pending wait, checked by `record` for every request of its bin.
struct Waiter {
    id: u64,
    filter: Filter,
    /// Counted in `Inner::json_waits` while registered.
    json: bool,
    after: RequestId,
    count: usize,
    matched: Vec<Arc<CapturedRequest>>,
    done: Option<tokio::sync::oneshot::Sender<Vec<Arc<CapturedRequest>>>>,
}

/// What a wait asks for.
#[derive(Debug, Clone)]
pub struct WaitSpec {
    pub bin: String,
    pub filter: Filter,
    /// How many matches to wait for (at least 1).
    pub count: usize,
    /// Only requests with a larger id count (0: every kept request counts).
    pub after: RequestId,
    pub timeout: std::time::Duration,
}

/// How a wait ended: a value either way.
#[derive(Debug, Clone)]
pub enum WaitOutcome {
    /// `count` matches, oldest first.
    Matched(Vec<Arc<CapturedRequest>>),
    /// The time ran out.
    TimedOut(WaitReport),
}

/// The report of a wait that timed out.
#[derive(Debug, Clone)]
pub struct WaitReport {
    pub bin: String,
    pub filter: String,
    pub count: usize,
    pub timeout: std::time::Duration,
    /// Matches found before the time ran out (fewer than `count`), oldest first.
    pub matched: Vec<Arc<CapturedRequest>>,
    /// Up to 5 non-matching requests with the fewest failed terms, newest first, each with the
    /// terms (as written) that failed.
    pub closest: Vec<(Arc<CapturedRequest>, Vec<String>)>,
}

impl std::fmt::Display for WaitReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "timed out after {:?} waiting for {} request{} matching `{}` in bin `{}` ({} matched)",
            self.timeout,
            self.count,
            if self.count == 1 { "" } else { "s" },
            self.filter,
            self.bin,
            self.matched.len()
        )?;
        if self.closest.is_empty() {
            write!(f, "; no other requests arrived in that bin")?;
        }
        for (r, failed) in &self.closest {
            write!(
                f,
                "\n  closest: #{} {} {} failed: {}",
                r.id,
                r.method,
                r.target,
                failed.join(", ")
            )?;
        }
        Ok(())
    }
}

/// Why an embedded `wait_for` returned no match: a bad filter, or the time ran out.
#[derive(Debug, Clone)]
pub enum WaitFailed {
    BadFilter(crate::matcher::FilterError),
    TimedOut(WaitReport),
}

impl std::fmt::Display for WaitFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitFailed::BadFilter(e) => write!(f, "{e}"),
            WaitFailed::TimedOut(r) => write!(f, "{r}"),
        }
    }
}

impl std::error::Error for WaitFailed {}

struct State {
    next_id: RequestId,
    waiters: std::collections::HashMap<Arc<str>, Vec<Waiter>>,
    next_waiter: u64,
    bins: BTreeMap<Arc<str>, Bin>,
    /// Every kept request's bin, by id: the oldest-first order for the memory budget.
    index: BTreeMap<RequestId, Arc<str>>,
    memory: usize,
    evicted_total: u64,
    evicted_up_to: RequestId,
}

struct Inner {
    state: Mutex<State>,
    /// Live receivers of `feed`; publishing is skipped while there are none.
    subscribers: AtomicUsize,
    /// Pending waits with `json:` terms: while there are any, captures parse their body before
    /// taking the lock rather than under it.
    json_waits: AtomicUsize,
    /// Each configured bin's compiled rules, kept in step with `BinSettings::rules` by
    /// `configure_bin` and `delete_bin`.
    rules: dashmap::DashMap<Arc<str>, Arc<BinRules>>,
    feed: broadcast::Sender<Arc<FeedEvent>>,
    limits: Limits,
    instance: String,
}

/// The shared store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// Memory and eviction figures.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Stats {
    pub requests: usize,
    pub bins: usize,
    pub memory: usize,
    pub evicted: u64,
    pub last_id: RequestId,
}

impl Store {
    /// An empty store with these limits.
    pub fn new(limits: Limits) -> Store {
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
                    index: BTreeMap::new(),
                    memory: 0,
                    evicted_total: 0,
                    evicted_up_to: 0,
                }),
                feed,
                subscribers: AtomicUsize::new(0),
                json_waits: AtomicUsize::new(0),
                rules: dashmap::DashMap::new(),
                limits,
                instance: rnd.iter().map(|b| format!("{b:02x}")).collect(),
            }),
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
        let _ = self.inner.feed.send(Arc::new(FeedEvent {
            change,
            preview_limit: self.inner.limits.preview_limit,
            json: OnceLock::new(),
        }));
    }

    /// Is anyone subscribed to the feed (a viewer, `tail`)? Lets producers skip building
    /// messages nobody reads.
    pub fn has_subscribers(&self) -> bool {
        self.inner.subscribers.load(Ordering::Acquire) > 0
    }

    /// A random id for this server's lifetime, so clients notice a restart.
    pub fn instance(&self) -> &str {
        &self.inner.instance
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

    /// Records a request: assigns its id, lets `respond` fill in the response (which may depend
    /// on the id and the bin's settings), stores it, applies retention and publishes it.
    pub fn record(
        &self,
        req: CapturedRequest,
        respond: impl FnOnce(&mut CapturedRequest, &mut BinSettings),
    ) -> Arc<CapturedRequest> {
        // waits that look into JSON bodies: parse once, here, not under the lock
        let body = if self.inner.json_waits.load(Ordering::Relaxed) > 0 {
            crate::matcher::BodyJson::parsed(&req)
        } else {
            crate::matcher::BodyJson::default()
        };
        self.record_parsed(req, body, respond)
    }

    fn record_parsed(
        &self,
        mut req: CapturedRequest,
        body: crate::matcher::BodyJson,
        respond: impl FnOnce(&mut CapturedRequest, &mut BinSettings),
    ) -> Arc<CapturedRequest> {
        let mut st = self.lock();
        let id = st.next_id;
        st.next_id += 1;
        req.id = id;
        let created = !st.bins.contains_key(req.bin.as_str());
        if created {
            let b = Bin::new(&req.bin);
            st.bins.insert(b.name.clone(), b);
        }
        let max_default = self.inner.limits.max_requests;
        let stepped;
        let (arc, name) = {
            let bin = st.bins.get_mut(req.bin.as_str()).expect("bin exists");
            let step = bin.settings.progress.sequence_position;
            respond(&mut req, &mut bin.settings);
            // a sequence step moved: viewers showing the position hear of it
            stepped = bin.settings.progress.sequence_position != step;
            let arc = Arc::new(req);
            bin.requests.push_back(arc.clone());
            bin.last_id = id;
            (arc, bin.name.clone())
        };
        st.memory += arc.weight();
        st.index.insert(id, name.clone());
        if let Some(ws) = st.waiters.get_mut(&name) {
            Self::feed_waiters(ws, &arc, &body, &self.inner.json_waits);
            if ws.is_empty() {
                st.waiters.remove(&name);
            }
        }
        let cap = st
            .bins
            .get(&name)
            .and_then(|b| b.settings.max_requests)
            .unwrap_or(max_default)
            .max(1);
        // evicted requests are freed after the lock is released
        let mut evicted = Vec::new();
        while st.bins.get(&name).is_some_and(|b| b.requests.len() > cap) {
            evicted.extend(Self::evict_front(&mut st, &name));
        }
        while st.memory > self.inner.limits.max_memory && st.index.len() > 1 {
            let Some((_, oldest_bin)) = st.index.first_key_value() else {
                break;
            };
            let oldest_bin = oldest_bin.clone();
            evicted.extend(Self::evict_front(&mut st, &oldest_bin));
        }
        if created || stepped {
            let summary = st.bins.get(&name).map(|b| b.summary());
            if let Some(s) = summary {
                self.publish(Change::Bin(Box::new(s)));
            }
        }
        self.publish(Change::Request(arc.clone()));
        drop(st);
        drop(evicted);
        arc
    }

    fn feed_waiters(
        ws: &mut Vec<Waiter>,
        r: &Arc<CapturedRequest>,
        body: &crate::matcher::BodyJson,
        json_waits: &AtomicUsize,
    ) {
        ws.retain_mut(|w| {
            let keep = if r.id <= w.after || !w.filter.matches_with(r, body) {
                w.done.as_ref().is_some_and(|d| !d.is_closed())
            } else {
                w.matched.push(r.clone());
                if w.matched.len() < w.count {
                    true
                } else {
                    if let Some(done) = w.done.take() {
                        let _ = done.send(std::mem::take(&mut w.matched));
                    }
                    false
                }
            };
            if !keep && w.json {
                json_waits.fetch_sub(1, Ordering::Relaxed);
            }
            keep
        });
    }

    /// Waits for `spec.count` requests of `spec.bin` matching `spec.filter` with an id above
    /// `spec.after`. Already kept requests count; a request recorded while the wait is being set
    /// up is never missed, because the scan and the registration happen under the lock that
    /// `record` takes. The bin need not exist yet.
    pub async fn wait(&self, spec: WaitSpec) -> WaitOutcome {
        let count = spec.count.max(1);
        let (mut rx, waiter_id, bin_key) = {
            let mut st = self.lock();
            let mut matched = Vec::new();
            if let Some(bin) = st.bins.get(spec.bin.as_str()) {
                let from = bin.index_after(spec.after);
                for r in bin.requests.range(from..) {
                    if spec.filter.matches(r) {
                        matched.push(r.clone());
                        if matched.len() == count {
                            return WaitOutcome::Matched(matched);
                        }
                    }
                }
            }
            let key: Arc<str> = st
                .bins
                .get_key_value(spec.bin.as_str())
                .map(|(k, _)| k.clone())
                .unwrap_or_else(|| Arc::from(spec.bin.as_str()));
            let (tx, rx) = tokio::sync::oneshot::channel();
            let id = st.next_waiter;
            st.next_waiter += 1;
            let json = spec.filter.needs_json();
            if json {
                self.inner.json_waits.fetch_add(1, Ordering::Relaxed);
            }
            st.waiters.entry(key.clone()).or_default().push(Waiter {
                id,
                json,
                filter: spec.filter.clone(),
                after: spec.after,
                count,
                matched,
                done: Some(tx),
            });
            (rx, id, key)
        };
        let guard = WaiterGuard {
            store: self,
            bin: bin_key,
            id: waiter_id,
        };
        if let Ok(Ok(matched)) = tokio::time::timeout(spec.timeout, &mut rx).await {
            std::mem::forget(guard);
            return WaitOutcome::Matched(matched);
        }
        let matched = guard.take();
        // the last match may have landed between the timer firing and the unregistering
        if let Ok(all) = rx.try_recv() {
            return WaitOutcome::Matched(all);
        }
        WaitOutcome::TimedOut(self.report(&spec, count, matched))
    }

    fn report(
        &self,
        spec: &WaitSpec,
        count: usize,
        matched: Vec<Arc<CapturedRequest>>,
    ) -> WaitReport {
        let (recent, _) = self.list(Some(&spec.bin), spec.after, None, 1000, |r| {
            !spec.filter.matches(r)
        });
        let mut scored: Vec<(Arc<CapturedRequest>, Vec<String>)> = recent
            .into_iter()
            .map(|r| {
                let failed = spec.filter.mismatches(&r);
                (r, failed)
            })
            .collect();
        // fewest failed terms first; among equals the newest (the list is newest first already)
        scored.sort_by_key(|(_, failed)| failed.len());
        scored.truncate(5);
        scored.sort_by_key(|(r, _)| std::cmp::Reverse(r.id));
        WaitReport {
            bin: spec.bin.clone(),
            filter: spec.filter.to_string(),
            count,
            timeout: spec.timeout,
            matched,
            closest: scored,
        }
    }

    /// How many waits are pending (all bins).
    pub fn pending_waits(&self) -> usize {
        self.lock().waiters.values().map(Vec::len).sum()
    }

    /// Evicts a bin's oldest request and returns it, so the caller can free it after unlocking.
    fn evict_front(st: &mut State, bin: &str) -> Option<Arc<CapturedRequest>> {
        let b = st.bins.get_mut(bin)?;
        let r = b.requests.pop_front()?;
        b.evicted += 1;
        b.evicted_up_to = b.evicted_up_to.max(r.id);
        st.evicted_total += 1;
        st.evicted_up_to = st.evicted_up_to.max(r.id);
        st.memory = st.memory.saturating_sub(r.weight());
        st.index.remove(&r.id);
        Some(r)
    }

    /// A request by id.
    pub fn get(&self, id: RequestId) -> Option<Arc<CapturedRequest>> {
        let st = self.lock();
        let bin = st.bins.get(st.index.get(&id)?)?;
        let i = bin.index_after(id.saturating_sub(1));
        bin.requests.get(i).filter(|r| r.id == id).cloned()
    }

    /// The newest request, in one bin or overall.
    pub fn latest(&self, bin: Option<&str>) -> Option<Arc<CapturedRequest>> {
        let st = self.lock();
        match bin {
            Some(b) => st.bins.get(b)?.requests.back().cloned(),
            None => {
                let (id, b) = st.index.last_key_value()?;
                st.bins
                    .get(b)?
                    .requests
                    .back()
                    .filter(|r| r.id == *id)
                    .cloned()
            }
        }
    }

    /// Requests of a bin (or of all bins), newest first, with `after < id < before`, that pass
    /// `keep`; at most `limit`. Returns them and whether more matched.
    pub fn list(
        &self,
        bin: Option<&str>,
        after: RequestId,
        before: Option<RequestId>,
        limit: usize,
        keep: impl Fn(&CapturedRequest) -> bool,
    ) -> (Vec<Arc<CapturedRequest>>, bool) {
        let st = self.lock();
        let before = before.unwrap_or(RequestId::MAX);
        let mut out = Vec::new();
        let mut push = |r: &Arc<CapturedRequest>| -> bool {
            if r.id >= before || !keep(r) {
                return true;
            }
            if out.len() == limit {
                return false;
            }
            out.push(r.clone());
            true
        };
        let mut more = false;
        match bin {
            Some(b) => {
                if let Some(bin) = st.bins.get(b) {
                    let from = bin.index_after(after);
                    for r in bin.requests.range(from..).rev() {
                        if !push(r) {
                            more = true;
                            break;
                        }
                    }
                }
            }
            None => {
                for (id, b) in st.index.range(after + 1..).rev() {
                    let Some(bin) = st.bins.get(b) else { continue };
                    let i = bin.index_after(id - 1);
                    if let Some(r) = bin.requests.get(i).filter(|r| r.id == *id) {
                        if !push(r) {
                            more = true;
                            break;
                        }
                    }
                }
            }
        }
        (out, more)
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
        let Some(name) = st.index.remove(&id) else {
            return false;
        };
        let mut weight = 0;
        if let Some(bin) = st.bins.get_mut(&name) {
            let i = bin.index_after(id - 1);
            if bin.requests.get(i).is_some_and(|r| r.id == id) {
                if let Some(r) = bin.requests.remove(i) {
                    weight = r.weight();
                }
            }
        }
        st.memory = st.memory.saturating_sub(weight);
        self.publish(Change::Deleted { bin: name, id });
        true
    }

    /// Deletes a bin's requests that pass `keep` (all of them for a plain clear); returns how
    /// many went. None when the bin does not exist.
    pub fn clear(
        &self,
        bin: &str,
        matches: Option<&dyn Fn(&CapturedRequest) -> bool>,
    ) -> Option<usize> {
        let mut st = self.lock();
        let b = st.bins.get_mut(bin)?;
        let name = b.name.clone();
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut b.requests)
            .into_iter()
            .partition(|r| matches.is_none_or(|m| m(r)));
        b.requests = kept.into();
        let weight: usize = gone.iter().map(|r| r.weight()).sum();
        for r in &gone {
            st.index.remove(&r.id);
        }
        st.memory = st.memory.saturating_sub(weight);
        match matches {
            None => self.publish(Change::Cleared { bin: name }),
            Some(_) => {
                for r in &gone {
                    self.publish(Change::Deleted {
                        bin: name.clone(),
                        id: r.id,
                    });
                }
            }
        }
        Some(gone.len())
    }

    /// Deletes a bin and its requests; false when it does not exist.
    pub fn delete_bin(&self, bin: &str) -> bool {
        if self.clear(bin, None).is_none() {
            return false;
        }
        self.lock().bins.remove(bin);
        self.inner.rules.remove(bin);
        true
    }

    /// Creates a bin if needed and applies `change` to its settings; returns the new summary.
    pub fn configure_bin(&self, bin: &str, change: impl FnOnce(&mut BinSettings)) -> BinSummary {
        let mut st = self.lock();
        if !st.bins.contains_key(bin) {
            let b = Bin::new(bin);
            st.bins.insert(b.name.clone(), b);
        }
        let b = st.bins.get_mut(bin).expect("bin exists");
        change(&mut b.settings);
        match &b.settings.rules {
            Some(r) => {
                self.inner.rules.insert(b.name.clone(), r.clone());
            }
            None => {
                self.inner.rules.remove(bin);
            }
        }
        let cap = b
            .settings
            .max_requests
            .unwrap_or(self.inner.limits.max_requests)
            .max(1);
        let name = b.name.clone();
        let mut evicted = Vec::new();
        while st.bins.get(&name).is_some_and(|b| b.requests.len() > cap) {
            evicted.extend(Self::evict_front(&mut st, &name));
        }
        let s = st.bins[&name].summary();
        self.publish(Change::Bin(Box::new(s.clone())));
        s
    }

    /// Replaces a kept request with `change` applied (e.g. a forward's result) and tells viewers.
    pub fn update(&self, id: RequestId, change: impl FnOnce(&mut CapturedRequest)) -> bool {
        let mut st = self.lock();
        let Some(name) = st.index.get(&id).cloned() else {
            return false;
        };
        let Some(bin) = st.bins.get_mut(&name) else {
            return false;
        };
        let i = bin.index_after(id - 1);
        let Some(slot) = bin.requests.get_mut(i).filter(|r| r.id == id) else {
            return false;
        };
        let before = slot.weight();
        let mut r = CapturedRequest::clone(slot);
        change(&mut r);
        let after = r.weight();
        let arc = Arc::new(r);
        *slot = arc.clone();
        st.memory = st.memory.saturating_sub(before) + after;
        self.publish(Change::Updated(arc));
        true
    }

    /// The compiled rules of a bin, if it has any.
    pub fn bin_rules(&self, bin: &str) -> Option<Arc<BinRules>> {
        // read on every capture: a sharded map, not the store's lock
        self.inner.rules.get(bin).map(|r| r.value().clone())
    }

    /// One bin's summary.
    pub fn bin(&self, bin: &str) -> Option<BinSummary> {
        self.lock().bins.get(bin).map(Bin::summary)
    }

    /// Every bin's summary, by name.
    pub fn bins(&self) -> Vec<BinSummary> {
        self.lock().bins.values().map(Bin::summary).collect()
    }

    /// Totals.
    pub fn stats(&self) -> Stats {
        let st = self.lock();
        Stats {
            requests: st.index.len(),
            bins: st.bins.len(),
            memory: st.memory,
            evicted: st.evicted_total,
            last_id: st.next_id - 1,
        }
    }

    /// Publishes a sender delivery change to viewers.
    pub fn publish_delivery(&self, delivery: serde_json::Value) {
        self.publish(Change::Delivery(delivery));
    }

    /// The websocket `hello` message.
    pub fn hello(&self) -> serde_json::Value {
        let st = self.lock();
        json!({
            "type": "hello",
            "version": env!("CARGO_PKG_VERSION"),
            "instance": self.inner.instance,
            "last_id": st.next_id - 1,
            "evicted": st.evicted_total,
            "bins": st.bins.values().map(Bin::summary).collect::<Vec<_>>(),
        })
    }
}

/// Removes a waiter when its wait ends without a match (timeout, or the waiting future dropped).
struct WaiterGuard<'a> {
    store: &'a Store,
    bin: Arc<str>,
    id: u64,
}

impl WaiterGuard<'_> {
    /// Unregisters the waiter and returns what it had matched so far.
    fn take(self) -> Vec<Arc<CapturedRequest>> {
        let matched = self.remove();
        std::mem::forget(self);
        matched
    }

    fn remove(&self) -> Vec<Arc<CapturedRequest>> {
        let mut st = self.store.lock();
        let mut matched = Vec::new();
        if let Some(ws) = st.waiters.get_mut(&self.bin) {
            if let Some(i) = ws.iter().position(|w| w.id == self.id) {
                let w = ws.swap_remove(i);
                if w.json {
                    self.store.inner.json_waits.fetch_sub(1, Ordering::Relaxed);
                }
                matched = w.matched;
            }
            if ws.is_empty() {
                st.waiters.remove(&self.bin);
            }
        }
        matched
    }
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        self.remove();
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
