//! Taking back what the backend kept of the sender at start ([`Sender::restore`]): the
//! webhooks made at run time, the run-time changes to config-file webhooks, the delivery log
//! with its attempts, both id sequences, and every pending delivery put back on its way — a
//! retry at its stored due time (one already due at once), a queued delivery at once, and one
//! whose attempt was under way when the process stopped recorded as a failed attempt and
//! retried on its webhook's schedule.
//!
//! How a config-file webhook is matched: the file's webhooks are added first (ids 1, 2, … in
//! file order); a stored change to one (an edit, a deletion, its counters) is kept only when
//! the file still declares a webhook under the same name at the same id. Otherwise the file
//! wins and the stored change is forgotten. A run-time webhook whose name the file now declares
//! is not restored (the file wins; its name is reported); one whose id a file webhook now takes
//! gets a new id, its deliveries with it.
//!
//! Uses `registry` (stored webhooks), `log` (stored deliveries, `end`, `trim`), `attempt`
//! (`interrupted`) and the timer heap in `mod.rs`.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio::time::Instant;

use super::log::{read_delivery, DeliveryState, StoredDelivery};
use super::registry::{read_hook, Origin, StoredHook};
use super::{Sender, State};
use crate::error::Result;

/// What [`Sender::restore`] took back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    /// Webhooks made at run time, back with their ids.
    pub webhooks: usize,
    /// Config-file webhooks whose run-time change (an edit or a deletion) was kept.
    pub file_changes: usize,
    /// Deliveries back in the log.
    pub deliveries: usize,
    /// Deliveries pending after the restore.
    pub pending: usize,
    /// Run-time webhooks not restored because the config file now declares one by that name.
    pub shadowed: Vec<String>,
    /// Run-time webhooks given a new id `(old, new)` because a config-file webhook now has the
    /// old one.
    pub renumbered: Vec<(u64, u64)>,
}

/// The note of a pending delivery ended at restore because the sender's limit is now lower.
const OVER_LIMIT: &str = "more deliveries were pending at restart than the sender's limit";

/// Does the config file declare, at `id`, the webhook it declared as `name`?
fn declared(st: &State, id: u64, name: &str) -> bool {
    matches!(
        st.hooks.get(&id).map(|h| &h.origin),
        Some(Origin::File { name: n, .. }) if &**n == name
    )
}

