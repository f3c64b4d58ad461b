//! `shared`: shared mode (`--redis`) from outside. The bench starts its own `redis-server`
//! (loopback, a free port, persistence off, a temp dir as `--dir`; stopped by PID when the
//! bench ends, also on error) and hookpit instances on it in child processes
//! (`serve-shared`, `serve-shared-deep`, the Redis URL passed in [`REDIS_ENV`]). Redis runs on
//! the same machine as the servers and the load generators, unpinned, and the output says so.
//!
//! 1. Capture through Redis: `wrk` with the `capture` load (POST of 1 KiB JSON, the same
//!    connections and duration, "shared" and "pinned" variants) against a bare hyper server
//!    measured just before and just after each setup (the ratio is to their mean), against one instance (target ≥ 0.35× bare) and against two
//!    instances at once, one wrk per instance with the connections split (the sum of both, info);
//!    the CPU the servers and redis-server used during each run (`/proc/PID/stat`) is printed,
//!    in % of one CPU and in µs per answered request, to show where a capture's cost goes.
//! 2. Cross-instance live feed: viewers on B's `/_/ws?bin=…`, paced requests POSTed to A
//!    (the `ws` bench's [`ws_round`] with two addresses): delivery p50/p99/max (target p99
//!    ≤ 10 ms), missed and duplicated messages (target none).
//! 3. Cross-instance wait wake-up: a wait on B (the `waits` bench's HTTP waiter), then, once B's
//!    `/_/api/health` counts it, the matching POST to A; POST sent → wait's answer read
//!    (target p99 ≤ 10 ms).
//! 4. Redis memory per stored 1 KiB request: `INFO memory` `used_memory` before and after
//!    100,000 POSTs into one bin of an instance with `--max-requests 100000` (target ≤ 2 KiB),
//!    and the bin's stream length checked.
//!
//! Without `redis-server` on `PATH` it prints which Debian package to install and measures
//! nothing. Uses the bench's load helpers, `wrk` (its runner and server children), `waits`
//! (the HTTP waiter) and `persist` (the filler).

use super::waits::{http_waiter, WaitJob, WAIT_TIMEOUT};
use super::wrk::{ensure_wrk, run_wrk_with, wrk_script, ServerChild, WrkRun, WRK_CONNS};
use super::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

use tokio::sync::{mpsc, oneshot};

/// Names the Redis URL of a `serve-shared*` child.
pub(super) const REDIS_ENV: &str = "HOOKPIT_BENCH_REDIS";

/// Viewers on instance B in the live-feed part.
const FEED_VIEWERS: usize = 20;
/// Wake-ups measured per round, and untimed ones before them.
const WAKE_ITERATIONS: usize = 500;
const WAKE_WARMUP: usize = 50;
/// How long a wait may take to show in B's `pending_waits`.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(2);
/// Requests stored for the memory figure, all in one bin with exactly that capacity.
const MEM_REQUESTS: usize = 100_000;
const MEM_BIN: &str = "redis-mem";
/// Connections that fill it, and how long filling may take.
const MEM_CONNS: usize = 32;
const FILL_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the bench's redis-server may take to answer its first PING.
const REDIS_START_TIMEOUT: Duration = Duration::from_secs(10);

/// The configuration of a `serve-shared*` child on the Redis at `url`.
pub(super) fn server_config(mode: &str, url: String) -> hookpit::Config {
    let config = hookpit::Config {
        redis: Some(url),
        ..hookpit::Config::for_tests()
    };
    match mode {
        // room for every request of the memory part in one bin, in Redis and in the cache
        "serve-shared-deep" => hookpit::Config {
            max_requests: MEM_REQUESTS,
            max_memory: 2 * 1024 * 1024 * 1024,
            ..config
        },
        _ => config,
    }
}

// ---------------------------------------------------------------------------------------------
// The bench's own redis-server

