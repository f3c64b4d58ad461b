//! The signature doctor: when a request does not verify, finds out why by trying the usual
//! mistakes — the secret in another key form (a `whsec_` secret used as raw text, or the
//! reverse), the body re-serialised (whitespace, key order, escaping), the timestamp outside the
//! tolerance, a missing or misnamed header, GitHub's legacy sha1 header alone, several
//! signatures none matching — and says so in words a person can act on, with the signature the
//! secret gives (`expected`) beside the one received. The secret itself, in any form, is never
//! part of what it says.
//!
//! A child of `sign`: uses its header lookups, MACs, tolerance check and encodings, and calls
//! nothing else in the crate. Pure and bounded: at most [`KEY_FORMS_MAX`] key forms times
//! [`REFORMATS`] bodies, re-serialisation only for bodies up to [`MAX_REFORMAT_BODY`] that parse
//! as JSON (serde_json's recursion limit bounds their depth). Nothing here panics.

use base64::Engine;
use hmac::Mac;
use serde_json::Value;

use super::{
    check_tolerance, clip, header_str, hex_decode, hex_encode, hmac_sha1, hmac_sha256,
    parse_timestamp, stripe_items, verify_request, Scheme, Secret, Verdict, GITHUB_SIGNATURE_256,
    GITHUB_SIGNATURE_SHA1, SECRET_PREFIX, SHOPIFY_HMAC, SLACK_SIGNATURE, SLACK_TIMESTAMP, STANDARD,
    STANDARD_LENIENT, STRIPE_SIGNATURE, WEBHOOK_SIGNATURE,
};

/// The largest body the doctor re-serialises (a captured body is already bounded by
/// `--max-body`; this bounds `hookpit verify` on a large file too).
pub const MAX_REFORMAT_BODY: usize = 16 * 1024 * 1024;
/// The most key forms tried for one secret.
pub const KEY_FORMS_MAX: usize = 3;
/// The re-serialisations tried, in order.
pub const REFORMATS: [Reformat; 6] = [
    Reformat::Compact,
    Reformat::Pretty,
    Reformat::SortedKeys,
    Reformat::AsciiEscaped,
    Reformat::SlashEscaped,
    Reformat::Python,
];
/// The longest received signature value shown.
const RECEIVED_MAX_CHARS: usize = 300;

/// What the doctor found about one request's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// The verdict of the plain check (the doctor never changes it).
    pub verdict: Verdict,
    /// Why the request does not verify, in words a person can act on; `None` when valid.
    pub reason: Option<String>,
    /// The signature the configured secret gives over the body as received, in the scheme's
    /// header format; `None` when valid or when it cannot be computed.
    pub expected: Option<String>,
    /// The signature value received (clipped); `None` when valid or absent.
    pub received: Option<String>,
}

impl Diagnosis {
    fn valid() -> Diagnosis {
        Diagnosis {
            verdict: Verdict::Valid,
            reason: None,
            expected: None,
            received: None,
        }
    }

    /// True when the plain check passed.
    pub fn is_valid(&self) -> bool {
        self.verdict.is_valid()
    }
}

/// One way of re-serialising a JSON body that a sender or proxy commonly uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reformat {
    /// No whitespace, keys in their order (`JSON.stringify`, serde_json).
    Compact,
    /// Two-space indentation (`JSON.stringify(v, null, 2)`).
    Pretty,
    /// No whitespace, keys sorted (`sort_keys=True`, canonicalisers).
    SortedKeys,
    /// No whitespace, non-ASCII as `\uXXXX` (`ensure_ascii`).
    AsciiEscaped,
    /// No whitespace, `/` escaped as `\/` (PHP's `json_encode`).
    SlashEscaped,
    /// Python's `json.dumps` defaults: `", "` and `": "` separators, `\uXXXX` escapes.
    Python,
}

impl Reformat {
    /// How the reason names it.
    pub fn label(self) -> &'static str {
        match self {
            Reformat::Compact => "compact JSON",
            Reformat::Pretty => "pretty-printed JSON, 2-space indent",
            Reformat::SortedKeys => "JSON with sorted keys",
            Reformat::AsciiEscaped => "JSON with non-ASCII escaped as \\uXXXX",
            Reformat::SlashEscaped => "JSON with / escaped as \\/",
            Reformat::Python => "Python json.dumps defaults",
        }
    }

    /// `value` written this way.
    fn write(self, value: &Value) -> Option<Vec<u8>> {
        let compact = || serde_json::to_vec(value).ok();
        match self {
            Reformat::Compact => compact(),
            Reformat::Pretty => serde_json::to_vec_pretty(value).ok(),
            Reformat::SortedKeys => serde_json::to_vec(&sorted(value)).ok(),
            Reformat::AsciiEscaped => compact().map(|b| ascii_escaped(&b)),
            // in compact JSON a `/` can only stand inside a string
            Reformat::SlashEscaped => {
                compact().map(|b| String::from_utf8_lossy(&b).replace('/', "\\/").into_bytes())
            }
            Reformat::Python => {
                let mut out = Vec::new();
                let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
                serde::Serialize::serialize(value, &mut ser).ok()?;
                Some(ascii_escaped(&out))
            }
        }
    }
}

/// `value` with every object's keys sorted, recursively.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Compact JSON text with every non-ASCII character written as `\uXXXX` (UTF-16 code units), as
/// `ensure_ascii` does; outside strings JSON text is ASCII already.
fn ascii_escaped(json: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(json);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out.into_bytes()
}

/// Python's `json.dumps` separators: `", "` between items and `": "` after keys.
struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(b": ")
    }
}

/// One form of the secret as an HMAC key.
struct KeyForm {
    key: Vec<u8>,
    /// How the reason names it ("its raw text", …).
    label: &'static str,
}

