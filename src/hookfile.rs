//! The declarations hookpit reads at start-up — `hookpit.toml` (SPEC §7): `[server]` settings,
//! `[[bin]]`s, `[[webhook]]`s and `[[event]]`s — and the webhook definition shared with the API:
//! a loose [`WebhookInput`] (from TOML or JSON) validated into a [`WebhookDef`].
//!
//! Uses `config` (sizes, durations, [`Config`]), `catalog`, `sign` (secrets), `model` (bin names)
//! and `error`. Plain data and pure functions, apart from reading the config file and the event
//! sample files it names. Every problem in a file becomes one [`Error::Config`] naming the file,
//! the line and the key (`hookpit.toml:12: webhook.url: …`); the same [`FieldError`]s become `400`s
//! naming the field when they come through the API.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use toml::de::{DeTable, DeValue};

use crate::catalog::{Catalog, EventDef};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::sign::Secret;
use crate::units::NumOrText;

/// The file looked for in the working directory when `--config` is not given.
pub const FILE_NAME: &str = "hookpit.toml";
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

// ---------------------------------------------------------------------------------------------
// Webhook definitions
// ---------------------------------------------------------------------------------------------

/// A problem with one field of a webhook (or other declaration): the field's dotted name and
/// what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Error {
        Error::bad(e.field, e.message)
    }
}

