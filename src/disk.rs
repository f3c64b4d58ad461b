//! The durable store behind `--data-dir`: one SQLite database (`DIR/hookpit.db`, WAL mode)
//! written behind the memory store by one writer thread, and read once at start.
//!
//! Owns the directory's lock (`DIR/hookpit.lock`, held for the process's life), the database
//! connection (only the writer thread touches it after start) and the queue of facts
//! ([`Op`]) the store and the sender append. `append` never waits for the disk: the writer wakes
//! on the first fact, lets others join for [`GROUP`] (or until [`BATCH`] facts wait) and writes
//! them in one transaction (group commit). A failed write (no space left) keeps its batch and is
//! retried; meanwhile [`Journal::health`] says so and captures are refused, never answered 2xx
//! unless kept. Past `max_disk` it asks the store to evict the oldest requests. Opening refuses
//! a directory in use, one holding files it did not write, and a damaged or newer-format store,
//! naming the path, and never writes to what it refused (nor through a symbolic link in place
//! of one of its files). A new store is made whole under
//! another name and then renamed, so a start killed while making it leaves nothing it refuses.
//!
//! Uses `journal` (the seam), `model`, `tls` (the name of the certificate folder it accepts) and
//! `error`; used by `server`. A user may open the database with `sqlite3` and query it: one row
//! per request, headers as JSON, bodies as blobs.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use crate::error::{Error, Result};
use crate::journal::{BinRecord, Gone, Health, Journal, Op, Snapshot};
use crate::model::{Body, CapturedRequest, Header, ResponseSent, Timings};

/// The store's file in the data directory.
pub const DB_FILE: &str = "hookpit.db";
/// The lock held while a hookpit uses the directory.
pub const LOCK_FILE: &str = "hookpit.lock";
/// The smallest `--max-disk` accepted: an empty store takes about 100 KiB.
pub const MIN_DISK: u64 = 1024 * 1024;
/// The format this build writes; older ones are migrated when opened, newer ones refused.
pub const FORMAT_VERSION: i64 = 1;
/// `PRAGMA application_id` of a hookpit store ("hook").
const APPLICATION_ID: i64 = 0x686f_6f6b;
/// How long the writer lets facts gather after the first one before it writes.
pub const GROUP: Duration = Duration::from_millis(50);
/// Facts that make the writer write at once.
pub const BATCH: usize = 4096;
/// Unwritten bytes past which captures are refused until the writer catches up: a quarter of
/// the memory budget, within these bounds.
const BEHIND_MIN: usize = 16 * 1024 * 1024;
const BEHIND_MAX: usize = 256 * 1024 * 1024;
/// How long an answered change may wait to be written before captures are refused (503) until
/// the writer catches up: what a `kill -9` can lose is bounded by it.
const MAX_LAG: Duration = Duration::from_millis(500);
/// Tries of a failing write once the store is closing (space may come back meanwhile).
const CLOSE_TRIES: u32 = 10;
/// How long the writer waits before trying a failed write again.
const RETRY_EVERY: Duration = Duration::from_millis(200);
/// Where a new store is made before it takes [`DB_FILE`]'s name whole, so a start killed
/// while creating it leaves no half-made store (only this, replaced by the next start).
const NEW_FILE: &str = "hookpit.db-new";
/// Files a hookpit store directory may hold.
const OURS: [&str; 7] = [
    DB_FILE,
    "hookpit.db-wal",
    "hookpit.db-shm",
    "hookpit.db-journal",
    NEW_FILE,
    "hookpit.db-new-journal",
    LOCK_FILE,
];

/// The durable store's settings.
#[derive(Debug, Clone)]
pub struct DiskOptions {
    /// Bytes the database may use; past it the oldest requests are evicted.
    pub max_disk: u64,
    /// The server's memory budget (`--max-memory`): what waits to be written is bounded by it.
    pub max_memory: usize,
}

/// What the writer thread and the appenders share.
#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    /// Wakes the writer: facts arrived, a flush is wanted, or it should stop.
    wake: Condvar,
    /// Wakes flushers: a batch was written (or failed).
    written: Condvar,
    max_disk: u64,
    /// Unwritten bytes past which the store says it is behind.
    max_behind: usize,
    /// Bytes the database uses past `max_disk`, as last measured (0: within it).
    over: AtomicU64,
    /// Bytes the database uses, as last measured.
    used: AtomicU64,
}

#[derive(Debug, Default)]
struct Queue {
    ops: Vec<Op>,
    /// Approximate bytes appended and not yet written.
    unwritten: usize,
    /// Facts appended, ever; facts written, ever.
    appended: u64,
    written: u64,
    /// The error of the last write, while writes fail.
    failing: Option<String>,
    /// Facts appended before the store last evicted for the disk budget: a measurement of a
    /// batch older than that does not ask again.
    budget_barrier: u64,
    flush_wanted: bool,
    /// A test's fault switch: the writer writes nothing (a disk too slow to keep up).
    paused: bool,
    closing: bool,
    /// A test's fault switch, to apply before the next write: `true` stops the database
    /// growing (a full disk), `false` lifts that.
    page_limit: Option<bool>,
    /// When the oldest fact waiting in `ops` was appended.
    queued_since: Option<Instant>,
    /// What the writer could not write before it stopped.
    lost: Option<String>,
    /// When the oldest fact of the batch the writer holds (writing, or retrying) was appended.
    writing_since: Option<Instant>,
}

/// The durable store: a handle to the writer thread. Dropping it writes what is queued and
/// stops the thread.
#[derive(Debug)]
pub struct Disk {
    shared: Arc<Shared>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    dir: PathBuf,
    /// Held, locked, for as long as this store is open; released by `close`.
    lock: Mutex<Option<File>>,
}

fn refuse(path: &Path, message: impl Into<String>) -> Error {
    Error::DataDir {
        path: path.display().to_string(),
        message: message.into(),
    }
}

