//! Shared mode (`--redis URL`): several hookpit instances on one Redis act as one hookpit.
//!
//! Redis holds the truth: one id sequence, each bin's ring of requests (a stream), the bins'
//! configs, sequence positions and fault draws, and a feed stream of every change in order
//! (see `scripts`). Each instance keeps its memory store as a cache of it, fed only by the feed
//! (one reader task, `XREAD BLOCK` on its own connection), so every instance applies the same
//! changes in the same order, and waits and the live feed work locally and race-free exactly as
//! in memory mode (a wait is set up under the store's lock; the feed is applied under it).
//!
//! A capture is answered only once Redis keeps it: its sequence step or fault draw is taken in
//! Redis first (only for bins that have them), the response is decided here with a placeholder
//! id, and one script takes the id, keeps the request and appends it to the feed; the answer
//! then waits (briefly) until this instance's own cache has it, so what a sender was answered
//! is readable here at once. Any other change (a delete, a clear, a config, an update) is made
//! in the local store first and written to Redis behind it through the store's journal seam
//! (`Journal`), in order, retried while Redis is away. While Redis cannot be reached, captures
//! and writes are refused with 503, `/_/api/health` names the store, viewers are told; when it
//! returns everything resumes and the feed catches up; a Redis that came back empty (a new
//! run id) makes every instance drop its cache and viewers resync.
//!
//! Uses `store`, `journal`, `model`, `rules` and the `redis` crate; used by `server`.

pub mod codec;
mod scripts;
mod seat;

pub use seat::{SenderFactory, LEASE};

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionManager;
use redis::{Script, Value};
use tokio::sync::{watch, Notify};

use crate::error::{Error, Result};
use crate::journal::{Gone, Health, Journal, Op};
use crate::model::{CapturedRequest, RequestId};
use crate::rules::{BinRules, BinSetup, Progress};
use crate::store::Store;

/// Feed entries Redis keeps (about): an instance further behind than this reloads.
pub const FEED_WINDOW: usize = 10_000;
/// How long a capture's answer waits for this instance's cache to have it.
const APPLY_WAIT: Duration = Duration::from_secs(2);
/// How long one command may take before Redis counts as unreachable.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
/// Feed entries read at a time, at most; fewer while entries are large (see
/// [`READ_BYTES`]).
const READ_BATCH: usize = 1024;
/// About how many bytes of feed entries one read may bring.
const READ_BYTES: usize = 4 * 1024 * 1024;
/// Journal ops written per round trip.
const WRITE_BATCH: usize = 256;

/// What shared mode needs of the server's settings.
#[derive(Debug, Clone)]
pub struct SharedOptions {
    pub url: String,
    /// A bin's capacity when its config sets none (`--max-requests`).
    pub max_requests: usize,
    pub max_bins: usize,
    /// The server's body limit, for compiling configs read from Redis.
    pub max_body: usize,
}

/// The URL as it may be shown: without its password.
pub fn shown_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (auth, host) = match rest.rsplit_once('@') {
                Some((a, h)) => (Some(a), h),
                None => (None, rest),
            };
            match auth {
                Some(a) => {
                    let user = a.split_once(':').map_or(a, |(u, _)| u);
                    if user.is_empty() {
                        format!("{scheme}://***@{host}")
                    } else {
                        format!("{scheme}://{user}:***@{host}")
                    }
                }
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

/// Why Redis did not take a capture.
#[derive(Debug)]
pub enum Refused {
    /// It cannot be reached (or failed): the sender should come back.
    Offline(String),
}

/// One instance's link to the shared store.
pub struct Shared {
    opts: SharedOptions,
    shown: String,
    client: redis::Client,
    con: ConnectionManager,
    run: RwLock<Arc<str>>,
    online: AtomicBool,
    error: Mutex<Option<String>>,
    /// The highest request id this instance's cache has applied from the feed.
    applied: watch::Sender<RequestId>,
    /// Changes made locally, to be written to Redis in order.
    queue: Mutex<VecDeque<Op>>,
    queued: Notify,
    /// Ops taken from the queue but not yet written.
    writing: Mutex<usize>,
    written: Notify,
    /// Ops appended so far, and ops written (or given up) so far: a sender request is answered
    /// once what it changed is in Redis.
    appended: std::sync::atomic::AtomicU64,
    done: watch::Sender<u64>,
    /// The store's handle that tells no backend (what the feed brings must not go back).
    store: OnceLock<Store>,
    step: Script,
    capture: Script,
    configure: Script,
    delete: Script,
    delete_bin: Script,
    update: Script,
    notice: Script,
    run_script: Script,
    /// The sender's seat (see `seat`).
    seat: seat::Seat,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("url", &self.shown).finish()
    }
}

