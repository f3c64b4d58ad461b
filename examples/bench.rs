//! hookpit's benchmark program: measures what the spec promises about speed and memory, against
//! baselines measured in the same run, on loopback only.
//!
//! * `capture`: throughput of the catch path measured from outside: `wrk` in its own process
//!   (1 thread, 32 keep-alive connections, POST of 1 KiB JSON) against servers each in a child
//!   process — a bare hyper server (the baseline), a naive capture (bare + `Mutex<Vec>`), hookpit
//!   with default limits (target ≥ 0.80× bare) and with a deep store (1M requests, 1 GiB; target
//!   ≥ 0.70×, ≤ 1.75 KiB resident per stored 1 KiB request) — "shared" (all float) and "pinned"
//!   (server on CPU 0, wrk on CPU 1) per round (see `examples/bench/wrk.rs`).
//! * `ws`: capture → websocket latency: hookpit with its default limits in a child process
//!   (`serve-hookpit`), and in this process 50 viewers on `/_/ws?bin=…` and requests paced at
//!   1,000 req/s; p50/p99/max of receive − send over every delivery, and missed messages
//!   (target p99 ≤ 5 ms). The HTTP round trip of the same requests is printed as the reference.
//! * `memory`: RSS growth per stored request over 100,000 captured 1 KiB POSTs (target ≤ 2.5 KiB).
//!   In `all` it runs first, before the other benches have allocated anything.
//! * `waits`: (1) wake-up latency of a wait: 2,000 times per round, `GET /_/api/bins/{bin}/wait`
//!   on a keep-alive connection on a fresh bin, then (once `pending_waits()` shows it) the
//!   matching POST; time from just before sending the POST to the wait's whole answer read
//!   (target p99 ≤ 2 ms). Every 5th iteration is an in-process `Store::wait` instead (reported);
//!   the POST's own round trip is the baseline. (2) capture throughput (the `capture` load) with
//!   1,000 pending waits on other bins vs none (target ≥ 0.90), and with 100 pending waits on
//!   the loaded bin whose `json:` filter never matches (target ≥ 0.80): three identical
//!   servers, loaded in rotating slices.
//! * `verify`: capture throughput of a bin with `verify = standard-webhooks` receiving validly
//!   signed requests vs a bin without verify receiving the same requests (target ≥ 0.90).
//! * `sender`: (1) deliveries/s of the sender (10 webhooks on `*`, N events dispatched, timed
//!   until `idle()`) vs a plain hyper client POSTing the same bodies and headers, signed, with the
//!   same concurrency (10 × 4 in flight) and count, to the same in-process receiver; the sides
//!   alternate in 4 chunks per round (target ≥ 0.5). (2) memory per pending retry: 100,000
//!   events to a webhook whose receiver answers 500 and whose schedule is `["1h"]`; RSS growth
//!   (`/proc/self/statm`) per pending retry minus the body's size (bodies are not shared between
//!   events) (target ≤ 1 KiB); the RSS of 100,000 bodies made alone is the baseline. Part (2)
//!   always runs in a fresh child process (`bench retry-memory --child`, via `/proc/self/exe`),
//!   so no other bench's allocations pollute it; the child's verdicts join this summary.
//! * `soak`: a bounded flood (at most 400,000 requests, 4 × `--secs`) over 64 connections, four
//!   requests in five into 100 hot bins and one in five over 5,000 more, bodies of 0–64 KiB,
//!   with 20 viewers and 100 pending waits attached, against a
//!   server in a child process with `--max-memory 64 MiB --max-bins 200`: requests answered 2xx
//!   must equal requests recorded and kept + evicted; the child's peak RSS must stay within the
//!   budget plus its RSS at start plus a stated 64 MiB overhead; `/_/api/health` p99 during the
//!   flood (see `examples/bench/soak.rs`).
//! * `persist`: the durable store from outside: 100,000 POSTs of 1 KiB into a child with
//!   `--data-dir`, a clean stop, a restart on the same directory: start-up until
//!   `/_/api/health` answers (target ≤ 2 s), all 100,000 there, database bytes per stored request
//!   (target ≤ 1.6 KiB) (see `examples/bench/persist.rs`). `capture` has a row for hookpit
//!   with `--data-dir` (target ≥ 0.60× bare).
//! * `shared`: shared mode (`--redis`) against a `redis-server` the bench starts for itself
//!   (loopback, persistence off, stopped by PID at the end; skipped with a note naming Debian's
//!   `redis-server` package when there is none), hookpit instances in child processes
//!   (`serve-shared`): capture through Redis with the `capture` wrk load, one instance vs bare
//!   hyper in the same round (target ≥ 0.35×) and two instances at once (info); the live feed
//!   across instances, 20 viewers on B and 1,000 req/s POSTed to A (target p99 ≤ 10 ms, none
//!   missed or duplicated); a wait on B woken by a POST to A (target p99 ≤ 10 ms); Redis
//!   `used_memory` per stored 1 KiB request over 100,000 (target ≤ 2 KiB). Redis shares the
//!   machine's CPUs with everything else (see `examples/bench/shared.rs`).
//!
//! Run: `cargo run --release --example bench [-- capture|ws|memory|waits|verify|sender|soak|persist|shared|all]
//! [--rounds N] [--secs S] [--conns C]` (defaults: `all`, 5 rounds, 3 s per round, 32
//! connections; `retry-memory` runs part (2) of `sender` alone, in this process). The machine may
//! be shared and noisy, so every figure is printed per round with the median, and verdicts use the
//! median. Every loop is bounded in count and in time.
//!
//! A/B throughput figures alternate A and B in 0.5 s slices inside every round, so noise from
//! other processes hits both sides alike; the verdict is the median of the per-round ratios.
//!
//! Adding a bench: write `async fn bench_x(opts: &Opts) -> Result<Vec<Verdict>, BoxError>` using
//! [`load_with`] (a fixed-duration, bounded closed-loop load generator returning a
//! [`Run`] with a latency histogram) or [`compare`] / [`compare_n`] (A/B/… rounds with ratios),
//! print with [`print_run`] / [`print_per_round`], and call it from `main`. The benches of
//! `waits`, `verify`, `sender`, `soak`, `persist`, `shared` and `capture` (`wrk.rs`) live in
//! `examples/bench/*.rs`.

