//! The wire tap: an I/O wrapper under hyper that keeps each HTTP/1 request head exactly as it
//! was read from the socket, so captures keep header order, name case and interleaved duplicates
//! (hyper's `HeaderMap` normalises all three away).
//!
//! Request heads are taken apart with `httparse`, the parser hyper uses, only once their blank
//! line has arrived; bodies are followed with hyper's own framing rules (`Content-Length`, and
//! the chunked grammar byte by byte, extensions and trailers included), so the tap stays in step
//! with hyper on every stream hyper accepts. Its work is linear in the bytes read: no recursion,
//! no re-scanning. What hyper refuses, or a surprise (HTTP/2 preface, `CONNECT`, a `101`
//! upgrade, an oversize head), switches the tap off for the rest of the connection and capture
//! falls back to hyper's view. Uses `model` only.
//!
//! It also keeps each connection's clock, and one sweeper per server closes the slow ones, so
//! the fast path arms no timer per request: a head not complete within the header timeout
//! (counted from the accept, or from the first byte of a later head), a body not complete within
//! the body timeout (counted from the end of its head; the service answers it 408), and a
//! keep-alive connection with no request in progress for the idle timeout. A connection the tap
//! stopped following (HTTP/2) keeps the idle timeout; its bodies are timed by the service.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::model::Header;

/// hyper's own limit: a head with more headers is refused by hyper anyway.
const MAX_HEADERS: usize = 100;
/// hyper's limits on one chunked body: extension bytes, trailer bytes and trailer lines.
const MAX_CHUNK_EXTENSIONS: u64 = 16 * 1024;
const MAX_TRAILER_BYTES: usize = 16 * 1024;
const MAX_TRAILERS: usize = MAX_HEADERS;
/// hyper's largest declared length (`u64::MAX - 2`; the top values mark chunked and close).
const MAX_CONTENT_LENGTH: u64 = u64::MAX - 2;
/// Blank lines that seemed to end a head but left it incomplete; past this the tap gives up
/// rather than parse the same head again and again.
const MAX_REPARSES: u8 = 4;

/// One request head as it arrived, taken apart once by the tap.
#[derive(Debug, Clone)]
pub struct RawHead {
    /// Borrowed for the common methods (see [`crate::model::method_name`]).
    pub method: std::borrow::Cow<'static, str>,
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
            method: crate::model::method_name(req.method.unwrap_or_default()),
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

/// What a connection is doing, as its clock sees it (0 is left for "not late").
const IDLE: u8 = 1;
const HEAD: u8 = 2;
const BODY: u8 = 3;
const OFF: u8 = 4;

/// One connection's clock: what it is doing since when, how many of its requests the service is
/// answering, and whether the sweeper found it late.
#[derive(Debug)]
struct Clock {
    phase: AtomicU8,
    since_ms: AtomicU64,
    /// Requests the service is answering; a connection is only idle or late with its head when
    /// none is.
    busy: AtomicU32,
    /// When the service last finished an answer.
    done_ms: AtomicU64,
    /// 0, or the phase the sweeper found late.
    late: AtomicU8,
    /// The head-timeout 408 was written (once).
    told: AtomicBool,
    waker: AtomicWaker,
}

/// What one connection's tap and its service share: the heads the tap has seen and the service
/// has not yet taken, and the connection's clock.
#[derive(Debug, Clone)]
pub struct Heads(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    /// The instant the clock's milliseconds count from (the sweeper's).
    base: Instant,
    queue: Mutex<VecDeque<RawHead>>,
    clock: Clock,
    /// The service answered `101`: what follows is not HTTP/1 any more.
    upgraded: AtomicBool,
}

impl Heads {
    fn new(base: Instant) -> Heads {
        let now_ms = ms_since(base, Instant::now());
        Heads(Arc::new(Shared {
            base,
            queue: Mutex::new(VecDeque::new()),
            clock: Clock {
                // a new connection owes its first head from the accept on
                phase: AtomicU8::new(HEAD),
                since_ms: AtomicU64::new(now_ms),
                busy: AtomicU32::new(0),
                done_ms: AtomicU64::new(0),
                late: AtomicU8::new(0),
                told: AtomicBool::new(false),
                waker: AtomicWaker::new(),
            },
            upgraded: AtomicBool::new(false),
        }))
    }

