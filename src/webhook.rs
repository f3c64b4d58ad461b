//! Webhook definitions (SPEC §8): a loose [`WebhookInput`] (from a config file's `[[webhook]]`
//! or the API's JSON) validated by [`WebhookInput::build`] into a [`WebhookDef`] with its
//! [`RetryPolicy`], signature scheme and body format; and the checks a delivery target and the
//! headers a declaration sets must pass ([`check_url`], [`check_header_name`],
//! [`check_header_value`]), shared with the bin rules' forwarding and responses.
//!
//! Uses `units` (durations), `field` (what a problem names) and `sign` (secrets). Plain
//! data and pure functions: the registry that runs webhooks is `deliver`, the file that declares
//! them `hookfile`.

use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::field::{FieldError, FieldPath};
use crate::sign::Secret;
use crate::units::NumOrText;

/// A webhook's default timeout for one attempt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest timeout accepted for one attempt.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
/// The default retry schedule: 1 s, 5 s, 30 s, 2 m, 10 m (so up to six attempts).
pub const DEFAULT_SCHEDULE: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
];
/// Most steps a retry schedule may have.
pub const MAX_SCHEDULE_STEPS: usize = 50;
/// Longest single step of a retry schedule.
pub const MAX_STEP: Duration = Duration::from_secs(7 * 24 * 3600);

