//! The one filter language of hookpit (SPEC §5, §12): it owns parsing a filter string such as
//! `method:POST path:/stripe/* -header:X-Retry` into a [`Filter`] once (globs compiled, values
//! decoded) and evaluating that filter against captured requests cheaply, many times. The API's
//! `q=`, the CLI's `--match`, the viewer's search box and websocket subscriptions all go through
//! here, so they agree. Pure code with no state and no I/O; it may call only [`crate::model`] and
//! [`crate::decode`] (`body:`, `json:` and bare words see an encoded body decoded, as the viewer
//! shows it).
//!
//! Grammar: whitespace-separated terms, all of which must hold. `-term` negates a term. Double
//! quotes group text containing spaces anywhere inside a term (`body:"two words"`, `"a phrase"`,
//! `header:"X-A=a b"`), and `\"` / `\\` inside quotes stand for `"` / `\`. Terms are
//! `method:`, `path:`, `header:`, `query:`, `json:`, `body:`, `sig:`, `bin:`, `status:` and bare
//! words; an unknown lowercase `key:` is an error (quote it to search for the text instead).
//! A filter has at most [`MAX_TERMS`] terms and [`MAX_FILTER_LEN`] bytes, and every substring
//! search is linear in the text searched, so evaluating one is bounded.

use std::cell::{Cell, OnceCell};
use std::fmt;
use std::str::FromStr;

use globset::{GlobBuilder, GlobMatcher};
use serde_json::Value;

use crate::model::CapturedRequest;

/// The most terms a filter may have.
pub const MAX_TERMS: usize = 64;
/// The longest filter string accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;

/// The keys a term may start with (`key:value`).
const KEYS: &[&str] = &[
    "method", "path", "header", "query", "json", "body", "sig", "bin", "status",
];

/// Why a filter string could not be parsed, pointing at the offending term.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("bad filter at position {position}: {message} (in `{term}`)")]
pub struct FilterError {
    /// Character index (0-based, in chars, not bytes) in the filter string where the problem
    /// starts: the opening quote for an unterminated quote, else the start of the term.
    pub position: usize,
    /// The term as written (including a leading `-`).
    pub term: String,
    /// What is wrong, in words.
    pub message: String,
}

/// A parsed filter: a conjunction of terms, ready to be evaluated against many requests.
///
/// The empty filter (empty or whitespace-only string) matches every request.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    terms: Vec<Term>,
    source: String,
}

#[derive(Debug, Clone)]
struct Term {
    /// As written, including a leading `-`.
    text: String,
    negated: bool,
    test: Test,
}

#[derive(Debug, Clone)]
enum Test {
    Method(String),
    PathExact(String),
    PathGlob(GlobMatcher),
    Header {
        name: String,
        value: Option<Vec<u8>>,
    },
    Query {
        key: String,
        value: Option<String>,
    },
    Json {
        /// The pointer's reference tokens, unescaped once here.
        pointer: Vec<String>,
        want: Option<JsonWant>,
    },
    Body(Vec<u8>),
    Sig(SigState),
    Bin(String),
    Status(u16),
    Bare(Needle),
}

#[derive(Debug, Clone)]
enum JsonWant {
    /// The value text parsed as JSON: compared structurally, numbers numerically.
    Json(Value),
    /// The value text is not JSON: equal to a JSON string with this content.
    Text(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SigState {
    Valid,
    Invalid,
    None,
}

/// A bare word: case-insensitive substring search.
#[derive(Debug, Clone)]
struct Needle {
    original: String,
    lower: String,
}

impl Filter {
    /// Parses a filter string. Globs are compiled and values decoded here, once.
    pub fn parse(s: &str) -> Result<Filter, FilterError> {
        if s.len() > MAX_FILTER_LEN {
            let cut = (0..=MAX_FILTER_LEN)
                .rev()
                .find(|i| s.is_char_boundary(*i))
                .unwrap_or(0);
            return Err(FilterError {
                position: s[..cut].chars().count(),
                term: s[cut..].chars().take(20).collect(),
                message: format!(
                    "a filter may be at most {MAX_FILTER_LEN} bytes long (this one has {})",
                    s.len()
                ),
            });
        }
        let tokens = tokenize(s)?;
        if let Some(extra) = tokens.get(MAX_TERMS) {
            return Err(FilterError {
                position: extra.start,
                term: extra.raw.iter().collect(),
                message: format!(
                    "a filter may have at most {MAX_TERMS} terms (this one has {})",
                    tokens.len()
                ),
            });
        }
        let terms = tokens
            .into_iter()
            .map(parse_term)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Filter {
            terms,
            source: s.to_owned(),
        })
    }

    /// Whether every term holds for `r`. Non-JSON terms are checked first; the body is parsed
    /// as JSON at most once per call, and only when a `json:` term is reached.
    pub fn matches(&self, r: &CapturedRequest) -> bool {
        self.matches_with(r, &BodyJson::default())
    }

    /// [`Filter::matches`] with a body parse shared by every filter checked against the same
    /// request (the store checks many waits against each capture).
    pub fn matches_with(&self, r: &CapturedRequest, body: &BodyJson) -> bool {
        let json = body;
        self.terms
            .iter()
            .filter(|t| !t.needs_json())
            .all(|t| t.holds(r, json))
            && self
                .terms
                .iter()
                .filter(|t| t.needs_json())
                .all(|t| t.holds(r, json))
    }

    /// The terms (as written, including a leading `-`) that do not hold for `r`, in filter
    /// order. Empty exactly when [`Filter::matches`] is true.
    pub fn mismatches(&self, r: &CapturedRequest) -> Vec<String> {
        let json = BodyJson::default();
        self.terms
            .iter()
            .filter(|t| !t.holds(r, &json))
            .map(|t| t.text.clone())
            .collect()
    }

    /// For each term of [`Filter::mismatches`], in the same order, one line saying what the
    /// request has instead: `json:/a=1: found 2`, `json:/a=1: body is not JSON
    /// (application/x-www-form-urlencoded)`, `json:/a=1: no value at /a`,
    /// `header:X-Event=paid: found "pending"`, `header:X-Event: no such header`; for a negated
    /// term, what it must not have matched (`-method:POST: the request is POST`).
    pub fn why(&self, r: &CapturedRequest) -> Vec<String> {
        let body = BodyJson::default();
        self.terms
            .iter()
            .filter(|t| !t.holds(r, &body))
            .map(|t| format!("{}: {}", t.text, t.test.found(r, &body, t.negated)))
            .collect()
    }

    /// Whether a term looks into the body as JSON.
    pub fn needs_json(&self) -> bool {
        self.terms.iter().any(Term::needs_json)
    }

    /// Whether the filter has no terms (and so matches everything).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The filter string exactly as given to [`Filter::parse`].
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The terms as written (including a leading `-`), in order.
    pub fn terms(&self) -> impl Iterator<Item = &str> + '_ {
        self.terms.iter().map(|t| t.text.as_str())
    }
}

