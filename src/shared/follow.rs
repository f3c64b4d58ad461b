//! Following Redis into this instance's cache: reading what Redis holds at start (each bin's
//! ring, merged in id order, up to the feed position taken first), then the feed stream from
//! there (`XREAD BLOCK` on a connection of its own, reads sized by bytes), applying each entry to
//! the store's quiet handle in order; noticing a gap (the feed trimmed past this instance) or a
//! new run (Redis came back empty) and reloading.
//!
//! Uses `codec`, the store and the `redis` crate; part of `shared`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::Value;
use tokio::sync::watch;

use super::{codec, entry_ms, from_ms, Shared, READ_BATCH, READ_BYTES};
use crate::model::{CapturedRequest, RequestId};
use crate::rules::BinSetup;
use crate::store::{BinFacts, Store};

/// One bin's ring read at start, a page at a time.
struct Cursor {
    bin: String,
    position: Option<usize>,
    /// The bin's eviction count in Redis.
    evicted: Option<u64>,
    /// When the bin was made (ms).
    created: Option<u64>,
    /// Heads changed since capture (forward results, late diagnoses), by id.
    updates: std::collections::HashMap<String, Vec<u8>>,
    /// Where the next page starts.
    start: String,
    page: VecDeque<CapturedRequest>,
    done: bool,
}

/// Entries read per page at start.
const LOAD_PAGE: usize = 64;

impl Cursor {
    /// The id of the next request (reading a page when this one is used up), up to `upto`.
    async fn next_id(
        &mut self,
        c: &mut ConnectionManager,
        upto: RequestId,
    ) -> redis::RedisResult<Option<RequestId>> {
        while self.page.is_empty() && !self.done {
            let page: Value = redis::cmd("XRANGE")
                .arg(format!("hookpit:req:{}", self.bin))
                .arg(&self.start)
                .arg(format!("{upto}-0"))
                .arg("COUNT")
                .arg(LOAD_PAGE)
                .query_async(c)
                .await?;
            let page = entries(page);
            self.done = page.len() < LOAD_PAGE;
            for mut e in page {
                let id = entry_ms(&e.id);
                self.start = format!("({}", e.id);
                if let Some(h) = self.updates.remove(&id.to_string()) {
                    e.fields.retain(|(k, _)| k != b"h");
                    e.fields.push((b"h".to_vec(), h));
                }
                if let Some(r) = Shared::request(&self.bin, id, &mut e) {
                    self.page.push_back(r);
                }
            }
        }
        Ok(self.page.front().map(|r| r.id))
    }
}

/// A stream entry id as a pair to compare (`<ms>-<seq>`).
pub(super) fn entry_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// A stream entry: its id and its fields.
struct Entry {
    id: String,
    fields: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Entry {
    fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| &v[..])
    }

    fn text(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    fn take(&mut self, name: &str) -> Vec<u8> {
        self.fields
            .iter_mut()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| std::mem::take(v))
            .unwrap_or_default()
    }
}

fn bytes(v: Value) -> Vec<u8> {
    match v {
        Value::BulkString(b) => b,
        Value::SimpleString(s) => s.into_bytes(),
        Value::Int(n) => n.to_string().into_bytes(),
        _ => Vec::new(),
    }
}

/// The entries of an `XRANGE` reply (or of one stream in an `XREAD` reply).
fn entries(v: Value) -> Vec<Entry> {
    let Value::Array(items) = v else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|e| {
            let Value::Array(mut pair) = e else {
                return None;
            };
            if pair.len() != 2 {
                return None;
            }
            let fields = pair.pop()?;
            let id = String::from_utf8(bytes(pair.pop()?)).ok()?;
            let Value::Array(fv) = fields else {
                return None;
            };
            let mut it = fv.into_iter();
            let mut fields = Vec::new();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                fields.push((bytes(k), bytes(v)));
            }
            Some(Entry { id, fields })
        })
        .collect()
}

