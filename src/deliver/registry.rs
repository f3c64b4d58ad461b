//! The webhook registry: each webhook's validated definition with what every attempt reuses
//! (its URL, signing key and the headers hookpit sets, built once), its counters, and the
//! create / read / update / delete operations behind `/_/api/webhooks`, with their JSON view;
//! and each webhook's stored record (`persist`): written to the backend under the state's lock
//! at every change (a run-time webhook whole, a config-file one as far as it changed at run
//! time, its counters included), and read back.
//!
//! Uses `persist` (the record format), `webhook` (definitions and their validation), `units`
//! (duration formatting), `sign` (the secret), `outbound` (the `Via` hop marker), `journal`
//! and `error`; works on the state in `mod.rs` and nothing else of the sender.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::persist::{self, DefRecord, HookRecord, OriginRecord, VERSION};
use super::{Sender, State};
use crate::error::{Error, Result};
use crate::journal::Op;
use crate::model::Header;
use crate::sign::{Scheme, Secret};
use crate::units::format_duration;
use crate::webhook::{SignatureScheme, WebhookDef, WebhookInput};

/// A webhook's retry settings as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryView {
    pub schedule: Vec<String>,
    pub time_scale: f64,
}

/// Webhook JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookView {
    pub id: u64,
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
    pub secret: String,
    pub signature: String,
    pub headers: Vec<(String, String)>,
    pub timeout: String,
    pub retry: RetryView,
    pub format: String,
    pub insecure_tls: bool,
    pub sent_count: u64,
    pub last_status: Option<u16>,
}

#[derive(Clone)]
pub(super) enum SignKey {
    Standard(Secret),
    /// A vendor scheme (GitHub, Stripe, Shopify, Slack) keyed with the secret's bytes.
    Raw(Scheme, Arc<[u8]>),
    None,
}

/// Where a webhook comes from, which decides what the backend keeps of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Origin {
    /// Made over the API, viewer or CLI: kept whole.
    Api,
    /// Declared by the config file (or the demo webhook) under `name`; kept only as far as it
    /// was changed at run time (`changed`: its definition; its counters always).
    File { name: Arc<str>, changed: bool },
}

pub(super) struct Hook {
    pub(super) def: WebhookDef,
    pub(super) origin: Origin,
    pub(super) url: Arc<str>,
    pub(super) key: SignKey,
    /// Content-Type, User-Agent and the custom headers, as sent.
    pub(super) base: Arc<[Header]>,
    pub(super) sent_count: u64,
    pub(super) last_status: Option<u16>,
}

impl Hook {
    /// `via` is this server's `Via` entry for deliveries, appended to the headers sent.
    pub(super) fn new(def: WebhookDef, via: &str) -> Result<Hook> {
        let key = match def.signature {
            SignatureScheme::StandardWebhooks => SignKey::Standard(
                Secret::parse(&def.secret).map_err(|e| Error::bad("secret", e.to_string()))?,
            ),
            SignatureScheme::Github => {
                SignKey::Raw(Scheme::Github, Arc::from(def.secret.as_bytes()))
            }
            SignatureScheme::Stripe => {
                SignKey::Raw(Scheme::Stripe, Arc::from(def.secret.as_bytes()))
            }
            SignatureScheme::Shopify => {
                SignKey::Raw(Scheme::Shopify, Arc::from(def.secret.as_bytes()))
            }
            SignatureScheme::Slack => SignKey::Raw(Scheme::Slack, Arc::from(def.secret.as_bytes())),
            SignatureScheme::None => SignKey::None,
        };
        let mut base = vec![
            Header::new("Content-Type", &b"application/json"[..]),
            Header::new(
                "User-Agent",
                format!("hookpit/{}", env!("CARGO_PKG_VERSION")).into_bytes(),
            ),
        ];
        for (k, v) in &def.headers {
            match base[..2]
                .iter_mut()
                .find(|h| h.name.eq_ignore_ascii_case(k))
            {
                Some(h) => *h = Header::new(k.as_str(), v.as_bytes()),
                None => base.push(Header::new(k.as_str(), v.as_bytes())),
            }
        }
        crate::outbound::append_via(&mut base, via);
        Ok(Hook {
            url: Arc::from(def.url.as_str()),
            key,
            base: base.into(),
            def,
            origin: Origin::Api,
            sent_count: 0,
            last_status: None,
        })
    }

    /// Its definition changed at run time: a config-file webhook is now kept as changed.
    pub(super) fn changed_at_run_time(&mut self) {
        if let Origin::File { changed, .. } = &mut self.origin {
            *changed = true;
        }
    }

