//! The records the backend behind the store keeps of the sender ([`Op::Webhook`] and
//! [`Op::Delivery`] carry them as JSON), as plain serde data with a format version `"v"`, read
//! back exactly as written: bytes as text when they are UTF-8 (else `{"base64"}`), times as
//! RFC 3339 with nanoseconds (wall-clock: a retry's `next_attempt_at` is its due time),
//! durations in nanoseconds. A backend keeps the last record per id; `None` removes it.
//!
//! - webhook `0` is `{"v":1,"kind":"sequence","next_id"}`, written when a webhook is deleted so
//!   ids continue above every id given out; webhook `N` is
//!   `{"v":1,"kind":"webhook","origin","def","sent_count","last_status"}` with `origin`
//!   `{"api":{}}` or `{"file":{"name","changed"}}`, or, for a config-file webhook deleted at run
//!   time, `{"v":1,"kind":"deleted","file_name"}`;
//! - delivery `0` is `{"v":1,"kind":"sequence","next_id","evicted"}`, written when a delivery
//!   leaves the log; delivery `N` is `{"v":1,"kind":"delivery",…}` with its attempts, and
//!   `in_flight` while an attempt is under way (signed and sent, no outcome yet).
//!
//! `registry` and `log` turn their state into these records and back. Uses `webhook`
//! (definitions), `model` (headers) and `error`; nothing else of the sender.

use std::time::{Duration, SystemTime};

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::Header;
use crate::webhook::{Format, RetryPolicy, SignatureScheme, WebhookDef};

/// The format version of the records written here.
pub(super) const VERSION: u32 = 1;

/// Bytes as text when they are UTF-8, else `{"base64": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub(super) enum Blob {
    Text(String),
    Bytes { base64: String },
}

impl Blob {
    pub(super) fn of(b: &[u8]) -> Blob {
        match std::str::from_utf8(b) {
            Ok(t) => Blob::Text(t.to_owned()),
            Err(_) => Blob::Bytes {
                base64: base64::engine::general_purpose::STANDARD.encode(b),
            },
        }
    }

    pub(super) fn bytes(self) -> Result<Vec<u8>> {
        match self {
            Blob::Text(t) => Ok(t.into_bytes()),
            Blob::Bytes { base64 } => base64::engine::general_purpose::STANDARD
                .decode(base64)
                .map_err(|e| Error::bad("base64", e.to_string())),
        }
    }
}

/// A time as RFC 3339 with nanoseconds (exact).
pub(super) mod nanos {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_nanos(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }

    pub mod opt {
        use super::*;

        pub fn serialize<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<SystemTime>, D::Error> {
            match Option::<String>::deserialize(d)? {
                Some(s) => humantime::parse_rfc3339(&s)
                    .map(Some)
                    .map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }
}

// -- webhooks ----------------------------------------------------------------------------------

/// A webhook definition as stored; durations in nanoseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct DefRecord {
    pub(super) name: String,
    pub(super) url: String,
    pub(super) events: Vec<String>,
    pub(super) active: bool,
    pub(super) secret: String,
    pub(super) signature: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) timeout_ns: u64,
    pub(super) schedule_ns: Vec<u64>,
    pub(super) time_scale: f64,
    pub(super) format: String,
    pub(super) insecure_tls: bool,
}

fn ns(d: Duration) -> u64 {
    d.as_nanos().min(u128::from(u64::MAX)) as u64
}

impl DefRecord {
    pub(super) fn of(d: &WebhookDef) -> DefRecord {
        DefRecord {
            name: d.name.clone(),
            url: d.url.clone(),
            events: d.events.clone(),
            active: d.active,
            secret: d.secret.clone(),
            signature: d.signature.as_str().to_owned(),
            headers: d.headers.clone(),
            timeout_ns: ns(d.timeout),
            schedule_ns: d.retry.schedule.iter().map(|s| ns(*s)).collect(),
            time_scale: d.retry.time_scale,
            format: d.format.as_str().to_owned(),
            insecure_tls: d.insecure_tls,
        }
    }