/// The feed entries of an `XREAD` reply on one stream, an entry naming a run of requests
/// (`k` = `R`) unfolded into one entry per request (`k` = `r`, the fields `bin`, `o`, `p`, `e`,
/// `c` and `sp`, its id `<request id>-0`) unless it is at or before `applied`.
fn read_reply(v: Value, applied: (u64, u64)) -> Vec<Entry> {
    let mut out = Vec::new();
    for e in feed_entries(v) {
        if e.text("k") != Some("R") || entry_id(&e.id) <= applied {
            out.push(e);
            continue;
        }
        let last = entry_ms(&e.id);
        let n: u64 = e.text("n").and_then(|n| n.parse().ok()).unwrap_or(0);
        let owner = e.get("o").unwrap_or_default();
        let Some(items) = e.text("i") else { continue };
        let first = (last + 1).saturating_sub(n);
        for (i, item) in items.split('\n').enumerate() {
            let mut parts = item.split(' ');
            let mut fields = Vec::with_capacity(7);
            fields.push((b"k".to_vec(), b"r".to_vec()));
            fields.push((b"o".to_vec(), owner.to_vec()));
            for name in ["bin", "p", "e", "c", "sp"] {
                if let Some(v) = parts.next() {
                    fields.push((name.as_bytes().to_vec(), v.as_bytes().to_vec()));
                }
            }
            out.push(Entry {
                id: format!("{}-0", first + i as u64),
                fields,
            });
        }
    }
    out
}

/// The entries of an `XREAD` reply on one stream, as Redis holds them.
fn feed_entries(v: Value) -> Vec<Entry> {
    match v {
        Value::Array(streams) => streams
            .into_iter()
            .flat_map(|s| match s {
                Value::Array(mut kv) if kv.len() == 2 => kv.pop().map(entries).unwrap_or_default(),
                _ => Vec::new(),
            })
            .collect(),
        Value::Map(streams) => streams.into_iter().flat_map(|(_, v)| entries(v)).collect(),
        _ => Vec::new(),
    }
}

