//! Waits: "tell me when N requests matching this filter have arrived in this bin".
//!
//! Owns the pending waits' bookkeeping (one [`BinWaits`] per bin, waits with the same filter
//! grouped so a filter is evaluated once per request), the bin's one matcher task, and the
//! report of a wait that timed out (what was closest). A wait registers under the store's lock
//! together with the last id it will scan itself, so a request recorded while it is set up is
//! never missed; every scan and every filter evaluation happens outside the lock, on `Arc`
//! snapshots (a large or encoded body on a blocking thread). `record` only hands new requests
//! to [`BinWaits::pending`] and wakes the matcher. Uses `matcher` and `model`; called by the
//! store's owner (`Store::wait`) and by `record`.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use tokio::sync::{mpsc, Notify};

use super::{Store, CHUNK, MAX_WAIT_COUNT};
use crate::matcher::Filter;
use crate::model::{CapturedRequest, RequestId};

/// One pending wait as the matcher sees it: matches with an id above `from` go down `tx`.
pub(super) struct WaitEntry {
    id: u64,
    /// Requests up to this id were in the waiting task's own first scan.
    from: RequestId,
    tx: mpsc::UnboundedSender<Arc<CapturedRequest>>,
}

/// Waits on one bin with the same filter: the filter is evaluated once per request for all.
#[derive(Clone)]
pub(super) struct WaitGroup {
    filter: Arc<Filter>,
    members: Vec<Arc<WaitEntry>>,
}

/// A bin's pending waits and the wake-up of its matcher task.
pub(super) struct BinWaits {
    /// Copied on write, so the matcher takes a snapshot with one reference count.
    groups: Arc<Vec<WaitGroup>>,
    /// Requests recorded since the matcher last looked, handed over by `record` itself: a
    /// request evicted from the ring before the matcher ran is still matched. At most
    /// [`MATCH_BACKLOG`]; past it the oldest are dropped and counted.
    pending: VecDeque<Arc<CapturedRequest>>,
    wake: Arc<Notify>,
}

/// Requests a bin's matcher may fall behind by before the oldest are dropped (a flood far
/// faster than filters run; counted in `Stats::wait_backlog_dropped`).
const MATCH_BACKLOG: usize = 65_536;

impl BinWaits {
    /// Hands a just-recorded request to the matcher and wakes it; true when the backlog was
    /// full and its oldest request was dropped to make room.
    pub(super) fn hand_over(&mut self, r: Arc<CapturedRequest>) -> bool {
        let full = self.pending.len() >= MATCH_BACKLOG;
        if full {
            self.pending.pop_front();
        }
        self.pending.push_back(r);
        self.wake.notify_one();
        full
    }

    pub(super) fn len(&self) -> usize {
        self.groups.iter().map(|g| g.members.len()).sum()
    }
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
    /// terms that failed and why.
    pub closest: Vec<Miss>,
}

/// A request that came close to what a wait asked for.
#[derive(Debug, Clone)]
pub struct Miss {
    pub request: Arc<CapturedRequest>,
    /// The terms (as written) that failed, in filter order.
    pub failed: Vec<String>,
    /// One line per failed term, same order, saying what was found (`json:/a=1: found 2`).
    pub why: Vec<String>,
}