/// The same allocator as the `hookpit` binary, so the servers measured here (hookpit and the
/// baselines alike) allocate the way the shipped program does.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

#[path = "bench/persist.rs"]
mod persist;
#[path = "bench/sender.rs"]
mod sender;
#[path = "bench/shared.rs"]
mod shared;
#[path = "bench/soak.rs"]
mod soak;
#[path = "bench/verify.rs"]
mod verify;
#[path = "bench/waits.rs"]
mod waits;
#[path = "bench/wrk.rs"]
mod wrk;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Requests one load-generator connection may send, whatever the duration: a hard bound.
const MAX_REQS_PER_CONN: u64 = 2_000_000;
/// How long connecting may take before a bench gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request may take before it counts as an error and the connection is replaced.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Options

/// Command-line options.
#[derive(Debug, Clone)]
struct Opts {
    mode: String,
    rounds: usize,
    secs: f64,
    conns: usize,
    /// Run as the child of another bench process: print verdicts as `@verdict` lines, no summary.
    child: bool,
}

impl Opts {
    fn parse() -> Result<Opts, String> {
        let mut o = Opts {
            mode: "all".into(),
            rounds: 5,
            secs: 3.0,
            conns: 32,
            child: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            let mut val = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
            match a.as_str() {
                "--rounds" => o.rounds = num(&val("--rounds")?)?,
                "--secs" => o.secs = num(&val("--secs")?)?,
                "--conns" => o.conns = num(&val("--conns")?)?,
                "-h" | "--help" => return Err(String::new()),
                "capture" | "ws" | "memory" | "waits" | "verify" | "sender" | "retry-memory"
                | "soak" | "persist" | "shared" | "serve-soak" | "serve-bare" | "serve-naive"
                | "serve-hookpit" | "serve-deep" | "serve-disk" | "serve-persist"
                | "serve-shared" | "serve-shared-deep" | "all" => o.mode = a,
                "--child" => o.child = true,
                "--bench" => {} // passed by `cargo bench`-style runners; harmless
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        if !(1..=50).contains(&o.rounds) {
            return Err("--rounds must be 1..=50".into());
        }
        if !(0.2..=60.0).contains(&o.secs) {
            return Err("--secs must be 0.2..=60".into());
        }
        if !(1..=1024).contains(&o.conns) {
            return Err("--conns must be 1..=1024".into());
        }
        Ok(o)
    }

    fn round_time(&self) -> Duration {
        Duration::from_secs_f64(self.secs)
    }
}

fn num<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("`{s}` is not a number"))
}

// ---------------------------------------------------------------------------------------------
// Latency histogram (log-linear buckets, ≤ 3.2 % relative error, fixed size)

const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB as usize;

/// Latencies in nanoseconds, bucketed: constant memory, cheap to record and to merge.
#[derive(Clone)]
struct Hist {
    counts: Box<[u64]>,
    n: u64,
    max: u64,
    sum: u128,
}

impl Hist {
    fn new() -> Hist {
        Hist {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            n: 0,
            max: 0,
            sum: 0,
        }
    }

    fn index(v: u64) -> usize {
        if v < SUB {
            v as usize
        } else {
            let e = 63 - v.leading_zeros();
            let shift = e - SUB_BITS;
            let sub = (v >> shift) & (SUB - 1);
            ((shift as u64 + 1) * SUB + sub) as usize
        }
    }

    /// The middle of bucket `i`.
    fn value(i: usize) -> u64 {
        let i = i as u64;
        if i < SUB {
            i
        } else {
            let shift = i / SUB - 1;
            let low = (SUB + i % SUB) << shift;
            low + ((1u64 << shift) >> 1)
        }
    }

    fn record(&mut self, d: Duration) {
        let v = d.as_nanos().min(u64::MAX as u128) as u64;
        self.counts[Self::index(v)] += 1;
        self.n += 1;
        self.max = self.max.max(v);
        self.sum += v as u128;
    }

    fn merge(&mut self, o: &Hist) {
        for (a, b) in self.counts.iter_mut().zip(o.counts.iter()) {
            *a += b;
        }
        self.n += o.n;
        self.max = self.max.max(o.max);
        self.sum += o.sum;
    }

    /// The `q` quantile (0..=1) as a duration; zero when empty.
    fn quantile(&self, q: f64) -> Duration {
        if self.n == 0 {
            return Duration::ZERO;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Duration::from_nanos(Self::value(i).min(self.max));
            }
        }
        Duration::from_nanos(self.max)
    }

    fn p50(&self) -> Duration {
        self.quantile(0.50)
    }

    fn p99(&self) -> Duration {
        self.quantile(0.99)
    }

    fn max(&self) -> Duration {
        Duration::from_nanos(self.max)
    }
}

