//! `persist`: the durable store (`--data-dir`) from outside. A hookpit child process with a data
//! directory in the temp dir is filled with 100,000 POSTs of 1 KiB JSON (32 keep-alive
//! connections, each answer checked 2xx), stopped cleanly, and started again on the same
//! directory: the bench reports the time from spawning the child until `/_/api/health`
//! answers (target ≤ 2 s), checks that all 100,000 requests are there (by count and by the
//! first and last id), and reports the database's size per stored request (target ≤ 1.6 KiB).
//! Capture throughput with `--data-dir` beside a bare hyper server is a row of `capture`.

use super::wrk::ServerChild;
use super::*;

/// Requests stored before the restart.
const PERSIST_REQUESTS: usize = 100_000;
/// Connections that fill the store.
const PERSIST_CONNS: usize = 32;
/// How long filling may take before the bench gives up.
const FILL_TIMEOUT: Duration = Duration::from_secs(300);

/// The child server's configuration: room for every request in one bin.
pub(super) fn server_config(dir: std::path::PathBuf) -> hookpit::Config {
    hookpit::Config {
        max_requests: 2 * PERSIST_REQUESTS,
        max_memory: 2 * 1024 * 1024 * 1024,
        data_dir: Some(dir),
        ..hookpit::Config::for_tests()
    }
}

async fn health(authority: &str) -> Result<serde_json::Value, BoxError> {
    let mut c = Conn::open(authority).await?;
    let (status, body) = c
        .send(Template::get(&format!("http://{authority}/_/api/health"))?.build())
        .await?;
    if !status.is_success() {
        return Err(format!("health answered {status}").into());
    }
    Ok(serde_json::from_slice(&body)?)
}

/// Sends `n` POSTs of 1 KiB to `path` (`/bin/…`) over `conns` connections; every answer must
/// be 2xx.
pub(super) async fn fill(
    authority: &str,
    path: &str,
    n: usize,
    conns: usize,
) -> Result<(), BoxError> {
    let t = Template::post(&format!("http://{authority}{path}"), body_1k())?;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (t, next, authority) = (t.clone(), next.clone(), authority.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::open(&authority).await?;
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let (status, _) = c.send(t.build()).await?;
                if !status.is_success() {
                    return Err::<(), BoxError>(format!("a capture was answered {status}").into());
                }
            }
            Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

pub(super) async fn bench_persist(o: &Opts) -> Result<Vec<Verdict>, BoxError> {
    let _ = o;
    let dir = std::env::temp_dir().join(format!("hookpit-bench-persist-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _cleanup = RemoveOnDrop(dir.clone());
    println!();
    println!(
        "== persist: {PERSIST_REQUESTS} POSTs of 1 KiB into --data-dir, clean stop, start again; load average {} ==",
        loadavg()
    );
    let server = ServerChild::start_in("serve-persist", None, Some(&dir))?;
    let t0 = Instant::now();
    tokio::time::timeout(
        FILL_TIMEOUT,
        fill(
            &server.addr,
            "/persist/events?src=bench",
            PERSIST_REQUESTS,
            PERSIST_CONNS,
        ),
    )
    .await
    .map_err(|_| "filling the store took too long")??;
    let fill_secs = t0.elapsed().as_secs_f64();
    let before = health(&server.addr).await?;
    drop(server); // closes stdin: a clean stop, which writes everything
    let db = dir.join(hookpit::disk::DB_FILE);
    let wal = dir.join("hookpit.db-wal");
    let disk_bytes =
        std::fs::metadata(&db)?.len() + std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    println!(
        "filled in {fill_secs:.1} s ({:.0} req/s); database {:.1} MiB",
        PERSIST_REQUESTS as f64 / fill_secs,
        disk_bytes as f64 / 1048576.0
    );

    let t1 = Instant::now();
    let server = ServerChild::start_in("serve-persist", None, Some(&dir))?;
    let after = loop {
        if let Ok(h) = health(&server.addr).await {
            break h;
        }
        if t1.elapsed() > Duration::from_secs(60) {
            return Err("the restarted server never answered".into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let startup = t1.elapsed();
    let kept = after["stats"]["requests"].as_u64().unwrap_or(0);
    let last_before = before["stats"]["last_id"].as_u64().unwrap_or(0);
    let last_after = after["stats"]["last_id"].as_u64().unwrap_or(0);
    println!(
        "restart: answered after {:.3} s with {kept} requests kept (last id {last_after}, before {last_before})",
        startup.as_secs_f64()
    );
    drop(server);
    Ok(vec![
        Verdict {
            name: "persist: start-up with 100k stored 1 KiB requests".into(),
            value: startup.as_secs_f64(),
            unit: "s",
            target: Target::AtMost(2.0),
            note: "spawn until /_/api/health answers".into(),
        },
        Verdict {
            name: "persist: requests there after a clean restart".into(),
            value: kept as f64,
            unit: "",
            target: Target::AtLeast(PERSIST_REQUESTS as f64),
            note: format!("last id {last_after} (before: {last_before})"),
        },
        Verdict {
            name: "persist: disk per stored 1 KiB request".into(),
            value: disk_bytes as f64 / PERSIST_REQUESTS as f64 / 1024.0,
            unit: "KiB",
            target: Target::AtMost(1.6),
            note: format!("{disk_bytes} bytes for {PERSIST_REQUESTS} requests"),
        },
    ])
}

struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
