//! A bin's behaviour (SPEC §6, §12): the config shape shared by `PUT /_/api/bins/{bin}`, the config
//! file's `[[bin]]` and `hookpit bin set`; its validation (a bad value names its field; framing
//! headers, 1xx statuses, bodies on 204/205/304 and configs past their size bounds are refused);
//! and the compiled form the capture path uses — response, per-request rules, an ordered sequence,
//! a seeded fault rate, echo placeholders, incoming signature verification, forwarding targets and
//! the rate limit (whose bucket lives with the compiled rules: a new config, a full bucket).
//!
//! A config is validated once, where it comes in, into a [`BinSetup`] (the config, its compiled
//! rules and its JSON form) that the store applies as it is; a problem is a [`FieldError`] naming
//! its field as a path of keys and positions.
//!
//! Uses `model`, `matcher`, `sign`, `units` (durations), `field`, `webhook` (the URL and header
//! checks), `limit` (the rate limit and its bucket) and `rand`. Pure decisions, no I/O (bar
//! handing a large body's signature diagnosis to tokio's blocking pool): the server applies
//! delays, drops connections and forwards; the store keeps the sequence position and the fault
//! generator's state under its lock, so concurrent requests never skip or repeat a step.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::field::{FieldError, FieldPath};
use crate::limit::{LimitSpec, Limiter};
use crate::matcher::{BodyJson, Filter};
use crate::model::{Body, CapturedRequest, Header, ResponseSent, SignatureCheck};
use crate::sign::{self, Scheme, Verdict};
use crate::units::Dur;
use crate::webhook::{check_header_name, check_header_value, check_url};

/// Most per-request rules a bin may have.
pub const MAX_RULES: usize = 10_000;
/// Most steps a bin's sequence may have.
pub const MAX_STEPS: usize = 10_000;
/// Most headers one configured response may have.
pub const MAX_HEADERS: usize = 100;
/// Longest header value of a configured response.
pub const MAX_HEADER_VALUE: usize = 64 * 1024;
/// Longest header name of a configured response.
pub const MAX_HEADER_NAME: usize = 1024;
/// Largest bin config, as compact JSON (also the largest `PUT /_/api/bins/{bin}` body).
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;
/// A rendered body never grows past this, nor past its template plus one copy of the request's
/// body and 64 KiB, whichever is larger: placeholders cannot multiply a request into gigabytes.
pub const MAX_RENDER: usize = 16 * 1024 * 1024;

/// Headers that frame the message on the wire: hookpit writes them itself, from the body it
/// sends, so a config that sets them could desynchronise a keep-alive connection.
const FRAMING_HEADERS: [&str; 8] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "trailer",
    "te",
    "proxy-connection",
];

/// A response to send: status, headers, body (text, or JSON sent as JSON), delay.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Dur>,
}

/// A response used when a request matches a filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// The filter (SPEC §5), e.g. `method:POST path:/stripe/refunds/*`.
    #[serde(rename = "match")]
    pub when: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Dur>,
}

/// A fraction of requests answered badly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// 0.0 to 1.0.
    pub rate: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Drop the connection instead of answering.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drop: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Dur>,
    /// Seed of the generator that picks the faulty requests (random when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// Incoming signature verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifySpec {
    pub scheme: String,
    pub secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<Dur>,
}

/// Where captured requests go on to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardSpec {
    pub url: String,
    /// `mirror` (answer at once, forward in the background) or `passthrough` (answer with the
    /// target's response).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Dur>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_tls: bool,
}

/// A bin's whole configuration, as `PUT /_/api/bins/{bin}` takes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BinConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sequence: Vec<ResponseSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<FaultSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifySpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward: Option<ForwardSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<usize>,
    /// A rate limit, checked before anything else about a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<LimitSpec>,
}

/// How forwarding answers the original sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardMode {
    Mirror,
    Passthrough,
}

/// A forwarding target, checked.
#[derive(Debug, Clone)]
pub struct Forward {
    pub url: String,
    pub mode: ForwardMode,
    pub timeout: Duration,
    pub insecure_tls: bool,
}

/// Incoming verification, checked.
#[derive(Debug, Clone)]
pub struct Verify {
    pub scheme: Scheme,
    pub secret: String,
    /// The `whsec_` secret decoded once, for `standard-webhooks`.
    pub whsec: Option<sign::Secret>,
    pub tolerance: Duration,
}

#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    /// Shared by every response this answer renders.
    headers: Arc<[Header]>,
    body: Option<Template>,
    delay: Duration,
}

#[derive(Debug, Clone)]
struct Rule {
    filter: Filter,
    answer: Answer,
}

#[derive(Debug, Clone)]
struct Fault {
    rate: f64,
    status: u16,
    drop: bool,
    delay: Duration,
}

/// A bin's behaviour, compiled from a [`BinConfig`].
#[derive(Debug, Clone)]
pub struct BinRules {
    response: Option<Answer>,
    rules: Vec<Rule>,
    sequence: Vec<Answer>,
    fault: Option<Fault>,
    pub verify: Option<Verify>,
    pub forward: Option<Forward>,
    /// The rate limit and its bucket, taken before the rest of the rules are looked at.
    pub limit: Option<Arc<Limiter>>,
    /// The fault generator's first state.
    pub seed: u64,
}

/// What the capture path does with one request.
#[derive(Debug)]
pub struct Decision {
    pub response: ResponseSent,
    pub delay: Duration,
    /// Drop the connection without answering.
    pub drop: bool,
}

/// The mutable part of a bin's behaviour, kept by the store under its lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub sequence_position: usize,
    pub rng: u64,
}

/// Results whose error names the field at fault.
type Checked<T> = std::result::Result<T, FieldError>;

fn bad(field: impl Into<FieldPath>, msg: impl Into<String>) -> FieldError {
    FieldError::new(field, msg)
}

