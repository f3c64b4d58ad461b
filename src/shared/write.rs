//! Writing this instance's changes to Redis behind the store (the `Journal` seam): ops are
//! queued under the store's lock and written in order by one task, each with its feed entry in
//! the same script; retried while Redis is away, dropped when Redis came back empty (they belong
//! to the old run), drained at a clean stop. A sender request is answered once what it changed
//! is written ([`Shared::synced`]).
//!
//! Uses `codec`, the scripts and the `redis` crate; part of `shared`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use redis::{Script, Value};
use tokio::sync::watch;

use super::{capacity, codec, now_ms, Shared, FEED_WINDOW, WRITE_BATCH};
use crate::journal::{Gone, Health, Journal, Op};

impl Shared {
    /// Writes the store's changes to Redis in order, retrying while it is away.
    pub(super) async fn write_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
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
                    .arg(self.opts.max_bins.max(1))
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
                record("hookpit:webhooks", *id, def.as_deref())
                    .query_async::<Value>(&mut c)
                    .await?;
            }
            Op::Delivery { id, record: r } => {
                record("hookpit:deliveries", *id, r.as_deref())
                    .query_async::<Value>(&mut c)
                    .await?;
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

impl Shared {
    /// Waits (at most `limit`) until every bin change appended so far is written to Redis
    /// (or given up); false when it is not by then.
    pub(super) async fn bins_written(&self, limit: Duration) -> bool {
        let upto = self.bin_ops.load(Ordering::Acquire);
        if *self.done.borrow() >= upto {
            return true;
        }
        let mut done = self.done.subscribe();
        tokio::time::timeout(limit, done.wait_for(|d| *d >= upto))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

impl Journal for Shared {
    fn append(&self, op: Op) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let changes_bin = matches!(
            op,
            Op::Bin(_)
                | Op::Clear { .. }
                | Op::Remove {
                    why: Gone::Deleted,
                    ..
                }
                | Op::RemoveBin {
                    why: Gone::Deleted,
                    ..
                }
        );
        q.push_back(op);
        let n = self.appended.fetch_add(1, Ordering::AcqRel) + 1;
        if changes_bin {
            self.bin_ops.fetch_max(n, Ordering::AcqRel);
        }
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
            "captures_in_flight": self.pending().len(),
            "sender_requests_waiting": self.seat.waiting(),
        })
    }
}

/// Keeps the sender's record `id` in `hash` (its JSON), or drops it (`None`).
fn record(hash: &str, id: u64, json: Option<&serde_json::Value>) -> redis::Cmd {
    match json {
        Some(j) => {
            let mut c = redis::cmd("HSET");
            c.arg(hash).arg(id).arg(j.to_string());
            c
        }
        None => {
            let mut c = redis::cmd("HDEL");
            c.arg(hash).arg(id);
            c
        }
    }
}
