//! `capture`: capture throughput measured from outside, with `wrk` as the load generator in its
//! own process, so the generator's CPU is not charged to the servers it measures.
//!
//! Every server runs alone in a child process of this executable (`bench serve-KIND --child`,
//! announcing `@addr HOST:PORT`): a bare hyper server that reads the body and answers 200 (the
//! baseline), a naive capture (the bare server plus a copy of each request into a
//! `Mutex<Vec>`), hookpit with its default limits, and hookpit with a deep store (1M requests,
//! 1 GiB), and a peer: httpmock 0.9's standalone server with one mock answering every POST
//! (hookpit's target is ≥ 1.2× its throughput, same round and variant), and hookpit with a
//! durable store (`--data-dir` in a temp dir of the child's; target ≥ 0.60× bare). Each round measures every server twice: "shared" (server and wrk float over all
//! CPUs) and "pinned" (server on CPU 0, wrk on CPU 1, with `taskset`). Within a round and
//! variant every server runs between two runs of the bare server, and its ratio is against
//! their mean: a shared host's speed drifts by tens of percent within a minute, so the baseline
//! is measured next to each figure, not once per round. httpmock is compared the same way (the
//! ratio of the two ratios). Verdicts use the median over rounds. Each run also reads the server's
//! CPU time (user + system, `/proc/PID/stat`) and prints it per answered request: the bare
//! server's figure over hookpit's is printed as information, a measure of the work each does
//! per request that depends less on how busy the host is than throughput does. Resident
//! bytes per stored request are read from the child's `/proc/PID/status` before and after.
//! `wrk` is installed from Debian's packages when missing (`apt-get install wrk`), httpmock is
//! built once with `cargo install` into the target directory's `bench-tools/` (its row is left
//! out, and its verdict fails, when that cannot be done).

use super::*;

use std::io::BufRead;
use std::process::{Child, Command, Stdio};

/// Connections wrk keeps open (the issue's figure: 32 keep-alive connections).
pub(super) const WRK_CONNS: usize = 32;

/// The servers measured, as `(label, child mode)`; the first is the baseline.
const SERVERS: &[(&str, &str)] = &[
    ("bare hyper", "serve-bare"),
    ("naive capture", "serve-naive"),
    ("hookpit default", "serve-hookpit"),
    ("hookpit deep", "serve-deep"),
    ("httpmock 0.9", "httpmock"),
    ("hookpit data-dir", "serve-disk"),
];

/// The peer measured beside hookpit: httpmock's standalone server, the version the issue names.
const HTTPMOCK_VERSION: &str = "0.9.0";

/// The static mock httpmock serves: every POST answered 200 with a small JSON body.
const HTTPMOCK_MOCK: &str =
    "when:\n  method: POST\nthen:\n  status: 200\n  body: '{\"ok\":true}'\n";

