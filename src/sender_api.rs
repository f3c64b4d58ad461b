//! The sender's REST routes under `/_/api/` (SPEC §8, §12): `webhooks` (CRUD and Send Test Event),
//! `events` (the catalog and dispatch) and `deliveries` (the log, redelivery, and `GET
//! deliveries/{id}/wait?timeout=30s`: 200 with the delivery once it succeeded or failed, 408 with
//! it as it stands when the timeout (at most 1h) passes first).
//!
//! Uses `deliver` (all behaviour), `webhook` (the webhook input shape), `http` (request and
//! response helpers), `units` (a wait's timeout) and `error`; never `api`. `server` hands it every
//! path under `/_/api/` whose first segment is `webhooks`, `events` or `deliveries` ([`route`]
//! answers `404` for any other). `{id}` of a webhook accepts its number or its exact name.

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::deliver::{DeliveryQuery, DeliveryWait, DispatchOptions, Sender, Trigger};
use crate::error::{Error, Result};
use crate::http::{json_of, json_response, method_not_allowed, Params, Resp};
use crate::webhook::WebhookInput;

fn reply(status: StatusCode, v: &impl serde::Serialize) -> Result<Resp> {
    Ok(json_response(status, &serde_json::to_value(v)?))
}

/// Answers the sender's routes; `segs` is the decoded path after `/_/api/`.
pub async fn route(
    sender: &Sender,
    method: &Method,
    body: Bytes,
    segs: &[&str],
    params: &Params,
    path: &str,
) -> Result<Resp> {
    match (method, segs) {
        (&Method::GET, ["webhooks"]) => {
            reply(StatusCode::OK, &json!({"webhooks": sender.webhooks()}))
        }
        (&Method::POST, ["webhooks"]) => {
            let input = webhook_input(json_of(&body)?)?;
            reply(StatusCode::CREATED, &sender.create_webhook(input)?)
        }
        (&Method::GET, ["webhooks", id]) => {
            let id = sender.find_webhook(id)?;
            let w = sender
                .webhook(id)
                .ok_or_else(|| Error::not_found("webhook", id))?;
            reply(StatusCode::OK, &w)
        }
        (&Method::PUT | &Method::PATCH, ["webhooks", id]) => {
            let id = sender.find_webhook(id)?;
            let input = webhook_input(json_of(&body)?)?;
            reply(StatusCode::OK, &sender.update_webhook(id, input)?)
        }
        (&Method::DELETE, ["webhooks", id]) => {
            let id = sender.find_webhook(id)?;
            sender.delete_webhook(id)?;
            reply(StatusCode::OK, &json!({"ok": true, "id": id}))
        }
        (&Method::POST, ["webhooks", id, "test"]) => {
            let id = sender.find_webhook(id)?;
            let t = test_input(json_of(&body)?)?;
            let out = sender.test(id, t.event.as_deref(), t.payload).await?;
            reply(StatusCode::OK, &out)
        }
        (&Method::GET, ["events"]) => {
            reply(StatusCode::OK, &json!({"events": sender.catalog().all()}))
        }
        (&Method::GET, ["events", name]) => {
            let e = sender
                .catalog()
                .get(name)
                .ok_or_else(|| Error::not_found("event", name))?;
            reply(StatusCode::OK, e)
        }
        (&Method::POST, ["events", name]) => {
            let name = (*name).to_owned();
            let trigger = match params.get("trigger").filter(|t| !t.is_empty()) {
                None => Trigger::Event,
                Some(t) => match t.parse()? {
                    tr @ (Trigger::Event | Trigger::Manual) => tr,
                    _ => {
                        return Err(Error::bad(
                            "trigger",
                            "a dispatch is an `event` or `manual` trigger",
                        ))
                    }
                },
            };
            let webhook = match params.get("webhook").filter(|w| !w.is_empty()) {
                Some(w) => Some(sender.find_webhook(w)?),
                None => None,
            };
            let payload = payload_of(&body)?;
            let out = sender
                .dispatch(&name, payload, DispatchOptions { trigger, webhook })
                .await?;
            reply(StatusCode::ACCEPTED, &out)
        }
        (&Method::GET, ["deliveries"]) => {
            let q = query(sender, params)?;
            let evicted = sender.stats().evicted;
            let list = sender.deliveries(&q);
            reply(
                StatusCode::OK,
                &json!({"deliveries": list, "evicted": evicted}),
            )
        }
        (&Method::GET, ["deliveries", id]) => {
            let id = delivery_id(id)?;
            let d = sender
                .delivery(id)
                .ok_or_else(|| Error::not_found("delivery", id))?;
            reply(StatusCode::OK, &d)
        }
        (&Method::GET, ["deliveries", id, "wait"]) => {
            let id = delivery_id(id)?;
            let timeout = params.wait_timeout()?;
            match sender.wait_delivery(id, timeout).await? {
                DeliveryWait::Finished(d) => reply(StatusCode::OK, &d),
                DeliveryWait::TimedOut(d) => reply(
                    StatusCode::REQUEST_TIMEOUT,
                    &json!({
                        "error": {
                            "code": "timeout",
                            "message": format!(
                                "delivery {id} is still pending after {}",
                                crate::units::format_duration(timeout)
                            ),
                        },
                        "delivery": d,
                    }),
                ),
            }
        }
        (&Method::POST, ["deliveries", id, "retry"]) => {
            let id = delivery_id(id)?;
            reply(StatusCode::ACCEPTED, &sender.redeliver(id).await?)
        }
        // a route that exists, asked with another method; anything else is not found
        (
            _,
            ["webhooks" | "events" | "deliveries"]
            | ["webhooks" | "events" | "deliveries", _]
            | ["webhooks", _, "test"]
            | ["deliveries", _, "wait" | "retry"],
        ) => Err(method_not_allowed(method, path)),
        _ => Err(Error::not_found("API route", format!("/_/api/{path}"))),
    }
}

