//! Provider events: requests shaped and signed the way Stripe, GitHub, Shopify, Slack and
//! Standard Webhooks senders make them, built offline for `hookpit trigger` and
//! `POST /_/api/trigger`.
//!
//! Owns the list of providers and their events, the payload edits a user asks for (`--set
//! PATH=VALUE`, `--data`), the limits on them, each scheme's secret rule (and the secret made
//! when none is given), and [`prepare`], which turns a [`Trigger`] into the exact headers and
//! body to send. One file per provider (`stripe`, `github`, `shopify`, `slack`, `standard`)
//! holds its events' fixtures (JSON files under `fixtures/`, compiled in), what is made fresh
//! on every send (ids, timestamps) and its headers; `edit` holds the dot-path edits and
//! `fresh` the random ids.
//!
//! Uses `sign` (the signatures, Standard Webhooks secrets), `catalog` (the Standard Webhooks
//! events), `webhook` (the checks of a header's name and value), `render` (which headers frame
//! a request rather than belong to it) and `error`. Pure apart from
//! the clock and the random source: sending is the caller's (`trigger_api`, `cli::trigger`).
//! [`delivery_headers`] tells the sender (`deliver`) what a vendor scheme's receivers expect
//! beside the signature.

use std::fmt;

use bytes::Bytes;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::sign::Scheme;

mod edit;
mod fresh;
mod github;
mod shopify;
mod slack;
mod standard;
mod stripe;

pub use edit::{parse_value, set_path};

/// Most `--set` edits one trigger may carry.
pub const MAX_SETS: usize = 100;
/// Most segments in one `--set` path.
pub const MAX_PATH_DEPTH: usize = 32;
/// Largest `--data` payload, in bytes.
pub const MAX_DATA: usize = 1024 * 1024;
/// Most extra headers one trigger may carry.
pub const MAX_HEADERS: usize = 50;

/// A provider whose events hookpit can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    Stripe,
    Github,
    Shopify,
    Slack,
    StandardWebhooks,
}

impl Provider {
    /// Every provider, in documentation order.
    pub const ALL: [Provider; 5] = [
        Provider::Stripe,
        Provider::Github,
        Provider::Shopify,
        Provider::Slack,
        Provider::StandardWebhooks,
    ];

