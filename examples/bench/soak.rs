//! `soak`: a bounded flood against one hookpit running in a child process, with viewers and
//! waits attached, to show that nothing is lost and nothing grows past its limits.
//!
//! The server (this executable as `bench serve-soak --child`, started like the capture bench's
//! servers) runs with a small memory budget and bin limit and announces its address on stdout;
//! this process floods it across more bins than
//! it may keep, over many keep-alive connections, with bodies of mixed sizes, while websocket
//! viewers read the feed, pending waits sit on the flooded bins and a prober times
//! `/_/api/health`. It then reports requests answered 2xx against requests recorded (the ids the
//! server handed out) and against kept + evicted, the child's peak RSS (`VmHWM`) against its
//! `--max-memory` plus a stated overhead, and the p99 latency of `/_/api/health` during the flood.

use super::wrk::ServerChild;
use super::*;

use std::sync::atomic::AtomicBool;

/// The child server's memory budget for stored requests.
const SOAK_MAX_MEMORY: usize = 64 * 1024 * 1024;
/// The child server's bin limit; the flood spreads over more bins than this.
const SOAK_MAX_BINS: usize = 200;
/// Hot bins: four requests in five go to one of these (fewer than the server keeps), so the
/// memory budget, not the bin limit, decides what stays.
const SOAK_HOT_BINS: usize = 100;
/// The long tail: one request in five opens one of these, far more bins than the server keeps.
const SOAK_BINS: usize = 5_000;
/// What the process may hold beyond the store's budget: runtime, connection buffers, the feed's
/// backlog and allocator slack.
const SOAK_OVERHEAD: u64 = 64 * 1024 * 1024;
/// Hard bound on the flood, whatever `--secs` says.
const SOAK_MAX_REQS: u64 = 400_000;
const SOAK_VIEWERS: usize = 20;
const SOAK_WAITS: usize = 100;
/// How long the whole soak may take before it is abandoned.
const SOAK_TIMEOUT: Duration = Duration::from_secs(300);

/// The soak server's configuration (`bench serve-soak --child`): small limits, so the flood
/// runs into them.
pub(super) fn server_config() -> hookpit::Config {
    hookpit::Config {
        max_memory: SOAK_MAX_MEMORY,
        max_bins: SOAK_MAX_BINS,
        ..hookpit::Config::for_tests()
    }
}

/// Reads the health JSON's `stats`.
async fn health(authority: &str) -> Result<serde_json::Value, BoxError> {
    let mut c = Conn::open(authority).await?;
    let t = Template::get(&format!("http://{authority}/_/api/health"))?;
    let (status, body) = c.send(t.build()).await?;
    if !status.is_success() {
        return Err(format!("/_/api/health answered {status}").into());
    }
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(v["stats"].clone())
}

pub(super) async fn bench_soak(o: &Opts) -> Result<Vec<Verdict>, BoxError> {
    let secs = (o.secs * 4.0).clamp(2.0, 60.0);
    println!();
    println!(
        "== soak: {secs:.0} s flood, 4/5 into {SOAK_HOT_BINS} hot bins, 1/5 over {SOAK_BINS} more (server keeps {SOAK_MAX_BINS} bins), bodies 0-64 KiB, {} conns, {SOAK_VIEWERS} viewers, {SOAK_WAITS} pending waits; server in a child process with --max-memory {} MiB ==",
        o.conns.max(64),
        SOAK_MAX_MEMORY >> 20
    );
    let server = super::wrk::ServerChild::start("serve-soak", None)?;
    let result = tokio::time::timeout(SOAK_TIMEOUT, flood(o, &server, secs)).await;
    drop(server);
    result.map_err(|_| format!("the soak took over {SOAK_TIMEOUT:?}"))?
}

