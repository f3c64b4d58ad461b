//! Standard Webhooks events: the built-in catalog's events (`catalog`), each sent as the
//! envelope `{"type", "timestamp", "data"}` with the event's sample as `data`, signed with
//! `webhook-id` (a fresh `msg_…`), `webhook-timestamp` and `webhook-signature`; the secret is
//! `whsec_` + base64, decoded to the key as the Standard Webhooks libraries do.
//!
//! Uses `catalog`, `sign` and `error`.

use serde_json::{json, Value};

use super::fresh;
use crate::error::{Error, Result};

/// The built-in catalog's event names.
pub(super) fn events() -> Vec<String> {
    crate::catalog::builtin()
        .into_iter()
        .map(|e| e.name)
        .collect()
}

/// The envelope for `event`, timestamped now.
pub(super) fn payload(event: &str) -> Option<Value> {
    let def = crate::catalog::builtin()
        .into_iter()
        .find(|e| e.name == event)?;
    Some(json!({
        "type": def.name,
        "timestamp": fresh::rfc3339(crate::sign::unix_now()),
        "data": def.sample,
    }))
}

/// The headers a Standard Webhooks sender sends.
pub(super) fn headers(secret: &str, body: &[u8], now: i64) -> Result<Vec<(String, String)>> {
    let key = crate::sign::Secret::parse(secret)
        .map_err(|e| Error::bad("secret", format!("{e} (standard-webhooks)")))?;
    let id =
        crate::sign::new_msg_id().map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
    let mut out = vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        (
            "User-Agent".to_owned(),
            format!("hookpit/{}", env!("CARGO_PKG_VERSION")),
        ),
    ];
    out.extend(
        crate::sign::sign_headers(&key, &id, now, body)
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v)),
    );
    Ok(out)
}