/// The configured key form first (when the secret has one for the scheme), then the usual
/// mistaken ones; duplicates and empty keys left out.
fn key_forms(scheme: Scheme, secret: &str) -> (Option<KeyForm>, Vec<KeyForm>) {
    let raw = secret.as_bytes().to_vec();
    let after = secret.strip_prefix(SECRET_PREFIX);
    let decoded = |text: &str| STANDARD_LENIENT.decode(text.trim()).ok();
    let (configured, mut others) = if scheme == Scheme::StandardWebhooks {
        let configured = Secret::parse(secret).ok().map(|s| KeyForm {
            key: s.as_bytes().to_vec(),
            label: "the base64-decoded text after whsec_",
        });
        let mut others = vec![KeyForm {
            key: raw,
            label: "its raw text (the whole string as the HMAC key)",
        }];
        if let Some(rest) = after {
            others.push(KeyForm {
                key: rest.as_bytes().to_vec(),
                label: "the text after whsec_, not base64-decoded",
            });
        }
        (configured, others)
    } else {
        let configured = Some(KeyForm {
            key: raw,
            label: "its raw text",
        });
        let mut others = Vec::new();
        match after {
            Some(rest) => {
                others.push(KeyForm {
                    key: rest.as_bytes().to_vec(),
                    label: "the text after whsec_ (without the prefix)",
                });
                if let Some(key) = decoded(rest) {
                    others.push(KeyForm {
                        key,
                        label: "the base64-decoded text after whsec_",
                    });
                }
            }
            None => {
                if let Some(key) = decoded(secret) {
                    others.push(KeyForm {
                        key,
                        label: "base64-decoded",
                    });
                }
            }
        }
        (configured, others)
    };
    let configured = configured.filter(|k| !k.key.is_empty());
    let mut seen: Vec<Vec<u8>> = configured.iter().map(|k| k.key.clone()).collect();
    others.retain(|k| {
        let fresh = !k.key.is_empty() && !seen.contains(&k.key);
        if fresh {
            seen.push(k.key.clone());
        }
        fresh
    });
    others.truncate(KEY_FORMS_MAX - 1);
    (configured, others)
}

/// A request's signature, read the scheme's way.
struct Signed {
    /// The header the signature came in (for messages).
    header: &'static str,
    /// Its value as received, clipped.
    received: String,
    /// The decoded signatures to compare.
    tokens: Vec<Vec<u8>>,
    /// How many signature tokens of the compared version the header had (decodable or not).
    offered: usize,
    /// GitHub's legacy header: HMAC-SHA1.
    sha1: bool,
    /// The bytes signed before the body.
    prefix: Vec<u8>,
    /// The signed timestamp and the name of where it came from.
    timestamp: Option<(i64, &'static str)>,
}

impl Signed {
    /// The MAC of `key` over the prefix and `body`.
    fn mac(&self, key: &[u8], body: &[u8]) -> Vec<u8> {
        if self.sha1 {
            let mut mac = hmac_sha1(key);
            mac.update(&self.prefix);
            mac.update(body);
            mac.finalize().into_bytes().to_vec()
        } else {
            let mut mac = hmac_sha256(key);
            mac.update(&self.prefix);
            mac.update(body);
            mac.finalize().into_bytes().to_vec()
        }
    }