    pub(super) fn view(&self, id: u64) -> WebhookView {
        let d = &self.def;
        WebhookView {
            id,
            name: d.name.clone(),
            url: d.url.clone(),
            events: d.events.clone(),
            active: d.active,
            secret: d.secret.clone(),
            signature: d.signature.as_str().to_owned(),
            headers: d.headers.clone(),
            timeout: format_duration(d.timeout),
            retry: RetryView {
                schedule: d
                    .retry
                    .schedule
                    .iter()
                    .map(|s| format_duration(*s))
                    .collect(),
                time_scale: d.retry.time_scale,
            },
            format: d.format.as_str().to_owned(),
            insecure_tls: d.insecure_tls,
            sent_count: self.sent_count,
            last_status: self.last_status,
        }
    }
}

impl Sender {
    /// The `Via` entry deliveries carry: this server's hop marker, as the sender's.
    pub(super) fn via(&self) -> String {
        crate::outbound::via_entry(&self.inner.store.instance(), true)
    }

    /// Every webhook, by id.
    pub fn webhooks(&self) -> Vec<WebhookView> {
        self.lock()
            .hooks
            .iter()
            .map(|(id, h)| h.view(*id))
            .collect()
    }

    /// One webhook.
    pub fn webhook(&self, id: u64) -> Option<WebhookView> {
        self.lock().hooks.get(&id).map(|h| h.view(id))
    }

    /// Resolves a webhook id (digits) or exact name.
    pub fn find_webhook(&self, id_or_name: &str) -> Result<u64> {
        let st = self.lock();
        if let Ok(id) = id_or_name.parse::<u64>() {
            if st.hooks.contains_key(&id) {
                return Ok(id);
            }
        }
        st.hooks
            .iter()
            .find(|(_, h)| h.def.name == id_or_name)
            .map(|(id, _)| *id)
            .ok_or_else(|| Error::not_found("webhook", id_or_name))
    }

    /// Adds a validated webhook, as one made at run time.
    pub fn add_webhook(&self, def: WebhookDef) -> Result<WebhookView> {
        self.add_hook(def, Origin::Api)
    }

    /// Adds a validated webhook from `origin`; one made at run time is journaled.
    pub(super) fn add_hook(&self, def: WebhookDef, origin: Origin) -> Result<WebhookView> {
        let mut hook = Hook::new(def, &self.via())?;
        hook.origin = origin;
        let mut st = self.lock();
        if st.hooks.values().any(|h| h.def.name == hook.def.name) {
            return Err(Error::bad(
                "name",
                format!("a webhook named `{}` already exists", hook.def.name),
            ));
        }
        let id = st.next_hook;
        st.next_hook += 1;
        let v = hook.view(id);
        let made = hook.origin == Origin::Api;
        st.hooks.insert(id, hook);
        if made {
            // a config-file webhook is read from the file again at start
            self.journal_hook(&st, id);
        }
        Ok(v)
    }

    /// Validates and adds a webhook (`POST /_/api/webhooks`).
    pub fn create_webhook(&self, input: WebhookInput) -> Result<WebhookView> {
        let catalog = &self.inner.catalog;
        let def = input.build(None, &|n| catalog.get(n).is_some())?;
        self.add_webhook(def)
    }

    /// Changes the fields `input` names (`PUT /_/api/webhooks/{id}`); counts are kept.
    pub fn update_webhook(&self, id: u64, input: WebhookInput) -> Result<WebhookView> {
        let base = self
            .lock()
            .hooks
            .get(&id)
            .map(|h| h.def.clone())
            .ok_or_else(|| Error::not_found("webhook", id))?;
        let catalog = &self.inner.catalog;
        let def = input.build(Some(&base), &|n| catalog.get(n).is_some())?;
        let mut hook = Hook::new(def, &self.via())?;
        let mut st = self.lock();
        if st
            .hooks
            .iter()
            .any(|(other, h)| *other != id && h.def.name == hook.def.name)
        {
            return Err(Error::bad(
                "name",
                format!("a webhook named `{}` already exists", hook.def.name),
            ));
        }
        let slot = st
            .hooks
            .get_mut(&id)
            .ok_or_else(|| Error::not_found("webhook", id))?;
        hook.sent_count = slot.sent_count;
        hook.last_status = slot.last_status;
        hook.origin = slot.origin.clone();
        hook.changed_at_run_time();
        let deactivated = slot.def.active && !hook.def.active;
        *slot = hook;
        let view = slot.view(id);
        self.journal_hook(&st, id);
        let ended = if deactivated {
            // what an inactive webhook would refuse at its next turn ends now; a test send and
            // a manual redelivery's first attempt still go (they go to inactive webhooks too)
            self.end_pending_of(&mut st, id, |r| !r.forced(), "the webhook is inactive")
        } else {
            Vec::new()
        };
        drop(st);
        self.publish(ended);
        Ok(view)
    }