    pub(super) fn def(self) -> Result<WebhookDef> {
        Ok(WebhookDef {
            signature: SignatureScheme::parse(&self.signature)
                .ok_or_else(|| Error::bad("signature", self.signature.clone()))?,
            format: Format::parse(&self.format)
                .ok_or_else(|| Error::bad("format", self.format.clone()))?,
            name: self.name,
            url: self.url,
            events: self.events,
            active: self.active,
            secret: self.secret,
            headers: self.headers,
            timeout: Duration::from_nanos(self.timeout_ns),
            retry: RetryPolicy {
                schedule: self
                    .schedule_ns
                    .into_iter()
                    .map(Duration::from_nanos)
                    .collect(),
                time_scale: self.time_scale,
            },
            insecure_tls: self.insecure_tls,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum OriginRecord {
    Api {},
    File { name: String, changed: bool },
}

/// One webhook record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum HookRecord {
    Sequence {
        v: u32,
        next_id: u64,
    },
    Webhook {
        v: u32,
        origin: OriginRecord,
        def: Box<DefRecord>,
        sent_count: u64,
        last_status: Option<u16>,
    },
    Deleted {
        v: u32,
        file_name: String,
    },
}

pub(super) fn to_json(v: &impl Serialize) -> Value {
    // these records have string keys only: serializing them cannot fail
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Checks a record's format version before reading it.
fn version(what: &str, id: u64, v: &Value) -> Result<()> {
    let found = v.get("v").and_then(Value::as_u64);
    match found {
        Some(n) if n >= 1 && n <= u64::from(VERSION) => Ok(()),
        Some(n) => Err(Error::bad(
            format!("stored {what} {id}"),
            format!("written in format {n}, newer than this hookpit reads ({VERSION})"),
        )),
        None => Err(Error::bad(
            format!("stored {what} {id}"),
            "not a record of the sender (no format version)",
        )),
    }
}

/// A problem with stored record `id` (`what`: webhook or delivery), naming it.
pub(super) fn unreadable(what: &str, id: u64, e: impl std::fmt::Display) -> Error {
    Error::bad(format!("stored {what} {id}"), e.to_string())
}

/// Reads stored record `id` (`what`: webhook or delivery) after checking its format version.
pub(super) fn read<T: serde::de::DeserializeOwned>(what: &str, id: u64, v: Value) -> Result<T> {
    version(what, id, &v)?;
    serde_json::from_value(v).map_err(|e| unreadable(what, id, e))
}

// -- deliveries --------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "snake_case")]
pub(super) enum SigRecord {
    Standard { value: String },
    Github { value: String },
    Stripe { value: String },
    Shopify { value: String },
    Slack { value: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct ResponseRecord {
    pub(super) status: u16,
    pub(super) truncated: bool,
    /// Packed `name:value\n` lines, as kept.
    pub(super) headers: Blob,
    pub(super) body: Blob,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct AttemptRecord {
    /// What was sent (its fields stand beside the others in the stored JSON).
    #[serde(flatten)]
    pub(super) sent: FlightRecord,
    pub(super) response: Option<ResponseRecord>,
    pub(super) latency_us: u64,
    pub(super) error: Option<String>,
    #[serde(with = "nanos::opt")]
    pub(super) next_attempt_at: Option<SystemTime>,
}

/// An attempt as signed and sent: alone, one whose outcome is not known yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct FlightRecord {
    #[serde(with = "nanos")]
    pub(super) at: SystemTime,
    pub(super) url: String,
    /// The webhook's headers as sent (the message id, timestamp and signature apart).
    pub(super) headers: Vec<Header>,
    pub(super) timestamp: i64,
    pub(super) sig: Option<SigRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct DeliveryBody {
    pub(super) v: u32,
    pub(super) webhook_id: u64,
    pub(super) event: String,
    pub(super) message_id: String,
    pub(super) trigger: String,
    pub(super) state: String,
    #[serde(with = "nanos")]
    pub(super) created_at: SystemTime,
    pub(super) body: Blob,
    pub(super) note: Option<String>,
    pub(super) attempts: Vec<AttemptRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) in_flight: Option<FlightRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum DeliveryRecord {
    Sequence { v: u32, next_id: u64, evicted: u64 },
    Delivery(Box<DeliveryBody>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_attempt_keeps_what_was_sent_beside_its_outcome() {
        // the layout stores written before `sent` was its own struct hold, and read back
        let stored = serde_json::json!({
            "at": "2023-11-14T22:13:20.000000000Z", "url": "http://x/", "headers": [["A", "1"]],
            "timestamp": 1_700_000_000, "sig": null, "response": null, "latency_us": 5,
            "error": "refused", "next_attempt_at": null
        });
        let a: AttemptRecord = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(a.sent.url, "http://x/");
        assert_eq!(a.sent.timestamp, 1_700_000_000);
        assert_eq!(a.error.as_deref(), Some("refused"));
        assert_eq!(serde_json::to_value(&a).unwrap(), stored);
    }

    #[test]
    fn blobs_keep_text_readable_and_any_bytes_exact() {
        for b in [&b"{\"a\":1}"[..], &[0xff, 0x00, 0x80][..], &b""[..]] {
            let j = serde_json::to_value(Blob::of(b)).unwrap();
            let back: Blob = serde_json::from_value(j.clone()).unwrap();
            assert_eq!(back.bytes().unwrap(), b, "{j}");
        }
        assert_eq!(to_json(&Blob::of(b"hi")), Value::from("hi"));
    }

    #[test]
    fn a_webhook_of_every_signature_scheme_is_stored_under_its_name_and_comes_back() {
        for scheme in SignatureScheme::ALL {
            let def = crate::webhook::WebhookInput {
                name: Some("w".into()),
                url: Some("http://127.0.0.1:9/h".into()),
                signature: Some(scheme.as_str().into()),
                secret: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
                ..Default::default()
            }
            .build(None, &|_| true)
            .unwrap();
            let stored = serde_json::to_value(DefRecord::of(&def)).unwrap();
            assert_eq!(stored["signature"], scheme.as_str());
            let back: DefRecord = serde_json::from_value(stored).unwrap();
            assert_eq!(back.def().unwrap(), def);
        }
    }

    #[test]
    fn a_record_of_a_newer_format_is_refused_with_its_id() {
        let e = read::<DeliveryRecord>("delivery", 7, serde_json::json!({"v": 2}))
            .err()
            .unwrap();
        assert!(e.to_string().contains("delivery 7"), "{e}");
        assert!(e.to_string().contains("format 2"), "{e}");
        let no_version = serde_json::json!({"kind": "sequence", "next_id": 4});
        assert!(read::<HookRecord>("webhook", 3, no_version).is_err());
    }
}