/// A status a configured response can be sent with: a final status (200-599). 1xx are
/// interim answers hyper sends itself; they cannot end an exchange.
fn check_status(field: FieldPath, s: Option<u16>) -> Checked<u16> {
    let s = s.unwrap_or(200);
    if (100..200).contains(&s) {
        return Err(bad(
            field,
            format!(
                "{s} is an informational (1xx) status, which cannot answer a request; use 200-599"
            ),
        ));
    }
    if !(200..=599).contains(&s) {
        return Err(bad(field, format!("{s} is not an HTTP status (200-599)")));
    }
    Ok(s)
}

/// Statuses that carry no content (RFC 9110 §15.3.5, §15.3.6, §15.4.5).
fn bodiless(status: u16) -> bool {
    matches!(status, 204 | 205 | 304)
}

fn answer(
    field: FieldPath,
    status: Option<u16>,
    headers: &[(String, String)],
    body: &Option<serde_json::Value>,
    delay: Option<Dur>,
    max_body: usize,
) -> Checked<Answer> {
    let status = check_status(field.clone().key("status"), status)?;
    if headers.len() > MAX_HEADERS {
        return Err(bad(
            field.key("headers"),
            format!("at most {MAX_HEADERS} headers, got {}", headers.len()),
        ));
    }
    let mut hs = Vec::with_capacity(headers.len() + 1);
    for (i, (k, v)) in headers.iter().enumerate() {
        let at = || field.clone().key("headers").index(i);
        if k.len() > MAX_HEADER_NAME {
            return Err(bad(
                at(),
                format!("at most {MAX_HEADER_NAME} bytes per header name"),
            ));
        }
        check_header_name(k).map_err(|m| bad(at(), m))?;
        if FRAMING_HEADERS.iter().any(|f| k.eq_ignore_ascii_case(f)) {
            return Err(bad(
                field.clone().key("headers").key(k),
                "framing headers are written by hookpit from the body it sends; remove this one",
            ));
        }
        if v.len() > MAX_HEADER_VALUE {
            return Err(bad(
                field.clone().key("headers").key(k),
                format!("the value is {} bytes; at most {MAX_HEADER_VALUE}", v.len()),
            ));
        }
        check_header_value(k, v).map_err(|m| bad(at(), m))?;
        hs.push(Header::new(k.as_str(), v.as_bytes()));
    }
    let body = match body {
        None => None,
        Some(_) if bodiless(status) => {
            return Err(bad(
                field.key("body"),
                format!("a {status} response has no body; remove the body or pick another status"),
            ))
        }
        Some(b) => {
            let (text, json) = match b {
                serde_json::Value::String(s) => (
                    s.clone(),
                    serde_json::from_str::<serde_json::Value>(s).is_ok(),
                ),
                other => (other.to_string(), true),
            };
            body_fits(&field, text.len(), max_body)?;
            if !hs
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case("content-type"))
            {
                let ct = if json {
                    "application/json"
                } else {
                    "text/plain; charset=utf-8"
                };
                hs.push(Header::new("Content-Type", ct.as_bytes()));
            }
            Some(Template::parse(&text))
        }
    };
    Ok(Answer {
        status,
        headers: hs.into(),
        body,
        delay: delay.map(|d| d.0).unwrap_or_default(),
    })
}

/// Refuses a body of `len` bytes past `max_body`.
fn body_fits(field: &FieldPath, len: usize, max_body: usize) -> Checked<()> {
    if len > max_body {
        return Err(bad(
            field.clone().key("body"),
            format!("{len} bytes is larger than --max-body ({max_body} bytes)"),
        ));
    }
    Ok(())
}

/// Refuses a config whose lists or whole size are past the bounds, before it is deserialized.
fn check_size(v: &serde_json::Value) -> Checked<()> {
    for (key, max, what) in [
        ("sequence", MAX_STEPS, "steps"),
        ("rules", MAX_RULES, "rules"),
    ] {
        if let Some(a) = v.get(key).and_then(|x| x.as_array()) {
            if a.len() > max {
                return Err(bad(key, format!("at most {max} {what}, got {}", a.len())));
            }
        }
    }
    /// Counts bytes and stops the writer once past the bound.
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            if self.0 > MAX_CONFIG_BYTES {
                return Err(std::io::Error::other("too large"));
            }
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    if serde_json::to_writer(&mut Count(0), v).is_err() {
        return Err(bad(
            FieldPath::root(),
            format!("larger than {MAX_CONFIG_BYTES} bytes as JSON"),
        ));
    }
    Ok(())
}

impl BinConfig {
    /// Parses and validates a JSON config, naming the field of the first problem. Bodies are
    /// bounded only by the config's own size bound; a server takes configs through
    /// [`BinSetup::from_json`], which bounds them by its `--max-body`.
    pub fn from_json(v: &serde_json::Value) -> Checked<BinConfig> {
        let c = BinConfig::parse(v)?;
        c.compile()?;
        Ok(c)
    }

    /// Parses a JSON config, checking its size bounds and its shape (not yet its values).
    fn parse(v: &serde_json::Value) -> Checked<BinConfig> {
        check_size(v)?;
        serde_path_to_error::deserialize(v).map_err(|e| {
            let mut path = FieldPath::root();
            for seg in e.path().iter() {
                path = match seg {
                    serde_path_to_error::Segment::Seq { index } => path.index(*index),
                    serde_path_to_error::Segment::Map { key } => path.key(key.as_str()),
                    serde_path_to_error::Segment::Enum { variant } => path.key(variant.as_str()),
                    serde_path_to_error::Segment::Unknown => path.key("?"),
                };
            }
            bad(path, e.into_inner().to_string())
        })
    }

    /// Checks every value and builds the form the capture path uses.
    pub fn compile(&self) -> Checked<BinRules> {
        self.compile_within(usize::MAX)
    }