async fn flood(o: &Opts, server: &ServerChild, secs: f64) -> Result<Vec<Verdict>, BoxError> {
    let addr = server.addr.as_str();
    let rss0 = server
        .memory("VmRSS:")
        .ok_or("cannot read the child's memory figures")?;
    let stop = Arc::new(AtomicBool::new(false));

    // viewers: read every message until the flood ends
    let mut viewers = Vec::new();
    for _ in 0..SOAK_VIEWERS {
        let url = format!("ws://{addr}/_/ws");
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
        let stop = stop.clone();
        viewers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                match tokio::time::timeout(Duration::from_millis(200), ws.next()).await {
                    Ok(Some(Ok(_))) => n += 1,
                    Ok(_) => break,
                    Err(_) => {}
                }
            }
            n
        }));
    }

    // waits: each re-arms a wait that never matches on one of the flooded bins
    let mut waits = Vec::new();
    for w in 0..SOAK_WAITS {
        let t = Template::get(&format!(
            "http://{addr}/_/api/bins/soak-{}/wait?q=json%3A%2Fnever%3D1&timeout=2s",
            w % SOAK_HOT_BINS
        ))?;
        let stop = stop.clone();
        let authority = addr.to_owned();
        waits.push(tokio::spawn(async move {
            let mut released = 0u64;
            let Ok(mut c) = Conn::open(&authority).await else {
                return released;
            };
            while !stop.load(Ordering::Relaxed) {
                match c.send(t.build()).await {
                    Ok(_) => released += 1,
                    Err(_) => match Conn::open(&authority).await {
                        Ok(n) => c = n,
                        Err(_) => break,
                    },
                }
            }
            released
        }));
    }

    // the /health prober
    let prober = {
        let stop = stop.clone();
        let t = Template::get(&format!("http://{addr}/_/api/health"))?;
        let authority = addr.to_owned();
        tokio::spawn(async move {
            let mut h = Hist::new();
            let mut errors = 0u64;
            let Ok(mut c) = Conn::open(&authority).await else {
                return (h, 1);
            };
            while !stop.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                match c.send(t.build()).await {
                    Ok((s, _)) if s.is_success() => h.record(t0.elapsed()),
                    _ => {
                        errors += 1;
                        if let Ok(n) = Conn::open(&authority).await {
                            c = n;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (h, errors)
        })
    };

    // the flood: every connection cycles through bins and body sizes
    let conns = o.conns.max(64);
    let issued = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let sizes = [0usize, 200, 1024, 4096, 16 * 1024, 64 * 1024];
    let bodies: Arc<Vec<Bytes>> = Arc::new(
        sizes
            .iter()
            .map(|&n| Bytes::from(format!("{{\"pad\":\"{}\"}}", "x".repeat(n))))
            .collect(),
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..conns {
        let authority = addr.to_owned();
        let issued = issued.clone();
        let bodies = bodies.clone();
        tasks.push(tokio::spawn(async move {
            let mut run = Run::empty();
            let Ok(mut conn) = Conn::open(&authority).await else {
                run.errors += 1;
                return run;
            };
            let mut i = c as u64;
            while Instant::now() < deadline {
                let n = issued.fetch_add(1, Ordering::Relaxed);
                if n >= SOAK_MAX_REQS {
                    break;
                }
                i = i
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let bin = if n.is_multiple_of(5) {
                    SOAK_HOT_BINS + (n as usize / 5) % SOAK_BINS
                } else {
                    (n as usize * 7 + c) % SOAK_HOT_BINS
                };
                let body = bodies[(i >> 33) as usize % bodies.len()].clone();
                let Ok(t) = Template::post(&format!("http://{authority}/soak-{bin}/e"), body)
                else {
                    run.errors += 1;
                    break;
                };
                let t0 = Instant::now();
                match conn.send(t.build()).await {
                    Ok((s, _)) if s.is_success() => {
                        run.reqs += 1;
                        run.lat.record(t0.elapsed());
                    }
                    Ok(_) => run.errors += 1,
                    Err(_) => {
                        run.errors += 1;
                        match Conn::open(&authority).await {
                            Ok(n) => conn = n,
                            Err(_) => break,
                        }
                    }
                }
            }
            run
        }));
    }
    let mut run = Run::empty();
    for t in tasks {
        run.absorb(&t.await?);
    }
    run.elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (health_lat, health_errors) = prober.await?;
    let mut viewer_msgs = 0;
    for v in viewers {
        viewer_msgs += v.await?;
    }
    let mut waits_released = 0;
    for w in waits {
        waits_released += w.await?;
    }
    let stats = health(addr).await?;
    // the kernel's own high-water mark: no sampling can miss the peak
    let (rss_end, peak) = server
        .memory("VmRSS:")
        .zip(server.memory("VmHWM:"))
        .ok_or("cannot read the child's memory figures")?;

    let num = |k: &str| stats[k].as_u64().unwrap_or(0);
    let recorded = num("last_id");
    let kept = num("requests");
    let evicted = num("evicted");
    let evicted_bins = num("evicted_bins");
    println!(
        "flood: {} answered 2xx, {} failed, {:.0} req/s, p99 {:.3} ms, max {:.3} ms",
        run.reqs,
        run.errors,
        run.rps(),
        ms(run.lat.p99()),
        ms(run.lat.max())
    );
    println!(
        "server: {recorded} recorded (ids), {kept} kept + {evicted} evicted = {}; {} bins kept, {evicted_bins} bins evicted",
        kept + evicted,
        num("bins")
    );
    println!(
        "viewers read {viewer_msgs} messages; waits timed out and re-armed {waits_released} times; /health p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms, {health_errors} failed",
        ms(health_lat.p50()),
        ms(health_lat.p99()),
        ms(health_lat.max())
    );
    let budget = SOAK_MAX_MEMORY as u64 + rss0 + SOAK_OVERHEAD;
    println!(
        "child RSS: {:.1} MiB at start, peak {:.1} MiB, {:.1} MiB at end; budget {} MiB (--max-memory) + {:.1} MiB (RSS at start) + {} MiB (stated overhead) = {:.1} MiB",
        rss0 as f64 / 1048576.0,
        peak as f64 / 1048576.0,
        rss_end as f64 / 1048576.0,
        SOAK_MAX_MEMORY >> 20,
        rss0 as f64 / 1048576.0,
        SOAK_OVERHEAD >> 20,
        budget as f64 / 1048576.0
    );
    let lost = (run.reqs as f64 - recorded as f64).abs()
        + (recorded as f64 - (kept + evicted) as f64).abs();
    Ok(vec![
        Verdict {
            name: "soak: answered 2xx vs recorded, kept+evicted".into(),
            value: lost,
            unit: "reqs",
            target: Target::AtMost(0.0),
            note: format!(
                "{} answered, {recorded} recorded, {kept} kept + {evicted} evicted",
                run.reqs
            ),
        },
        Verdict {
            name: "soak: peak RSS / budget".into(),
            value: peak as f64 / budget as f64,
            unit: "x",
            target: Target::AtMost(1.0),
            note: format!(
                "peak {:.1} MiB, budget {:.1} MiB",
                peak as f64 / 1048576.0,
                budget as f64 / 1048576.0
            ),
        },
        Verdict {
            name: "soak: /health p99 during the flood".into(),
            value: ms(health_lat.p99()),
            unit: "ms",
            target: Target::AtMost(100.0),
            note: format!("p50 {:.3} ms, {health_errors} failed", ms(health_lat.p50())),
        },
    ])
}