    /// The name on the command line and in the API: `stripe`, `github`, `shopify`, `slack`,
    /// `standard-webhooks`.
    pub fn as_str(self) -> &'static str {
        self.scheme().as_str()
    }

    /// The signature scheme the provider signs with.
    pub fn scheme(self) -> Scheme {
        match self {
            Provider::Stripe => Scheme::Stripe,
            Provider::Github => Scheme::Github,
            Provider::Shopify => Scheme::Shopify,
            Provider::Slack => Scheme::Slack,
            Provider::StandardWebhooks => Scheme::StandardWebhooks,
        }
    }

    /// Parses a provider name (ASCII case-insensitive). An unknown name is a 400 naming the
    /// nearest known ones.
    pub fn parse(name: &str) -> Result<Provider> {
        let name = name.trim();
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                let names = Provider::ALL.map(Provider::as_str);
                Error::bad(
                    "provider",
                    format!(
                        "unknown provider `{}`; {}",
                        shown(name),
                        hint(
                            name,
                            names.iter().copied(),
                            "stripe, github, shopify, slack or standard-webhooks"
                        )
                    ),
                )
            })
    }

    /// The provider's event names, in listing order.
    pub fn events(self) -> Vec<String> {
        match self {
            Provider::StandardWebhooks => standard::events(),
            other => fixtures(other)
                .iter()
                .map(|(n, _)| (*n).to_owned())
                .collect(),
        }
    }

    /// The event's payload as written in its fixture (before ids and times are made fresh).
    pub fn fixture(self, event: &str) -> Option<Value> {
        match self {
            Provider::StandardWebhooks => standard::payload(event),
            other => fixtures(other)
                .iter()
                .find(|(n, _)| *n == event)
                .and_then(|(_, text)| serde_json::from_str(text).ok()),
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fixture table of a provider with fixed events.
fn fixtures(p: Provider) -> &'static [(&'static str, &'static str)] {
    match p {
        Provider::Stripe => stripe::EVENTS,
        Provider::Github => github::EVENTS,
        Provider::Shopify => shopify::EVENTS,
        Provider::Slack => slack::EVENTS,
        Provider::StandardWebhooks => &[],
    }
}

/// What to make: a provider's event, with the user's edits.
#[derive(Debug, Clone)]
pub struct Trigger {
    pub provider: Provider,
    pub event: String,
    /// The signing secret; `None` makes one (see [`new_secret`]).
    pub secret: Option<String>,
    /// `--set` edits, applied in order: a dot path and the value put there.
    pub sets: Vec<(String, Value)>,
    /// `--data`: the payload's exact bytes, replacing the event's. Must be JSON; sent byte for
    /// byte unless `sets` edit it (then it is parsed, edited and serialised again).
    pub data: Option<Bytes>,
    /// Extra headers, added after the provider's own (one of the same name replaces it);
    /// none that frames the request or its connection (`Content-Length`, `Host`, …).
    pub headers: Vec<(String, String)>,
}

/// A request ready to send: the provider's headers, in the provider's order and case, and
/// the exact body they sign.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub provider: Provider,
    pub event: String,
    /// The secret the request is signed with.
    pub secret: String,
    /// Whether hookpit made the secret (none was given).
    pub secret_generated: bool,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// Builds the request for `t`: the event's fixture with fresh ids and timestamps (or the
/// `--data` bytes), the `--set` edits, the provider's headers and signature over the exact
/// body. An unknown event, a bad edit, a bad secret or a payload over the limits is a 400
/// naming the field.
pub fn prepare(t: &Trigger) -> Result<Prepared> {
    let p = t.provider;
    let events = p.events();
    if !events.iter().any(|e| e == &t.event) {
        return Err(Error::bad(
            "event",
            format!(
                "unknown {p} event `{}`; {}",
                shown(&t.event),
                hint(
                    &t.event,
                    events.iter().map(String::as_str),
                    &format!("{} (`hookpit trigger --list {p}`)", events.join(", "))
                )
            ),
        ));
    }
    if t.sets.len() > MAX_SETS {
        return Err(Error::bad("set", format!("at most {MAX_SETS} edits")));
    }
    if t.headers.len() > MAX_HEADERS {
        return Err(Error::bad(
            "headers",
            format!("at most {MAX_HEADERS} headers"),
        ));
    }
    let now = crate::sign::unix_now();
    let body = match &t.data {
        Some(data) => {
            if data.len() > MAX_DATA {
                return Err(Error::bad("data", format!("at most {MAX_DATA} bytes")));
            }
            let mut payload: Value = serde_json::from_slice(data).map_err(|e| {
                Error::bad("data", format!("not JSON ({e}): {p} sends JSON bodies"))
            })?;
            if t.sets.is_empty() {
                data.clone()
            } else {
                apply_sets(&mut payload, &t.sets)?;
                Bytes::from(serde_json::to_vec(&payload)?)
            }
        }
        None => {
            let mut payload = p
                .fixture(&t.event)
                .ok_or_else(|| Error::bad("event", format!("no payload for `{}`", t.event)))?;
            match p {
                Provider::Stripe => stripe::freshen(&mut payload, now)?,
                Provider::Github => github::freshen(&mut payload, now)?,
                Provider::Shopify => shopify::freshen(&mut payload, now)?,
                Provider::Slack => slack::freshen(&mut payload, now)?,
                Provider::StandardWebhooks => {}
            }
            apply_sets(&mut payload, &t.sets)?;
            Bytes::from(serde_json::to_vec(&payload)?)
        }
    };
    let (secret, secret_generated) = match t.secret.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => (s.to_owned(), false),
        Some(_) => return Err(Error::bad("secret", "must not be empty")),
        None => (new_secret(p)?, true),
    };
    let mut headers = match p {
        Provider::Stripe => stripe::headers(&secret, &body, now),
        Provider::Github => github::headers(&t.event, &secret, &body)?,
        Provider::Shopify => shopify::headers(&t.event, &secret, &body, now)?,
        Provider::Slack => slack::headers(&secret, &body, now),
        Provider::StandardWebhooks => standard::headers(&secret, &body, now)?,
    };
    for (name, value) in &t.headers {
        crate::webhook::check_header_name(name).map_err(|m| Error::bad("headers", m))?;
        crate::webhook::check_header_value(name, value).map_err(|m| Error::bad("headers", m))?;
        if !crate::render::is_end_to_end(name) {
            // the client writes the framing from the URL and the body; a second one would
            // make a request the target reads differently from what was signed
            return Err(Error::bad(
                "headers",
                format!(
                    "`{}` frames the request or its connection and is written by the client",
                    shown(name)
                ),
            ));
        }
        match headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(h) => h.1 = value.clone(),
            None => headers.push((name.clone(), value.clone())),
        }
    }
    Ok(Prepared {
        provider: p,
        event: t.event.clone(),
        secret,
        secret_generated,
        headers,
        body,
    })
}