    /// [`BinConfig::compile`], with response bodies bounded by `max_body` bytes.
    fn compile_within(&self, max_body: usize) -> Checked<BinRules> {
        if self.sequence.len() > MAX_STEPS {
            return Err(bad("sequence", format!("at most {MAX_STEPS} steps")));
        }
        if self.rules.len() > MAX_RULES {
            return Err(bad("rules", format!("at most {MAX_RULES} rules")));
        }
        let response = self
            .response
            .as_ref()
            .map(|r| {
                answer(
                    "response".into(),
                    r.status,
                    &r.headers,
                    &r.body,
                    r.delay,
                    max_body,
                )
            })
            .transpose()?;
        let mut rules = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            let filter = Filter::parse(&r.when).map_err(|e| {
                bad(
                    FieldPath::from("rules").index(i).key("match"),
                    e.to_string(),
                )
            })?;
            rules.push(Rule {
                filter,
                answer: answer(
                    FieldPath::from("rules").index(i),
                    r.status,
                    &r.headers,
                    &r.body,
                    r.delay,
                    max_body,
                )?,
            });
        }
        let mut sequence = Vec::new();
        for (i, r) in self.sequence.iter().enumerate() {
            sequence.push(answer(
                FieldPath::from("sequence").index(i),
                r.status,
                &r.headers,
                &r.body,
                r.delay,
                max_body,
            )?);
        }
        let fault = match &self.fault {
            None => None,
            Some(f) => {
                if !(0.0..=1.0).contains(&f.rate) || f.rate.is_nan() {
                    return Err(bad(
                        FieldPath::from("fault").key("rate"),
                        "must be a fraction from 0.0 to 1.0",
                    ));
                }
                if !f.drop && f.status.is_none() && f.delay.is_none() {
                    return Err(bad(
                        "fault",
                        "say what a fault does: status, drop = true, or delay",
                    ));
                }
                Some(Fault {
                    rate: f.rate,
                    status: check_status(
                        FieldPath::from("fault").key("status"),
                        Some(f.status.unwrap_or(503)),
                    )?,
                    drop: f.drop,
                    delay: f.delay.map(|d| d.0).unwrap_or_default(),
                })
            }
        };
        let verify = match &self.verify {
            None => None,
            Some(v) => {
                let scheme: Scheme = v.scheme.parse().map_err(|_| {
                    bad(
                        FieldPath::from("verify").key("scheme"),
                        format!(
                            "`{}` is not one of standard-webhooks, github, stripe, shopify, slack",
                            v.scheme
                        ),
                    )
                })?;
                if v.secret.is_empty() {
                    return Err(bad(
                        FieldPath::from("verify").key("secret"),
                        "must not be empty",
                    ));
                }
                let whsec = if scheme == Scheme::StandardWebhooks {
                    Some(sign::Secret::parse(&v.secret).map_err(|e| {
                        bad(
                            FieldPath::from("verify").key("secret"),
                            format!("not a whsec_ secret: {e}"),
                        )
                    })?)
                } else {
                    None
                };
                Some(Verify {
                    scheme,
                    secret: v.secret.clone(),
                    whsec,
                    tolerance: v.tolerance.map(|d| d.0).unwrap_or(Duration::from_secs(300)),
                })
            }
        };
        let forward = match &self.forward {
            None => None,
            Some(f) => {
                let url =
                    check_url(&f.url).map_err(|m| bad(FieldPath::from("forward").key("url"), m))?;
                let mode = match f.mode.as_deref().unwrap_or("mirror") {
                    "mirror" => ForwardMode::Mirror,
                    "passthrough" => ForwardMode::Passthrough,
                    other => {
                        return Err(bad(
                            FieldPath::from("forward").key("mode"),
                            format!("`{other}` is not mirror or passthrough"),
                        ))
                    }
                };
                Some(Forward {
                    url: url.trim_end_matches('/').to_owned(),
                    mode,
                    timeout: f.timeout.map(|d| d.0).unwrap_or(Duration::from_secs(30)),
                    insecure_tls: f.insecure_tls,
                })
            }
        };
        if self.max_requests == Some(0) {
            return Err(bad("max_requests", "must be at least 1"));
        }
        let limit = match &self.limit {
            None => None,
            Some(l) => Some(Arc::new(Limiter::new(
                l.check(FieldPath::from("limit"))?,
                std::time::Instant::now(),
            ))),
        };
        let seed = match self.fault.as_ref().and_then(|f| f.seed) {
            Some(s) => s,
            None => {
                let mut b = [0u8; 8];
                let _ = getrandom::fill(&mut b);
                u64::from_le_bytes(b)
            }
        };
        Ok(BinRules {
            response,
            rules,
            sequence,
            fault,
            verify,
            forward,
            limit,
            seed,
        })
    }
}

/// A bin config that passed validation, with its compiled rules and its JSON form: everything a
/// bin is set to. Made once, where a config comes in (the API, a config file's `[[bin]]`, an
/// embedder's `BinRef::configure`); the store applies it as it is.
#[derive(Debug, Clone)]
pub struct BinSetup {
    pub config: BinConfig,
    pub rules: BinRules,
    /// The config as the API shows it.
    pub json: serde_json::Value,
}

impl BinSetup {
    /// Parses, validates and compiles a JSON config whose response bodies must each fit in
    /// `max_body` bytes, naming the field of the first problem.
    pub fn from_json(v: &serde_json::Value, max_body: usize) -> Checked<BinSetup> {
        BinSetup::new(BinConfig::parse(v)?, max_body)
    }

    /// Validates and compiles a config built in code, its bodies bounded by `max_body` bytes.
    pub fn new(config: BinConfig, max_body: usize) -> Checked<BinSetup> {
        let rules = config.compile_within(max_body)?;
        let json =
            serde_json::to_value(&config).map_err(|e| bad(FieldPath::root(), e.to_string()))?;
        Ok(BinSetup {
            config,
            rules,
            json,
        })
    }

