//! The sender's front door: [`Sender::dispatch`] (an event to every subscribed webhook),
//! [`Sender::test`] (Send Test Event: one attempt now, its outcome returned) and
//! [`Sender::redeliver`] (a logged delivery again, same message id), with the body each webhook
//! format sends.
//!
//! Uses `registry` (who is subscribed), `log` (creating deliveries, their views), `queue`
//! (`enqueue`), `attempt` (the test's one attempt), `catalog` (events and samples), `sign`
//! (message ids), `model` and `error`.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::log::{view_of, DeliveryView, ResponseView, Trigger};
use super::Sender;
use crate::catalog::event_matches;
use crate::error::{Error, Result};
use crate::model::format_time;
use crate::sign;
use crate::webhook::Format;

/// The answer to a dispatch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dispatched {
    pub message_id: String,
    pub event: String,
    pub deliveries: Vec<u64>,
}

/// The answer to Send Test Event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestOutcome {
    /// True only for a 2xx.
    pub ok: bool,
    pub status: Option<u16>,
    pub latency_ms: f64,
    pub response: Option<ResponseView>,
    pub error: Option<String>,
    pub delivery_id: u64,
}

/// How to dispatch.
#[derive(Debug, Clone, Copy)]
pub struct DispatchOptions {
    pub trigger: Trigger,
    /// Only this webhook (whatever its events list), instead of every subscribed one.
    pub webhook: Option<u64>,
}

impl Default for DispatchOptions {
    fn default() -> Self {
        DispatchOptions {
            trigger: Trigger::Event,
            webhook: None,
        }
    }
}

impl Sender {
    // -- dispatch ------------------------------------------------------------------------------

    /// Fires `event` with `payload` (the catalog sample when `None`) at every active webhook
    /// subscribed to it (or at `opts.webhook` alone). Returns once every delivery is queued;
    /// when the queue is full this waits, it never drops work.
    pub async fn dispatch(
        &self,
        event: &str,
        payload: Option<Value>,
        opts: DispatchOptions,
    ) -> Result<Dispatched> {
        let def = self
            .inner
            .catalog
            .get(event)
            .ok_or_else(|| Error::not_found("event", event))?;
        let payload = match payload {
            Some(p) => p,
            None => def.sample.clone(),
        };
        let targets: Vec<(u64, Format)> = {
            let st = self.lock();
            match opts.webhook {
                Some(id) => {
                    let h = st
                        .hooks
                        .get(&id)
                        .ok_or_else(|| Error::not_found("webhook", id))?;
                    if !h.def.active {
                        return Err(Error::bad(
                            "webhook",
                            format!("webhook `{}` is inactive", h.def.name),
                        ));
                    }
                    vec![(id, h.def.format)]
                }
                None => st
                    .hooks
                    .iter()
                    .filter(|(_, h)| h.def.active && event_matches(&h.def.events, event))
                    .map(|(id, h)| (*id, h.def.format))
                    .collect(),
            }
        };
        let msg: Arc<str> = Arc::from(new_msg_id()?);
        let ev: Arc<str> = Arc::from(event);
        let mut raw = None;
        let mut envelope = None;
        for (_, f) in &targets {
            let slot = match f {
                Format::Raw => &mut raw,
                Format::Envelope => &mut envelope,
            };
            if slot.is_none() {
                *slot = Some(make_body(*f, event, &payload)?);
            }
        }
        let (ids, views) = {
            let mut st = self.lock();
            self.room(&st, targets.len())?;
            let mut ids = Vec::with_capacity(targets.len());
            for (id, f) in &targets {
                if !st.hooks.contains_key(id) {
                    continue;
                }
                let body = match f {
                    Format::Raw => raw.clone(),
                    Format::Envelope => envelope.clone(),
                }
                .unwrap_or_default();
                ids.push(self.create(&mut st, *id, ev.clone(), msg.clone(), opts.trigger, body));
            }
            let views: Vec<_> = if self.live() {
                ids.iter()
                    .filter_map(|id| view_of(&st, *id, false))
                    .collect()
            } else {
                Vec::new()
            };
            (ids, views)
        };
        self.publish(views);
        for id in &ids {
            self.enqueue(*id).await;
        }
        Ok(Dispatched {
            message_id: msg.to_string(),
            event: event.to_owned(),
            deliveries: ids,
        })
    }

