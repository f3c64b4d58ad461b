//! The wire tap: an I/O wrapper under hyper that keeps each HTTP/1 request head exactly as it
//! was read from the socket, so captures keep header order, name case and interleaved duplicates
//! (hyper's `HeaderMap` normalises all three away).
//!
//! It does not parse HTTP itself: request heads, chunk sizes and trailers are recognised with
//! `httparse`, the parser hyper uses, only to find where one head ends and the next begins. Any
//! surprise (HTTP/2 preface, upgrade, parse error, oversize head) switches the tap off for the
//! rest of the connection and capture falls back to hyper's view. Uses `model` only.
//!
//! It also guards against slow clients: a connection that has not completed a request head
//! within the header timeout (counted from its accept, or from the first byte of a later head)
//! is closed by one sweeper per server, so the fast path arms no timer per request.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::model::Header;

/// hyper's own limit: a head with more headers is refused by hyper anyway.
const MAX_HEADERS: usize = 100;
const MAX_CHUNK_LINE: usize = 4096;

/// One request head as it arrived, taken apart once by the tap.
#[derive(Debug, Clone)]
pub struct RawHead {
    pub method: String,
    /// The request target exactly as sent.
    pub target: String,
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// Headers in received order, names in their original case.
    pub headers: Vec<Header>,
    /// When the head's first byte was read.
    pub started: Instant,
    /// When the head was complete.
    pub completed: Instant,
}

impl RawHead {
    fn from_parsed(
        req: &httparse::Request,
        started: Instant,
        completed: Instant,
        names: &mut Names,
    ) -> RawHead {
        RawHead {
            method: req.method.unwrap_or_default().to_owned(),
            target: req.path.unwrap_or_default().to_owned(),
            version: req.version.unwrap_or(1),
            headers: req
                .headers
                .iter()
                .map(|h| Header::new(names.get(h.name), h.value))
                .collect(),
            started,
            completed,
        }
    }
}

/// The header names a connection has sent, exactly as spelled: a keep-alive client repeats
/// them on every request, and each request's headers share these instead of copying them.
#[derive(Debug, Default)]
struct Names(Vec<Arc<str>>);

impl Names {
    const MAX: usize = 64;

    fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(n) = self.0.iter().find(|n| ***n == *name) {
            return n.clone();
        }
        let n: Arc<str> = Arc::from(name);
        if self.0.len() < Self::MAX {
            self.0.push(n.clone());
        }
        n
    }
}

/// The queue of heads one connection's tap has seen and the service has not yet taken.
#[derive(Debug, Clone, Default)]
pub struct Heads(Arc<Mutex<VecDeque<RawHead>>>);

impl Heads {
    /// Takes the oldest head not yet taken.
    pub fn pop(&self) -> Option<RawHead> {
        self.0.lock().ok()?.pop_front()
    }

    fn push(&self, h: RawHead) {
        if let Ok(mut q) = self.0.lock() {
            q.push_back(h);
        }
    }
}

enum State {
    Head {
        buf: BytesMut,
        started: Option<Instant>,
    },
    Body {
        remaining: u64,
    },
    ChunkSize {
        line: BytesMut,
    },
    ChunkData {
        remaining: u64,
    },
    Trailers {
        buf: BytesMut,
    },
    Off,
}

/// The tap's state machine, fed with every byte read from the socket.
struct Tracker {
    state: State,
    max_head: usize,
    heads: Heads,
    /// How many heads this connection completed.
    seen: u64,
    names: Names,
}

impl Tracker {
    fn head() -> State {
        State::Head {
            buf: BytesMut::new(),
            started: None,
        }
    }