impl Sender {
    /// Takes back the webhook and delivery records a backend kept (`Snapshot::webhooks` and
    /// `Snapshot::deliveries`). Call once, after [`Sender::for_server`] added the config's
    /// webhooks and before anything is dispatched. Every record is read before anything changes:
    /// one that cannot be read (or was written by a newer hookpit) is an error naming it, and
    /// the sender is left as it was. New webhook and delivery ids continue above every id
    /// given out before; the bounds hold (pending deliveries past
    /// [`SenderLimits::max_pending`](super::SenderLimits), the newest first, are failed with a
    /// note; the log keeps at most `max_deliveries` finished ones).
    pub fn restore(
        &self,
        webhooks: Vec<(u64, Value)>,
        deliveries: Vec<(u64, Value)>,
    ) -> Result<Restored> {
        let via = self.via();
        let mut hooks = webhooks
            .into_iter()
            .map(|(id, v)| Ok((id, read_hook(id, v, &via)?)))
            .collect::<Result<Vec<_>>>()?;
        hooks.sort_by_key(|(id, _)| *id);
        let mut dels = deliveries
            .into_iter()
            .map(|(id, v)| Ok((id, read_delivery(id, v)?)))
            .collect::<Result<Vec<_>>>()?;
        dels.sort_by_key(|(id, _)| *id);

        let mut out = Restored::default();
        let mut flights = Vec::new();
        {
            let mut st = self.lock();
            // webhooks: the config file's changes first, then the run-time ones
            let mut next_hook = st.next_hook;
            let mut made = Vec::new();
            for (id, rec) in hooks {
                next_hook = next_hook.max(id + 1);
                match rec {
                    StoredHook::Sequence(n) => next_hook = next_hook.max(n),
                    StoredHook::Deleted { file_name } => {
                        if declared(&st, id, &file_name) {
                            st.hooks.remove(&id);
                            out.file_changes += 1;
                        } else {
                            self.journal_hook_forgotten(id);
                        }
                    }
                    StoredHook::Hook(h) => match &h.origin {
                        Origin::Api => made.push((id, h)),
                        Origin::File { name, changed } => {
                            if !declared(&st, id, name) {
                                self.journal_hook_forgotten(id);
                            } else if let Some(slot) = st.hooks.get_mut(&id) {
                                if *changed {
                                    *slot = *h;
                                    out.file_changes += 1;
                                } else {
                                    slot.sent_count = h.sent_count;
                                    slot.last_status = h.last_status;
                                }
                            }
                        }
                    },
                }
            }
            let mut moved = HashMap::new();
            for (id, h) in made {
                let taken = st.hooks.contains_key(&id);
                let shadowed = st.hooks.values().any(|o| o.def.name == h.def.name);
                if taken {
                    moved.insert(id, next_hook);
                    next_hook += 1;
                }
                if shadowed || taken {
                    self.journal_hook_forgotten(id);
                }
                if shadowed {
                    // its deliveries keep an id no webhook has
                    out.shadowed.push(h.def.name.clone());
                    continue;
                }
                let at = moved.get(&id).copied().unwrap_or(id);
                if taken {
                    out.renumbered.push((id, at));
                }
                st.hooks.insert(at, *h);
                if taken {
                    self.journal_hook(&st, at);
                }
                out.webhooks += 1;
            }
            st.next_hook = next_hook;
            if !moved.is_empty() {
                self.journal_hook_sequence(&st);
            }

            // deliveries
            let mut next_delivery = st.next_delivery;
            let mut pending = Vec::new();
            let mut remapped = Vec::new();
            for (id, rec) in dels {
                match rec {
                    StoredDelivery::Sequence { next_id, evicted } => {
                        next_delivery = next_delivery.max(next_id);
                        st.evicted = st.evicted.max(evicted);
                    }
                    StoredDelivery::Delivery(mut rec, flight) => {
                        next_delivery = next_delivery.max(id + 1);
                        if let Some(n) = moved.get(&rec.webhook_id) {
                            rec.webhook_id = *n;
                            remapped.push(id);
                        }
                        if rec.state == DeliveryState::Pending {
                            pending.push((id, flight));
                        } else {
                            st.finished.insert(id);
                        }
                        st.log.insert(id, *rec);
                        out.deliveries += 1;
                    }
                }
            }
            st.next_delivery = next_delivery;
            for id in remapped {
                self.journal_delivery(&st, id, None);
            }
            st.pending += pending.len();
            let max = self.inner.limits.max_pending;
            let over = pending.split_off(pending.len().min(max));
            for (id, _) in over {
                self.end(&mut st, id, DeliveryState::Failed, Some(OVER_LIMIT));
            }
            self.trim(&mut st);

            // pending deliveries back on their way
            let (now, clock) = (Instant::now(), SystemTime::now());
            for (id, flight) in pending {
                let Some(rec) = st.log.get(&id) else {
                    continue;
                };
                if !st.hooks.contains_key(&rec.webhook_id) {
                    // as an attempt finds it: ended, not tried
                    self.end(
                        &mut st,
                        id,
                        DeliveryState::Failed,
                        Some("the webhook was deleted"),
                    );
                    continue;
                }
                match flight {
                    Some(f) => {
                        st.working += 1;
                        flights.push((id, f));
                    }
                    None => {
                        let due = rec
                            .attempts
                            .last()
                            .and_then(|a| a.next_attempt_at)
                            .unwrap_or(clock);
                        let wait = due.duration_since(clock).unwrap_or(Duration::ZERO);
                        self.timers().push(Reverse((now + wait, id)));
                    }
                }
            }
            self.bump(&st);
        }
        for (id, f) in flights {
            self.interrupted(id, f);
        }
        self.inner.wake.notify_one();
        out.pending = self.lock().pending;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, VecDeque};
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::watch;

