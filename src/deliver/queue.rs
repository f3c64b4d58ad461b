//! The delivery queue and its two tasks: the dispatcher takes delivery ids off the bounded
//! queue (work is never dropped: a full queue makes `enqueue` wait) into per-webhook lanes —
//! at most [`SenderLimits::backlog`](super::SenderLimits) taken off and waiting for their lane,
//! [`SenderLimits::per_webhook`](super::SenderLimits) attempts in flight per webhook, each lane's
//! worker running one attempt after the other; the scheduler holds every pending retry in one
//! heap keyed by due time and puts it back on the queue when it is due.
//!
//! Uses `attempt` (one attempt) and `log` (a delivery's state, `finish` when the sender has
//! stopped). Nothing here holds the state's lock across an `.await`.

use std::cmp::Reverse;
use std::collections::VecDeque;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::log::DeliveryState;
use super::Sender;

#[derive(Default)]
pub(super) struct Lane {
    pub(super) in_flight: usize,
    pub(super) waiting: VecDeque<u64>,
}

impl Sender {
    pub(super) async fn enqueue(&self, id: u64) {
        if self.inner.queue.send(id).await.is_err() {
            let v = {
                let mut st = self.lock();
                self.finish(
                    &mut st,
                    id,
                    DeliveryState::Failed,
                    Some("the sender has stopped"),
                )
            };
            self.publish(v.into_iter().collect());
        }
    }

    /// Takes a queued delivery off the queue into its webhook's lane.
    pub(super) fn route(&self, id: u64) {
        let spawn = {
            let mut st = self.lock();
            let Some(wh) = st.log.get(&id).map(|r| r.webhook_id) else {
                drop(st);
                self.inner.backlog.add_permits(1);
                return;
            };
            let per = self.inner.limits.per_webhook.max(1);
            let lane = st.lanes.entry(wh).or_default();
            if lane.in_flight < per {
                lane.in_flight += 1;
                Some(wh)
            } else {
                lane.waiting.push_back(id);
                None
            }
        };
        if let Some(wh) = spawn {
            self.inner.backlog.add_permits(1);
            let s = self.clone();
            tokio::spawn(async move { s.work(wh, id).await });
        }
    }

    /// One of a webhook's workers: attempts `id`, then whatever waits in the lane.
    pub(super) async fn work(self, wh: u64, mut id: u64) {
        loop {
            self.attempt(id).await;
            let next = {
                let mut st = self.lock();
                let (next, empty) = match st.lanes.get_mut(&wh) {
                    Some(lane) => match lane.waiting.pop_front() {
                        Some(n) => (Some(n), false),
                        None => {
                            lane.in_flight = lane.in_flight.saturating_sub(1);
                            (None, lane.in_flight == 0)
                        }
                    },
                    None => (None, false),
                };
                if empty {
                    st.lanes.remove(&wh);
                }
                next
            };
            match next {
                Some(n) => {
                    self.inner.backlog.add_permits(1);
                    id = n;
                }
                None => return,
            }
        }
    }
}

pub(super) async fn dispatcher(
    s: Sender,
    mut rx: mpsc::Receiver<u64>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        // room in the backlog first, so a slow webhook's lane cannot grow without bound
        let permit = tokio::select! {
            p = s.inner.backlog.acquire() => p,
            _ = shutdown.changed() => return,
        };
        match permit {
            Ok(p) => p.forget(),
            Err(_) => return,
        }
        let id = tokio::select! {
            id = rx.recv() => id,
            _ = shutdown.changed() => return,
        };
        match id {
            Some(id) => s.route(id),
            None => return,
        }
    }
}

pub(super) async fn scheduler(s: Sender, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let now = Instant::now();
        let mut due = Vec::new();
        let next = {
            let mut t = s.timers();
            while t.peek().is_some_and(|Reverse((at, _))| *at <= now) {
                if let Some(Reverse((_, id))) = t.pop() {
                    due.push(id);
                }
            }
            t.peek().map(|Reverse((at, _))| *at)
        };
        if !due.is_empty() {
            {
                let mut st = s.lock();
                due.retain(|id| {
                    st.log
                        .get(id)
                        .is_some_and(|r| r.state == DeliveryState::Pending)
                });
                st.working += due.len();
                s.bump(&st);
            }
            for id in due {
                tokio::select! {
                    r = s.inner.queue.send(id) => if r.is_err() { return },
                    _ = shutdown.changed() => return,
                }
            }
            continue;
        }
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            _ = s.inner.wake.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}