/// How deliveries are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureScheme {
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>` (the default).
    #[default]
    StandardWebhooks,
    /// `X-Hub-Signature-256: sha256=<hex>` over the body, the secret used as raw bytes.
    Github,
    /// No signature header (`webhook-id` and `webhook-timestamp` are still sent).
    None,
}

impl SignatureScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureScheme::StandardWebhooks => "standard-webhooks",
            SignatureScheme::Github => "github",
            SignatureScheme::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<SignatureScheme> {
        match s.trim().to_ascii_lowercase().as_str() {
            "standard-webhooks" | "standard_webhooks" | "standard" => {
                Some(SignatureScheme::StandardWebhooks)
            }
            "github" => Some(SignatureScheme::Github),
            "none" => Some(SignatureScheme::None),
            _ => None,
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
    /// `whsec_…` for Standard Webhooks (canonical form); any text for `github`.
    pub secret: String,
    pub signature: SignatureScheme,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub format: Format,
    pub insecure_tls: bool,
}

/// One text or a list of texts (`events = "payment_received"` or `events = ["a", "b"]`).
fn one_or_many<'de, D: Deserializer<'de>>(
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
const RESERVED_HEADERS: [&str; 8] = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-hub-signature-256",
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
                    format!("expected standard-webhooks, github or none, got `{s}`"),
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
                        "retry.schedule",
                        format!("at most {MAX_SCHEDULE_STEPS} steps"),
                    ));
                }
                let mut steps = Vec::with_capacity(schedule.len());
                for s in &schedule {
                    let d = s
                        .duration()
                        .map_err(|m| FieldError::new("retry.schedule", m))?;
                    if d > MAX_STEP {
                        return Err(FieldError::new(
                            "retry.schedule",
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
                        "retry.time_scale",
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
        if hyper::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
            return Err(FieldError::new(
                "headers",
                format!("`{k}` is not a valid header name"),
            ));
        }
        if hyper::header::HeaderValue::from_str(&v).is_err() {
            return Err(FieldError::new(
                "headers",
                format!("the value of `{k}` is not a valid header value"),
            ));
        }
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

/// Is `name` usable as a custom event name: `[A-Za-z0-9][A-Za-z0-9._:-]{0,99}`.
pub fn valid_event_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 100
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b':'))
}

// ---------------------------------------------------------------------------------------------
// The config file
// ---------------------------------------------------------------------------------------------

/// A bin declared in the file: its name and the bin config keys of SPEC §12, as JSON (validated
/// by whoever applies them), with the line of its `[[bin]]` for error messages.
#[derive(Debug, Clone, PartialEq)]
pub struct BinDecl {
    pub name: String,
    pub config: Value,
    pub line: usize,
}

/// The `[server]` section: the same settings as the `serve` flags.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerSettings {
    pub listen: Option<SocketAddr>,
    pub max_body: Option<usize>,
    pub max_requests: Option<usize>,
    pub max_memory: Option<usize>,
    pub max_bins: Option<usize>,
    pub header_timeout: Option<Duration>,
    pub body_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub allow_host: Vec<String>,
    pub token: Option<String>,
    pub trust_proxy: Option<bool>,
}

/// A parsed and validated config file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HookFile {
    /// The file as named in messages (`hookpit.toml`, or the `--config` path).
    pub label: String,
    pub path: PathBuf,
    pub server: ServerSettings,
    pub bins: Vec<BinDecl>,
    pub webhooks: Vec<WebhookDef>,
    pub events: Vec<EventDef>,
}

impl HookFile {
    /// Puts the file's settings into `c` (flags are applied afterwards and win). A file that
    /// declares no `[[webhook]]` keeps the "Local demo" webhook.
    pub fn apply(self, c: &mut Config) {
        let s = self.server;
        if let Some(v) = s.listen {
            c.listen = v;
        }
        if let Some(v) = s.max_body {
            c.max_body = v;
        }
        if let Some(v) = s.max_requests {
            c.max_requests = v;
        }
        if let Some(v) = s.max_memory {
            c.max_memory = v;
        }
        if let Some(v) = s.max_bins {
            c.max_bins = v;
        }
        if let Some(v) = s.header_timeout {
            c.header_timeout = v;
        }
        if let Some(v) = s.body_timeout {
            c.body_timeout = v;
        }
        if let Some(v) = s.idle_timeout {
            c.idle_timeout = v;
        }
        c.allow_hosts.extend(s.allow_host);
        if s.token.is_some() {
            c.token = s.token;
        }
        if let Some(v) = s.trust_proxy {
            c.trust_proxy = v;
        }
        c.demo_webhook = self.webhooks.is_empty();
        c.webhooks = self.webhooks;
        c.events = self.events;
        c.bins = self.bins;
        c.config_file = Some(self.path);
    }
}

/// The configuration `serve` starts from: `explicit` (`--config`, must exist), else
/// `hookpit.toml` in the working directory when there is one, else the defaults.
pub fn base_config(explicit: Option<&Path>) -> Result<Config> {
    let mut c = Config::default();
    let file = match explicit {
        Some(p) => Some((p.to_path_buf(), p.display().to_string())),
        None => {
            let p = Path::new(FILE_NAME);
            p.is_file().then(|| (p.to_path_buf(), FILE_NAME.to_owned()))
        }
    };
    if let Some((path, label)) = file {
        load(&path, &label)?.apply(&mut c);
    }
    Ok(c)
}

/// Reads and validates a config file; `label` names it in error messages.
pub fn load(path: &Path, label: &str) -> Result<HookFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::bad("--config", format!("cannot read `{}`: {e}", path.display())))?;
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut f = parse(&text, label, &dir)?;
    f.path = path.to_path_buf();
    Ok(f)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    server: Option<RawServer>,
    #[serde(default)]
    bin: Vec<RawBin>,
    #[serde(default)]
    webhook: Vec<WebhookInput>,
    #[serde(default)]
    event: Vec<RawEvent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    #[serde(default)]
    listen: Option<String>,
    #[serde(default)]
    max_body: Option<NumOrText>,
    #[serde(default)]
    max_requests: Option<i64>,
    #[serde(default)]
    max_memory: Option<NumOrText>,
    #[serde(default)]
    max_bins: Option<i64>,
    #[serde(default)]
    header_timeout: Option<NumOrText>,
    #[serde(default)]
    body_timeout: Option<NumOrText>,
    #[serde(default)]
    idle_timeout: Option<NumOrText>,
    #[serde(default, deserialize_with = "one_or_many")]
    allow_host: Option<Vec<String>>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    trust_proxy: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBin {
    name: String,
    #[serde(default)]
    response: Option<Value>,
    #[serde(default)]
    sequence: Option<Value>,
    #[serde(default)]
    fault: Option<Value>,
    #[serde(default)]
    verify: Option<Value>,
    #[serde(default)]
    forward: Option<Value>,
    #[serde(default)]
    rules: Option<Value>,
    #[serde(default)]
    max_requests: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    name: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    sample: Option<Value>,
    #[serde(default)]
    sample_file: Option<String>,
}

/// One step of a path into the document.
#[derive(Debug, Clone, Copy)]
enum Seg<'s> {
    Key(&'s str),
    Index(usize),
}

/// Turns paths and byte offsets into `file:line: key:` errors.
struct Locator<'a, 'i> {
    label: &'a str,
    text: &'a str,
    root: &'a DeTable<'i>,
}

impl Locator<'_, '_> {
    fn line_of(&self, pos: usize) -> usize {
        let end = pos.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn error(&self, line: usize, key: &str, message: impl Into<String>) -> Error {
        Error::Config {
            file: self.label.to_owned(),
            line,
            key: key.to_owned(),
            message: message.into(),
        }
    }

    /// The span of the value at `path`, or of the deepest part of it that exists.
    fn span_of(&self, path: &[Seg]) -> Option<Range<usize>> {
        let mut span: Option<Range<usize>> = None;
        let mut table: Option<&DeTable> = Some(self.root);
        let mut array: Option<&[toml::Spanned<DeValue>]> = None;
        for seg in path.iter().copied() {
            let next = match (seg, table, array) {
                (Seg::Key(k), Some(t), _) => t
                    .iter()
                    .find(|(key, _)| key.get_ref().as_ref() == k)
                    .map(|(_, v)| v),
                (Seg::Index(i), _, Some(a)) => a.get(i),
                _ => None,
            };
            let Some(v) = next else { break };
            span = Some(v.span());
            table = None;
            array = None;
            match v.get_ref() {
                DeValue::Table(t) => table = Some(t),
                DeValue::Array(a) => array = Some(a),
                _ => {}
            }
        }
        span
    }

    /// An error about the value at `path`.
    fn at(&self, path: &[Seg], message: impl Into<String>) -> Error {
        let line = self
            .span_of(path)
            .map(|s| self.line_of(s.start))
            .unwrap_or(1);
        self.error(line, &display_key(path), message)
    }

    /// The dotted key whose key or value covers `pos`.
    fn key_at(&self, pos: usize) -> String {
        let mut path = Vec::new();
        find_key(self.root, pos, &mut path);
        path.join(".")
    }
}

fn contains(span: &Range<usize>, pos: usize) -> bool {
    span.start <= pos && pos < span.end.max(span.start + 1)
}

fn find_key(table: &DeTable, pos: usize, path: &mut Vec<String>) -> bool {
    for (k, v) in table.iter() {
        path.push(k.get_ref().to_string());
        if contains(&k.span(), pos) {
            return true;
        }
        match v.get_ref() {
            DeValue::Table(t) if find_key(t, pos, path) => return true,
            DeValue::Array(a) => {
                for item in a.iter() {
                    if let DeValue::Table(t) = item.get_ref() {
                        if find_key(t, pos, path) {
                            return true;
                        }
                    }
                }
            }
            _ => {}
        }
        if contains(&v.span(), pos) {
            return true;
        }
        path.pop();
    }
    false
}

fn display_key(path: &[Seg]) -> String {
    path.iter()
        .filter_map(|s| match s {
            Seg::Key(k) => Some(*k),
            Seg::Index(_) => None,
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Rewrites serde's wording into "what was expected".
fn serde_message(msg: &str) -> String {
    let msg = msg.trim();
    if let Some(rest) = msg.strip_prefix("unknown field ") {
        return match rest.split_once(", expected ") {
            Some((_, expected)) => {
                let list = expected.strip_prefix("one of ").unwrap_or(expected);
                // read-only fields and the `event` alias are for the API; a file does not set them
                let keys: Vec<&str> = list
                    .split(", ")
                    .map(|k| k.trim_matches('`'))
                    .filter(|k| !matches!(*k, "id" | "event" | "sent_count" | "last_status"))
                    .collect();
                format!("unknown key (expected one of: {})", keys.join(", "))
            }
            None => "unknown key".to_owned(),
        };
    }
    if let Some(rest) = msg.strip_prefix("invalid type: ") {
        if let Some((got, expected)) = rest.split_once(", expected ") {
            return format!("expected {expected}, got {got}");
        }
    }
    msg.to_owned()
}

