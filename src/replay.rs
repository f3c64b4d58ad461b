//! Replay of a captured request, edited and re-signed: reads the replay body of
//! `POST /_/api/requests/{id}/replay` (`url`, `resign`, `body`, `headers`, `timeout`,
//! `insecure_tls`) into an [`Edit`], checking every field, and builds the one [`Outgoing`]
//! request it stands for — the captured request with the new body and header list applied,
//! framing left to the client, then signed again over the exact bytes sent when asked.
//!
//! Pure: uses `model`, `render` (which headers are end-to-end), `rules` (a bin's verification
//! scheme and secret), `sign` (the signing functions), `outbound` (the request type and the hop
//! marker), `units` and `error`. The clock and the message id are passed in ([`Fresh`]), so
//! every result here is reproducible; `api` supplies them and sends the request.

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::{CapturedRequest, Header};
use crate::outbound::{append_via, Outgoing};
use crate::rules::Verify;
use crate::sign::{self, Scheme};

/// Most headers a replayed request may have: the most a captured one has.
pub const MAX_HEADERS: usize = 100;
/// How long a replay waits for the target's whole answer unless `timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest `timeout` a replay may ask for: a send (and its connection) never outlives it.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);
/// How much of the target's answer is kept.
pub const KEEP_BODY: usize = 64 * 1024;

/// A replay as asked for: where to, and what to change on the way.
#[derive(Debug, Clone)]
pub struct Edit {
    pub url: String,
    /// Sign again with the source bin's `verify` scheme and secret.
    pub resign: bool,
    /// The new body, sent as is.
    pub body: Option<Bytes>,
    /// The new header list, in this order and case.
    pub headers: Option<Vec<Header>>,
    pub timeout: Duration,
    pub insecure_tls: bool,
}

/// The bounds a replay body is checked against: those of a captured request.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// `--max-body`.
    pub max_body: usize,
    /// `--max-header-size`: the header lines together (`name: value\r\n` each).
    pub max_head: usize,
}

impl Edit {
    /// Reads a replay body; a problem is a 400 naming its field.
    pub fn from_json(v: &Value, bounds: Bounds) -> Result<Edit> {
        let Some(obj) = v.as_object() else {
            return Err(Error::bad(
                "url",
                "expected {\"url\": \"http://…\"} (and optionally resign, body, headers)",
            ));
        };
        if let Some(k) = obj.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(Error::bad(
                k.as_str(),
                format!("not a replay field (known: {})", KNOWN.join(", ")),
            ));
        }
        let url = match obj.get("url") {
            Some(Value::String(u)) if !u.trim().is_empty() => u.trim().to_owned(),
            _ => return Err(Error::bad("url", "expected {\"url\": \"http://…\"}")),
        };
        let resign = flag(obj.get("resign"), "resign")?;
        let insecure_tls = flag(obj.get("insecure_tls"), "insecure_tls")?;
        let timeout = match obj.get("timeout") {
            None | Some(Value::Null) => DEFAULT_TIMEOUT,
            Some(Value::String(t)) => crate::units::parse_duration(t)
                .ok()
                .filter(|d| !d.is_zero() && *d <= MAX_TIMEOUT)
                .ok_or_else(|| {
                    Error::bad("timeout", "expected a duration above 0 and at most 5m")
                })?,
            Some(_) => return Err(Error::bad("timeout", "expected a duration like \"30s\"")),
        };
        let body = match obj.get("body") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.len() > bounds.max_body => {
                return Err(Error::bad(
                    "body",
                    format!(
                        "{} bytes; at most {} (--max-body)",
                        s.len(),
                        bounds.max_body
                    ),
                ))
            }
            Some(Value::String(s)) => Some(Bytes::from(s.clone().into_bytes())),
            Some(_) => {
                return Err(Error::bad(
                    "body",
                    "expected the new body as a string, sent as is",
                ))
            }
        };
        let headers = match obj.get("headers") {
            None | Some(Value::Null) => None,
            Some(h) => Some(header_list(h, bounds.max_head)?),
        };
        Ok(Edit {
            url,
            resign,
            body,
            headers,
            timeout,
            insecure_tls,
        })
    }
}

const KNOWN: [&str; 6] = [
    "url",
    "resign",
    "body",
    "headers",
    "timeout",
    "insecure_tls",
];