// ---------------------------------------------------------------------------------------------
// Figures across rounds

/// One bench's figures summarised across rounds: the median of each per-round figure.
#[derive(Debug, Clone, Copy)]
struct Stats {
    /// Median of the per-round main figure (req/s for throughput runs).
    median: f64,
    /// Median of the per-round p50 latencies, in ms.
    p50: f64,
    /// Median of the per-round p99 latencies, in ms.
    p99: f64,
}

impl Stats {
    fn of(runs: &[Run]) -> Stats {
        let f = |g: &dyn Fn(&Run) -> f64| median(&runs.iter().map(g).collect::<Vec<_>>());
        Stats {
            median: f(&|r| r.rps()),
            p50: f(&|r| ms(r.lat.p50())),
            p99: f(&|r| ms(r.lat.p99())),
        }
    }
}

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A target a figure must meet.
#[derive(Debug, Clone, Copy)]
enum Target {
    AtLeast(f64),
    AtMost(f64),
    /// Printed for context, no verdict.
    Info,
}

/// One line of the final summary.
#[derive(Debug, Clone)]
struct Verdict {
    name: String,
    value: f64,
    unit: &'static str,
    target: Target,
    note: String,
}

impl Verdict {
    /// The verdict as one `@verdict` line (tab-separated), how a child process hands it over.
    fn to_line(&self) -> String {
        let (kind, t) = match self.target {
            Target::AtLeast(t) => ("ge", t),
            Target::AtMost(t) => ("le", t),
            Target::Info => ("info", 0.0),
        };
        let clean = |s: &str| s.replace(['\t', '\n'], " ");
        format!(
            "@verdict\t{}\t{:?}\t{}\t{kind}\t{t:?}\t{}",
            clean(&self.name),
            self.value,
            clean(self.unit),
            clean(&self.note)
        )
    }

    /// Parses a line made by [`Verdict::to_line`]; `None` for any other line.
    fn from_line(line: &str) -> Option<Verdict> {
        let mut f = line.strip_prefix("@verdict\t")?.split('\t');
        let name = f.next()?.to_owned();
        let value = f.next()?.parse().ok()?;
        // a handful of short strings per run: leaking them keeps `unit` a plain `&'static str`
        let unit: &'static str = Box::leak(f.next()?.to_owned().into_boxed_str());
        let kind = f.next()?;
        let t: f64 = f.next()?.parse().ok()?;
        let note = f.next().unwrap_or_default().to_owned();
        let target = match kind {
            "ge" => Target::AtLeast(t),
            "le" => Target::AtMost(t),
            _ => Target::Info,
        };
        Some(Verdict {
            name,
            value,
            unit,
            target,
            note,
        })
    }

    fn pass(&self) -> bool {
        match self.target {
            Target::AtLeast(t) => self.value >= t,
            Target::AtMost(t) => self.value <= t,
            Target::Info => true,
        }
    }
}

fn print_summary(verdicts: &[Verdict]) {
    println!();
    println!("== summary (medians over rounds) ==");
    for v in verdicts {
        let (target, verdict) = match v.target {
            Target::AtLeast(t) => (format!(">= {t}"), if v.pass() { "PASS" } else { "MISS" }),
            Target::AtMost(t) => (format!("<= {t}"), if v.pass() { "PASS" } else { "MISS" }),
            Target::Info => (String::new(), "info"),
        };
        println!(
            "{:<44} {:>9.3} {:<5} {:<10} {:<4}  {}",
            v.name, v.value, v.unit, target, verdict, v.note
        );
    }
}

/// One line per round plus the median, for a figure with no latency attached.
fn print_per_round(label: &str, unit: &str, per_round: &[f64]) {
    let rounds: Vec<String> = per_round.iter().map(|v| format!("{v:.3}")).collect();
    println!(
        "{label:<34} rounds [{}]  median {:.3}{}{unit}",
        rounds.join(", "),
        median(per_round),
        if unit.is_empty() { "" } else { " " }
    );
}

fn print_run_header() {
    println!(
        "{:<7} {:<10} {:>11} {:>9} {:>9} {:>9} {:>8}",
        "round", "target", "req/s", "p50 ms", "p99 ms", "max ms", "errors"
    );
}

fn print_run(round: &str, target: &str, r: &Run) {
    println!(
        "{:<7} {:<10} {:>11.0} {:>9.3} {:>9.3} {:>9.3} {:>8}",
        round,
        target,
        r.rps(),
        ms(r.lat.p50()),
        ms(r.lat.p99()),
        ms(r.lat.max()),
        r.errors
    );
}

fn print_stats(target: &str, s: &Stats) {
    println!(
        "{:<7} {:<10} {:>11.0} {:>9.3} {:>9.3}",
        "median", target, s.median, s.p50, s.p99
    );
}

// ---------------------------------------------------------------------------------------------
// Load generator

/// What to send, prepared once: cloning it per request is cheap (the body is shared `Bytes`).
#[derive(Clone)]
struct Template {
    /// `host:port` to connect to.
    authority: String,
    method: Method,
    /// Origin-form target (`/bin/path?x`).
    target: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Template {
    /// A POST of `body` (JSON) to `url` (`http://HOST:PORT/path`).
    fn post(url: &str, body: Bytes) -> Result<Template, BoxError> {
        let uri: Uri = url.parse()?;
        let authority = uri
            .authority()
            .ok_or("the URL has no host:port")?
            .as_str()
            .to_owned();
        let target: Uri = uri
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/")
            .parse()?;
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_str(&authority)?);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        Ok(Template {
            authority,
            method: Method::POST,
            target,
            headers,
            body,
        })
    }