/// A request body read as JSON for any number of `json:` terms. The first term reads only the
/// value it points at (the rest of the document is checked but not built); a second term on
/// the same request parses the whole body once, for it and every later one.
///
/// It also holds the body as filters see it: decoded when the request has a `Content-Encoding`
/// (gzip, deflate, br; at most [`DECODE_LIMIT`] bytes, through the one bounded decoder), as the
/// viewer shows it, decoded at most once for all terms.
#[derive(Debug, Default)]
pub struct BodyJson {
    full: OnceCell<Option<Value>>,
    /// `json:` terms evaluated so far.
    uses: Cell<u32>,
    /// The decoded body of an encoded request (None: it did not decode within the limit).
    decoded: OnceCell<Option<bytes::Bytes>>,
}

/// Bodies larger than this are filtered on a blocking thread (see [`BodyJson::heavy`]).
pub const HEAVY_BODY: usize = 64 * 1024;

/// The most a filter decodes of an encoded body; a body that decodes to more is searched as
/// it was received.
pub const DECODE_LIMIT: usize = 10 * 1024 * 1024;

impl BodyJson {
    /// The body decoded and parsed now (e.g. before taking a lock under which filters run).
    pub fn parsed(r: &CapturedRequest) -> BodyJson {
        let b = BodyJson::default();
        let doc = serde_json::from_slice(b.bytes(r)).ok();
        let _ = b.full.set(doc);
        b
    }

    /// The body as filters see it: decoded by its `Content-Encoding` when it has one and that
    /// decodes within [`DECODE_LIMIT`], else as received.
    pub fn bytes<'a>(&'a self, r: &'a CapturedRequest) -> &'a [u8] {
        // looked at once per request, however many terms ask
        self.decoded
            .get_or_init(|| {
                let codings = crate::decode::content_codings(r);
                if codings.is_empty() {
                    return None;
                }
                crate::decode::decode_bounded(&r.body.bytes, &codings, DECODE_LIMIT).ok()
            })
            .as_deref()
            .unwrap_or(&r.body.bytes)
    }

    /// Whether filtering `r` may take long: a large body, or one that must be decoded first.
    /// Such requests are matched on a blocking thread, not on the async workers.
    pub fn heavy(r: &CapturedRequest) -> bool {
        r.body.bytes.len() > HEAVY_BODY || r.header_all("content-encoding").next().is_some()
    }

    /// Calls `f` with the value at `tokens` in `body` (None: not JSON, or nothing there).
    fn at<T>(&self, body: &[u8], tokens: &[String], f: impl FnOnce(Option<&Value>) -> T) -> T {
        if self.full.get().is_none() && self.uses.replace(self.uses.get() + 1) == 0 {
            return f(select(body, tokens).as_ref());
        }
        let doc = self.full.get_or_init(|| serde_json::from_slice(body).ok());
        f(doc.as_ref().and_then(|d| resolve(d, tokens)))
    }
}

/// The value at `tokens` in the JSON document `body`, or None when `body` is not one JSON
/// document or nothing is there: what parsing the whole body and resolving the pointer gives
/// (duplicate keys: the last wins), without building the values off the path.
fn select(body: &[u8], tokens: &[String]) -> Option<Value> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_slice(body);
    let found = Select(tokens).deserialize(&mut de).ok()?;
    de.end().ok()?;
    found
}

/// Reads one JSON value, keeping only what `0` points at.
struct Select<'a>(&'a [String]);

impl<'de> serde::de::DeserializeSeed<'de> for Select<'_> {
    type Value = Option<Value>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        match self.0.split_first() {
            None => serde::Deserialize::deserialize(d).map(Some),
            Some((head, rest)) => d.deserialize_any(Step { head, rest }),
        }
    }
}

/// One step of a pointer: into an object by key or an array by index; scalars have no inside.
struct Step<'a> {
    head: &'a str,
    rest: &'a [String],
}

/// A map key compared with the wanted one without allocating it.
struct KeyIs<'a>(&'a str);

impl<'de> serde::de::DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