fn flag(v: Option<&Value>, name: &str) -> Result<bool> {
    match v {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(Error::bad(name, "expected true or false")),
    }
}

/// `[[name, value], …]`; a value is a string or `{"base64": …}` (as captured requests show
/// values that are not UTF-8).
fn header_list(v: &Value, max_head: usize) -> Result<Vec<Header>> {
    let shape = "expected a list of [name, value] pairs";
    let Some(items) = v.as_array() else {
        return Err(Error::bad("headers", shape));
    };
    if items.len() > MAX_HEADERS {
        return Err(Error::bad(
            "headers",
            format!("at most {MAX_HEADERS} headers, got {}", items.len()),
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    let mut head = 0usize;
    for (i, item) in items.iter().enumerate() {
        let at = format!("headers[{i}]");
        let (name, value) = match item.as_array().map(Vec::as_slice) {
            Some([Value::String(n), value]) => (n, value),
            _ => return Err(Error::bad(at, shape)),
        };
        let value: Vec<u8> = match value {
            Value::String(s) => s.clone().into_bytes(),
            Value::Object(o) if o.len() == 1 && o.get("base64").is_some_and(Value::is_string) => {
                use base64::Engine;
                let text = o["base64"].as_str().unwrap_or_default();
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|_| Error::bad(at.as_str(), "the base64 value is not base64"))?
            }
            _ => return Err(Error::bad(at, "a value is a string or {\"base64\": \"…\"}")),
        };
        if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            let shown: String = name.chars().take(64).collect();
            return Err(Error::bad(
                at,
                format!("`{shown}` is not a valid header name"),
            ));
        }
        if hyper::header::HeaderValue::from_bytes(&value).is_err() {
            let shown: String = name.chars().take(64).collect();
            return Err(Error::bad(
                at,
                format!("the value of `{shown}` is not a valid header value (no control characters or line breaks)"),
            ));
        }
        head += name.len() + value.len() + 4;
        if head > max_head {
            return Err(Error::bad(
                "headers",
                format!("the header lines come to more than {max_head} bytes (--max-header-size)"),
            ));
        }
        out.push(Header::new(name.as_str(), value));
    }
    Ok(out)
}

/// What a new signature is made with: the time it is made at and a new message id (for the
/// schemes that sign one).
#[derive(Debug, Clone)]
pub struct Fresh {
    pub now: i64,
    pub msg_id: String,
}

/// What was sent, for the replay's answer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sent {
    pub headers: Vec<Header>,
    pub body_size: usize,
    pub resigned: bool,
}

/// The request a replay sends: `edit`'s header list (or the captured request's end-to-end
/// headers in received order), `edit`'s body (or the captured bytes), signed again under
/// `signer` when given, and `via` (this server's hop marker) appended to its `Via`.
///
/// Headers that frame the message or describe a connection (`Content-Length`,
/// `Transfer-Encoding`, `Host`, `Connection`, …) are never copied: the client writes them from
/// the URL and the bytes sent. A new `body` is a string sent as is, never content-encoded, so a
/// `Content-Encoding` in the list is left out with it rather than describe bytes that are gone.
pub fn outgoing(
    r: &CapturedRequest,
    edit: &Edit,
    signer: Option<(&Verify, &Fresh)>,
    via: &str,
) -> Outgoing {
    let mut headers: Vec<Header> = edit
        .headers
        .as_ref()
        .unwrap_or(&r.headers)
        .iter()
        .filter(|h| crate::render::is_end_to_end(&h.name))
        .filter(|h| edit.body.is_none() || !h.name.eq_ignore_ascii_case("content-encoding"))
        .cloned()
        .collect();
    let body = edit.body.clone().unwrap_or_else(|| r.body.bytes.clone());
    if let Some((verify, fresh)) = signer {
        resign(&mut headers, &body, verify, fresh);
    }
    append_via(&mut headers, via);
    Outgoing {
        method: r.method.to_string(),
        url: edit.url.clone(),
        headers,
        body,
        timeout: edit.timeout,
        insecure_tls: edit.insecure_tls,
        keep_body: KEEP_BODY,
    }
}