    /// Takes the oldest head not yet taken.
    pub fn pop(&self) -> Option<RawHead> {
        self.0.queue.lock().ok()?.pop_front()
    }

    fn push(&self, h: RawHead) {
        if let Ok(mut q) = self.0.queue.lock() {
            q.push_back(h);
        }
    }

    /// Marks one request as being answered until the returned guard drops: meanwhile the
    /// connection is neither idle nor late with its next head.
    pub fn answering(&self) -> Answering {
        self.0.clock.busy.fetch_add(1, Ordering::AcqRel);
        Answering(self.clone())
    }

    /// The service answered `101 Switching Protocols`: the tap stops reading HTTP.
    pub fn upgraded(&self) {
        self.0.upgraded.store(true, Ordering::Release);
        self.0.clock.phase.store(OFF, Ordering::Release);
    }
}

/// A request being answered (see [`Heads::answering`]).
pub struct Answering(Heads);

impl Drop for Answering {
    fn drop(&mut self) {
        let s = &self.0 .0;
        let c = &s.clock;
        c.done_ms
            .fetch_max(ms_since(s.base, Instant::now()), Ordering::AcqRel);
        c.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Milliseconds from `base` to `t`, plus one: 0 stays free to mean "never".
fn ms_since(base: Instant, t: Instant) -> u64 {
    t.saturating_duration_since(base).as_millis() as u64 + 1
}

/// Where the tap is in the chunked grammar (hyper's `ChunkedState`, byte for byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// The first hex digit of a size.
    Start,
    /// More hex digits.
    Size,
    /// Blanks after the size.
    Lws,
    /// An extension, up to its CR.
    Ext,
    /// The LF ending the size line.
    SizeLf,
    /// The CR after a chunk's data.
    DataCr,
    /// The LF after a chunk's data.
    DataLf,
    /// After the last chunk: a CR (the end) or a trailer's first byte.
    EndCr,
    /// A trailer line, up to its CR.
    Trailer,
    /// The LF ending a trailer line.
    TrailerLf,
    /// The final LF.
    EndLf,
}

enum State {
    Head {
        buf: BytesMut,
        started: Option<Instant>,
        reparses: u8,
    },
    Body {
        remaining: u64,
    },
    Chunked(Chunk),
    ChunkData {
        remaining: u64,
    },
    Off,
}

/// The chunked body's counters, reset per body.
#[derive(Default)]
struct ChunkCounts {
    size: u64,
    extensions: u64,
    trailer_bytes: usize,
    trailers: usize,
}

/// The tap's state machine, fed with every byte read from the socket.
struct Tracker {
    state: State,
    max_head: usize,
    heads: Heads,
    /// How many heads this connection completed.
    seen: u64,
    names: Names,
    chunk: ChunkCounts,
    /// Heads handed to `httparse`, complete or not: stays near one per request.
    parses: u64,
}

/// Where the blank line ending a head is in `input`, looking back into the last bytes buffered
/// before it (`tail`): the index of its final LF.
fn head_end(tail: &[u8], input: &[u8]) -> Option<usize> {
    let before = |j: usize, d: usize| -> Option<u8> {
        if j >= d {
            Some(input[j - d])
        } else {
            let back = d - j;
            tail.len().checked_sub(back).map(|i| tail[i])
        }
    };
    memchr::memchr_iter(b'\n', input).find(|&j| match before(j, 1) {
        Some(b'\n') => true,
        Some(b'\r') => before(j, 2) == Some(b'\n'),
        _ => false,
    })
}

fn hex(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some(u64::from(b - b'0')),
        b'a'..=b'f' => Some(u64::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u64::from(b - b'A' + 10)),
        _ => None,
    }
}

impl Tracker {
    fn new(max_head: usize, heads: Heads) -> Tracker {
        Tracker {
            state: Self::head(),
            max_head,
            heads,
            seen: 0,
            names: Names::default(),
            chunk: ChunkCounts::default(),
            parses: 0,
        }
    }

    fn head() -> State {
        State::Head {
            buf: BytesMut::new(),
            started: None,
            reparses: 0,
        }
    }