impl std::fmt::Display for WaitReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.filter.trim().is_empty() {
            String::new()
        } else {
            format!(" matching `{}`", self.filter)
        };
        write!(
            f,
            "timed out after {} waiting for {} request{}{what} in bin `{}` ({} matched)",
            crate::units::format_duration(self.timeout),
            self.count,
            if self.count == 1 { "" } else { "s" },
            self.bin,
            self.matched.len()
        )?;
        if self.closest.is_empty() {
            write!(f, "; no other requests arrived in that bin")?;
        }
        for m in &self.closest {
            let r = &m.request;
            write!(f, "\n  closest: #{} {} {}", r.id, r.method, r.target)?;
            for why in &m.why {
                write!(f, "\n    {why}")?;
            }
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

impl Store {
    /// Waits for `spec.count` requests of `spec.bin` matching `spec.filter` with an id above
    /// `spec.after`. Already kept requests count. The wait registers under the lock together
    /// with the last id it will scan itself, so a request recorded while it is being set up is
    /// never missed; the scan and all matching happen outside the lock. The bin need not exist
    /// yet. Matches are held weakly: one evicted before the wait completes no longer counts.
    pub async fn wait(&self, spec: WaitSpec) -> WaitOutcome {
        let count = spec.count.clamp(1, MAX_WAIT_COUNT);
        let filter = Arc::new(spec.filter.clone());
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (candidates, guard) = {
            let mut st = self.lock();
            let last = st.next_id - 1;
            let candidates: Vec<Arc<CapturedRequest>> = match st.bins.get(spec.bin.as_str()) {
                Some(bin) => bin
                    .requests
                    .range(bin.index_after(spec.after)..)
                    .cloned()
                    .collect(),
                None => Vec::new(),
            };
            let key: Arc<str> = st
                .bins
                .get_key_value(spec.bin.as_str())
                .map(|(k, _)| k.clone())
                .unwrap_or_else(|| Arc::from(spec.bin.as_str()));
            let id = st.next_waiter;
            st.next_waiter += 1;
            let entry = Arc::new(WaitEntry {
                id,
                from: last.max(spec.after),
                tx,
            });
            let spawn = !st.waiters.contains_key(&key);
            let waits = st.waiters.entry(key.clone()).or_insert_with(|| BinWaits {
                groups: Arc::new(Vec::new()),
                pending: VecDeque::new(),
                wake: Arc::new(Notify::new()),
            });
            let groups = Arc::make_mut(&mut waits.groups);
            match groups.iter_mut().find(|g| *g.filter == *filter) {
                Some(g) => g.members.push(entry),
                None => groups.push(WaitGroup {
                    filter: filter.clone(),
                    members: vec![entry],
                }),
            }
            if spawn {
                let wake = waits.wake.clone();
                tokio::spawn(Matcher::run(self.clone(), key.clone(), wake));
            }
            (
                candidates,
                WaiterGuard {
                    store: self,
                    bin: key,
                    id,
                },
            )
        };
        // the first scan searches (and decodes) large bodies on a blocking thread
        let found = if candidates
            .iter()
            .any(|r| crate::matcher::BodyJson::heavy(r))
        {
            let f = filter.clone();
            tokio::task::spawn_blocking(move || first_matches(&f, candidates, count))
                .await
                .unwrap_or_default()
        } else {
            first_matches(&filter, candidates, count)
        };
        let mut matched = Matched::new(count);
        for r in &found {
            matched.push(r);
        }
        if let Some(all) = matched.complete() {
            return WaitOutcome::Matched(all);
        }
        let now = tokio::time::Instant::now();
        // a timeout too large to add is as good as none (about 30 years)
        let deadline = now
            .checked_add(spec.timeout)
            .unwrap_or_else(|| now + std::time::Duration::from_secs(86_400 * 365 * 30));
        // `r` is held until the check: the match that completes a wait counts even when the
        // store has already evicted it (earlier matches are held weakly)
        while let Ok(Some(r)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            matched.push(&r);
            if let Some(all) = matched.complete() {
                return WaitOutcome::Matched(all);
            }
            drop(r);
        }
        drop(guard);
        // the last match may have landed between the timer firing and the unregistering
        while let Ok(r) = rx.try_recv() {
            matched.push(&r);
            if let Some(all) = matched.complete() {
                return WaitOutcome::Matched(all);
            }
            drop(r);
        }
        // the report filters up to 1,000 kept requests: off the async workers
        let (store, kept, asked) = (self.clone(), matched.kept(), spec.clone());
        let report = tokio::task::spawn_blocking(move || store.report(&asked, count, kept)).await;
        // (the blocking pool is gone only while the runtime shuts down: report here then)
        WaitOutcome::TimedOut(report.unwrap_or_else(|_| self.report(&spec, count, matched.kept())))
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
        let scored = scored
            .into_iter()
            .map(|(r, failed)| Miss {
                why: spec.filter.why(&r),
                request: r,
                failed,
            })
            .collect();
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
        self.lock().waiters.values().map(BinWaits::len).sum()
    }
}

/// A wait's matches so far, held weakly so they do not keep evicted requests alive.
pub(super) struct Matched {
    count: usize,
    held: Vec<Weak<CapturedRequest>>,
}

impl Matched {
    fn new(count: usize) -> Matched {
        Matched {
            count,
            held: Vec::new(),
        }
    }

    /// Adds a match; true once `count` are held (some may since have been evicted).
    fn push(&mut self, r: &Arc<CapturedRequest>) -> bool {
        if self.held.len() >= self.count {
            self.held.retain(|w| w.strong_count() > 0);
        }
        self.held.push(Arc::downgrade(r));
        self.held.len() >= self.count
    }

    /// The first `count` matches still kept, oldest first, once there are that many.
    fn complete(&mut self) -> Option<Vec<Arc<CapturedRequest>>> {
        if self.held.len() < self.count {
            return None;
        }
        let live: Vec<Arc<CapturedRequest>> = self.held.iter().filter_map(Weak::upgrade).collect();
        if live.len() >= self.count {
            return Some(live.into_iter().take(self.count).collect());
        }
        self.held.retain(|w| w.strong_count() > 0);
        None
    }

    /// The matches still kept.
    fn kept(&self) -> Vec<Arc<CapturedRequest>> {
        self.held.iter().filter_map(Weak::upgrade).collect()
    }
}

/// The one task per bin with pending waits that matches its new requests, off the capture path
/// and outside the lock.
pub(super) struct Matcher;

impl Matcher {
    /// Runs until the bin has no pending waits, matching what `record` hands over.
    async fn run(store: Store, bin: Arc<str>, wake: Arc<Notify>) {
        loop {
            let (batch, groups) = {
                let mut st = store.lock();
                let w = match st.waiters.get_mut(&bin) {
                    Some(w) if Arc::ptr_eq(&w.wake, &wake) => w,
                    _ => return,
                };
                let n = w.pending.len().min(CHUNK);
                let batch: Vec<Arc<CapturedRequest>> = w.pending.drain(..n).collect();
                (batch, w.groups.clone())
            };
            if batch.is_empty() {
                // a capture or the last wait leaving wakes this (a wake-up sent meanwhile is
                // kept by the `Notify`)
                drop(groups);
                wake.notified().await;
                continue;
            }
            if batch.iter().any(|r| crate::matcher::BodyJson::heavy(r)) {
                // large or encoded bodies are searched (and decoded) on a blocking thread
                let _ = tokio::task::spawn_blocking(move || match_batch(&batch, &groups)).await;
            } else {
                match_batch(&batch, &groups);
                drop(batch);
            }
            tokio::task::yield_now().await;
        }
    }
}

/// The first `count` of `candidates` (oldest first) that `filter` matches.
pub(super) fn first_matches(
    filter: &Filter,
    candidates: Vec<Arc<CapturedRequest>>,
    count: usize,
) -> Vec<Arc<CapturedRequest>> {
    candidates
        .into_iter()
        .filter(|r| filter.matches(r))
        .take(count)
        .collect()
}

/// Sends each request of `batch` to the waits whose filter it matches (each distinct filter
/// evaluated once per request).
pub(super) fn match_batch(batch: &[Arc<CapturedRequest>], groups: &[WaitGroup]) {
    for r in batch {
        let body = crate::matcher::BodyJson::default();
        for g in groups {
            if !g.members.iter().any(|m| r.id > m.from) {
                continue;
            }
            if g.filter.matches_with(r, &body) {
                for m in g.members.iter().filter(|m| r.id > m.from) {
                    let _ = m.tx.send(r.clone());
                }
            }
        }
    }
}

/// Removes a waiter when its wait ends, however it ends (match, timeout, the future dropped).
pub(super) struct WaiterGuard<'a> {
    store: &'a Store,
    bin: Arc<str>,
    id: u64,
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        let mut st = self.store.lock();
        let Some(w) = st.waiters.get_mut(&self.bin) else {
            return;
        };
        let groups = Arc::make_mut(&mut w.groups);
        for g in groups.iter_mut() {
            g.members.retain(|m| m.id != self.id);
        }
        groups.retain(|g| !g.members.is_empty());
        if groups.is_empty() {
            if let Some(w) = st.waiters.remove(&self.bin) {
                // the matcher notices it is no longer registered and ends
                w.wake.notify_one();
            }
        }
    }
}