/// A `redis-server` of the bench's own; dropping it stops it by PID and removes its directory.
struct RedisServer {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

/// A reply to one command, as far as the bench needs them.
#[derive(Debug)]
enum Reply {
    Status(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
}

impl RedisServer {
    /// Whether `redis-server` can be run here.
    fn available() -> bool {
        Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts one on a free loopback port with persistence off and waits until it answers.
    fn start() -> Result<RedisServer, BoxError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir =
            std::env::temp_dir().join(format!("hookpit-bench-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!("redis-server could not be started: {e}").into());
            }
        };
        // from here on the guard stops it, whatever happens
        let mut redis = RedisServer { child, port, dir };
        let deadline = Instant::now() + REDIS_START_TIMEOUT;
        loop {
            match redis.command(&["PING"]) {
                Ok(Reply::Status(s)) if s == "PONG" => return Ok(redis),
                _ if Instant::now() > deadline => {
                    return Err(format!(
                        "redis-server on port {port} did not answer within {REDIS_START_TIMEOUT:?}"
                    )
                    .into())
                }
                _ => {}
            }
            if let Ok(Some(status)) = redis.child.try_wait() {
                return Err(
                    format!("redis-server on port {port} exited at start ({status})").into(),
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sends one command on a new connection and reads its reply (no arrays).
    fn command(&self, args: &[&str]) -> Result<Reply, BoxError> {
        let mut s = std::net::TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], self.port)),
            CONNECT_TIMEOUT,
        )?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        s.set_write_timeout(Some(Duration::from_secs(5)))?;
        let mut cmd = format!("*{}\r\n", args.len());
        for a in args {
            cmd.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(cmd.as_bytes())?;
        let mut r = BufReader::new(s);
        let mut line = String::new();
        r.read_line(&mut line)?;
        let line = line.trim_end();
        let (kind, rest) = line.split_at(line.len().min(1));
        match kind {
            "+" => Ok(Reply::Status(rest.to_owned())),
            "-" => Err(format!("redis `{}`: {rest}", args.join(" ")).into()),
            ":" => Ok(Reply::Int(rest.parse()?)),
            "$" => {
                let len: i64 = rest.parse()?;
                if len < 0 {
                    return Ok(Reply::Bulk(None));
                }
                let mut buf = vec![0; len as usize + 2];
                r.read_exact(&mut buf)?;
                buf.truncate(len as usize);
                Ok(Reply::Bulk(Some(buf)))
            }
            _ => Err(format!("redis `{}`: unexpected reply `{line}`", args.join(" ")).into()),
        }
    }

    /// An integer reply (`None` for a null one).
    fn int(&self, args: &[&str]) -> Result<Option<i64>, BoxError> {
        match self.command(args)? {
            Reply::Int(n) => Ok(Some(n)),
            Reply::Bulk(None) => Ok(None),
            other => Err(format!("redis `{}`: not an integer: {other:?}", args.join(" ")).into()),
        }
    }

    /// `INFO memory`'s `used_memory`, in bytes.
    fn used_memory(&self) -> Result<u64, BoxError> {
        let Reply::Bulk(Some(text)) = self.command(&["INFO", "memory"])? else {
            return Err("INFO memory gave no text".into());
        };
        String::from_utf8_lossy(&text)
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:")?.trim().parse().ok())
            .ok_or_else(|| "INFO memory has no used_memory".into())
    }

    /// Empties it, between parts (only while no instance is connected).
    fn flush(&self) -> Result<(), BoxError> {
        self.command(&["FLUSHALL"])?;
        Ok(())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A hookpit instance on `redis` in a child process, pinned to `pin_cpu` when given.
fn instance(
    mode: &str,
    redis: &RedisServer,
    pin_cpu: Option<usize>,
) -> Result<ServerChild, BoxError> {
    let url = redis.url();
    ServerChild::start_env(mode, pin_cpu, &[(REDIS_ENV, url.as_ref())])
}

// ---------------------------------------------------------------------------------------------

pub(super) async fn bench_shared(o: &Opts) -> Result<Vec<Verdict>, BoxError> {
    println!();
    if !RedisServer::available() {
        println!(
            "== shared: SKIPPED: redis-server not found; install Debian's package `redis-server` (apt-get install redis-server) =="
        );
        return Ok(vec![Verdict {
            name: "shared: skipped".into(),
            value: 0.0,
            unit: "",
            target: Target::Info,
            note: "redis-server not found (Debian package `redis-server`)".into(),
        }]);
    }
    let redis = RedisServer::start()?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "== shared mode (--redis): the bench's own redis-server on 127.0.0.1:{} (persistence off), running on this same {cpus}-CPU machine, unpinned: it takes CPU from the servers and the load generators alike; load average {} ==",
        redis.port,
        loadavg()
    );
    let mut verdicts = capture(o, &redis).await?;
    verdicts.extend(feed(o, &redis).await?);
    verdicts.extend(wake(o, &redis).await?);
    verdicts.extend(memory(&redis).await?);
    drop(redis);
    Ok(verdicts)
}

// ---------------------------------------------------------------------------------------------
// 1. Capture through Redis

/// The setups of the capture part; the first is the baseline.
const SETUPS: &[&str] = &["bare hyper", "1 instance", "2 instances"];

/// Runs wrk against every URL at once, `conns` connections each; one result per URL.
fn wrk_all(
    urls: &[String],
    secs: f64,
    script: &std::path::Path,
    pin_cpu: Option<usize>,
    conns: usize,
) -> Result<Vec<WrkRun>, BoxError> {
    std::thread::scope(|s| {
        let runs: Vec<_> = urls
            .iter()
            .map(|u| s.spawn(move || run_wrk_with(u, secs, script, pin_cpu, conns)))
            .collect();
        runs.into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| BoxError::from("a wrk thread panicked"))?
            })
            .collect()
    })
}

/// CPU time (user + system) a process has used so far, in seconds, from `/proc/PID/stat`.
pub(super) fn cpu_secs(pid: u32) -> Option<f64> {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    let ticks = *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    });
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // the fields after the command name (which may hold spaces): state is field 3
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let (utime, stime): (f64, f64) = (f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?);
    Some((utime + stime) / ticks)
}

