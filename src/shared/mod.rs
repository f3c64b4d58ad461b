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
//! run id) makes every instance drop its cache and viewers resync. The sender runs on one
//! instance at a time (`seat`).
//!
//! This file holds the link (connecting, the run id, online or not) and the capture path;
//! `follow` reads Redis into the cache, `write` writes the cache's changes to Redis, `scripts`
//! are the Lua scripts, `codec` a request's stored form. Uses `store`, `journal`, `model`,
//! `rules`, `deliver` and `sender_api` (through `seat`) and the `redis` crate; used by `server`
//! and `api`.

pub mod codec;
mod follow;
mod scripts;
mod seat;
mod write;

pub use seat::{SenderFactory, LEASE};

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionManager;
use redis::Script;
use tokio::sync::{watch, Notify};

use crate::error::{Error, Result};
use crate::journal::{Health, Op};
use crate::model::{CapturedRequest, RequestId};
use crate::rules::{BinRules, Progress};
use crate::store::{BinFacts, Store};

/// The feed Redis keeps: the entries of about this many last request ids (and about as many
/// entries besides); an instance further behind than this reloads.
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

/// Captures sent to Redis in one script, at most.
const CAPTURE_BATCH: usize = 256;
/// Capture batches in flight at once: one, so the captures that arrive during its round trip
/// go together in the next (group commit). Two in flight halved the batches (7 captures each
/// under 32 connections) and cost Redis about a fifth more CPU per capture, its per-script
/// work (the run check, ids, the bin's ring, the feed entry) spread over fewer requests, for
/// no more throughput.
const BATCHES_IN_FLIGHT: usize = 1;

/// A capture waiting for its batch.
struct Job {
    bin: String,
    cap: usize,
    /// The request's key (its placeholder id) until Redis gives it its id.
    key: u64,
    /// Its response holds the placeholder.
    subst: bool,
    sequence_position: Option<usize>,
    enc: codec::Encoded,
    done: tokio::sync::oneshot::Sender<std::result::Result<u64, String>>,
}

impl Job {
    fn size(&self) -> usize {
        self.bin.len()
            + self.enc.head.len()
            + self.enc.body.len()
            + self.enc.response.len()
            + self.enc.response_body.len()
    }
}

/// Removes a capture's slot from `Shared::pending` when the capture ends, however it ends.
struct PendingSlot<'a> {
    shared: &'a Shared,
    key: u64,
}

impl Drop for PendingSlot<'_> {
    fn drop(&mut self) {
        self.shared.pending().remove(&self.key);
    }
}