    /// Deletes a webhook; its pending deliveries fail now ("the webhook was deleted"), so the
    /// log and the waits on them do not hang on until their next scheduled attempt.
    pub fn delete_webhook(&self, id: u64) -> Result<()> {
        let views = {
            let mut st = self.lock();
            let Some(gone) = st.hooks.remove(&id) else {
                return Err(Error::not_found("webhook", id));
            };
            self.journal_hook_deleted(&st, id, &gone.origin);
            self.end_pending_of(&mut st, id, |_| true, "the webhook was deleted")
        };
        self.publish(views);
        Ok(())
    }
}

/// A stored webhook record, read back.
pub(super) enum StoredHook {
    /// Ids continue from here.
    Sequence(u64),
    /// A webhook with its counters, from the origin it had.
    Hook(Box<Hook>),
    /// A config-file webhook (declared as `file_name`) deleted at run time.
    Deleted { file_name: Arc<str> },
}

impl Hook {
    fn record(&self) -> HookRecord {
        let origin = match &self.origin {
            Origin::Api => OriginRecord::Api {},
            Origin::File { name, changed } => OriginRecord::File {
                name: name.to_string(),
                changed: *changed,
            },
        };
        HookRecord::Webhook {
            v: VERSION,
            origin,
            def: Box::new(DefRecord::of(&self.def)),
            sent_count: self.sent_count,
            last_status: self.last_status,
        }
    }
}

/// Reads stored webhook record `id` back; `via` is this server's `Via` entry.
pub(super) fn read_hook(id: u64, v: serde_json::Value, via: &str) -> Result<StoredHook> {
    let rec: HookRecord = persist::read("webhook", id, v)?;
    Ok(match rec {
        HookRecord::Sequence { next_id, .. } => StoredHook::Sequence(next_id),
        HookRecord::Deleted { file_name, .. } => StoredHook::Deleted {
            file_name: Arc::from(file_name),
        },
        HookRecord::Webhook {
            origin,
            def,
            sent_count,
            last_status,
            ..
        } => {
            let bad = |e: Error| persist::unreadable("webhook", id, e);
            let mut h = Hook::new(def.def().map_err(bad)?, via).map_err(bad)?;
            h.origin = match origin {
                OriginRecord::Api {} => Origin::Api,
                OriginRecord::File { name, changed } => Origin::File {
                    name: Arc::from(name),
                    changed,
                },
            };
            h.sent_count = sent_count;
            h.last_status = last_status;
            StoredHook::Hook(Box::new(h))
        }
    })
}

impl Sender {
    /// Webhook `id` as it stands, to the backend. Call under the lock.
    pub(super) fn journal_hook(&self, st: &State, id: u64) {
        if let Some(h) = st.hooks.get(&id) {
            self.append(|| Op::Webhook {
                id,
                def: Some(Arc::new(persist::to_json(&h.record()))),
            });
        }
    }

    /// Webhook `id` (from `origin`) was deleted: a run-time one is forgotten, a config-file one
    /// stays deleted while the file declares it. Call under the lock, after the removal.
    pub(super) fn journal_hook_deleted(&self, st: &State, id: u64, origin: &Origin) {
        let def = match origin {
            Origin::Api => None,
            Origin::File { name, .. } => Some(Arc::new(persist::to_json(&HookRecord::Deleted {
                v: VERSION,
                file_name: name.to_string(),
            }))),
        };
        self.append(|| Op::Webhook { id, def });
        self.journal_hook_sequence(st);
    }

    /// The webhook id sequence, so ids continue above every id given out.
    pub(super) fn journal_hook_sequence(&self, st: &State) {
        self.append(|| Op::Webhook {
            id: 0,
            def: Some(Arc::new(persist::to_json(&HookRecord::Sequence {
                v: VERSION,
                next_id: st.next_hook,
            }))),
        });
    }

    /// Stored webhook record `id` no longer stands for anything: the backend forgets it.
    pub(super) fn journal_hook_forgotten(&self, id: u64) {
        self.append(|| Op::Webhook { id, def: None });
    }
}