    fn matches(&self, key: &[u8], body: &[u8]) -> bool {
        let mac = self.mac(key, body);
        self.tokens.iter().any(|t| t == &mac)
    }
}

/// How a scheme writes a signature in its header.
fn render(scheme: Scheme, sha1: bool, mac: &[u8]) -> String {
    match scheme {
        Scheme::StandardWebhooks => format!("v1,{}", STANDARD.encode(mac)),
        Scheme::Github if sha1 => format!("sha1={}", hex_encode(mac)),
        Scheme::Github => format!("sha256={}", hex_encode(mac)),
        Scheme::Stripe => format!("v1={}", hex_encode(mac)),
        Scheme::Shopify => STANDARD.encode(mac),
        Scheme::Slack => format!("v0={}", hex_encode(mac)),
    }
}

/// Diagnoses a request under `scheme` with `secret` (as a bin's `verify` holds it): the plain
/// [`verify_request`] verdict, and when it is not valid, why.
pub fn diagnose(
    scheme: Scheme,
    secret: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Diagnosis {
    let verdict = verify_request(scheme, secret, headers, body, now_unix, tolerance_secs);
    if verdict.is_valid() {
        return Diagnosis::valid();
    }
    let plain = match &verdict {
        Verdict::Invalid(why) => why.clone(),
        _ => String::new(),
    };
    let signed = match read_signature(scheme, headers) {
        Ok(signed) => signed,
        Err((reason, received)) => {
            return Diagnosis {
                verdict,
                reason: Some(if reason.is_empty() { plain } else { reason }),
                expected: None,
                received,
            };
        }
    };
    let (configured, others) = key_forms(scheme, secret);
    let expected = configured
        .as_ref()
        .map(|k| render(scheme, signed.sha1, &signed.mac(&k.key, body)));
    let mut notes: Vec<String> = Vec::new();
    if signed.sha1 {
        notes.push(format!(
            "only the legacy {GITHUB_SIGNATURE_SHA1} (sha1) header was sent, without \
             {GITHUB_SIGNATURE_256} (GitHub sends both; sign with sha256 and send that one)"
        ));
    }
    let late = signed.timestamp.and_then(|(ts, name)| {
        check_tolerance(ts, now_unix, tolerance_secs).map(|problem| {
            // "1700000000 is 3600 s old (tolerance 300 s)" -> "… old, tolerance 300 s"
            // `Stripe-Signature t=` runs straight into its value
            let gap = if name.ends_with('=') { "" } else { " " };
            format!(
                "{name}{gap}{}",
                problem
                    .replace(" (tolerance", ", tolerance")
                    .replace(')', "")
            )
        })
    });
    let configured_matches = configured
        .as_ref()
        .is_some_and(|k| signed.matches(&k.key, body));
    if configured_matches {
        let reason = match late {
            Some(late) => format!("{late}; the signature itself matches the secret"),
            None => plain,
        };
        notes.push(reason);
        return finish(verdict, notes, expected, signed);
    }
    if let Some(late) = late {
        notes.push(late);
    }
    let all: Vec<&KeyForm> = configured.iter().chain(others.iter()).collect();
    let key_note = |form: &KeyForm| -> String {
        let how = if scheme == Scheme::StandardWebhooks {
            "Standard Webhooks base64-decodes what follows whsec_".to_owned()
        } else {
            format!(
                "{} uses the secret's raw text as the HMAC key",
                name(scheme)
            )
        };
        format!("the secret matches when used as {}; {how}", form.label)
    };
    if let Some(form) = others.iter().find(|k| signed.matches(&k.key, body)) {
        notes.push(key_note(form));
        return finish(verdict, notes, expected, signed);
    }
    if let Some((reformat, form)) = reformatted_match(&signed, &all, body) {
        let mut reason = format!(
            "the signature matches this body re-serialised ({}): the sender signed different \
             bytes than it sent — a proxy or framework re-encoded it; sign/verify the raw bytes",
            reformat.label()
        );
        if configured.as_ref().is_none_or(|c| c.key != form.key) {
            reason.push_str(&format!(", and {}", key_note(form)));
        }
        notes.push(reason);
        return finish(verdict, notes, expected, signed);
    }
    let tried = if signed.offered > 1 {
        format!(
            "none of the {} signatures in {} matches (tried {})",
            signed.offered, signed.header, signed.offered
        )
    } else {
        format!("the signature in {} does not match", signed.header)
    };
    let secret_note = if configured.is_none() {
        format!(
            "; and the configured secret is not usable for {}",
            name(scheme)
        )
    } else {
        String::new()
    };
    notes.push(format!(
        "wrong secret or changed body: {tried} — not with the secret in any usual form, nor \
         over the body re-serialised{secret_note}; if the secret is right, the body was changed \
         after it was signed"
    ));
    finish(verdict, notes, expected, signed)
}

fn finish(
    verdict: Verdict,
    notes: Vec<String>,
    expected: Option<String>,
    signed: Signed,
) -> Diagnosis {
    Diagnosis {
        verdict,
        reason: Some(notes.join("; ")),
        expected,
        received: Some(signed.received),
    }
}

/// The first re-serialisation of a JSON body that some key form matches.
fn reformatted_match<'k>(
    signed: &Signed,
    keys: &[&'k KeyForm],
    body: &[u8],
) -> Option<(Reformat, &'k KeyForm)> {
    if body.len() > MAX_REFORMAT_BODY || keys.is_empty() {
        return None;
    }
    let value: Value = serde_json::from_slice(body).ok()?;
    let mut tried: Vec<Vec<u8>> = vec![body.to_vec()];
    for reformat in REFORMATS {
        let Some(bytes) = reformat.write(&value) else {
            continue;
        };
        if tried.contains(&bytes) {
            continue;
        }
        if let Some(form) = keys.iter().find(|k| signed.matches(&k.key, &bytes)) {
            return Some((reformat, form));
        }
        tried.push(bytes);
    }
    None
}

/// The scheme's name as people write it.
fn name(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::StandardWebhooks => "Standard Webhooks",
        Scheme::Github => "GitHub",
        Scheme::Stripe => "Stripe",
        Scheme::Shopify => "Shopify",
        Scheme::Slack => "Slack",
    }
}

/// A reason and the received value, for a request whose signature cannot be read (an empty
/// reason: use the plain verdict's).
type Unreadable = (String, Option<String>);

/// Reads the request's signature the scheme's way.
fn read_signature(scheme: Scheme, headers: &[(&str, &[u8])]) -> Result<Signed, Unreadable> {
    match scheme {
        Scheme::StandardWebhooks => read_standard(headers),
        Scheme::Github => read_github(headers),
        Scheme::Stripe => read_stripe(headers),
        Scheme::Shopify => read_shopify(headers),
        Scheme::Slack => read_slack(headers),
    }
}

/// A header's text: `Err` with a reason naming it (and similar names present) when absent, or
/// the plain verdict's reason when it is not UTF-8.
fn required<'a>(headers: &[(&str, &'a [u8])], name: &str) -> Result<&'a str, Unreadable> {
    match header_str(headers, name) {
        Some(Ok(text)) => Ok(text),
        Some(Err(_)) => Err((String::new(), None)),
        None => Err((missing(headers, &[name]), None)),
    }
}

