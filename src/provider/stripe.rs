//! Stripe events: the event envelope (`object: "event"`, `id: evt_…`, `type`, `created`,
//! `api_version`, `livemode: false`, `data.object`) from the fixtures under
//! `fixtures/stripe/`, made fresh on every send (the event's, the object's and the request's
//! ids, the creation time), and Stripe's headers with `Stripe-Signature: t=…,v1=…` over
//! `t.body`, the secret's text used as the key as Stripe's libraries do (also for `whsec_…`).
//!
//! Uses `sign` (the signature) and the sibling `fresh`.

use serde_json::Value;

use super::fresh;
use crate::error::Result;

/// The events, each with its fixture.
pub(super) const EVENTS: &[(&str, &str)] = &[
    (
        "payment_intent.succeeded",
        include_str!("fixtures/stripe/payment_intent.succeeded.json"),
    ),
    (
        "payment_intent.payment_failed",
        include_str!("fixtures/stripe/payment_intent.payment_failed.json"),
    ),
    (
        "checkout.session.completed",
        include_str!("fixtures/stripe/checkout.session.completed.json"),
    ),
    (
        "invoice.paid",
        include_str!("fixtures/stripe/invoice.paid.json"),
    ),
    (
        "customer.subscription.created",
        include_str!("fixtures/stripe/customer.subscription.created.json"),
    ),
    (
        "customer.subscription.updated",
        include_str!("fixtures/stripe/customer.subscription.updated.json"),
    ),
    (
        "customer.subscription.deleted",
        include_str!("fixtures/stripe/customer.subscription.deleted.json"),
    ),
    (
        "charge.refunded",
        include_str!("fixtures/stripe/charge.refunded.json"),
    ),
];

/// Fresh ids for the event, its object and its request; `created` is now.
pub(super) fn freshen(v: &mut Value, now: i64) -> Result<()> {
    for pointer in ["/id", "/data/object/id", "/request/id"] {
        if let Some(slot) = v.pointer_mut(pointer) {
            if let Some(old) = slot.as_str() {
                *slot = Value::String(fresh::id_like(old)?);
            }
        }
    }
    if let Some(key) = v.pointer_mut("/request/idempotency_key") {
        if key.is_string() {
            *key = Value::String(fresh::guid()?);
        }
    }
    v["created"] = Value::from(now);
    if let Some(created) = v.pointer_mut("/data/object/created") {
        *created = Value::from(now);
    }
    Ok(())
}

/// The headers Stripe sends, in its order and case.
pub(super) fn headers(secret: &str, body: &[u8], now: i64) -> Vec<(String, String)> {
    vec![
        (
            "Content-Type".into(),
            "application/json; charset=utf-8".into(),
        ),
        ("Cache-Control".into(), "no-cache".into()),
        (
            "User-Agent".into(),
            "Stripe/1.0 (+https://stripe.com/docs/webhooks)".into(),
        ),
        ("Accept".into(), "*/*; q=0.5, application/xml".into()),
        (
            crate::sign::STRIPE_SIGNATURE.into(),
            crate::sign::stripe_sign(secret.as_bytes(), now, body),
        ),
    ]
}