    fn feed(&mut self, mut input: &[u8]) {
        if self.heads.0.upgraded.load(Ordering::Acquire) {
            self.state = State::Off;
        }
        while !input.is_empty() {
            match &mut self.state {
                State::Off => return,
                State::Body { remaining } | State::ChunkData { remaining } => {
                    let n = (*remaining).min(input.len() as u64) as usize;
                    *remaining -= n as u64;
                    input = &input[n..];
                    if *remaining == 0 {
                        self.state = match self.state {
                            State::ChunkData { .. } => State::Chunked(Chunk::DataCr),
                            _ => Self::head(),
                        };
                    }
                }
                State::Chunked(_) => {
                    // byte by byte up to the next chunk's data, the body's end or an error
                    let mut used = 0;
                    while used < input.len() {
                        let b = input[used];
                        used += 1;
                        if !self.chunk_byte(b) {
                            break;
                        }
                    }
                    input = &input[used..];
                }
                State::Head {
                    buf,
                    started,
                    reparses,
                } => {
                    let now = Instant::now();
                    let started = *started.get_or_insert(now);
                    if buf.is_empty() {
                        // blank lines before a head are skipped, as hyper does
                        let skip = input
                            .iter()
                            .position(|b| *b != b'\r' && *b != b'\n')
                            .unwrap_or(input.len());
                        input = &input[skip..];
                        if input.is_empty() {
                            return;
                        }
                        // the usual case: the whole head arrived in this read; parse it in place
                        let mut headers =
                            [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
                        let mut req = httparse::Request::new(&mut []);
                        self.parses += 1;
                        match req.parse_with_uninit_headers(input, &mut headers) {
                            Ok(httparse::Status::Complete(n)) => {
                                self.completed(&req, started, now);
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
                    // a head in pieces: gather bytes up to its blank line, parse once it is there
                    let tail = &buf[buf.len().saturating_sub(2)..];
                    let Some(end) = head_end(tail, input) else {
                        if buf.len() + input.len() > self.max_head {
                            self.state = State::Off;
                            return;
                        }
                        buf.extend_from_slice(input);
                        return;
                    };
                    if buf.len() + end + 1 > self.max_head {
                        self.state = State::Off;
                        return;
                    }
                    buf.extend_from_slice(&input[..=end]);
                    input = &input[end + 1..];
                    let reparses = *reparses;
                    let buf = std::mem::take(buf);
                    let mut headers =
                        [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
                    let mut req = httparse::Request::new(&mut []);
                    self.parses += 1;
                    match req.parse_with_uninit_headers(&buf, &mut headers) {
                        Ok(httparse::Status::Complete(_)) => self.completed(&req, started, now),
                        Ok(httparse::Status::Partial) if reparses < MAX_REPARSES => {
                            self.state = State::Head {
                                buf,
                                started: Some(started),
                                reparses: reparses + 1,
                            };
                        }
                        _ => {
                            self.state = State::Off;
                            return;
                        }
                    }
                }
            }
        }
    }

    /// A head is complete: queue it and follow its body.
    fn completed(&mut self, req: &httparse::Request, started: Instant, now: Instant) {
        self.state = self.framing(req);
        self.heads
            .push(RawHead::from_parsed(req, started, now, &mut self.names));
        self.seen += 1;
    }

    /// One byte of chunked framing outside chunk data. False when the state left the chunked
    /// grammar's byte-wise part (data to skip, the body's end, or an error).
    fn chunk_byte(&mut self, b: u8) -> bool {
        let State::Chunked(at) = self.state else {
            return false;
        };
        let c = &mut self.chunk;
        let next = match at {
            Chunk::Start => hex(b).map(|d| {
                c.size = d;
                Chunk::Size
            }),
            Chunk::Size => match b {
                b'\t' | b' ' => Some(Chunk::Lws),
                b';' => Some(Chunk::Ext),
                b'\r' => Some(Chunk::SizeLf),
                _ => hex(b).and_then(|d| {
                    c.size = c.size.checked_mul(16)?.checked_add(d)?;
                    Some(Chunk::Size)
                }),
            },
            Chunk::Lws => match b {
                b'\t' | b' ' => Some(Chunk::Lws),
                b';' => Some(Chunk::Ext),
                b'\r' => Some(Chunk::SizeLf),
                _ => None,
            },
            Chunk::Ext => match b {
                b'\r' => Some(Chunk::SizeLf),
                b'\n' => None,
                _ => {
                    c.extensions += 1;
                    (c.extensions < MAX_CHUNK_EXTENSIONS).then_some(Chunk::Ext)
                }
            },
            Chunk::SizeLf if b == b'\n' => {
                if c.size == 0 {
                    Some(Chunk::EndCr)
                } else {
                    self.state = State::ChunkData { remaining: c.size };
                    return false;
                }
            }
            Chunk::DataCr => (b == b'\r').then_some(Chunk::DataLf),
            Chunk::DataLf => (b == b'\n').then_some(Chunk::Start),
            Chunk::EndCr if b == b'\r' => Some(Chunk::EndLf),
            Chunk::EndCr | Chunk::Trailer => {
                c.trailer_bytes += 1;
                (c.trailer_bytes <= MAX_TRAILER_BYTES).then_some(if b == b'\r' {
                    Chunk::TrailerLf
                } else {
                    Chunk::Trailer
                })
            }
            Chunk::TrailerLf if b == b'\n' && c.trailers < MAX_TRAILERS => {
                c.trailers += 1;
                c.trailer_bytes += 1;
                (c.trailer_bytes <= MAX_TRAILER_BYTES).then_some(Chunk::EndCr)
            }
            Chunk::EndLf if b == b'\n' => {
                self.state = Self::head();
                return false;
            }
            Chunk::SizeLf | Chunk::TrailerLf | Chunk::EndLf => None,
        };
        match next {
            Some(n) => {
                self.state = State::Chunked(n);
                true
            }
            None => {
                self.state = State::Off;
                false
            }
        }
    }

    /// The connection's phase for its clock.
    fn phase(&self) -> u8 {
        match &self.state {
            State::Head {
                started: Some(_), ..
            } => HEAD,
            // nothing of a first head yet: still owed from the accept
            State::Head { .. } if self.seen == 0 => HEAD,
            State::Head { .. } => IDLE,
            State::Body { .. } | State::Chunked(_) | State::ChunkData { .. } => BODY,
            // an upgraded connection is no longer HTTP; any other the tap stopped following
            // (HTTP/2) is still held to the idle timeout while none of its requests is answered
            State::Off if self.heads.0.upgraded.load(Ordering::Acquire) => OFF,
            State::Off => IDLE,
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

    /// What follows a complete head, by hyper's rules: its body's framing, or the tap
    /// switching off where hyper refuses the head or leaves HTTP/1.
    fn framing(&mut self, req: &httparse::Request) -> State {
        if req.method == Some("CONNECT") {
            return State::Off;
        }
        let http11 = req.version == Some(1);
        let mut te = false;
        let mut chunked = false;
        let mut length: Option<u64> = None;
        for h in req.headers.iter() {
            if h.name.eq_ignore_ascii_case("transfer-encoding") {
                if !http11 {
                    return State::Off;
                }
                te = true;
                length = None;
                // hyper: the last coding of this line must be `chunked` (visible ASCII only)
                chunked = std::str::from_utf8(h.value).is_ok_and(|v| {
                    v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
                        && v.rsplit(',')
                            .next()
                            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
                });
            } else if h.name.eq_ignore_ascii_case("content-length") {
                if te {
                    continue;
                }
                let digits = !h.value.is_empty() && h.value.iter().all(u8::is_ascii_digit);
                let n = digits
                    .then(|| {
                        h.value.iter().try_fold(0u64, |n, d| {
                            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
                        })
                    })
                    .flatten();
                match n {
                    Some(n) if n <= MAX_CONTENT_LENGTH && length.is_none_or(|l| l == n) => {
                        length = Some(n)
                    }
                    _ => return State::Off,
                }
            }
        }
        if te {
            if !chunked {
                return State::Off;
            }
            self.chunk = ChunkCounts::default();
            return State::Chunked(Chunk::Start);
        }
        match length {
            Some(n) if n > 0 => State::Body { remaining: n },
            _ => Self::head(),
        }
    }
}

/// The limits the sweeper enforces.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// A request head must be complete within this, from the accept or its first byte.
    pub head: Duration,
    /// A request body must be complete within this, from the end of its head.
    pub body: Duration,
    /// A keep-alive connection with no request in progress is closed after this.
    pub idle: Duration,
}

/// Every connection's clock, and the sweeper that closes the slow ones.
#[derive(Debug)]
pub struct SlowClients {
    base: Instant,
    timeouts: Timeouts,
    next: AtomicU64,
    clocks: Mutex<HashMap<u64, Heads>>,
}

impl SlowClients {
    /// A registry for connections held to `timeouts`.
    pub fn new(timeouts: Timeouts) -> Arc<SlowClients> {
        Arc::new(SlowClients {
            base: Instant::now(),
            timeouts,
            next: AtomicU64::new(1),
            clocks: Mutex::new(HashMap::new()),
        })
    }

    /// The body timeout, for the service's 408.
    pub fn body_timeout(&self) -> Duration {
        self.timeouts.body
    }

    fn now_ms(&self) -> u64 {
        ms_since(self.base, Instant::now())
    }

    fn register(self: &Arc<Self>) -> (Guard, Heads) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let heads = Heads::new(self.base);
        if let Ok(mut m) = self.clocks.lock() {
            m.insert(id, heads.clone());
        }
        (
            Guard {
                owner: self.clone(),
                id,
            },
            heads,
        )
    }

    /// Is this clock late, and with what?
    fn late(&self, c: &Clock, now: u64) -> Option<u8> {
        let phase = c.phase.load(Ordering::Acquire);
        let since = c.since_ms.load(Ordering::Acquire);
        let over = |from: u64, limit: Duration| now.saturating_sub(from) > limit.as_millis() as u64;
        match phase {
            BODY => over(since, self.timeouts.body).then_some(BODY),
            HEAD | IDLE if c.busy.load(Ordering::Acquire) == 0 => {
                let from = since.max(c.done_ms.load(Ordering::Acquire));
                let limit = if phase == HEAD {
                    self.timeouts.head
                } else {
                    self.timeouts.idle
                };
                over(from, limit).then_some(phase)
            }
            _ => None,
        }
    }

    /// Closes connections that are late, until `shutdown` changes.
    pub async fn sweep(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let t = self.timeouts;
        let shortest = t.head.min(t.body).min(t.idle);
        let every = (shortest / 4).clamp(Duration::from_millis(20), Duration::from_millis(500));
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            let now = self.now_ms();
            let late: Vec<(Heads, u8)> = match self.clocks.lock() {
                Ok(m) => m
                    .values()
                    .filter(|h| h.0.clock.late.load(Ordering::Acquire) == 0)
                    .filter_map(|h| Some((h.clone(), self.late(&h.0.clock, now)?)))
                    .collect(),
                Err(_) => continue,
            };
            for (h, phase) in late {
                h.0.clock.late.store(phase, Ordering::Release);
                h.0.clock.waker.wake();
            }
        }
    }
}

/// A connection's place in the registry; leaves it on drop.
struct Guard {
    owner: Arc<SlowClients>,
    id: u64,
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
    /// Wraps a socket; heads are pushed to the returned [`Heads`]. With `slow`, the connection
    /// is held to its timeouts.
    pub fn new(inner: S, max_head: usize, slow: Option<&Arc<SlowClients>>) -> (TapIo<S>, Heads) {
        let (guard, heads) = match slow {
            Some(s) => {
                let (g, h) = s.register();
                (Some(g), h)
            }
            None => (None, Heads::new(Instant::now())),
        };
        (
            TapIo {
                inner,
                tracker: Tracker::new(max_head, heads.clone()),
                slow: guard,
            },
            heads,
        )
    }

    fn clock(&self) -> &Clock {
        &self.tracker.heads.0.clock
    }

    /// After a read: the clock follows the tracker's phase, keeping its start while the phase
    /// stays the same.
    fn tick(&mut self) {
        if self.tracker.heads.0.upgraded.load(Ordering::Acquire) {
            self.tracker.state = State::Off;
            return;
        }
        if self.slow.is_none() {
            return;
        }
        let base = self.tracker.heads.0.base;
        let c = self.clock();
        let phase = self.tracker.phase();
        if c.phase.load(Ordering::Acquire) == phase {
            return;
        }
        let since = ms_since(
            base,
            self.tracker.head_started().unwrap_or_else(Instant::now),
        );
        c.since_ms.store(since, Ordering::Release);
        c.phase.store(phase, Ordering::Release);
    }
}

impl<S: AsyncWrite + Unpin> TapIo<S> {
    /// The sweeper found the connection late: what the read returns instead of bytes.
    fn late(&mut self, cx: &mut Context<'_>, phase: u8) -> Poll<io::Result<()>> {
        match phase {
            // nothing in progress: a plain end of stream closes the connection quietly
            IDLE => Poll::Ready(Ok(())),
            // the service sees its body fail with this, and answers 408
            BODY => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request body not received in time",
            ))),
            _ => Poll::Ready(Err(self.late_head(cx))),
        }
    }

    /// The connection is closed for a late head. On a connection that never completed a head
    /// nothing else was written, so the client is first told why, with a 408.
    fn late_head(&mut self, cx: &mut Context<'_>) -> io::Error {
        if let Some(g) = &self.slow {
            let told = &self.tracker.heads.0.clock.told;
            if self.tracker.seen == 0 && !told.swap(true, Ordering::AcqRel) {
                let body = format!(
                    r#"{{"error":{{"code":"header_timeout","message":"the request head did not arrive within {:?}"}}}}"#,
                    g.owner.timeouts.head
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
        if this.slow.is_some() {
            let late = this.clock().late.load(Ordering::Acquire);
            if late != 0 {
                return this.late(cx, late);
            }
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        match &r {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                if !new.is_empty() {
                    this.tracker.feed(new);
                }
                this.tick();
            }
            Poll::Pending => {
                if this.slow.is_some() {
                    let c = this.clock();
                    c.waker.register(cx.waker());
                    let late = c.late.load(Ordering::Acquire);
                    if late != 0 {
                        return this.late(cx, late);
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
        Tracker::new(64 * 1024, Heads::new(Instant::now()))
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
    fn an_upgrade_answered_101_switches_the_tap_off_after_its_head() {
        let mut t = tracker();
        t.feed(b"GET /_/ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n");
        assert_eq!(targets(&t), ["/_/ws"]);
        t.heads.upgraded();
        t.feed(b"\x81\x85GET /x HTTP/1.1\r\n\r\n");
        assert!(matches!(t.state, State::Off));
        assert!(t.heads.pop().is_none());
    }

    #[test]
    fn an_upgrade_header_without_a_101_keeps_the_tap_on() {
        let mut t = tracker();
        t.feed(b"GET /a HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n");
        t.feed(b"GET /b HTTP/1.1\r\nX-Case: 1\r\n\r\n");
        assert_eq!(targets(&t), ["/a", "/b"]);
    }

    #[test]
    fn a_long_head_arriving_byte_by_byte_is_parsed_at_most_twice() {
        let mut t = tracker();
        let head = format!(
            "GET /slow HTTP/1.1\r\nX-Pad: {}\r\n\r\n",
            "a".repeat(30_000)
        );
        for b in head.as_bytes() {
            t.feed(std::slice::from_ref(b));
        }
        assert_eq!(targets(&t), ["/slow"]);
        // once when its first byte came (in place), once when its blank line did
        assert!(t.parses <= 2, "{} parses", t.parses);
    }

    #[test]
    fn twenty_thousand_one_byte_chunks_in_one_read_keep_the_tap_in_step() {
        let mut t = tracker();
        let mut wire = b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..20_000 {
            wire.extend_from_slice(b"1\r\nx\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\nGET /next HTTP/1.1\r\n\r\n");
        t.feed(&wire);
        assert_eq!(targets(&t), ["/c", "/next"]);
    }

    #[test]
    fn malformed_chunk_sizes_switch_the_tap_off() {
        for body in [
            &b"ZZ\r\n"[..],
            b"5\nhello",
            b"1ffffffffffffffff\r\n",
            b"\r\n",
        ] {
            let mut t = tracker();
            t.feed(b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
            t.feed(body);
            assert!(matches!(t.state, State::Off), "{body:?}");
        }
    }

    /// The differential test: random pipelined HTTP/1.1 streams, cut at random points, go through
    /// the tap under a real hyper server; the heads the tap records must be exactly what was
    /// sent and agree with what hyper parsed, and hyper must see every body whole.
    mod differential {
        use super::super::*;
        use http_body_util::BodyExt;
        use proptest::prelude::*;
        use tokio::io::AsyncWriteExt;

        #[derive(Debug, Clone)]
        enum Framing {
            Empty,
            Length(Vec<u8>),
            /// Chunks with an optional extension and a size written with leading zeros and
            /// upper-case digits or not; then trailers.
            Chunked {
                chunks: Vec<(Vec<u8>, Option<String>, usize, bool)>,
                trailers: Vec<(String, String)>,
            },
        }

        #[derive(Debug, Clone)]
        struct Req {
            method: String,
            target: String,
            headers: Vec<(String, String)>,
            framing: Framing,
        }

        impl Req {
            /// The headers as they go on the wire, framing included.
            fn wire_headers(&self) -> Vec<(String, String)> {
                let mut h = self.headers.clone();
                match &self.framing {
                    Framing::Empty => {}
                    Framing::Length(b) => h.push(("Content-Length".into(), b.len().to_string())),
                    Framing::Chunked { .. } => {
                        h.push(("Transfer-Encoding".into(), "chunked".into()))
                    }
                }
                h
            }

            fn body(&self) -> Vec<u8> {
                match &self.framing {
                    Framing::Empty => vec![],
                    Framing::Length(b) => b.clone(),
                    Framing::Chunked { chunks, .. } => {
                        chunks.iter().flat_map(|c| c.0.clone()).collect()
                    }
                }
            }

            fn write(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(
                    format!("{} {} HTTP/1.1\r\n", self.method, self.target).as_bytes(),
                );
                for (n, v) in self.wire_headers() {
                    out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
                }
                out.extend_from_slice(b"\r\n");
                match &self.framing {
                    Framing::Empty => {}
                    Framing::Length(b) => out.extend_from_slice(b),
                    Framing::Chunked { chunks, trailers } => {
                        for (data, ext, zeros, upper) in chunks {
                            let size = if *upper {
                                format!("{}{:X}", "0".repeat(*zeros), data.len())
                            } else {
                                format!("{}{:x}", "0".repeat(*zeros), data.len())
                            };
                            out.extend_from_slice(size.as_bytes());
                            if let Some(e) = ext {
                                out.extend_from_slice(format!(";{e}").as_bytes());
                            }
                            out.extend_from_slice(b"\r\n");
                            out.extend_from_slice(data);
                            out.extend_from_slice(b"\r\n");
                        }
                        out.extend_from_slice(b"0\r\n");
                        for (n, v) in trailers {
                            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
                        }
                        out.extend_from_slice(b"\r\n");
                    }
                }
            }
        }

        /// A header name from a small pool (so duplicates happen), in random case.
        fn name() -> impl Strategy<Value = String> {
            (
                prop::sample::select(vec![
                    "X-Dup",
                    "Accept",
                    "Content-Type",
                    "User-Agent",
                    "X-Signature-256",
                    "Host",
                ]),
                prop::collection::vec(any::<bool>(), 16),
            )
                .prop_map(|(n, up)| {
                    n.chars()
                        .zip(up.iter().cycle())
                        .map(|(c, u)| {
                            if *u {
                                c.to_ascii_uppercase()
                            } else {
                                c.to_ascii_lowercase()
                            }
                        })
                        .collect()
                })
        }

        fn value() -> impl Strategy<Value = String> {
            "([!-~]([ -~]{0,18}[!-~])?)?"
        }

        fn framing() -> impl Strategy<Value = Framing> {
            let bytes = prop::collection::vec(any::<u8>(), 0..40);
            let chunk = (
                prop::collection::vec(any::<u8>(), 1..30),
                prop::option::of("[a-z]{1,5}(=[a-z0-9]{0,5})?"),
                0usize..20,
                any::<bool>(),
            );
            prop_oneof![
                Just(Framing::Empty),
                bytes.prop_map(Framing::Length),
                (
                    prop::collection::vec(chunk, 0..6),
                    prop::collection::vec(("X-T[a-z]{1,4}", "[a-z0-9]{0,6}"), 0..3),
                )
                    .prop_map(|(chunks, trailers)| Framing::Chunked { chunks, trailers }),
            ]
        }

        fn request() -> impl Strategy<Value = Req> {
            (
                prop::sample::select(vec!["GET", "POST", "PUT", "PATCH", "DELETE", "PURGE"]),
                "/[a-zA-Z0-9._~%-]{0,8}(/[a-z0-9]{0,5}){0,2}(\\?[a-z0-9=&]{0,10})?",
                prop::collection::vec((name(), value()), 0..8),
                framing(),
            )
                .prop_map(|(m, target, headers, framing)| Req {
                    method: m.to_owned(),
                    target,
                    headers,
                    framing,
                })
        }

        /// What hyper handed the service, with the head the tap recorded for it.
        struct Seen {
            method: String,
            target: String,
            headers: Vec<(String, Vec<u8>)>,
            body: Vec<u8>,
            tap: Option<RawHead>,
        }

        async fn through_hyper(wire: Vec<u8>, cuts: Vec<usize>, n: usize) -> Vec<Seen> {
            let (mut client, server) = tokio::io::duplex(1 << 20);
            let (io, heads) = TapIo::new(server, 64 * 1024, None);
            let seen = Arc::new(Mutex::new(Vec::new()));
            let svc_seen = seen.clone();
            let svc =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let heads = heads.clone();
                    let seen = svc_seen.clone();
                    async move {
                        let tap = heads.pop();
                        let method = req.method().as_str().to_owned();
                        let target = req.uri().to_string();
                        let headers = req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
                            .collect();
                        let body = req.into_body().collect().await?.to_bytes().to_vec();
                        if let Ok(mut s) = seen.lock() {
                            s.push(Seen {
                                method,
                                target,
                                headers,
                                body,
                                tap,
                            });
                        }
                        Ok::<_, hyper::Error>(hyper::Response::new(http_body_util::Empty::<
                            bytes::Bytes,
                        >::new(
                        )))
                    }
                });
            let conn = tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(io), svc),
            );
            let mut at = 0;
            let mut cuts = cuts;
            cuts.sort_unstable();
            cuts.push(wire.len());
            for cut in cuts {
                if cut > at {
                    client.write_all(&wire[at..cut]).await.expect("write");
                    at = cut;
                    tokio::task::yield_now().await;
                }
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while seen.lock().map(|s| s.len()).unwrap_or(0) < n && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            drop(client);
            let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
            let mut out = seen
                .lock()
                .map(|mut s| std::mem::take(&mut *s))
                .unwrap_or_default();
            out.truncate(n + 1);
            out
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn the_tap_records_exactly_what_was_sent_and_agrees_with_hyper(
                reqs in prop::collection::vec(request(), 1..8),
                cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..24),
            ) {
                let mut wire = Vec::new();
                for r in &reqs {
                    r.write(&mut wire);
                }
                let cuts: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                let seen = rt.block_on(through_hyper(wire, cuts, reqs.len()));
                prop_assert_eq!(seen.len(), reqs.len(), "hyper saw every request");
                for (r, s) in reqs.iter().zip(&seen) {
                    let Some(tap) = s.tap.as_ref() else {
                        return Err(TestCaseError::fail("the tap lost a head"));
                    };
                    // the tap: exactly as generated
                    prop_assert_eq!(&tap.method, &r.method);
                    prop_assert_eq!(&tap.target, &r.target);
                    let tap_headers: Vec<(String, Vec<u8>)> = tap
                        .headers
                        .iter()
                        .map(|h| (h.name.to_string(), h.value.to_vec()))
                        .collect();
                    let sent: Vec<(String, Vec<u8>)> = r
                        .wire_headers()
                        .into_iter()
                        .map(|(n, v)| (n, v.into_bytes()))
                        .collect();
                    prop_assert_eq!(&tap_headers, &sent);
                    // hyper: the same request, names normalised and grouped by name
                    prop_assert_eq!(&s.method, &tap.method);
                    prop_assert_eq!(&s.target, &tap.target);
                    let mut by_name = sent.clone();
                    for h in &mut by_name {
                        h.0 = h.0.to_ascii_lowercase();
                    }
                    let mut hyper_headers = s.headers.clone();
                    by_name.sort_by(|a, b| a.0.cmp(&b.0));
                    hyper_headers.sort_by(|a, b| a.0.cmp(&b.0));
                    prop_assert_eq!(hyper_headers, by_name);
                    prop_assert_eq!(&s.body, &r.body());
                }
            }
        }
    }
}