fn micros(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

fn from_micros(us: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(us.max(0) as u64)
}

/// Takes the directory's lock, or says who holds it.
fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| refuse(&path, e.to_string()))?;
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: flock only reads the descriptor, which `file` keeps open.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(refuse(
                dir,
                "in use by another hookpit (its lock, hookpit.lock, is held); stop it or pick another --data-dir",
            ));
        }
    }
    Ok(file)
}

/// Refuses a directory that holds something other than a hookpit store, naming one such file.
fn check_foreign(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| refuse(dir, e.to_string()))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    if names.iter().any(|n| n == DB_FILE) {
        return Ok(());
    }
    // a directory kept in a repository for its captures may hold git's placeholder files
    const NEUTRAL: [&str; 2] = [".gitkeep", ".gitignore"];
    match names
        .iter()
        .find(|n| !OURS.contains(&n.as_str()) && !NEUTRAL.contains(&n.as_str()) && n.as_str() != crate::tls::DIR)
    {
        Some(other) => Err(refuse(
            dir,
            format!(
                "not a hookpit store: it holds {other} and no {DB_FILE}; pick an empty or new directory"
            ),
        )),
        None => Ok(()),
    }
}

/// Refuses a store file that is a symbolic link: the directory's lock guards only the
/// directory, so two hookpits could write one store through links, and SQLite would make its
/// own files (or the store itself, for a link to nothing) beside what the link names.
fn check_links(dir: &Path) -> Result<()> {
    for name in OURS {
        let path = dir.join(name);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(refuse(
                &path,
                "is a symbolic link; a store's files must be in the data directory itself (point --data-dir at the directory holding the store)",
            ));
        }
    }
    Ok(())
}

/// Checks, reading only its header (never through SQLite, which could add files beside it),
/// that an existing file is a hookpit store this build can open.
fn identify(path: &Path) -> Result<()> {
    // the SQLite file header: magic at 0, user_version at 60, application_id at 68
    let mut head = [0u8; 100];
    let ok = File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok();
    if !ok || &head[..16] != b"SQLite format 3\0" {
        return Err(refuse(
            path,
            "not a hookpit store (not an SQLite database); it was left as it is",
        ));
    }
    let be = |at: usize| {
        i64::from(u32::from_be_bytes([
            head[at],
            head[at + 1],
            head[at + 2],
            head[at + 3],
        ]))
    };
    if be(68) != APPLICATION_ID {
        return Err(refuse(
            path,
            "not a hookpit store (an SQLite database of another program); it was left as it is",
        ));
    }
    newer(path, be(60))
}

/// Refuses a store of a format newer than this build reads.
fn newer(path: &Path, version: i64) -> Result<()> {
    if version > FORMAT_VERSION {
        return Err(refuse(
            path,
            format!(
                "written by a newer hookpit (store format {version}; this one reads formats up to {FORMAT_VERSION}); upgrade hookpit"
            ),
        ));
    }
    Ok(())
}

/// Opens a store [`identify`] accepted (under the directory's lock): checks its pages, and
/// migrates an older format.
fn open_existing(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| refuse(path, format!("cannot open: {e}")))?;
    let damaged = |e: rusqlite::Error| refuse(path, format!("damaged: {e}; it was left as it is"));
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(damaged)?;
    newer(path, version)?;
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(damaged)?;
    if check != "ok" {
        return Err(refuse(
            path,
            format!("damaged: {check}; it was left as it is"),
        ));
    }
    migrate(&conn, version).map_err(damaged)?;
    Ok(conn)
}

/// Brings a store of an older format up to [`FORMAT_VERSION`], in one transaction.
fn migrate(_conn: &Connection, from: i64) -> rusqlite::Result<()> {
    if from < 1 {
        // format 0 does not exist: a store is created at format 1
        return Err(rusqlite::Error::InvalidQuery);
    }
    Ok(())
}

/// Creates a new, empty store: made whole under [`NEW_FILE`] (replacing what a start killed
/// while creating one left there), then renamed to `path` and opened.
fn create(path: &Path) -> Result<Connection> {
    let new = path.with_file_name(NEW_FILE);
    for leftover in [new.clone(), path.with_file_name("hookpit.db-new-journal")] {
        match std::fs::remove_file(&leftover) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(refuse(&leftover, format!("cannot remove: {e}")));
            }
            _ => {}
        }
    }
    make(&new)?
        .close()
        .map_err(|(_, e)| refuse(&new, format!("cannot create: {e}")))?;
    std::fs::rename(&new, path).map_err(|e| refuse(path, format!("cannot create: {e}")))?;
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| refuse(path, format!("cannot open: {e}")))
}

/// Makes a store's tables and marks in a new file at `path`.
fn make(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| refuse(path, format!("cannot create: {e}")))?;
    let setup = || -> rusqlite::Result<()> {
        // before any table: the page size (rows of about 1.5 KiB fill large pages well) and
        // incremental vacuum, so deleted requests' space is given back over time
        conn.execute_batch("PRAGMA page_size = 16384; PRAGMA auto_vacuum = INCREMENTAL;")?;
        conn.execute_batch(&format!(
            "BEGIN;
             PRAGMA application_id = {APPLICATION_ID};
             PRAGMA user_version = {FORMAT_VERSION};
             CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
             INSERT INTO meta VALUES ('next_id', 1), ('evicted_total', 0), ('evicted_bins', 0);
             CREATE TABLE bins (
               name TEXT PRIMARY KEY,
               config TEXT NOT NULL DEFAULT '{{}}',
               sequence_position INTEGER NOT NULL DEFAULT 0,
               rng INTEGER NOT NULL DEFAULT 0,
               created_at_us INTEGER NOT NULL,
               evicted INTEGER NOT NULL DEFAULT 0,
               evicted_up_to INTEGER NOT NULL DEFAULT 0,
               last_id INTEGER NOT NULL DEFAULT 0
             ) WITHOUT ROWID;
             CREATE TABLE requests (
               id INTEGER PRIMARY KEY,
               bin TEXT NOT NULL,
               received_at_us INTEGER NOT NULL,
               headers_us INTEGER NOT NULL,
               body_us INTEGER NOT NULL,
               method TEXT NOT NULL,
               target TEXT NOT NULL,
               version TEXT NOT NULL,
               remote_addr TEXT NOT NULL,
               headers TEXT NOT NULL,
               body BLOB NOT NULL,
               body_truncated INTEGER NOT NULL,
               status INTEGER NOT NULL,
               response TEXT NOT NULL,
               response_body BLOB NOT NULL,
               signature TEXT,
               forward TEXT
             );
             CREATE TABLE webhooks (id INTEGER PRIMARY KEY, def TEXT NOT NULL);
             CREATE TABLE deliveries (id INTEGER PRIMARY KEY, record TEXT NOT NULL);
             COMMIT;"
        ))
    };
    setup().map_err(|e| refuse(path, format!("cannot create: {e}")))?;
    Ok(conn)
}