    /// Checks the response bodies against `max_body`, for a server whose limit is lower than
    /// the one the config was validated with; names the first body that does not fit, in the
    /// order validation checks them.
    pub fn check_bodies(&self, max_body: usize) -> Checked<()> {
        let r = &self.rules;
        let answers = r
            .response
            .iter()
            .map(|a| (FieldPath::from("response"), a))
            .chain(
                r.rules
                    .iter()
                    .enumerate()
                    .map(|(i, rule)| (FieldPath::from("rules").index(i), &rule.answer)),
            )
            .chain(
                r.sequence
                    .iter()
                    .enumerate()
                    .map(|(i, a)| (FieldPath::from("sequence").index(i), a)),
            );
        for (field, a) in answers {
            if let Some(t) = &a.body {
                body_fits(&field, t.len, max_body)?;
            }
        }
        Ok(())
    }
}

/// SplitMix64: small, seedable, good enough to pick which requests fail.
fn next_random(state: &mut u64) -> f64 {
    crate::rand::next_f64(state)
}

impl BinRules {
    /// Has a sequence.
    pub fn has_sequence(&self) -> bool {
        !self.sequence.is_empty()
    }

    /// How many steps the sequence has.
    pub fn sequence_len(&self) -> usize {
        self.sequence.len()
    }

    /// Has a fault rate (each request draws from the generator once its sequence is done).
    pub fn has_fault(&self) -> bool {
        self.fault.is_some()
    }

    /// Decides the response to `r`: the next sequence step while any remain, else a fault when
    /// the generator says so, else the first matching rule, else the bin's response, else
    /// `default`. Advances `progress`.
    pub fn decide(
        &self,
        r: &CapturedRequest,
        progress: &mut Progress,
        default: impl FnOnce() -> ResponseSent,
    ) -> Decision {
        self.decide_matched(r, progress, || self.first_rule(r), default)
    }

    /// The index of the first rule whose filter `r` matches: the costly part of [`decide`]
    /// (filters over the body), so callers run it before taking the store's lock.
    ///
    /// [`decide`]: BinRules::decide
    pub fn first_rule(&self, r: &CapturedRequest) -> Option<usize> {
        // the body is parsed as JSON at most once for all the rules
        let body = BodyJson::default();
        self.rules
            .iter()
            .position(|rule| rule.filter.matches_with(r, &body))
    }

    /// Whether matching the rules may read the body (worth doing off the async workers for a
    /// large one).
    pub fn has_rules(&self) -> bool {
        !self.rules.is_empty()
    }

    /// [`decide`] with the rule matching done by `matched` (e.g. [`first_rule`] run earlier,
    /// outside a lock); it is called only when no sequence step or fault answers first.
    ///
    /// [`decide`]: BinRules::decide
    /// [`first_rule`]: BinRules::first_rule
    pub fn decide_matched(
        &self,
        r: &CapturedRequest,
        progress: &mut Progress,
        matched: impl FnOnce() -> Option<usize>,
        default: impl FnOnce() -> ResponseSent,
    ) -> Decision {
        if let Some(step) = self.sequence.get(progress.sequence_position) {
            progress.sequence_position += 1;
            return render(step, r);
        }
        if let Some(f) = &self.fault {
            if next_random(&mut progress.rng) < f.rate {
                // a 204, 205 or 304 goes out without a body: record what was sent
                let (headers, body) = if bodiless(f.status) {
                    (Vec::new(), Bytes::new())
                } else {
                    let body = format!(
                        r#"{{"ok":false,"bin":"{}","id":{},"fault":true}}"#,
                        r.bin, r.id
                    );
                    (
                        vec![Header::new("Content-Type", &b"application/json"[..])],
                        Bytes::from(body),
                    )
                };
                return Decision {
                    response: ResponseSent {
                        status: f.status,
                        headers: headers.into(),
                        body: Body::new(body, false),
                        delay_ms: f.delay.as_millis() as u64,
                        dropped: f.drop,
                    },
                    delay: f.delay,
                    drop: f.drop,
                };
            }
        }
        if let Some(rule) = matched().and_then(|i| self.rules.get(i)) {
            return render(&rule.answer, r);
        }
        match &self.response {
            Some(a) => render(a, r),
            None => Decision {
                response: default(),
                delay: Duration::ZERO,
                drop: false,
            },
        }
    }

    /// Checks the request's signature when the bin verifies: the plain check first and, for a
    /// request that fails it, the signature doctor's diagnosis (why, expected vs received).
    /// Called on the capture path outside the store's lock. A body up to
    /// [`DIAGNOSE_INLINE_MAX`] is diagnosed here; a larger one keeps the plain verdict and,
    /// while `diagnoses` has room in its queue, a [`LateDiagnosis`] is handed back for the
    /// caller to run once the request is recorded and answered (see [`Diagnoses::run`]), so
    /// re-serialising and re-hashing a large body never delays the sender's answer. With the
    /// queue full, the check keeps its plain verdict and says it was not diagnosed further, so a
    /// flood of large badly signed bodies costs no more than their plain check.
    pub fn check_signature(
        &self,
        r: &CapturedRequest,
        now_unix: i64,
        diagnoses: &Diagnoses,
    ) -> (Option<SignatureCheck>, Option<LateDiagnosis>) {
        let Some(v) = self.verify.as_ref() else {
            return (None, None);
        };
        let headers: Vec<(&str, &[u8])> = r.headers.iter().map(|h| (&*h.name, &*h.value)).collect();
        let tolerance = v.tolerance.as_secs() as i64;
        let verdict = match &v.whsec {
            Some(secret) => sign::verify(secret, &headers, &r.body.bytes, now_unix, tolerance),
            None => sign::verify_request(
                v.scheme,
                &v.secret,
                &headers,
                &r.body.bytes,
                now_unix,
                tolerance,
            ),
        };
        if verdict.is_valid() {
            return (Some(check(v, sign_valid())), None);
        }
        if r.body.bytes.len() <= DIAGNOSE_INLINE_MAX {
            let d = diagnose(v, &r.headers, &r.body.bytes, now_unix, tolerance);
            return (Some(check(v, d)), None);
        }
        match diagnoses.queue.clone().try_acquire_owned() {
            Ok(slot) => (
                Some(check(v, plain_diagnosis(verdict))),
                Some(LateDiagnosis {
                    verify: v.clone(),
                    now_unix,
                    tolerance,
                    _slot: slot,
                }),
            ),
            Err(_) => {
                let mut d = plain_diagnosis(verdict);
                d.reason = d.reason.map(|r| {
                    format!(
                        "{r} (not diagnosed further: many large bodies were waiting for diagnosis)"
                    )
                });
                (Some(check(v, d)), None)
            }
        }
    }
}