/// Applies `--set` edits in order.
fn apply_sets(payload: &mut Value, sets: &[(String, Value)]) -> Result<()> {
    for (path, value) in sets {
        set_path(payload, path, value.clone()).map_err(|m| Error::bad("set", m))?;
    }
    Ok(())
}

/// A secret for a provider when none is given, in the form that provider hands out:
/// Stripe's `whsec_…` endpoint secret (used as text, as Stripe's libraries do), a hex secret
/// for GitHub, Shopify and Slack, and a `whsec_` + base64 key for Standard Webhooks.
pub fn new_secret(p: Provider) -> Result<String> {
    match p {
        Provider::Stripe => Ok(format!("whsec_{}", fresh::alphanumeric(32)?)),
        Provider::Github => fresh::hex(40),
        Provider::Shopify => fresh::hex(64),
        Provider::Slack => fresh::hex(32),
        Provider::StandardWebhooks => crate::sign::Secret::generate()
            .map(|s| s.to_string())
            .map_err(|e| Error::Io(std::io::Error::other(e.to_string()))),
    }
}

/// A name as typed, for a message: at most 64 characters of it (then `…`).
fn shown(name: &str) -> String {
    match name.char_indices().nth(64) {
        Some((cut, _)) => format!("{}…", &name[..cut]),
        None => name.to_owned(),
    }
}

/// "did you mean …?" for a mistyped name, or `otherwise`.
fn hint<'a>(typed: &str, names: impl Iterator<Item = &'a str>, otherwise: &str) -> String {
    match crate::names::nearest(typed, names).as_slice() {
        [] => format!("expected {otherwise}"),
        [one] => format!("did you mean {one}?"),
        many => format!("did you mean one of {}?", many.join(", ")),
    }
}