/// The child side: serves one kind of server on 127.0.0.1:0 until stdin closes.
pub(super) async fn serve_child(mode: &str) -> Result<Vec<Verdict>, BoxError> {
    let (addr, guard): (SocketAddr, Box<dyn std::any::Any + Send>) = match mode {
        "serve-bare" => {
            let (addr, task) = serve_bare(StatusCode::OK, None).await?;
            (addr, Box::new(AbortOnDrop(task)))
        }
        "serve-naive" => {
            let (addr, task) = serve_naive().await?;
            (addr, Box::new(AbortOnDrop(task)))
        }
        "serve-shared" | "serve-shared-deep" => {
            let url = std::env::var(super::shared::REDIS_ENV)
                .map_err(|_| format!("`{mode}` needs {}", super::shared::REDIS_ENV))?;
            let hp = hookpit::Server::start(super::shared::server_config(mode, url)).await?;
            (hp.addr(), Box::new(hp))
        }
        "serve-hookpit" | "serve-deep" | "serve-soak" | "serve-disk" | "serve-persist" => {
            // the durable store's directory: the parent's (persist), or one of its own
            let own_dir =
                std::env::temp_dir().join(format!("hookpit-bench-disk-{}", std::process::id()));
            let dir = std::env::var_os(DATA_DIR_ENV).map_or(own_dir, std::path::PathBuf::from);
            let config = match mode {
                "serve-disk" => hookpit::Config {
                    data_dir: Some(dir.clone()),
                    ..hookpit::Config::for_tests()
                },
                "serve-persist" => super::persist::server_config(dir.clone()),
                "serve-deep" => hookpit::Config {
                    max_requests: 1_000_000,
                    max_memory: 1024 * 1024 * 1024,
                    ..hookpit::Config::for_tests()
                },
                "serve-soak" => super::soak::server_config(),
                _ => hookpit::Config::for_tests(),
            };
            let own = mode == "serve-disk" && std::env::var_os(DATA_DIR_ENV).is_none();
            let hp = hookpit::Server::start(config).await?;
            let cleanup = own.then(|| RemoveDirOnDrop(dir));
            (hp.addr(), Box::new((hp, cleanup)))
        }
        other => return Err(format!("no server kind `{other}`").into()),
    };
    println!("@addr {addr}");
    let stdin_closed = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        while std::io::stdin().lock().read_line(&mut line).unwrap_or(0) > 0 {
            line.clear();
        }
    });
    let _ = tokio::time::timeout(Duration::from_secs(600), stdin_closed).await;
    drop(guard);
    Ok(Vec::new())
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

/// The child's data directory, when it made one for itself.
struct RemoveDirOnDrop(std::path::PathBuf);

impl Drop for RemoveDirOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Names the data directory of a `serve-persist` (or `serve-disk`) child.
const DATA_DIR_ENV: &str = "HOOKPIT_BENCH_DATA_DIR";

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One stored request of the naive capture: what a minimal catcher keeps.
#[allow(dead_code)] // kept for its memory, never read
struct Naive {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

/// The bare server plus a copy of every request into one `Mutex<Vec>`; `GET /count` answers how
/// many it holds.
async fn serve_naive() -> Result<(SocketAddr, tokio::task::JoinHandle<()>), BoxError> {
    let kept: Arc<std::sync::Mutex<Vec<Naive>>> = Arc::default();
    serve_hyper(move |req: Request<hyper::body::Incoming>| {
        let kept = kept.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let answer = if parts.method == Method::GET && parts.uri.path() == "/count" {
                let n = kept.lock().map(|k| k.len()).unwrap_or(0);
                Bytes::from(format!("{{\"count\":{n}}}"))
            } else {
                if let Ok(mut k) = kept.lock() {
                    k.push(Naive {
                        method: parts.method,
                        uri: parts.uri,
                        headers: parts.headers,
                        body,
                    });
                }
                Bytes::from_static(b"{\"ok\":true}")
            };
            let mut r = Response::new(Full::new(answer));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
    })
    .await
}

/// A server child process; closing its stdin stops it, and dropping this kills it if it lingers.
pub(super) struct ServerChild {
    child: Child,
    pub(super) addr: String,
}

impl ServerChild {
    pub(super) fn start(mode: &str, pin_cpu: Option<usize>) -> Result<ServerChild, BoxError> {
        ServerChild::start_in(mode, pin_cpu, None)
    }

    /// A server child whose durable store (if its kind has one) is in `data_dir`.
    pub(super) fn start_in(
        mode: &str,
        pin_cpu: Option<usize>,
        data_dir: Option<&std::path::Path>,
    ) -> Result<ServerChild, BoxError> {
        match data_dir {
            Some(d) => ServerChild::start_env(mode, pin_cpu, &[(DATA_DIR_ENV, d.as_os_str())]),
            None => ServerChild::start_env(mode, pin_cpu, &[]),
        }
    }