/// The server's large-body diagnoses: at most [`DIAGNOSES_QUEUED`] waiting or running, of
/// which [`DIAGNOSES_AT_ONCE`] run at a time on the blocking pool.
#[derive(Clone)]
pub struct Diagnoses {
    queue: Arc<tokio::sync::Semaphore>,
    running: Arc<tokio::sync::Semaphore>,
}

impl Default for Diagnoses {
    fn default() -> Self {
        Diagnoses::new(DIAGNOSES_QUEUED, DIAGNOSES_AT_ONCE)
    }
}

impl Diagnoses {
    /// Room for `queued` diagnoses, `at_once` of them running.
    pub fn new(queued: usize, at_once: usize) -> Diagnoses {
        Diagnoses {
            queue: Arc::new(tokio::sync::Semaphore::new(queued)),
            running: Arc::new(tokio::sync::Semaphore::new(at_once)),
        }
    }

    /// Runs `late` on `r` when a turn is free, on the blocking pool, and hands its verdict to
    /// `done` (the store's update of the recorded request).
    pub async fn run(
        &self,
        late: LateDiagnosis,
        r: Arc<CapturedRequest>,
        done: impl FnOnce(SignatureCheck) + Send + 'static,
    ) {
        let Ok(turn) = self.running.clone().acquire_owned().await else {
            return;
        };
        let _ = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            done(late.run(&r));
        })
        .await;
    }
}

/// A large request's signature diagnosis, to run after it is recorded: holds its place in the
/// server's queue of diagnoses until it is done.
pub struct LateDiagnosis {
    verify: Verify,
    now_unix: i64,
    tolerance: i64,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl LateDiagnosis {
    /// The doctor's verdict on `r` (slow: meant for the blocking pool).
    pub fn run(self, r: &CapturedRequest) -> SignatureCheck {
        let d = diagnose(
            &self.verify,
            &r.headers,
            &r.body.bytes,
            self.now_unix,
            self.tolerance,
        );
        check(&self.verify, d)
    }
}

/// A valid verdict as a diagnosis.
fn sign_valid() -> sign::Diagnosis {
    plain_diagnosis(Verdict::Valid)
}

/// The stored check of a verdict under `v`'s scheme.
fn check(v: &Verify, d: sign::Diagnosis) -> SignatureCheck {
    let valid = d.verdict.is_valid();
    SignatureCheck {
        scheme: v.scheme.as_str().to_owned(),
        valid,
        reason: if valid { None } else { d.reason },
        expected: if valid { None } else { d.expected },
        received: if valid { None } else { d.received },
    }
}

/// Bodies up to this size are diagnosed on the capture's own task: the doctor's tries (up to
/// about 20 MACs and 6 re-serialisations) stay well under a millisecond on a worker thread;
/// larger ones are diagnosed on the blocking pool after the answer.
pub const DIAGNOSE_INLINE_MAX: usize = 8 * 1024;

/// Larger bodies diagnosed at once, server-wide.
pub const DIAGNOSES_AT_ONCE: usize = 2;

/// Larger bodies waiting for their diagnosis or running, server-wide; past it a failed check
/// keeps its plain verdict.
pub const DIAGNOSES_QUEUED: usize = 64;

/// The signature doctor over one request, with the bin's verify settings.
fn diagnose(
    v: &Verify,
    headers: &[Header],
    body: &[u8],
    now_unix: i64,
    tolerance: i64,
) -> sign::Diagnosis {
    let headers: Vec<(&str, &[u8])> = headers.iter().map(|h| (&*h.name, &*h.value)).collect();
    sign::diagnose(v.scheme, &v.secret, &headers, body, now_unix, tolerance)
}

/// The plain verdict as a diagnosis (when the doctor could not run to its end).
fn plain_diagnosis(verdict: Verdict) -> sign::Diagnosis {
    let reason = match &verdict {
        Verdict::Valid => None,
        Verdict::Missing => Some("no signature headers".to_owned()),
        Verdict::Invalid(why) => Some(why.clone()),
    };
    sign::Diagnosis {
        verdict,
        reason,
        expected: None,
        received: None,
    }
}

fn render(a: &Answer, r: &CapturedRequest) -> Decision {
    let body = a.body.as_ref().map(|t| t.render(r)).unwrap_or_default();
    Decision {
        response: ResponseSent {
            status: a.status,
            headers: a.headers.clone(),
            body: Body::new(Bytes::from(body), false),
            delay_ms: a.delay.as_millis() as u64,
            dropped: false,
        },
        delay: a.delay,
        drop: false,
    }
}

/// A body with `{{…}}` placeholders filled from the request: `{{id}}`, `{{bin}}`, `{{method}}`,
/// `{{path}}`, `{{body}}`, `{{header:Name}}`, `{{query:key}}`, `{{json:/pointer}}` (a string
/// value as its text, anything else as JSON).
#[derive(Debug, Clone)]
struct Template {
    parts: Arc<[Part]>,
    /// The template's own length, for the render bound.
    len: usize,
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Hole(String),
}

/// Appends to a buffer up to a fixed capacity and drops the rest.
struct Bounded {
    out: Vec<u8>,
    cap: usize,
}

impl Bounded {
    fn push(&mut self, b: &[u8]) {
        let room = self.cap.saturating_sub(self.out.len());
        self.out.extend_from_slice(&b[..b.len().min(room)]);
    }