fn toml_to_json_fixup(v: &mut Value) {
    // toml hands datetimes to serde as a one-key map; show them as text
    match v {
        Value::Object(m) => {
            if m.len() == 1 {
                if let Some(Value::String(s)) = m.get("$__toml_private_datetime") {
                    *v = Value::String(s.clone());
                    return;
                }
            }
            m.values_mut().for_each(toml_to_json_fixup);
        }
        Value::Array(a) => a.iter_mut().for_each(toml_to_json_fixup),
        _ => {}
    }
}

/// Parses and validates a config file's text. `label` names it in messages; `dir` is where
/// `sample_file` paths are relative to.
pub fn parse(text: &str, label: &str, dir: &Path) -> Result<HookFile> {
    let doc = DeTable::parse(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| {
                text.as_bytes()[..s.start.min(text.len())]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count()
                    + 1
            })
            .unwrap_or(1);
        Error::Config {
            file: label.to_owned(),
            line,
            key: "syntax".to_owned(),
            message: e.message().trim().to_owned(),
        }
    })?;
    let loc = Locator {
        label,
        text,
        root: doc.get_ref(),
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let msg = e.message();
        let (line, mut key) = match e.span() {
            Some(s) => (loc.line_of(s.start), loc.key_at(s.start)),
            None => (1, String::new()),
        };
        if let Some(rest) = msg.trim().strip_prefix("missing field `") {
            let field = rest.split('`').next().unwrap_or("");
            key = if key.is_empty() {
                field.to_owned()
            } else {
                format!("{key}.{field}")
            };
            return loc.error(line, &key, "required");
        }
        if key.is_empty() {
            key = "(file)".to_owned();
        }
        loc.error(line, &key, serde_message(msg))
    })?;

    let mut out = HookFile {
        label: label.to_owned(),
        path: PathBuf::from(label),
        ..HookFile::default()
    };

    if let Some(s) = raw.server {
        let at = |k: &'static str, m: String| loc.at(&[Seg::Key("server"), Seg::Key(k)], m);
        if let Some(l) = s.listen {
            out.server.listen = Some(l.trim().parse().map_err(|_| {
                at(
                    "listen",
                    format!("expected an address like 127.0.0.1:4665, got `{l}`"),
                )
            })?);
        }
        if let Some(v) = s.max_body {
            out.server.max_body = Some(v.size().map_err(|m| at("max_body", m))?);
        }
        if let Some(n) = s.max_requests {
            if n < 1 {
                return Err(at("max_requests", format!("expected at least 1, got {n}")));
            }
            out.server.max_requests = Some(n as usize);
        }
        if let Some(v) = s.max_memory {
            out.server.max_memory = Some(v.size().map_err(|m| at("max_memory", m))?);
        }
        if let Some(n) = s.max_bins {
            if n < 1 {
                return Err(at("max_bins", format!("expected at least 1, got {n}")));
            }
            out.server.max_bins = Some(usize::try_from(n).unwrap_or(usize::MAX));
        }
        if let Some(v) = s.header_timeout {
            let d = v.duration().map_err(|m| at("header_timeout", m))?;
            if d.is_zero() {
                return Err(at("header_timeout", "expected a duration above 0".into()));
            }
            out.server.header_timeout = Some(d);
        }
        for (key, v, slot) in [
            ("body_timeout", s.body_timeout, &mut out.server.body_timeout),
            ("idle_timeout", s.idle_timeout, &mut out.server.idle_timeout),
        ] {
            if let Some(v) = v {
                let d = v.duration().map_err(|m| at(key, m))?;
                if d.is_zero() {
                    return Err(at(key, "expected a duration above 0".into()));
                }
                *slot = Some(d);
            }
        }
        out.server.allow_host = s
            .allow_host
            .unwrap_or_default()
            .into_iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        out.server.token = s.token.filter(|t| !t.is_empty());
        out.server.trust_proxy = s.trust_proxy;
    }

    for (i, b) in raw.bin.into_iter().enumerate() {
        let here = |k: &'static str| [Seg::Key("bin"), Seg::Index(i), Seg::Key(k)];
        if !crate::model::valid_bin_name(&b.name) {
            return Err(loc.at(
                &here("name"),
                format!(
                    "expected a bin name ([A-Za-z0-9][A-Za-z0-9._-]{{0,63}}), got `{}`",
                    b.name
                ),
            ));
        }
        if out.bins.iter().any(|x| x.name == b.name) {
            return Err(loc.at(&here("name"), format!("bin `{}` is declared twice", b.name)));
        }
        let mut config = serde_json::Map::new();
        for (k, v) in [
            ("response", b.response),
            ("sequence", b.sequence),
            ("fault", b.fault),
            ("verify", b.verify),
            ("forward", b.forward),
            ("rules", b.rules),
            ("max_requests", b.max_requests),
        ] {
            if let Some(mut v) = v {
                toml_to_json_fixup(&mut v);
                config.insert(k.to_owned(), v);
            }
        }
        let config = Value::Object(config);
        // the bin's behaviour is checked here, so a bad value names its line and key
        // bodies are checked against the file's max_body here, and against the one in force
        // (flags win) when the server starts
        let max_body = out.server.max_body.unwrap_or(usize::MAX);
        if let Err(e) = crate::rules::BinConfig::from_json_within(&config, max_body) {
            let (field, message) = match e {
                Error::BadParameter { what, message } => (what, message),
                other => (String::new(), other.to_string()),
            };
            let mut owned: Vec<(Option<String>, usize)> = Vec::new();
            for part in field.split('.').filter(|p| !p.is_empty() && *p != "config") {
                let (key, idx) = match part.split_once('[') {
                    Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
                    None => (part, None),
                };
                owned.push((Some(key.to_owned()), 0));
                if let Some(n) = idx {
                    owned.push((None, n));
                }
            }
            let mut path = vec![Seg::Key("bin"), Seg::Index(i)];
            for (k, n) in &owned {
                path.push(match k {
                    Some(k) => Seg::Key(k),
                    None => Seg::Index(*n),
                });
            }
            return Err(loc.at(&path, message));
        }
        let line = loc
            .span_of(&[Seg::Key("bin"), Seg::Index(i)])
            .map(|s| loc.line_of(s.start))
            .unwrap_or(1);
        out.bins.push(BinDecl {
            name: b.name,
            config,
            line,
        });
    }

    for (i, e) in raw.event.into_iter().enumerate() {
        let here = |k: &'static str| [Seg::Key("event"), Seg::Index(i), Seg::Key(k)];
        if !valid_event_name(&e.name) {
            return Err(loc.at(
                &here("name"),
                format!(
                    "expected an event name ([A-Za-z0-9][A-Za-z0-9._:-]{{0,99}}), got `{}`",
                    e.name
                ),
            ));
        }
        if out.events.iter().any(|x| x.name == e.name) {
            return Err(loc.at(
                &here("name"),
                format!("event `{}` is declared twice", e.name),
            ));
        }
        let sample = match (e.sample, e.sample_file) {
            (Some(_), Some(_)) => {
                return Err(loc.at(
                    &here("sample_file"),
                    "give either sample or sample_file, not both",
                ))
            }
            (Some(mut v), None) => {
                toml_to_json_fixup(&mut v);
                v
            }
            (None, Some(f)) => {
                let p = dir.join(&f);
                let text = std::fs::read_to_string(&p).map_err(|err| {
                    loc.at(
                        &here("sample_file"),
                        format!("cannot read `{}`: {err}", p.display()),
                    )
                })?;
                serde_json::from_str(&text).map_err(|err| {
                    loc.at(
                        &here("sample_file"),
                        format!("`{}` is not JSON: {err}", p.display()),
                    )
                })?
            }
            (None, None) => Value::Object(serde_json::Map::new()),
        };
        let mut def = EventDef::custom(e.name, e.description.unwrap_or_default(), sample);
        if let Some(t) = e.title.filter(|t| !t.trim().is_empty()) {
            def.title = t;
        }
        out.events.push(def);
    }

    let catalog = Catalog::new(out.events.clone());
    let is_event = |n: &str| catalog.get(n).is_some();
    for (i, w) in raw.webhook.into_iter().enumerate() {
        if let Some(k) = w.read_only_fields().first() {
            return Err(loc.at(
                &[Seg::Key("webhook"), Seg::Index(i), Seg::Key(k)],
                "read-only (set by hookpit); remove it",
            ));
        }
        let def = w.build(None, &is_event).map_err(|fe| {
            let mut path = vec![Seg::Key("webhook"), Seg::Index(i)];
            path.extend(fe.field.split('.').map(Seg::Key));
            loc.at(&path, fe.message)
        })?;
        if out.webhooks.iter().any(|x| x.name == def.name) {
            return Err(loc.at(
                &[Seg::Key("webhook"), Seg::Index(i), Seg::Key("name")],
                format!("webhook `{}` is declared twice", def.name),
            ));
        }
        out.webhooks.push(def);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<HookFile> {
        parse(text, "hookpit.toml", Path::new("."))
    }

    fn err(text: &str) -> String {
        match parse_str(text) {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn an_unknown_key_in_a_webhook_names_line_and_key() {
        let e = err("[[webhook]]\nname = \"a\"\nurl = \"http://x/\"\ncolour = \"red\"\n");
        assert!(
            e.starts_with("hookpit.toml:4: webhook.colour: unknown key"),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_section_names_its_line() {
        let e = err("\n[servr]\nlisten = \"127.0.0.1:1\"\n");
        assert!(e.starts_with("hookpit.toml:2: servr: unknown key"), "{e}");
    }

    #[test]
    fn a_value_of_the_wrong_type_names_line_and_key() {
        let e = err("[server]\ntrust_proxy = \"yes\"\n");
        assert!(
            e.starts_with("hookpit.toml:2: server.trust_proxy: expected a boolean"),
            "{e}"
        );
    }

    #[test]
    fn server_max_bins_is_read_and_must_be_positive() {
        let f = parse_str("[server]\nmax_bins = 50\n").expect("parses");
        assert_eq!(f.server.max_bins, Some(50));
        let mut c = Config::default();
        f.apply(&mut c);
        assert_eq!(c.max_bins, 50);
        let e = err("[server]\nmax_bins = 0\n");
        assert!(e.contains("server.max_bins"), "{e}");
    }

    #[test]
    fn a_bad_size_names_line_and_key() {
        let e = err("[server]\n\nmax_body = \"ten\"\n");
        assert!(
            e.starts_with("hookpit.toml:3: server.max_body: expected a size"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_url_is_required() {
        let e = err("[[webhook]]\nname = \"a\"\n");
        assert!(e.contains(": webhook.url: required"), "{e}");
    }

    #[test]
    fn a_bad_retry_step_names_the_nested_key() {
        let e = err("[[webhook]]\nname = \"a\"\nurl = \"http://x/\"\nretry = { schedule = [\"1s\", \"soon\"] }\n");
        assert!(
            e.starts_with("hookpit.toml:4: webhook.retry.schedule: expected a duration"),
            "{e}"
        );
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let e = err("[server]\nlisten = \n");
        assert!(e.starts_with("hookpit.toml:2: "), "{e}");
    }

    #[test]
    fn webhook_defaults_follow_the_spec() {
        let f = parse_str("[[webhook]]\nname = \"a\"\nurl = \"https://example.com/h\"\n").unwrap();
        let w = &f.webhooks[0];
        assert_eq!(w.events, vec!["*"]);
        assert!(w.active);
        assert!(w.secret.starts_with("whsec_"));
        assert_eq!(w.signature, SignatureScheme::StandardWebhooks);
        assert_eq!(w.timeout, Duration::from_secs(30));
        assert_eq!(w.retry.schedule, DEFAULT_SCHEDULE.to_vec());
        assert_eq!(w.format, Format::Raw);
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