fn delivery_id(s: &str) -> Result<u64> {
    s.parse()
        .map_err(|_| Error::bad("id", format!("`{s}` is not a delivery id")))
}

/// A dispatch body: empty means "use the sample".
fn payload_of(body: &Bytes) -> Result<Option<Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| Error::bad("payload", format!("the body is not JSON: {e}")))
}

/// Decodes a webhook body, naming the field that does not fit.
pub fn webhook_input(v: Value) -> Result<WebhookInput> {
    let map = match v {
        Value::Object(m) => m,
        Value::Null => serde_json::Map::new(),
        _ => return Err(Error::bad("webhook", "expected a JSON object")),
    };
    match serde_json::from_value::<WebhookInput>(Value::Object(map.clone())) {
        Ok(w) => Ok(w),
        Err(e) => {
            for (k, val) in &map {
                let mut one = serde_json::Map::new();
                one.insert(k.clone(), val.clone());
                if let Err(e1) = serde_json::from_value::<WebhookInput>(Value::Object(one)) {
                    return Err(Error::bad(k.as_str(), e1.to_string()));
                }
            }
            Err(Error::bad("webhook", e.to_string()))
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TestInput {
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    payload: Option<Value>,
}

fn test_input(v: Value) -> Result<TestInput> {
    match v {
        Value::Null => Ok(TestInput::default()),
        Value::Object(_) => {
            serde_json::from_value(v).map_err(|e| Error::bad("test", e.to_string()))
        }
        _ => Err(Error::bad(
            "test",
            "expected a JSON object {\"event\", \"payload\"}",
        )),
    }
}

fn query(sender: &Sender, params: &Params) -> Result<DeliveryQuery> {
    let nonempty = |k: &str| params.get(k).filter(|v| !v.is_empty());
    Ok(DeliveryQuery {
        webhook: match nonempty("webhook") {
            Some(w) => Some(sender.find_webhook(w)?),
            None => None,
        },
        state: nonempty("status")
            .or_else(|| nonempty("state"))
            .map(str::parse)
            .transpose()?,
        event: nonempty("event").map(str::to_owned),
        message_id: nonempty("message").map(str::to_owned),
        trigger: nonempty("trigger").map(str::parse).transpose()?,
        limit: Some(params.num::<usize>("limit")?.unwrap_or(100).min(100_000)),
        omit_bodies: !params.flag("body", true)?,
    })
}