    fn full(&self) -> bool {
        self.out.len() >= self.cap
    }
}

impl Template {
    fn parse(s: &str) -> Template {
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(i) = rest.find("{{") {
            let Some(j) = rest[i + 2..].find("}}") else {
                break;
            };
            if i > 0 {
                parts.push(Part::Text(rest[..i].to_owned()));
            }
            parts.push(Part::Hole(rest[i + 2..i + 2 + j].trim().to_owned()));
            rest = &rest[i + 2 + j + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Template {
            parts: parts.into(),
            len: s.len(),
        }
    }

    /// The most bytes a rendering against `r` may produce (see [`MAX_RENDER`]).
    fn cap(&self, r: &CapturedRequest) -> usize {
        MAX_RENDER.max(
            self.len
                .saturating_add(r.body.bytes.len())
                .saturating_add(64 * 1024),
        )
    }

    fn render(&self, r: &CapturedRequest) -> Vec<u8> {
        let mut out = Bounded {
            out: Vec::new(),
            cap: self.cap(r),
        };
        let mut json: Option<Option<serde_json::Value>> = None;
        for p in self.parts.iter() {
            if out.full() {
                break;
            }
            match p {
                Part::Text(t) => out.push(t.as_bytes()),
                Part::Hole(h) => match h.split_once(':').unwrap_or((h.as_str(), "")) {
                    ("id", _) => out.push(r.id.to_string().as_bytes()),
                    ("bin", _) => out.push(r.bin.as_bytes()),
                    ("method", _) => out.push(r.method.as_bytes()),
                    ("path", _) => out.push(r.path().as_bytes()),
                    ("body", _) => out.push(&r.body.bytes),
                    ("header", name) => {
                        if let Some(v) = r.header_all(name).next() {
                            out.push(v);
                        }
                    }
                    ("query", key) => {
                        if let Some(v) = r.query_param(key) {
                            out.push(v.as_bytes());
                        }
                    }
                    ("json", pointer) => {
                        let doc = json.get_or_insert_with(|| r.json());
                        match doc.as_ref().and_then(|d| d.pointer(pointer)) {
                            Some(serde_json::Value::String(s)) => out.push(s.as_bytes()),
                            Some(v) => out.push(v.to_string().as_bytes()),
                            None => {}
                        }
                    }
                    _ => {
                        out.push(b"{{");
                        out.push(h.as_bytes());
                        out.push(b"}}");
                    }
                },
            }
        }
        out.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(v: serde_json::Value) -> Checked<BinConfig> {
        BinConfig::from_json(&v)
    }

    /// A request `POST /b?k=v` to bin `b`, id 9.
    fn request(body: &[u8], headers: Vec<Header>) -> CapturedRequest {
        CapturedRequest {
            id: 9,
            bin: "b".into(),
            received_at: std::time::SystemTime::now(),
            timings: Default::default(),
            method: "POST".into(),
            target: "/b?k=v".into(),
            split: None,
            version: "HTTP/1.1".into(),
            remote_addr: "127.0.0.1:1".parse().unwrap(),
            headers,
            body: Body::new(Bytes::copy_from_slice(body), false),
            response: Default::default(),
            signature: None,
            forward: None,
        }
    }

    #[tokio::test]
    async fn a_large_failed_body_is_diagnosed_after_recording_and_only_while_the_queue_has_room() {
        let setup = BinSetup::from_json(
            &serde_json::json!({"verify": {"scheme": "github", "secret": "s"}}),
            usize::MAX,
        )
        .unwrap();
        let body = format!("{{\"pad\": \"{}\"}}", "a".repeat(DIAGNOSE_INLINE_MAX));
        let bad = Header::new(
            "X-Hub-Signature-256",
            format!("sha256={}", "0".repeat(64)).as_bytes(),
        );
        let r = request(body.as_bytes(), vec![bad]);
        let full = Diagnoses::new(0, 1);
        let (plain, late) = setup.rules.check_signature(&r, 0, &full);
        let plain = plain.unwrap();
        assert!(!plain.valid && late.is_none());
        let why = plain.reason.unwrap();
        assert!(why.contains("not diagnosed further"), "{why}");
        let room = Diagnoses::new(1, 1);
        let (now, late) = setup.rules.check_signature(&r, 0, &room);
        // answered with the plain verdict; the doctor's comes later, holding its place
        assert!(now.unwrap().expected.is_none());
        let late = late.expect("a diagnosis to run after recording");
        assert_eq!(
            room.queue.available_permits(),
            0,
            "its place is held while it waits"
        );
        let (tx, rx) = std::sync::mpsc::channel();
        room.run(late, Arc::new(r), move |c| tx.send(c).unwrap())
            .await;
        let full = rx.recv().unwrap();
        assert!(!full.valid);
        let why = full.reason.unwrap();
        assert!(!why.contains("not diagnosed further"), "{why}");
        assert!(full.expected.is_some(), "the doctor ran: {why}");
        assert_eq!(room.queue.available_permits(), 1, "its place is given back");
        assert_eq!(
            room.running.available_permits(),
            1,
            "its turn is given back"
        );
    }

    #[test]
    fn a_problem_names_its_field_as_keys_and_positions() {
        let e = cfg(serde_json::json!({"sequence": [{}, {"status": "x"}]})).unwrap_err();
        assert_eq!(e.field, FieldPath::from("sequence").index(1).key("status"));
        let e = cfg(serde_json::json!({"rules": [{"match": "method:GET",
            "headers": [["X-A", "1"], ["bad name", "v"]]}]}))
        .unwrap_err();
        let rule = FieldPath::from("rules").index(0);
        assert_eq!(e.field, rule.key("headers").index(1));
        let e = cfg(serde_json::json!({"response": {"headers": [["Connection", "close"]]}}))
            .unwrap_err();
        let framing = FieldPath::from("response").key("headers").key("Connection");
        assert_eq!(e.field, framing);
        let e = cfg(serde_json::json!("not an object")).unwrap_err();
        assert_eq!(e.field, FieldPath::root());
    }

    #[test]
    fn a_setup_checks_its_bodies_against_a_lower_limit_as_validation_would() {
        let v = serde_json::json!({"response": {"body": "12345"},
            "sequence": [{"body": "1234567"}]});
        let s = BinSetup::from_json(&v, usize::MAX).unwrap();
        assert!(s.check_bodies(7).is_ok());
        for limit in [6, 4] {
            let late = s.check_bodies(limit).unwrap_err();
            let early = BinSetup::from_json(&v, limit).unwrap_err();
            assert_eq!(late, early);
        }
        assert_eq!(
            s.check_bodies(6).unwrap_err().field,
            FieldPath::from("sequence").index(0).key("body")
        );
        assert_eq!(
            s.check_bodies(4).unwrap_err().field,
            FieldPath::from("response").key("body")
        );
    }

    #[test]
    fn a_bad_value_names_its_field() {
        let e = cfg(serde_json::json!({"fault": {"rate": 2.0, "status": 500}})).unwrap_err();
        assert!(e.to_string().starts_with("fault.rate:"), "{e}");
        let e =
            cfg(serde_json::json!({"sequence": [{"status": 200}, {"status": "x"}]})).unwrap_err();
        assert!(e.to_string().starts_with("sequence[1].status:"), "{e}");
        let e = cfg(serde_json::json!({"respnse": {}})).unwrap_err();
        assert!(e.to_string().contains("respnse"), "{e}");
        let e = cfg(serde_json::json!({"verify": {"scheme": "md5", "secret": "x"}})).unwrap_err();
        assert!(e.to_string().starts_with("verify.scheme:"), "{e}");
        let e = cfg(serde_json::json!({"forward": {"url": "ftp://x"}})).unwrap_err();
        assert!(e.to_string().starts_with("forward.url:"), "{e}");
        let e = cfg(serde_json::json!({"rules": [{"match": "bogus:1"}]})).unwrap_err();
        assert!(e.to_string().starts_with("rules[0].match:"), "{e}");
        let e = cfg(serde_json::json!({"response": {"delay": "soon"}})).unwrap_err();
        assert!(e.to_string().starts_with("response.delay:"), "{e}");
    }

    #[test]
    fn the_fault_generator_is_seeded_and_hits_its_fraction() {
        let mut p = Progress {
            sequence_position: 0,
            rng: 7,
        };
        let hits = (0..10_000)
            .filter(|_| next_random(&mut p.rng) < 0.25)
            .count();
        assert!((2300..2700).contains(&hits), "{hits}");
        let mut a = 7;
        let mut b = 7;
        assert_eq!(next_random(&mut a), next_random(&mut b));
    }

    #[test]
    fn templates_fill_placeholders_from_the_request() {
        let t = Template::parse(
            r#"{"challenge":"{{json:/challenge}}","n":{{json:/n}},"h":"{{header:X-A}}","q":"{{query:k}}","id":{{id}}{{unknown}}"#,
        );
        let r = request(
            br#"{"challenge":"abc","n":[1,2]}"#,
            vec![Header::new("x-a", &b"1"[..])],
        );
        assert_eq!(
            String::from_utf8(t.render(&r)).unwrap(),
            r#"{"challenge":"abc","n":[1,2],"h":"1","q":"v","id":9{{unknown}}"#
        );
    }

    #[test]
    fn placeholders_cannot_multiply_a_request_past_the_render_bound() {
        let t = Template::parse(&"{{body}}".repeat(2000));
        let r = request(&vec![b'x'; 64 * 1024], vec![]);
        let out = t.render(&r);
        assert_eq!(out.len(), MAX_RENDER);
        // one echo of a body larger than the fixed bound is still whole
        let big = vec![b'y'; MAX_RENDER + 10];
        let out = Template::parse("<{{body}}>").render(&request(&big, vec![]));
        assert_eq!(out.len(), big.len() + 2);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn config() -> ProptestConfig {
            ProptestConfig {
                cases: 128,
                failure_persistence: None,
                ..ProptestConfig::default()
            }
        }

        /// Any JSON value, a few levels deep, biased toward the config's own keys.
        fn json() -> impl Strategy<Value = serde_json::Value> {
            let key = prop_oneof![
                Just("response".to_owned()),
                Just("rules".to_owned()),
                Just("sequence".to_owned()),
                Just("fault".to_owned()),
                Just("verify".to_owned()),
                Just("forward".to_owned()),
                Just("status".to_owned()),
                Just("headers".to_owned()),
                Just("body".to_owned()),
                Just("delay".to_owned()),
                Just("match".to_owned()),
                Just("rate".to_owned()),
                Just("url".to_owned()),
                Just("max_requests".to_owned()),
                Just("limit".to_owned()),
                Just("per".to_owned()),
                Just("burst".to_owned()),
                "[a-z_]{0,8}",
            ];
            let leaf = prop_oneof![
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                any::<u16>().prop_map(serde_json::Value::from),
                any::<f64>().prop_map(serde_json::Value::from),
                ".{0,12}".prop_map(serde_json::Value::from),
                "[0-9]{1,4}(ms|s|m|h)?".prop_map(serde_json::Value::from),
            ];
            leaf.prop_recursive(4, 64, 8, move |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                    prop::collection::vec((key.clone(), inner), 0..6)
                        .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
                ]
            })
        }

        fn dur() -> impl Strategy<Value = Option<Dur>> {
            prop::option::of((0u64..100_000).prop_map(|ms| Dur(Duration::from_millis(ms))))
        }

        fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
            prop::collection::vec(("X-[A-Za-z0-9-]{1,10}", "[ -~]{0,20}"), 0..4)
        }

        fn body() -> impl Strategy<Value = Option<serde_json::Value>> {
            prop::option::of(prop_oneof![
                ".{0,30}".prop_map(serde_json::Value::from),
                any::<i32>().prop_map(|n| serde_json::json!({"n": n, "ok": true})),
            ])
        }

        fn response() -> impl Strategy<Value = ResponseSpec> {
            (prop::option::of(200u16..=599), headers(), body(), dur()).prop_map(
                |(status, headers, body, delay)| ResponseSpec {
                    status,
                    headers,
                    body: if status.is_some_and(bodiless) {
                        None
                    } else {
                        body
                    },
                    delay,
                },
            )
        }

        fn rule() -> impl Strategy<Value = RuleSpec> {
            let filter = prop_oneof![
                Just("method:POST"),
                Just("path:/a/*"),
                Just("json:/type=ping"),
                Just("header:X-A=1 -method:GET"),
                Just(""),
            ];
            (filter, response()).prop_map(|(when, r)| RuleSpec {
                when: when.to_owned(),
                status: r.status,
                headers: r.headers,
                body: r.body,
                delay: r.delay,
            })
        }

        /// Configs that are valid by construction.
        fn limit() -> impl Strategy<Value = crate::limit::LimitSpec> {
            (
                1u64..1000,
                prop::option::of((1u64..86_400).prop_map(|s| Dur(Duration::from_secs(s)))),
                prop::option::of(1u64..1000),
                prop::option::of(400u16..600),
            )
                .prop_map(|(rate, per, burst, status)| crate::limit::LimitSpec {
                    rate,
                    per,
                    burst,
                    status,
                })
        }

        fn valid() -> impl Strategy<Value = BinConfig> {
            let fault = (
                0.0f64..=1.0,
                prop::option::of(200u16..=599),
                any::<bool>(),
                dur(),
                prop::option::of(any::<u64>()),
            )
                .prop_map(|(rate, status, drop, delay, seed)| FaultSpec {
                    rate,
                    status: status.or((!drop && delay.is_none()).then_some(503)),
                    drop,
                    delay,
                    seed,
                });
            let verify = (
                prop_oneof![
                    Just("github"),
                    Just("stripe"),
                    Just("shopify"),
                    Just("slack")
                ],
                "[a-z0-9]{1,16}",
                dur(),
            )
                .prop_map(|(scheme, secret, tolerance)| VerifySpec {
                    scheme: scheme.to_owned(),
                    secret,
                    tolerance,
                });
            let forward = (
                "http://[a-z]{1,8}(:[1-9][0-9]{0,3})?(/[a-z]{0,6})?",
                prop::option::of(prop_oneof![Just("mirror"), Just("passthrough")]),
                dur(),
                any::<bool>(),
            )
                .prop_map(|(url, mode, timeout, insecure_tls)| ForwardSpec {
                    url,
                    mode: mode.map(str::to_owned),
                    timeout,
                    insecure_tls,
                });
            (
                prop::option::of(response()),
                prop::collection::vec(rule(), 0..4),
                prop::collection::vec(response(), 0..4),
                prop::option::of(fault),
                prop::option::of(verify),
                prop::option::of(forward),
                prop::option::of(1usize..10_000),
                prop::option::of(limit()),
            )
                .prop_map(
                    |(response, rules, sequence, fault, verify, forward, max_requests, limit)| {
                        BinConfig {
                            response,
                            rules,
                            sequence,
                            fault,
                            verify,
                            forward,
                            max_requests,
                            limit,
                        }
                    },
                )
        }

        proptest! {
            #![proptest_config(config())]

            #[test]
            fn any_json_value_is_parsed_or_refused_without_panicking(v in json()) {
                if let Err(e) = BinConfig::from_json(&v) {
                    prop_assert!(!e.message.is_empty(), "{e:?}");
                }
            }

            #[test]
            fn valid_configs_round_trip_through_their_json_form(c in valid()) {
                let v = serde_json::to_value(&c).unwrap();
                let back = BinConfig::from_json(&v);
                prop_assert!(back.is_ok(), "{v}: {:?}", back.err());
                prop_assert_eq!(back.unwrap(), c);
            }

            #[test]
            fn placeholders_render_any_template_against_any_body_within_a_linear_bound(
                template in prop::collection::vec(
                    prop_oneof![
                        Just("{{".to_owned()),
                        Just("}}".to_owned()),
                        Just("{{body}}".to_owned()),
                        Just("{{json:/a/0/b}}".to_owned()),
                        Just("{{json:}}".to_owned()),
                        Just("{{json:/~1x/~0}}".to_owned()),
                        Just("{{header:X-A}}".to_owned()),
                        Just("{{query:k}}".to_owned()),
                        Just("{{id}}{{bin}}{{method}}{{path}}".to_owned()),
                        ".{0,8}",
                    ],
                    0..40,
                ).prop_map(|v| v.concat()),
                body in prop_oneof![
                    prop::collection::vec(any::<u8>(), 0..200),
                    json().prop_map(|v| v.to_string().into_bytes()),
                ],
                header in prop::collection::vec(any::<u8>(), 0..50),
            ) {
                let t = Template::parse(&template);
                let r = request(&body, vec![Header::new("X-A", header.clone())]);
                let out = t.render(&r);
                prop_assert!(out.len() <= t.cap(&r));
                // each placeholder adds at most one request-sized piece (JSON values may be
                // re-serialized up to twice as long as their source)
                let holes = template.matches("{{").count();
                let piece = 2 * body.len() + header.len() + r.target.len() + 64;
                prop_assert!(out.len() <= template.len() + holes * piece,
                    "{} bytes from a {}-byte template", out.len(), template.len());
            }
        }
    }
}