    /// Send Test Event: one attempt to webhook `id` now (active or not), no retries; waits for
    /// the outcome. `event` defaults to the webhook's first event (for a glob, the first catalog
    /// event it matches) and `payload` to that event's sample.
    pub async fn test(
        &self,
        id: u64,
        event: Option<&str>,
        payload: Option<Value>,
    ) -> Result<TestOutcome> {
        let (format, patterns) = self
            .lock()
            .hooks
            .get(&id)
            .map(|h| (h.def.format, h.def.events.clone()))
            .ok_or_else(|| Error::not_found("webhook", id))?;
        let catalog = &self.inner.catalog;
        let event = match event {
            Some(e) => e.to_owned(),
            None => patterns
                .iter()
                .find_map(|p| catalog.matching(p).first().map(|e| e.name.clone()))
                .ok_or_else(|| {
                    Error::bad(
                        "event",
                        "the webhook's events match no catalog event; name one",
                    )
                })?,
        };
        let payload = match payload {
            Some(p) => p,
            None => catalog
                .get(&event)
                .map(|d| d.sample.clone())
                .ok_or_else(|| Error::not_found("event", &event))?,
        };
        let body = make_body(format, &event, &payload)?;
        let msg: Arc<str> = Arc::from(new_msg_id()?);
        let (did, view) = {
            let mut st = self.lock();
            if !st.hooks.contains_key(&id) {
                return Err(Error::not_found("webhook", id));
            }
            self.room(&st, 1)?;
            let did = self.create(
                &mut st,
                id,
                Arc::from(event.as_str()),
                msg,
                Trigger::Test,
                body,
            );
            (did, self.live().then(|| view_of(&st, did, false)).flatten())
        };
        self.publish(view.into_iter().collect());
        let a = self.attempt(did).await;
        Ok(match a {
            Some(a) => TestOutcome {
                ok: a
                    .response
                    .as_ref()
                    .is_some_and(|r| (200..300).contains(&r.status)),
                status: a.response.as_ref().map(|r| r.status),
                latency_ms: a.latency_ms,
                response: a.response,
                error: a.error,
                delivery_id: did,
            },
            None => TestOutcome {
                ok: false,
                status: None,
                latency_ms: 0.0,
                response: None,
                error: Some("the webhook was deleted".to_owned()),
                delivery_id: did,
            },
        })
    }

    /// Redelivers a logged delivery as a new one (trigger `retry`) with the same message id
    /// and body, through the queue and the webhook's retry schedule. Its first attempt goes out
    /// even when the webhook is inactive.
    pub async fn redeliver(&self, id: u64) -> Result<DeliveryView> {
        let (nid, view) = {
            let mut st = self.lock();
            let rec = st
                .log
                .get(&id)
                .ok_or_else(|| Error::not_found("delivery", id))?;
            let (wh, ev, msg, body) = (
                rec.webhook_id,
                rec.event.clone(),
                rec.message_id.clone(),
                rec.body.clone(),
            );
            if !st.hooks.contains_key(&wh) {
                return Err(Error::not_found("webhook", wh));
            }
            self.room(&st, 1)?;
            let nid = self.create(&mut st, wh, ev, msg, Trigger::Retry, body);
            (nid, view_of(&st, nid, false))
        };
        let view = view.ok_or_else(|| Error::not_found("delivery", nid))?;
        self.publish(vec![view.clone()]);
        self.enqueue(nid).await;
        Ok(view)
    }
}

fn new_msg_id() -> Result<String> {
    sign::new_msg_id().map_err(|e| Error::Io(std::io::Error::other(e.to_string())))
}

/// The body of a delivery: the payload itself (`raw`) or `{"type","timestamp","data"}`.
pub fn make_body(format: Format, event: &str, payload: &Value) -> Result<Bytes> {
    let mut bytes = match format {
        Format::Raw => serde_json::to_vec(payload)?,
        Format::Envelope => serde_json::to_vec(&json!({
            "type": event,
            "timestamp": format_time(SystemTime::now()),
            "data": payload,
        }))?,
    };
    // kept for every pending retry: no spare capacity
    bytes.shrink_to_fit();
    Ok(Bytes::from(bytes))
}