/// Ids a store left open (its hookpit was killed) may have given out without writing them:
/// at most the captures that fit in [`MAX_BEHIND`] unwritten bytes (a request weighs at least
/// 384 bytes), with room to spare.
const ID_RESERVE: u64 = 1 << 20;

/// Marks the store open (the mark goes at a clean close). A store found still marked was
/// left by a killed hookpit, which may have answered captures with ids it never wrote: the
/// next id skips past all of them, and is written at once, so a second kill before anything
/// is written gives none of them out either.
fn mark_open(conn: &Connection, snap: &mut Snapshot) -> rusqlite::Result<()> {
    let open: i64 = conn
        .query_row("SELECT value FROM meta WHERE key = 'open'", [], |r| {
            r.get(0)
        })
        .optional()?
        .unwrap_or(0);
    if open != 0 {
        snap.next_id = snap.next_id.saturating_add(ID_RESERVE);
    }
    conn.execute(
        "UPDATE meta SET value = max(value, ?1) WHERE key = 'next_id'",
        [snap.next_id as i64],
    )?;
    conn.execute(
        "INSERT INTO meta VALUES ('open', 1) ON CONFLICT (key) DO UPDATE SET value = 1",
        [],
    )?;
    Ok(())
}

/// Refuses a write-ahead log the store was closed without. A store that is open has `open` set
/// in its file (written through at start); a clean close clears it and leaves no log. So a log
/// beside a store whose file says it was closed cleanly came from elsewhere (another store's,
/// or a backup restored beside a killed run's log), and replaying it would silently replace
/// this store's data. Reads the store file alone (SQLite's `immutable`), never the log.
fn check_wal(path: &Path) -> Result<()> {
    let wal = path.with_file_name(format!("{DB_FILE}-wal"));
    if std::fs::metadata(&wal).map_or(true, |m| m.len() == 0) {
        return Ok(());
    }
    let Some(text) = path.to_str() else {
        return Ok(()); // not expressible as a URI: SQLite will replay the log as it would
    };
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'.')
        .remove(b'-')
        .remove(b'_');
    let uri = format!(
        "file:{}?immutable=1",
        percent_encoding::utf8_percent_encode(text, KEEP)
    );
    let open = Connection::open_with_flags(
        uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .and_then(|c| {
        c.query_row("SELECT value FROM meta WHERE key = 'open'", [], |r| {
            r.get::<_, i64>(0)
        })
        .optional()
    });
    match open {
        Ok(Some(0)) | Ok(None) => Err(refuse(
            &wal,
            "a write-ahead log this store was closed without (another store's?); it was left as it is: move it away to start",
        )),
        // open when it stopped (killed): the log is its own, and SQLite replays it
        _ => Ok(()),
    }
}

/// Settings of every connection to an open store.
/// The write-ahead log may hold this share of `--max-disk` before its pages are copied into
/// the database (a checkpoint), within SQLite's default (1,000 pages) and [`WAL_MAX_PAGES`].
const WAL_SHARE: u64 = 16;
const WAL_MAX_PAGES: u64 = 16_384;

/// The pages the write-ahead log may hold before a checkpoint, for a budget and page size.
fn wal_pages(max_disk: u64, page: u64) -> u64 {
    (max_disk / WAL_SHARE / page.max(512)).clamp(1000, WAL_MAX_PAGES)
}

fn tune(conn: &Connection, max_disk: u64) -> rusqlite::Result<()> {
    // WAL: readers never block the writer; NORMAL: a commit is in the OS's hands at once (a
    // killed process loses nothing), and on the platter at each checkpoint
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -16384; PRAGMA temp_store = MEMORY;",
    )?;
    conn.set_prepared_statement_cache_capacity(32);
    // a bin's ring turning over rewrites the same pages again and again: checkpointing less
    // often copies each of them once per checkpoint instead of once every few batches (with
    // the default 1 GiB budget, 64 MiB of log: ~13 % less CPU per capture, bench capture);
    // the log is cut back to that size after a checkpoint that found it larger
    let page: u64 = conn.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))? as u64;
    let pages = wal_pages(max_disk, page);
    conn.query_row(&format!("PRAGMA wal_autocheckpoint = {pages}"), [], |_| {
        Ok(())
    })?;
    conn.query_row(
        &format!("PRAGMA journal_size_limit = {}", pages * page),
        [],
        |_| Ok(()),
    )?;
    Ok(())
}