/// "no signature headers: expected X" (or "missing X header" for a header beside the signature)
/// plus the similar header names present.
fn missing(headers: &[(&str, &[u8])], names: &[&str]) -> String {
    let mut similar: Vec<&str> = Vec::new();
    for (n, _) in headers {
        let n = n.trim();
        if names.iter().any(|want| similar_name(n, want)) && !similar.contains(&n) {
            similar.push(n);
        }
    }
    let wanted = names.join(" or ");
    let signature = names
        .iter()
        .any(|n| n.to_ascii_lowercase().contains("signature"))
        || names.contains(&SHOPIFY_HMAC);
    let absent = if signature {
        format!("no signature headers: expected {wanted}")
    } else {
        format!("missing {wanted} header")
    };
    if similar.is_empty() {
        // another scheme's signature: the check is set to the wrong scheme
        let other = OTHER_SCHEMES_HEADERS.iter().find(|(name, _)| {
            !names.iter().any(|w| w.eq_ignore_ascii_case(name))
                && headers
                    .iter()
                    .any(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        });
        match other {
            Some((name, scheme)) => format!(
                "{absent}; the request carries {name}, a {scheme} signature — check it as \
                 {scheme} (a bin's verify.scheme, or `hookpit verify --scheme {scheme}`)"
            ),
            None => absent,
        }
    } else {
        let shown: Vec<String> = similar
            .iter()
            .take(3)
            .map(|n| format!("`{}`", clip(n)))
            .collect();
        format!(
            "{absent}; a similar one is present: {} — rename it to {}",
            shown.join(", "),
            names[0]
        )
    }
}

/// Each scheme's signature header, for naming the scheme a request was signed with when it is
/// not the one checked.
const OTHER_SCHEMES_HEADERS: [(&str, &str); 7] = [
    (STRIPE_SIGNATURE, "stripe"),
    (GITHUB_SIGNATURE_256, "github"),
    (GITHUB_SIGNATURE_SHA1, "github"),
    (SHOPIFY_HMAC, "shopify"),
    (SLACK_SIGNATURE, "slack"),
    (WEBHOOK_SIGNATURE, "standard-webhooks"),
    ("svix-signature", "standard-webhooks"),
];

/// Whether header name `got` looks like a mistyped `want`: equal once case, `_`/`-` and the
/// `svix-`/`webhook-` prefix are set aside, GitHub's two signature names, or within edit
/// distance 2.
fn similar_name(got: &str, want: &str) -> bool {
    if got.eq_ignore_ascii_case(want) {
        return false;
    }
    let fold = |s: &str| {
        let s = s.to_ascii_lowercase().replace('_', "-");
        let s = s
            .strip_prefix("svix-")
            .map(|r| format!("webhook-{r}"))
            .unwrap_or(s);
        s.strip_prefix("http-").map(str::to_owned).unwrap_or(s)
    };
    let (g, w) = (fold(got), fold(want));
    if g == w {
        return true;
    }
    let github = |s: &str| s.starts_with("x-hub-signature");
    if github(&g) && github(&w) {
        return true;
    }
    // a word left out or added: `X-Slack-Timestamp` for `X-Slack-Request-Timestamp`
    let words = |s: &str| s.split('-').map(str::to_owned).collect::<Vec<_>>();
    let (gw, ww) = (words(&g), words(&w));
    let within = |a: &[String], b: &[String]| a.len() >= 2 && a.iter().all(|x| b.contains(x));
    if within(&gw, &ww) || within(&ww, &gw) {
        return true;
    }
    g.len() <= 64 && edit_distance_within(&g, &w, 2)
}

/// Whether the Levenshtein distance between `a` and `b` is at most `limit`.
fn edit_distance_within(a: &str, b: &str, limit: usize) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > limit {
        return false;
    }
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()] <= limit
}

fn received(text: &str) -> String {
    text.chars().take(RECEIVED_MAX_CHARS).collect()
}

/// A signed timestamp's text as an integer; `Err` (the plain verdict's reason) when it is not.
fn timestamp(text: &str, name: &'static str) -> Result<(i64, &'static str), Unreadable> {
    parse_timestamp(text)
        .map(|t| (t, name))
        .ok_or_else(|| (String::new(), None))
}

fn read_standard(headers: &[(&str, &[u8])]) -> Result<Signed, Unreadable> {
    let lookup = |suffix: &str| {
        header_str(headers, &format!("webhook-{suffix}"))
            .or_else(|| header_str(headers, &format!("svix-{suffix}")))
    };
    let value = |suffix: &str| match lookup(suffix) {
        Some(Ok(text)) => Ok(text),
        Some(Err(_)) => Err((String::new(), None)),
        None => Err((missing(headers, &[&format!("webhook-{suffix}")]), None)),
    };
    let signature = value("signature")?;
    let shown = Some(received(signature));
    // named as the request names them: `webhook-*`, or Svix's `svix-*`
    let svix = header_str(headers, "webhook-signature").is_none();
    let (signature_name, timestamp_name) = if svix {
        ("svix-signature", "svix-timestamp")
    } else {
        ("webhook-signature", "webhook-timestamp")
    };
    let msg_id = value("id").map_err(|(r, _)| (r, shown.clone()))?;
    let ts_text = value("timestamp").map_err(|(r, _)| (r, shown.clone()))?;
    let ts = timestamp(ts_text, timestamp_name).map_err(|(r, _)| (r, shown.clone()))?;
    let v1: Vec<&str> = signature
        .split_ascii_whitespace()
        .filter_map(|t| t.split_once(','))
        .filter(|(v, _)| *v == "v1")
        .map(|(_, sig)| sig)
        .collect();
    if v1.is_empty() {
        return Err((String::new(), shown));
    }
    let mut prefix = Vec::new();
    prefix.extend_from_slice(msg_id.as_bytes());
    prefix.push(b'.');
    prefix.extend_from_slice(ts_text.trim().as_bytes());
    prefix.push(b'.');
    Ok(Signed {
        header: signature_name,
        received: received(signature),
        tokens: v1.iter().filter_map(|s| STANDARD.decode(s).ok()).collect(),
        offered: v1.len(),
        sha1: false,
        prefix,
        timestamp: Some(ts),
    })
}

fn read_github(headers: &[(&str, &[u8])]) -> Result<Signed, Unreadable> {
    let (header, value, sha1) = match header_str(headers, GITHUB_SIGNATURE_256) {
        Some(_) => (
            GITHUB_SIGNATURE_256,
            required(headers, GITHUB_SIGNATURE_256)?,
            false,
        ),
        None => match header_str(headers, GITHUB_SIGNATURE_SHA1) {
            Some(_) => (
                GITHUB_SIGNATURE_SHA1,
                required(headers, GITHUB_SIGNATURE_SHA1)?,
                true,
            ),
            None => {
                return Err((
                    missing(headers, &[GITHUB_SIGNATURE_256, GITHUB_SIGNATURE_SHA1]),
                    None,
                ))
            }
        },
    };
    let wanted = if sha1 { "sha1=" } else { "sha256=" };
    let Some(token) = value.trim().strip_prefix(wanted).and_then(hex_decode) else {
        return Err((String::new(), Some(received(value))));
    };
    Ok(Signed {
        header,
        received: received(value),
        tokens: vec![token],
        offered: 1,
        sha1,
        prefix: Vec::new(),
        timestamp: None,
    })
}

