//! `sender`: delivery throughput of the webhook sender against a plain hyper client, and the
//! memory a pending retry costs (the latter in a fresh child process).

use super::*;

use std::io::BufRead;

use hookpit::deliver::{make_body, DispatchOptions, Sender};
use hookpit::sign::Secret;
use hookpit::units::NumOrText;
use hookpit::webhook::{Format, RetryInput, WebhookInput};
use hyper::header::USER_AGENT;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The event every bench dispatches (its catalog sample is the payload).
const EVENT: &str = "payment_received";
/// Webhooks the throughput bench registers, and attempts the sender keeps in flight per webhook
/// (`SenderLimits::default().per_webhook`): the plain client keeps as many in flight.
const HOOKS: usize = 10;
const PER_HOOK: usize = 4;
/// Events dispatched per round (each is `HOOKS` deliveries), and before the first round.
const SENDER_EVENTS: usize = 2_000;
const SENDER_WARMUP: usize = 200;
/// Each round alternates the sides in this many chunks per side (`SENDER_EVENTS` divides by it).
const SENDER_CHUNKS: usize = 4;
/// How long one side of a round may take before the bench gives up.
const ROUND_TIMEOUT: Duration = Duration::from_secs(60);
/// Pending retries the memory bench creates, after this many untimed ones.
const RETRY_N: u64 = 100_000;
const RETRY_WARMUP: u64 = 1_000;
/// How long dispatching and draining the retries may take.
const RETRY_TIMEOUT: Duration = Duration::from_secs(240);
/// How long the child process running the retry memory bench may take.
const CHILD_TIMEOUT: Duration = Duration::from_secs(300);

/// A bare hyper HTTP/1.1 receiver that reads the body and answers `status`, counting requests.
struct Receiver {
    addr: SocketAddr,
    hits: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(status: StatusCode) -> Result<Receiver, BoxError> {
        let hits = Arc::new(AtomicU64::new(0));
        let (addr, task) = serve_bare(status, Some(hits.clone())).await?;
        Ok(Receiver { addr, hits, task })
    }

    fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The body the sender makes for one `EVENT` with its sample payload (webhook format `raw`).
fn sample_body(sender: &Sender) -> Result<Bytes, BoxError> {
    let def = sender.catalog().get(EVENT).ok_or("no such event")?;
    Ok(make_body(Format::Raw, EVENT, &def.sample)?)
}

type PlainClient = hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>;

/// A plain pooled hyper client: `HOOKS × PER_HOOK` tasks POST `total` requests round-robin to
/// `urls`, each signed (Standard Webhooks) and carrying the sender's headers. Returns the time
/// and the 2xx count.
async fn plain_round(
    client: &PlainClient,
    urls: &Arc<Vec<Uri>>,
    body: &Bytes,
    secret: &Arc<Secret>,
    total: usize,
) -> Result<(Duration, u64), BoxError> {
    let conc = HOOKS * PER_HOOK;
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..conc)
        .map(|t| {
            let (client, urls, body, secret) =
                (client.clone(), urls.clone(), body.clone(), secret.clone());
            tokio::spawn(async move {
                let mut ok = 0u64;
                let msg = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
                let ua = format!("hookpit/{}", env!("CARGO_PKG_VERSION"));
                for i in (t..total).step_by(conc) {
                    let ts = unix_now();
                    let sig = hookpit::sign::sign(&secret, msg, ts, &body);
                    let req = Request::builder()
                        .method(Method::POST)
                        .uri(urls[i % urls.len()].clone())
                        .header(CONTENT_TYPE, "application/json")
                        .header(USER_AGENT, ua.as_str())
                        .header("webhook-id", msg)
                        .header("webhook-timestamp", ts)
                        .header("webhook-signature", sig)
                        .body(Full::new(body.clone()))?;
                    let fut = async {
                        let resp = client.request(req).await?;
                        let status = resp.status();
                        resp.into_body().collect().await?;
                        Ok::<_, BoxError>(status)
                    };
                    if let Ok(Ok(s)) = tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
                        if s.is_success() {
                            ok += 1;
                        }
                    }
                }
                Ok::<_, BoxError>(ok)
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += tokio::time::timeout(ROUND_TIMEOUT, t)
            .await
            .map_err(|_| "the plain client round timed out")???;
    }
    Ok((t0.elapsed(), ok))
}

/// Dispatches `events` events and waits until no delivery is pending. Returns the time taken.
async fn sender_round(sender: &Sender, events: usize) -> Result<Duration, BoxError> {
    let t0 = Instant::now();
    let work = async {
        for _ in 0..events {
            sender
                .dispatch(EVENT, None, DispatchOptions::default())
                .await?;
        }
        sender.idle().await;
        Ok::<_, BoxError>(())
    };
    tokio::time::timeout(ROUND_TIMEOUT, work)
        .await
        .map_err(|_| "the sender round timed out (a delivery failed and waits on a retry?)")??;
    Ok(t0.elapsed())
}

pub(super) async fn bench_sender(o: &Opts) -> Result<Vec<Verdict>, BoxError> {
    let total = SENDER_EVENTS * HOOKS;
    println!();
    println!(
        "== sender delivery throughput: {SENDER_EVENTS} events x {HOOKS} webhooks = {total} deliveries per round and side, {} rounds ==",
        o.rounds
    );
    println!(
        "(A = plain hyper client, {HOOKS} x {PER_HOOK} in flight, signing each request; B = hookpit Sender, dispatch until idle(); one receiver answering 200; each round alternates {SENDER_CHUNKS} chunks per side)"
    );
    let recv = Receiver::start(StatusCode::OK).await?;
    let hp = hookpit::Server::start(hookpit::Config {
        demo_webhook: false,
        ..hookpit::Config::for_tests()
    })
    .await?;
    let sender = hp.sender();
    let urls: Vec<Uri> = (0..HOOKS)
        .map(|i| format!("http://{}/hook{i}", recv.addr).parse())
        .collect::<Result<_, _>>()?;
    for (i, u) in urls.iter().enumerate() {
        sender.create_webhook(WebhookInput {
            name: Some(format!("bench-{i}")),
            url: Some(u.to_string()),
            events: Some(vec!["*".into()]),
            ..WebhookInput::default()
        })?;
    }
    let urls = Arc::new(urls);
    let body = sample_body(sender)?;
    let secret = Arc::new(Secret::generate()?);
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    let client: PlainClient = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(http);
    println!("body: {} bytes (the `{EVENT}` sample, raw)", body.len());

    sender_round(sender, SENDER_WARMUP).await?;
    plain_round(&client, &urls, &body, &secret, 5 * SENDER_WARMUP * HOOKS).await?;
    println!(
        "{:<7} {:>14} {:>14} {:>8} {:>10} {:>10}",
        "round", "plain deliv/s", "hookpit del/s", "ratio", "plain 2xx", "recv hits"
    );
    let (mut plain_rates, mut hook_rates, mut ratios) = (vec![], vec![], vec![]);
    for round in 1..=o.rounds {
        let h0 = recv.hits();
        // the sides alternate in chunks (ABAB…, BABA… in even rounds) so noise hits both alike
        let (mut plain, mut hook) = ((Duration::ZERO, 0u64), Duration::ZERO);
        for c in 0..2 * SENDER_CHUNKS {
            if (c + round) % 2 == 0 {
                let p = plain_round(&client, &urls, &body, &secret, total / SENDER_CHUNKS).await?;
                plain = (plain.0 + p.0, plain.1 + p.1);
            } else {
                hook += sender_round(sender, SENDER_EVENTS / SENDER_CHUNKS).await?;
            }
        }
        let hits = recv.hits() - h0;
        let pr = plain.1 as f64 / plain.0.as_secs_f64();
        let hr = total as f64 / hook.as_secs_f64();
        println!(
            "{:<7} {:>14.0} {:>14.0} {:>8.3} {:>10} {:>10}",
            round,
            pr,
            hr,
            hr / pr,
            plain.1,
            hits
        );
        if plain.1 != total as u64 || hits != 2 * total as u64 {
            return Err(format!(
                "round {round}: expected {total} answered plain requests and {} receiver hits, got {} and {hits}",
                2 * total,
                plain.1
            )
            .into());
        }
        plain_rates.push(pr);
        hook_rates.push(hr);
        ratios.push(hr / pr);
    }
    print_per_round("plain client deliveries/s", "/s", &plain_rates);
    print_per_round("hookpit sender deliveries/s", "/s", &hook_rates);
    print_per_round("ratio hookpit/plain", "", &ratios);
    let st = sender.stats();
    println!(
        "sender: {} webhooks, {} deliveries in the log, {} pending, {} evicted from the log",
        st.webhooks, st.deliveries, st.pending, st.evicted
    );
    drop(hp);
    Ok(vec![Verdict {
        name: "sender deliveries/s / plain hyper client".into(),
        value: median(&ratios),
        unit: "x",
        target: Target::AtLeast(0.5),
        note: format!(
            "{:.0} vs {:.0} deliveries/s",
            median(&hook_rates),
            median(&plain_rates)
        ),
    }])
}

/// Runs [`bench_retry_memory`] in a fresh process (this executable, `retry-memory --child`),
/// echoes its output and returns its verdicts.
pub(super) async fn retry_memory_in_child(_o: &Opts) -> Result<Vec<Verdict>, BoxError> {
    // `/proc/self/exe` is this very binary even when a rebuild has replaced the file meanwhile
    let exe = match std::path::Path::new("/proc/self/exe") {
        p if p.exists() => p.to_path_buf(),
        _ => std::env::current_exe()?,
    };
    println!();
    println!("(the next bench runs in a fresh process: `bench retry-memory`)");
    let mut child = std::process::Command::new(&exe)
        .args(["retry-memory", "--child"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("the child has no stdout")?;
    let reader = tokio::task::spawn_blocking(move || {
        let mut verdicts = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            match Verdict::from_line(&line) {
                Some(v) => verdicts.push(v),
                None => println!("{line}"),
            }
        }
        verdicts
    });
    let deadline = Instant::now() + CHILD_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("the child process took over {CHILD_TIMEOUT:?}; killed").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let verdicts = reader.await?;
    if verdicts.is_empty() {
        return Err(format!("the child process printed no verdicts ({status})").into());
    }
    Ok(verdicts)
}

/// Dispatches `n` events, then waits until every delivery has had its attempt (each now waits
/// on a retry timer, or is finished).
async fn dispatch_and_drain(sender: &Sender, n: u64) -> Result<(), BoxError> {
    let work = async {
        for _ in 0..n {
            sender
                .dispatch(EVENT, None, DispatchOptions::default())
                .await?;
        }
        sender.drained().await;
        Ok::<_, BoxError>(())
    };
    tokio::time::timeout(RETRY_TIMEOUT, work)
        .await
        .map_err(|_| format!("dispatching and draining {n} events took over {RETRY_TIMEOUT:?}"))?
}

/// Memory per pending retry; meant to run in a fresh process (see [`retry_memory_in_child`]).
pub(super) async fn bench_retry_memory(_o: &Opts) -> Result<Vec<Verdict>, BoxError> {
    println!();
    println!(
        "== memory per pending retry: {RETRY_N} events to 1 webhook whose receiver answers 500, retry schedule [\"1h\"], after {RETRY_WARMUP} warm-up events (one measurement, fresh process) =="
    );
    let recv = Receiver::start(StatusCode::INTERNAL_SERVER_ERROR).await?;
    let hp = hookpit::Server::start(hookpit::Config {
        demo_webhook: false,
        ..hookpit::Config::for_tests()
    })
    .await?;
    let sender = hp.sender();
    sender.create_webhook(WebhookInput {
        name: Some("failing".into()),
        url: Some(format!("http://{}/hook", recv.addr)),
        events: Some(vec!["*".into()]),
        retry: Some(RetryInput {
            schedule: Some(vec![NumOrText::Text("1h".into())]),
            time_scale: None,
        }),
        ..WebhookInput::default()
    })?;
    let body = sample_body(sender)?;
    let sample = sender
        .catalog()
        .get(EVENT)
        .ok_or("no such event")?
        .sample
        .clone();

    dispatch_and_drain(sender, RETRY_WARMUP).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (rss0, p0) = (
        rss_statm().ok_or("no /proc/self/statm")?,
        sender.pending_retries(),
    );
    let t0 = Instant::now();
    dispatch_and_drain(sender, RETRY_N).await?;
    let took = t0.elapsed();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (rss1, p1) = (
        rss_statm().ok_or("no /proc/self/statm")?,
        sender.pending_retries(),
    );
    let hits = recv.hits();
    let added = p1.saturating_sub(p0) as u64;

    // the baseline, in the same process while the retries are still held: the bodies alone,
    // made the way dispatch makes them (one per event)
    let bodies: Vec<Bytes> = (0..RETRY_N)
        .map(|_| make_body(Format::Raw, EVENT, &sample))
        .collect::<Result<_, _>>()?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let rss2 = rss_statm().ok_or("no /proc/self/statm")?;
    drop(bodies);

    let n = RETRY_N as f64;
    let per = (rss1 as f64 - rss0 as f64) / n;
    let per_body = (rss2 as f64 - rss1 as f64) / n;
    println!(
        "dispatched {RETRY_N} events in {:.2} s ({:.0} attempts/s, receiver saw {hits} incl. warm-up); pending retries {p0} -> {p1} (+{added})",
        took.as_secs_f64(),
        n / took.as_secs_f64()
    );
    println!(
        "RSS {:.1} MiB -> {:.1} MiB: {per:.0} B per pending retry; body {} B (not shared between events)",
        rss0 as f64 / 1048576.0,
        rss1 as f64 / 1048576.0,
        body.len()
    );
    println!(
        "baseline: {RETRY_N} bodies alone (make_body, same process) {per_body:.0} B each; pending retry minus that: {:.0} B",
        per - per_body
    );
    let st = sender.stats();
    println!(
        "sender: {} deliveries in the log, {} pending, {} waiting on a timer",
        st.deliveries, st.pending, st.pending_retries
    );
    drop(hp);
    if added != RETRY_N {
        return Err(format!("expected {RETRY_N} new pending retries, got {added}").into());
    }
    Ok(vec![
        Verdict {
            name: "memory per pending retry beyond the body".into(),
            value: per - body.len() as f64,
            unit: "B",
            target: Target::AtMost(1024.0),
            note: format!("{per:.0} B RSS each - {} B body", body.len()),
        },
        Verdict {
            name: "pending retry RSS / its body alone (RSS)".into(),
            value: per / per_body.max(1e-9),
            unit: "x",
            target: Target::Info,
            note: format!(
                "body alone {per_body:.0} B; sender's own {:.0} B",
                per - per_body
            ),
        },
    ])
}