/// Replaces the signature headers of `verify`'s scheme with ones made now over `body`: a header
/// already in the list keeps its name's case and its position, a missing one is added at the
/// end.
pub fn resign(headers: &mut Vec<Header>, body: &[u8], verify: &Verify, fresh: &Fresh) {
    let raw = verify.secret.as_bytes();
    let now = fresh.now;
    match verify.scheme {
        Scheme::StandardWebhooks => {
            let signature = match &verify.whsec {
                Some(secret) => sign::sign(secret, &fresh.msg_id, now, body),
                // a checked `verify` always has its decoded secret; sign with the text as key
                None => match sign::Secret::from_bytes(raw.to_vec()) {
                    Ok(secret) => sign::sign(&secret, &fresh.msg_id, now, body),
                    Err(_) => return,
                },
            };
            let values = [
                ("id", fresh.msg_id.clone()),
                ("timestamp", now.to_string()),
                ("signature", signature),
            ];
            let present = |prefix: &str| {
                headers.iter().any(|h| {
                    values
                        .iter()
                        .any(|(s, _)| h.name.eq_ignore_ascii_case(&format!("{prefix}-{s}")))
                })
            };
            // the names the original used; `webhook-*` when it used none
            let svix = present("svix");
            let prefixes: &[&str] = match (present("webhook"), svix) {
                (_, false) => &["webhook"],
                (false, true) => &["svix"],
                (true, true) => &["webhook", "svix"],
            };
            for prefix in prefixes {
                for (suffix, value) in &values {
                    set(headers, &format!("{prefix}-{suffix}"), value);
                }
            }
        }
        Scheme::Github => {
            set(
                headers,
                sign::GITHUB_SIGNATURE_256,
                &sign::github_sign(raw, body),
            );
            if has(headers, sign::GITHUB_SIGNATURE_SHA1) {
                set(
                    headers,
                    sign::GITHUB_SIGNATURE_SHA1,
                    &sign::github_sign_sha1(raw, body),
                );
            }
        }
        Scheme::Stripe => set(
            headers,
            sign::STRIPE_SIGNATURE,
            &sign::stripe_sign(raw, now, body),
        ),
        Scheme::Shopify => set(headers, sign::SHOPIFY_HMAC, &sign::shopify_sign(raw, body)),
        Scheme::Slack => {
            set(headers, sign::SLACK_TIMESTAMP, &now.to_string());
            set(
                headers,
                sign::SLACK_SIGNATURE,
                &sign::slack_sign(raw, now, body),
            );
        }
    }
}

fn has(headers: &[Header], name: &str) -> bool {
    headers.iter().any(|h| h.name.eq_ignore_ascii_case(name))
}