    /// A GET of `url` (`http://HOST:PORT/path`).
    fn get(url: &str) -> Result<Template, BoxError> {
        let mut t = Template::post(url, Bytes::new())?;
        t.method = Method::GET;
        t.headers.remove(CONTENT_TYPE);
        t.headers.remove(CONTENT_LENGTH);
        Ok(t)
    }

    /// Adds a header to every request (e.g. a signature header).
    fn header(mut self, name: &'static str, value: &str) -> Result<Template, BoxError> {
        self.headers
            .append(HeaderName::from_static(name), HeaderValue::from_str(value)?);
        Ok(self)
    }

    fn build(&self) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.target.clone();
        *req.headers_mut() = self.headers.clone();
        req
    }
}

/// One keep-alive HTTP/1.1 client connection.
struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Conn {
    async fn open(authority: &str) -> Result<Conn, BoxError> {
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(authority)).await??;
        tcp.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn { sender })
    }

    /// Sends one request and reads the whole response.
    async fn send(&mut self, req: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes), BoxError> {
        let fut = async {
            self.sender.ready().await?;
            let resp = self.sender.send_request(req).await?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            Ok::<_, BoxError>((status, body))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, fut).await?
    }
}

/// How to load a server.
#[derive(Clone)]
struct LoadSpec {
    template: Template,
    conns: usize,
    duration: Duration,
    /// Stop after this many requests in total (whichever of this and `duration` comes first).
    max_reqs: u64,
}

impl LoadSpec {
    fn new(template: Template, conns: usize, duration: Duration) -> LoadSpec {
        LoadSpec {
            template,
            conns,
            duration,
            max_reqs: MAX_REQS_PER_CONN * conns as u64,
        }
    }
}

/// What a load run did.
#[derive(Clone)]
struct Run {
    /// Requests answered with a 2xx status.
    reqs: u64,
    /// Failed requests: transport errors, timeouts, non-2xx answers.
    errors: u64,
    elapsed: Duration,
    /// Latency of the answered requests (send to whole response read).
    lat: Hist,
}

impl Run {
    fn empty() -> Run {
        Run {
            reqs: 0,
            errors: 0,
            elapsed: Duration::ZERO,
            lat: Hist::new(),
        }
    }

    /// Adds another run's figures (time adds up: runs that follow each other).
    fn absorb(&mut self, o: &Run) {
        self.reqs += o.reqs;
        self.errors += o.errors;
        self.elapsed += o.elapsed;
        self.lat.merge(&o.lat);
    }

    fn rps(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.reqs as f64 / s
        } else {
            0.0
        }
    }
}

/// Closed-loop load: `conns` keep-alive connections, one task each, sending the template back
/// to back for `duration`; every knob: custom headers/method, a total request budget.: custom headers/method, a total request budget.
async fn load_with(spec: LoadSpec) -> Result<Run, BoxError> {
    // connect everything first so the clock measures requests, not handshakes
    let mut conns = Vec::with_capacity(spec.conns);
    for _ in 0..spec.conns {
        conns.push(Conn::open(&spec.template.authority).await?);
    }
    let spec = Arc::new(spec);
    let issued = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + spec.duration;
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|c| tokio::spawn(conn_loop(c, spec.clone(), issued.clone(), deadline)))
        .collect();
    let mut run = Run::empty();
    for t in tasks {
        let r = t.await?;
        run.reqs += r.reqs;
        run.errors += r.errors;
        run.lat.merge(&r.lat);
    }
    run.elapsed = start.elapsed();
    Ok(run)
}

async fn conn_loop(
    mut conn: Conn,
    spec: Arc<LoadSpec>,
    issued: Arc<AtomicU64>,
    deadline: Instant,
) -> Run {
    let mut run = Run::empty();
    let mut sent = 0u64;
    while sent < MAX_REQS_PER_CONN && Instant::now() < deadline {
        if issued.fetch_add(1, Ordering::Relaxed) >= spec.max_reqs {
            break;
        }
        sent += 1;
        let req = spec.template.build();
        let t0 = Instant::now();
        match conn.send(req).await {
            Ok((status, _)) if status.is_success() => {
                run.reqs += 1;
                run.lat.record(t0.elapsed());
            }
            Ok(_) => run.errors += 1,
            Err(_) => {
                run.errors += 1;
                match Conn::open(&spec.template.authority).await {
                    Ok(c) => conn = c,
                    Err(_) => break,
                }
            }
        }
    }
    run
}

/// Per-round results of an A/B comparison: `ratios[i]` is B's req/s over A's in round `i`.
struct Ab {
    a: Vec<Run>,
    b: Vec<Run>,
    ratios: Vec<f64>,
}

/// Length of one A or B slice inside a round.
const SLICE: Duration = Duration::from_millis(500);