/// A capture of this instance between its batch and its answer.
enum Slot {
    /// Sent; the feed has not brought it back yet.
    Waiting(Box<CapturedRequest>),
    /// The feed brought it back and the cache kept it (this is what it kept).
    Kept(Arc<CapturedRequest>),
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
    /// Each bin's config version as this cache last applied it (Redis counts a bin's configs).
    versions: Mutex<std::collections::HashMap<String, u64>>,
    /// Moves each time a config from Redis is applied here.
    configs: watch::Sender<u64>,
    /// The state the captures' keys are drawn from (randomly seeded).
    keys: std::sync::atomic::AtomicU64,
    /// Redis's clock minus this machine's (ms), measured at connect.
    clock_offset: std::sync::atomic::AtomicI64,
    /// The id of the last feed entry applied to the cache: the reader and a capture that
    /// applies its own batch take turns under this lock.
    position: Mutex<String>,
    /// Changes made locally, to be written to Redis in order.
    queue: Mutex<VecDeque<Op>>,
    queued: Notify,
    /// Ops taken from the queue but not yet written.
    writing: Mutex<usize>,
    /// Ops appended so far, and ops written (or given up) so far: a sender request is answered
    /// once what it changed is in Redis.
    appended: std::sync::atomic::AtomicU64,
    done: watch::Sender<u64>,
    /// The count of ops appended up to the last one that changed a bin (a config, a delete, a
    /// clear): a capture is kept only once that one is written.
    bin_ops: std::sync::atomic::AtomicU64,
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
    /// Captures waiting for their batch (taken by `batch_loop` once attached).
    jobs: tokio::sync::mpsc::Sender<Job>,
    jobs_rx: Mutex<Option<tokio::sync::mpsc::Receiver<Job>>>,
    /// This instance's captures between their batch and their answer, by key.
    pending: Mutex<std::collections::HashMap<u64, Slot>>,
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

/// A time from milliseconds since the Unix epoch.
fn from_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
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
        let (jobs, jobs_rx) = tokio::sync::mpsc::channel(4096);
        let shared = Arc::new(Shared {
            shown: shown.clone(),
            client,
            con,
            run: RwLock::new(Arc::from("")),
            online: AtomicBool::new(true),
            error: Mutex::new(None),
            applied: watch::channel(0).0,
            position: Mutex::new("0-0".into()),
            clock_offset: std::sync::atomic::AtomicI64::new(0),
            keys: std::sync::atomic::AtomicU64::new({
                let mut b = [0u8; 8];
                let _ = getrandom::fill(&mut b);
                u64::from_le_bytes(b)
            }),
            versions: Mutex::new(std::collections::HashMap::new()),
            configs: watch::channel(0).0,
            queue: Mutex::new(VecDeque::new()),
            queued: Notify::new(),
            writing: Mutex::new(0),
            appended: std::sync::atomic::AtomicU64::new(0),
            done: watch::channel(0).0,
            bin_ops: std::sync::atomic::AtomicU64::new(0),
            store: OnceLock::new(),
            step: Script::new(scripts::STEP),
            capture: Script::new(&scripts::capture()),
            configure: Script::new(&scripts::configure()),
            delete: Script::new(&scripts::delete()),
            delete_bin: Script::new(&scripts::delete_bin()),
            update: Script::new(&scripts::update()),
            notice: Script::new(&scripts::notice()),
            run_script: Script::new(scripts::RUN),
            seat: seat::Seat::new(),
            jobs,
            jobs_rx: Mutex::new(Some(jobs_rx)),
            pending: Mutex::new(std::collections::HashMap::new()),
            opts,
        });
        // Redis's clock against ours, for the deadlines of captures
        let mut c = shared.con.clone();
        let before = now_ms() as i64;
        let (secs, micros): (i64, i64) = redis::cmd("TIME")
            .query_async(&mut c)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let after = now_ms() as i64;
        shared.clock_offset.store(
            secs * 1000 + micros / 1000 - (before + after) / 2,
            Ordering::Relaxed,
        );
        let run = shared.join_run(0).await.map_err(|e| match e.code() {
            Some("FORMAT") => fail(format!(
                "it holds data of hookpit's shared format {}, this hookpit writes format {}: \
                 run one hookpit version on every instance, or give this one another Redis \
                 database (`redis://HOST:PORT/DB`)",
                e.detail().unwrap_or("?"),
                scripts::FORMAT
            )),
            _ => fail(e.to_string()),
        })?;
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
            .key("hookpit:format")
            .arg(new_run_id())
            .arg(known)
            .arg(scripts::FORMAT)
            .invoke_async(&mut c)
            .await
    }

    fn run(&self) -> Arc<str> {
        self.run.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn store(&self) -> Option<&Store> {
        self.store.get()
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
        self.position().clone_from(&from);
        let me = self.clone();
        let sd = shutdown.clone();
        tokio::spawn(async move { me.follow(from, sd).await });
        let me = self.clone();
        tokio::spawn(async move { me.write_loop(shutdown).await });
        if let Some(rx) = self
            .jobs_rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let me = self.clone();
            tokio::spawn(async move { me.batch_loop(rx).await });
        }
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
        // a bin changed here before (deleted, cleared, configured) is changed in Redis before
        // this capture takes a step there or is kept there
        if !self.bins_written(APPLY_WAIT).await {
            return Err(Refused::Offline(format!(
                "the shared store ({}) is behind with this instance's changes",
                self.shown
            )));
        }
        let run = self.run();
        let mut progress = Progress::default();
        let mut rules = rules;
        let mut stepping = rules
            .as_ref()
            .filter(|r| steps && (r.has_sequence() || r.has_fault()))
            .cloned();
        let mut tries = 0;
        while let Some(r) = &stepping {
            // the step is taken for the config this instance decides with: Redis refuses it
            // when a newer config reached it first, and the step is taken again once the
            // feed has brought that config here
            let mut changed = self.configs.subscribe();
            let mut c = self.con.clone();
            let got: redis::RedisResult<(i64, i64)> = self
                .step
                .key("hookpit:run")
                .key(format!("hookpit:bin:{}", req.bin))
                .arg(&*run)
                .arg(r.sequence_len())
                .arg(u8::from(r.has_fault()))
                .arg(self.deadline())
                .arg(self.version(&req.bin))
                .invoke_async(&mut c)
                .await;
            match got {
                Err(e) if e.to_string().contains("OLDCONFIG") && tries < 3 => {
                    tries += 1;
                    let _ = tokio::time::timeout(APPLY_WAIT, changed.changed()).await;
                    rules = self.store().and_then(|s| s.bin_rules(&req.bin));
                    stepping = rules
                        .as_ref()
                        .filter(|r| steps && (r.has_sequence() || r.has_fault()))
                        .cloned();
                }
                got => {
                    let (pos, draws) = self.answered(got)?;
                    progress.sequence_position = pos.max(0) as usize;
                    progress.rng = crate::rand::after_draws(r.seed, draws.max(0) as u64);
                    break;
                }
            }
        }
        let before = progress.sequence_position;
        // the response is decided before the id exists: it is rendered with a placeholder
        // (a random key, also the request's name until then) that Redis replaces with the id
        // when it takes one
        let key = {
            // drawn from a randomly seeded generator: unpredictable from outside, no system call
            let z = crate::rand::next_u64_shared(&self.keys);
            1_000_000_000_000_000_000 + z % 8_000_000_000_000_000_000
        };
        req.id = key;
        decide(&mut req, &mut progress, rules.clone());
        let stepped = (stepping.is_some() && progress.sequence_position != before)
            .then_some(progress.sequence_position);
        let cap = self
            .store()
            .map_or(self.opts.max_requests, |s| s.bin_capacity(&req.bin));
        let enc = codec::encode(&req);
        let subst = codec::shows(&enc, key);
        let bin = req.bin.clone();
        // the feed brings the request back with its id: this instance takes it from here
        // instead of reading it again
        self.pending().insert(key, Slot::Waiting(Box::new(req)));
        // a client that goes away mid-capture drops this future: its slot goes with it
        let _slot = PendingSlot { shared: self, key };
        let (done, got) = tokio::sync::oneshot::channel();
        let job = Job {
            bin,
            cap,
            key,
            subst,
            sequence_position: stepped,
            enc,
            done,
        };
        let got = match self.jobs.send(job).await {
            Ok(()) => got.await.unwrap_or_else(|_| Err("stopping".into())),
            Err(_) => Err("stopping".into()),
        };
        let id = match got {
            Ok(id) => id,
            Err(why) => return Err(self.refused(&why)),
        };
        // what was answered is readable on this instance at once (usually applied already)
        if *self.applied.borrow() < id {
            let mut applied = self.applied.subscribe();
            let _ = tokio::time::timeout(APPLY_WAIT, applied.wait_for(|a| *a >= id)).await;
        }
        // taken out before the slot's guard goes (it takes the same lock)
        let slot = self.pending().remove(&key);
        match slot {
            Some(Slot::Kept(kept)) => Ok(kept),
            Some(Slot::Waiting(mut r)) => {
                // not read back yet (the reader is slow): it is kept all the same
                r.id = id;
                if subst {
                    codec::settle_id(&mut r.response, key, id);
                }
                Ok(Arc::new(*r))
            }
            None => match self.store().and_then(|s| s.get(id)) {
                Some(kept) => Ok(kept),
                None => Err(self.refused("the request was kept, then evicted at once")),
            },
        }
    }

    /// The time (ms, on Redis's clock) past which a script sent now must not change anything:
    /// before the command's response timeout, after which the capture is answered 503.
    fn deadline(&self) -> i64 {
        now_ms() as i64
            + self.clock_offset.load(Ordering::Relaxed)
            + (RESPONSE_TIMEOUT - Duration::from_millis(500)).as_millis() as i64
    }

    /// A bin's config version as this cache has it (0: never configured).
    fn version(&self, bin: &str) -> u64 {
        self.versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(bin)
            .copied()
            .unwrap_or(0)
    }

    /// Notes the config version a bin now has here (`None`: the bin went).
    fn set_version(&self, bin: &str, version: Option<u64>) {
        let mut v = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        match version {
            Some(n) => {
                v.insert(bin.to_owned(), n);
            }
            None => {
                v.remove(bin);
            }
        }
        drop(v);
        self.configs.send_modify(|n| *n += 1);
    }

    fn position(&self) -> std::sync::MutexGuard<'_, String> {
        self.position.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<u64, Slot>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a request this instance captured back from the feed, when `key` names one still
    /// waiting: gives it its id (its response's placeholder replaced) and hands it to `keep`,
    /// leaving what was kept for its capture to answer with. False when there is none (read
    /// the entry instead).
    fn take_own(
        &self,
        key: u64,
        id: RequestId,
        keep: impl FnOnce(CapturedRequest) -> Option<Arc<CapturedRequest>>,
    ) -> bool {
        // under the map's lock, so a capture that stops waiting meanwhile finds the slot filled
        let mut pending = self.pending();
        match pending.remove(&key) {
            Some(Slot::Waiting(mut r)) => {
                let placeholder = r.id;
                r.id = id;
                codec::settle_id(&mut r.response, placeholder, id);
                if let Some(kept) = keep(*r) {
                    pending.insert(key, Slot::Kept(kept));
                }
                true
            }
            Some(other) => {
                pending.insert(key, other);
                false
            }
            None => false,
        }
    }

    /// Sends captures to Redis in batches: whatever is waiting when a batch goes (up to
    /// [`CAPTURE_BATCH`] or about [`READ_BYTES`]) goes in one script, [`BATCHES_IN_FLIGHT`] at once.
    async fn batch_loop(self: Arc<Self>, mut jobs: tokio::sync::mpsc::Receiver<Job>) {
        let turns = Arc::new(tokio::sync::Semaphore::new(BATCHES_IN_FLIGHT));
        loop {
            let Ok(turn) = turns.clone().acquire_owned().await else {
                return;
            };
            let Some(first) = jobs.recv().await else {
                return;
            };
            let mut bytes = first.size();
            let mut batch = vec![first];
            while batch.len() < CAPTURE_BATCH && bytes < READ_BYTES {
                match jobs.try_recv() {
                    Ok(j) => {
                        bytes += j.size();
                        batch.push(j);
                    }
                    Err(_) => break,
                }
            }
            let me = self.clone();
            tokio::spawn(async move {
                me.send_batch(batch).await;
                drop(turn);
            });
        }
    }

    /// Keeps one batch of captures in Redis and tells each its id (or why not).
    async fn send_batch(&self, batch: Vec<Job>) {
        let run = self.run();
        // EVALSHA built here, each request's bytes copied once into the command (a script
        // invocation keeps a copy of every argument, then copies them into its command)
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(self.capture.get_hash())
            .arg(7)
            .arg("hookpit:run")
            .arg("hookpit:id")
            .arg("hookpit:ev")
            .arg("hookpit:feed")
            .arg("hookpit:bins")
            .arg("hookpit:cfg")
            .arg("hookpit:top")
            .arg(&*run)
            .arg(self.opts.max_bins.max(1))
            .arg(FEED_WINDOW)
            .arg(now_ms())
            .arg(self.seat.token())
            .arg(batch.len())
            .arg(self.deadline());
        for j in &batch {
            cmd.arg(&j.bin).arg(j.cap).arg(j.key);
            if j.subst {
                cmd.arg(j.key);
            } else {
                cmd.arg("");
            }
            match j.sequence_position {
                Some(p) => cmd.arg(p),
                None => cmd.arg(""),
            };
            cmd.arg(&j.enc.head[..])
                .arg(&j.enc.body[..])
                .arg(&j.enc.response[..])
                .arg(&j.enc.response_body[..]);
        }
        let mut c = self.con.clone();
        let got: redis::RedisResult<Vec<redis::Value>> = match cmd.query_async(&mut c).await {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                // Redis lost its scripts (restarted, or SCRIPT FLUSH): load it and go again
                match self.capture.load_async(&mut c).await {
                    Ok(_) => cmd.query_async(&mut c).await,
                    Err(e) => Err(e),
                }
            }
            got => got,
        };
        let got = got.and_then(|v| {
            let int = |v: Option<&redis::Value>| match v {
                Some(redis::Value::Int(n)) => Ok(*n as u64),
                _ => Err(redis::RedisError::from((
                    redis::ErrorKind::Parse,
                    "unexpected reply of the capture script",
                ))),
            };
            let prev = match v.get(1) {
                Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                _ => String::new(),
            };
            // the feed's lines naming the batch's requests: `bin key evicted created [position]`
            let facts: Vec<(u64, u64)> = match v.get(3) {
                Some(redis::Value::BulkString(b)) => std::str::from_utf8(b)
                    .unwrap_or("")
                    .split('\n')
                    .filter_map(|line| {
                        let mut parts = line.split(' ').skip(2);
                        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
                    })
                    .collect(),
                _ => Vec::new(),
            };
            Ok((int(v.first())?, prev, int(v.get(2))? == 1, facts))
        });
        match got {
            Ok((first, prev, clean, facts)) => {
                // this batch follows what the cache applied last: apply it now, in place of
                // the reader, so the answer waits for no second round trip
                let n = batch.len();
                if clean && facts.len() == n {
                    if let Some(store) = self.store() {
                        let mut pos = self.position();
                        if *pos == prev {
                            let last = first + batch.len() as u64 - 1;
                            for (i, j) in batch.iter().enumerate() {
                                let facts = BinFacts {
                                    sequence_position: j.sequence_position,
                                    evicted: Some(facts[i].0),
                                    created_at: Some(from_ms(facts[i].1)),
                                };
                                self.take_own(j.key, first + i as u64, |r| store.ingest(r, facts));
                            }
                            *pos = format!("{last}-0");
                            drop(pos);
                            self.applied
                                .send_if_modified(|a| (last > *a).then(|| *a = last).is_some());
                        }
                    }
                }
                for (i, j) in batch.into_iter().enumerate() {
                    let _ = j.done.send(Ok(first + i as u64));
                }
            }
            Err(e) => {
                let why = e.to_string();
                for j in batch {
                    let _ = j.done.send(Err(why.clone()));
                }
            }
        }
    }

    /// Why a capture was refused: Redis is marked offline unless it only restarted (the
    /// reader resyncs then).
    fn refused(&self, why: &str) -> Refused {
        let stale = why.contains("STALE");
        let why = if stale {
            "the shared store restarted; this instance is resyncing".to_owned()
        } else {
            self.went_offline(why);
            why.to_owned()
        };
        Refused::Offline(format!(
            "the shared store ({}) did not take the request: {why}",
            self.shown
        ))
    }

    /// A command's result: a failure refuses the capture (see [`Shared::refused`]).
    fn answered<T>(&self, got: redis::RedisResult<T>) -> std::result::Result<T, Refused> {
        got.map_err(|e| self.refused(&e.to_string()))
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
