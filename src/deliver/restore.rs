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
