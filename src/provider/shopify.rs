//! Shopify webhooks: `orders/create`, `orders/paid`, `orders/cancelled`, `products/update`,
//! `customers/create` and `app/uninstalled` as the REST webhook bodies (fixtures under
//! `fixtures/shopify/`, one file per topic with `/` as `-`), made fresh on every send (the
//! resource's id and GraphQL id, its times), and Shopify's headers: `X-Shopify-Topic`,
//! `X-Shopify-Hmac-Sha256` (base64 HMAC-SHA256 of the body), `X-Shopify-Shop-Domain`,
//! `X-Shopify-Webhook-Id`, `X-Shopify-Event-Id`, `X-Shopify-API-Version` and
//! `X-Shopify-Triggered-At` — every header `@shopify/shopify-api`'s `webhooks.validate`
//! requires and the optional ones it reads. The app's secret text is the key.
//!
//! Uses `sign` (the signature) and the sibling `fresh`.

use serde_json::Value;

use super::fresh;
use crate::error::Result;

/// The events (topics), each with its fixture.
pub(super) const EVENTS: &[(&str, &str)] = &[
    (
        "orders/create",
        include_str!("fixtures/shopify/orders-create.json"),
    ),
    (
        "orders/paid",
        include_str!("fixtures/shopify/orders-paid.json"),
    ),
    (
        "orders/cancelled",
        include_str!("fixtures/shopify/orders-cancelled.json"),
    ),
    (
        "products/update",
        include_str!("fixtures/shopify/products-update.json"),
    ),
    (
        "customers/create",
        include_str!("fixtures/shopify/customers-create.json"),
    ),
    (
        "app/uninstalled",
        include_str!("fixtures/shopify/app-uninstalled.json"),
    ),
];

/// The development store every event comes from.
pub const SHOP_DOMAIN: &str = "hookpit-dev.myshopify.com";
/// The Admin API version the bodies are written in.
pub const API_VERSION: &str = "2025-10";

/// A fresh id (and GraphQL id) for the resource; its update time is now.
pub(super) fn freshen(v: &mut Value, now: i64) -> Result<()> {
    let Some(map) = v.as_object_mut() else {
        return Ok(());
    };
    if map.get("id").is_some_and(Value::is_u64) {
        let digits = map["id"].to_string().len() as u32;
        let id = fresh::number(digits)?;
        map.insert("id".into(), Value::from(id));
        if let Some(Value::String(gid)) = map.get("admin_graphql_api_id") {
            if let Some((kind, _)) = gid.rsplit_once('/') {
                let gid = format!("{kind}/{id}");
                map.insert("admin_graphql_api_id".into(), Value::String(gid));
            }
        }
    }
    if map.get("updated_at").is_some_and(Value::is_string) {
        map.insert("updated_at".into(), Value::String(fresh::rfc3339(now)));
    }
    Ok(())
}

/// The headers Shopify sends, in its order and case.
pub(super) fn headers(
    topic: &str,
    secret: &str,
    body: &[u8],
    now: i64,
) -> Result<Vec<(String, String)>> {
    Ok(vec![
        ("Content-Type".into(), "application/json".into()),
        ("User-Agent".into(), "Shopify-Captain-Hook".into()),
        ("X-Shopify-API-Version".into(), API_VERSION.into()),
        ("X-Shopify-Event-Id".into(), fresh::guid()?),
        (
            crate::sign::SHOPIFY_HMAC.into(),
            crate::sign::shopify_sign(secret.as_bytes(), body),
        ),
        ("X-Shopify-Shop-Domain".into(), SHOP_DOMAIN.into()),
        ("X-Shopify-Topic".into(), topic.to_owned()),
        ("X-Shopify-Triggered-At".into(), fresh::rfc3339(now)),
        ("X-Shopify-Webhook-Id".into(), fresh::guid()?),
    ])
}