fn read_stripe(headers: &[(&str, &[u8])]) -> Result<Signed, Unreadable> {
    let value = required(headers, STRIPE_SIGNATURE)?;
    let shown = Some(received(value));
    let Some(t) = stripe_items(value)
        .find(|(key, _)| *key == "t")
        .map(|(_, t)| t.trim())
    else {
        return Err((String::new(), shown));
    };
    let ts = timestamp(t, "Stripe-Signature t=").map_err(|(r, _)| (r, shown.clone()))?;
    let v1: Vec<&str> = stripe_items(value)
        .filter(|(key, _)| *key == "v1")
        .map(|(_, sig)| sig.trim())
        .collect();
    if v1.is_empty() {
        return Err((String::new(), shown));
    }
    Ok(Signed {
        header: STRIPE_SIGNATURE,
        received: received(value),
        tokens: v1.iter().filter_map(|s| hex_decode(s)).collect(),
        offered: v1.len(),
        sha1: false,
        prefix: format!("{t}.").into_bytes(),
        timestamp: Some(ts),
    })
}

fn read_shopify(headers: &[(&str, &[u8])]) -> Result<Signed, Unreadable> {
    let value = required(headers, SHOPIFY_HMAC)?;
    let Ok(token) = STANDARD_LENIENT.decode(value.trim()) else {
        return Err((String::new(), Some(received(value))));
    };
    Ok(Signed {
        header: SHOPIFY_HMAC,
        received: received(value),
        tokens: vec![token],
        offered: 1,
        sha1: false,
        prefix: Vec::new(),
        timestamp: None,
    })
}