/// Loads A and B for `o.rounds` rounds of `o.secs` each. Inside a round the two alternate in
/// short slices (ABAB…, BABA… in even rounds), so the shared machine's noise, which comes and
/// goes over seconds, hits both alike; each round sums its slices per side. Prints one line per
/// round and side, the ratio B/A per round, then the medians. `duration` of the specs is ignored.
async fn compare(o: &Opts, a: (&str, &LoadSpec), b: (&str, &LoadSpec)) -> Result<Ab, BoxError> {
    let mut n = compare_n(o, &[a, b], o.secs).await?;
    let ratios = n.ratios.pop().unwrap_or_default();
    let b = n.runs.pop().unwrap_or_default();
    let a = n.runs.pop().unwrap_or_default();
    Ok(Ab { a, b, ratios })
}

/// Per-round results of an N-way comparison: `runs[s][i]` is side `s` in round `i`, and
/// `ratios[s][i]` its req/s over side 0's (all 1 for side 0).
struct AbN {
    runs: Vec<Vec<Run>>,
    ratios: Vec<Vec<f64>>,
}

/// [`compare`] with any number of sides (letters A, B, C… in the output), `secs_per_side`
/// seconds of load per side and round. Slices rotate through the sides, starting one side
/// later every round. Ratios are against side A.
async fn compare_n(
    o: &Opts,
    sides: &[(&str, &LoadSpec)],
    secs_per_side: f64,
) -> Result<AbN, BoxError> {
    const LETTERS: &[u8] = b"ABCDEFGH";
    let n = sides.len();
    if !(2..=LETTERS.len()).contains(&n) {
        return Err("compare_n takes 2 to 8 sides".into());
    }
    let letter = |s: usize| LETTERS[s] as char;
    let slices = ((secs_per_side / SLICE.as_secs_f64()).round() as usize).max(1);
    let slice = Duration::from_secs_f64(secs_per_side / slices as f64);
    let names: Vec<String> = sides
        .iter()
        .enumerate()
        .map(|(i, (name, _))| format!("{} = {name}", letter(i)))
        .collect();
    println!(
        "({}; each round {} {slices} slices of {:.2} s per side)",
        names.join(", "),
        if n == 2 { "alternates" } else { "rotates" },
        slice.as_secs_f64()
    );
    print_run_header();
    let mut out = AbN {
        runs: vec![Vec::new(); n],
        ratios: vec![Vec::new(); n],
    };
    for round in 1..=o.rounds {
        let mut runs = vec![Run::empty(); n];
        for i in 0..slices * n {
            let side = (i + round + 1) % n;
            let r = load_with(LoadSpec {
                duration: slice,
                ..sides[side].1.clone()
            })
            .await?;
            runs[side].absorb(&r);
        }
        for (s, r) in runs.iter().enumerate() {
            print_run(&round.to_string(), sides[s].0, r);
        }
        let base = runs[0].rps().max(1e-9);
        for (s, r) in runs.into_iter().enumerate() {
            let ratio = r.rps() / base;
            if s > 0 {
                let label = format!("ratio {}/A", letter(s));
                println!("{:<7} {:<10} {:>11.3}", round, label, ratio);
            }
            out.ratios[s].push(ratio);
            out.runs[s].push(r);
        }
    }
    Ok(out)
}

/// A 1 KiB JSON body (exactly 1024 bytes), shaped like a webhook payload.
fn body_1k() -> Bytes {
    let head = r#"{"type":"payment_received","data":{"payment_id":42,"amount":"19.99","currency":"USD","customer":"jane@example.com","pad":""#;
    let tail = r#""}}"#;
    let pad = 1024 - head.len() - tail.len();
    let s = format!("{head}{}{tail}", "x".repeat(pad));
    assert_eq!(s.len(), 1024);
    Bytes::from(s)
}

// ---------------------------------------------------------------------------------------------
// Baseline server

/// A bare hyper HTTP/1.1 server on 127.0.0.1:0 that reads each body and answers `status` with a
/// tiny JSON body, counting requests in `hits` when given: the capture baseline and the sender
/// bench's receiver.
async fn serve_bare(
    status: StatusCode,
    hits: Option<Arc<AtomicU64>>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), BoxError> {
    serve_hyper(move |req| {
        let hits = hits.clone();
        async move {
            let _body = req.into_body().collect().await.map(|b| b.to_bytes());
            if let Some(h) = &hits {
                h.fetch_add(1, Ordering::Relaxed);
            }
            let mut r = Response::new(Full::new(Bytes::from_static(b"{\"ok\":true}")));
            *r.status_mut() = status;
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
    })
    .await
}

/// A plain hyper 1.x HTTP/1.1 keep-alive server on 127.0.0.1:0 answering every request with
/// `handle`: the accept loop of every baseline server in the benches.
async fn serve_hyper<F, Fut>(
    handle: F,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), BoxError>
where
    F: Fn(Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let handle = handle.clone();
            let svc = hyper::service::service_fn(move |req| {
                let fut = handle(req);
                async move { Ok::<_, Infallible>(fut.await) }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    Ok((addr, task))
}

// ---------------------------------------------------------------------------------------------
// Bench 2: capture → websocket latency

const VIEWERS: usize = 50;
const WS_RATE: u64 = 1000;
const WS_SENDERS: u64 = 4;

/// What one viewer received: (request id, receive time), in arrival order.
struct ViewerLog {
    got: Vec<(u64, Instant)>,
    resyncs: u64,
}

/// The request id of a `{"type":"request","request":{"id":N,…}}` message, cheaply.
fn request_id(text: &str) -> Option<u64> {
    const PREFIX: &str = r#"{"type":"request","request":{"id":"#;
    if let Some(rest) = text.strip_prefix(PREFIX) {
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        return rest[..end].parse().ok();
    }
    if !text.contains(r#""request""#) {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    if v["type"] != "request" {
        return None;
    }
    v["request"]["id"].as_u64()
}

async fn viewer<S>(
    mut ws: S,
    mut last: watch::Receiver<u64>,
    hard_stop: Instant,
    cap: usize,
) -> ViewerLog
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let mut log = ViewerLog {
        got: Vec::with_capacity(cap),
        resyncs: 0,
    };
    let mut seen = 0u64;
    let stop = tokio::time::sleep_until(hard_stop.into());
    tokio::pin!(stop);
    loop {
        let want = *last.borrow();
        if want != 0 && seen >= want {
            break;
        }
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let now = Instant::now();
                    if let Some(id) = request_id(t.as_str()) {
                        seen = seen.max(id);
                        if log.got.len() < cap {
                            log.got.push((id, now));
                        }
                    } else if t.as_str().contains(r#""type":"resync""#) {
                        log.resyncs += 1;
                    }
                }
                Some(Ok(_)) => {}
                _ => break,
            },
            changed = last.changed() => if changed.is_err() { break },
            _ = &mut stop => break,
        }
    }
    log
}

