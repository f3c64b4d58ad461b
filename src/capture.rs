//! Turns one incoming hyper request into a [`CapturedRequest`] snapshot: the head exactly as the
//! wire tap kept it (or hyper's view for HTTP/2), the body's exact bytes read under the size limit,
//! the peer address and timings, and how the body ended (complete, over the limit, late, or
//! broken framing).
//!
//! Uses `model` and `wire`, a timer for the body of a request the tap does not follow
//! (HTTP/2), and `http::linger` for the rest of a body past the limit. It decides nothing about the response and touches no shared state:
//! the server hands the snapshot to the store.

use std::net::{IpAddr, SocketAddr};
use std::time::{Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::Request;

use crate::model::{
    method_name, target_path, Body, CapturedRequest, Header, ResponseSent, Timings,
};
use crate::wire::RawHead;

/// How a request is read.
#[derive(Debug, Clone, Copy)]
pub struct CaptureLimits {
    pub max_body: usize,
    pub trust_proxy: bool,
    /// The body timeout, enforced here with a timer of the request's own. Given for a request
    /// the wire tap does not follow (HTTP/2, or the tap off): over HTTP/1 the tap's clock
    /// enforces it without a timer.
    pub body_timeout: Option<std::time::Duration>,
}

/// A snapshot plus what the reading found.
pub struct Snapshot {
    pub request: CapturedRequest,
    /// How the body ended; anything but `Complete` is recorded truncated.
    pub end: BodyEnd,
}

/// How reading a request body ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyEnd {
    Complete,
    /// The body went past `max_body`: answer 413.
    TooLarge,
    /// The body did not arrive within the body timeout: answer 408.
    TimedOut,
    /// The framing was invalid or the client stopped mid-body: answer 400. Holds hyper's reason.
    Broken(String),
}

impl BodyEnd {
    fn of(err: &hyper::Error) -> BodyEnd {
        let io = std::error::Error::source(err).and_then(|e| e.downcast_ref::<std::io::Error>());
        match io {
            // only the wire tap's body clock fails a read this way
            Some(e) if e.kind() == std::io::ErrorKind::TimedOut => BodyEnd::TimedOut,
            Some(e) => BodyEnd::Broken(e.to_string()),
            None => BodyEnd::Broken(err.to_string()),
        }
    }
}

/// The head's parts: from the wire tap when it has this request, else from hyper.
/// The last element is the head's (first byte, complete) instants, when the tap saw them.
type HeadParts = (
    std::borrow::Cow<'static, str>,
    String,
    Vec<Header>,
    Option<(Instant, Instant)>,
);

fn head_parts(req: &Request<Incoming>, raw: Option<RawHead>) -> HeadParts {
    if let Some(raw) = raw {
        // the tap and hyper must agree on which request this is
        let same_target = req.uri().path_and_query().map(|pq| pq.as_str()) == Some(&raw.target)
            || raw.target == "*"
            || req.uri().to_string() == raw.target;
        if raw.method == req.method().as_str() && same_target {
            let timing = Some((raw.started, raw.completed));
            return (raw.method, raw.target, raw.headers, timing);
        }
    }
    let target = if req.uri().scheme().is_some() && req.version() != hyper::Version::HTTP_2 {
        req.uri().to_string()
    } else {
        req.uri()
            .path_and_query()
            .map(|pq| pq.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned())
    };
    let mut headers: Vec<Header> = Vec::with_capacity(req.headers().len() + 1);
    if req.version() == hyper::Version::HTTP_2 {
        if let Some(a) = req.uri().authority() {
            headers.push(Header::new(":authority", a.as_str().as_bytes()));
        }
    }
    headers.extend(
        req.headers()
            .iter()
            .map(|(n, v)| Header::new(n.as_str(), v.as_bytes())),
    );
    (method_name(req.method().as_str()), target, headers, None)
}

fn version_str(v: hyper::Version) -> &'static str {
    match v {
        hyper::Version::HTTP_09 => "HTTP/0.9",
        hyper::Version::HTTP_10 => "HTTP/1.0",
        hyper::Version::HTTP_11 => "HTTP/1.1",
        hyper::Version::HTTP_2 => "HTTP/2.0",
        hyper::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/?",
    }
}

fn forwarded_for(headers: &[Header]) -> Option<SocketAddr> {
    let h = headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("x-forwarded-for"))?;
    let first = std::str::from_utf8(&h.value)
        .ok()?
        .split(',')
        .next()?
        .trim();
    first.parse::<SocketAddr>().ok().or_else(|| {
        first
            .parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 0))
    })
}

/// Reads the request (body under the limit) into a snapshot. Never fails: a body cut short (by
/// the client, the limit, the body timeout or broken framing) is kept as far as it came and
/// marked truncated, with the reason in [`Snapshot::end`].
pub async fn snapshot(
    req: Request<Incoming>,
    raw: Option<RawHead>,
    peer: SocketAddr,
    limits: CaptureLimits,
) -> Snapshot {
    let received_at = SystemTime::now();
    let start = Instant::now();
    let (method, target, headers, head_timing) = head_parts(&req, raw);
    let version = version_str(req.version());
    let remote_addr = if limits.trust_proxy {
        forwarded_for(&headers).unwrap_or(peer)
    } else {
        peer
    };

    let mut body = req.into_body();
    // a declared length within the limit sizes the buffer exactly: one copy, no regrowth
    let exact = hyper::body::Body::size_hint(&body)
        .exact()
        .filter(|n| *n as usize <= limits.max_body);
    let mut buf = BytesMut::with_capacity(exact.unwrap_or(0) as usize);
    let mut end = BodyEnd::Complete;
    let deadline = limits
        .body_timeout
        .map(|t| tokio::time::Instant::from_std(start) + t);
    loop {
        let frame = match deadline {
            Some(at) => match tokio::time::timeout_at(at, body.frame()).await {
                Ok(frame) => frame,
                Err(_) => {
                    end = BodyEnd::TimedOut;
                    break;
                }
            },
            None => body.frame().await,
        };
        match frame {
            None => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    let room = limits.max_body - buf.len();
                    if data.len() > room {
                        buf.extend_from_slice(&data[..room]);
                        end = BodyEnd::TooLarge;
                        // the 413 must reach a client that is still sending
                        crate::http::linger(body);
                        break;
                    }
                    buf.extend_from_slice(&data);
                }
            }
            Some(Err(e)) => {
                end = BodyEnd::of(&e);
                break;
            }
        }
    }
    let body_done = Instant::now();
    let (head_us, body_from) = match head_timing {
        Some((started, completed)) => (
            completed.saturating_duration_since(started).as_micros() as u64,
            completed,
        ),
        None => (0, start),
    };
    let timings = Timings {
        headers_us: head_us,
        body_us: body_done.saturating_duration_since(body_from).as_micros() as u64,
    };
    // the store keeps these bytes for a long time: never keep a half-empty allocation
    let bytes = if buf.len() == buf.capacity() {
        buf.freeze()
    } else {
        Bytes::copy_from_slice(&buf)
    };
    Snapshot {
        request: CapturedRequest {
            id: 0,
            bin: crate::model::bin_for_path(&target_path(&target)).to_owned(),
            received_at,
            timings,
            method,
            target,
            split: None,
            version: std::borrow::Cow::Borrowed(version),
            remote_addr,
            headers,
            body: Body::new(bytes, end != BodyEnd::Complete),
            response: ResponseSent::default(),
            signature: None,
            forward: None,
        },
        end,
    }
}