fn new_run_id() -> String {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A bin's capacity from its config JSON, else the default.
fn capacity(config: &serde_json::Value, default: usize) -> usize {
    config
        .get("max_requests")
        .and_then(|v| v.as_u64())
        .map_or(default, |n| n as usize)
        .max(1)
}

/// The request id of a stream entry id (`<id>-<n>`).
fn entry_ms(id: &str) -> u64 {
    id.split('-')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// One bin's ring read at start, a page at a time.
struct Cursor {
    bin: String,
    position: Option<usize>,
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

/// The feed entries of an `XREAD` reply on one stream.
fn read_reply(v: Value) -> Vec<Entry> {
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
    /// Connects to Redis and names (or joins) its run. Fails with the URL (never the password)
    /// when Redis cannot be reached or is not usable.
    pub async fn connect(opts: SharedOptions) -> Result<Arc<Shared>> {
        let shown = shown_url(&opts.url);
        let fail = |message: String| Error::Shared {
            url: shown.clone(),
            message,
        };
        let client = redis::Client::open(opts.url.as_str()).map_err(|e| fail(e.to_string()))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let con = tokio::time::timeout(
            Duration::from_secs(5),
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| fail("no answer within 5s".into()))?
        .map_err(|e| fail(e.to_string()))?;
        let mut c = con.clone();
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut c)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let version = info
            .lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .unwrap_or("0")
            .trim()
            .to_owned();
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        if (major, minor) < (6, 2) {
            return Err(fail(format!(
                "Redis {version} is too old: shared mode needs Redis 6.2 or later"
            )));
        }
        let shared = Arc::new(Shared {
            shown: shown.clone(),
            client,
            con,
            run: RwLock::new(Arc::from("")),
            online: AtomicBool::new(true),
            error: Mutex::new(None),
            applied: watch::channel(0).0,
            queue: Mutex::new(VecDeque::new()),
            queued: Notify::new(),
            writing: Mutex::new(0),
            written: Notify::new(),
            appended: std::sync::atomic::AtomicU64::new(0),
            done: watch::channel(0).0,
            store: OnceLock::new(),
            step: Script::new(scripts::STEP),
            capture: Script::new(scripts::CAPTURE),
            configure: Script::new(&scripts::configure()),
            delete: Script::new(&scripts::delete()),
            delete_bin: Script::new(&scripts::delete_bin()),
            update: Script::new(&scripts::update()),
            notice: Script::new(&scripts::notice()),
            run_script: Script::new(scripts::RUN),
            seat: seat::Seat::new(),
            opts,
        });
        let run = shared.join_run(0).await.map_err(|e| fail(e.to_string()))?;
        *shared.run.write().unwrap_or_else(|e| e.into_inner()) = Arc::from(run.as_str());
        Ok(shared)
    }

    /// The run id in Redis: its own, or a new one when it has none (made with `known` as the
    /// lowest next id).
    async fn join_run(&self, known: RequestId) -> redis::RedisResult<String> {
        let mut c = self.con.clone();
        self.run_script
            .key("hookpit:run")
            .key("hookpit:id")
            .arg(new_run_id())
            .arg(known)
            .invoke_async(&mut c)
            .await
    }

    fn run(&self) -> Arc<str> {
        self.run.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn store(&self) -> Option<&Store> {
        self.store.get()
    }

    /// The URL as shown (no password).
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// Loads what Redis holds into `store` (whose instance id becomes the run id) and starts
    /// following the feed and writing the store's changes, until `shutdown`.
    pub async fn attach(
        self: &Arc<Self>,
        store: &Store,
        shutdown: watch::Receiver<bool>,
    ) -> Result<()> {
        let _ = self.store.set(store.quiet());
        store.set_instance(&self.run());
        let from = self.load().await.map_err(|e| Error::Shared {
            url: self.shown.clone(),
            message: e.to_string(),
        })?;
        let me = self.clone();
        let sd = shutdown.clone();
        tokio::spawn(async move { me.follow(from, sd).await });
        let me = self.clone();
        tokio::spawn(async move { me.write_loop(shutdown).await });
        Ok(())
    }

    /// Reads every bin and request Redis holds into the cache; returns the feed position to
    /// follow from (taken first, so nothing falls between).
    async fn load(&self) -> redis::RedisResult<String> {
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
            let pos: Option<usize> = redis::cmd("HGET")
                .arg(format!("hookpit:bin:{bin}"))
                .arg("pos")
                .query_async(&mut c)
                .await?;
            let updates: std::collections::HashMap<String, Vec<u8>> = redis::cmd("HGETALL")
                .arg(format!("hookpit:upd:{bin}"))
                .query_async(&mut c)
                .await?;
            cursors.push(Cursor {
                bin,
                position: pos,
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
                store.ingest(r, cur.position);
            }
            if let Some(id) = cur.next_id(&mut c, upto).await? {
                heads.push(std::cmp::Reverse((id, i)));
            }
        }
        self.applied
            .send_if_modified(|a| (upto > *a).then(|| *a = upto).is_some());
        Ok(from)
    }

    /// A request from its entry's fields.
    fn request(bin: &str, id: RequestId, e: &mut Entry) -> Option<CapturedRequest> {
        let (body, rbody) = (e.take("b"), e.take("rb"));
        codec::decode(id, bin, e.get("h")?, body, e.get("rs")?, rbody)
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
    async fn follow(self: Arc<Self>, mut from: String, mut shutdown: watch::Receiver<bool>) {
        let mut reader: Option<redis::aio::MultiplexedConnection> = None;
        let mut backoff = Duration::from_millis(50);
        // entries per read, adapted to their size so one read stays near READ_BYTES
        let mut count = 64usize;
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
                    let batch = read_reply(v);
                    if !batch.is_empty() {
                        let bytes: usize = batch
                            .iter()
                            .flat_map(|e| e.fields.iter().map(|(k, v)| k.len() + v.len()))
                            .sum();
                        let each = (bytes / batch.len()).max(1);
                        count = (READ_BYTES / each).clamp(1, READ_BATCH);
                    }
                    for e in batch {
                        if Self::gap(&from, &e.id) {
                            gap = true;
                            break;
                        }
                        from = e.id.clone();
                        self.apply(e).await;
                    }
                    if gap {
                        // the feed was trimmed past where this instance was: reload
                        if let Some(store) = self.store() {
                            store.reset("this instance fell behind the shared store's feed");
                        }
                        match self.load().await {
                            Ok(f) => from = f,
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
        Ok(())
    }

    fn went_offline(&self, why: &str) {
        let msg = format!("the shared store ({}) is unreachable: {why}", self.shown);
        let was = self.online.swap(false, Ordering::AcqRel);
        *self.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(msg.clone());
        if was {
            if let Some(store) = self.store() {
                store.notice(serde_json::json!({"type": "store", "ok": false, "error": msg}));
            }
        }
    }

    fn came_back(&self) {
        if !self.online.swap(true, Ordering::AcqRel) {
            *self.error.lock().unwrap_or_else(|e| e.into_inner()) = None;
            if let Some(store) = self.store() {
                store.notice(serde_json::json!({"type": "store", "ok": true}));
                store.notice(
                    serde_json::json!({"type": "resync", "reason": "the shared store is back"}),
                );
            }
        }
    }

    /// Applies one feed entry to the cache.
    async fn apply(&self, mut e: Entry) {
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
                if store.bin(&bin).is_none() {
                    self.fetch_config(store, &bin).await;
                }
                if let Some(r) = Self::request(&bin, id, &mut e) {
                    store.ingest(r, sp);
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
            }
            Some("x") => {
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

    /// Whether captures may be taken now.
    pub fn health(&self) -> Health {
        if self.online.load(Ordering::Acquire) {
            Health::Ok
        } else {
            Health::Offline(
                self.error
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
                    .unwrap_or_else(|| format!("the shared store ({}) is unreachable", self.shown)),
            )
        }
    }

    /// Keeps a captured request in Redis and answers with it once this instance's cache has
    /// it. `decide` fills in the response as `Store::record`'s `respond` does; `steps` says
    /// whether it may take a sequence step or fault draw (which then comes from Redis).
    pub async fn capture(
        &self,
        mut req: CapturedRequest,
        rules: Option<Arc<BinRules>>,
        steps: bool,
        decide: impl FnOnce(&mut CapturedRequest, &mut Progress, Option<Arc<BinRules>>),
    ) -> std::result::Result<Arc<CapturedRequest>, Refused> {
        let run = self.run();
        let mut progress = Progress::default();
        let stepping = rules
            .as_ref()
            .filter(|r| steps && (r.has_sequence() || r.has_fault()))
            .cloned();
        if let Some(r) = &stepping {
            let mut c = self.con.clone();
            let got: redis::RedisResult<(i64, i64)> = self
                .step
                .key("hookpit:run")
                .key(format!("hookpit:bin:{}", req.bin))
                .arg(&*run)
                .arg(r.sequence_len())
                .arg(u8::from(r.has_fault()))
                .invoke_async(&mut c)
                .await;
            let (pos, draws) = self.answered(got)?;
            progress.sequence_position = pos.max(0) as usize;
            progress.rng = crate::rand::after_draws(r.seed, draws.max(0) as u64);
        }
        let before = progress.sequence_position;
        // the response is decided before the id exists: it is rendered with a placeholder
        // that Redis replaces with the id when it takes one
        let placeholder = {
            let mut b = [0u8; 8];
            let _ = getrandom::fill(&mut b);
            1_000_000_000_000_000_000 + u64::from_le_bytes(b) % 8_000_000_000_000_000_000
        };
        req.id = placeholder;
        decide(&mut req, &mut progress, rules.clone());
        let stepped = (stepping.is_some() && progress.sequence_position != before)
            .then_some(progress.sequence_position);
        let cap = self
            .store()
            .map_or(self.opts.max_requests, |s| s.bin_capacity(&req.bin));
        let enc = codec::encode(&req);
        let rendered = placeholder.to_string();
        let has_placeholder = memchr::memmem::find(&enc.response, rendered.as_bytes()).is_some()
            || memchr::memmem::find(&enc.response_body, rendered.as_bytes()).is_some();
        let mut c = self.con.clone();
        let got: redis::RedisResult<u64> = self
            .capture
            .key("hookpit:run")
            .key("hookpit:id")
            .key("hookpit:ev")
            .key("hookpit:feed")
            .key("hookpit:bins")
            .key("hookpit:cfg")
            .arg(&*run)
            .arg(&req.bin)
            .arg(cap)
            .arg(self.opts.max_bins.max(1))
            .arg(FEED_WINDOW)
            .arg(if has_placeholder {
                rendered.as_str()
            } else {
                ""
            })
            .arg(now_ms())
            .arg(stepped.map(|p| p.to_string()).unwrap_or_default())
            .arg(&enc.head[..])
            .arg(&enc.body[..])
            .arg(&enc.response[..])
            .arg(&enc.response_body[..])
            .invoke_async(&mut c)
            .await;
        let id = self.answered(got)?;
        req.id = id;
        if has_placeholder {
            codec::settle_id(&mut req.response, placeholder, id);
        }
        // what was answered is readable on this instance at once
        let mut applied = self.applied.subscribe();
        let _ = tokio::time::timeout(APPLY_WAIT, applied.wait_for(|a| *a >= id)).await;
        match self.store().and_then(|s| s.get(id)) {
            Some(kept) => Ok(kept),
            None => Ok(Arc::new(req)),
        }
    }

    /// A command's result: a failure marks Redis offline (a stale run is resynced by the
    /// reader) and refuses the capture.
    fn answered<T>(&self, got: redis::RedisResult<T>) -> std::result::Result<T, Refused> {
        match got {
            Ok(v) => Ok(v),
            Err(e) => {
                let stale = e.to_string().contains("STALE");
                let why = if stale {
                    "the shared store restarted; this instance is resyncing".to_owned()
                } else {
                    e.to_string()
                };
                if !stale {
                    self.went_offline(&why);
                }
                Err(Refused::Offline(format!(
                    "the shared store ({}) did not take the request: {why}",
                    self.shown
                )))
            }
        }
    }

    /// Writes the store's changes to Redis in order, retrying while it is away.
    async fn write_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        // after a stop, what is queued is still written while Redis answers
        let mut closing = false;
        loop {
            let batch: Vec<Op> = {
                let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                let n = q.len().min(WRITE_BATCH);
                let b: Vec<Op> = q.drain(..n).collect();
                *self.writing.lock().unwrap_or_else(|e| e.into_inner()) = b.len();
                b
            };
            if batch.is_empty() {
                self.written.notify_waiters();
                if closing || *shutdown.borrow() {
                    return;
                }
                tokio::select! {
                    _ = self.queued.notified() => continue,
                    _ = shutdown.changed() => continue,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => continue,
                }
            }
            let mut i = 0;
            while i < batch.len() {
                match self.write(&batch[i]).await {
                    Ok(()) => {
                        i += 1;
                        self.done.send_modify(|d| *d += 1);
                    }
                    Err(e) if e.to_string().contains("STALE") => {
                        // Redis restarted empty: what was made in the old run is dropped
                        self.done.send_modify(|d| *d += (batch.len() - i) as u64);
                        i = batch.len();
                    }
                    Err(e) => {
                        self.went_offline(&e.to_string());
                        if *shutdown.borrow() {
                            // stopping while Redis is away: nothing more can be written
                            closing = true;
                            self.done.send_modify(|d| *d += (batch.len() - i) as u64);
                            break;
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                            _ = shutdown.changed() => {}
                        }
                    }
                }
            }
            *self.writing.lock().unwrap_or_else(|e| e.into_inner()) = 0;
        }
    }

    /// Writes one op to Redis.
    async fn write(&self, op: &Op) -> redis::RedisResult<()> {
        let run = self.run();
        let mut c = self.con.clone();
        fn with_feed<'a>(s: &'a Script, run: &str) -> redis::ScriptInvocation<'a> {
            let mut inv = s.key("hookpit:run");
            inv.key("hookpit:id")
                .key("hookpit:ev")
                .key("hookpit:feed")
                .key("hookpit:bins")
                .key("hookpit:cfg")
                .arg(run)
                .arg(FEED_WINDOW);
            inv
        }
        let feed_keys = |s| with_feed(s, &run);
        match op {
            Op::Bin(rec) => {
                let json = serde_json::to_string(&*rec.config).unwrap_or_else(|_| "{}".into());
                let cap = capacity(&rec.config, self.opts.max_requests);
                feed_keys(&self.configure)
                    .arg(&*rec.name)
                    .arg(json)
                    .arg(cap)
                    .arg(now_ms())
                    .invoke_async::<Value>(&mut c)
                    .await?;
            }
            Op::Remove {
                bin,
                id,
                why: Gone::Deleted,
            } => {
                feed_keys(&self.delete)
                    .arg(&**bin)
                    .arg("d")
                    .arg(id.to_string())
                    .invoke_async::<Value>(&mut c)
                    .await?;
            }
            Op::Clear { bin, ids } => {
                for chunk in ids.chunks(1000) {
                    let list: Vec<String> = chunk.iter().map(u64::to_string).collect();
                    feed_keys(&self.delete)
                        .arg(&**bin)
                        .arg("c")
                        .arg(list.join(","))
                        .invoke_async::<Value>(&mut c)
                        .await?;
                }
            }
            Op::RemoveBin {
                bin,
                why: Gone::Deleted,
                ..
            } => {
                feed_keys(&self.delete_bin)
                    .arg(&**bin)
                    .invoke_async::<Value>(&mut c)
                    .await?;
            }
            Op::Updated(r) => {
                feed_keys(&self.update)
                    .arg(&r.bin)
                    .arg(r.id)
                    .arg(codec::head(r))
                    .invoke_async::<Value>(&mut c)
                    .await?;
            }
            Op::Webhook { id, def } => {
                let cmd = match def {
                    Some(d) => {
                        let mut c = redis::cmd("HSET");
                        c.arg("hookpit:webhooks").arg(id).arg(d.to_string());
                        c
                    }
                    None => {
                        let mut c = redis::cmd("HDEL");
                        c.arg("hookpit:webhooks").arg(id);
                        c
                    }
                };
                cmd.query_async::<Value>(&mut c).await?;
            }
            Op::Delivery { id, record } => {
                let cmd = match record {
                    Some(d) => {
                        let mut c = redis::cmd("HSET");
                        c.arg("hookpit:deliveries").arg(id).arg(d.to_string());
                        c
                    }
                    None => {
                        let mut c = redis::cmd("HDEL");
                        c.arg("hookpit:deliveries").arg(id);
                        c
                    }
                };
                cmd.query_async::<Value>(&mut c).await?;
            }
            Op::Broadcast(view) => {
                // the other instances' viewers hear of the delivery through the feed
                feed_keys(&self.notice)
                    .arg(self.seat.token())
                    .arg(view.to_string())
                    .invoke_async::<Value>(&mut c)
                    .await?;
            }
            // evictions are each cache's own (Redis keeps its rings itself); requests come in
            // through `capture`
            Op::Remove { .. } | Op::RemoveBin { .. } | Op::Request(_) => {}
        }
        Ok(())
    }
}

impl Shared {
    /// Waits (at most `limit`) until every change appended so far is written to Redis.
    pub async fn synced(&self, limit: Duration) {
        let upto = self.appended.load(Ordering::Acquire);
        let mut done = self.done.subscribe();
        let _ = tokio::time::timeout(limit, done.wait_for(|d| *d >= upto)).await;
    }
}

impl Journal for Shared {
    fn append(&self, op: Op) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.push_back(op);
        self.appended.fetch_add(1, Ordering::AcqRel);
        drop(q);
        self.queued.notify_one();
    }

    fn health(&self) -> Health {
        Shared::health(self)
    }

    fn flush(&self) {
        // at a clean stop: give the writer a moment to empty the queue
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while std::time::Instant::now() < deadline {
            let empty = self
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
                && *self.writing.lock().unwrap_or_else(|e| e.into_inner()) == 0;
            if empty || !self.online.load(Ordering::Acquire) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": "redis",
            "url": self.shown,
            "run": &*self.run(),
            "applied": *self.applied.borrow(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_url_is_never_shown() {
        assert_eq!(
            shown_url("redis://:s3cret@127.0.0.1:6379/2"),
            "redis://***@127.0.0.1:6379/2"
        );
        assert_eq!(
            shown_url("rediss://app:s3cret@cache.internal:6380"),
            "rediss://app:***@cache.internal:6380"
        );
        assert_eq!(
            shown_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }

    #[test]
    fn a_bins_capacity_comes_from_its_config_or_the_default() {
        assert_eq!(capacity(&serde_json::json!({"max_requests": 3}), 100), 3);
        assert_eq!(capacity(&serde_json::json!({}), 100), 100);
        assert_eq!(capacity(&serde_json::json!({"max_requests": 0}), 100), 1);
    }

    #[test]
    fn an_entry_id_names_its_request_id() {
        assert_eq!(entry_ms("42-0"), 42);
        assert_eq!(entry_ms("42-7"), 42);
        assert_eq!(entry_ms("junk"), 0);
    }
}