impl<'de> serde::de::Visitor<'de> for Step<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(hit) = m.next_key_seed(KeyIs(self.head))? {
            if hit {
                found = m.next_value_seed(Select(self.rest))?;
            } else {
                m.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
        let index =
            if self.head.starts_with('+') || (self.head.starts_with('0') && self.head.len() != 1) {
                None
            } else {
                self.head.parse::<usize>().ok()
            };
        let mut found = None;
        let mut i = 0usize;
        loop {
            if Some(i) == index {
                match s.next_element_seed(Select(self.rest))? {
                    Some(v) => found = v,
                    None => break,
                }
            } else if s.next_element::<serde::de::IgnoredAny>()?.is_none() {
                break;
            }
            i += 1;
        }
        Ok(found)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

impl FromStr for Filter {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Filter::parse(s)
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Two filters are equal when their source strings are.
impl PartialEq for Filter {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Filter {}

/// Serialized as its source string.
impl serde::Serialize for Filter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

/// Deserialized from a filter string, which must parse.
impl<'de> serde::Deserialize<'de> for Filter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Filter::parse(&s).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

impl Term {
    fn needs_json(&self) -> bool {
        matches!(self.test, Test::Json { .. })
    }

    fn holds(&self, r: &CapturedRequest, json: &BodyJson) -> bool {
        self.test.hit(r, json) != self.negated
    }
}

impl Test {
    fn hit(&self, r: &CapturedRequest, json: &BodyJson) -> bool {
        match self {
            Test::Method(m) => r.method.eq_ignore_ascii_case(m),
            Test::PathExact(p) => r.path() == p.as_str(),
            Test::PathGlob(g) => g.is_match(&*r.path()),
            Test::Header { name, value } => {
                let mut all = r.header_all(name);
                match value {
                    None => all.next().is_some(),
                    Some(v) => all.any(|got| got == v.as_slice()),
                }
            }
            Test::Query { key, value } => r
                .query()
                .any(|(k, v)| *k == **key && value.as_ref().is_none_or(|want| *v == **want)),
            Test::Json { pointer, want } => {
                json.at(json.bytes(r), pointer, |got| match (got, want) {
                    (None, _) => false,
                    (Some(_), None) => true,
                    (Some(got), Some(JsonWant::Json(w))) => json_eq(got, w),
                    (Some(got), Some(JsonWant::Text(t))) => got.as_str() == Some(t.as_str()),
                })
            }
            Test::Body(b) => contains(json.bytes(r), b),
            Test::Sig(want) => {
                let got = match &r.signature {
                    None => SigState::None,
                    Some(s) if s.valid => SigState::Valid,
                    Some(_) => SigState::Invalid,
                };
                got == *want
            }
            Test::Bin(b) => r.bin == *b,
            Test::Status(s) => r.response.status == *s,
            Test::Bare(n) => {
                n.found_in(r.target.as_bytes())
                    || n.found_in(r.path().as_bytes())
                    || r.headers
                        .iter()
                        .any(|h| n.found_in(h.name.as_bytes()) || n.found_in(&h.value))
                    || n.found_in(json.bytes(r))
            }
        }
    }
}

/// A value as a person reads it in a report: text in quotes, bytes that are not UTF-8 escaped,
/// long values cut.
fn shown(bytes: &[u8]) -> String {
    const MAX: usize = 80;
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text.chars().take(MAX).collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    format!("{out:?}")
}

impl Test {
    /// What the request has for this term's subject, for a failed term (see [`Filter::why`]).
    fn found(&self, r: &CapturedRequest, body: &BodyJson, negated: bool) -> String {
        let found_list = |values: Vec<String>| match values.as_slice() {
            [] => String::new(),
            [one] => format!("found {one}"),
            many => format!("found {}", many.join(", ")),
        };
        match self {
            Test::Method(_) if negated => format!("the request is {}", r.method),
            Test::Method(_) => format!("found {}", r.method),
            Test::PathExact(_) | Test::PathGlob(_) if negated => {
                format!("the path is {}", shown(r.path().as_bytes()))
            }
            Test::PathExact(_) | Test::PathGlob(_) => {
                format!("found {}", shown(r.path().as_bytes()))
            }
            Test::Header { name, .. } => {
                let values: Vec<String> = r.header_all(name).map(shown).collect();
                match (values.is_empty(), negated) {
                    (true, _) => "no such header".into(),
                    (false, true) => format!("must not match, {}", found_list(values)),
                    (false, false) => found_list(values),
                }
            }
            Test::Query { key, .. } => {
                let values: Vec<String> = r
                    .query()
                    .filter(|(k, _)| *k == **key)
                    .map(|(_, v)| shown(v.as_bytes()))
                    .collect();
                match (values.is_empty(), negated) {
                    (true, _) => format!("no parameter {key}"),
                    (false, true) => format!("must not match, {}", found_list(values)),
                    (false, false) => found_list(values),
                }
            }
            Test::Json { pointer, .. } => {
                let bytes = body.bytes(r);
                let Ok(doc) = serde_json::from_slice::<Value>(bytes) else {
                    let ct = r
                        .content_type()
                        .map(|c| c.split(';').next().unwrap_or_default().trim().to_owned())
                        .filter(|c| !c.is_empty())
                        .unwrap_or_else(|| "no Content-Type".into());
                    return if bytes.is_empty() {
                        "the body is empty".into()
                    } else {
                        format!("body is not JSON ({ct})")
                    };
                };
                let at = format!(
                    "/{}",
                    pointer
                        .iter()
                        .map(|t| t.replace('~', "~0").replace('/', "~1"))
                        .collect::<Vec<_>>()
                        .join("/")
                );
                let at = if pointer.is_empty() {
                    String::new()
                } else {
                    at
                };
                match resolve(&doc, pointer) {
                    None => format!("no value at {at}"),
                    Some(v) => {
                        let mut text = v.to_string();
                        if text.chars().count() > 80 {
                            text = text.chars().take(80).collect::<String>() + "…";
                        }
                        if negated {
                            format!("must not match, found {text}")
                        } else {
                            format!("found {text}")
                        }
                    }
                }
            }
            Test::Body(_) if negated => "the body contains it".into(),
            Test::Body(_) => format!("not in the body ({} bytes)", body.bytes(r).len()),
            Test::Sig(_) => match &r.signature {
                None => "found none (the bin does not verify signatures)".into(),
                Some(s) if s.valid => format!("found valid ({})", s.scheme),
                Some(s) => format!("found invalid: {}", s.reason.as_deref().unwrap_or("?")),
            },
            Test::Bin(_) => format!("found {}", r.bin),
            Test::Status(_) => format!("found {}", r.response.status),
            Test::Bare(_) if negated => "found in the target, headers or body".into(),
            Test::Bare(_) => "not in the target, headers or body".into(),
        }
    }
}

impl Needle {
    fn new(word: String) -> Needle {
        Needle {
            lower: word.to_lowercase(),
            original: word,
        }
    }

    /// Case-insensitive substring test. ASCII needles work on raw bytes (so also in non-UTF-8
    /// data); other needles fold case on UTF-8 text and fall back to a byte search otherwise.
    fn found_in(&self, hay: &[u8]) -> bool {
        if self.lower.is_ascii() {
            return contains_ascii_ci(hay, self.lower.as_bytes());
        }
        match std::str::from_utf8(hay) {
            Ok(text) => contains(text.to_lowercase().as_bytes(), self.lower.as_bytes()),
            Err(_) => {
                contains(hay, self.original.as_bytes()) || contains(hay, self.lower.as_bytes())
            }
        }
    }
}

/// RFC 6901 resolution over unescaped tokens (as `Value::pointer`, without its allocations).
fn resolve<'a>(doc: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    tokens.iter().try_fold(doc, |v, t| match v {
        Value::Object(m) => m.get(t),
        Value::Array(a) => {
            if t.starts_with('+') || (t.starts_with('0') && t.len() != 1) {
                return None;
            }
            a.get(t.parse::<usize>().ok()?)
        }
        _ => None,
    })
}

/// Substring search in linear time.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || memchr::memmem::find(hay, needle).is_some()
}

/// Bytes of the haystack lower-cased at a time by [`contains_ascii_ci`].
const FOLD_CHUNK: usize = 64 * 1024;

/// ASCII case-insensitive substring search in linear time: the haystack is lower-cased a chunk
/// at a time (chunks overlap by the needle's length) and searched with `memmem`. `needle` must
/// already be ASCII-lowercase.
fn contains_ascii_ci(hay: &[u8], needle: &[u8]) -> bool {
    contains_ascii_ci_in_chunks(hay, needle, FOLD_CHUNK)
}

fn contains_ascii_ci_in_chunks(hay: &[u8], needle: &[u8], chunk: usize) -> bool {
    let chunk = chunk.max(1);
    if needle.is_empty() {
        return true;
    }
    if hay.len() < needle.len() {
        return false;
    }
    let finder = memchr::memmem::Finder::new(needle);
    let mut buf = Vec::with_capacity(chunk.min(hay.len()) + needle.len());
    let mut start = 0;
    loop {
        let end = (start + chunk + needle.len() - 1).min(hay.len());
        buf.clear();
        buf.extend(hay[start..end].iter().map(u8::to_ascii_lowercase));
        if finder.find(&buf).is_some() {
            return true;
        }
        if end == hay.len() {
            return false;
        }
        start += chunk;
    }
}