impl Disk {
    /// Opens (or creates) the store in `dir` and reads it back. Refuses, naming the path, a
    /// directory in use, one holding files hookpit did not write, and a damaged or
    /// newer-format store.
    pub fn open(dir: &Path, opts: DiskOptions) -> Result<(Arc<Disk>, Snapshot)> {
        static SQLITE_SETUP: std::sync::Once = std::sync::Once::new();
        SQLITE_SETUP.call_once(|| {
            // SQLite's allocation statistics take a process-wide mutex on every allocation;
            // nothing here reads them. Only possible before SQLite's first use in the process
            // (a later call is refused, harmlessly).
            // SAFETY: sqlite3_config with MEMSTATUS takes one int and touches global settings
            // only while SQLite is not yet initialised, as documented.
            unsafe {
                rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0);
            }
        });
        if dir.exists() && !dir.is_dir() {
            return Err(refuse(dir, "not a directory; --data-dir names a directory"));
        }
        std::fs::create_dir_all(dir).map_err(|e| refuse(dir, format!("cannot create: {e}")))?;
        check_foreign(dir)?;
        check_links(dir)?;
        let path = dir.join(DB_FILE);
        // a file that is not ours is refused before anything (even the lock) is written
        if path.exists() {
            identify(&path)?;
        }
        let lock = lock_dir(dir)?;
        if path.exists() {
            check_wal(&path)?;
        }
        let conn = if path.exists() {
            open_existing(&path)?
        } else {
            create(&path)?
        };
        tune(&conn, opts.max_disk).map_err(|e| refuse(&path, e.to_string()))?;
        let mut snapshot = load(&conn)
            .map_err(|e| refuse(&path, format!("damaged: {e}; it was left as it is")))?;
        mark_open(&conn, &mut snapshot).map_err(|e| refuse(&path, e.to_string()))?;
        // the store file itself says it is open from now on (see `check_wal`)
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| refuse(&path, e.to_string()))?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            written: Condvar::new(),
            max_disk: opts.max_disk,
            max_behind: (opts.max_memory / 4).clamp(BEHIND_MIN, BEHIND_MAX),
            over: AtomicU64::new(0),
            used: AtomicU64::new(0),
        });
        measure(&conn, &shared, 0);
        let s = shared.clone();
        let writer = std::thread::Builder::new()
            .name("hookpit-disk".into())
            .spawn(move || write_loop(conn, s))
            .map_err(|e| refuse(dir, format!("cannot start its writer: {e}")))?;
        Ok((
            Arc::new(Disk {
                shared,
                writer: Mutex::new(Some(writer)),
                dir: dir.to_path_buf(),
                lock: Mutex::new(Some(lock)),
            }),
            snapshot,
        ))
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes the database uses, as last measured.
    pub fn used_bytes(&self) -> u64 {
        self.shared.used.load(Ordering::Acquire)
    }

    /// Bytes the database may use.
    pub fn max_disk(&self) -> u64 {
        self.shared.max_disk
    }

    /// A test's fault switch: `true` lets the database grow no more (SQLite's
    /// `max_page_count` set to the pages it has), so writes that need space fail as on a full
    /// disk; `false` lifts the limit, as when space comes back.
    #[doc(hidden)]
    pub fn simulate_full_disk(&self, full: bool) {
        let mut q = self.queue();
        q.page_limit = Some(full);
        q.flush_wanted = true;
        self.shared.wake.notify_one();
    }

    /// A test's fault switch: `true` holds the writer back, as a disk too slow to keep up
    /// would, so unwritten changes pile up; `false` lets it go on.
    #[doc(hidden)]
    pub fn simulate_slow_disk(&self, slow: bool) {
        let mut q = self.queue();
        q.paused = slow;
        self.shared.wake.notify_one();
    }

    /// Writes everything appended so far; returns when it is written or a write failed.
    pub fn flush_now(&self) {
        Journal::flush(self);
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.shared.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes what is queued and stops the writer (what `Drop` does; callable earlier).
    /// Returns what could not be written (a disk still full after a couple of seconds of
    /// retries), as a sentence; `None` when everything answered is on disk.
    pub fn close(&self) -> Option<String> {
        {
            let mut q = self.queue();
            q.closing = true;
            self.shared.wake.notify_one();
        }
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = writer {
            let _ = w.join();
        }
        // the directory is free for the next hookpit once everything is written
        drop(self.lock.lock().unwrap_or_else(|e| e.into_inner()).take());
        self.queue().lost.take()
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// Approximate bytes a fact holds until written.
fn op_bytes(op: &Op) -> usize {
    match op {
        Op::Request(r) | Op::Updated(r) => r.weight(),
        Op::Clear { ids, .. } | Op::RemoveBin { ids, .. } => 64 + 8 * ids.len(),
        _ => 128,
    }
}

impl Journal for Disk {
    fn append(&self, op: Op) {
        if let Op::Broadcast(_) = op {
            return; // one instance: its viewers already have it
        }
        let mut q = self.queue();
        if q.closing {
            // closed: `health` refuses captures, and nothing can be written any more
            return;
        }
        q.unwritten += op_bytes(&op);
        q.appended += 1;
        if q.ops.is_empty() {
            q.queued_since = Some(Instant::now());
        }
        q.ops.push(op);
        if q.ops.len() == 1 || q.ops.len() >= BATCH {
            self.shared.wake.notify_one();
        }
    }

    fn health(&self) -> Health {
        let q = self.queue();
        if q.closing {
            Health::Failing(format!(
                "the data directory {} is closed",
                self.dir.display()
            ))
        } else if let Some(e) = &q.failing {
            Health::Failing(format!(
                "the data directory {} cannot be written: {e}",
                self.dir.display()
            ))
        } else if q.unwritten > self.shared.max_behind
            || [q.writing_since, q.queued_since]
                .into_iter()
                .flatten()
                .any(|t| t.elapsed() > MAX_LAG)
        {
            // what is answered now would wait too long to be written: a kill could lose it
            Health::Behind
        } else {
            Health::Ok
        }
    }

    fn flush(&self) {
        let mut q = self.queue();
        let want = q.appended;
        let writer_alive = self.writer.lock().map(|w| w.is_some()).unwrap_or(false);
        if !writer_alive {
            return;
        }
        while q.written < want && q.failing.is_none() && !q.closing && !q.paused {
            q.flush_wanted = true;
            self.shared.wake.notify_one();
            q = self
                .shared
                .written
                .wait_timeout(q, Duration::from_millis(100))
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": "disk",
            "dir": self.dir.display().to_string(),
            "used_bytes": self.used_bytes(),
            "max_disk": self.shared.max_disk,
        })
    }

    fn over_budget(&self) -> u64 {
        self.shared.over.load(Ordering::Acquire)
    }

    fn evicted_for_budget(&self) {
        let mut q = self.queue();
        q.budget_barrier = q.appended;
        self.shared.over.store(0, Ordering::Release);
    }
}

/// Measures the database's size; past `max_disk`, asks the store to evict (unless the batch
/// just written predates the store's last such eviction).
fn measure(conn: &Connection, shared: &Shared, batch_upto: u64) {
    let size = || -> rusqlite::Result<u64> {
        let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok(((pages - free).max(0) * page) as u64)
    };
    let Ok(used) = size() else {
        return;
    };
    shared.used.store(used, Ordering::Release);
    let barrier = shared.queue.lock().map(|q| q.budget_barrier).unwrap_or(0);
    if batch_upto >= barrier {
        shared
            .over
            .store(used.saturating_sub(shared.max_disk), Ordering::Release);
    }
}

/// The writer thread: group commit until closed.
fn write_loop(mut conn: Connection, shared: Arc<Shared>) {
    let mut failed: Vec<Op> = Vec::new();
    let mut last_vacuum = Instant::now();
    let mut close_tries = 0;
    loop {
        let mut q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        while (q.ops.is_empty() && failed.is_empty() && !q.flush_wanted || q.paused) && !q.closing {
            q = shared.wake.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        // let others join the first fact, unless full, wanted now or closing
        let deadline = Instant::now() + GROUP;
        while !(q.closing || q.flush_wanted || q.ops.len() >= BATCH) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            q = shared
                .wake
                .wait_timeout(q, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        let mut batch = std::mem::take(&mut failed);
        if batch.is_empty() {
            q.writing_since = q.queued_since;
        }
        q.queued_since = None;
        batch.append(&mut q.ops);
        let upto = q.appended;
        let closing = q.closing;
        q.flush_wanted = false;
        let page_limit = q.page_limit.take();
        drop(q);
        if let Some(full) = page_limit {
            let pages: i64 = if full {
                conn.query_row("PRAGMA page_count", [], |r| r.get(0))
                    .unwrap_or(1)
            } else {
                i64::from(u32::MAX >> 1)
            };
            let _ = conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()));
        }
        let bytes: usize = batch.iter().map(op_bytes).sum();
        let result = if batch.is_empty() {
            Ok(())
        } else {
            write_batch(&mut conn, &batch)
        };
        let mut q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(()) => {
                q.written = upto;
                q.unwritten = q.unwritten.saturating_sub(bytes);
                q.failing = None;
                q.writing_since = None;
                drop(q);
                shared.written.notify_all();
                measure(&conn, &shared, upto);
                if last_vacuum.elapsed() > Duration::from_secs(1) {
                    last_vacuum = Instant::now();
                    give_back_space(&conn);
                }
            }
            Err(e) => {
                q.failing = Some(e.to_string());
                drop(q);
                shared.written.notify_all();
                failed = batch;
                if closing {
                    close_tries += 1;
                    if close_tries >= CLOSE_TRIES {
                        // nothing more can be done for it: `close` reports what is lost
                        let mut q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
                        let n = failed.len() + q.ops.len();
                        q.lost = Some(format!(
                            "{n} change{} answered before the stop could not be written ({e})",
                            if n == 1 { "" } else { "s" }
                        ));
                        break;
                    }
                }
                std::thread::sleep(RETRY_EVERY);
                continue;
            }
        }
        if closing {
            let q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            if q.ops.is_empty() {
                break;
            }
        }
    }
    if failed.is_empty() {
        // everything appended is written: no id was given out unwritten
        let _ = conn.execute_batch("UPDATE meta SET value = 0 WHERE key = 'open';");
    }
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
}