    use super::*;
    use crate::catalog::Catalog;
    use crate::config::Config;
    use crate::deliver::attempt::INTERRUPTED;
    use crate::deliver::{
        DeliveryQuery, DeliveryView, DeliveryWait, DispatchOptions, SenderLimits,
    };
    use crate::journal::{Health, Journal, Op};
    use crate::outbound::Outbound;
    use crate::store::Store;
    use crate::units::NumOrText;
    use crate::webhook::{RetryInput, WebhookInput};

    const WAIT: Duration = Duration::from_secs(15);

    /// Stands in for the disk: keeps every op, in order.
    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<Op>>);

    impl Journal for Recorder {
        fn append(&self, op: Op) {
            self.0.lock().unwrap().push(op);
        }
        fn health(&self) -> Health {
            Health::Ok
        }
        fn flush(&self) {}
        fn describe(&self) -> Value {
            serde_json::json!({"kind": "recorder"})
        }
    }

    /// Records by id, as a backend hands them back.
    type Records = Vec<(u64, Value)>;

    impl Recorder {
        /// Every op of `runs`, one run after the other.
        fn joined(runs: &[&Recorder]) -> Recorder {
            let all = Recorder::default();
            for r in runs {
                all.0
                    .lock()
                    .unwrap()
                    .extend(r.0.lock().unwrap().iter().cloned());
            }
            all
        }

        /// What a disk would hand back: the last record per id (`None` removes it).
        fn fold(&self) -> (Records, Records) {
            let mut hooks = BTreeMap::new();
            let mut dels = BTreeMap::new();
            for op in self.0.lock().unwrap().iter() {
                let (map, id, v) = match op {
                    Op::Webhook { id, def } => (&mut hooks, *id, def),
                    Op::Delivery { id, record } => (&mut dels, *id, record),
                    _ => continue,
                };
                match v {
                    Some(v) => map.insert(id, (**v).clone()),
                    None => map.remove(&id),
                };
            }
            (hooks.into_iter().collect(), dels.into_iter().collect())
        }
    }

    fn store(journal: &Arc<Recorder>) -> Store {
        Store::with_journal(
            crate::store::Limits {
                max_requests: 10,
                max_memory: 1 << 20,
                max_bins: 100,
                preview_limit: 1024,
                feed_capacity: 16,
            },
            Some(journal.clone() as Arc<dyn Journal>),
        )
    }

    /// A sender telling a fresh recorder of its changes; stopping it (`true`) is the crash.
    fn sender() -> (Sender, Arc<Recorder>, watch::Sender<bool>) {
        sender_with(SenderLimits::default())
    }

    fn sender_with(limits: SenderLimits) -> (Sender, Arc<Recorder>, watch::Sender<bool>) {
        let journal = Arc::new(Recorder::default());
        let (stop, shutdown) = watch::channel(false);
        let s = Sender::start(
            store(&journal),
            Outbound::new(),
            Catalog::default(),
            limits,
            shutdown,
        );
        (s, journal, stop)
    }

    /// A second sender, started from what `before` recorded.
    fn restarted(before: &Recorder) -> (Sender, Restored, watch::Sender<bool>) {
        let (s, _, stop) = sender();
        let (hooks, dels) = before.fold();
        let r = s.restore(hooks, dels).unwrap();
        (s, r, stop)
    }

    fn hook(name: &str, url: &str, schedule: &[&str]) -> WebhookInput {
        WebhookInput {
            name: Some(name.to_owned()),
            url: Some(url.to_owned()),
            retry: Some(RetryInput {
                schedule: Some(
                    schedule
                        .iter()
                        .map(|s| NumOrText::Text((*s).to_owned()))
                        .collect(),
                ),
                time_scale: None,
            }),
            ..WebhookInput::default()
        }
    }

    #[derive(Clone, Copy)]
    enum Answer {
        Status(u16),
        /// Takes the request and never answers.
        Hang,
    }

    struct Hit {
        at: SystemTime,
        head: String,
    }

    /// A local HTTP receiver answering from a script (then `then` forever), noting each
    /// request's arrival.
    struct Target {
        url: String,
        hits: Arc<Mutex<Vec<Hit>>>,
        seen: watch::Receiver<usize>,
    }

    impl Target {
        async fn start(script: Vec<Answer>, then: Answer) -> Target {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/hook", l.local_addr().unwrap());
            let script = Arc::new(Mutex::new(VecDeque::from(script)));
            let hits = Arc::new(Mutex::new(Vec::new()));
            let (tx, seen) = watch::channel(0usize);
            let h = hits.clone();
            tokio::spawn(async move {
                while let Ok((mut c, _)) = l.accept().await {
                    let (script, hits, tx) = (script.clone(), h.clone(), tx.clone());
                    tokio::spawn(async move {
                        let mut buf = Vec::new();
                        let mut chunk = [0u8; 4096];
                        let end = loop {
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break i + 4;
                            }
                            match c.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        };
                        let at = SystemTime::now();
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        let len = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        while buf.len() < end + len {
                            match c.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        hits.lock().unwrap().push(Hit { at, head });
                        tx.send_modify(|n| *n += 1);
                        let answer = script.lock().unwrap().pop_front().unwrap_or(then);
                        match answer {
                            Answer::Hang => std::future::pending::<()>().await,
                            Answer::Status(s) => {
                                let reply = format!(
                                    "HTTP/1.1 {s} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                                );
                                let _ = c.write_all(reply.as_bytes()).await;
                            }
                        }
                    });
                }
            });
            Target { url, hits, seen }
        }

        async fn until_hits(&self, n: usize) {
            let mut seen = self.seen.clone();
            tokio::time::timeout(WAIT, seen.wait_for(|k| *k >= n))
                .await
                .unwrap_or_else(|_| panic!("the target never saw {n} requests"))
                .unwrap();
        }
    }

    async fn until(what: &str, mut f: impl FnMut() -> bool) {
        tokio::time::timeout(WAIT, async {
            while !f() {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{what} never happened"));
    }

    async fn finished(s: &Sender, id: u64) -> DeliveryView {
        match s.wait_delivery(id, WAIT).await.unwrap() {
            DeliveryWait::Finished(v) => v,
            DeliveryWait::TimedOut(v) => panic!("delivery {id} never finished: {v:?}"),
        }
    }

    fn every(s: &Sender) -> Vec<DeliveryView> {
        s.deliveries(&DeliveryQuery {
            limit: Some(usize::MAX),
            ..DeliveryQuery::default()
        })
    }

    fn time(t: &str) -> SystemTime {
        humantime::parse_rfc3339(t).unwrap()
    }

    #[tokio::test]
    async fn run_time_webhooks_the_log_and_both_id_sequences_come_back_after_a_restart() {
        let ok = Target::start(Vec::new(), Answer::Status(200)).await;
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let nowhere = format!("http://{}/", dead.local_addr().unwrap());
        drop(dead);
        let (s, journal, stop) = sender();
        let mut a = hook("a", &ok.url, &["1s"]);
        a.secret = Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned());
        s.create_webhook(a).unwrap();
        let b = s.create_webhook(hook("b", &ok.url, &[])).unwrap().id;
        s.create_webhook(hook("dead", &nowhere, &[])).unwrap();
        let c = s.create_webhook(hook("c", &ok.url, &[])).unwrap().id;
        s.update_webhook(
            b,
            WebhookInput {
                events: Some(vec!["payment_*".to_owned()]),
                ..WebhookInput::default()
            },
        )
        .unwrap();
        s.delete_webhook(c).unwrap();
        for _ in 0..2 {
            s.dispatch("payment_received", None, DispatchOptions::default())
                .await
                .unwrap();
        }
        tokio::time::timeout(WAIT, s.idle()).await.unwrap();
        let hooks = s.webhooks();
        let log = every(&s);
        assert_eq!(log.len(), 6);
        assert!(log.iter().any(|d| d.state == "failed"), "{log:?}");
        assert!(hooks.iter().any(|h| h.sent_count == 2), "{hooks:?}");
        stop.send_replace(true);

        let (s2, r, _stop2) = restarted(&journal);
        assert_eq!((r.webhooks, r.deliveries, r.pending), (3, 6, 0));
        assert_eq!(s2.webhooks(), hooks);
        assert!(s2.webhook(c).is_none());
        assert_eq!(every(&s2), log);
        let newer = s2.create_webhook(hook("d", &ok.url, &[])).unwrap().id;
        assert!(newer > c, "a new webhook took id {newer}, not above {c}");
        let d = s2
            .dispatch("payment_received", None, DispatchOptions::default())
            .await
            .unwrap();
        let top = log.iter().map(|d| d.id).max().unwrap();
        assert!(d.deliveries.iter().all(|id| *id > top), "{d:?}");
    }

    #[tokio::test]
    async fn a_pending_retry_is_attempted_after_a_restart_at_its_stored_due_time_and_not_before() {
        let target = Target::start(vec![Answer::Status(500)], Answer::Status(200)).await;
        let (s, journal, stop) = sender();
        s.create_webhook(hook("later", &target.url, &["2s"]))
            .unwrap();
        let d = s
            .dispatch("payment_received", None, DispatchOptions::default())
            .await
            .unwrap();
        let id = d.deliveries[0];
        until("the retry's timer", || s.pending_retries() == 1).await;
        let due = s.delivery(id).unwrap().next_attempt_at.unwrap();
        stop.send_replace(true);

        let (s2, r, _stop2) = restarted(&journal);
        assert_eq!((r.deliveries, r.pending), (1, 1));
        assert_eq!(s2.pending_retries(), 1);
        let v = finished(&s2, id).await;
        assert_eq!(v.state, "succeeded", "{v:?}");
        assert_eq!(v.attempts.len(), 2);
        assert_eq!(v.attempts[0].next_attempt_at.as_deref(), Some(due.as_str()));
        let hits = target.hits.lock().unwrap();
        assert_eq!(hits.len(), 2);
        let due = time(&due);
        assert!(hits[1].at >= due, "attempted before its due time");
        assert!(time(&v.attempts[1].at) >= due);
        assert!(
            hits[1].at < due + Duration::from_millis(1500),
            "attempted {:?} after its due time",
            hits[1].at.duration_since(due)
        );
    }

    #[tokio::test]
    async fn an_attempt_under_way_when_the_process_stops_counts_as_failed_and_is_retried() {
        let target = Target::start(vec![Answer::Hang], Answer::Status(204)).await;
        // one attempt at a time: the second delivery waits in the lane, never attempted
        let (s, journal, stop) = sender_with(SenderLimits {
            per_webhook: 1,
            ..SenderLimits::default()
        });
        s.create_webhook(hook("slow", &target.url, &["100ms"]))
            .unwrap();
        let mut ids = Vec::new();
        for _ in 0..2 {
            let d = s
                .dispatch("payment_received", None, DispatchOptions::default())
                .await
                .unwrap();
            ids.extend(d.deliveries);
        }
        target.until_hits(1).await;
        stop.send_replace(true);

        let (s2, r, _stop2) = restarted(&journal);
        assert_eq!(r.pending, 2);
        let v = finished(&s2, ids[0]).await;
        assert_eq!(v.state, "succeeded", "{v:?}");
        assert_eq!(v.attempts.len(), 2, "{v:?}");
        assert_eq!(v.attempts[0].error.as_deref(), Some(INTERRUPTED));
        assert!(v.attempts[0].response.is_none());
        assert_eq!(v.attempts[1].response.as_ref().map(|r| r.status), Some(204));
        let queued = finished(&s2, ids[1]).await;
        assert_eq!(queued.state, "succeeded", "{queued:?}");
        assert_eq!(queued.attempts.len(), 1, "{queued:?}");
        let hits = target.hits.lock().unwrap();
        assert_eq!(hits.len(), 3);
        let msg = |h: &Hit| {
            h.head
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("webhook-id:"))
                .map(str::to_owned)
        };
        let retried = hits.iter().filter(|h| msg(h) == msg(&hits[0])).count();
        assert_eq!(retried, 2, "the retry keeps the message id");
        assert_eq!(s2.webhooks()[0].sent_count, 2);
    }

    /// A server's sender whose config file declares `names` (no demo webhook).
    fn declared_by_file(
        names: &[&str],
        before: &[&Recorder],
    ) -> (Sender, Arc<Recorder>, Restored, watch::Sender<bool>) {
        declared_to(&nowhere(), names, before)
    }

    /// As [`declared_by_file`], the webhooks delivering to `url`.
    fn declared_to(
        url: &str,
        names: &[&str],
        before: &[&Recorder],
    ) -> (Sender, Arc<Recorder>, Restored, watch::Sender<bool>) {
        let mut config = Config {
            demo_webhook: false,
            ..Config::default()
        };
        config.webhooks = names
            .iter()
            .map(|n| hook(n, url, &["1h"]).build(None, &|_| true).unwrap())
            .collect();
        let journal = Arc::new(Recorder::default());
        let (stop, shutdown) = watch::channel(false);
        let addr = "127.0.0.1:9".parse().unwrap();
        let s =
            Sender::for_server(&config, store(&journal), Outbound::new(), addr, shutdown).unwrap();
        let (hooks, dels) = Recorder::joined(before).fold();
        let r = s.restore(hooks, dels).unwrap();
        (s, journal, r, stop)
    }

    /// A URL nothing listens on.
    fn nowhere() -> String {
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", dead.local_addr().unwrap())
    }

    fn ids(s: &Sender) -> Vec<(u64, String)> {
        s.webhooks().into_iter().map(|w| (w.id, w.name)).collect()
    }

    #[tokio::test]
    async fn a_file_webhook_keeps_its_run_time_change_while_the_file_declares_it_by_id_and_name() {
        let (s, run1, _, _stop) = declared_by_file(&["one", "two"], &[]);
        assert!(
            run1.0.lock().unwrap().is_empty(),
            "the file's webhooks are not stored unchanged"
        );
        let events = Some(vec!["payment_*".to_owned()]);
        let one = s.find_webhook("one").unwrap();
        s.update_webhook(
            one,
            WebhookInput {
                events: events.clone(),
                ..WebhookInput::default()
            },
        )
        .unwrap();
        s.delete_webhook(s.find_webhook("two").unwrap()).unwrap();
        assert_eq!(
            s.create_webhook(hook("mine", "http://x/", &[])).unwrap().id,
            3
        );

        // the file gains a third webhook, which takes id 3: the run-time one moves
        let (s2, run2, r, _stop2) = declared_by_file(&["one", "two", "three"], &[&run1]);
        assert_eq!((r.webhooks, r.file_changes), (1, 2));
        assert_eq!(r.renumbered, vec![(3, 4)]);
        assert_eq!(
            ids(&s2),
            vec![(1, "one".into()), (3, "three".into()), (4, "mine".into())]
        );
        assert_eq!(Some(s2.webhook(1).unwrap().events), events);
        assert_eq!(
            s2.create_webhook(hook("new", "http://x/", &[])).unwrap().id,
            5
        );

        // the file drops `one` and `two`: their stored changes go with them
        let (s3, run3, r, _stop3) = declared_by_file(&["three"], &[&run1, &run2]);
        assert_eq!((r.webhooks, r.file_changes), (2, 0));
        assert_eq!(
            ids(&s3),
            vec![(1, "three".into()), (4, "mine".into()), (5, "new".into())]
        );
        assert_eq!(s3.webhook(1).unwrap().events, vec!["*".to_owned()]);
        let all = Recorder::joined(&[&run1, &run2, &run3]);
        let kept: Vec<u64> = all.fold().0.into_iter().map(|(id, _)| id).collect();
        assert_eq!(kept, vec![0, 4, 5], "stale records are forgotten");
    }

    #[tokio::test]
    async fn a_restart_under_lower_limits_fails_the_newest_pending_and_trims_the_log() {
        let (s, run1, stop) = sender();
        let retried = s
            .create_webhook(hook("retried", &nowhere(), &["1h"]))
            .unwrap();
        let once = s.create_webhook(hook("once", &nowhere(), &[])).unwrap();
        for _ in 0..2 {
            s.dispatch(
                "payment_received",
                None,
                DispatchOptions {
                    webhook: Some(once.id),
                    ..DispatchOptions::default()
                },
            )
            .await
            .unwrap();
        }
        for _ in 0..3 {
            s.dispatch(
                "payment_received",
                None,
                DispatchOptions {
                    webhook: Some(retried.id),
                    ..DispatchOptions::default()
                },
            )
            .await
            .unwrap();
        }
        tokio::time::timeout(WAIT, s.drained()).await.unwrap();
        assert_eq!(s.stats().pending, 3);
        stop.send_replace(true);

        let limits = SenderLimits {
            max_pending: 2,
            max_deliveries: 1,
            ..SenderLimits::default()
        };
        let (s2, run2, _stop2) = sender_with(limits);
        let (hooks, dels) = run1.fold();
        let r = s2.restore(hooks, dels).unwrap();
        assert_eq!((r.deliveries, r.pending), (5, 2));
        let st = s2.stats();
        assert_eq!(
            (st.pending, st.pending_retries, st.deliveries, st.evicted),
            (2, 2, 3, 2)
        );
        let log = every(&s2);
        let states: Vec<(u64, &str)> = log.iter().map(|d| (d.id, d.state.as_str())).collect();
        assert_eq!(states, vec![(5, "failed"), (4, "pending"), (3, "pending")]);
        assert_eq!(log[0].note.as_deref(), Some(OVER_LIMIT));
        // the backend is told: the newest pending one failed, two finished ones dropped
        let told = Recorder::joined(&[&run1, &run2]);
        let kept: Vec<u64> = told.fold().1.into_iter().map(|(id, _)| id).collect();
        assert_eq!(kept, vec![0, 3, 4, 5]);
    }

    #[tokio::test]
    async fn a_pending_retry_whose_webhook_the_file_no_longer_declares_ends_at_restart() {
        let (s, run1, _, stop) = declared_by_file(&["gone"], &[]);
        let d = s
            .dispatch("payment_received", None, DispatchOptions::default())
            .await
            .unwrap();
        until("the retry's timer", || s.pending_retries() == 1).await;
        stop.send_replace(true);

        let (s2, _, r, _stop2) = declared_by_file(&[], &[&run1]);
        assert_eq!((r.deliveries, r.pending), (1, 0));
        let v = s2.delivery(d.deliveries[0]).unwrap();
        assert_eq!(v.state, "failed");
        assert_eq!(v.note.as_deref(), Some("the webhook was deleted"));
        assert_eq!(v.attempts.len(), 1);
    }

    #[tokio::test]
    async fn a_file_webhook_deactivated_by_410_gone_stays_inactive_after_a_restart() {
        let gone = Target::start(Vec::new(), Answer::Status(410)).await;
        let (s, run1, _, stop) = declared_to(&gone.url, &["old"], &[]);
        let d = s
            .dispatch("payment_received", None, DispatchOptions::default())
            .await
            .unwrap();
        assert_eq!(finished(&s, d.deliveries[0]).await.state, "failed");
        assert!(!s.webhook(1).unwrap().active);
        stop.send_replace(true);

        let (s2, _, r, _stop2) = declared_to(&gone.url, &["old"], &[&run1]);
        assert_eq!(r.file_changes, 1);
        let w = s2.webhook(1).unwrap();
        assert!(!w.active, "{w:?}");
        assert_eq!((w.sent_count, w.last_status), (1, Some(410)));
    }
}