    fn feed(&mut self, mut input: &[u8]) {
        while !input.is_empty() {
            match &mut self.state {
                State::Off => return,
                State::Body { remaining } | State::ChunkData { remaining } => {
                    let n = (*remaining).min(input.len() as u64) as usize;
                    *remaining -= n as u64;
                    input = &input[n..];
                    if *remaining == 0 {
                        self.state = match self.state {
                            State::ChunkData { .. } => State::ChunkSize {
                                line: BytesMut::new(),
                            },
                            _ => Self::head(),
                        };
                    }
                }
                State::Head { buf, started } => {
                    let now = Instant::now();
                    let started = *started.get_or_insert(now);
                    if buf.is_empty() {
                        // the usual case: the whole head arrived in this read; parse it in place
                        let mut headers =
                            [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
                        let mut req = httparse::Request::new(&mut []);
                        match req.parse_with_uninit_headers(input, &mut headers) {
                            Ok(httparse::Status::Complete(n)) => {
                                self.state = Self::framing(&req);
                                self.heads.push(RawHead::from_parsed(
                                    &req,
                                    started,
                                    now,
                                    &mut self.names,
                                ));
                                self.seen += 1;
                                input = &input[n..];
                                continue;
                            }
                            Ok(httparse::Status::Partial) => {}
                            Err(_) => {
                                self.state = State::Off;
                                return;
                            }
                        }
                    }
                    let mut headers =
                        [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
                    let mut req = httparse::Request::new(&mut []);
                    buf.extend_from_slice(input);
                    input = &[];
                    match req.parse_with_uninit_headers(buf, &mut headers) {
                        Ok(httparse::Status::Complete(n)) => {
                            let next = Self::framing(&req);
                            self.heads.push(RawHead::from_parsed(
                                &req,
                                started,
                                now,
                                &mut self.names,
                            ));
                            self.seen += 1;
                            let mut buf = std::mem::take(buf);
                            let rest = buf.split_off(n);
                            self.state = next;
                            // what followed the head is body or the next request: feed it again
                            self.feed(&rest);
                            return;
                        }
                        Ok(httparse::Status::Partial) if buf.len() <= self.max_head => {}
                        _ => self.state = State::Off,
                    }
                }
                State::ChunkSize { line } => {
                    let take = input.len().min(MAX_CHUNK_LINE + 2);
                    line.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    match httparse::parse_chunk_size(line) {
                        Ok(httparse::Status::Complete((used, size))) => {
                            let rest = line.split_off(used);
                            self.state = if size == 0 {
                                State::Trailers {
                                    buf: BytesMut::new(),
                                }
                            } else {
                                State::ChunkData {
                                    remaining: size.saturating_add(2),
                                }
                            };
                            self.feed(&rest);
                        }
                        Ok(httparse::Status::Partial) if line.len() <= MAX_CHUNK_LINE => {}
                        _ => self.state = State::Off,
                    }
                }
                State::Trailers { buf } => {
                    buf.extend_from_slice(input);
                    input = &[];
                    if buf.len() >= 2 && &buf[..2] == b"\r\n" {
                        let rest = buf.split_off(2);
                        self.state = Self::head();
                        self.feed(&rest);
                        return;
                    }
                    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                    match httparse::parse_headers(buf, &mut headers) {
                        Ok(httparse::Status::Complete((used, _))) => {
                            let rest = buf.split_off(used);
                            self.state = Self::head();
                            self.feed(&rest);
                            return;
                        }
                        Ok(httparse::Status::Partial) if buf.len() <= self.max_head => {}
                        _ => self.state = State::Off,
                    }
                }
            }
        }
    }

    /// When the head being read started, if one is under way.
    fn head_started(&self) -> Option<Instant> {
        match &self.state {
            State::Head {
                started: Some(t), ..
            } => Some(*t),
            _ => None,
        }
    }

    /// What follows a complete head: its body's framing, or the tap switching off.
    fn framing(req: &httparse::Request) -> State {
        if req.method == Some("CONNECT") {
            return State::Off;
        }
        let mut chunked = false;
        let mut length: Option<u64> = None;
        for h in req.headers.iter() {
            if h.name.eq_ignore_ascii_case("upgrade") {
                return State::Off;
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                let v = String::from_utf8_lossy(h.value);
                chunked = v
                    .rsplit(',')
                    .next()
                    .map(|last| last.trim().eq_ignore_ascii_case("chunked"))
                    .unwrap_or(false);
                if !chunked {
                    return State::Off;
                }
            } else if h.name.eq_ignore_ascii_case("content-length") {
                match std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                {
                    Some(n) if length.is_none_or(|l| l == n) => length = Some(n),
                    _ => return State::Off,
                }
            }
        }
        if chunked {
            State::ChunkSize {
                line: BytesMut::new(),
            }
        } else {
            match length {
                Some(n) if n > 0 => State::Body { remaining: n },
                _ => Self::head(),
            }
        }
    }
}

/// One connection's head clock: when its pending head started (0: none pending) and whether
/// the sweeper gave up on it.
#[derive(Debug, Default)]
pub struct HeadClock {
    since_ms: AtomicU64,
    killed: AtomicBool,
    /// The 408 was written (once).
    told: AtomicBool,
    waker: AtomicWaker,
}

/// Every connection's head clock, and the sweeper that closes the slow ones.
#[derive(Debug)]
pub struct SlowClients {
    base: Instant,
    timeout: Duration,
    next: AtomicU64,
    clocks: Mutex<HashMap<u64, Arc<HeadClock>>>,
}

impl SlowClients {
    /// A registry for connections whose heads must complete within `timeout`.
    pub fn new(timeout: Duration) -> Arc<SlowClients> {
        Arc::new(SlowClients {
            base: Instant::now(),
            timeout,
            next: AtomicU64::new(1),
            clocks: Mutex::new(HashMap::new()),
        })
    }

    fn now_ms(&self) -> u64 {
        self.base.elapsed().as_millis() as u64 + 1
    }

    fn ms(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.base).as_millis() as u64 + 1
    }

    fn register(self: &Arc<Self>) -> Guard {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let clock = Arc::new(HeadClock::default());
        clock.since_ms.store(self.now_ms(), Ordering::Relaxed);
        if let Ok(mut m) = self.clocks.lock() {
            m.insert(id, clock.clone());
        }
        Guard {
            owner: self.clone(),
            id,
            clock,
        }
    }

    /// Closes connections whose head is late, until `shutdown` changes.
    pub async fn sweep(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let every = (self.timeout / 4).clamp(Duration::from_millis(20), Duration::from_millis(500));
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            let now = self.now_ms();
            let limit = self.timeout.as_millis() as u64;
            let late: Vec<Arc<HeadClock>> = match self.clocks.lock() {
                Ok(m) => m
                    .values()
                    .filter(|c| {
                        let since = c.since_ms.load(Ordering::Relaxed);
                        since != 0 && now.saturating_sub(since) > limit
                    })
                    .cloned()
                    .collect(),
                Err(_) => continue,
            };
            for c in late {
                c.killed.store(true, Ordering::Release);
                c.waker.wake();
            }
        }
    }
}