/// Sets `name` to `value`: the first header of that name (any case) keeps its case and place
/// and takes the value, later ones go; without one, it is added at the end.
fn set(headers: &mut Vec<Header>, name: &str, value: &str) {
    let mut seen = false;
    headers.retain_mut(|h| {
        if !h.name.eq_ignore_ascii_case(name) {
            return true;
        }
        if seen {
            return false;
        }
        seen = true;
        *h = Header::new(&*h.name, value.as_bytes());
        true
    });
    if !seen {
        headers.push(Header::new(name, value.as_bytes()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BOUNDS: Bounds = Bounds {
        max_body: 1024,
        max_head: 4096,
    };

    fn captured(headers: &[(&str, &str)], body: &str) -> CapturedRequest {
        CapturedRequest {
            id: 1,
            bin: "a".into(),
            received_at: std::time::SystemTime::UNIX_EPOCH,
            timings: Default::default(),
            method: "POST".into(),
            target: "/a".into(),
            split: None,
            version: "HTTP/1.1".into(),
            remote_addr: "127.0.0.1:9".parse().unwrap(),
            headers: headers
                .iter()
                .map(|(n, v)| Header::new(*n, v.as_bytes()))
                .collect(),
            body: crate::model::Body::new(Bytes::from(body.to_owned()), false),
            response: Default::default(),
            signature: None,
            forward: None,
        }
    }

    fn verify(scheme: &str, secret: &str) -> Verify {
        let cfg = json!({"verify": {"scheme": scheme, "secret": secret}});
        crate::rules::BinSetup::from_json(&cfg, 1024)
            .unwrap()
            .rules
            .verify
            .unwrap()
    }

    /// `(name, value)` pairs of a captured request.
    type Headers = Vec<(&'static str, String)>;

    fn names(o: &Outgoing) -> Vec<String> {
        o.headers.iter().map(|h| h.name.to_string()).collect()
    }

    fn edit(v: Value) -> Edit {
        Edit::from_json(&v, BOUNDS).unwrap()
    }

    fn fresh() -> Fresh {
        Fresh {
            now: 1_700_000_000,
            msg_id: "msg_new".into(),
        }
    }

    fn verdict(scheme: &str, secret: &str, o: &Outgoing, now: i64) -> sign::Verdict {
        let hs: Vec<(&str, &[u8])> = o.headers.iter().map(|h| (&*h.name, &*h.value)).collect();
        sign::verify_request(scheme.parse().unwrap(), secret, &hs, &o.body, now, 300)
    }

    #[test]
    fn an_unedited_replay_sends_the_captured_end_to_end_headers_and_body_with_the_hop_marker() {
        let r = captured(
            &[
                ("Host", "x"),
                ("X-A", "1"),
                ("Content-Length", "2"),
                ("x-b", "2"),
            ],
            "{}",
        );
        let o = outgoing(
            &r,
            &edit(json!({"url": "http://t/"})),
            None,
            "1.1 hookpit-i",
        );
        assert_eq!(names(&o), ["X-A", "x-b", "Via"]);
        assert_eq!(&o.body[..], b"{}");
        assert_eq!(o.method, "POST");
        assert_eq!(o.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn edited_headers_replace_the_list_in_their_order_and_case_without_framing_headers() {
        let r = captured(&[("X-Old", "1")], "{}");
        let e = edit(json!({"url": "http://t/", "headers": [
            ["x-Zed", "1"], ["Transfer-Encoding", "chunked"], ["ACCEPT", "a"], ["x-zed", "2"]
        ]}));
        let o = outgoing(&r, &e, None, "v");
        assert_eq!(names(&o), ["x-Zed", "ACCEPT", "x-zed", "Via"]);
        assert_eq!(&*o.headers[2].value, b"2");
    }

    #[test]
    fn a_new_body_is_sent_as_is_and_drops_a_content_encoding_that_would_lie_about_it() {
        let r = captured(
            &[
                ("Content-Encoding", "gzip"),
                ("Content-Type", "application/json"),
            ],
            "\u{1f}garbled",
        );
        let o = outgoing(
            &r,
            &edit(json!({"url": "http://t/", "body": "{\"a\":1}"})),
            None,
            "v",
        );
        assert_eq!(&o.body[..], br#"{"a":1}"#);
        assert_eq!(names(&o), ["Content-Type", "Via"]);
        // without a new body the captured bytes keep their encoding
        let o = outgoing(&r, &edit(json!({"url": "http://t/"})), None, "v");
        assert_eq!(names(&o), ["Content-Encoding", "Content-Type", "Via"]);
    }

    #[test]
    fn resigning_replaces_each_schemes_headers_in_place_over_the_bytes_sent() {
        let old = 1_700_000_000 - 3600;
        let cases: [(&str, &str, Headers); 5] = [
            (
                "standard-webhooks",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                vec![
                    ("Webhook-Id", "msg_old".into()),
                    ("X-Before", "b".into()),
                    ("Webhook-Timestamp", old.to_string()),
                    ("Webhook-Signature", "v1,AAAA".into()),
                ],
            ),
            (
                "github",
                "s3cret",
                vec![
                    ("x-hub-signature-256", "sha256=00".into()),
                    ("X-Before", "b".into()),
                ],
            ),
            (
                "stripe",
                "whsec_x",
                vec![("stripe-signature", format!("t={old},v1=00"))],
            ),
            (
                "shopify",
                "shh",
                vec![("X-Shopify-Hmac-Sha256", "AAAA".into())],
            ),
            (
                "slack",
                "8f742231",
                vec![
                    ("X-Slack-Request-Timestamp", old.to_string()),
                    ("X-Slack-Signature", "v0=00".into()),
                ],
            ),
        ];
        for (scheme, secret, hs) in cases {
            let pairs: Vec<(&str, &str)> = hs.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let r = captured(&pairs, "{\"old\":true}");
            let v = verify(scheme, secret);
            let e = edit(json!({"url": "http://t/", "resign": true, "body": "{\"new\":1}"}));
            let o = outgoing(&r, &e, Some((&v, &fresh())), "v");
            let expected: Vec<&str> = pairs.iter().map(|(n, _)| *n).chain(["Via"]).collect();
            assert_eq!(names(&o), expected, "{scheme}: names, case and order kept");
            assert!(
                verdict(scheme, secret, &o, fresh().now).is_valid(),
                "{scheme}: {:?}",
                verdict(scheme, secret, &o, fresh().now)
            );
            // not re-signed: the old signature does not cover the new body
            let o = outgoing(&r, &e, None, "v");
            assert!(
                !verdict(scheme, secret, &o, fresh().now).is_valid(),
                "{scheme}"
            );
        }
    }

    #[test]
    fn resigning_adds_missing_headers_and_uses_the_names_the_original_used() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let v = verify("standard-webhooks", secret);
        let e = edit(json!({"url": "http://t/", "resign": true}));
        let o = outgoing(
            &captured(&[("A", "1")], "{}"),
            &e,
            Some((&v, &fresh())),
            "v",
        );
        assert_eq!(
            names(&o),
            [
                "A",
                "webhook-id",
                "webhook-timestamp",
                "webhook-signature",
                "Via"
            ]
        );
        assert_eq!(o.headers[1].value_str(), "msg_new");
        assert_eq!(o.headers[2].value_str(), "1700000000");

        let r = captured(
            &[
                ("svix-id", "m"),
                ("svix-timestamp", "1"),
                ("svix-signature", "v1,x"),
            ],
            "{}",
        );
        let o = outgoing(&r, &e, Some((&v, &fresh())), "v");
        assert_eq!(
            names(&o),
            ["svix-id", "svix-timestamp", "svix-signature", "Via"]
        );
        assert!(verdict("standard-webhooks", secret, &o, fresh().now).is_valid());

        let v = verify("github", "k");
        let r = captured(&[("X-Hub-Signature", "sha1=00")], "{}");
        let o = outgoing(&r, &e, Some((&v, &fresh())), "v");
        assert_eq!(names(&o), ["X-Hub-Signature", "X-Hub-Signature-256", "Via"]);
        // the legacy header is the right sha1 too
        let only_sha1: Vec<(&str, &[u8])> = vec![(&*o.headers[0].name, &*o.headers[0].value)];
        let v = sign::github_verify(b"k", &only_sha1, &o.body);
        assert!(
            v.reason()
                .is_some_and(|r| r.contains("it matches the secret")),
            "{v:?}"
        );
    }

    #[test]
    fn a_replay_body_is_refused_naming_the_field_at_fault() {
        let cases = [
            (json!({}), "url"),
            (json!([1]), "url"),
            (json!({"url": "http://t/", "resign": "yes"}), "resign"),
            (json!({"url": "http://t/", "body": {"a": 1}}), "body"),
            (
                json!({"url": "http://t/", "body": "x".repeat(1025)}),
                "body",
            ),
            (
                json!({"url": "http://t/", "headers": {"a": "b"}}),
                "headers",
            ),
            (
                json!({"url": "http://t/", "headers": [["a"]]}),
                "headers[0]",
            ),
            (
                json!({"url": "http://t/", "headers": [["a", "1"], ["b c", "1"]]}),
                "headers[1]",
            ),
            (
                json!({"url": "http://t/", "headers": [["a", "x\r\nInjected: 1"]]}),
                "headers[0]",
            ),
            (
                json!({"url": "http://t/", "headers": [["a", 1]]}),
                "headers[0]",
            ),
            (
                json!({"url": "http://t/", "headers": vec![["a", "1"]; 101]}),
                "headers",
            ),
            (
                json!({"url": "http://t/", "headers": [["a", "x".repeat(4096)]]}),
                "headers",
            ),
            (json!({"url": "http://t/", "timeout": 5}), "timeout"),
            (json!({"url": "http://t/", "timeout": "forever"}), "timeout"),
            (json!({"url": "http://t/", "timeout": "0s"}), "timeout"),
            (
                json!({"url": "http://t/", "timeout": "1000000h"}),
                "timeout",
            ),
            (json!({"url": "http://t/", "bogus": 1}), "bogus"),
        ];
        for (body, field) in cases {
            let e = Edit::from_json(&body, BOUNDS).unwrap_err();
            assert_eq!(e.status(), 400, "{body}");
            assert!(
                e.to_string().starts_with(&format!("{field}: ")),
                "{body}: {e}"
            );
        }
        let e = edit(json!({"url": "http://t/", "headers": [["X-Bin", {"base64": "/w=="}]]}));
        assert_eq!(&*e.headers.unwrap()[0].value, &[0xff]);
    }
}