/// The headers besides the signature that a provider's own receivers expect on a webhook
/// delivery signed its way, named as it names them: a sender webhook of that scheme sends them
/// with its catalog `event` as the topic, `msg_id` as the delivery's id and `ts` as its time
/// (Shopify's `webhooks.validate` refuses a request without its topic, shop, API version and
/// webhook id; GitHub's receivers route on `X-GitHub-Event` and `X-GitHub-Delivery`).
pub fn delivery_headers(
    scheme: crate::sign::Scheme,
    event: &str,
    msg_id: &str,
    ts: i64,
) -> Vec<(&'static str, String)> {
    use crate::sign::Scheme;
    match scheme {
        Scheme::Github => vec![
            ("X-GitHub-Event", event.to_owned()),
            ("X-GitHub-Delivery", msg_id.to_owned()),
        ],
        Scheme::Shopify => vec![
            ("X-Shopify-Topic", event.to_owned()),
            ("X-Shopify-Shop-Domain", shopify::SHOP_DOMAIN.to_owned()),
            ("X-Shopify-API-Version", shopify::API_VERSION.to_owned()),
            ("X-Shopify-Webhook-Id", msg_id.to_owned()),
            ("X-Shopify-Triggered-At", fresh::rfc3339(ts)),
        ],
        Scheme::Stripe | Scheme::Slack | Scheme::StandardWebhooks => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(p: Provider, event: &str) -> Trigger {
        Trigger {
            provider: p,
            event: event.to_owned(),
            secret: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned()),
            sets: Vec::new(),
            data: None,
            headers: Vec::new(),
        }
    }

    fn header<'a>(p: &'a Prepared, name: &str) -> Option<&'a str> {
        p.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn every_fixture_is_valid_json_naming_its_event() {
        for p in Provider::ALL {
            for e in p.events() {
                let v = p
                    .fixture(&e)
                    .unwrap_or_else(|| panic!("{p} {e}: fixture is not JSON"));
                assert!(v.is_object(), "{p} {e}: not an object");
                match p {
                    Provider::Stripe => {
                        assert_eq!(v["type"], e.as_str(), "{p} {e}");
                        assert_eq!(v["object"], "event");
                        assert_eq!(v["livemode"], false);
                        assert!(v["data"]["object"].is_object(), "{p} {e}");
                    }
                    Provider::Slack if e == "url_verification" => {
                        assert_eq!(v["type"], "url_verification")
                    }
                    Provider::Slack => {
                        assert_eq!(v["type"], "event_callback");
                        assert_eq!(v["event"]["type"], e.as_str());
                    }
                    Provider::StandardWebhooks => assert_eq!(v["type"], e.as_str()),
                    Provider::Github | Provider::Shopify => {}
                }
            }
        }
    }

    #[test]
    fn the_providers_offer_the_events_the_issue_lists() {
        let has = |p: Provider, names: &[&str]| {
            let events = p.events();
            for n in names {
                assert!(events.iter().any(|e| e == n), "{p} lacks {n}");
            }
        };
        has(
            Provider::Stripe,
            &[
                "payment_intent.succeeded",
                "payment_intent.payment_failed",
                "checkout.session.completed",
                "invoice.paid",
                "customer.subscription.created",
                "customer.subscription.updated",
                "customer.subscription.deleted",
                "charge.refunded",
            ],
        );
        has(
            Provider::Github,
            &[
                "ping",
                "push",
                "pull_request",
                "issues",
                "issue_comment",
                "release",
                "workflow_run",
            ],
        );
        has(
            Provider::Shopify,
            &[
                "orders/create",
                "orders/paid",
                "orders/cancelled",
                "products/update",
                "customers/create",
                "app/uninstalled",
            ],
        );
        has(
            Provider::Slack,
            &["url_verification", "message", "app_mention"],
        );
        let catalog = crate::catalog::builtin();
        assert_eq!(Provider::StandardWebhooks.events().len(), catalog.len());
    }

    #[test]
    fn every_event_verifies_with_hookpits_own_check_of_its_scheme() {
        for p in Provider::ALL {
            for e in p.events() {
                let made = prepare(&trigger(p, &e)).unwrap();
                let headers: Vec<(&str, &[u8])> = made
                    .headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_bytes()))
                    .collect();
                let verdict = crate::sign::verify_request(
                    p.scheme(),
                    &made.secret,
                    &headers,
                    &made.body,
                    crate::sign::unix_now(),
                    300,
                );
                assert!(verdict.is_valid(), "{p} {e}: {verdict}");
            }
        }
    }

    #[test]
    fn two_sends_of_one_event_carry_different_ids() {
        let a = prepare(&trigger(Provider::Stripe, "invoice.paid")).unwrap();
        let b = prepare(&trigger(Provider::Stripe, "invoice.paid")).unwrap();
        let id = |p: &Prepared| serde_json::from_slice::<Value>(&p.body).unwrap()["id"].clone();
        assert_ne!(id(&a), id(&b));
        let g1 = prepare(&trigger(Provider::Github, "push")).unwrap();
        let g2 = prepare(&trigger(Provider::Github, "push")).unwrap();
        assert_ne!(
            header(&g1, "X-GitHub-Delivery"),
            header(&g2, "X-GitHub-Delivery")
        );
    }

    #[test]
    fn a_stripe_event_is_an_event_envelope_with_a_fresh_evt_id_and_creation_time() {
        let made = prepare(&trigger(Provider::Stripe, "payment_intent.succeeded")).unwrap();
        let v: Value = serde_json::from_slice(&made.body).unwrap();
        assert!(v["id"].as_str().unwrap().starts_with("evt_"));
        assert_ne!(v["id"], "evt_3PqFixtureSucceeded000001");
        assert!(v["data"]["object"]["id"]
            .as_str()
            .unwrap()
            .starts_with("pi_"));
        let created = v["created"].as_i64().unwrap();
        assert!((created - crate::sign::unix_now()).abs() < 5);
        let sig = header(&made, "Stripe-Signature").unwrap();
        assert!(sig.starts_with(&format!("t={created},v1=")), "{sig}");
    }

    #[test]
    fn sets_edit_the_payload_with_typed_values_and_data_replaces_it_byte_for_byte() {
        let mut t = trigger(Provider::Stripe, "payment_intent.succeeded");
        t.sets = vec![
            ("data.object.amount".into(), parse_value("5000")),
            ("data.object.currency".into(), parse_value("\"eur\"")),
            ("data.object.metadata.order".into(), parse_value("A-17")),
        ];
        let made = prepare(&t).unwrap();
        let v: Value = serde_json::from_slice(&made.body).unwrap();
        assert_eq!(v["data"]["object"]["amount"], 5000);
        assert_eq!(v["data"]["object"]["currency"], "eur");
        assert_eq!(v["data"]["object"]["metadata"]["order"], "A-17");

        let mut t = trigger(Provider::Github, "push");
        t.data = Some(Bytes::from_static(b"{ \"zen\" :  1 }"));
        let made = prepare(&t).unwrap();
        assert_eq!(&made.body[..], b"{ \"zen\" :  1 }");
        t.data = Some(Bytes::from_static(b"not json"));
        let e = prepare(&t).unwrap_err();
        assert!(e.to_string().starts_with("data: not JSON"), "{e}");
    }

    #[test]
    fn an_unknown_provider_or_event_names_the_nearest_ones() {
        let e = Provider::parse("strpe").unwrap_err();
        assert_eq!(
            e.to_string(),
            "provider: unknown provider `strpe`; did you mean stripe?"
        );
        let e = prepare(&trigger(Provider::Stripe, "invoice.payd")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "event: unknown stripe event `invoice.payd`; did you mean invoice.paid?"
        );
        let e = prepare(&trigger(Provider::Slack, "nope")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "event: unknown slack event `nope`; expected url_verification, message, app_mention, \
             reaction_added, member_joined_channel, app_home_opened (`hookpit trigger --list slack`)"
        );
    }

    #[test]
    fn a_made_secret_has_the_form_its_provider_hands_out() {
        let t = |p| Trigger {
            secret: None,
            ..trigger(p, &p.events()[0])
        };
        let s = prepare(&t(Provider::Stripe)).unwrap();
        assert!(s.secret_generated && s.secret.starts_with("whsec_"));
        let sw = prepare(&t(Provider::StandardWebhooks)).unwrap();
        assert!(crate::sign::Secret::parse(&sw.secret).is_ok());
        let g = prepare(&t(Provider::Github)).unwrap();
        assert!(g.secret.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn extra_headers_replace_the_providers_own_of_the_same_name() {
        let mut t = trigger(Provider::Slack, "message");
        t.headers = vec![
            ("user-agent".into(), "mine/1".into()),
            ("X-Extra".into(), "1".into()),
        ];
        let made = prepare(&t).unwrap();
        assert_eq!(header(&made, "User-Agent"), Some("mine/1"));
        assert_eq!(header(&made, "X-Extra"), Some("1"));
    }
}