fn read_slack(headers: &[(&str, &[u8])]) -> Result<Signed, Unreadable> {
    let value = required(headers, SLACK_SIGNATURE)?;
    let shown = Some(received(value));
    let ts_text = required(headers, SLACK_TIMESTAMP).map_err(|(r, _)| (r, shown.clone()))?;
    let ts = timestamp(ts_text, SLACK_TIMESTAMP).map_err(|(r, _)| (r, shown.clone()))?;
    let Some(token) = value.trim().strip_prefix("v0=").and_then(hex_decode) else {
        return Err((String::new(), shown));
    };
    Ok(Signed {
        header: SLACK_SIGNATURE,
        received: received(value),
        tokens: vec![token],
        offered: 1,
        sha1: false,
        prefix: format!("v0:{}:", ts_text.trim()).into_bytes(),
        timestamp: Some(ts),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{github_sign, shopify_sign, sign, slack_sign, stripe_sign};
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_700_000_000;
    const TOL: i64 = 300;
    const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const BODY: &[u8] = br#"{"id":"evt_1","amount":5000}"#;

    /// The headers a sender using HMAC key `key` sends for `body` at `ts` under `scheme`.
    fn signed(scheme: Scheme, key: &[u8], body: &[u8], ts: i64) -> Vec<(String, String)> {
        let pairs = |list: Vec<(&str, String)>| {
            list.into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect::<Vec<_>>()
        };
        match scheme {
            Scheme::StandardWebhooks => {
                let secret = Secret::from_bytes(key.to_vec()).expect("non-empty key");
                pairs(vec![
                    ("webhook-id", "msg_1".into()),
                    ("webhook-timestamp", ts.to_string()),
                    ("webhook-signature", sign(&secret, "msg_1", ts, body)),
                ])
            }
            Scheme::Github => pairs(vec![(GITHUB_SIGNATURE_256, github_sign(key, body))]),
            Scheme::Stripe => pairs(vec![(STRIPE_SIGNATURE, stripe_sign(key, ts, body))]),
            Scheme::Shopify => pairs(vec![(SHOPIFY_HMAC, shopify_sign(key, body))]),
            Scheme::Slack => pairs(vec![
                (SLACK_TIMESTAMP, ts.to_string()),
                (SLACK_SIGNATURE, slack_sign(key, ts, body)),
            ]),
        }
    }

    /// The configured secret of each scheme in these tests: a `whsec_` one everywhere (Stripe's
    /// look like that too), so every key form exists.
    fn configured_key(scheme: Scheme) -> Vec<u8> {
        match scheme {
            Scheme::StandardWebhooks => Secret::parse(WHSEC).expect("secret").as_bytes().to_vec(),
            _ => WHSEC.as_bytes().to_vec(),
        }
    }

    fn run(scheme: Scheme, headers: &[(String, String)], body: &[u8], now: i64) -> Diagnosis {
        let h: Vec<(&str, &[u8])> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
            .collect();
        diagnose(scheme, WHSEC, &h, body, now, TOL)
    }

    fn reason(d: &Diagnosis) -> &str {
        d.reason
            .as_deref()
            .expect("an invalid request has a reason")
    }

    #[test]
    fn a_valid_request_has_no_reason_expected_or_received() {
        for scheme in Scheme::ALL {
            let h = signed(scheme, &configured_key(scheme), BODY, NOW);
            let d = run(scheme, &h, BODY, NOW);
            assert_eq!(d, Diagnosis::valid(), "{scheme}");
        }
    }

    #[test]
    fn a_whsec_secret_used_as_its_raw_text_is_named_for_standard_webhooks() {
        let h = signed(Scheme::StandardWebhooks, WHSEC.as_bytes(), BODY, NOW);
        let d = run(Scheme::StandardWebhooks, &h, BODY, NOW);
        assert!(!d.is_valid());
        assert_eq!(
            reason(&d),
            "the secret matches when used as its raw text (the whole string as the HMAC key); \
             Standard Webhooks base64-decodes what follows whsec_"
        );
    }

    #[test]
    fn the_text_after_whsec_used_undecoded_is_named_for_standard_webhooks() {
        let key = &WHSEC.as_bytes()[SECRET_PREFIX.len()..];
        let h = signed(Scheme::StandardWebhooks, key, BODY, NOW);
        let r = run(Scheme::StandardWebhooks, &h, BODY, NOW).reason.unwrap();
        assert!(
            r.starts_with(
                "the secret matches when used as the text after whsec_, not base64-decoded"
            ),
            "{r}"
        );
    }

    #[test]
    fn a_whsec_secret_base64_decoded_by_the_sender_is_named_for_the_vendor_schemes() {
        let decoded = Secret::parse(WHSEC).expect("secret").as_bytes().to_vec();
        for scheme in [
            Scheme::Github,
            Scheme::Stripe,
            Scheme::Shopify,
            Scheme::Slack,
        ] {
            let h = signed(scheme, &decoded, BODY, NOW);
            let r = run(scheme, &h, BODY, NOW).reason.unwrap();
            assert!(
                r.starts_with(
                    "the secret matches when used as the base64-decoded text after whsec_"
                ) && r.contains("uses the secret's raw text as the HMAC key"),
                "{scheme}: {r}"
            );
            let h = signed(scheme, &WHSEC.as_bytes()[6..], BODY, NOW);
            let r = run(scheme, &h, BODY, NOW).reason.unwrap();
            assert!(
                r.contains("the text after whsec_ (without the prefix)"),
                "{scheme}: {r}"
            );
        }
    }

    #[test]
    fn a_plain_secret_base64_decoded_by_the_sender_is_named() {
        let h = signed(Scheme::Github, b"hi there", BODY, NOW);
        let hs: Vec<(&str, &[u8])> = h.iter().map(|(k, v)| (k.as_str(), v.as_bytes())).collect();
        let d = diagnose(Scheme::Github, "aGkgdGhlcmU=", &hs, BODY, NOW, TOL);
        assert!(reason(&d).contains("when used as base64-decoded"), "{d:?}");
    }

    #[test]
    fn every_re_serialisation_is_recognised_for_every_scheme() {
        // sent with odd spacing and a non-ASCII character and a slash, so every form differs
        let sent = "{ \"b\" : 1 , \"a\" : \"é/x\" }".as_bytes();
        let value: Value = serde_json::from_slice(sent).expect("json");
        for scheme in Scheme::ALL {
            for reformat in REFORMATS {
                let signed_bytes = reformat.write(&value).expect("writes");
                assert_ne!(signed_bytes, sent);
                let h = signed(scheme, &configured_key(scheme), &signed_bytes, NOW);
                let d = run(scheme, &h, sent, NOW);
                let want = format!(
                    "the signature matches this body re-serialised ({}): the sender signed \
                     different bytes than it sent — a proxy or framework re-encoded it; \
                     sign/verify the raw bytes",
                    reformat.label()
                );
                assert_eq!(reason(&d), want, "{scheme} {reformat:?}");
            }
        }
    }

    #[test]
    fn the_re_serialised_forms_are_the_ones_senders_produce() {
        let value: Value = serde_json::from_str(r#"{"b":[1,2],"a":"é/x"}"#).expect("json");
        let text = |r: Reformat| String::from_utf8(r.write(&value).expect("writes")).expect("utf8");
        assert_eq!(text(Reformat::Compact), r#"{"b":[1,2],"a":"é/x"}"#);
        assert_eq!(
            text(Reformat::Pretty),
            "{\n  \"b\": [\n    1,\n    2\n  ],\n  \"a\": \"é/x\"\n}"
        );
        assert_eq!(text(Reformat::SortedKeys), r#"{"a":"é/x","b":[1,2]}"#);
        assert_eq!(
            text(Reformat::AsciiEscaped),
            r#"{"b":[1,2],"a":"\u00e9/x"}"#
        );
        assert_eq!(text(Reformat::SlashEscaped), r#"{"b":[1,2],"a":"é\/x"}"#);
        assert_eq!(text(Reformat::Python), r#"{"b": [1, 2], "a": "\u00e9/x"}"#);
        let emoji: Value = serde_json::from_str(r#""😀""#).expect("json");
        assert_eq!(
            Reformat::AsciiEscaped.write(&emoji).expect("writes"),
            br#""\ud83d\ude00""#
        );
    }

    #[test]
    fn a_changed_body_that_is_not_json_is_a_wrong_secret_or_changed_body() {
        let h = signed(Scheme::Github, WHSEC.as_bytes(), b"a=1", NOW);
        let r = run(Scheme::Github, &h, b"a=2", NOW).reason.unwrap();
        assert!(
            r.starts_with(
                "wrong secret or changed body: the signature in X-Hub-Signature-256 does not match"
            ),
            "{r}"
        );
    }

    #[test]
    fn a_stale_or_future_timestamp_says_by_how_much_and_that_the_signature_matches() {
        for scheme in [Scheme::StandardWebhooks, Scheme::Stripe, Scheme::Slack] {
            let h = signed(scheme, &configured_key(scheme), BODY, NOW - 3600);
            let r = run(scheme, &h, BODY, NOW).reason.unwrap();
            assert!(
                r.contains(&format!("{} is 3600 s old, tolerance 300 s", NOW - 3600))
                    && r.ends_with("the signature itself matches the secret"),
                "{scheme}: {r}"
            );
            let h = signed(scheme, &configured_key(scheme), BODY, NOW + 900);
            let r = run(scheme, &h, BODY, NOW).reason.unwrap();
            assert!(
                r.contains("is 900 s in the future, tolerance 300 s"),
                "{scheme}: {r}"
            );
        }
    }

    #[test]
    fn extreme_timestamps_are_named_as_sent_and_their_age_is_exact() {
        let h = vec![("Stripe-Signature".to_owned(), "t=-1,v1=00".to_owned())];
        let r = run(Scheme::Stripe, &h, BODY, NOW).reason.unwrap();
        assert!(
            r.starts_with(&format!("Stripe-Signature t=-1 is {} s old", NOW + 1)),
            "{r}"
        );
        let h = vec![
            ("X-Slack-Request-Timestamp".to_owned(), i64::MIN.to_string()),
            ("X-Slack-Signature".to_owned(), "v0=00".to_owned()),
        ];
        let r = run(Scheme::Slack, &h, BODY, NOW).reason.unwrap();
        let age = i128::from(NOW) - i128::from(i64::MIN);
        assert!(r.contains(&format!("is {age} s old")), "{r}");
    }

    #[test]
    fn a_stale_timestamp_and_a_wrong_secret_are_both_said() {
        let h = signed(Scheme::Stripe, b"other", BODY, NOW - 3600);
        let r = run(Scheme::Stripe, &h, BODY, NOW).reason.unwrap();
        assert!(
            r.starts_with(
                "Stripe-Signature t=1699996400 is 3600 s old, tolerance 300 s; wrong secret or changed body"
            ),
            "{r}"
        );
    }

    #[test]
    fn a_secret_that_matches_in_no_form_is_a_wrong_secret_for_every_scheme() {
        for scheme in Scheme::ALL {
            let h = signed(scheme, b"someone else's secret", BODY, NOW);
            let d = run(scheme, &h, BODY, NOW);
            assert!(
                reason(&d).starts_with("wrong secret or changed body: "),
                "{scheme}: {d:?}"
            );
        }
    }

    #[test]
    fn expected_and_received_are_the_secrets_signature_and_the_one_sent() {
        for scheme in Scheme::ALL {
            let mine = signed(scheme, &configured_key(scheme), BODY, NOW);
            let theirs = signed(scheme, b"other", BODY, NOW);
            let d = run(scheme, &theirs, BODY, NOW);
            let value = |h: &[(String, String)]| {
                let v = h.last().expect("signature header").1.clone();
                // Stripe's expected is the v1 item alone
                v.split_once(",v1=")
                    .map(|(_, s)| format!("v1={s}"))
                    .unwrap_or(v)
            };
            assert_eq!(d.expected, Some(value(&mine)), "{scheme}");
            assert_eq!(
                d.received.as_deref(),
                Some(theirs.last().expect("header").1.as_str()),
                "{scheme}"
            );
        }
    }

    #[test]
    fn githubs_legacy_sha1_header_alone_is_named() {
        let mut mac = hmac_sha1(b"other");
        mac.update(BODY);
        let legacy = format!("sha1={}", hex_encode(&mac.finalize().into_bytes()));
        let h = vec![(GITHUB_SIGNATURE_SHA1.to_owned(), legacy.clone())];
        let d = run(Scheme::Github, &h, BODY, NOW);
        assert!(
            reason(&d).starts_with(
                "only the legacy X-Hub-Signature (sha1) header was sent, without X-Hub-Signature-256"
            ),
            "{d:?}"
        );
        assert!(d
            .expected
            .as_deref()
            .is_some_and(|e| e.starts_with("sha1=")));
        assert_eq!(d.received, Some(legacy));
    }

    #[test]
    fn a_missing_header_names_the_expected_one_and_a_similar_one_present() {
        let cases: [(Scheme, &str, &str); 6] = [
            (
                Scheme::StandardWebhooks,
                "webhook_signature",
                "webhook-signature",
            ),
            (
                Scheme::StandardWebhooks,
                "X-Webhook-Signature",
                "webhook-signature",
            ),
            (Scheme::Github, "X-Hub-Signatur-256", "X-Hub-Signature-256"),
            (Scheme::Stripe, "Stripe_Signature", "Stripe-Signature"),
            (
                Scheme::Shopify,
                "X-Shopify-Hmac-Sha265",
                "X-Shopify-Hmac-Sha256",
            ),
            (Scheme::Slack, "Slack-Signature", "X-Slack-Signature"),
        ];
        for (scheme, sent, want) in cases {
            let mut h = signed(scheme, &configured_key(scheme), BODY, NOW);
            let at = h.len() - 1;
            h[at].0 = sent.to_owned();
            let r = run(scheme, &h, BODY, NOW).reason.unwrap();
            assert!(
                r.starts_with("no signature headers: expected ")
                    && r.contains(want)
                    && r.contains(&format!("a similar one is present: `{sent}`")),
                "{scheme} {sent}: {r}"
            );
        }
        let h = vec![("content-type".to_owned(), "application/json".to_owned())];
        let r = run(Scheme::Stripe, &h, BODY, NOW).reason.unwrap();
        assert_eq!(r, "no signature headers: expected Stripe-Signature");
    }

    #[test]
    fn svix_headers_are_named_as_the_request_names_them() {
        let h: Vec<(String, String)> = signed(
            Scheme::StandardWebhooks,
            &configured_key(Scheme::StandardWebhooks),
            BODY,
            NOW - 3600,
        )
        .into_iter()
        .map(|(n, v)| (n.replace("webhook-", "svix-"), v))
        .collect();
        let r = run(Scheme::StandardWebhooks, &h, BODY, NOW).reason.unwrap();
        assert!(r.starts_with("svix-timestamp "), "{r}");
        assert!(r.contains("3600 s old"), "{r}");
    }

    #[test]
    fn another_schemes_signature_is_named_with_the_scheme_to_check_it_as() {
        let h = signed(Scheme::Stripe, &configured_key(Scheme::Stripe), BODY, NOW);
        let r = run(Scheme::StandardWebhooks, &h, BODY, NOW).reason.unwrap();
        assert!(
            r.starts_with("no signature headers: expected webhook-signature")
                && r.contains("the request carries Stripe-Signature, a stripe signature")
                && r.contains("--scheme stripe"),
            "{r}"
        );
    }

    #[test]
    fn a_missing_id_or_timestamp_beside_the_signature_is_named_with_a_similar_one() {
        let mut h = signed(
            Scheme::StandardWebhooks,
            &configured_key(Scheme::StandardWebhooks),
            BODY,
            NOW,
        );
        h[0].0 = "webhook_id".into();
        let d = run(Scheme::StandardWebhooks, &h, BODY, NOW);
        assert_eq!(
            reason(&d),
            "missing webhook-id header; a similar one is present: `webhook_id` — rename it to webhook-id"
        );
        assert!(d.received.is_some());
        let mut h = signed(Scheme::Slack, WHSEC.as_bytes(), BODY, NOW);
        h[0].0 = "X-Slack-Timestamp".into();
        let r = run(Scheme::Slack, &h, BODY, NOW).reason.unwrap();
        assert!(
            r.starts_with("missing X-Slack-Request-Timestamp header; a similar one"),
            "{r}"
        );
    }

    #[test]
    fn several_signatures_none_matching_say_how_many_were_tried() {
        let key = configured_key(Scheme::StandardWebhooks);
        let other = |k: &[u8]| signed(Scheme::StandardWebhooks, k, BODY, NOW)[2].1.clone();
        let mut h = signed(Scheme::StandardWebhooks, &key, BODY, NOW);
        h[2].1 = format!("{} {} v1,bm90aXQ=", other(b"a"), other(b"b"));
        let r = run(Scheme::StandardWebhooks, &h, BODY, NOW).reason.unwrap();
        assert!(
            r.starts_with(
                "wrong secret or changed body: none of the 3 signatures in webhook-signature matches (tried 3)"
            ),
            "{r}"
        );
        let st = |k: &[u8]| stripe_sign(k, NOW, BODY);
        let two = format!("{},{}", st(b"a"), st(b"b").split_once(',').expect("t,v1").1);
        let h = vec![(STRIPE_SIGNATURE.to_owned(), two)];
        let r = run(Scheme::Stripe, &h, BODY, NOW).reason.unwrap();
        assert!(
            r.contains("none of the 2 signatures in Stripe-Signature matches"),
            "{r}"
        );
    }

    #[test]
    fn an_unusable_standard_webhooks_secret_still_finds_the_raw_text_form() {
        let secret = "whsec_not base64!";
        let h = signed(Scheme::StandardWebhooks, secret.as_bytes(), BODY, NOW);
        let hs: Vec<(&str, &[u8])> = h.iter().map(|(k, v)| (k.as_str(), v.as_bytes())).collect();
        let d = diagnose(Scheme::StandardWebhooks, secret, &hs, BODY, NOW, TOL);
        assert!(
            reason(&d).contains("the secret matches when used as its raw text"),
            "{d:?}"
        );
        assert_eq!(
            d.expected, None,
            "no expected signature without a usable secret"
        );
    }

    #[test]
    fn malformed_signatures_keep_the_plain_reason_and_show_what_was_received() {
        let h = vec![(SHOPIFY_HMAC.to_owned(), "%%%".to_owned())];
        let d = run(Scheme::Shopify, &h, BODY, NOW);
        assert_eq!(reason(&d), "X-Shopify-Hmac-Sha256 is not base64");
        assert_eq!(d.received.as_deref(), Some("%%%"));
    }

    #[test]
    fn similar_names_are_folded_and_within_two_edits() {
        assert!(similar_name("svix-signature", "webhook-signature"));
        assert!(similar_name("WEBHOOK_SIGNATURE", "webhook-signature"));
        assert!(similar_name("X-Hub-Signature", "X-Hub-Signature-256"));
        assert!(similar_name("Stripe-Signatrue", "Stripe-Signature"));
        assert!(similar_name(
            "X-Slack-Timestamp",
            "X-Slack-Request-Timestamp"
        ));
        assert!(!similar_name("content-type", "Stripe-Signature"));
        assert!(
            !similar_name("stripe-signature", "Stripe-Signature"),
            "the same name is not 'similar'"
        );
        assert!(edit_distance_within("kitten", "sitting", 3));
        assert!(!edit_distance_within("kitten", "sitting", 2));
    }

    /// Every form the secret could show up in.
    fn secret_forms(secret: &str) -> Vec<String> {
        let mut forms = vec![secret.to_owned()];
        if let Some(rest) = secret.strip_prefix(SECRET_PREFIX) {
            forms.push(rest.to_owned());
        }
        for (_, form) in [
            key_forms(Scheme::StandardWebhooks, secret),
            key_forms(Scheme::Github, secret),
        ] {
            for k in form {
                forms.push(String::from_utf8_lossy(&k.key).into_owned());
                forms.push(STANDARD.encode(&k.key));
                forms.push(hex_encode(&k.key));
            }
        }
        forms.retain(|f| f.len() >= 8);
        forms
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        #[test]
        fn the_doctor_never_panics_and_never_shows_the_secret(
            scheme in proptest::sample::select(Scheme::ALL.to_vec()),
            secret in proptest::prop_oneof![
                "whsec_[A-Za-z0-9+/]{16,40}={0,2}",
                "[ -~]{12,40}",
            ],
            names in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just("webhook-signature".to_owned()),
                proptest::strategy::Just("webhook-id".to_owned()),
                proptest::strategy::Just("webhook-timestamp".to_owned()),
                proptest::strategy::Just("X-Hub-Signature".to_owned()),
                proptest::strategy::Just("Stripe-Signature".to_owned()),
                proptest::strategy::Just("X-Slack-Request-Timestamp".to_owned()),
                "[A-Za-z_-]{0,24}",
            ], 0..6),
            values in proptest::collection::vec(proptest::prop_oneof![
                "v1,[A-Za-z0-9+/=]{0,48}( v1,[A-Za-z0-9+/=]{0,8})?",
                "t=[0-9]{1,12},v1=[0-9a-f]{0,64}",
                "sha256=[0-9a-f]{0,64}",
                "[0-9]{1,20}",
                proptest::collection::vec(proptest::num::u8::ANY, 0..40)
                    .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
            ], 6),
            body in proptest::prop_oneof![
                proptest::collection::vec(proptest::num::u8::ANY, 0..200),
                "\\{\"[a-z/é]{0,6}\": ?\\[?[0-9]{0,4}\\]?\\}".prop_map(String::into_bytes),
            ],
            now in proptest::num::i64::ANY,
            tolerance in proptest::num::i64::ANY,
        ) {
            let headers: Vec<(&str, &[u8])> = names
                .iter()
                .zip(&values)
                .map(|(n, v)| (n.as_str(), v.as_bytes()))
                .collect();
            let d = diagnose(scheme, &secret, &headers, &body, now, tolerance);
            proptest::prop_assert_eq!(d.is_valid(), d.reason.is_none());
            let shown = format!(
                "{} {} {}",
                d.reason.unwrap_or_default(),
                d.expected.unwrap_or_default(),
                d.received.unwrap_or_default()
            );
            let input = format!("{names:?} {values:?} {}", String::from_utf8_lossy(&body));
            for form in secret_forms(&secret) {
                if !input.contains(&form) {
                    proptest::prop_assert!(!shown.contains(&form), "{form:?} shown in {shown}");
                }
            }
        }
    }
}