/// Gives freed pages back to the file system when a good share of the file is free.
fn give_back_space(conn: &Connection) {
    let count = |p: &str| -> i64 { conn.query_row(p, [], |r| r.get(0)).unwrap_or(0) };
    let pages = count("PRAGMA page_count");
    let free = count("PRAGMA freelist_count");
    if free > 64 && free * 4 > pages {
        // a bounded step (32 MiB of 16 KiB pages), so the writer is never held up for long
        let step = free.min(2048);
        let _ = conn.execute_batch(&format!("PRAGMA incremental_vacuum({step});"));
    }
}

/// Per-bin counts a batch adds up, written once per bin.
#[derive(Default)]
struct BinCounts {
    evicted: u64,
    evicted_up_to: u64,
    last_id: u64,
}

/// The row of a request, written with `INSERT` or `INSERT OR REPLACE`.
macro_rules! request_row {
    ($verb:literal) => {
        concat!(
            $verb,
            " INTO requests (id, bin, received_at_us, headers_us, body_us, method, target,
               version, remote_addr, headers, body, body_truncated, status, response,
               response_body, signature, forward)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
        )
    };
}

/// Writes one batch of facts in one transaction.
fn write_batch(conn: &mut Connection, batch: &[Op]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    let mut counts: HashMap<Arc<str>, BinCounts> = HashMap::new();
    let mut next_id = 0u64;
    let mut evicted_total = 0u64;
    let mut evicted_bins = 0u64;
    let now = micros(SystemTime::now());
    let flush_counts =
        |tx: &rusqlite::Transaction<'_>, bin: &str, c: &BinCounts| -> rusqlite::Result<()> {
            tx.prepare_cached(
                "INSERT INTO bins (name, created_at_us, evicted, evicted_up_to, last_id)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (name) DO UPDATE SET
                   evicted = evicted + excluded.evicted,
                   evicted_up_to = max(evicted_up_to, excluded.evicted_up_to),
                   last_id = max(last_id, excluded.last_id)",
            )?
            .execute(params![
                bin,
                now,
                c.evicted as i64,
                c.evicted_up_to as i64,
                c.last_id as i64
            ])?;
            Ok(())
        };
    // the statements every capture uses, looked up once per batch
    let mut insert = tx.prepare_cached(request_row!("INSERT"))?;
    let mut delete = tx.prepare_cached("DELETE FROM requests WHERE id = ?1")?;
    // what a user deletes is overwritten on disk (webhook payloads carry secrets); evictions,
    // one per capture in a full bin, are not: that would double the writes
    let mut secure = false;
    let mut secure_delete = |tx: &rusqlite::Transaction<'_>, on: bool| -> rusqlite::Result<()> {
        if secure != on {
            secure = on;
            tx.query_row(
                &format!("PRAGMA secure_delete = {}", u8::from(on)),
                [],
                |_| Ok(()),
            )?;
        }
        Ok(())
    };
    // evictions are deleted together at the end, in id order; a request both recorded and
    // evicted within the batch is never written at all
    // (sorted id lists, not hash sets: ids come in order, so sorting is a pass and a lookup a
    // binary search, where hashing cost hundreds of instructions a capture)
    let mut recorded: Vec<u64> = batch
        .iter()
        .filter_map(|op| match op {
            Op::Request(r) => Some(r.id),
            _ => None,
        })
        .collect();
    recorded.sort_unstable();
    let mut passed_through: Vec<u64> = batch
        .iter()
        .filter_map(|op| match op {
            Op::Remove {
                id,
                why: Gone::Evicted,
                ..
            } if recorded.binary_search(id).is_ok() => Some(*id),
            _ => None,
        })
        .collect();
    passed_through.sort_unstable();
    let passed = |id: &u64| passed_through.binary_search(id).is_ok();
    let mut evictions: Vec<u64> = Vec::new();
    let mut scratch = Scratch::default();
    for op in batch {
        match op {
            Op::Request(r) | Op::Updated(r) => {
                if passed(&r.id) {
                    // recorded and evicted within this batch: nothing to write
                } else if matches!(op, Op::Updated(_)) {
                    put_request(
                        &mut tx.prepare_cached(request_row!("INSERT OR REPLACE"))?,
                        r,
                        &mut scratch,
                    )?;
                } else {
                    put_request(&mut insert, r, &mut scratch)?;
                }
                next_id = next_id.max(r.id + 1);
                match counts.get_mut(r.bin.as_str()) {
                    Some(c) => c.last_id = c.last_id.max(r.id),
                    None => {
                        let c = BinCounts {
                            last_id: r.id,
                            ..BinCounts::default()
                        };
                        counts.insert(Arc::from(r.bin.as_str()), c);
                    }
                }
            }
            Op::Remove { bin, id, why } => {
                if *why == Gone::Deleted {
                    secure_delete(&tx, true)?;
                    delete.execute([*id as i64])?;
                } else if !passed(id) {
                    evictions.push(*id);
                }
                if *why == Gone::Evicted {
                    let c = counts.entry(bin.clone()).or_default();
                    c.evicted += 1;
                    c.evicted_up_to = c.evicted_up_to.max(*id);
                    evicted_total += 1;
                }
            }
            Op::Clear { bin: _, ids } => {
                secure_delete(&tx, true)?;
                for id in ids {
                    delete.execute([*id as i64])?;
                }
            }
            Op::Bin(rec) => {
                if let Some(c) = counts.remove(&rec.name) {
                    flush_counts(&tx, &rec.name, &c)?;
                }
                put_bin(&tx, rec)?;
            }
            Op::RemoveBin { bin, why, ids } => {
                counts.remove(bin);
                if *why == Gone::Evicted {
                    evicted_total += ids.len() as u64;
                    evicted_bins += 1;
                }
                secure_delete(&tx, *why == Gone::Deleted)?;
                for id in ids {
                    delete.execute([*id as i64])?;
                }
                tx.prepare_cached("DELETE FROM bins WHERE name = ?1")?
                    .execute([&**bin])?;
            }
            Op::Webhook { id, def } => match def {
                Some(d) => {
                    tx.prepare_cached("INSERT OR REPLACE INTO webhooks (id, def) VALUES (?1, ?2)")?
                        .execute(params![*id as i64, d.to_string()])?;
                }
                None => {
                    secure_delete(&tx, true)?;
                    tx.prepare_cached("DELETE FROM webhooks WHERE id = ?1")?
                        .execute([*id as i64])?;
                }
            },
            Op::Delivery { id, record } => match record {
                Some(d) => {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO deliveries (id, record) VALUES (?1, ?2)",
                    )?
                    .execute(params![*id as i64, d.to_string()])?;
                }
                None => {
                    tx.prepare_cached("DELETE FROM deliveries WHERE id = ?1")?
                        .execute([*id as i64])?;
                }
            },
            Op::Broadcast(_) => {}
        }
    }
    secure_delete(&tx, false)?;
    evictions.sort_unstable();
    evictions.dedup();
    // runs of consecutive ids (one bin's ring turning over) go in one range delete: the rows
    // are still removed one by one, but the statement runs once per run, not once per row
    let mut delete_range = tx.prepare_cached("DELETE FROM requests WHERE id BETWEEN ?1 AND ?2")?;
    for (first, last) in runs(&evictions) {
        if first == last {
            delete.execute([first as i64])?;
        } else {
            delete_range.execute([first as i64, last as i64])?;
        }
    }
    drop((insert, delete, delete_range));
    for (bin, c) in &counts {
        flush_counts(&tx, bin, c)?;
    }
    if next_id > 0 {
        tx.prepare_cached("UPDATE meta SET value = max(value, ?1) WHERE key = 'next_id'")?
            .execute([next_id as i64])?;
    }
    if evicted_total > 0 {
        tx.prepare_cached("UPDATE meta SET value = value + ?1 WHERE key = 'evicted_total'")?
            .execute([evicted_total as i64])?;
    }
    if evicted_bins > 0 {
        tx.prepare_cached("UPDATE meta SET value = value + ?1 WHERE key = 'evicted_bins'")?
            .execute([evicted_bins as i64])?;
    }
    tx.commit()
}