/// A connection's place in the registry; leaves it on drop.
struct Guard {
    owner: Arc<SlowClients>,
    id: u64,
    clock: Arc<HeadClock>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(mut m) = self.owner.clocks.lock() {
            m.remove(&self.id);
        }
    }
}

/// A socket with a tap on its read side.
pub struct TapIo<S> {
    inner: S,
    tracker: Tracker,
    slow: Option<Guard>,
}

impl<S> TapIo<S> {
    /// Wraps a socket; heads are pushed to the returned [`Heads`].
    pub fn new(inner: S, max_head: usize, slow: Option<&Arc<SlowClients>>) -> (TapIo<S>, Heads) {
        let heads = Heads::default();
        (
            TapIo {
                inner,
                tracker: Tracker {
                    state: Tracker::head(),
                    max_head,
                    heads: heads.clone(),
                    seen: 0,
                    names: Names::default(),
                },
                slow: slow.map(|s| s.register()),
            },
            heads,
        )
    }
}

impl<S: AsyncWrite + Unpin> TapIo<S> {
    /// The connection is closed for a late head. On a connection that never completed a head
    /// nothing else was written, so the client is first told why, with a 408.
    fn late(&mut self, cx: &mut Context<'_>) -> io::Error {
        if let Some(g) = &self.slow {
            if self.tracker.seen == 0 && !g.clock.told.swap(true, Ordering::AcqRel) {
                let body = format!(
                    r#"{{"error":{{"code":"header_timeout","message":"the request head did not arrive within {:?}"}}}}"#,
                    g.owner.timeout
                );
                let answer = format!(
                    "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                // best effort: a full socket buffer just means the client gets the close alone
                let _ = Pin::new(&mut self.inner).poll_write(cx, answer.as_bytes());
            }
        }
        io::Error::new(io::ErrorKind::TimedOut, "request head not received in time")
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TapIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this
            .slow
            .as_ref()
            .is_some_and(|g| g.clock.killed.load(Ordering::Acquire))
        {
            return Poll::Ready(Err(this.late(cx)));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        match &r {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                if !new.is_empty() {
                    this.tracker.feed(new);
                }
                if let Some(g) = &this.slow {
                    // a head under way keeps its clock; anything else stops it
                    match this.tracker.head_started() {
                        Some(t) => {
                            let _ = g.clock.since_ms.compare_exchange(
                                0,
                                g.owner.ms(t),
                                Ordering::Relaxed,
                                Ordering::Relaxed,
                            );
                        }
                        None => g.clock.since_ms.store(0, Ordering::Relaxed),
                    }
                }
            }
            Poll::Pending => {
                if let Some(g) = &this.slow {
                    g.clock.waker.register(cx.waker());
                    if g.clock.killed.load(Ordering::Acquire) {
                        return Poll::Ready(Err(this.late(cx)));
                    }
                }
            }
            Poll::Ready(Err(_)) => {}
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TapIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Feeds `reads` to a fresh tap, one socket read each, and returns the heads it found in order.
/// For fuzzing and property tests; the server goes through [`TapIo`].
#[doc(hidden)]
pub fn tap_reads<'a>(reads: impl IntoIterator<Item = &'a [u8]>, max_head: usize) -> Vec<RawHead> {
    let (mut tap, heads) = TapIo::new((), max_head, None);
    for r in reads {
        tap.tracker.feed(r);
    }
    std::iter::from_fn(|| heads.pop()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker() -> Tracker {
        Tracker {
            state: Tracker::head(),
            max_head: 64 * 1024,
            heads: Heads::default(),
            seen: 0,
            names: Names::default(),
        }
    }

    fn targets(t: &Tracker) -> Vec<String> {
        let mut out = vec![];
        while let Some(h) = t.heads.pop() {
            out.push(h.target);
        }
        out
    }

    #[test]
    fn pipelined_requests_with_bodies_yield_each_head_in_order() {
        let mut t = tracker();
        let wire = b"POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\n\r\nPOST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /d HTTP/1.1\r\n\r\n";
        t.feed(wire);
        assert_eq!(targets(&t), ["/a", "/b", "/c", "/d"]);
    }

    #[test]
    fn heads_split_across_reads_byte_by_byte_are_found() {
        let mut t = tracker();
        let wire = b"POST /x HTTP/1.1\r\nX-Dup: 1\r\nOther: a\r\nX-Dup: 2\r\nTransfer-Encoding: chunked\r\n\r\n2;ext=1\r\nhi\r\n0\r\nTrailer: yes\r\n\r\nGET /y HTTP/1.0\r\n\r\n";
        for b in wire.iter() {
            t.feed(std::slice::from_ref(b));
        }
        let first = t.heads.pop().unwrap();
        assert_eq!(
            first.headers.iter().map(|h| &*h.name).collect::<Vec<_>>(),
            ["X-Dup", "Other", "X-Dup", "Transfer-Encoding"]
        );
        assert_eq!(targets(&t), ["/y"]);
    }

    #[test]
    fn an_http2_preface_switches_the_tap_off() {
        let mut t = tracker();
        t.feed(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        t.feed(b"GET /z HTTP/1.1\r\n\r\n");
        assert!(t.heads.pop().is_none());
    }

    #[test]
    fn an_upgrade_request_switches_the_tap_off_after_its_head() {
        let mut t = tracker();
        t.feed(b"GET /_/ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n\x81\x85garbage");
        assert_eq!(targets(&t), ["/_/ws"]);
        assert!(matches!(t.state, State::Off));
    }
}
