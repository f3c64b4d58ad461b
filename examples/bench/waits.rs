//! `waits`: how fast a pending wait wakes up, and what pending waits cost the capture path.

use super::*;

use hookpit::store::Store;
use hookpit::{Filter, WaitOutcome, WaitSpec};
use tokio::sync::{mpsc, oneshot};

/// Wake-ups measured per round over HTTP, and in-process (every 5th iteration).
const WAIT_HTTP: usize = 2_000;
const WAIT_INPROC: usize = 500;
/// Untimed iterations before the first round.
const WAIT_WARMUP: usize = 200;
/// The timeout every measured wait asks for (it always matches well before).
pub(super) const WAIT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a wait may take to show up in `pending_waits()`.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(2);
/// Pending waits parked on other bins (side B) and on the loaded bin (side C).
const OTHER_WAITS: usize = 1_000;
const SAME_WAITS: usize = 100;
/// A filter the load's body never matches (its `payment_id` is 42); a `json:` term, as waits on
/// webhook payloads usually are.
const NEVER_FILTER: &str = "json:/data/payment_id=43";
/// Parked waits give up after this long at the latest (they are aborted much sooner).
const PARK_TIMEOUT: Duration = Duration::from_secs(600);

/// One wake-up to measure: the bin to wait on and where to report the instant the wait ended.
pub(super) type WaitJob = (String, oneshot::Sender<Result<Instant, String>>);

/// Runs HTTP waits one after another on its own keep-alive connection: for each job, sends
/// `GET /_/api/bins/{bin}/wait?timeout=5s` and reports the instant the whole answer was read.
pub(super) async fn http_waiter(authority: String, mut jobs: mpsc::Receiver<WaitJob>) {
    let mut conn = None;
    while let Some((bin, done)) = jobs.recv().await {
        let res = async {
            if conn.is_none() {
                conn = Some(Conn::open(&authority).await.map_err(|e| e.to_string())?);
            }
            let c = conn.as_mut().ok_or("no connection")?;
            let req = Request::builder()
                .method(Method::GET)
                .uri(format!(
                    "/_/api/bins/{bin}/wait?timeout={}s",
                    WAIT_TIMEOUT.as_secs()
                ))
                .header(HOST, authority.as_str())
                .body(Full::new(Bytes::new()))
                .map_err(|e| e.to_string())?;
            let (status, body) = c.send(req).await.map_err(|e| {
                conn = None;
                e.to_string()
            })?;
            let at = Instant::now();
            if status != StatusCode::OK {
                let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                return Err(format!("the wait answered {status}: {text}"));
            }
            Ok(at)
        }
        .await;
        let _ = done.send(res);
    }
}

/// Resolves once `store` holds at least `want` pending waits.
async fn registered(store: &Store, want: usize) -> Result<(), BoxError> {
    let deadline = Instant::now() + REGISTER_TIMEOUT;
    while store.pending_waits() < want {
        if Instant::now() > deadline {
            return Err(format!(
                "waits did not register within {REGISTER_TIMEOUT:?} ({} of {want})",
                store.pending_waits()
            )
            .into());
        }
        tokio::task::yield_now().await;
    }
    Ok(())
}

/// Wake-up latencies of one round.
struct WakeRound {
    /// POST sent → HTTP wait's answer read.
    http: Hist,
    /// POST sent → in-process `Store::wait` returned.
    inproc: Hist,
    /// POST sent → the POST's own answer read (the baseline).
    post: Hist,
}

/// `http + inproc` wake-ups, each on a fresh bin: register the wait, then send the matching POST.
async fn wake_round(
    hp: &hookpit::ServerHandle,
    waiter: &mpsc::Sender<WaitJob>,
    poster: &mut Conn,
    tag: &str,
    http: usize,
    inproc: usize,
) -> Result<WakeRound, BoxError> {
    let store = hp.store();
    let body = body_1k();
    let mut out = WakeRound {
        http: Hist::new(),
        inproc: Hist::new(),
        post: Hist::new(),
    };
    for i in 0..http + inproc {
        let in_process = inproc > 0 && i % 5 == 4 && out.inproc.n < inproc as u64;
        let bin = format!("wake-{tag}-{i}");
        let before = store.pending_waits();
        let ended: oneshot::Receiver<Result<Instant, String>> = if in_process {
            let (tx, rx) = oneshot::channel();
            let (s, spec) = (
                store.clone(),
                WaitSpec {
                    bin: bin.clone(),
                    filter: Filter::default(),
                    count: 1,
                    after: 0,
                    timeout: WAIT_TIMEOUT,
                },
            );
            tokio::spawn(async move {
                let r = match s.wait(spec).await {
                    WaitOutcome::Matched(_) => Ok(Instant::now()),
                    WaitOutcome::TimedOut(r) => Err(r.to_string()),
                };
                let _ = tx.send(r);
            });
            rx
        } else {
            let (tx, rx) = oneshot::channel();
            waiter
                .send((bin.clone(), tx))
                .await
                .map_err(|_| "the HTTP waiter stopped")?;
            rx
        };
        registered(store, before + 1).await?;
        let req = Template::post(&format!("{}/events", hp.catch_url(&bin)), body.clone())?.build();
        let t0 = Instant::now();
        let (status, _) = poster.send(req).await?;
        let posted = t0.elapsed();
        if !status.is_success() {
            return Err(format!("the POST answered {status}").into());
        }
        let woke = tokio::time::timeout(WAIT_TIMEOUT + Duration::from_secs(1), ended)
            .await
            .map_err(|_| "a wait never returned")?
            .map_err(|_| "a waiter went away")??;
        let lat = woke.saturating_duration_since(t0);
        if in_process {
            out.inproc.record(lat);
        } else {
            out.http.record(lat);
            out.post.record(posted);
        }
    }
    Ok(out)
}