/// The CPU time used so far by every process in `pids`, in seconds.
fn cpu_of(pids: &[u32]) -> f64 {
    pids.iter().filter_map(|p| cpu_secs(*p)).sum()
}

/// What one setup did in its measured run.
struct SetupRun {
    /// Its wrk processes together: the sum of req/s, the worst p99, all errors.
    wrk: WrkRun,
    /// CPU used by its servers and by redis-server during the run, in % of one CPU.
    server_cpu: f64,
    redis_cpu: f64,
    /// CPU time per answered request of its servers and of redis-server, in µs.
    server_us: f64,
    redis_us: f64,
}

/// One setup measured once: its servers started, wrk warm-up, the measured run, servers stopped.
fn capture_setup(
    setup: usize,
    redis: &RedisServer,
    secs: f64,
    script: &std::path::Path,
    pins: Option<(usize, usize)>,
) -> Result<SetupRun, BoxError> {
    let server_cpu = pins.map(|p| p.0);
    let servers = match setup {
        0 => vec![ServerChild::start("serve-bare", server_cpu)?],
        n => {
            // every setup starts on an empty Redis (no instance is connected now)
            redis.flush()?;
            (0..n)
                .map(|_| instance("serve-shared", redis, server_cpu))
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    let urls: Vec<String> = servers
        .iter()
        .map(|s| format!("http://{}/bench/events?src=load", s.addr))
        .collect();
    let conns = (WRK_CONNS / urls.len()).max(1);
    let load_cpu = pins.map(|p| p.1);
    wrk_all(&urls, 1.0, script, load_cpu, conns)?; // warm-up
    let pids: Vec<u32> = servers.iter().map(ServerChild::pid).collect();
    let redis_pid = [redis.child.id()];
    let (server0, redis0, t0) = (cpu_of(&pids), cpu_of(&redis_pid), Instant::now());
    let runs = wrk_all(&urls, secs, script, load_cpu, conns)?;
    let wall = t0.elapsed().as_secs_f64().max(1e-9);
    let (server1, redis1) = (cpu_of(&pids), cpu_of(&redis_pid));
    drop(servers);
    let rps: f64 = runs.iter().map(|r| r.rps).sum();
    Ok(SetupRun {
        wrk: WrkRun {
            rps,
            p99_ms: runs.iter().map(|r| r.p99_ms).fold(0.0, f64::max),
            errors: runs.iter().map(|r| r.errors).sum(),
        },
        server_us: (server1 - server0) * 1e6 / (rps * wall).max(1.0),
        redis_us: (redis1 - redis0) * 1e6 / (rps * wall).max(1.0),
        server_cpu: (server1 - server0) / wall * 100.0,
        // the bare setup does not use Redis: whatever it shows is idle housekeeping
        redis_cpu: (redis1 - redis0) / wall * 100.0,
    })
}

async fn capture(o: &Opts, redis: &RedisServer) -> Result<Vec<Verdict>, BoxError> {
    ensure_wrk()?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let secs = o.secs.max(1.0);
    println!();
    println!(
        "-- 1. capture through Redis with wrk in its own process: POST 1 KiB JSON, {WRK_CONNS} keep-alive conns (split over the wrk processes of 2 instances), 1 wrk thread each, {secs:.0} s per run, {} rounds",
        o.rounds
    );
    println!("(pinned: servers on CPU 0, wrk on CPU 1; redis-server unpinned in both variants)");
    let script = wrk_script(&body_1k())?;
    let variants: &[(&str, Option<(usize, usize)>)] = if cpus >= 2 {
        &[("shared", None), ("pinned", Some((0, 1)))]
    } else {
        println!("(one CPU: the pinned variant needs two; measuring shared only)");
        &[("shared", None)]
    };
    // rps[variant][setup] and ratios[variant][setup] per round
    let mut rps = vec![vec![Vec::new(); SETUPS.len()]; variants.len()];
    let mut p99 = vec![vec![Vec::new(); SETUPS.len()]; variants.len()];
    let mut ratios = vec![vec![Vec::new(); SETUPS.len()]; variants.len()];
    println!(
        "{:<6} {:<8} {:<12} {:>10} {:>9} {:>7} {:>8} {:>11} {:>10} {:>13} {:>12}",
        "round",
        "variant",
        "server",
        "req/s",
        "p99 ms",
        "errors",
        "ratio",
        "server cpu%",
        "redis cpu%",
        "server us/req",
        "redis us/req"
    );
    let mut redis_cpu = vec![Vec::new(); variants.len()];
    let mut redis_us = vec![Vec::new(); variants.len()];
    let mut server_us = vec![vec![Vec::new(); SETUPS.len()]; variants.len()];
    for round in 1..=o.rounds {
        for (v, (variant, pins)) in variants.iter().enumerate() {
            // each setup runs between two runs of the bare server and is compared with their
            // mean: the host's speed drifts within a round (see `wrk.rs`); the order of the
            // others alternates between rounds
            let mut others: Vec<usize> = (1..SETUPS.len()).collect();
            if (round + v) % 2 == 0 {
                others.reverse();
            }
            let run_one = |s: usize| -> Result<Option<f64>, BoxError> {
                let run = capture_setup(s, redis, secs, script.path(), *pins)?;
                let r = &run.wrk;
                println!(
                    "{:<6} {:<8} {:<12} {:>10.0} {:>9.3} {:>7} {:>8} {:>11.0} {:>10.0} {:>13.1} {:>12.1}",
                    round,
                    variant,
                    SETUPS[s],
                    r.rps,
                    r.p99_ms,
                    r.errors,
                    "",
                    run.server_cpu,
                    run.redis_cpu,
                    run.server_us,
                    run.redis_us
                );
                if s == 1 {
                    redis_cpu[v].push(run.redis_cpu);
                    redis_us[v].push(run.redis_us);
                }
                server_us[v][s].push(run.server_us);
                p99[v][s].push(r.p99_ms);
                Ok(Some(r.rps))
            };
            let (bare_rps, measured) = super::wrk::beside_bare(&others, run_one)?;
            rps[v][0].push(median(&bare_rps));
            ratios[v][0].push(1.0);
            for super::wrk::Paired {
                server: s,
                rps: r,
                baseline,
            } in measured
            {
                let ratio = r / baseline.max(1e-9);
                rps[v][s].push(r);
                ratios[v][s].push(ratio);
                println!(
                    "{:<6} {:<8} {:<12} {:>10} {:>9} {:>7} {:>8.3}",
                    round, variant, SETUPS[s], "", "", "", ratio
                );
            }
        }
    }
    let mut verdicts = Vec::new();
    for (v, (variant, _)) in variants.iter().enumerate() {
        print_per_round(&format!("{variant}: 1 instance / bare"), "x", &ratios[v][1]);
        print_per_round(
            &format!("{variant}: 2 instances / bare"),
            "x",
            &ratios[v][2],
        );
        verdicts.push(Verdict {
            name: format!("shared capture {variant}: 1 instance / bare"),
            value: median(&ratios[v][1]),
            unit: "x",
            target: Target::AtLeast(0.35),
            note: format!(
                "{:.0} vs {:.0} req/s; p99 {:.3} vs {:.3} ms; CPU per request: hookpit {:.1} + redis-server {:.1} us ({:.0}% CPU) vs bare {:.1} us; on the same {cpus} CPUs",
                median(&rps[v][1]),
                median(&rps[v][0]),
                median(&p99[v][1]),
                median(&p99[v][0]),
                median(&server_us[v][1]),
                median(&redis_us[v]),
                median(&redis_cpu[v]),
                median(&server_us[v][0])
            ),
        });
        verdicts.push(Verdict {
            name: format!("shared capture {variant}: 2 instances / bare"),
            value: median(&ratios[v][2]),
            unit: "x",
            target: Target::Info,
            note: format!(
                "sum {:.0} req/s of 2 wrk at once; Redis on the same {cpus} CPUs",
                median(&rps[v][2])
            ),
        });
    }
    Ok(verdicts)
}

// ---------------------------------------------------------------------------------------------
// 2. Cross-instance live feed

async fn feed(o: &Opts, redis: &RedisServer) -> Result<Vec<Verdict>, BoxError> {
    println!();
    println!(
        "-- 2. cross-instance live feed: {FEED_VIEWERS} viewers on instance B, {WS_RATE} req/s paced over {WS_SENDERS} conns POSTed to instance A, 1 KiB body, {:.1} s/round, {} rounds",
        o.secs, o.rounds
    );
    redis.flush()?;
    let a = instance("serve-shared", redis, None)?;
    let b = instance("serve-shared", redis, None)?;
    println!(
        "{:<7} {:>7} {:>10} {:>8} {:>6} {:>8} {:>8} {:>8} {:>8} {:>11}",
        "round",
        "sent",
        "delivered",
        "missed",
        "dups",
        "p50 ms",
        "p99 ms",
        "max ms",
        "resyncs",
        "http p99 ms"
    );
    let warm = Opts {
        secs: 0.5,
        ..o.clone()
    };
    let w = ws_round(&warm, &a.addr, &b.addr, FEED_VIEWERS, 0).await?;
    println!(
        "{:<7} {:>7} {:>10} {:>8} {:>6} {:>8.3} {:>8.3} {:>8.3}   (warm-up, not counted)",
        "warm",
        w.sent,
        w.delivered,
        w.missed,
        w.duplicates,
        ms(w.deliveries.p50()),
        ms(w.deliveries.p99()),
        ms(w.deliveries.max())
    );
    let (mut p50s, mut p99s, mut maxs, mut http_p99s) = (vec![], vec![], vec![], vec![]);
    let (mut missed, mut dups, mut resyncs) = (0, 0, 0);
    for round in 1..=o.rounds {
        let r = ws_round(o, &a.addr, &b.addr, FEED_VIEWERS, round).await?;
        println!(
            "{:<7} {:>7} {:>10} {:>8} {:>6} {:>8.3} {:>8.3} {:>8.3} {:>8} {:>11.3}",
            round,
            r.sent,
            r.delivered,
            r.missed,
            r.duplicates,
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
        dups += r.duplicates;
        resyncs += r.resyncs;
    }
    drop((a, b));
    print_per_round("delivery p50 ms (A -> B)", "ms", &p50s);
    print_per_round("delivery p99 ms (A -> B)", "ms", &p99s);
    print_per_round("delivery max ms (A -> B)", "ms", &maxs);
    print_per_round("reference: POST to A p99 ms", "ms", &http_p99s);
    Ok(vec![
        Verdict {
            name: "shared feed: A -> B viewers delivery p99".into(),
            value: median(&p99s),
            unit: "ms",
            target: Target::AtMost(10.0),
            note: format!(
                "p50 {:.3} ms, max {:.3} ms, POST p99 {:.3} ms; {resyncs} resyncs",
                median(&p50s),
                median(&maxs),
                median(&http_p99s)
            ),
        },
        Verdict {
            name: "shared feed: missed messages (all rounds)".into(),
            value: missed as f64,
            unit: "msgs",
            target: Target::AtMost(0.0),
            note: "POST errors count as missed".into(),
        },
        Verdict {
            name: "shared feed: duplicated messages".into(),
            value: dups as f64,
            unit: "msgs",
            target: Target::AtMost(0.0),
            note: String::new(),
        },
    ])
}

// ---------------------------------------------------------------------------------------------
// 3. Cross-instance wait wake-up

/// Reads B's `pending_waits` from its `/_/api/health`.
async fn pending_waits(conn: &mut Conn, health: &Template) -> Result<u64, BoxError> {
    let (status, body) = conn.send(health.build()).await?;
    if !status.is_success() {
        return Err(format!("health answered {status}").into());
    }
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    v["pending_waits"]
        .as_u64()
        .ok_or_else(|| "health has no pending_waits".into())
}

/// Wake-up latencies of one round.
struct WakeRound {
    /// POST to A sent → B's wait answer read.
    wake: Hist,
    /// The same POST's own round trip (the baseline).
    post: Hist,
}

/// `n` wake-ups, each on a fresh bin: the wait on `b`, then the matching POST to `a`.
async fn wake_round(a: &str, b: &str, tag: &str, n: usize) -> Result<WakeRound, BoxError> {
    let (wtx, wrx) = mpsc::channel::<WaitJob>(1);
    let waiter = tokio::spawn(http_waiter(b.to_owned(), wrx));
    let mut poster = Conn::open(a).await?;
    let mut watcher = Conn::open(b).await?;
    let health = Template::get(&format!("http://{b}/_/api/health"))?;
    let body = body_1k();
    let mut out = WakeRound {
        wake: Hist::new(),
        post: Hist::new(),
    };
    for i in 0..n {
        let bin = format!("wake-{tag}-{i}");
        let before = pending_waits(&mut watcher, &health).await?;
        let (tx, ended) = oneshot::channel();
        wtx.send((bin.clone(), tx))
            .await
            .map_err(|_| "the HTTP waiter stopped")?;
        let deadline = Instant::now() + REGISTER_TIMEOUT;
        while pending_waits(&mut watcher, &health).await? <= before {
            if Instant::now() > deadline {
                return Err(
                    format!("a wait on B did not register within {REGISTER_TIMEOUT:?}").into(),
                );
            }
        }
        let req = Template::post(&format!("http://{a}/{bin}/events"), body.clone())?.build();
        let t0 = Instant::now();
        let (status, _) = poster.send(req).await?;
        let posted = t0.elapsed();
        if !status.is_success() {
            return Err(format!("the POST to A answered {status}").into());
        }
        let woke = tokio::time::timeout(WAIT_TIMEOUT + Duration::from_secs(1), ended)
            .await
            .map_err(|_| "a wait on B never returned")?
            .map_err(|_| "the HTTP waiter went away")??;
        out.wake.record(woke.saturating_duration_since(t0));
        out.post.record(posted);
    }
    drop(wtx);
    let _ = tokio::time::timeout(Duration::from_secs(2), waiter).await;
    Ok(out)
}

async fn wake(o: &Opts, redis: &RedisServer) -> Result<Vec<Verdict>, BoxError> {
    println!();
    println!(
        "-- 3. cross-instance wait wake-up: {WAKE_ITERATIONS} waits per round on instance B (GET /_/api/bins/{{bin}}/wait, keep-alive, fresh bin each), each released by a POST to instance A once B's health counts it; {} rounds, {WAKE_WARMUP} untimed first each round",
        o.rounds
    );
    println!("(latency = POST to A sent -> B's wait answer read; baseline = the same POST's own round trip; fresh Redis and instances each round)");
    println!(
        "{:<7} {:>9} {:>9} {:>9} {:>11} {:>11}",
        "round", "wake p50", "wake p99", "wake max", "POST p50", "POST p99"
    );
    let (mut p50s, mut p99s, mut maxs, mut post99s, mut ratios) =
        (vec![], vec![], vec![], vec![], vec![]);
    for round in 1..=o.rounds {
        // a fresh pair on an empty Redis: the bins of a round stay under the bin limit
        redis.flush()?;
        let a = instance("serve-shared", redis, None)?;
        let b = instance("serve-shared", redis, None)?;
        wake_round(&a.addr, &b.addr, &format!("warm{round}"), WAKE_WARMUP).await?;
        let r = wake_round(&a.addr, &b.addr, &round.to_string(), WAKE_ITERATIONS).await?;
        drop((a, b));
        println!(
            "{:<7} {:>9.3} {:>9.3} {:>9.3} {:>11.3} {:>11.3}   (ms)",
            round,
            ms(r.wake.p50()),
            ms(r.wake.p99()),
            ms(r.wake.max()),
            ms(r.post.p50()),
            ms(r.post.p99())
        );
        p50s.push(ms(r.wake.p50()));
        p99s.push(ms(r.wake.p99()));
        maxs.push(ms(r.wake.max()));
        post99s.push(ms(r.post.p99()));
        ratios.push(ms(r.wake.p99()) / ms(r.post.p99()).max(1e-9));
    }
    print_per_round("A -> B wake-up p50 ms", "ms", &p50s);
    print_per_round("A -> B wake-up p99 ms", "ms", &p99s);
    print_per_round("baseline: POST to A p99 ms", "ms", &post99s);
    Ok(vec![
        Verdict {
            name: "shared wait: A -> B wake-up p99".into(),
            value: median(&p99s),
            unit: "ms",
            target: Target::AtMost(10.0),
            note: format!(
                "p50 {:.3} ms, max {:.3} ms; {WAKE_ITERATIONS} per round",
                median(&p50s),
                median(&maxs)
            ),
        },
        Verdict {
            name: "shared wait: wake-up p99 / POST p99".into(),
            value: median(&ratios),
            unit: "x",
            target: Target::Info,
            note: format!("POST to A p99 {:.3} ms", median(&post99s)),
        },
    ])
}

// ---------------------------------------------------------------------------------------------
// 4. Redis memory per stored request

async fn memory(redis: &RedisServer) -> Result<Vec<Verdict>, BoxError> {
    println!();
    println!(
        "-- 4. Redis memory per stored 1 KiB request: {MEM_REQUESTS} POSTs into bin `{MEM_BIN}` of one instance with --max-requests {MEM_REQUESTS}, {MEM_CONNS} conns (one measurement, empty Redis at start)"
    );
    redis.flush()?;
    let server = instance("serve-shared-deep", redis, None)?;
    let before = redis.used_memory()?;
    let (redis_pid, server_pid) = ([redis.child.id()], [server.pid()]);
    let (redis0, server0) = (cpu_of(&redis_pid), cpu_of(&server_pid));
    let t0 = Instant::now();
    tokio::time::timeout(
        FILL_TIMEOUT,
        persist::fill(
            &server.addr,
            &format!("/{MEM_BIN}/events?src=bench"),
            MEM_REQUESTS,
            MEM_CONNS,
        ),
    )
    .await
    .map_err(|_| "filling the bin took too long")??;
    let fill_secs = t0.elapsed().as_secs_f64();
    let (redis1, server1) = (cpu_of(&redis_pid), cpu_of(&server_pid));
    let after = redis.used_memory()?;
    let stream = format!("hookpit:req:{MEM_BIN}");
    let kept = redis.int(&["XLEN", &stream])?.unwrap_or(0);
    let feed = redis.int(&["XLEN", "hookpit:feed"])?.unwrap_or(0);
    let stream_bytes = redis
        .int(&["MEMORY", "USAGE", &stream, "SAMPLES", "0"])?
        .unwrap_or(0);
    let feed_bytes = redis
        .int(&["MEMORY", "USAGE", "hookpit:feed", "SAMPLES", "0"])?
        .unwrap_or(0);
    drop(server);
    let per_req = (after as f64 - before as f64) / MEM_REQUESTS as f64 / 1024.0;
    println!(
        "filled in {fill_secs:.1} s ({:.0} req/s); used_memory {:.1} MiB -> {:.1} MiB: {per_req:.3} KiB per request",
        MEM_REQUESTS as f64 / fill_secs,
        before as f64 / 1048576.0,
        after as f64 / 1048576.0
    );
    println!(
        "CPU while filling (no ring trimming: the bin holds them all): redis-server {:.1} us per capture ({:.0}% of one CPU), hookpit {:.1} us",
        (redis1 - redis0) * 1e6 / MEM_REQUESTS as f64,
        (redis1 - redis0) / fill_secs * 100.0,
        (server1 - server0) * 1e6 / MEM_REQUESTS as f64
    );
    println!(
        "XLEN {stream} = {kept} ({:.3} KiB each by MEMORY USAGE); feed stream {feed} entries, {:.1} MiB (a window, included above)",
        stream_bytes as f64 / kept.max(1) as f64 / 1024.0,
        feed_bytes as f64 / 1048576.0
    );
    Ok(vec![
        Verdict {
            name: "shared: Redis used_memory per 1 KiB request".into(),
            value: per_req,
            unit: "KiB",
            target: Target::AtMost(2.0),
            note: format!(
                "INFO memory over {MEM_REQUESTS}; bin stream alone {:.3} KiB; incl. feed window of {feed}",
                stream_bytes as f64 / kept.max(1) as f64 / 1024.0
            ),
        },
        Verdict {
            name: "shared: requests in the bin's stream (XLEN)".into(),
            value: kept as f64,
            unit: "",
            target: Target::AtLeast(MEM_REQUESTS as f64),
            note: format!("--max-requests {MEM_REQUESTS}, one bin"),
        },
    ])
}