/// One paced sender: `count` requests, one every `period`, starting at `start`.
async fn paced_sender(
    template: Template,
    start: Instant,
    period: Duration,
    count: u64,
) -> Result<(Vec<(u64, Instant)>, Run), BoxError> {
    let mut conn = Conn::open(&template.authority).await?;
    let mut sent = Vec::with_capacity(count as usize);
    let mut run = Run::empty();
    let mut tick = tokio::time::interval_at(start.into(), period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let t_begin = Instant::now();
    for _ in 0..count {
        tick.tick().await;
        let req = template.build();
        let t0 = Instant::now();
        match conn.send(req).await {
            Ok((status, body)) if status.is_success() => {
                run.lat.record(t0.elapsed());
                run.reqs += 1;
                let v: serde_json::Value = serde_json::from_slice(&body)?;
                let id = v["id"].as_u64().ok_or("no id in the catch response")?;
                sent.push((id, t0));
            }
            _ => {
                run.errors += 1;
                conn = Conn::open(&template.authority).await?;
            }
        }
    }
    run.elapsed = t_begin.elapsed();
    Ok((sent, run))
}

struct WsRound {
    deliveries: Hist,
    http: Run,
    sent: u64,
    /// Distinct (viewer, request) pairs received.
    delivered: u64,
    missed: u64,
    /// Messages a viewer received again for a request it already had.
    duplicates: u64,
    resyncs: u64,
}

/// One round on a fresh bin: `viewers` viewers on the hookpit at `view_addr` (`HOST:PORT`), the
/// paced requests POSTed to the one at `post_addr` (the same address for one instance).
async fn ws_round(
    o: &Opts,
    post_addr: &str,
    view_addr: &str,
    viewers_n: usize,
    round: usize,
) -> Result<WsRound, BoxError> {
    let bin = format!("ws{round}");
    let ws_url = format!("ws://{view_addr}/_/ws?bin={bin}");
    let per_sender = ((WS_RATE as f64 * o.secs) as u64 / WS_SENDERS).max(1);
    let total = per_sender * WS_SENDERS;
    let (last_tx, last_rx) = watch::channel(0u64);
    let hard_stop = Instant::now() + o.round_time() + Duration::from_secs(10);
    let mut viewers = Vec::with_capacity(viewers_n);
    for _ in 0..viewers_n {
        let (ws, _) =
            tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(&ws_url))
                .await??;
        viewers.push(tokio::spawn(viewer(
            ws,
            last_rx.clone(),
            hard_stop,
            total as usize + 64,
        )));
    }
    // the server subscribes before answering the handshake; let every viewer read its hello
    tokio::time::sleep(Duration::from_millis(100)).await;

    let template = Template::post(&format!("http://{post_addr}/{bin}/events"), body_1k())?;
    let period = Duration::from_micros(1_000_000 * WS_SENDERS / WS_RATE);
    let start = Instant::now() + Duration::from_millis(20);
    let senders: Vec<_> = (0..WS_SENDERS)
        .map(|i| {
            tokio::spawn(paced_sender(
                template.clone(),
                start + Duration::from_micros(1_000_000 / WS_RATE * i),
                period,
                per_sender,
            ))
        })
        .collect();
    let mut sent_at = std::collections::HashMap::with_capacity(total as usize);
    let mut http = Run::empty();
    for s in senders {
        let (sent, run) = s.await??;
        sent_at.extend(sent);
        http.reqs += run.reqs;
        http.errors += run.errors;
        http.elapsed = http.elapsed.max(run.elapsed);
        http.lat.merge(&run.lat);
    }
    let last_id = sent_at.keys().copied().max().unwrap_or(0);
    let _ = last_tx.send(last_id.max(1));

    let mut deliveries = Hist::new();
    let (mut delivered, mut duplicates, mut resyncs) = (0u64, 0u64, 0u64);
    let mut had = std::collections::HashSet::with_capacity(total as usize);
    for v in viewers {
        let log = v.await?;
        resyncs += log.resyncs;
        had.clear();
        for (id, at) in log.got {
            if let Some(t0) = sent_at.get(&id) {
                if !had.insert(id) {
                    duplicates += 1;
                    continue;
                }
                delivered += 1;
                deliveries.record(at.saturating_duration_since(*t0));
            }
        }
    }
    let sent = sent_at.len() as u64;
    Ok(WsRound {
        deliveries,
        http,
        sent,
        delivered,
        missed: (sent * viewers_n as u64).saturating_sub(delivered),
        duplicates,
        resyncs,
    })
}

