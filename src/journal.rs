//! The store seam: what the in-memory store and the sender tell a backend behind them, as
//! plain facts ([`Op`]), and what a backend hands back at start ([`Snapshot`]).
//!
//! The memory store stays the source for reads and the live feed; a backend (the disk, `disk`)
//! is written behind it. The store appends ops while it holds its own lock, so a backend sees
//! them in the order they happened (a request before its eviction, ids ascending); `append`
//! must therefore be cheap and never wait for I/O. Whether the backend keeps up is read with
//! [`Journal::health`], which the capture path checks before it answers anything 2xx.
//! Uses only `model`; used by `store`, `deliver`, `server`, `disk` and `shared`.

use std::sync::Arc;
use std::time::SystemTime;

use crate::model::{CapturedRequest, RequestId};

/// A bin's lasting state as a backend keeps it (its requests apart).
#[derive(Debug, Clone, PartialEq)]
pub struct BinRecord {
    pub name: Arc<str>,
    /// The bin's config JSON (`{}` when nobody configured it).
    pub config: Arc<serde_json::Value>,
    pub sequence_position: usize,
    /// The fault generator's state.
    pub rng: u64,
    pub created_at: SystemTime,
    /// Requests evicted from this bin, and the highest id among them.
    pub evicted: u64,
    pub evicted_up_to: RequestId,
    /// The id of the last request caught by this bin (it may since have gone).
    pub last_id: RequestId,
}

/// Why a request went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// Deleted or cleared by a user: not counted.
    Deleted,
    /// Evicted by a limit: counted in its bin's and the store's eviction counts.
    Evicted,
}

/// One fact, in the order it happened.
#[derive(Debug, Clone)]
pub enum Op {
    /// A request was recorded (its id is new).
    Request(Arc<CapturedRequest>),
    /// A kept request changed (a forward's result arrived): keep this version.
    Updated(Arc<CapturedRequest>),
    /// A kept request went.
    Remove {
        bin: Arc<str>,
        id: RequestId,
        why: Gone,
    },
    /// Every request of a bin was cleared (not counted as evicted): these ids.
    Clear { bin: Arc<str>, ids: Vec<RequestId> },
    /// A bin's state changed (created, configured, its sequence or fault generator moved).
    Bin(Box<BinRecord>),
    /// A bin went with its requests (these ids).
    RemoveBin {
        bin: Arc<str>,
        why: Gone,
        ids: Vec<RequestId>,
    },
    /// A webhook made or changed over the API, viewer or CLI (`None`: deleted). The JSON is the
    /// sender's own (`deliver` reads it back).
    Webhook {
        id: u64,
        def: Option<Arc<serde_json::Value>>,
    },
    /// A delivery was made or changed (`None`: dropped from the log). The sender's JSON.
    Delivery {
        id: u64,
        record: Option<Arc<serde_json::Value>>,
    },
    /// A delivery's view as viewers are sent it: a backend shared by several instances passes
    /// it on to the others' viewers; any other keeps nothing of it.
    Broadcast(Arc<serde_json::Value>),
}

/// Whether a backend takes writes now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ok,
    /// It fell behind by more than it may buffer; new captures are refused (503) until it
    /// catches up.
    Behind,
    /// Its last write failed (e.g. no space left); new captures are refused (507) until a
    /// write succeeds again. Nothing already answered is dropped: the failed batch is retried.
    Failing(String),
    /// The shared store cannot be reached: captures and writes are refused (503) until it is
    /// back.
    Offline(String),
}

/// A backend written behind the memory store.
pub trait Journal: Send + Sync + std::fmt::Debug {
    /// Takes one fact. Called under the store's lock: never blocks on I/O.
    fn append(&self, op: Op);
    /// Whether new captures may be taken.
    fn health(&self) -> Health;
    /// Writes everything appended so far and returns when it is on disk (or the write failed).
    fn flush(&self);
    /// Bytes the backend holds past its own budget (`--max-disk`), as last measured: the store
    /// evicts its oldest requests to give them back.
    fn over_budget(&self) -> u64 {
        0
    }
    /// The store evicted for [`Journal::over_budget`]: do not ask again before those evictions
    /// are written.
    fn evicted_for_budget(&self) {}
    /// What `/_/api/health` shows of this backend (`kind` and its own figures).
    fn describe(&self) -> serde_json::Value;
}

/// What a backend held at start, for the store and the sender to take back.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The next request id (above every id ever given out).
    pub next_id: RequestId,
    pub evicted_total: u64,
    pub evicted_bins: u64,
    pub bins: Vec<BinRecord>,
    /// Every kept request, in id order.
    pub requests: Vec<CapturedRequest>,
    /// Webhooks made or changed at run time, by id (the sender's JSON).
    pub webhooks: Vec<(u64, serde_json::Value)>,
    /// Logged deliveries, by id (the sender's JSON).
    pub deliveries: Vec<(u64, serde_json::Value)>,
}