/// JSON equality where numbers compare numerically (`42 == 42.0`) and object key order does
/// not matter.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let int = |n: &serde_json::Number| {
                n.as_i64()
                    .map(i128::from)
                    .or_else(|| n.as_u64().map(i128::from))
            };
            match (int(x), int(y)) {
                (Some(i), Some(j)) => i == j,
                _ => match (x.as_f64(), y.as_f64()) {
                    (Some(f), Some(g)) => f == g,
                    _ => false,
                },
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// One decoded character of a token.
#[derive(Debug, Clone, Copy)]
struct Ch {
    c: char,
    /// Came from inside double quotes.
    quoted: bool,
    /// Index of the character (or of the escaping backslash) in the token as written.
    raw_at: usize,
}

struct Token {
    /// Char index of the token in the filter string.
    start: usize,
    /// The token as written.
    raw: Vec<char>,
    /// The token with quotes removed and escapes resolved.
    chars: Vec<Ch>,
    /// The token contained at least one quoted group.
    quoted: bool,
}

fn tokenize(s: &str) -> Result<Vec<Token>, FilterError> {
    let cs: Vec<char> = s.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    loop {
        while i < cs.len() && cs[i].is_whitespace() {
            i += 1;
        }
        if i >= cs.len() {
            return Ok(tokens);
        }
        let start = i;
        let mut chars = Vec::new();
        let mut quoted = false;
        while i < cs.len() && !cs[i].is_whitespace() {
            if cs[i] != '"' {
                chars.push(Ch {
                    c: cs[i],
                    quoted: false,
                    raw_at: i - start,
                });
                i += 1;
                continue;
            }
            let open = i;
            quoted = true;
            i += 1;
            let mut closed = false;
            while i < cs.len() {
                match cs[i] {
                    '\\' if matches!(cs.get(i + 1), Some('"' | '\\')) => {
                        chars.push(Ch {
                            c: cs[i + 1],
                            quoted: true,
                            raw_at: i - start,
                        });
                        i += 2;
                    }
                    '"' => {
                        i += 1;
                        closed = true;
                        break;
                    }
                    c => {
                        chars.push(Ch {
                            c,
                            quoted: true,
                            raw_at: i - start,
                        });
                        i += 1;
                    }
                }
            }
            if !closed {
                return Err(FilterError {
                    position: open,
                    term: cs[start..].iter().collect(),
                    message: "unterminated quote: add the closing `\"`".into(),
                });
            }
        }
        tokens.push(Token {
            start,
            raw: cs[start..i].to_vec(),
            chars,
            quoted,
        });
    }
}

fn parse_term(tok: Token) -> Result<Term, FilterError> {
    let text: String = tok.raw.iter().collect();
    let fail = |message: String| FilterError {
        position: tok.start,
        term: text.clone(),
        message,
    };
    let mut chars = &tok.chars[..];
    let negated = matches!(
        chars.first(),
        Some(Ch {
            c: '-',
            quoted: false,
            ..
        })
    );
    if negated {
        chars = &chars[1..];
        if chars.is_empty() && !tok.quoted {
            return Err(fail(
                "lone `-`: write the term to negate right after it, e.g. `-method:GET`".into(),
            ));
        }
    }

    // `key:value` when the text before the first unquoted colon is unquoted and non-empty.
    if let Some(ci) = chars.iter().position(|ch| ch.c == ':' && !ch.quoted) {
        let prefix = &chars[..ci];
        if ci > 0 && prefix.iter().all(|ch| !ch.quoted) {
            let key: String = prefix.iter().map(|ch| ch.c).collect();
            let rest = &chars[ci + 1..];
            let lower = key.to_ascii_lowercase();
            if let Some(known) = KEYS.iter().find(|k| **k == lower) {
                let test = parse_keyed(known, rest, &tok.raw).map_err(fail)?;
                return Ok(Term {
                    text: text.clone(),
                    negated,
                    test,
                });
            }
            let url_like = rest.len() >= 2 && rest[0].c == '/' && rest[1].c == '/';
            if is_plain_ident(&key) && !url_like {
                return Err(fail(format!(
                    "unknown filter key `{key}:` (known: {}); quote the term to search for it as text",
                    KEYS.join(", ")
                )));
            }
        }
    }

    let word: String = chars.iter().map(|ch| ch.c).collect();
    if word.is_empty() {
        return Err(fail(
            "empty phrase: put the text to search for between the quotes".into(),
        ));
    }
    Ok(Term {
        text: text.clone(),
        negated,
        test: Test::Bare(Needle::new(word)),
    })
}

/// A lowercase identifier such as `foo` or `x-event`: what an (unknown) key looks like.
fn is_plain_ident(key: &str) -> bool {
    let mut cs = key.chars();
    cs.next().is_some_and(|c| c.is_ascii_lowercase())
        && cs.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn example(key: &str) -> &'static str {
    match key {
        "method" => "method:POST",
        "path" => "path:/stripe/*",
        "header" => "header:X-Event=payment_received",
        "query" => "query:a=1",
        "json" => "json:/data/id=42",
        "body" => "body:\"some text\"",
        "sig" => "sig:valid",
        "bin" => "bin:stripe",
        _ => "status:200",
    }
}

/// Parses the value part of a known key. Errors are messages; the caller adds the position.
fn parse_keyed(key: &str, rest: &[Ch], raw: &[char]) -> Result<Test, String> {
    let value: String = rest.iter().map(|ch| ch.c).collect();
    if value.is_empty() {
        return Err(format!("`{key}:` needs a value, e.g. `{}`", example(key)));
    }
    match key {
        "method" => Ok(Test::Method(value)),
        "path" => parse_path(&value),
        "header" => {
            let (name, v) = split_eq(rest);
            if name.is_empty() {
                return Err(format!(
                    "`header:` needs a header name before `=`, e.g. `{}`",
                    example(key)
                ));
            }
            Ok(Test::Header {
                name,
                value: v.map(|(text, _)| text.into_bytes()),
            })
        }
        "query" => {
            let (k, v) = split_eq(rest);
            if k.is_empty() {
                return Err(format!(
                    "`query:` needs a parameter name before `=`, e.g. `{}`",
                    example(key)
                ));
            }
            Ok(Test::Query {
                key: k,
                value: v.map(|(text, _)| text),
            })
        }
        "json" => {
            let (pointer, v) = split_eq(rest);
            check_pointer(&pointer)?;
            let want = v.map(|(decoded, eq_at)| {
                // Compare as JSON when the value as written parses (`="42"` is the string "42",
                // `=42` the number), or failing that when the unquoted value does
                // (`json:"/a={\"b\": 1}"`); otherwise as text against a string.
                let written: String = raw.get(eq_at + 1..).unwrap_or_default().iter().collect();
                match serde_json::from_str::<Value>(&written)
                    .or_else(|_| serde_json::from_str::<Value>(&decoded))
                {
                    Ok(j) => JsonWant::Json(j),
                    Err(_) => JsonWant::Text(decoded),
                }
            });
            let pointer = pointer
                .split('/')
                .skip(1)
                .map(|t| t.replace("~1", "/").replace("~0", "~"))
                .collect();
            Ok(Test::Json { pointer, want })
        }
        "body" => Ok(Test::Body(value.into_bytes())),
        "sig" => match value.to_ascii_lowercase().as_str() {
            "valid" => Ok(Test::Sig(SigState::Valid)),
            "invalid" => Ok(Test::Sig(SigState::Invalid)),
            "none" => Ok(Test::Sig(SigState::None)),
            _ => Err(format!(
                "`sig:` takes valid, invalid or none, not `{value}`"
            )),
        },
        "bin" => Ok(Test::Bin(value)),
        _ => value
            .parse::<u16>()
            .ok()
            .filter(|n| (100..=999).contains(n))
            .map(Test::Status)
            .ok_or_else(|| format!("`status:` takes an HTTP status code (100-999), not `{value}`")),
    }
}

/// Splits at the first `=` (quoted or not): the part before, and the part after together with
/// the raw index of the `=`.
fn split_eq(rest: &[Ch]) -> (String, Option<(String, usize)>) {
    let collect = |cs: &[Ch]| cs.iter().map(|ch| ch.c).collect::<String>();
    match rest.iter().position(|ch| ch.c == '=') {
        None => (collect(rest), None),
        Some(i) => (
            collect(&rest[..i]),
            Some((collect(&rest[i + 1..]), rest[i].raw_at)),
        ),
    }
}

/// `path:` values are percent-decoded like the request path, then compiled as a glob when they
/// contain glob characters (`*` within a segment, `**` across segments).
fn parse_path(value: &str) -> Result<Test, String> {
    let decoded = percent_encoding::percent_decode_str(value)
        .decode_utf8_lossy()
        .into_owned();
    if !decoded.contains(['*', '?', '[', '{']) {
        return Ok(Test::PathExact(decoded));
    }
    GlobBuilder::new(&decoded)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g| Test::PathGlob(g.compile_matcher()))
        .map_err(|e| format!("invalid path glob: {}", e.kind()))
}