async fn bench_ws(o: &Opts) -> Result<Vec<Verdict>, BoxError> {
    println!();
    println!(
        "== capture -> websocket: {VIEWERS} viewers, {WS_RATE} req/s paced over {WS_SENDERS} conns, 1 KiB body, {:.1} s/round, {} rounds; default limits, server in its own process ==",
        o.secs, o.rounds
    );
    let server = wrk::ServerChild::start("serve-hookpit", None)?;
    let addr = server.addr.clone();
    println!(
        "{:<7} {:>7} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>11}",
        "round",
        "sent",
        "delivered",
        "missed",
        "p50 ms",
        "p99 ms",
        "max ms",
        "resyncs",
        "http p99 ms"
    );
    // an untimed warm-up round (fresh allocator arenas, first feed JSON, first connections)
    let warm = Opts {
        secs: 0.5,
        ..o.clone()
    };
    let w = ws_round(&warm, &addr, &addr, VIEWERS, 0).await?;
    println!(
        "{:<7} {:>7} {:>10} {:>8} {:>8.3} {:>8.3} {:>8.3}   (warm-up, not counted)",
        "warm",
        w.sent,
        w.delivered,
        w.missed,
        ms(w.deliveries.p50()),
        ms(w.deliveries.p99()),
        ms(w.deliveries.max())
    );
    let (mut p50s, mut p99s, mut maxs, mut http_p99s) = (vec![], vec![], vec![], vec![]);
    let (mut missed, mut duplicates) = (0, 0);
    for round in 1..=o.rounds {
        let r = ws_round(o, &addr, &addr, VIEWERS, round).await?;
        println!(
            "{:<7} {:>7} {:>10} {:>8} {:>8.3} {:>8.3} {:>8.3} {:>8} {:>11.3}",
            round,
            r.sent,
            r.delivered,
            r.missed,
            ms(r.deliveries.p50()),
            ms(r.deliveries.p99()),
            ms(r.deliveries.max()),
            r.resyncs,
            ms(r.http.lat.p99())
        );
        p50s.push(ms(r.deliveries.p50()));
        p99s.push(ms(r.deliveries.p99()));
        maxs.push(ms(r.deliveries.max()));
        http_p99s.push(ms(r.http.lat.p99()));
        missed += r.missed + r.http.errors;
        duplicates += r.duplicates;
    }
    print_per_round("delivery p50 ms", "ms", &p50s);
    print_per_round("delivery p99 ms", "ms", &p99s);
    print_per_round("delivery max ms", "ms", &maxs);
    print_per_round("reference: HTTP round-trip p99 ms", "ms", &http_p99s);
    let ratio: Vec<f64> = p99s
        .iter()
        .zip(&http_p99s)
        .map(|(w, h)| w / h.max(1e-9))
        .collect();
    print_per_round("ratio ws p99 / HTTP p99", "x", &ratio);
    drop(server);
    Ok(vec![
        Verdict {
            name: "capture -> websocket delivery p99".into(),
            value: median(&p99s),
            unit: "ms",
            target: Target::AtMost(5.0),
            note: format!(
                "p50 {:.3} ms, max {:.3} ms, HTTP p99 {:.3} ms",
                median(&p50s),
                median(&maxs),
                median(&http_p99s)
            ),
        },
        Verdict {
            name: "ws p99 / HTTP round-trip p99 (same requests)".into(),
            value: median(&ratio),
            unit: "x",
            target: Target::Info,
            note: "near 1: the ws figure is dominated by machine noise".into(),
        },
        Verdict {
            name: "websocket missed messages (all rounds)".into(),
            value: missed as f64,
            unit: "msgs",
            target: Target::AtMost(0.0),
            note: format!("{duplicates} received twice (not counted as delivered)"),
        },
    ])
}

// ---------------------------------------------------------------------------------------------
// Bench 3: memory per stored request

/// Resident set size of this process, in bytes (Linux `/proc/self/status` VmRSS).
fn rss() -> Option<u64> {
    proc_status("self", "VmRSS:")
}

/// A figure of `/proc/PID/status` given in kB (`VmRSS:`, `VmHWM:`), in bytes; `pid` may be
/// `self`.
fn proc_status(pid: &str, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resident set size from `/proc/self/statm` (resident pages × page size).
fn rss_statm() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

/// The page size, worked out once from `VmRSS` over statm's resident pages (the nearest of
/// 4, 16 and 64 KiB); 4 KiB when that fails.
fn page_size() -> u64 {
    static PAGE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        let pages = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
            .filter(|p| *p > 0);
        match (rss(), pages) {
            (Some(bytes), Some(pages)) => [4096u64, 16384, 65536]
                .into_iter()
                .min_by_key(|p| p.abs_diff(bytes / pages))
                .unwrap_or(4096),
            _ => 4096,
        }
    })
}

const MEM_REQS: u64 = 100_000;
const MEM_WARMUP: u64 = 5_000;

