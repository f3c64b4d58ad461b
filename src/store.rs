//! The store: every bin, every kept request, the retention limits, and the one broadcast feed
//! that viewers and waiters hang off.
//!
//! Owns all captured state behind one lock. `record` is the only way a request gets in, and it
//! assigns the id, inserts, evicts and publishes under that lock, so the feed's order is id order
//! and a subscriber can never see an event for a request the store does not hold. Never awaits
//! while holding the lock. Uses `model` only; the feed's JSON is made lazily, once per event,
//! however many viewers read it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::SystemTime;

use bytes::Bytes;
use serde_json::json;
use tokio::sync::broadcast;

use crate::model::{BinSummary, CapturedRequest, RequestId};

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
            Change::Request(r) => Some(&r.bin),
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

/// A bin's settings as the store keeps them: the config JSON (SPEC §12) and its capacity.
#[derive(Debug, Clone, Default)]
pub struct BinSettings {
    pub config: serde_json::Value,
    pub max_requests: Option<usize>,
    pub sequence_position: Option<usize>,
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
            sequence_position: self.settings.sequence_position,
        }
    }

    /// Index of the first request with id > `id` (requests are in id order).
    fn index_after(&self, id: RequestId) -> usize {
        self.requests.partition_point(|r| r.id <= id)
    }
}

struct State {
    next_id: RequestId,
    bins: BTreeMap<Arc<str>, Bin>,
    /// Every kept request's bin, by id: the oldest-first order for the memory budget.
    index: BTreeMap<RequestId, Arc<str>>,
    memory: usize,
    evicted_total: u64,
    evicted_up_to: RequestId,
}

struct Inner {
    state: Mutex<State>,
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
                    bins: BTreeMap::new(),
                    index: BTreeMap::new(),
                    memory: 0,
                    evicted_total: 0,
                    evicted_up_to: 0,
                }),
                feed,
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
        if self.inner.feed.receiver_count() == 0 {
            return;
        }
        let _ = self.inner.feed.send(Arc::new(FeedEvent {
            change,
            preview_limit: self.inner.limits.preview_limit,
            json: OnceLock::new(),
        }));
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
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FeedEvent>> {
        self.inner.feed.subscribe()
    }

    /// Records a request: assigns its id, lets `respond` fill in the response (which may depend
    /// on the id and the bin's settings), stores it, applies retention and publishes it.
    pub fn record(
        &self,
        mut req: CapturedRequest,
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
        let (arc, name) = {
            let bin = st.bins.get_mut(req.bin.as_str()).expect("bin exists");
            respond(&mut req, &mut bin.settings);
            let arc = Arc::new(req);
            bin.requests.push_back(arc.clone());
            bin.last_id = id;
            (arc, bin.name.clone())
        };
        st.memory += arc.weight();
        st.index.insert(id, name.clone());
        let cap = st
            .bins
            .get(&name)
            .and_then(|b| b.settings.max_requests)
            .unwrap_or(max_default)
            .max(1);
        while st.bins.get(&name).is_some_and(|b| b.requests.len() > cap) {
            Self::evict_front(&mut st, &name);
        }
        while st.memory > self.inner.limits.max_memory && st.index.len() > 1 {
            let Some((_, oldest_bin)) = st.index.first_key_value() else {
                break;
            };
            let oldest_bin = oldest_bin.clone();
            Self::evict_front(&mut st, &oldest_bin);
        }
        if created {
            let summary = st.bins.get(&name).map(|b| b.summary());
            if let Some(s) = summary {
                self.publish(Change::Bin(Box::new(s)));
            }
        }
        self.publish(Change::Request(arc.clone()));
        arc
    }

    fn evict_front(st: &mut State, bin: &str) {
        let Some(b) = st.bins.get_mut(bin) else {
            return;
        };
        if let Some(r) = b.requests.pop_front() {
            b.evicted += 1;
            b.evicted_up_to = b.evicted_up_to.max(r.id);
            st.evicted_total += 1;
            st.evicted_up_to = st.evicted_up_to.max(r.id);
            st.memory = st.memory.saturating_sub(r.weight());
            st.index.remove(&r.id);
        }
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
        let cap = b
            .settings
            .max_requests
            .unwrap_or(self.inner.limits.max_requests)
            .max(1);
        let name = b.name.clone();
        while st.bins.get(&name).is_some_and(|b| b.requests.len() > cap) {
            Self::evict_front(&mut st, &name);
        }
        let s = st.bins[&name].summary();
        self.publish(Change::Bin(Box::new(s.clone())));
        s
    }

    /// A bin's settings, if it exists.
    pub fn bin_settings(&self, bin: &str) -> Option<BinSettings> {
        self.lock().bins.get(bin).map(|b| b.settings.clone())
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
