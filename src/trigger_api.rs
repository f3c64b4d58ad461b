//! `POST /_/api/trigger`: makes a provider event (`provider`) and sends it, answering like a
//! replay (`ok`, `url`, `status`, `headers`, `body`, `latency_ms`, `error`) plus what was sent
//! (`sent: {headers, body}`) and the `secret` it was signed with. Also [`fire`], the one send
//! shared with `hookpit trigger`, so the command's `--json` and the API answer alike. Over
//! `http` the provider's headers go out as it writes them (names in its case, its order).
//!
//! Request body: `{provider, event, url, secret?, set?: {path: value}, data?, headers?,
//! timeout?, insecure_tls?}`. `data` replaces the payload: a string is the body's exact text
//! (which must be JSON), any other JSON value is the payload itself. `headers` is a list of
//! `[name, value]` pairs. Bounded by `provider`'s limits (the size of `data`, the number and
//! depth of `set` paths, the number of headers) and the size of the request itself.
//!
//! Uses `provider`, `outbound` (the server's client, which never targets the server's own
//! `/_/`; requests carry this hookpit's sender `Via` entry, as deliveries do), `webhook` (URL
//! check), `http`, `units`, `model` and `error`. Called by `api`.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::model::{Body, Header};
use crate::outbound::{Outbound, Outgoing};
use crate::provider::{self, Prepared, Provider, Trigger};

/// The largest request body the route reads (`data` at its limit, JSON-escaped, and the rest).
pub const MAX_REQUEST_BYTES: usize = provider::MAX_DATA * 2 + 64 * 1024;
/// The fields of a trigger request.
const KNOWN: [&str; 9] = [
    "provider",
    "event",
    "url",
    "secret",
    "set",
    "data",
    "headers",
    "timeout",
    "insecure_tls",
];

/// How long a send may take unless the request says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest timeout a request may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);
/// How much of the answer's body is kept.
pub const KEEP_BODY: usize = 64 * 1024;

/// Where and how to send a prepared event.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub timeout: Duration,
    pub insecure_tls: bool,
    /// A `Via` entry to add (the server's; the command line adds none).
    pub via: Option<String>,
}

/// Answers `POST /_/api/trigger` with the server's client and `Via` entry.
pub async fn handle(outbound: &Outbound, instance: &str, body: Value) -> Result<Value> {
    let (trigger, mut target) = parse(&body)?;
    target.via = Some(crate::outbound::via_entry(instance, true));
    let prepared = provider::prepare(&trigger)?;
    Ok(fire(outbound, &prepared, &target).await)
}

/// Sends `p` to `target` and describes the exchange: the replay answer's fields, `provider`,
/// `event`, `secret`, `secret_generated` and `sent: {headers, body}`.
pub async fn fire(outbound: &Outbound, p: &Prepared, target: &Target) -> Value {
    let mut headers: Vec<Header> = p
        .headers
        .iter()
        .map(|(n, v)| Header::new(n.as_str(), v.as_bytes()))
        .collect();
    if let Some(via) = &target.via {
        crate::outbound::append_via(&mut headers, via);
    }
    let out = Outgoing {
        method: "POST".to_owned(),
        url: target.url.clone(),
        headers,
        body: p.body.clone(),
        timeout: target.timeout,
        insecure_tls: target.insecure_tls,
        keep_body: KEEP_BODY,
    };
    let headers = crate::outbound::headers_as_sent(&out);
    let o = outbound.send_as_given(out).await;
    json!({
        "ok": o.status.is_some_and(|s| (200..300).contains(&s)),
        "url": target.url,
        "status": o.status,
        "headers": o.headers,
        "body": Body::new(o.body, o.body_truncated),
        "latency_ms": crate::model::millis(o.latency),
        "error": o.error,
        "provider": p.provider.as_str(),
        "event": p.event,
        "secret": p.secret,
        "secret_generated": p.secret_generated,
        "sent": {"headers": headers, "body": Body::new(p.body.clone(), false)},
    })
}

/// Reads the request body into a trigger and its target; a bad field is a 400 naming it.
fn parse(body: &Value) -> Result<(Trigger, Target)> {
    let Some(obj) = body.as_object() else {
        return Err(Error::bad(
            "body",
            "expected {\"provider\", \"event\", \"url\", …}",
        ));
    };
    if let Some(k) = obj.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        // a mistyped `secret` or `set` must not send an event signed or edited otherwise
        return Err(Error::bad(
            k.clone(),
            format!("not a trigger field (known: {})", KNOWN.join(", ")),
        ));
    }
    let text = |field: &'static str| -> Result<Option<&str>> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Error::bad(field, "expected a string")),
        }
    };
    let required = |field: &'static str, what: &str| -> Result<&str> {
        text(field)?.ok_or_else(|| Error::bad(field, format!("required: {what}")))
    };
    let provider = Provider::parse(required(
        "provider",
        "stripe, github, shopify, slack or standard-webhooks",
    )?)?;
    let event = required("event", &format!("see `hookpit trigger --list {provider}`"))?;
    let url = crate::webhook::check_url(required("url", "the http or https URL to send to")?)
        .map_err(|m| Error::bad("url", m))?;
    let sets =
        match obj.get("set") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(map)) => {
                if map.len() > provider::MAX_SETS {
                    return Err(Error::bad(
                        "set",
                        format!("at most {} edits", provider::MAX_SETS),
                    ));
                }
                map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
            }
            Some(_) => return Err(Error::bad(
                "set",
                "expected an object of dot paths and values, like {\"data.object.amount\": 5000}",
            )),
        };
    let data = match obj.get("data") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(Bytes::from(s.clone().into_bytes())),
        Some(v) => Some(Bytes::from(serde_json::to_vec(v)?)),
    };
    let headers = match obj.get("headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item.as_array().map(Vec::as_slice) {
                Some([Value::String(n), Value::String(v)]) => Ok((n.clone(), v.clone())),
                _ => Err(Error::bad(
                    "headers",
                    "expected a list of [name, value] pairs",
                )),
            })
            .collect::<Result<Vec<_>>>()?,
        Some(_) => {
            return Err(Error::bad(
                "headers",
                "expected a list of [name, value] pairs",
            ))
        }
    };
    let timeout = match text("timeout")? {
        Some(t) => crate::units::parse_duration(t)
            .ok()
            .filter(|d| !d.is_zero() && *d <= MAX_TIMEOUT)
            .ok_or_else(|| Error::bad("timeout", "expected a duration above 0 and at most 5m"))?,
        None => DEFAULT_TIMEOUT,
    };
    let insecure_tls = match obj.get("insecure_tls") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(Error::bad("insecure_tls", "expected true or false")),
    };
    let trigger = Trigger {
        provider,
        event: event.to_owned(),
        secret: text("secret")?.map(str::to_owned),
        sets,
        data,
        headers,
    };
    let target = Target {
        url,
        timeout,
        insecure_tls,
        via: None,
    };
    Ok((trigger, target))
}