async fn bench_memory(o: &Opts) -> Result<Vec<Verdict>, BoxError> {
    println!();
    println!(
        "== memory per stored request: {MEM_REQS} x 1 KiB POST, {} conns, after {MEM_WARMUP} warm-up requests (one measurement) ==",
        o.conns
    );
    let hp = hookpit::Server::start(hookpit::Config {
        max_requests: 2 * MEM_REQS as usize,
        max_memory: 8 * 1024 * 1024 * 1024,
        ..hookpit::Config::for_tests()
    })
    .await?;
    let template = Template::post(&format!("{}/events", hp.catch_url("mem")), body_1k())?;
    let mut warm = LoadSpec::new(template.clone(), o.conns, Duration::from_secs(30));
    warm.max_reqs = MEM_WARMUP;
    load_with(warm).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (rss0, st0) = (rss().ok_or("no /proc/self/status")?, hp.store().stats());

    let mut spec = LoadSpec::new(template, o.conns, Duration::from_secs(60));
    spec.max_reqs = MEM_REQS;
    let run = load_with(spec).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (rss1, st1) = (rss().ok_or("no /proc/self/status")?, hp.store().stats());

    let n = (st1.requests - st0.requests).max(1) as f64;
    let kib = (rss1 as f64 - rss0 as f64) / n / 1024.0;
    let acct = (st1.memory as f64 - st0.memory as f64) / n / 1024.0;
    println!(
        "captured {} in {:.2} s ({:.0} req/s, {} errors); kept {} (+{}), evicted {}",
        run.reqs,
        run.elapsed.as_secs_f64(),
        run.rps(),
        run.errors,
        st1.requests,
        st1.requests - st0.requests,
        st1.evicted
    );
    println!(
        "RSS {:.1} MiB -> {:.1} MiB: {:.3} KiB per request (store's own accounting: {:.3} KiB)",
        rss0 as f64 / 1048576.0,
        rss1 as f64 / 1048576.0,
        kib,
        acct
    );
    println!("note: glibc malloc may keep freed memory; measured around the capture phase only");
    drop(hp);
    Ok(vec![Verdict {
        name: "memory per stored 1 KiB request (RSS)".into(),
        value: kib,
        unit: "KiB",
        target: Target::AtMost(2.5),
        note: format!("store accounting {acct:.3} KiB"),
    }])
}

// ---------------------------------------------------------------------------------------------

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let o = match Opts::parse() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("bench: {e}");
            }
            eprintln!(
                "usage: cargo run --release --example bench -- [capture|ws|memory|waits|verify|sender|soak|persist|shared|all] [--rounds N] [--secs S] [--conns C]"
            );
            std::process::exit(2);
        }
    };
    if o.child {
        // a child runs one bench and hands its verdicts to the parent, which prints the summary
        let verdicts = match o.mode.as_str() {
            "retry-memory" => report("retry-memory", sender::bench_retry_memory(&o).await),
            m if m.starts_with("serve-") => report(m, wrk::serve_child(m).await),
            other => report(
                other,
                Err(format!("`{other}` cannot run as a child").into()),
            ),
        };
        for v in &verdicts {
            println!("{}", v.to_line());
        }
        return;
    }
    println!(
        "hookpit bench: mode {}, {} rounds x {:.1} s, {} worker threads, {} CPUs",
        o.mode,
        o.rounds,
        o.secs,
        tokio::runtime::Handle::current().metrics().num_workers(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let load0 = loadavg();
    println!("load average (1/5/15 min): {load0}  (other processes share these cores)");
    let t0 = Instant::now();
    let all = o.mode == "all";
    let mut verdicts = Vec::new();
    // memory first: the process has allocated nothing yet
    if all || o.mode == "memory" {
        verdicts.extend(report("memory", bench_memory(&o).await));
    }
    if o.mode == "retry-memory" {
        verdicts.extend(report("retry-memory", sender::bench_retry_memory(&o).await));
    }
    if all || o.mode == "capture" {
        verdicts.extend(report("capture", wrk::bench_capture(&o).await));
    }
    if all || o.mode == "ws" {
        verdicts.extend(report("ws", bench_ws(&o).await));
    }
    if all || o.mode == "waits" {
        verdicts.extend(report("waits", waits::bench_waits(&o).await));
    }
    if all || o.mode == "verify" {
        verdicts.extend(report("verify", verify::bench_verify(&o).await));
    }
    if all || o.mode == "sender" {
        verdicts.extend(report("sender", sender::bench_sender(&o).await));
        // in a fresh process: this one has allocated (and freed) plenty by now
        verdicts.extend(report(
            "retry-memory",
            sender::retry_memory_in_child(&o).await,
        ));
    }
    if all || o.mode == "soak" {
        verdicts.extend(report("soak", soak::bench_soak(&o).await));
    }
    if all || o.mode == "persist" {
        verdicts.extend(report("persist", persist::bench_persist(&o).await));
    }
    if all || o.mode == "shared" {
        verdicts.extend(report("shared", shared::bench_shared(&o).await));
    }
    print_summary(&verdicts);
    println!(
        "(total {:.1} s; load average at start {load0}, at end {})",
        t0.elapsed().as_secs_f64(),
        loadavg()
    );
}

/// The 1/5/15-minute load averages, to judge how noisy the machine was.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn report(name: &str, r: Result<Vec<Verdict>, BoxError>) -> Vec<Verdict> {
    r.unwrap_or_else(|e| {
        println!("bench {name} failed: {e}");
        vec![Verdict {
            name: format!("{name}: ran to completion"),
            value: 0.0,
            unit: "",
            target: Target::AtLeast(1.0),
            note: e.to_string(),
        }]
    })
}