fn json_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// The response's row fields besides its status and body bytes (JSON in `response`).
#[derive(serde::Serialize)]
struct ResponseOut<'a> {
    headers: &'a [Header],
    #[serde(skip_serializing_if = "is_zero")]
    delay_ms: u64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    dropped: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
}

#[derive(serde::Deserialize)]
struct ResponseIn {
    #[serde(default)]
    headers: Vec<Header>,
    #[serde(default)]
    delay_ms: u64,
    #[serde(default)]
    dropped: bool,
    #[serde(default)]
    truncated: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Writes a new request's row (a plain `INSERT`: no statement journal), or a changed one in
/// place of the old (`replace`).
fn put_request(
    stmt: &mut rusqlite::CachedStatement<'_>,
    r: &CapturedRequest,
    scratch: &mut Scratch,
) -> rusqlite::Result<()> {
    let response = ResponseOut {
        headers: &r.response.headers,
        delay_ms: r.response.delay_ms,
        dropped: r.response.dropped,
        truncated: r.response.body.truncated,
    };
    let Scratch {
        headers,
        response: response_json,
        remote,
    } = scratch;
    headers.clear();
    response_json.clear();
    remote.clear();
    let bad = |e: serde_json::Error| rusqlite::Error::ToSqlConversionFailure(Box::new(e));
    serde_json::to_writer(&mut *headers, &r.headers).map_err(bad)?;
    serde_json::to_writer(&mut *response_json, &response).map_err(bad)?;
    push_addr(remote, &r.remote_addr);
    // serde_json writes UTF-8 only
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let (headers, response_json) = match (
        std::str::from_utf8(headers),
        std::str::from_utf8(response_json),
    ) {
        (Ok(h), Ok(rj)) => (
            std::borrow::Cow::Borrowed(h),
            std::borrow::Cow::Borrowed(rj),
        ),
        _ => (text(headers).into(), text(response_json).into()),
    };
    stmt.execute(params![
        r.id as i64,
        r.bin,
        micros(r.received_at),
        r.timings.headers_us as i64,
        r.timings.body_us as i64,
        r.method,
        r.target,
        &*r.version,
        remote.as_str(),
        &*headers,
        &r.body.bytes[..],
        r.body.truncated,
        r.response.status,
        &*response_json,
        &r.response.body.bytes[..],
        r.signature.as_ref().map(json_text),
        r.forward.as_ref().map(json_text),
    ])?;
    Ok(())
}

/// The runs of consecutive numbers in sorted, distinct `ids`, as `(first, last)` pairs.
fn runs(ids: &[u64]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &id in ids {
        match out.last_mut() {
            Some((_, last)) if last.checked_add(1) == Some(id) => *last = id,
            _ => out.push((id, id)),
        }
    }
    out
}

/// Appends `addr` as `Display` writes it; an IPv4 address (nearly every capture) without the
/// formatting machinery, which cost more than a thousand instructions a row.
fn push_addr(out: &mut String, addr: &std::net::SocketAddr) {
    use std::fmt::Write as _;
    fn number(out: &mut String, n: u16) {
        let mut digits = [0u8; 5];
        let mut at = digits.len();
        let mut n = n;
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        out.extend(digits[at..].iter().map(|d| char::from(*d)));
    }
    match addr {
        std::net::SocketAddr::V4(a) => {
            for (i, octet) in a.ip().octets().iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                number(out, u16::from(*octet));
            }
            out.push(':');
            number(out, a.port());
        }
        std::net::SocketAddr::V6(_) => {
            let _ = write!(out, "{addr}");
        }
    }
}