/// Aborts the parked wait tasks when dropped, on every path out of the bench.
struct Parked(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Parked {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Parks `n` waits on `store` that will not match; they end when aborted (or after 10 min).
fn park(store: &Store, n: usize, bin: impl Fn(usize) -> String, filter: &Filter) -> Parked {
    Parked(
        (0..n)
            .map(|i| {
                let (s, spec) = (
                    store.clone(),
                    WaitSpec {
                        bin: bin(i),
                        filter: filter.clone(),
                        count: 1,
                        after: 0,
                        timeout: PARK_TIMEOUT,
                    },
                );
                tokio::spawn(async move {
                    let _ = s.wait(spec).await;
                })
            })
            .collect(),
    )
}

fn capture_server() -> hookpit::Config {
    hookpit::Config {
        max_requests: 1_000_000,
        max_memory: 256 * 1024 * 1024,
        ..hookpit::Config::for_tests()
    }
}

pub(super) async fn bench_waits(o: &Opts) -> Result<Vec<Verdict>, BoxError> {
    let mut verdicts = wake_latency(o).await?;
    verdicts.extend(capture_with_waits(o).await?);
    Ok(verdicts)
}

async fn wake_latency(o: &Opts) -> Result<Vec<Verdict>, BoxError> {
    println!();
    println!(
        "== wait wake-up latency: {WAIT_HTTP} HTTP waits (GET /_/api/bins/{{bin}}/wait, keep-alive) + {WAIT_INPROC} in-process Store::wait per round, fresh bin each, {} rounds ==",
        o.rounds
    );
    println!(
        "(latency = POST sent -> wait's answer read; baseline = the same POST's own round trip)"
    );
    let hp = hookpit::Server::start(hookpit::Config {
        max_memory: 256 * 1024 * 1024,
        ..hookpit::Config::for_tests()
    })
    .await?;
    let authority = hp.addr().to_string();
    let (wtx, wrx) = mpsc::channel(1);
    let waiter = tokio::spawn(http_waiter(authority.clone(), wrx));
    let mut poster = Conn::open(&authority).await?;
    wake_round(&hp, &wtx, &mut poster, "warm", WAIT_WARMUP, WAIT_WARMUP / 4).await?;
    println!(
        "{:<7} {:>9} {:>9} {:>9} {:>11} {:>11} {:>12} {:>12}",
        "round",
        "http p50",
        "http p99",
        "http max",
        "POST p50",
        "POST p99",
        "in-proc p50",
        "in-proc p99"
    );
    let (mut p50s, mut p99s, mut maxs) = (vec![], vec![], vec![]);
    let (mut post99s, mut in50s, mut in99s, mut ratios) = (vec![], vec![], vec![], vec![]);
    for round in 1..=o.rounds {
        let r = wake_round(
            &hp,
            &wtx,
            &mut poster,
            &round.to_string(),
            WAIT_HTTP,
            WAIT_INPROC,
        )
        .await?;
        println!(
            "{:<7} {:>9.3} {:>9.3} {:>9.3} {:>11.3} {:>11.3} {:>12.3} {:>12.3}   (ms)",
            round,
            ms(r.http.p50()),
            ms(r.http.p99()),
            ms(r.http.max()),
            ms(r.post.p50()),
            ms(r.post.p99()),
            ms(r.inproc.p50()),
            ms(r.inproc.p99())
        );
        p50s.push(ms(r.http.p50()));
        p99s.push(ms(r.http.p99()));
        maxs.push(ms(r.http.max()));
        post99s.push(ms(r.post.p99()));
        in50s.push(ms(r.inproc.p50()));
        in99s.push(ms(r.inproc.p99()));
        ratios.push(ms(r.http.p99()) / ms(r.post.p99()).max(1e-9));
    }
    print_per_round("HTTP wake-up p50 ms", "ms", &p50s);
    print_per_round("HTTP wake-up p99 ms", "ms", &p99s);
    print_per_round("baseline: POST round-trip p99 ms", "ms", &post99s);
    print_per_round("ratio wake-up p99 / POST p99", "x", &ratios);
    print_per_round("in-process wake-up p99 ms", "ms", &in99s);
    drop(wtx);
    let _ = tokio::time::timeout(Duration::from_secs(2), waiter).await;
    let left = hp.store().pending_waits();
    drop(hp);
    if left != 0 {
        println!("warning: {left} waits still pending after the rounds");
    }
    Ok(vec![
        Verdict {
            name: "wait wake-up p99 (HTTP)".into(),
            value: median(&p99s),
            unit: "ms",
            target: Target::AtMost(2.0),
            note: format!(
                "p50 {:.3} ms, max {:.3} ms; in-process p50 {:.3} / p99 {:.3} ms",
                median(&p50s),
                median(&maxs),
                median(&in50s),
                median(&in99s)
            ),
        },
        Verdict {
            name: "wait wake-up p99 / POST round-trip p99".into(),
            value: median(&ratios),
            unit: "x",
            target: Target::Info,
            note: format!("POST p99 {:.3} ms", median(&post99s)),
        },
    ])
}

async fn capture_with_waits(o: &Opts) -> Result<Vec<Verdict>, BoxError> {
    println!();
    let per_side = (o.secs * 2.0 / 3.0).max(0.5);
    println!(
        "== capture throughput with pending waits: POST 1 KiB JSON, {} conns, {:.1} s per side and round, {} rounds ==",
        o.conns, per_side, o.rounds
    );
    println!(
        "(three identical servers: A none, B {OTHER_WAITS} waits on other bins, C {SAME_WAITS} waits on the loaded bin with `{NEVER_FILTER}`)"
    );
    let never = Filter::parse(NEVER_FILTER)?;
    let hp_a = hookpit::Server::start(capture_server()).await?;
    let hp_b = hookpit::Server::start(capture_server()).await?;
    let hp_c = hookpit::Server::start(capture_server()).await?;
    // parked before any request: registering scans the bin's kept requests
    let _parked_b = park(
        hp_b.store(),
        OTHER_WAITS,
        |i| format!("other-{i}"),
        &Filter::default(),
    );
    let _parked_c = park(hp_c.store(), SAME_WAITS, |_| "bench".into(), &never);
    registered(hp_b.store(), OTHER_WAITS).await?;
    registered(hp_c.store(), SAME_WAITS).await?;

    let body = body_1k();
    let spec = |hp: &hookpit::ServerHandle| -> Result<LoadSpec, BoxError> {
        let url = format!("{}/events?src=load", hp.catch_url("bench"));
        Ok(LoadSpec::new(
            Template::post(&url, body.clone())?,
            o.conns,
            Duration::from_millis(500),
        ))
    };
    let (sa, sb, sc) = (spec(&hp_a)?, spec(&hp_b)?, spec(&hp_c)?);
    for s in [&sa, &sb, &sc] {
        load_with(s.clone()).await?;
    }
    let n = compare_n(
        o,
        &[("no waits", &sa), ("1000 other", &sb), ("100 same", &sc)],
        per_side,
    )
    .await?;
    let stats: Vec<Stats> = n.runs.iter().map(|r| Stats::of(r)).collect();
    print_stats("no waits", &stats[0]);
    print_stats("1000 other", &stats[1]);
    print_stats("100 same", &stats[2]);
    print_per_round("ratio B/A (1,000 other-bin waits)", "", &n.ratios[1]);
    print_per_round("ratio C/A (100 same-bin waits)", "", &n.ratios[2]);
    let (wb, wc) = (hp_b.store().pending_waits(), hp_c.store().pending_waits());
    println!(
        "pending waits after the rounds: B {wb} (of {OTHER_WAITS}), C {wc} (of {SAME_WAITS}); stored requests A {} B {} C {}",
        hp_a.summary().requests,
        hp_b.summary().requests,
        hp_c.summary().requests
    );
    if wb != OTHER_WAITS || wc != SAME_WAITS {
        return Err("parked waits ended during the rounds: the comparison is void".into());
    }
    Ok(vec![
        Verdict {
            name: "capture: 1,000 pending waits / none".into(),
            value: median(&n.ratios[1]),
            unit: "x",
            target: Target::AtLeast(0.90),
            note: format!(
                "{:.0} vs {:.0} req/s (waits on other bins)",
                stats[1].median, stats[0].median
            ),
        },
        Verdict {
            name: "capture: 100 same-bin json waits / none".into(),
            value: median(&n.ratios[2]),
            unit: "x",
            target: Target::AtLeast(0.80),
            note: format!(
                "{:.0} vs {:.0} req/s (filter `{NEVER_FILTER}`)",
                stats[2].median, stats[0].median
            ),
        },
    ])
}