    /// A server child with these environment variables set (how a kind gets its settings).
    pub(super) fn start_env(
        mode: &str,
        pin_cpu: Option<usize>,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Result<ServerChild, BoxError> {
        // the path itself, not `/proc/self/exe`: under `taskset` that link would name taskset
        let exe = std::env::current_exe()?;
        let mut cmd = pinned(exe.as_os_str(), pin_cpu);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .args([mode, "--child"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("the child has no stdout")?;
        let mut lines = std::io::BufReader::new(stdout).lines();
        let addr = lines
            .find_map(|l| l.ok()?.strip_prefix("@addr ").map(str::to_owned))
            .ok_or_else(|| format!("`{mode}` did not announce its address"))?;
        Ok(ServerChild { child, addr })
    }

    /// httpmock's standalone server on a free loopback port, with one static mock answering
    /// every POST 200 with a small JSON body (what a catcher answers).
    fn start_httpmock(
        exe: &std::path::Path,
        mocks: &std::path::Path,
        pin_cpu: Option<usize>,
    ) -> Result<ServerChild, BoxError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = pinned(exe.as_os_str(), pin_cpu)
            .arg("--port")
            .arg(port.to_string())
            .arg("--mock-files-dir")
            .arg(mocks)
            // its best configuration: no access log line per request
            .arg("--disable-access-log")
            .env("RUST_LOG", "error")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let server = ServerChild {
            child,
            addr: format!("127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(&server.addr).is_err() {
            if Instant::now() > deadline {
                return Err("httpmock did not start listening within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    fn rss(&self) -> Option<u64> {
        self.memory("VmRSS:")
    }

    /// The child's process id.
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A memory figure of the child (`VmRSS:`, `VmHWM:`), in bytes.
    pub(super) fn memory(&self, field: &str) -> Option<u64> {
        proc_status(&self.child.id().to_string(), field)
    }

    /// How many requests the server holds, where it can tell.
    async fn stored(&self, mode: &str) -> Option<u64> {
        let (path, key) = match mode {
            "serve-naive" => ("/count", None),
            "serve-hookpit" | "serve-deep" | "serve-disk" => ("/_/api/health", Some("stats")),
            _ => return None,
        };
        let mut c = Conn::open(&self.addr).await.ok()?;
        let t = Template::get(&format!("http://{}{path}", self.addr)).ok()?;
        let (_, body) = c.send(t.build()).await.ok()?;
        let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
        match key {
            Some(k) => v[k]["requests"].as_u64(),
            None => v["count"].as_u64(),
        }
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `program`, under `taskset -c CPU` when pinned.
fn pinned(program: &std::ffi::OsStr, pin_cpu: Option<usize>) -> Command {
    match pin_cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// What one wrk run printed.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct WrkRun {
    pub(super) rps: f64,
    pub(super) p99_ms: f64,
    /// Non-2xx answers and socket errors.
    pub(super) errors: u64,
}

/// Installs wrk from Debian's packages when it is missing.
pub(super) fn ensure_wrk() -> Result<(), BoxError> {
    if Command::new("wrk").arg("--version").output().is_ok() {
        return Ok(());
    }
    println!("(wrk not found: installing Debian's `wrk`)");
    let sudo = if is_root() { vec![] } else { vec!["sudo"] };
    for args in [
        vec!["apt-get", "update", "-qq"],
        vec![
            "apt-get",
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "wrk",
        ],
    ] {
        let mut all = sudo.clone();
        all.extend(args);
        let status = Command::new(all[0])
            .args(&all[1..])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()?;
        if !status.success() {
            return Err(format!("`{}` failed ({status})", all.join(" ")).into());
        }
    }
    Ok(())
}

/// The httpmock binary: on `PATH`, or built once with `cargo install` into `bench-tools/` of
/// this build's target directory. `None` (with the reason printed) when it cannot be had.
fn ensure_httpmock() -> Option<std::path::PathBuf> {
    if Command::new("httpmock").arg("--version").output().is_ok() {
        return Some("httpmock".into());
    }
    // target/release/examples/bench -> target/bench-tools
    let exe = std::env::current_exe().ok()?;
    let root = exe.parent()?.parent()?.parent()?.join("bench-tools");
    let bin = root.join("bin").join("httpmock");
    if bin.exists() {
        return Some(bin);
    }
    println!(
        "(httpmock not found: building httpmock {HTTPMOCK_VERSION} standalone with `cargo install` into {}; this takes a few minutes once)",
        root.display()
    );
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "install",
            "--quiet",
            "--locked",
            "httpmock",
            "--features",
            "standalone",
        ])
        .arg("--version")
        .arg(format!("={HTTPMOCK_VERSION}"))
        .arg("--root")
        .arg(&root)
        .status();
    match status {
        Ok(s) if s.success() && bin.exists() => Some(bin),
        Ok(s) => {
            println!("(httpmock could not be built ({s}); its row is left out)");
            None
        }
        Err(e) => {
            println!("(cargo could not be run ({e}); the httpmock row is left out)");
            None
        }
    }
}

/// Whether this process runs as root (from `/proc/self/status`'s effective uid).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("Uid:"))?;
            line.split_whitespace().nth(2).map(|u| u == "0")
        })
        .unwrap_or(false)
}

/// The Lua script that makes wrk POST the 1 KiB JSON body.
pub(super) fn wrk_script(body: &[u8]) -> Result<tempfile_path::TempFile, BoxError> {
    let text = String::from_utf8_lossy(body)
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    let script = format!(
        "wrk.method = \"POST\"\nwrk.body = \"{text}\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
    );
    tempfile_path::TempFile::with_contents("hookpit-bench-wrk", ".lua", script.as_bytes())
}

/// Runs wrk against `url` for `secs` with its [`WRK_CONNS`] connections, pinned to `pin_cpu`
/// when given.
fn run_wrk(
    url: &str,
    secs: f64,
    script: &std::path::Path,
    pin_cpu: Option<usize>,
) -> Result<WrkRun, BoxError> {
    run_wrk_with(url, secs, script, pin_cpu, WRK_CONNS)
}

/// [`run_wrk`] with `conns` connections.
pub(super) fn run_wrk_with(
    url: &str,
    secs: f64,
    script: &std::path::Path,
    pin_cpu: Option<usize>,
    conns: usize,
) -> Result<WrkRun, BoxError> {
    let secs = secs.round().max(1.0) as u64;
    let out = pinned("wrk".as_ref(), pin_cpu)
        .args([
            "-t1",
            &format!("-c{conns}"),
            &format!("-d{secs}s"),
            "--latency",
        ])
        .arg("-s")
        .arg(script)
        .arg(url)
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "wrk failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    parse_wrk(&text).ok_or_else(|| format!("cannot read wrk's output:\n{text}").into())
}

/// Reads `Requests/sec`, the 99% latency line and the error lines of wrk's output.
fn parse_wrk(text: &str) -> Option<WrkRun> {
    let mut run = WrkRun::default();
    let mut got_rps = false;
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            run.rps = v.trim().parse().ok()?;
            got_rps = true;
        } else if let Some(v) = line.strip_prefix("99%") {
            run.p99_ms = wrk_duration_ms(v.trim())?;
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            run.errors += v.trim().parse::<u64>().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            // connect 0, read 0, write 0, timeout 0
            run.errors += v
                .split(',')
                .filter_map(|p| p.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    got_rps.then_some(run)
}

/// `1.23ms`, `512.00us`, `1.02s` in milliseconds.
fn wrk_duration_ms(v: &str) -> Option<f64> {
    let (num, factor) = if let Some(n) = v.strip_suffix("us") {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e3)
    } else {
        (v, 1.0)
    };
    Some(num.trim().parse::<f64>().ok()? * factor)
}

pub(super) async fn bench_capture(o: &Opts) -> Result<Vec<Verdict>, BoxError> {
    ensure_wrk()?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let secs = o.secs.max(1.0);
    println!();
    println!(
        "== capture throughput with wrk in its own process: POST 1 KiB JSON, {WRK_CONNS} keep-alive conns, 1 wrk thread, {secs:.0} s per run, {} rounds; {cpus} CPUs, load average {} ==",
        o.rounds,
        loadavg()
    );
    let script = wrk_script(&body_1k())?;
    let httpmock = match ensure_httpmock() {
        Some(exe) => Some((
            exe,
            tempfile_path::TempDir::with_file("mock.yaml", HTTPMOCK_MOCK)?,
        )),
        None => None,
    };
    let variants: &[(&str, Option<(usize, usize)>)] = if cpus >= 2 {
        &[("shared", None), ("pinned", Some((0, 1)))]
    } else {
        println!("(one CPU: the pinned variant needs two; measuring shared only)");
        &[("shared", None)]
    };
    // ratios[variant][server] per round; rps[variant][server] per round
    let mut ratios = vec![vec![Vec::new(); SERVERS.len()]; variants.len()];
    let mut rps = vec![vec![Vec::new(); SERVERS.len()]; variants.len()];
    let mut p99 = vec![vec![Vec::new(); SERVERS.len()]; variants.len()];
    // the server's CPU time (user + system) per answered request, in µs
    let mut cpu_us = vec![vec![Vec::new(); SERVERS.len()]; variants.len()];
    let mut per_req_rss: Vec<Vec<f64>> = vec![Vec::new(); SERVERS.len()];
    println!(
        "{:<6} {:<8} {:<16} {:>10} {:>9} {:>7} {:>8} {:>9}",
        "round", "variant", "server", "req/s", "p99 ms", "errors", "ratio", "CPU us/r"
    );
    for round in 1..=o.rounds {
        for (v, (variant, pins)) in variants.iter().enumerate() {
            // every server runs between two runs of the bare server, and its ratio is against
            // their mean: on a shared host the machine's speed drifts within a round, so the
            // baseline is taken next to each measurement, not once per round. The order of the
            // others rotates so none always runs first or right after another.
            let others: Vec<usize> = (0..SERVERS.len() - 1)
                .map(|k| 1 + (k + round + v) % (SERVERS.len() - 1))
                .collect();
            let mut bare_p99 = Vec::new();
            let measure = |s: usize| -> Result<Option<f64>, BoxError> {
                let (label, mode) = SERVERS[s];
                let server = if mode == "httpmock" {
                    match &httpmock {
                        Some((exe, mocks)) => {
                            ServerChild::start_httpmock(exe, mocks.path(), pins.map(|p| p.0))?
                        }
                        None => return Ok(None),
                    }
                } else {
                    ServerChild::start(mode, pins.map(|p| p.0))?
                };
                let url = format!("http://{}/bench/events?src=load", server.addr);
                // warm up (connections, allocator), then measure from a known stored count
                run_wrk(&url, 1.0, script.path(), pins.map(|p| p.1))?;
                let rt = tokio::runtime::Handle::current();
                let stored = |server: &ServerChild| {
                    tokio::task::block_in_place(|| rt.block_on(server.stored(mode)))
                };
                let (rss0, n0) = (server.rss(), stored(&server));
                let (cpu0, t0) = (super::shared::cpu_secs(server.pid()), Instant::now());
                let r = run_wrk(&url, secs, script.path(), pins.map(|p| p.1))?;
                let (cpu1, wall) = (super::shared::cpu_secs(server.pid()), t0.elapsed());
                let (rss1, n1) = (server.rss(), stored(&server));
                let us = match (cpu0, cpu1) {
                    (Some(a), Some(b)) => (b - a) * 1e6 / (r.rps * wall.as_secs_f64()).max(1.0),
                    _ => f64::NAN,
                };
                cpu_us[v][s].push(us);
                if let (Some(a), Some(b), Some(n0), Some(n1)) = (rss0, rss1, n0, n1) {
                    if n1 > n0 && (mode == "serve-naive" || mode == "serve-deep") {
                        per_req_rss[s].push(b.saturating_sub(a) as f64 / (n1 - n0) as f64);
                    }
                }
                drop(server);
                println!(
                    "{:<6} {:<8} {:<16} {:>10.0} {:>9.3} {:>7} {:>8} {:>9.2}",
                    round, variant, label, r.rps, r.p99_ms, r.errors, "", us
                );
                if s == 0 {
                    bare_p99.push(r.p99_ms);
                } else {
                    rps[v][s].push(r.rps);
                    p99[v][s].push(r.p99_ms);
                }
                Ok(Some(r.rps))
            };
            // httpmock's row is left out when it is unavailable
            let (bare_rps, measured) = beside_bare(&others, measure)?;
            rps[v][0].push(median(&bare_rps));
            p99[v][0].push(median(&bare_p99));
            ratios[v][0].push(1.0);
            for Paired {
                server: s,
                rps: r,
                baseline,
            } in measured
            {
                let ratio = r / baseline.max(1e-9);
                ratios[v][s].push(ratio);
                println!(
                    "{:<6} {:<8} {:<16} {:>10} {:>9} {:>7} {:>8.3}",
                    round, variant, SERVERS[s].0, "", "", "", ratio
                );
            }
        }
    }
    println!();
    println!(
        "-- medians over {} rounds (ratio to bare hyper in the same round and variant)",
        o.rounds
    );
    print!("{:<18}", "server");
    for (variant, _) in variants {
        print!(
            " {:>14} {:>10} {:>9}",
            format!("{variant} ratio"),
            "req/s",
            "CPU us/r"
        );
    }
    println!(" {:>16}", "bytes/stored req");
    for (s, (label, _)) in SERVERS.iter().enumerate() {
        print!("{label:<18}");
        for v in 0..variants.len() {
            print!(
                " {:>14.3} {:>10.0} {:>9.2}",
                median(&ratios[v][s]),
                median(&rps[v][s]),
                median(&cpu_us[v][s])
            );
        }
        if per_req_rss[s].is_empty() {
            println!(" {:>16}", "-");
        } else {
            println!(" {:>16.0}", median(&per_req_rss[s]));
        }
    }
    let mut verdicts = Vec::new();
    for (v, (variant, _)) in variants.iter().enumerate() {
        verdicts.push(Verdict {
            name: format!("capture {variant}: hookpit default / bare"),
            value: median(&ratios[v][2]),
            unit: "x",
            target: Target::AtLeast(0.80),
            note: format!(
                "{:.0} vs {:.0} req/s; p99 {:.3} vs {:.3} ms",
                median(&rps[v][2]),
                median(&rps[v][0]),
                median(&p99[v][2]),
                median(&p99[v][0])
            ),
        });
        verdicts.push(Verdict {
            name: format!("capture {variant}: hookpit deep / bare"),
            value: median(&ratios[v][3]),
            unit: "x",
            target: Target::AtLeast(0.70),
            note: format!(
                "{:.0} vs {:.0} req/s",
                median(&rps[v][3]),
                median(&rps[v][0])
            ),
        });
        verdicts.push(cpu_verdict(variant, "hookpit default", &cpu_us[v], 2));
        verdicts.push(Verdict {
            name: format!("capture {variant}: naive capture / bare"),
            value: median(&ratios[v][1]),
            unit: "x",
            target: Target::Info,
            note: format!("{:.0} req/s", median(&rps[v][1])),
        });
    }
    for (v, (variant, _)) in variants.iter().enumerate() {
        verdicts.push(Verdict {
            name: format!("capture {variant}: hookpit --data-dir / bare"),
            value: median(&ratios[v][5]),
            unit: "x",
            target: Target::AtLeast(0.60),
            note: format!(
                "{:.0} vs {:.0} req/s; without --data-dir {:.3}x",
                median(&rps[v][5]),
                median(&rps[v][0]),
                median(&ratios[v][2])
            ),
        });
        verdicts.push(cpu_verdict(variant, "hookpit --data-dir", &cpu_us[v], 5));
    }
    for (v, (variant, _)) in variants.iter().enumerate() {
        // each against the bare runs next to it, so a drift of the machine's speed between
        // the two runs cancels
        let vs_httpmock: Vec<f64> = ratios[v][2]
            .iter()
            .zip(&ratios[v][4])
            .map(|(h, m)| h / m.max(1e-9))
            .collect();
        verdicts.push(Verdict {
            name: format!("capture {variant}: hookpit default / httpmock"),
            value: if vs_httpmock.is_empty() {
                f64::NAN
            } else {
                median(&vs_httpmock)
            },
            unit: "x",
            target: Target::AtLeast(1.2),
            note: if vs_httpmock.is_empty() {
                "httpmock not available: not measured".into()
            } else {
                format!(
                    "{:.0} vs {:.0} req/s (same round; ratio of their ratios to the bare runs beside each)",
                    median(&rps[v][2]),
                    median(&rps[v][4])
                )
            },
        });
    }
    if !per_req_rss[3].is_empty() {
        verdicts.push(Verdict {
            name: "resident per stored 1 KiB req, deep store".into(),
            value: median(&per_req_rss[3]) / 1024.0,
            unit: "KiB",
            target: Target::AtMost(1.75),
            note: format!(
                "naive capture {:.0} B",
                if per_req_rss[1].is_empty() {
                    f64::NAN
                } else {
                    median(&per_req_rss[1])
                }
            ),
        });
    }
    Ok(verdicts)
}

/// A server's run and the bare server's req/s measured around it.
pub(super) struct Paired {
    pub(super) server: usize,
    pub(super) rps: f64,
    pub(super) baseline: f64,
}

/// Runs server 0 (the bare one) first and again after each of `others`: the bare runs' req/s,
/// and each other's req/s with its baseline, the mean of the bare runs just before and after
/// it. `run` measures one server and gives its req/s (`None`: not measured, no bare run added).
pub(super) fn beside_bare(
    others: &[usize],
    mut run: impl FnMut(usize) -> Result<Option<f64>, BoxError>,
) -> Result<(Vec<f64>, Vec<Paired>), BoxError> {
    let mut bare = vec![run(0)?.ok_or("the bare server did not run")?];
    let mut measured = Vec::new();
    for &s in others {
        let Some(rps) = run(s)? else {
            continue;
        };
        bare.push(run(0)?.ok_or("the bare server did not run")?);
        let baseline = (bare[bare.len() - 2] + bare[bare.len() - 1]) / 2.0;
        measured.push(Paired {
            server: s,
            rps,
            baseline,
        });
    }
    Ok((bare, measured))
}

/// The bare server's CPU time per answered request over server `s`'s (information: a measure
/// of the work each does that depends less on the host's load than throughput does).
fn cpu_verdict(variant: &str, label: &str, cpu_us: &[Vec<f64>], s: usize) -> Verdict {
    Verdict {
        name: format!("capture {variant}: CPU per request, bare / {label}"),
        value: median(&cpu_us[0]) / median(&cpu_us[s]).max(1e-9),
        unit: "x",
        target: Target::Info,
        note: format!(
            "{:.2} vs {:.2} us of the server's CPU (all its threads) per answered request",
            median(&cpu_us[0]),
            median(&cpu_us[s])
        ),
    }
}

/// A file in the temp dir, removed on drop.
pub(super) mod tempfile_path {
    use super::BoxError;
    use std::path::{Path, PathBuf};

    pub struct TempFile(PathBuf);

    impl TempFile {
        pub fn with_contents(
            prefix: &str,
            suffix: &str,
            bytes: &[u8],
        ) -> Result<TempFile, BoxError> {
            let path =
                std::env::temp_dir().join(format!("{prefix}-{}{suffix}", std::process::id()));
            std::fs::write(&path, bytes)?;
            Ok(TempFile(path))
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    /// A directory in the temp dir holding one file, removed on drop.
    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn with_file(name: &str, text: &str) -> Result<TempDir, BoxError> {
            let dir = std::env::temp_dir().join(format!("hookpit-bench-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join(name), text)?;
            Ok(TempDir(dir))
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}
