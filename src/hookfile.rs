//! The config file, `hookpit.toml` (SPEC §7): TOML in, a [`HookFile`] out — `[server]`
//! settings, `[[bin]]`s, `[[webhook]]`s and `[[event]]`s, each validated — which
//! [`HookFile::apply`] puts into a [`Config`].
//!
//! Uses `config` ([`Config`], [`BinDecl`]), `webhook` (webhook definitions), `units` (sizes and
//! durations), `field` (where a problem is), `catalog`, `model` (bin names) and `error`. Pure
//! apart from reading the config file and the event sample files it names. The validators
//! report a problem as a [`FieldPath`] within what they checked; this
//! module follows that path through the TOML document, so every problem in a file becomes one
//! [`Error::Config`] naming the file, the line and the key (`hookpit.toml:12: webhook.url: …`).

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use toml::de::{DeTable, DeValue};

use crate::catalog::{Catalog, EventDef};
use crate::config::{BinDecl, Config};
use crate::error::{Error, Result};
use crate::field::{FieldPath, Seg};
use crate::units::NumOrText;
use crate::webhook::{one_or_many, WebhookDef, WebhookInput};

/// The file looked for in the working directory when `--config` is not given.
pub const FILE_NAME: &str = "hookpit.toml";

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
    pub data_dir: Option<PathBuf>,
    pub max_disk: Option<u64>,
    pub redis: Option<String>,
    pub tls_listen: Option<SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
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
        c.listen = s.listen.unwrap_or(c.listen);
        c.max_body = s.max_body.unwrap_or(c.max_body);
        c.max_requests = s.max_requests.unwrap_or(c.max_requests);
        c.max_memory = s.max_memory.unwrap_or(c.max_memory);
        c.max_bins = s.max_bins.unwrap_or(c.max_bins);
        c.header_timeout = s.header_timeout.unwrap_or(c.header_timeout);
        c.body_timeout = s.body_timeout.unwrap_or(c.body_timeout);
        c.idle_timeout = s.idle_timeout.unwrap_or(c.idle_timeout);
        c.allow_hosts.extend(s.allow_host);
        c.token = s.token.or(c.token.take());
        c.trust_proxy = s.trust_proxy.unwrap_or(c.trust_proxy);
        c.data_dir = s.data_dir.or(c.data_dir.take());
        c.max_disk = s.max_disk.unwrap_or(c.max_disk);
        c.redis = s.redis.or(c.redis.take());
        c.tls_listen = s.tls_listen.or(c.tls_listen);
        c.tls_cert = s.tls_cert.or(c.tls_cert.take());
        c.tls_key = s.tls_key.or(c.tls_key.take());
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
    data_dir: Option<String>,
    #[serde(default)]
    redis: Option<String>,
    #[serde(default)]
    max_disk: Option<NumOrText>,
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
    #[serde(default)]
    tls_listen: Option<String>,
    #[serde(default)]
    tls_cert: Option<String>,
    #[serde(default)]
    tls_key: Option<String>,
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
    #[serde(default)]
    limit: Option<Value>,
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

/// Turns paths and byte offsets into `file:line: key:` errors.
struct Locator<'a, 'i> {
    label: &'a str,
    text: &'a str,
    root: &'a DeTable<'i>,
}