/// Buffers a batch reuses for every request's text columns.
#[derive(Default)]
struct Scratch {
    headers: Vec<u8>,
    response: Vec<u8>,
    remote: String,
}

fn put_bin(tx: &rusqlite::Transaction<'_>, b: &BinRecord) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO bins (name, config, sequence_position, rng, created_at_us, evicted,
           evicted_up_to, last_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (name) DO UPDATE SET config = excluded.config,
           sequence_position = excluded.sequence_position, rng = excluded.rng,
           created_at_us = excluded.created_at_us, evicted = excluded.evicted,
           evicted_up_to = excluded.evicted_up_to,
           last_id = max(last_id, excluded.last_id)",
    )?
    .execute(params![
        &*b.name,
        b.config.to_string(),
        b.sequence_position as i64,
        b.rng as i64,
        micros(b.created_at),
        b.evicted as i64,
        b.evicted_up_to as i64,
        b.last_id as i64,
    ])?;
    Ok(())
}

/// A column's JSON, as a rusqlite error when it does not parse (a damaged store).
fn parse<T: serde::de::DeserializeOwned>(col: usize, text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Reads the whole store back.
fn load(conn: &Connection) -> rusqlite::Result<Snapshot> {
    let meta = |key: &str| -> rusqlite::Result<u64> {
        Ok(conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| {
                r.get::<_, i64>(0)
            })
            .optional()?
            .unwrap_or(0)
            .max(0) as u64)
    };
    let mut snap = Snapshot {
        next_id: meta("next_id")?.max(1),
        evicted_total: meta("evicted_total")?,
        evicted_bins: meta("evicted_bins")?,
        ..Snapshot::default()
    };
    let mut stmt = conn.prepare(
        "SELECT name, config, sequence_position, rng, created_at_us, evicted, evicted_up_to,
           last_id FROM bins",
    )?;
    let bins = stmt.query_map([], |r| {
        let config: String = r.get(1)?;
        Ok(BinRecord {
            name: Arc::from(r.get::<_, String>(0)?),
            config: Arc::new(parse(1, &config)?),
            sequence_position: r.get::<_, i64>(2)?.max(0) as usize,
            rng: r.get::<_, i64>(3)? as u64,
            created_at: from_micros(r.get(4)?),
            evicted: r.get::<_, i64>(5)?.max(0) as u64,
            evicted_up_to: r.get::<_, i64>(6)?.max(0) as u64,
            last_id: r.get::<_, i64>(7)?.max(0) as u64,
        })
    })?;
    for b in bins {
        snap.bins.push(b?);
    }
    // one allocation per distinct header name, shared by every request that has it
    let mut names: HashMap<Arc<str>, ()> = HashMap::new();
    let mut stmt = conn.prepare(
        "SELECT id, bin, received_at_us, headers_us, body_us, method, target, version,
           remote_addr, headers, body, body_truncated, status, response, response_body,
           signature, forward
         FROM requests ORDER BY id",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let target: String = r.get(6)?;
        let version: String = r.get(7)?;
        let remote: String = r.get(8)?;
        let mut headers: Vec<Header> = parse(9, r.get_ref(9)?.as_str()?)?;
        for h in &mut headers {
            match names.get_key_value(&h.name) {
                Some((k, _)) => h.name = k.clone(),
                None => {
                    names.insert(h.name.clone(), ());
                }
            }
        }
        headers.shrink_to_fit();
        let body: Vec<u8> = r.get(10)?;
        let response: ResponseIn = parse(13, r.get_ref(13)?.as_str()?)?;
        let response_body: Vec<u8> = r.get(14)?;
        let signature: Option<String> = r.get(15)?;
        let forward: Option<String> = r.get(16)?;
        snap.requests.push(CapturedRequest {
            id: r.get::<_, i64>(0)? as u64,
            bin: r.get(1)?,
            received_at: from_micros(r.get(2)?),
            timings: Timings {
                headers_us: r.get::<_, i64>(3)?.max(0) as u64,
                body_us: r.get::<_, i64>(4)?.max(0) as u64,
            },
            method: crate::model::method_name(r.get::<_, String>(5)?),
            target,
            split: None,
            version: match version.as_str() {
                "HTTP/1.1" => "HTTP/1.1".into(),
                "HTTP/1.0" => "HTTP/1.0".into(),
                "HTTP/2.0" => "HTTP/2.0".into(),
                _ => version.into(),
            },
            remote_addr: remote.parse().map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    8,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })?,
            headers,
            body: Body::new(Bytes::from(body), r.get(11)?),
            response: ResponseSent {
                status: r.get(12)?,
                headers: response.headers.into(),
                body: Body::new(Bytes::from(response_body), response.truncated),
                delay_ms: response.delay_ms,
                dropped: response.dropped,
            },
            signature: signature.map(|s| parse(15, &s)).transpose()?,
            forward: forward.map(|s| parse(16, &s)).transpose()?,
        });
    }
    let mut stmt = conn.prepare("SELECT id, def FROM webhooks ORDER BY id")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        snap.webhooks
            .push((id as u64, parse(1, r.get_ref(1)?.as_str()?)?));
    }
    let mut stmt = conn.prepare("SELECT id, record FROM deliveries ORDER BY id")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        snap.deliveries
            .push((id as u64, parse(1, r.get_ref(1)?.as_str()?)?));
    }
    Ok(snap)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_write_ahead_log_is_a_sixteenth_of_the_disk_budget_within_sqlites_default_and_64_mib() {
        const GIB: u64 = 1024 * 1024 * 1024;
        assert_eq!(wal_pages(GIB, 4096), 16_384);
        assert_eq!(wal_pages(256 * 1024 * 1024, 4096), 4096);
        // small budgets keep SQLite's own default; large ones stop at 64 MiB of 4 KiB pages
        assert_eq!(wal_pages(MIN_DISK, 4096), 1000);
        assert_eq!(wal_pages(64 * GIB, 4096), WAL_MAX_PAGES);
        assert_eq!(wal_pages(GIB, 0), WAL_MAX_PAGES);
    }

    #[test]
    fn evicted_ids_are_deleted_as_runs_of_consecutive_ids() {
        assert_eq!(runs(&[]), vec![]);
        assert_eq!(runs(&[5]), vec![(5, 5)]);
        assert_eq!(runs(&[1, 2, 3, 7, 9, 10]), vec![(1, 3), (7, 7), (9, 10)]);
        assert_eq!(
            runs(&[u64::MAX - 1, u64::MAX]),
            vec![(u64::MAX - 1, u64::MAX)]
        );
    }

    #[test]
    fn an_address_is_written_as_display_writes_it() {
        let mut out = String::new();
        for a in [
            "127.0.0.1:1",
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "10.20.30.40:8080",
            "[::1]:4665",
            "[fe80::1%2]:9",
        ] {
            let a: std::net::SocketAddr = a.parse().unwrap();
            out.clear();
            push_addr(&mut out, &a);
            assert_eq!(out, a.to_string());
        }
    }
    use crate::import::tests::properties::request;

    fn temp_dir() -> PathBuf {
        let mut b = [0u8; 6];
        let _ = getrandom::fill(&mut b);
        let name: String = b.iter().map(|x| format!("{x:02x}")).collect();
        std::env::temp_dir().join(format!("hookpit-disk-unit-{name}"))
    }

    const OPTS: DiskOptions = DiskOptions {
        max_disk: 1 << 30,
        max_memory: 1 << 28,
    };

    proptest! {
        // each case opens, writes, closes and reads back a real database
        #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_request_written_to_the_store_reads_back_the_same(
            reqs in prop::collection::vec(request(), 1..6),
        ) {
            let dir = temp_dir();
            let reqs: Vec<CapturedRequest> = reqs
                .into_iter()
                .enumerate()
                .map(|(i, mut r)| {
                    r.id = i as u64 + 1;
                    r
                })
                .collect();
            let (disk, _) = Disk::open(&dir, OPTS).expect("a new store");
            for r in &reqs {
                disk.append(Op::Request(Arc::new(r.clone())));
            }
            prop_assert_eq!(disk.close(), None);
            drop(disk);
            let (disk, snap) = Disk::open(&dir, OPTS).expect("the store again");
            let _ = disk.close();
            let _ = std::fs::remove_dir_all(&dir);
            prop_assert_eq!(snap.requests, reqs);
        }
    }
}