/// RFC 6901: empty, or `/`-prefixed with `~` only in `~0` / `~1`.
fn check_pointer(p: &str) -> Result<(), String> {
    if !p.is_empty() && !p.starts_with('/') {
        return Err(format!(
            "invalid JSON pointer `{p}`: it must be empty or start with `/`, e.g. `json:/data/id=42`"
        ));
    }
    let mut cs = p.chars();
    while let Some(c) = cs.next() {
        if c == '~' && !matches!(cs.next(), Some('0' | '1')) {
            return Err(format!(
                "invalid JSON pointer `{p}`: `~` must be followed by 0 or 1 (`~0` is `~`, `~1` is `/`)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Body, Header, ResponseSent, SignatureCheck, Timings};
    use bytes::Bytes;
    use std::time::SystemTime;

    const JSON_BODY: &str = r#"{"data":{"id":42,"price":9.5,"name":"Ada Lovelace","n":"42","ok":true,"none":null,"obj":{"a":1,"b":[1,2]},"a/b":"slash","t~x":"tilde","list":[10,20]}}"#;

    fn req() -> CapturedRequest {
        CapturedRequest {
            id: 1,
            bin: "stripe".into(),
            received_at: SystemTime::UNIX_EPOCH,
            timings: Timings::default(),
            method: "POST".into(),
            target: "/stripe/events/in%20voice?x=1&a=one+two&x=2&flag".into(),
            split: None,
            version: "HTTP/1.1".into(),
            remote_addr: "127.0.0.1:53412".parse().unwrap(),
            headers: vec![
                Header::new("Host", b"127.0.0.1:4665".to_vec()),
                Header::new("X-Tag", b"first".to_vec()),
                Header::new("Content-Type", b"application/json".to_vec()),
                Header::new("x-tag", b"second".to_vec()),
                Header::new("X-Event", b"payment_received".to_vec()),
                Header::new("X-Bin", vec![0xff, 0xfe, b'Z']),
            ],
            body: Body::new(Bytes::from_static(JSON_BODY.as_bytes()), false),
            response: ResponseSent {
                status: 200,
                ..Default::default()
            },
            signature: None,
            forward: None,
        }
    }

    fn with_body(body: &[u8]) -> CapturedRequest {
        let mut r = req();
        r.body = Body::new(Bytes::copy_from_slice(body), false);
        r
    }

    fn m(filter: &str, r: &CapturedRequest) -> bool {
        let f = Filter::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
        let hit = f.matches(r);
        assert_eq!(
            hit,
            f.mismatches(r).is_empty(),
            "matches vs mismatches for {filter}"
        );
        hit
    }

    fn yes(filter: &str) {
        assert!(m(filter, &req()), "expected `{filter}` to match");
    }

    fn no(filter: &str) {
        assert!(!m(filter, &req()), "expected `{filter}` not to match");
    }

    fn err(filter: &str) -> FilterError {
        match Filter::parse(filter) {
            Ok(_) => panic!("expected `{filter}` to be rejected"),
            Err(e) => e,
        }
    }

    #[test]
    fn an_empty_or_blank_filter_matches_everything() {
        for s in ["", "   ", "\t\n "] {
            let f = Filter::parse(s).unwrap();
            assert!(f.is_empty());
            assert!(f.matches(&req()));
            assert!(f.mismatches(&req()).is_empty());
            assert_eq!(f.as_str(), s);
        }
        assert!(Filter::default().matches(&req()));
    }

    #[test]
    fn method_compares_case_insensitively() {
        yes("method:POST");
        yes("method:post");
        no("method:GET");
        no("method:POS");
        no("-method:post");
        yes("-method:GET");
    }

    #[test]
    fn path_without_glob_characters_is_an_exact_match_on_the_decoded_path() {
        yes("path:\"/stripe/events/in voice\"");
        yes("path:/stripe/events/in%20voice");
        no("path:/stripe/events");
        no("path:/stripe");
    }

    #[test]
    fn path_single_star_stays_within_one_segment() {
        let mut r = req();
        r.target = "/stripe/events".into();
        assert!(m("path:/stripe/*", &r));
        assert!(m("path:/*/events", &r));
        assert!(m("path:/stripe/ev*", &r));
        r.target = "/stripe/events/123".into();
        assert!(!m("path:/stripe/*", &r));
        assert!(m("path:/stripe/*/*", &r));
    }

    #[test]
    fn path_double_star_crosses_segments() {
        let mut r = req();
        r.target = "/stripe/events/123".into();
        assert!(m("path:/stripe/**", &r));
        assert!(m("path:/**/123", &r));
        assert!(m("path:/stripe/**/123", &r));
        assert!(!m("path:/github/**", &r));
        r.target = "/stripe/123".into();
        assert!(m("path:/stripe/**/123", &r));
    }

    #[test]
    fn path_globs_support_classes_alternation_and_question_mark() {
        let mut r = req();
        r.target = "/stripe/v2".into();
        assert!(m("path:/stripe/v[0-9]", &r));
        assert!(m("path:/{stripe,github}/v?", &r));
        assert!(!m("path:/{shopify,github}/*", &r));
    }

    #[test]
    fn header_presence_ignores_name_case() {
        yes("header:X-Event");
        yes("header:x-event");
        yes("header:CONTENT-TYPE");
        no("header:X-Missing");
        yes("-header:X-Missing");
    }

    #[test]
    fn header_value_is_exact() {
        yes("header:X-Event=payment_received");
        yes("header:x-EVENT=payment_received");
        no("header:X-Event=Payment_Received");
        no("header:X-Event=payment");
        no("header:X-Event=");
        no("header:\"X-Event=payment_received \"");
        no("header:X-Missing=payment_received");
    }

    #[test]
    fn header_value_matches_any_of_interleaved_duplicates() {
        yes("header:X-Tag=first");
        yes("header:X-Tag=second");
        yes("header:x-tag=first header:X-TAG=second");
        no("header:X-Tag=third");
        no("-header:X-Tag=second");
    }

    #[test]
    fn header_values_can_be_quoted_and_empty() {
        let mut r = req();
        r.headers.push(Header::new("X-A", b"a b".to_vec()));
        r.headers.push(Header::new("X-Empty", Vec::new()));
        assert!(m("header:\"X-A=a b\"", &r));
        assert!(m("header:X-A=\"a b\"", &r));
        assert!(!m("header:\"X-A=a\"", &r));
        assert!(m("header:X-Empty=", &r));
        assert!(m("header:X-Empty", &r));
    }

    #[test]
    fn query_matches_any_pair_or_presence() {
        yes("query:x=1");
        yes("query:x=2");
        yes("query:x");
        yes("query:flag");
        yes("query:flag=");
        yes("query:\"a=one two\"");
        no("query:x=3");
        no("query:X=1");
        no("query:missing");
        no("query:a=one");
    }

    #[test]
    fn json_pointer_alone_tests_existence() {
        yes("json:/data/id");
        yes("json:/data/none");
        yes("json:/data/list/1");
    }

    #[test]
    fn json_pointer_that_does_not_resolve_fails_and_negates() {
        no("json:/data/missing");
        no("json:/data/list/2");
        no("json:/data/list/01");
        yes("-json:/data/missing");
    }

    #[test]
    fn json_numbers_compare_numerically() {
        yes("json:/data/id=42");
        yes("json:/data/id=42.0");
        yes("json:/data/id=4.2e1");
        no("json:/data/id=43");
        yes("json:/data/price=9.5");
        yes("json:/data/price=9.50");
        no("json:/data/price=9");
        // the string "42" is not the number 42
        no("json:/data/n=42");
    }

    #[test]
    fn json_quoted_values_compare_as_strings() {
        yes("json:/data/n=\"42\"");
        no("json:/data/id=\"42\"");
        yes("json:/data/name=\"Ada Lovelace\"");
        no("json:/data/name=\"Ada\"");
    }

    #[test]
    fn json_unparsable_values_compare_as_text_against_strings() {
        let r = with_body(br#"{"event":"payment_received","n":5}"#);
        assert!(m("json:/event=payment_received", &r));
        assert!(!m("json:/event=payment", &r));
        assert!(!m("json:/n=five", &r));
    }

    #[test]
    fn json_booleans_and_null_compare_as_json() {
        yes("json:/data/ok=true");
        no("json:/data/ok=false");
        no("json:/data/ok=\"true\"");
        yes("json:/data/none=null");
        no("json:/data/id=null");
    }

    #[test]
    fn json_nested_objects_and_arrays_compare_structurally() {
        yes(r#"json:/data/obj={"a":1,"b":[1,2]}"#);
        yes(r#"json:/data/obj={"b":[1.0,2],"a":1.0}"#);
        no(r#"json:/data/obj={"a":1}"#);
        no(r#"json:/data/obj={"a":1,"b":[2,1]}"#);
        yes("json:/data/list=[10,20]");
        yes(r#"json:"/data/obj={\"a\": 1, \"b\": [1, 2]}""#);
    }

    #[test]
    fn json_empty_pointer_with_a_value_compares_the_whole_body() {
        let r = with_body(br#"{"a": 1.0}"#);
        assert!(m(r#"json:={"a":1}"#, &r));
        assert!(!m("json:=1", &r));
        assert!(m("json:=1", &with_body(b" 1 ")));
    }

    #[test]
    fn json_pointer_escapes_reach_keys_with_slash_and_tilde() {
        yes("json:/data/a~1b=slash");
        yes("json:/data/t~0x=tilde");
        no("json:/data/a/b");
    }

    #[test]
    fn json_terms_fail_on_bodies_that_are_not_json() {
        let r = with_body(b"not json {");
        assert!(!m("json:/a", &r));
        assert!(m("-json:/a", &r));
        let r = with_body(b"");
        assert!(!m("json:/a", &r));
    }

    #[test]
    fn body_is_a_case_sensitive_substring_of_the_bytes() {
        yes("body:Lovelace");
        yes("body:\"Ada Lovelace\"");
        no("body:lovelace");
        no("body:absent");
        let r = with_body(&[0x00, 0xff, b'a', b'b', 0x80]);
        assert!(m("body:ab", &r));
        assert!(!m("body:ba", &r));
    }

    #[test]
    fn sig_reflects_the_signature_check() {
        let mut r = req();
        assert!(m("sig:none", &r));
        assert!(!m("sig:valid", &r));
        assert!(!m("sig:invalid", &r));
        r.signature = Some(Box::new(SignatureCheck {
            scheme: "github".into(),
            valid: true,
            reason: None,
            expected: None,
            received: None,
        }));
        assert!(m("sig:valid", &r));
        assert!(m("sig:VALID", &r));
        assert!(!m("sig:invalid", &r));
        assert!(!m("sig:none", &r));
        r.signature.as_mut().unwrap().valid = false;
        assert!(m("sig:invalid", &r));
        assert!(m("-sig:valid", &r));
    }

    #[test]
    fn bin_is_exact_and_status_is_the_response_sent() {
        yes("bin:stripe");
        no("bin:Stripe");
        no("bin:strip");
        yes("status:200");
        no("status:500");
        let mut r = req();
        r.response.status = 503;
        assert!(m("status:503 -status:200", &r));
    }

    #[test]
    fn bare_words_search_target_headers_and_body_case_insensitively() {
        yes("EVENTS"); // target
        yes("in%20voice"); // raw target
        yes("\"in voice\""); // decoded path
        yes("x=1"); // query in the target
        yes("content-type"); // header name
        yes("APPLICATION/json"); // header value
        yes("lovelace"); // body
        yes("z"); // only in the non-UTF-8 header value [ff fe 5a]
        no("nowhere");
        yes("-nowhere");
    }

    #[test]
    fn bare_words_search_non_utf8_bodies_by_bytes() {
        let r = with_body(&[0xff, b'H', b'i', b'Y', b'a', 0xfe]);
        assert!(m("hiya", &r));
        assert!(!m("hello", &r));
        let mut r = with_body("Grüße".as_bytes());
        assert!(m("grüße", &r));
        assert!(m("GRÜßE", &r));
        r.body = Body::new(Bytes::from(vec![0xff, 0xc3, 0xbc]), false); // 0xff, then "ü"
        assert!(m("ü", &r));
        assert!(!m("ö", &r));
    }

    #[test]
    fn bare_quoted_phrase_keeps_spaces_and_colons() {
        yes("\"ada lovelace\"");
        no("\"ada  lovelace\"");
        let r = with_body(b"see method:POST here");
        assert!(m("\"method:POST\"", &r));
    }

    #[test]
    fn words_with_colons_that_are_not_keys_are_bare() {
        let r = with_body(b"at 12:30 see http://example.com/x or C:\\dir and Foo:bar");
        assert!(m("12:30", &r));
        assert!(m("http://example.com/x", &r));
        assert!(m("Foo:bar", &r));
        assert!(Filter::parse("/x:y").is_ok());
        assert!(m(":30", &r));
    }

    #[test]
    fn known_keys_are_case_insensitive() {
        yes("METHOD:post");
        yes("Header:x-event");
    }

    #[test]
    fn negation_inverts_each_term() {
        yes("-method:GET -path:/github/* -header:X-Nope -query:z -json:/nope -body:zzz -sig:valid -bin:x -status:500 -zzz");
        no("-method:POST");
        no("-bin:stripe");
        no("-lovelace");
    }

    #[test]
    fn a_quoted_leading_dash_is_text_not_negation() {
        let r = with_body(b"flag -v given");
        assert!(m("\"-v\"", &r));
        assert!(!m("-\"-v\"", &r));
        assert!(m("--x", &with_body(b"-nothing")));
    }

    #[test]
    fn quotes_group_and_backslash_escapes_quotes_and_backslashes() {
        let r = with_body(br#"he said "hi there" to C:\dir"#);
        assert!(m(r#"body:"said \"hi there\"""#, &r));
        assert!(m(r#"body:"C:\\dir""#, &r));
        assert!(m(r#""C:\dir""#, &r)); // a lone backslash stays literal
        assert!(m(r#"body:said" \"hi"" there""#, &r)); // quoted groups inside a term
        assert!(!m(r#"body:"said hi""#, &r));
    }

    #[test]
    fn json_values_with_escaped_quotes_become_json_strings() {
        let r = with_body(br#"{"msg":"say \"hi\""}"#);
        assert!(m(r#"json:/msg="say \"hi\"""#, &r));
        assert!(m(r#"json:"/msg=\"say \\\"hi\\\"\"""#, &r));
    }

    #[test]
    fn multiple_terms_must_all_hold() {
        yes(
            "method:POST path:/stripe/** header:X-Event=payment_received json:/data/id=42 lovelace",
        );
        no("method:POST path:/stripe/** header:X-Event=payment_received json:/data/id=41 lovelace");
        no("method:GET json:/data/id=42");
    }

    #[test]
    fn mismatches_lists_exactly_the_failed_terms_as_written() {
        let f = Filter::parse(
            "method:POST  -bin:stripe json:/data/id=41 \"ada lovelace\" -\"nope x\" status:500 header:X-Tag=second",
        )
        .unwrap();
        assert_eq!(
            f.mismatches(&req()),
            vec!["-bin:stripe", "json:/data/id=41", "status:500"]
        );
        assert!(!f.matches(&req()));
        assert_eq!(
            f.terms().collect::<Vec<_>>(),
            vec![
                "method:POST",
                "-bin:stripe",
                "json:/data/id=41",
                "\"ada lovelace\"",
                "-\"nope x\"",
                "status:500",
                "header:X-Tag=second"
            ]
        );
    }

    #[test]
    fn display_from_str_and_serde_round_trip_the_source() {
        let s = "method:POST  -body:\"a b\"";
        let f: Filter = s.parse().unwrap();
        assert_eq!(f.to_string(), s);
        assert_eq!(f.as_str(), s);
        let j = serde_json::to_string(&f).unwrap();
        let back: Filter = serde_json::from_str(&j).unwrap();
        assert_eq!(back, f);
        assert!(serde_json::from_str::<Filter>("\"nope:x\"").is_err());
    }

    #[test]
    fn unterminated_quote_points_at_the_opening_quote() {
        let e = err("method:POST body:\"abc");
        assert_eq!(e.position, 17);
        assert_eq!(e.term, "body:\"abc");
        assert!(e.message.contains("unterminated quote"));
        let e = err(r#"x "ab\""#);
        assert_eq!(e.position, 2);
        assert!(e
            .to_string()
            .starts_with("bad filter at position 2: unterminated quote"));
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        let e = err("é ü nope:x");
        assert_eq!(e.position, 4);
        assert_eq!(e.term, "nope:x");
    }

    #[test]
    fn empty_values_are_rejected() {
        for (f, key) in [
            ("method:", "method"),
            ("x -path:", "path"),
            ("header:", "header"),
            ("query:\"\"", "query"),
            ("body:", "body"),
            ("sig:", "sig"),
            ("bin:", "bin"),
            ("status:", "status"),
            ("json:", "json"),
        ] {
            let e = err(f);
            assert!(e.message.contains("needs a value"), "{f}: {e}");
            assert!(e.message.contains(&format!("`{key}:`")), "{f}: {e}");
        }
        let e = err("x -path:");
        assert_eq!((e.position, e.term.as_str()), (2, "-path:"));
    }

    #[test]
    fn empty_header_and_query_names_are_rejected() {
        let e = err("header:=x");
        assert_eq!(e.position, 0);
        assert!(e.message.contains("header name"));
        let e = err("a query:=1");
        assert_eq!(e.position, 2);
        assert!(e.message.contains("parameter name"));
    }

    #[test]
    fn invalid_globs_are_rejected() {
        let e = err("method:GET path:/a/{b,c");
        assert_eq!(e.position, 11);
        assert_eq!(e.term, "path:/a/{b,c");
        assert!(e.message.starts_with("invalid path glob"), "{e}");
        let e = err("path:/a/[b");
        assert!(e.message.starts_with("invalid path glob"), "{e}");
    }

    #[test]
    fn invalid_json_pointers_are_rejected() {
        let e = err("ok json:data/id=1");
        assert_eq!(e.position, 3);
        assert!(e.message.contains("must be empty or start with `/`"), "{e}");
        let e = err("json:/a~2b");
        assert!(e.message.contains("`~` must be followed by 0 or 1"), "{e}");
        let e = err("json:/a~");
        assert!(e.message.contains("`~`"), "{e}");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let e = err("method:POST  -foo:bar");
        assert_eq!(e.position, 13);
        assert_eq!(e.term, "-foo:bar");
        assert!(e.message.contains("unknown filter key `foo:`"), "{e}");
        assert!(err("x-event:1").message.contains("unknown filter key"));
        assert!(err("headers:X").message.contains("unknown filter key"));
    }

    #[test]
    fn bad_sig_and_status_values_are_rejected() {
        let e = err("sig:ok");
        assert_eq!(e.position, 0);
        assert!(e.message.contains("valid, invalid or none"), "{e}");
        for s in [
            "status:abc",
            "status:99",
            "status:1000",
            "status:-1",
            "status:70000",
        ] {
            let e = err(s);
            assert!(e.message.contains("HTTP status code"), "{s}: {e}");
        }
    }

    #[test]
    fn a_lone_dash_is_rejected() {
        let e = err("method:GET - x");
        assert_eq!(e.position, 11);
        assert_eq!(e.term, "-");
        assert!(e.message.contains("lone `-`"), "{e}");
    }

    #[test]
    fn empty_quoted_phrases_are_rejected() {
        let e = err("a \"\"");
        assert_eq!(e.position, 2);
        assert!(e.message.contains("empty phrase"));
        assert!(err("-\"\"").message.contains("empty phrase"));
    }

    #[test]
    fn the_body_is_parsed_as_json_only_when_a_json_term_is_reached() {
        // `BodyJson` counts the json terms that looked into the body and holds the whole parse
        let big = vec![b'x'; 1 << 20];
        let r = with_body(&big);
        assert!(!m("method:GET json:/a", &r));
        assert!(m("method:POST -json:/a", &r));
        // a non-JSON term that fails decides first, wherever it is written
        let body = BodyJson::default();
        assert!(!Filter::parse("json:/a method:GET")
            .unwrap()
            .matches_with(&r, &body));
        assert_eq!(body.uses.get(), 0, "a json term ran after a failed term");
        assert!(body.full.get().is_none(), "the body was parsed");
        // once every other term holds, the json term is reached
        let body = BodyJson::default();
        assert!(!Filter::parse("json:/a method:POST")
            .unwrap()
            .matches_with(&r, &body));
        assert_eq!(body.uses.get(), 1);
        // one json term reads only the value it points at; a second parses the body, once
        let r = req();
        let body = BodyJson::default();
        let one = Filter::parse("json:/data/id=42").unwrap();
        assert!(one.matches_with(&r, &body));
        assert!(
            body.full.get().is_none(),
            "one json term built the whole body"
        );
        let two = Filter::parse("json:/data/id=42 json:/data/ok=true").unwrap();
        let body = BodyJson::default();
        assert!(two.matches_with(&r, &body));
        assert!(body.full.get().is_some_and(Option::is_some));
    }

    /// A tiny deterministic generator so the fuzz test needs no extra crates.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn garbage_filters_and_bodies_never_panic() {
        const FRAGS: &[&str] = &[
            "method:",
            "path:",
            "header:",
            "query:",
            "json:",
            "body:",
            "sig:",
            "bin:",
            "status:",
            "-",
            "\"",
            "\\",
            "\\\"",
            " ",
            "=",
            "==",
            "/",
            "*",
            "**",
            "[",
            "]",
            "{",
            "}",
            ",",
            "?",
            "~",
            "~0",
            "~1",
            "a",
            "Z",
            "0",
            "42",
            "é",
            "ß",
            "İ",
            "\u{1F600}",
            ":",
            "http://",
            "%",
            "%zz",
            "%2F",
            "%ff",
            "\t",
            "\n",
            "true",
            "null",
            "valid",
            "none",
            "{\"a\":1}",
            "x-event",
            "[1,",
            "1e999",
            "-0",
            "\u{0}",
            "\u{301}",
            "/data/id",
            "!",
            "[!a]",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut bodies: Vec<Vec<u8>> = vec![
            JSON_BODY.as_bytes().to_vec(),
            b"[1,2,{\"a\":[]}]".to_vec(),
            b"null".to_vec(),
            vec![],
            "\u{1F600}İß".as_bytes().to_vec(),
        ];
        for _ in 0..40 {
            let n = rng.below(64);
            bodies.push((0..n).map(|_| rng.next() as u8).collect());
        }
        let mut parsed = 0;
        for round in 0..6000 {
            let mut s = String::new();
            for _ in 0..rng.below(12) {
                if round % 3 == 0 {
                    if let Some(c) = char::from_u32((rng.next() % 0x11_0000) as u32) {
                        s.push(c);
                    }
                    s.push_str(FRAGS[rng.below(FRAGS.len())]);
                } else {
                    s.push_str(FRAGS[rng.below(FRAGS.len())]);
                }
            }
            match Filter::parse(&s) {
                Ok(f) => {
                    parsed += 1;
                    let r = with_body(&bodies[rng.below(bodies.len())]);
                    let hit = f.matches(&r);
                    assert_eq!(hit, f.mismatches(&r).is_empty(), "filter {s:?}");
                    assert_eq!(f.to_string(), s);
                }
                Err(e) => {
                    assert!(e.position <= s.chars().count(), "{s:?}: {e}");
                    assert!(!e.message.is_empty());
                    let _ = e.to_string();
                }
            }
        }
        assert!(
            parsed > 500,
            "the generator should produce many valid filters ({parsed})"
        );
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn naive(hay: &[u8], needle: &[u8]) -> bool {
            needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
        }

        fn naive_ci(hay: &[u8], needle: &[u8]) -> bool {
            needle.is_empty()
                || hay
                    .windows(needle.len())
                    .any(|w| w.eq_ignore_ascii_case(needle))
        }

        /// Text that looks like filters: keys, quotes, escapes, dashes, globs, pointers.
        fn filterish() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                Just("method:".to_owned()),
                Just("path:".to_owned()),
                Just("header:".to_owned()),
                Just("json:".to_owned()),
                Just("body:".to_owned()),
                Just("status:".to_owned()),
                Just("sig:".to_owned()),
                Just("\"".to_owned()),
                Just("\\".to_owned()),
                Just("-".to_owned()),
                Just("=".to_owned()),
                Just(" ".to_owned()),
                Just("/".to_owned()),
                Just("~".to_owned()),
                Just("*".to_owned()),
                Just("{".to_owned()),
                "[a-zA-Z0-9é]{1,4}",
            ];
            prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
        }

        /// JSON text with nested objects (duplicate and escaped keys included) and arrays.
        fn json_text() -> impl Strategy<Value = String> {
            let leaf = prop_oneof![
                Just("null".to_owned()),
                Just("true".to_owned()),
                Just("1".to_owned()),
                Just("-0".to_owned()),
                Just("1.5e3".to_owned()),
                Just("\"a\"".to_owned()),
                Just("\"\\u0061\"".to_owned()),
            ];
            leaf.prop_recursive(4, 32, 4, |inner| {
                let key = prop_oneof![
                    4 => Just("a"),
                    1 => Just("b"),
                    1 => Just("0"),
                    1 => Just("1"),
                    2 => Just("\\u0061"),
                ];
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4)
                        .prop_map(|v| format!("[{}]", v.join(","))),
                    prop::collection::vec((key, inner), 0..4).prop_map(|v| {
                        let fields: Vec<String> =
                            v.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
                        format!("{{{}}}", fields.join(","))
                    }),
                ]
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn any_string_parses_or_fails_at_a_position_inside_it(s in prop_oneof![filterish(), any::<String>()]) {
                match Filter::parse(&s) {
                    Ok(f) => prop_assert!(f.terms().count() <= MAX_TERMS),
                    Err(e) => prop_assert!(
                        e.position < s.chars().count().max(1),
                        "position {} outside {:?}", e.position, s
                    ),
                }
            }

            #[test]
            fn the_terms_as_written_parse_back_to_the_same_terms(s in filterish()) {
                if let Ok(f) = Filter::parse(&s) {
                    let again = Filter::parse(&f.to_string()).expect("its own display parses");
                    prop_assert!(again.terms().eq(f.terms()));
                    let joined = f.terms().collect::<Vec<_>>().join(" ");
                    let canonical = Filter::parse(&joined).expect("its terms parse");
                    prop_assert!(canonical.terms().eq(f.terms()));
                    prop_assert_eq!(canonical.needs_json(), f.needs_json());
                }
            }

            #[test]
            fn reading_one_pointer_agrees_with_parsing_the_whole_body(
                doc in json_text(),
                tokens in prop::collection::vec(
                    prop_oneof![
                        4 => Just("a"),
                        3 => Just("0"),
                        1 => Just("b"),
                        1 => Just("1"),
                        1 => Just("01"),
                        1 => Just("+1"),
                        1 => Just("-"),
                    ],
                    0..4,
                ),
                damage in 0u8..4,
            ) {
                let body = match damage {
                    0 => format!("{doc}x"),
                    1 => doc[..doc.len() - 1].to_owned(),
                    _ => doc,
                };
                let tokens: Vec<String> = tokens.into_iter().map(str::to_owned).collect();
                let whole = serde_json::from_slice::<Value>(body.as_bytes())
                    .ok()
                    .and_then(|d| resolve(&d, &tokens).cloned());
                prop_assert_eq!(select(body.as_bytes(), &tokens), whole);
            }

            #[test]
            fn linear_search_agrees_with_the_naive_one(
                hay in prop::collection::vec(prop_oneof![Just(b'a'), Just(b'A'), Just(b'b'), Just(b'B'), any::<u8>()], 0..300),
                needle in prop::collection::vec(prop_oneof![Just(b'a'), Just(b'A'), Just(b'b'), any::<u8>()], 0..6),
                chunk in 1usize..16,
            ) {
                prop_assert_eq!(contains(&hay, &needle), naive(&hay, &needle));
                let lower = needle.to_ascii_lowercase();
                prop_assert_eq!(
                    contains_ascii_ci_in_chunks(&hay, &lower, chunk),
                    naive_ci(&hay, &lower)
                );
                prop_assert_eq!(contains_ascii_ci(&hay, &lower), naive_ci(&hay, &lower));
            }
        }
    }
}