impl Shared {
    /// Reads every bin and request Redis holds into the cache; returns the feed position to
    /// follow from (taken first, so nothing falls between).
    pub(super) async fn load(&self) -> redis::RedisResult<String> {
        let Some(store) = self.store() else {
            return Ok("0-0".into());
        };
        let mut c = self.con.clone();
        let last: Value = redis::cmd("XREVRANGE")
            .arg("hookpit:feed")
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut c)
            .await?;
        let from = match entries(last).into_iter().next() {
            Some(e) => e.id,
            None => {
                // an empty feed: follow from the id sequence's top
                let top: Option<u64> = redis::cmd("GET")
                    .arg("hookpit:id")
                    .query_async(&mut c)
                    .await?;
                format!("{}-0", top.unwrap_or(0))
            }
        };
        let bins: Vec<String> = redis::cmd("ZRANGE")
            .arg("hookpit:bins")
            .arg(0)
            .arg(-1)
            .query_async(&mut c)
            .await?;
        let configs: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
            .arg("hookpit:cfg")
            .query_async(&mut c)
            .await?;
        // everything up to the feed position taken above; the feed brings what came after
        let upto = entry_ms(&from);
        let mut cursors = Vec::with_capacity(bins.len());
        for bin in bins {
            if let Some(cfg) = configs.get(&bin) {
                self.apply_config(store, &bin, cfg);
            }
            let (pos, evicted, created, version): (
                Option<usize>,
                Option<u64>,
                Option<u64>,
                Option<u64>,
            ) = redis::cmd("HMGET")
                .arg(format!("hookpit:bin:{bin}"))
                .arg("pos")
                .arg("evicted")
                .arg("created")
                .arg("ver")
                .query_async(&mut c)
                .await?;
            if let Some(t) = created {
                // a configured bin without requests: made when Redis says
                store.set_created_at(&bin, from_ms(t));
            }
            self.set_version(&bin, version);
            let updates: std::collections::HashMap<String, Vec<u8>> = redis::cmd("HGETALL")
                .arg(format!("hookpit:upd:{bin}"))
                .query_async(&mut c)
                .await?;
            cursors.push(Cursor {
                bin,
                position: pos,
                evicted,
                created,
                updates,
                start: "-".to_owned(),
                page: VecDeque::new(),
                done: false,
            });
        }
        // the bins' rings merged in id order (the store keeps ids ascending), a page per bin
        // in memory at a time
        let mut heads = std::collections::BinaryHeap::new();
        for (i, cur) in cursors.iter_mut().enumerate() {
            if let Some(id) = cur.next_id(&mut c, upto).await? {
                heads.push(std::cmp::Reverse((id, i)));
            }
        }
        while let Some(std::cmp::Reverse((_, i))) = heads.pop() {
            let cur = &mut cursors[i];
            if let Some(r) = cur.page.pop_front() {
                store.ingest(
                    r,
                    BinFacts {
                        sequence_position: cur.position,
                        evicted: cur.evicted,
                        created_at: cur.created.map(from_ms),
                    },
                );
            }
            if let Some(id) = cur.next_id(&mut c, upto).await? {
                heads.push(std::cmp::Reverse((id, i)));
            }
        }
        self.applied
            .send_if_modified(|a| (upto > *a).then(|| *a = upto).is_some());
        Ok(from)
    }

    /// A request from its entry's fields, its id put in place of the placeholder its response
    /// was rendered with (`ph`).
    fn request(bin: &str, id: RequestId, e: &mut Entry) -> Option<CapturedRequest> {
        let (body, rbody) = (e.take("b"), e.take("rb"));
        let mut r = codec::decode(id, bin, e.get("h")?, body, e.get("rs")?, rbody)?;
        if let Some(ph) = e.text("ph").and_then(|p| p.parse().ok()) {
            codec::settle_id(&mut r.response, ph, id);
        }
        Some(r)
    }

    /// Applies a config read from Redis to the cache (a config that no longer compiles leaves
    /// the bin unconfigured).
    fn apply_config(&self, store: &Store, bin: &str, json: &str) {
        let setup = serde_json::from_str::<serde_json::Value>(json)
            .ok()
            .and_then(|v| BinSetup::from_json(&v, self.opts.max_body).ok());
        match setup {
            Some(s) => {
                store.apply_bin_config(bin, s);
            }
            None => {
                if let Ok(s) = BinSetup::from_json(&serde_json::json!({}), self.opts.max_body) {
                    store.apply_bin_config(bin, s);
                }
            }
        }
    }

    /// Follows the feed from `from` into the cache until `shutdown`, through Redis going away
    /// and coming back (empty or not).
    pub(super) async fn follow(
        self: Arc<Self>,
        mut from: String,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut reader: Option<redis::aio::MultiplexedConnection> = None;
        let mut backoff = Duration::from_millis(50);
        // entries per read, adapted to their size (with the requests they name) so one read
        // stays near READ_BYTES
        let mut count = 16usize;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let con = match &mut reader {
                Some(c) => c,
                None => {
                    let config = redis::AsyncConnectionConfig::new()
                        .set_connection_timeout(Some(Duration::from_secs(2)))
                        .set_response_timeout(Some(Duration::from_secs(5)));
                    match self
                        .client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await
                    {
                        Ok(c) => {
                            // back: a run that changed means Redis came back empty
                            if let Err(e) = self.check_run(&mut from).await {
                                self.went_offline(&e.to_string());
                                tokio::select! {
                                    _ = tokio::time::sleep(backoff) => {}
                                    _ = shutdown.changed() => return,
                                }
                                continue;
                            }
                            self.came_back();
                            backoff = Duration::from_millis(50);
                            reader.insert(c)
                        }
                        Err(e) => {
                            self.went_offline(&e.to_string());
                            tokio::select! {
                                _ = tokio::time::sleep(backoff) => {}
                                _ = shutdown.changed() => return,
                            }
                            backoff = (backoff * 2).min(Duration::from_secs(1));
                            continue;
                        }
                    }
                }
            };
            // from where the cache is now: a capture may have applied its own batch meanwhile
            {
                let pos = self.position();
                if entry_id(&pos) > entry_id(&from) {
                    from.clone_from(&pos);
                }
            }
            let mut cmd = redis::cmd("XREAD");
            cmd.arg("COUNT")
                .arg(count)
                .arg("BLOCK")
                .arg(1000)
                .arg("STREAMS")
                .arg("hookpit:feed")
                .arg(&from);
            let read = cmd.query_async::<Value>(con);
            let got = tokio::select! {
                got = read => got,
                _ = shutdown.changed() => return,
            };
            match got {
                Ok(Value::Nil) => {
                    // a quiet second: make sure Redis did not restart empty meanwhile
                    match self.check_run(&mut from).await {
                        Ok(()) => self.came_back(),
                        Err(e) => {
                            self.went_offline(&e.to_string());
                            reader = None;
                        }
                    }
                }
                Ok(v) => {
                    self.came_back();
                    let mut gap = false;
                    let mut batch = read_reply(v, entry_id(&self.position()));
                    // configs of bins this cache does not have, read before the entries are
                    // applied (under the position's lock, which is never held across a read)
                    self.prefetch_configs(&batch).await;
                    if let Err(e) = self.fetch_requests(reader.as_mut(), &mut batch).await {
                        self.went_offline(&e.to_string());
                        reader = None;
                        continue;
                    }
                    if !batch.is_empty() {
                        // sized by what the entries brought, the requests read with them too
                        let bytes: usize = batch
                            .iter()
                            .flat_map(|e| e.fields.iter().map(|(k, v)| k.len() + v.len()))
                            .sum();
                        let each = (bytes / batch.len()).max(1);
                        count = (READ_BYTES / each).clamp(1, READ_BATCH);
                    }
                    {
                        let mut pos = self.position();
                        for e in batch {
                            if entry_id(&e.id) <= entry_id(&pos) {
                                continue; // applied already (by the capture that made it)
                            }
                            if Self::gap(&pos, &e.id) {
                                gap = true;
                                break;
                            }
                            pos.clone_from(&e.id);
                            self.apply(e);
                        }
                        from.clone_from(&pos);
                    }
                    if gap {
                        // the feed was trimmed past where this instance was: reload
                        if let Some(store) = self.store() {
                            store.reset("this instance fell behind the shared store's feed");
                        }
                        match self.load().await {
                            Ok(f) => {
                                self.position().clone_from(&f);
                                from = f;
                            }
                            Err(e) => {
                                self.went_offline(&e.to_string());
                                reader = None;
                            }
                        }
                        continue;
                    }
                    self.applied.send_if_modified(|a| {
                        let top = entry_ms(&from);
                        (top > *a).then(|| *a = top).is_some()
                    });
                }
                Err(e) => {
                    self.went_offline(&e.to_string());
                    reader = None;
                }
            }
        }
    }

    /// Whether feed entries were trimmed away between `from` (the last applied) and `next`.
    /// Every request id has exactly one feed entry, so a request entry must carry the next id
    /// and any other entry the same last id as `from`.
    fn gap(from: &str, next: &str) -> bool {
        let (a, b) = (entry_ms(from), entry_ms(next));
        if next.ends_with("-0") {
            b != a + 1
        } else {
            b != a
        }
    }

    /// Checks that Redis still holds this run; when it does not (it restarted empty), joins or
    /// starts the new run, drops the cache and reloads.
    async fn check_run(&self, from: &mut String) -> redis::RedisResult<()> {
        let mut c = self.con.clone();
        let now: Option<String> = redis::cmd("GET")
            .arg("hookpit:run")
            .query_async(&mut c)
            .await?;
        if now.as_deref() == Some(&*self.run()) {
            return Ok(());
        }
        let known = self
            .store()
            .and_then(|s| s.latest(None))
            .map_or(0, |r| r.id);
        let known = known.max(*self.applied.borrow());
        let run = self.join_run(known).await?;
        *self.run.write().unwrap_or_else(|e| e.into_inner()) = Arc::from(run.as_str());
        // changes made here while Redis was away belong to the old data set
        let dropped = {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            let n = q.len();
            q.clear();
            n
        };
        self.done.send_modify(|d| *d += dropped as u64);
        if let Some(store) = self.store() {
            store.set_instance(&run);
            store.reset("the shared store restarted empty");
        }
        *from = self.load().await?;
        self.position().clone_from(from);
        Ok(())
    }

    /// Reads the configs of bins this cache does not have that requests of other instances
    /// in `batch` go to (the bin may have been evicted here, not there).
    async fn prefetch_configs(&self, batch: &[Entry]) {
        let Some(store) = self.store() else {
            return;
        };
        let mut seen = std::collections::HashSet::new();
        for e in batch {
            if e.text("k") != Some("r") || e.text("o") == Some(self.seat.token()) {
                continue;
            }
            let Some(bin) = e.text("bin") else { continue };
            if seen.insert(bin) && store.bin(bin).is_none() {
                self.fetch_config(store, bin).await;
            }
        }
    }

    /// Reads the bytes of the requests in `batch` that this instance does not hold (another
    /// instance caught them) from their bins' streams, one range per bin in one round trip,
    /// into their entries. A request no longer there (evicted or deleted since) stays without.
    async fn fetch_requests(
        &self,
        con: Option<&mut redis::aio::MultiplexedConnection>,
        batch: &mut [Entry],
    ) -> redis::RedisResult<()> {
        let mut ranges: Vec<(String, u64, u64)> = Vec::new();
        let applied = entry_id(&self.position());
        for e in batch.iter() {
            if e.text("k") != Some("r") || entry_id(&e.id) <= applied || self.holds_own(e) {
                continue;
            }
            let (Some(bin), id) = (e.text("bin"), entry_ms(&e.id)) else {
                continue;
            };
            match ranges.iter_mut().find(|(b, _, _)| b == bin) {
                Some(r) => r.2 = r.2.max(id),
                None => ranges.push((bin.to_owned(), id, id)),
            }
        }
        if ranges.is_empty() {
            return Ok(());
        }
        let Some(con) = con else {
            return Ok(());
        };
        let mut pipe = redis::pipe();
        for (bin, first, last) in &ranges {
            pipe.cmd("XRANGE")
                .arg(format!("hookpit:req:{bin}"))
                .arg(format!("{first}-0"))
                .arg(format!("{last}-0"));
        }
        let pages: Vec<Value> = pipe.query_async(con).await?;
        let mut found: std::collections::HashMap<String, Entry> = std::collections::HashMap::new();
        for page in pages {
            for d in entries(page) {
                found.insert(d.id.clone(), d);
            }
        }
        for e in batch.iter_mut() {
            if let Some(d) = found.remove(&e.id) {
                e.fields.extend(d.fields);
            }
        }
        Ok(())
    }

    /// Whether a feed entry names a capture of this instance still waiting for it.
    fn holds_own(&self, e: &Entry) -> bool {
        e.text("o") == Some(self.seat.token())
            && e.text("p")
                .and_then(|p| p.parse::<u64>().ok())
                .is_some_and(|key| self.pending().contains_key(&key))
    }

    /// Applies one feed entry to the cache (under the position's lock).
    fn apply(&self, mut e: Entry) {
        let Some(store) = self.store() else {
            return;
        };
        if e.text("k") == Some("n") {
            // a delivery's view from the instance holding the sender, for viewers here
            if e.text("from") != Some(self.seat.token()) {
                if let Some(v) = e.get("msg").and_then(|m| serde_json::from_slice(m).ok()) {
                    store.publish_delivery(v);
                }
            }
            return;
        }
        let Some(bin) = e.text("bin").map(str::to_owned) else {
            return;
        };
        match e.text("k") {
            Some("r") => {
                let id = entry_ms(&e.id);
                let sp = e.text("sp").and_then(|s| s.parse().ok());
                let facts = BinFacts {
                    sequence_position: sp,
                    evicted: e.text("e").and_then(|s| s.parse().ok()),
                    created_at: e.text("c").and_then(|s| s.parse().ok()).map(from_ms),
                };
                // this instance's own capture: it has the request already
                let key = (e.text("o") == Some(self.seat.token()))
                    .then(|| e.text("p").and_then(|p| p.parse::<u64>().ok()))
                    .flatten();
                if let Some(key) = key {
                    if self.take_own(key, id, |r| store.ingest(r, facts)) {
                        return;
                    }
                }
                if let Some(r) = Self::request(&bin, id, &mut e) {
                    store.ingest(r, facts);
                }
            }
            Some("u") => {
                let id = e.text("id").and_then(|s| s.parse().ok()).unwrap_or(0);
                let Some(h) = e.get("h").map(<[u8]>::to_vec) else {
                    return;
                };
                store.update(id, |r| {
                    let e = codec::encode(r);
                    if let Some(new) = codec::decode(
                        r.id,
                        &r.bin,
                        &h,
                        e.body.to_vec(),
                        &e.response,
                        e.response_body.to_vec(),
                    ) {
                        *r = new;
                    }
                });
            }
            Some("d") => {
                for id in e.text("ids").unwrap_or("").split(',') {
                    if let Ok(id) = id.parse() {
                        store.delete(id);
                    }
                }
            }
            Some("c") => {
                let ids: std::collections::HashSet<RequestId> = e
                    .text("ids")
                    .unwrap_or("")
                    .split(',')
                    .filter_map(|s| s.parse().ok())
                    .collect();
                store.clear(&bin, Some(&|r: &CapturedRequest| ids.contains(&r.id)));
            }
            Some("cfg") => {
                let cfg = e.text("cfg").unwrap_or("{}").to_owned();
                self.apply_config(store, &bin, &cfg);
                self.set_version(&bin, e.text("v").and_then(|v| v.parse().ok()));
                if let Some(t) = e.text("c").and_then(|s| s.parse().ok()).map(from_ms) {
                    store.set_created_at(&bin, t);
                }
            }
            Some("x") => {
                self.set_version(&bin, None);
                if e.text("why") == Some("evicted") {
                    store.evict_bin(&bin);
                } else {
                    store.delete_bin(&bin);
                }
            }
            _ => {}
        }
    }

    /// Reads a bin's config from Redis when the feed brings the first request of a bin this
    /// cache does not have (it may have been evicted here, not there).
    async fn fetch_config(&self, store: &Store, bin: &str) {
        let mut c = self.con.clone();
        let got: redis::RedisResult<Option<String>> = redis::cmd("HGET")
            .arg("hookpit:cfg")
            .arg(bin)
            .query_async(&mut c)
            .await;
        if let Ok(Some(cfg)) = got {
            self.apply_config(store, bin, &cfg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    /// An `XREAD` reply on the feed holding these entries.
    fn reply(entries: &[(&str, &[(&str, &str)])]) -> Value {
        let entries = entries
            .iter()
            .map(|(id, fields)| {
                let fv = fields
                    .iter()
                    .flat_map(|(k, v)| [bulk(k), bulk(v)])
                    .collect();
                Value::Array(vec![bulk(id), Value::Array(fv)])
            })
            .collect();
        Value::Array(vec![Value::Array(vec![
            bulk("hookpit:feed"),
            Value::Array(entries),
        ])])
    }

    #[test]
    fn an_entry_naming_a_run_of_requests_unfolds_into_one_entry_per_request() {
        let v = reply(&[
            ("7-2", &[("k", "x"), ("bin", "old"), ("why", "evicted")]),
            (
                "10-0",
                &[
                    ("k", "R"),
                    ("o", "tok"),
                    ("n", "3"),
                    ("i", "a 11 0 1700\nb 12 4 1800 2\na 13 0 1700"),
                ],
            ),
        ]);
        let got = read_reply(v, (7, 2));
        let ids: Vec<&str> = got.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["7-2", "8-0", "9-0", "10-0"]);
        let second = &got[2];
        assert_eq!(second.text("k"), Some("r"));
        assert_eq!(second.text("o"), Some("tok"));
        assert_eq!(second.text("bin"), Some("b"));
        assert_eq!(second.text("p"), Some("12"));
        assert_eq!(second.text("e"), Some("4"));
        assert_eq!(second.text("c"), Some("1800"));
        assert_eq!(second.text("sp"), Some("2"));
        assert_eq!(got[1].text("sp"), None);
        assert_eq!(got[3].text("bin"), Some("a"));
    }

    #[test]
    fn a_run_already_applied_is_not_unfolded() {
        let v = reply(&[(
            "10-0",
            &[
                ("k", "R"),
                ("o", "tok"),
                ("n", "2"),
                ("i", "a 9 0 1\na 10 0 1"),
            ],
        )]);
        let got = read_reply(v, (10, 0));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].text("k"), Some("R"));
    }
}