/// How deliveries are signed: Standard Webhooks (the default), one of the vendor schemes a bin
/// can verify, or not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureScheme {
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>` (the default).
    #[default]
    StandardWebhooks,
    /// `X-Hub-Signature-256: sha256=<hex>` over the body, the secret used as raw bytes.
    Github,
    /// `Stripe-Signature: t=<ts>,v1=<hex>` over `ts.body`, the secret used as raw bytes.
    Stripe,
    /// `X-Shopify-Hmac-Sha256: <base64>` over the body, the secret used as raw bytes.
    Shopify,
    /// `X-Slack-Request-Timestamp` and `X-Slack-Signature: v0=<hex>` over `v0:ts:body`, the
    /// secret used as raw bytes.
    Slack,
    /// No signature header (`webhook-id` and `webhook-timestamp` are still sent).
    None,
}

impl SignatureScheme {
    /// Every scheme, in documentation order.
    pub const ALL: [SignatureScheme; 6] = [
        SignatureScheme::StandardWebhooks,
        SignatureScheme::Github,
        SignatureScheme::Stripe,
        SignatureScheme::Shopify,
        SignatureScheme::Slack,
        SignatureScheme::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SignatureScheme::StandardWebhooks => "standard-webhooks",
            SignatureScheme::Github => "github",
            SignatureScheme::Stripe => "stripe",
            SignatureScheme::Shopify => "shopify",
            SignatureScheme::Slack => "slack",
            SignatureScheme::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<SignatureScheme> {
        match s.trim().to_ascii_lowercase().as_str() {
            "standard_webhooks" | "standard" => Some(SignatureScheme::StandardWebhooks),
            other => SignatureScheme::ALL
                .into_iter()
                .find(|scheme| scheme.as_str() == other),
        }
    }
}

/// What a delivery's body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// The payload object itself, as Ultimate Multisite sends it (the default).
    #[default]
    Raw,
    /// `{"type","timestamp","data"}` per Standard Webhooks.
    Envelope,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Envelope => "envelope",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "raw" => Some(Format::Raw),
            "envelope" => Some(Format::Envelope),
            _ => None,
        }
    }
}

/// When failed attempts are tried again.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// The delay before each retry; its length is the number of retries.
    pub schedule: Vec<Duration>,
    /// Every delay is multiplied by this (e.g. 0.001 in tests).
    pub time_scale: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            schedule: DEFAULT_SCHEDULE.to_vec(),
            time_scale: 1.0,
        }
    }
}

/// A validated webhook definition (SPEC §8), without the runtime fields (id, counts).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookDef {
    pub name: String,
    pub url: String,
    /// Event names or globs; `*` = every event.
    pub events: Vec<String>,
    pub active: bool,
    /// `whsec_…` for Standard Webhooks (canonical form); any text for the vendor schemes, whose
    /// HMAC key is the text's bytes (a `whsec_` text included, as their libraries do).
    pub secret: String,
    pub signature: SignatureScheme,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub format: Format,
    pub insecure_tls: bool,
}

/// One text or a list of texts (`events = "payment_received"` or `events = ["a", "b"]`).
pub(crate) fn one_or_many<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Vec<String>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Vec<String>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a text or a list of texts")
        }
        fn visit_none<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(
            self,
            d: D2,
        ) -> std::result::Result<Self::Value, D2::Error> {
            d.deserialize_any(V)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
            Ok(Some(vec![v.to_owned()]))
        }
        fn visit_seq<A: SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element::<String>()? {
                out.push(s);
            }
            Ok(Some(out))
        }
    }
    d.deserialize_any(V)
}

/// Headers as `[[name, value], …]` or as a table `{ name = value }`.
fn header_list<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Vec<(String, String)>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Vec<(String, String)>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of [name, value] pairs or a table of name = value")
        }
        fn visit_none<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(
            self,
            d: D2,
        ) -> std::result::Result<Self::Value, D2::Error> {
            d.deserialize_any(V)
        }
        fn visit_seq<A: SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(pair) = seq.next_element::<(String, String)>()? {
                out.push(pair);
            }
            Ok(Some(out))
        }
        fn visit_map<A: MapAccess<'de>>(
            self,
            mut map: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, String>()? {
                out.push((k, v));
            }
            Ok(Some(out))
        }
    }
    d.deserialize_any(V)
}

/// The retry part of a [`WebhookInput`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryInput {
    #[serde(default)]
    pub schedule: Option<Vec<NumOrText>>,
    #[serde(default)]
    pub time_scale: Option<f64>,
}

/// A webhook as written in `[[webhook]]` or sent to `POST|PUT /_/api/webhooks`: every field
/// optional (a `PUT` changes only what it names). `id`, `sent_count` and `last_status` are
/// accepted so a `GET` result can be sent back as is, and ignored.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    #[serde(default)]
    pub id: Option<Value>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default, alias = "event", deserialize_with = "one_or_many")]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    pub active: Option<bool>,
    /// Absent keeps the current secret (or generates one); empty generates a new one.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub signature: Option<String>,
    #[serde(default, deserialize_with = "header_list")]
    pub headers: Option<Vec<(String, String)>>,
    #[serde(default)]
    pub timeout: Option<NumOrText>,
    #[serde(default)]
    pub retry: Option<RetryInput>,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub insecure_tls: Option<bool>,
    #[serde(default)]
    pub sent_count: Option<Value>,
    #[serde(default)]
    pub last_status: Option<Value>,
}

/// Headers hookpit sets itself; a webhook cannot override them.
const RESERVED_HEADERS: [&str; 13] = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-hub-signature-256",
    "x-hub-signature",
    "stripe-signature",
    "x-shopify-hmac-sha256",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "content-length",
    "host",
    "transfer-encoding",
    "connection",
];

impl WebhookInput {
    /// Names of the read-only fields that are set (a config file may not set them).
    pub fn read_only_fields(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.id.is_some() {
            v.push("id");
        }
        if self.sent_count.is_some() {
            v.push("sent_count");
        }
        if self.last_status.is_some() {
            v.push("last_status");
        }
        v
    }

    /// Validates into a definition. `base` is the current definition for an update (fields
    /// not given keep its values); `is_event` says whether an exact event name is known.
    pub fn build(
        self,
        base: Option<&WebhookDef>,
        is_event: &dyn Fn(&str) -> bool,
    ) -> std::result::Result<WebhookDef, FieldError> {
        let name = match self.name {
            Some(n) => {
                let n = n.trim().to_owned();
                if n.is_empty() {
                    return Err(FieldError::new("name", "must not be empty"));
                }
                if n.chars().count() > 200 {
                    return Err(FieldError::new("name", "at most 200 characters"));
                }
                n
            }
            None => match base {
                Some(b) => b.name.clone(),
                None => return Err(FieldError::new("name", "required: a label for the webhook")),
            },
        };
        let url = match self.url {
            Some(u) => check_url(&u).map_err(|m| FieldError::new("url", m))?,
            None => match base {
                Some(b) => b.url.clone(),
                None => {
                    return Err(FieldError::new(
                        "url",
                        "required: the http or https URL to deliver to",
                    ))
                }
            },
        };
        let events = match self.events {
            Some(list) => {
                let mut out = Vec::with_capacity(list.len());
                for p in list {
                    out.push(check_event_pattern(&p, is_event)?);
                }
                out
            }
            None => base
                .map(|b| b.events.clone())
                .unwrap_or_else(|| vec!["*".to_owned()]),
        };
        let active = self.active.or(base.map(|b| b.active)).unwrap_or(true);
        let signature = match self.signature {
            Some(s) => SignatureScheme::parse(&s).ok_or_else(|| {
                FieldError::new(
                    "signature",
                    format!(
                        "expected standard-webhooks, github, stripe, shopify, slack or none, got `{s}`"
                    ),
                )
            })?,
            None => base.map(|b| b.signature).unwrap_or_default(),
        };
        let secret = match self.secret.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => s.to_owned(),
            Some(_) => generate_secret()?,
            None => match base {
                Some(b) => b.secret.clone(),
                None => generate_secret()?,
            },
        };
        let secret = if signature == SignatureScheme::StandardWebhooks {
            Secret::parse(&secret)
                .map_err(|e| FieldError::new("secret", format!("{e} (expected whsec_ + base64)")))?
                .to_string()
        } else {
            secret
        };
        let headers = match self.headers {
            Some(h) => check_headers(h)?,
            None => base.map(|b| b.headers.clone()).unwrap_or_default(),
        };
        let timeout = match self.timeout {
            Some(t) => {
                let d = t.duration().map_err(|m| FieldError::new("timeout", m))?;
                if d.is_zero() || d > MAX_TIMEOUT {
                    return Err(FieldError::new(
                        "timeout",
                        "expected a duration above 0 and at most 1h",
                    ));
                }
                d
            }
            None => base.map(|b| b.timeout).unwrap_or(DEFAULT_TIMEOUT),
        };
        let mut retry = base.map(|b| b.retry.clone()).unwrap_or_default();
        if let Some(r) = self.retry {
            if let Some(schedule) = r.schedule {
                if schedule.len() > MAX_SCHEDULE_STEPS {
                    return Err(FieldError::new(
                        FieldPath::from("retry").key("schedule"),
                        format!("at most {MAX_SCHEDULE_STEPS} steps"),
                    ));
                }
                let mut steps = Vec::with_capacity(schedule.len());
                for s in &schedule {
                    let d = s.duration().map_err(|m| {
                        FieldError::new(FieldPath::from("retry").key("schedule"), m)
                    })?;
                    if d > MAX_STEP {
                        return Err(FieldError::new(
                            FieldPath::from("retry").key("schedule"),
                            "each step at most 7 days",
                        ));
                    }
                    steps.push(d);
                }
                retry.schedule = steps;
            }
            if let Some(ts) = r.time_scale {
                if !ts.is_finite() || ts <= 0.0 || ts > 1000.0 {
                    return Err(FieldError::new(
                        FieldPath::from("retry").key("time_scale"),
                        format!("expected a number above 0 and at most 1000, got {ts}"),
                    ));
                }
                retry.time_scale = ts;
            }
        }
        let format = match self.format {
            Some(f) => Format::parse(&f).ok_or_else(|| {
                FieldError::new("format", format!("expected raw or envelope, got `{f}`"))
            })?,
            None => base.map(|b| b.format).unwrap_or_default(),
        };
        let insecure_tls = self
            .insecure_tls
            .or(base.map(|b| b.insecure_tls))
            .unwrap_or(false);
        Ok(WebhookDef {
            name,
            url,
            events,
            active,
            secret,
            signature,
            headers,
            timeout,
            retry,
            format,
            insecure_tls,
        })
    }
}

fn generate_secret() -> std::result::Result<String, FieldError> {
    Secret::generate()
        .map(|s| s.to_string())
        .map_err(|e| FieldError::new("secret", e.to_string()))
}

/// Checks a delivery URL: `http` or `https`, with a host. Returns it trimmed.
pub fn check_url(u: &str) -> std::result::Result<String, String> {
    let u = u.trim();
    let uri: hyper::Uri = u
        .parse()
        .map_err(|_| format!("expected an http or https URL, got `{u}`"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(format!("expected an http or https URL, got `{u}`")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("`{u}` has no host"));
    }
    Ok(u.to_owned())
}

fn check_event_pattern(
    p: &str,
    is_event: &dyn Fn(&str) -> bool,
) -> std::result::Result<String, FieldError> {
    let p = p.trim();
    if p.is_empty() {
        return Err(FieldError::new("events", "an event name is empty"));
    }
    if p == "*" {
        return Ok(p.to_owned());
    }
    if p.contains(['*', '?', '[', '{']) {
        globset::Glob::new(p)
            .map_err(|e| FieldError::new("events", format!("`{p}` is not a valid glob: {e}")))?;
        return Ok(p.to_owned());
    }
    if !is_event(p) {
        return Err(FieldError::new(
            "events",
            format!(
                "unknown event `{p}` (see `hookpit events`; globs like payment_* and * work too)"
            ),
        ));
    }
    Ok(p.to_owned())
}

fn check_headers(
    h: Vec<(String, String)>,
) -> std::result::Result<Vec<(String, String)>, FieldError> {
    let mut out = Vec::with_capacity(h.len());
    for (k, v) in h {
        let k = k.trim().to_owned();
        check_header_name(&k).map_err(|m| FieldError::new("headers", m))?;
        check_header_value(&k, &v).map_err(|m| FieldError::new("headers", m))?;
        if RESERVED_HEADERS.iter().any(|r| r.eq_ignore_ascii_case(&k)) {
            return Err(FieldError::new(
                "headers",
                format!("`{k}` is set by hookpit and cannot be overridden"),
            ));
        }
        out.push((k, v));
    }
    Ok(out)
}

/// Checks that `name` can be sent as a header name (a long one is shown cut short).
pub fn check_header_name(name: &str) -> std::result::Result<(), String> {
    if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        let shown: String = name.chars().take(64).collect();
        return Err(format!("`{shown}` is not a valid header name"));
    }
    Ok(())
}

/// Checks that `value` can be sent as the value of header `name`.
pub fn check_header_value(name: &str, value: &str) -> std::result::Result<(), String> {
    if hyper::header::HeaderValue::from_str(value).is_err() {
        let shown: String = name.chars().take(64).collect();
        return Err(format!(
            "the value of `{shown}` is not a valid header value"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signature_scheme_parses_by_its_name_and_vendor_secrets_stay_text() {
        for scheme in SignatureScheme::ALL {
            assert_eq!(SignatureScheme::parse(scheme.as_str()), Some(scheme));
        }
        assert_eq!(SignatureScheme::parse("md5"), None);
        let stripe = WebhookInput {
            name: Some("s".into()),
            url: Some("http://x/h".into()),
            signature: Some("stripe".into()),
            secret: Some("whsec_not base64 at all".into()),
            ..Default::default()
        }
        .build(None, &|_| true)
        .unwrap();
        assert_eq!(stripe.signature, SignatureScheme::Stripe);
        assert_eq!(stripe.secret, "whsec_not base64 at all");
    }

    #[test]
    fn a_delivery_url_is_http_or_https_with_a_host_and_comes_back_trimmed() {
        assert_eq!(check_url(" http://x/h ").unwrap(), "http://x/h");
        assert!(check_url("https://example.com").is_ok());
        assert!(check_url("ftp://x/").unwrap_err().contains("http or https"));
        assert!(check_url("not a url").is_err());
        assert!(check_url("/relative").is_err());
    }

    #[test]
    fn header_checks_refuse_what_cannot_be_sent_and_reserved_names() {
        assert!(check_header_name("X-Ok").is_ok());
        assert!(check_header_name("bad name").is_err());
        assert!(check_header_value("X-A", "fine").is_ok());
        assert!(check_header_value("X-A", "a\u{1}b").is_err());
        let e = check_headers(vec![("Webhook-Id".into(), "1".into())]).unwrap_err();
        assert_eq!(e.field, FieldPath::from("headers"));
        let ok = check_headers(vec![(" X-A ".into(), "1".into())]).unwrap();
        assert_eq!(ok, vec![("X-A".to_owned(), "1".to_owned())]);
    }

    #[test]
    fn an_update_keeps_what_it_does_not_name() {
        let known = |_: &str| true;
        let base = WebhookInput {
            name: Some("a".into()),
            url: Some("http://x/".into()),
            format: Some("envelope".into()),
            ..Default::default()
        }
        .build(None, &known)
        .unwrap();
        let next = WebhookInput {
            active: Some(false),
            ..Default::default()
        }
        .build(Some(&base), &known)
        .unwrap();
        assert!(!next.active);
        assert_eq!(next.secret, base.secret);
        assert_eq!(next.format, Format::Envelope);
    }
}