impl Locator<'_, '_> {
    fn line_of(&self, pos: usize) -> usize {
        line_of(self.text, pos)
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
    fn span_of(&self, path: &FieldPath) -> Option<Range<usize>> {
        let mut span: Option<Range<usize>> = None;
        let mut table: Option<&DeTable> = Some(self.root);
        let mut array: Option<&[toml::Spanned<DeValue>]> = None;
        for seg in path.segments() {
            let next = match (seg, table, array) {
                (Seg::Key(k), Some(t), _) => t
                    .iter()
                    .find(|(key, _)| key.get_ref().as_ref() == k)
                    .map(|(_, v)| v),
                (Seg::Index(i), _, Some(a)) => a.get(*i),
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
    fn at(&self, path: &FieldPath, message: impl Into<String>) -> Error {
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

/// The line (from 1) of byte offset `pos` in `text`.
fn line_of(text: &str, pos: usize) -> usize {
    let end = pos.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
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

/// The path as a dotted TOML key (list positions left out): `webhook.retry.schedule`.
fn display_key(path: &FieldPath) -> String {
    path.segments()
        .iter()
        .filter_map(|s| match s {
            Seg::Key(k) => Some(k.as_str()),
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
        let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
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
        let at = |k: &'static str, m: String| loc.at(&FieldPath::from("server").key(k), m);
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
        if let Some(d) = s.data_dir {
            if d.trim().is_empty() {
                return Err(at(
                    "data_dir",
                    "expected a directory, got an empty string".into(),
                ));
            }
            // relative to the config file's directory, like the file's other paths
            out.server.data_dir = Some(dir.join(d));
        }
        if let Some(u) = s.redis {
            if !(u.starts_with("redis://") || u.starts_with("rediss://")) {
                return Err(at(
                    "redis",
                    format!(
                        "expected a redis:// or rediss:// URL, got {}",
                        crate::shared::shown_url(&u)
                    ),
                ));
            }
            out.server.redis = Some(u);
        }
        if let Some(v) = s.max_disk {
            let n = v.size().map_err(|m| at("max_disk", m))?;
            if n < crate::disk::MIN_DISK as usize {
                return Err(at(
                    "max_disk",
                    format!("expected at least 1MiB (an empty store takes about 100 KiB), got {n} bytes"),
                ));
            }
            out.server.max_disk = Some(n as u64);
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
        if let Some(l) = s.tls_listen {
            out.server.tls_listen = Some(l.trim().parse().map_err(|_| {
                at(
                    "tls_listen",
                    format!("expected an address like 127.0.0.1:4666, got `{l}`"),
                )
            })?);
        }
        // relative to the config file's directory, like the file's other paths
        for (key, v, slot) in [
            ("tls_cert", s.tls_cert, &mut out.server.tls_cert),
            ("tls_key", s.tls_key, &mut out.server.tls_key),
        ] {
            if let Some(p) = v {
                if p.trim().is_empty() {
                    return Err(at(key, "expected a PEM file, got an empty string".into()));
                }
                *slot = Some(dir.join(p));
            }
        }
    }

    for (i, b) in raw.bin.into_iter().enumerate() {
        let bin = FieldPath::from("bin").index(i);
        let here = |k: &'static str| bin.clone().key(k);
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
            ("limit", b.limit),
        ] {
            if let Some(mut v) = v {
                toml_to_json_fixup(&mut v);
                config.insert(k.to_owned(), v);
            }
        }
        let config = Value::Object(config);
        // the bin's config is validated here, once, so a bad value names its line and key;
        // bodies are bounded by the file's max_body here, and by the one in force (flags win)
        // when the server starts
        let max_body = out.server.max_body.unwrap_or(usize::MAX);
        let line = loc.span_of(&bin).map(|s| loc.line_of(s.start)).unwrap_or(1);
        let decl = BinDecl::new(b.name, config, line, max_body)
            .map_err(|fe| loc.at(&bin.clone().join(&fe.field), fe.message))?;
        out.bins.push(decl);
    }

    for (i, e) in raw.event.into_iter().enumerate() {
        let here = |k: &'static str| FieldPath::from("event").index(i).key(k);
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
                &FieldPath::from("webhook").index(i).key(*k),
                "read-only (set by hookpit); remove it",
            ));
        }
        let def = w.build(None, &is_event).map_err(|fe| {
            loc.at(
                &FieldPath::from("webhook").index(i).join(&fe.field),
                fe.message,
            )
        })?;
        if out.webhooks.iter().any(|x| x.name == def.name) {
            return Err(loc.at(
                &FieldPath::from("webhook").index(i).key("name"),
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
    use crate::webhook::{Format, SignatureScheme, DEFAULT_SCHEDULE};

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
}
