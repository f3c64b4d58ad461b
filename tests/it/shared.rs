//! Shared mode against a real `redis-server` that each test starts on a free loopback port
//! (persistence off) and stops by PID: two and three hookpit instances on one Redis share ids,
//! rings, the live feed, waits, configs and sequences; Redis lost, back, and back empty.
//! Without `redis-server` a test prints a loud skip, and fails under `CI=true`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hookpit::{Config, ServerHandle};
use serde_json::json;

use crate::support::{configure, get, next_json, post, run_within, start_with, ws};

/// A `redis-server` of this test's own, stopped (by PID) on drop.
pub struct Redis {
    child: Option<Child>,
    port: u16,
    /// Its working directory (a `SAVE` writes there and a start reads it back).
    dir: std::path::PathBuf,
    /// Serves TLS only (a self-signed certificate made for the test).
    tls: bool,
}

fn redis_binary() -> Option<&'static str> {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    found.then_some("redis-server")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Redis {
    /// Starts one, or `None` (after a loud skip line) when this machine has no
    /// `redis-server`; under `CI=true` that is a failure.
    pub fn start() -> Option<Redis> {
        Redis::start_with(false)
    }

    /// [`Redis::start`] serving TLS only.
    fn start_tls() -> Option<Redis> {
        Redis::start_with(true)
    }

    fn start_with(tls: bool) -> Option<Redis> {
        if redis_binary().is_none() {
            let why = "redis-server not found (Debian package `redis-server`)";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{why}: CI=true requires it");
            }
            eprintln!("\n!!!!! SKIPPED: shared-mode test: {why} !!!!!\n");
            return None;
        }
        let mut r = Redis {
            child: None,
            port: free_port(),
            dir: crate::support::temp_dir("redis"),
            tls,
        };
        if tls {
            let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
            std::fs::write(r.dir.join("cert.pem"), made.cert.pem()).unwrap();
            std::fs::write(r.dir.join("key.pem"), made.signing_key.serialize_pem()).unwrap();
        }
        r.up();
        Some(r)
    }

    pub fn url(&self) -> String {
        if self.tls {
            // a self-signed certificate: verification is waived in the URL, as a user would
            format!("rediss://127.0.0.1:{}/#insecure", self.port)
        } else {
            format!("redis://127.0.0.1:{}", self.port)
        }
    }

    /// Starts the server on this test's port (again) and waits until it answers.
    pub fn up(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--bind", "127.0.0.1"]);
        if self.tls {
            let (cert, key) = (self.dir.join("cert.pem"), self.dir.join("key.pem"));
            cmd.args(["--port", "0", "--tls-port"])
                .arg(self.port.to_string())
                .arg("--tls-cert-file")
                .arg(&cert)
                .arg("--tls-key-file")
                .arg(&key)
                .arg("--tls-ca-cert-file")
                .arg(&cert)
                .args(["--tls-auth-clients", "no"]);
        } else {
            cmd.arg("--port").arg(self.port.to_string());
        }
        let child = cmd
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
                "--dir",
            ])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.tls {
                // no TLS client here: a listening port is enough
                if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    return;
                }
                assert!(Instant::now() < deadline, "redis-server did not listen");
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::{Read, Write};
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                let mut buf = [0u8; 7];
                if s.write_all(b"PING\r\n").is_ok()
                    && s.read_exact(&mut buf).is_ok()
                    && &buf == b"+PONG\r\n"
                {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not answer");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it by PID (everything it held is gone: persistence is off).
    pub fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A command's reply line, over a plain socket.
    fn command(&self, args: &[&str]) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("redis");
        let mut cmd = format!("*{}\r\n", args.len());
        for a in args {
            cmd.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(cmd.as_bytes()).unwrap();
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            if out.ends_with(b"\r\n") {
                break;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.down();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn instance(redis: &Redis) -> ServerHandle {
    let mut c = Config::for_tests();
    c.redis = Some(redis.url());
    start_with(c).await
}

async fn instance_with(redis: &Redis, change: impl FnOnce(&mut Config)) -> ServerHandle {
    let mut c = Config::for_tests();
    c.redis = Some(redis.url());
    change(&mut c);
    start_with(c).await
}

/// The ids of a bin's requests as an instance lists them.
async fn ids(s: &ServerHandle, bin: &str) -> Vec<u64> {
    let a = get(&format!(
        "{}/_/api/bins/{bin}/requests?limit=1000",
        s.base_url()
    ))
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let mut v: Vec<u64> = a.json()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    v.sort_unstable();
    v
}

/// Polls until `ok` holds of what `read` gives (at most 5 s), and returns the last reading.
async fn until<T, F, Fut>(mut read: F, ok: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let v = read().await;
        if ok(&v) || Instant::now() > deadline {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_caught_by_one_instance_has_the_same_id_on_the_others() {
    let Some(redis) = Redis::start() else { return };
    let (a, b, c) = (
        instance(&redis).await,
        instance(&redis).await,
        instance(&redis).await,
    );
    let first = post(&a.catch_url("orders"), r#"{"n":1}"#).await.json();
    let second = post(&b.catch_url("orders"), r#"{"n":2}"#).await.json();
    assert_eq!(
        (first["id"].clone(), second["id"].clone()),
        (json!(1), json!(2))
    );
    // the instance that caught it has it at once; the others within the feed's delay
    assert_eq!(ids(&b, "orders").await, [1, 2]);
    for s in [&a, &c] {
        let seen = until(|| ids(s, "orders"), |v| v.len() == 2).await;
        assert_eq!(seen, [1, 2]);
    }
    let on_c = get(&format!("{}/_/api/requests/1", c.base_url()))
        .await
        .json();
    assert_eq!(on_c["body"]["text"], r#"{"n":1}"#);
    assert_eq!(
        on_c["response"]["body"]["text"],
        r#"{"ok":true,"bin":"orders","id":1}"#
    );
    // an instance started afterwards reads them from Redis at start, the same
    let d = instance(&redis).await;
    let on_d = get(&format!("{}/_/api/requests/2", d.base_url()))
        .await
        .json();
    assert_eq!(
        on_d["response"]["body"]["text"],
        r#"{"ok":true,"bin":"orders","id":2}"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_hundred_concurrent_captures_over_two_instances_get_eight_hundred_ids() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    let mut tasks = Vec::new();
    for i in 0..800 {
        let url = if i % 2 == 0 {
            a.catch_url("many")
        } else {
            b.catch_url("many")
        };
        tasks.push(tokio::spawn(async move {
            let r = post(&url, &format!("{{\"i\":{i}}}")).await;
            assert_eq!(r.status, 200, "{}", r.text());
            r.json()["id"].as_u64().unwrap()
        }));
    }
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap());
    }
    got.sort_unstable();
    got.dedup();
    assert_eq!(got, (1..=800).collect::<Vec<u64>>());
    for s in [&a, &b] {
        let seen = until(|| ids(s, "many"), |v| v.len() == 800).await;
        assert_eq!(seen, got, "every instance holds all 800");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_requests_is_one_ring_across_instances_and_evictions_count_once() {
    let Some(redis) = Redis::start() else { return };
    let a = instance_with(&redis, |c| c.max_requests = 5).await;
    let b = instance_with(&redis, |c| c.max_requests = 5).await;
    for i in 0..12 {
        let s = if i % 2 == 0 { &a } else { &b };
        assert_eq!(post(&s.catch_url("ring"), "x").await.status, 200);
    }
    for s in [&a, &b] {
        let seen = until(|| ids(s, "ring"), |v| v == &[8, 9, 10, 11, 12]).await;
        assert_eq!(seen, [8, 9, 10, 11, 12]);
        let bin = until(
            || async {
                get(&format!("{}/_/api/bins/ring", s.base_url()))
                    .await
                    .json()
            },
            |v| v["evicted"] == 7,
        )
        .await;
        assert_eq!(bin["evicted"], 7, "{bin}");
    }
    // an instance started now holds the same ring and the same count
    let c = instance_with(&redis, |c| c.max_requests = 5).await;
    assert_eq!(ids(&c, "ring").await, [8, 9, 10, 11, 12]);
    let bin = get(&format!("{}/_/api/bins/ring", c.base_url()))
        .await
        .json();
    assert_eq!(bin["evicted"], 7, "{bin}");
    assert_eq!(redis.command(&["XLEN", "hookpit:req:ring"]), ":5\r\n");
    assert_eq!(
        redis.command(&["HGET", "hookpit:bin:ring", "evicted"]),
        "$1\r\n7\r\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_on_one_instance_sees_the_others_captures_in_order_and_resumes_without_a_gap() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    let mut feed = ws(&b, "").await;
    let hello = next_json(&mut feed, Duration::from_secs(5)).await.unwrap();
    assert_eq!(hello["type"], "hello");
    for i in 0..20 {
        post(&a.catch_url("live"), &format!("{i}")).await;
    }
    let got = crate::support::request_ids(&mut feed, 20, Duration::from_secs(5)).await;
    assert_eq!(got, (1..=20).collect::<Vec<u64>>());
    drop(feed);
    // while the viewer is away, more arrive on the other instance; it resumes after 20
    for i in 0..10 {
        post(&a.catch_url("live"), &format!("{i}")).await;
    }
    let instance = hello["instance"].as_str().unwrap().to_owned();
    until(|| ids(&b, "live"), |v| v.len() == 30).await;
    let mut feed = ws(&b, &format!("?after=20&instance={instance}")).await;
    let got = crate::support::request_ids(&mut feed, 10, Duration::from_secs(5)).await;
    assert_eq!(got, (21..=30).collect::<Vec<u64>>());
    post(&a.catch_url("live"), "late").await;
    let got = crate::support::request_ids(&mut feed, 1, Duration::from_secs(5)).await;
    assert_eq!(got, [31], "no duplicate, no gap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_on_one_instance_is_released_by_a_capture_on_another() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    for round in 0..20 {
        let bin = format!("w{round}");
        let url = format!(
            "{}/_/api/bins/{bin}/wait?q=json:/go=true&timeout=10s",
            b.base_url()
        );
        let waiter = tokio::spawn(async move { get(&url).await });
        // no pause: the capture may land while the wait is still being set up
        let caught = post(&a.catch_url(&bin), r#"{"go":true}"#).await.json();
        let answer = waiter.await.unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(answer.json()["requests"][0]["id"], caught["id"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_set_on_one_instance_applies_on_another() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    let set = configure(
        &a,
        "cfg",
        json!({"response": {"status": 418, "body": "teapot {{id}}"}}),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.text());
    let answer = until(
        || async { post(&b.catch_url("cfg"), "x").await },
        |r| r.status == 418,
    )
    .await;
    assert_eq!(answer.status, 418);
    let id = answer.text().trim_start_matches("teapot ").to_owned();
    let kept = until(
        || async { get(&format!("{}/_/api/requests/{id}", a.base_url())).await },
        |r| r.status == 200,
    )
    .await;
    assert_eq!(
        kept.json()["response"]["body"]["text"],
        format!("teapot {id}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_concurrent_requests_over_two_instances_take_the_forty_steps_each_once() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    let steps: Vec<serde_json::Value> = (0..40)
        .map(|i| json!({"status": 200, "body": format!("step-{i}")}))
        .collect();
    assert_eq!(
        configure(&a, "seq", json!({ "sequence": steps }))
            .await
            .status,
        200
    );
    until(
        || async {
            get(&format!("{}/_/api/bins/seq", b.base_url()))
                .await
                .json()
        },
        |v| {
            v["config"]["sequence"]
                .as_array()
                .is_some_and(|s| s.len() == 40)
        },
    )
    .await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let url = if i % 2 == 0 {
            a.catch_url("seq")
        } else {
            b.catch_url("seq")
        };
        tasks.push(tokio::spawn(async move { post(&url, "x").await.text() }));
    }
    let mut bodies = Vec::new();
    for t in tasks {
        bodies.push(t.await.unwrap());
    }
    bodies.sort();
    let mut want: Vec<String> = (0..40).map(|i| format!("step-{i}")).collect();
    want.sort();
    assert_eq!(bodies, want, "each step exactly once");
    // past the sequence: the bin's plain answer
    let after = post(&b.catch_url("seq"), "x").await;
    assert!(after.text().contains("\"ok\":true"), "{}", after.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_fault_rate_fails_the_same_requests_across_instances_as_on_one() {
    let Some(redis) = Redis::start() else { return };
    let config = json!({"fault": {"rate": 0.5, "status": 503, "seed": 42}});
    // one memory-mode hookpit is the reference
    let solo = start_with(Config::for_tests()).await;
    configure(&solo, "f", config.clone()).await;
    let mut want = Vec::new();
    for _ in 0..30 {
        want.push(post(&solo.catch_url("f"), "x").await.status);
    }
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    configure(&a, "f", config).await;
    until(
        || async { get(&format!("{}/_/api/bins/f", b.base_url())).await.json() },
        |v| v["config"]["fault"]["seed"] == 42,
    )
    .await;
    let mut got = Vec::new();
    for i in 0..30 {
        let s = if i % 2 == 0 { &a } else { &b };
        got.push(post(&s.catch_url("f"), "x").await.status);
    }
    assert_eq!(got, want);
    assert!(want.contains(&503) && want.contains(&200), "{want:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_and_clears_on_one_instance_reach_the_others() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    for _ in 0..4 {
        post(&a.catch_url("del"), "x").await;
    }
    until(|| ids(&b, "del"), |v| v.len() == 4).await;
    let gone = crate::support::delete(&format!("{}/_/api/requests/2", b.base_url())).await;
    assert_eq!(gone.status, 200);
    assert_eq!(until(|| ids(&a, "del"), |v| v.len() == 3).await, [1, 3, 4]);
    crate::support::delete(&format!("{}/_/api/bins/del/requests", a.base_url())).await;
    assert_eq!(
        until(|| ids(&b, "del"), |v| v.is_empty()).await,
        Vec::<u64>::new()
    );
    // and a third instance started now reads what Redis holds
    post(&a.catch_url("del"), "after").await;
    let c = instance(&redis).await;
    assert_eq!(ids(&c, "del").await, [5]);
}

/// Runs `hookpit serve --redis URL`, which must refuse to start: exit 2 and one `error:` line
/// on stderr, returned (with the whole stderr).
fn refused_at_start(url: &str) -> (String, String) {
    let (code, out, err) = run_within(
        Command::new(crate::support::bin_path())
            .args(["serve", "--listen", "127.0.0.1:0", "--redis", url])
            .env_remove("HOOKPIT_CONFIG")
            .env("NO_COLOR", "1"),
    );
    assert_eq!(code, 2, "{out}{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one error line: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    (lines[0].to_owned(), err.clone())
}

#[test]
fn a_redis_holding_another_shared_format_is_refused_at_start_and_left_as_it_was() {
    let Some(redis) = Redis::start() else { return };
    assert_eq!(redis.command(&["SET", "hookpit:format", "999"]), "+OK\r\n");
    let (line, _) = refused_at_start(&redis.url());
    assert!(line.contains("format 999"), "{line}");
    assert!(line.contains("one hookpit version"), "{line}");
    // nothing written: no run was made
    assert_eq!(redis.command(&["EXISTS", "hookpit:run"]), ":0\r\n");
    assert_eq!(redis.command(&["GET", "hookpit:format"]), "$3\r\n999\r\n");
}

#[test]
fn an_unreachable_redis_at_start_exits_2_naming_the_url_without_its_password() {
    let port = free_port();
    let url = format!("redis://:hunter2@127.0.0.1:{port}/0");
    let (line, err) = refused_at_start(&url);
    assert!(
        line.contains(&format!("redis://***@127.0.0.1:{port}/0")),
        "{err}"
    );
    assert!(
        !err.contains("hunter2"),
        "the password is never shown: {err}"
    );
}

/// Waits for the next feed message of a type.
async fn next_of(feed: &mut crate::support::Ws, kind: &str) -> serde_json::Value {
    loop {
        let m = next_json(feed, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("a {kind} message"));
        if m["type"] == kind {
            return m;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_away_captures_get_503_and_health_names_the_store_then_all_resumes() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    assert_eq!(post(&a.catch_url("out"), "before").await.status, 200);
    until(|| ids(&b, "out"), |v| v.len() == 1).await;
    let mut feed = ws(&b, "").await;
    next_of(&mut feed, "hello").await;
    // Redis goes away with its data saved, and comes back with it (the same run)
    assert_eq!(redis.command(&["SAVE"]), "+OK\r\n");
    redis.down();
    let refused = post(&a.catch_url("out"), "during").await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.json()["error"]["code"], "store_offline");
    assert!(refused.header("retry-after").is_some());
    let health = until(
        || async { get(&format!("{}/_/api/health", b.base_url())).await },
        |h| h.status == 503,
    )
    .await;
    assert_eq!(health.status, 503);
    assert_eq!(health.json()["store"]["kind"], "redis");
    let why = health.json()["store"]["error"].as_str().unwrap().to_owned();
    assert!(why.contains(&redis.url()), "{why}");
    assert_eq!(next_of(&mut feed, "store").await["ok"], false);
    redis.up();
    let back = until(
        || async { post(&a.catch_url("out"), "after").await },
        |r| r.status == 200,
    )
    .await;
    assert_eq!(back.status, 200, "{}", back.text());
    assert_eq!(
        back.json()["id"],
        2,
        "nothing was kept while Redis was away"
    );
    assert_eq!(next_of(&mut feed, "store").await["ok"], true);
    // the viewer on the other instance gets the capture made after the return
    let got = crate::support::request_ids(&mut feed, 1, Duration::from_secs(5)).await;
    assert_eq!(got, [2]);
    let health = until(
        || async { get(&format!("{}/_/api/health", b.base_url())).await },
        |h| h.status == 200,
    )
    .await;
    assert_eq!(health.status, 200, "{}", health.text());
    assert_eq!(ids(&b, "out").await, [1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_restarted_empty_makes_every_instance_resync_and_ids_go_on() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    for _ in 0..3 {
        post(&a.catch_url("gone"), "x").await;
    }
    until(|| ids(&b, "gone"), |v| v.len() == 3).await;
    let mut feed = ws(&b, "").await;
    let hello = next_of(&mut feed, "hello").await;
    redis.down();
    redis.up();
    let resync = next_of(&mut feed, "resync").await;
    assert!(
        resync["reason"].as_str().unwrap().contains("empty"),
        "{resync}"
    );
    assert_eq!(
        ids(&b, "gone").await,
        Vec::<u64>::new(),
        "the old run's requests are gone"
    );
    let next = until(
        || async { post(&a.catch_url("gone"), "y").await },
        |r| r.status == 200,
    )
    .await;
    assert_eq!(next.json()["id"], 4, "ids go on: {}", next.text());
    let health = get(&format!("{}/_/api/health", b.base_url())).await.json();
    assert_ne!(health["instance"], hello["instance"], "a new run id");
    assert_eq!(until(|| ids(&b, "gone"), |v| v.len() == 1).await, [4]);
}

/// A delivery as an instance's API shows it.
async fn delivery(base: &str, id: u64) -> serde_json::Value {
    get(&format!("{base}/_/api/deliveries/{id}")).await.json()
}

/// Makes a webhook through the API at `base` (which answers 201).
async fn make_webhook(base: &str, webhook: serde_json::Value) {
    let made = post(&format!("{base}/_/api/webhooks"), &webhook.to_string()).await;
    assert_eq!(made.status, 201, "{}", made.text());
}

/// Dispatches `payment_received` with `payload` to the webhook `name` through the API at
/// `base` (which answers 202); returns the delivery's id.
async fn send_event(base: &str, name: &str, payload: &str) -> u64 {
    let sent = post(
        &format!("{base}/_/api/events/payment_received?webhook={name}"),
        payload,
    )
    .await;
    assert_eq!(sent.status, 202, "{}", sent.text());
    sent.json()["deliveries"][0]
        .as_u64()
        .expect("a delivery id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_and_the_delivery_log_are_shared_and_each_delivery_is_attempted_once() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    // made on one instance, listed on the other
    make_webhook(
        &b.base_url(),
        json!({"name": "orders", "url": a.catch_url("inbox"), "events": ["*"]}),
    )
    .await;
    let listed = get(&format!("{}/_/api/webhooks", a.base_url()))
        .await
        .json();
    assert!(
        listed["webhooks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["name"] == "orders"),
        "{listed}"
    );
    // events dispatched from both instances: each delivery reaches the receiver once
    for i in 0..10 {
        let s = if i % 2 == 0 { &a } else { &b };
        send_event(&s.base_url(), "orders", &json!({"n": i}).to_string()).await;
    }
    let all = until(
        || async {
            get(&format!("{}/_/api/deliveries", a.base_url()))
                .await
                .json()
        },
        |v| {
            v["deliveries"]
                .as_array()
                .is_some_and(|d| d.len() == 10 && d.iter().all(|d| d["state"] == "succeeded"))
        },
    )
    .await;
    assert_eq!(all["deliveries"].as_array().unwrap().len(), 10, "{all}");
    let on_b = get(&format!("{}/_/api/deliveries", b.base_url()))
        .await
        .json();
    assert_eq!(
        on_b["deliveries"], all["deliveries"],
        "one log, read from either instance"
    );
    assert_eq!(
        until(|| ids(&b, "inbox"), |v| v.len() == 10).await.len(),
        10
    );
    // Send Test Event from the instance that does not run the sender
    let test = crate::support::http(
        "POST",
        &format!("{}/_/api/webhooks/orders/test", b.base_url()),
        &[("Content-Type", "application/json")],
        "{}",
    )
    .await;
    assert_eq!(test.status, 200, "{}", test.text());
    assert_eq!(test.json()["ok"], true, "{}", test.text());
    assert_eq!(
        until(|| ids(&a, "inbox"), |v| v.len() == 11).await.len(),
        11
    );
    // a delivery wait answered through the other instance
    let id = test.json()["delivery_id"].as_u64().unwrap();
    let waited = get(&format!(
        "{}/_/api/deliveries/{id}/wait?timeout=5s",
        b.base_url()
    ))
    .await;
    assert_eq!(waited.status, 200, "{}", waited.text());
    assert_eq!(delivery(&a.base_url(), id).await["state"], "succeeded");
}

/// Spawns the real binary on shared mode.
fn spawn_on(redis: &Redis) -> crate::support::Spawned {
    crate::support::spawn_serve(&["--redis", &redis.url()])
}

/// Polls (at most 20 s: a lease must run out first) until a delivery is in `state`.
async fn until_delivery(base: &str, id: u64, state: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d = get(&format!("{base}/_/api/deliveries/{id}")).await;
        if d.status == 200 && d.json()["state"] == state {
            return d.json();
        }
        assert!(
            Instant::now() < deadline,
            "delivery {id} never {state}: {}",
            d.text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_scheduled_by_an_instance_that_dies_is_made_by_another() {
    let Some(redis) = Redis::start() else { return };
    let mut first = spawn_on(&redis); // takes the sender's seat: it started first
    let second = spawn_on(&redis);
    let (holder, other) = (first.base(), second.base());
    // the receiver lives on the instance that survives: it fails the first attempt
    let put = crate::support::http(
        "PUT",
        &format!("{other}/_/api/bins/flaky"),
        &[("Content-Type", "application/json")],
        r#"{"sequence": [{"status": 500}]}"#,
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.text());
    make_webhook(
        &other,
        json!({"name": "r", "url": format!("{other}/flaky"), "events": ["*"],
                "retry": {"schedule": ["3s"]}}),
    )
    .await;
    let id = send_event(&holder, "r", "{}").await;
    let d = until(
        || async { delivery(&other, id).await },
        |d| d["attempts"].as_array().is_some_and(|a| a.len() == 1),
    )
    .await;
    assert_eq!(d["state"], "pending", "{d}");
    // the instance holding the sender dies before the retry is due
    let _ = first.child.kill();
    let _ = first.child.wait();
    let done = until_delivery(&other, id, "succeeded").await;
    assert_eq!(done["attempts"].as_array().unwrap().len(), 2, "{done}");
    let got = get(&format!("{other}/_/api/bins/flaky/requests"))
        .await
        .json();
    assert_eq!(
        got["requests"].as_array().unwrap().len(),
        2,
        "attempted twice in all"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_mid_delivery_loses_no_delivery() {
    let Some(redis) = Redis::start() else { return };
    let mut first = spawn_on(&redis);
    let second = spawn_on(&redis);
    let (holder, other) = (first.base(), second.base());
    // the receiver answers after 3 s: the attempt is under way when the holder dies
    let put = crate::support::http(
        "PUT",
        &format!("{other}/_/api/bins/slow"),
        &[("Content-Type", "application/json")],
        r#"{"sequence": [{"status": 200, "delay": "3s"}]}"#,
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.text());
    make_webhook(
        &holder,
        json!({"name": "s", "url": format!("{other}/slow"), "events": ["*"],
                "retry": {"schedule": ["1s"]}}),
    )
    .await;
    let id = send_event(&other, "s", "{}").await;
    // the attempt reached the receiver, which holds its answer
    until(|| ids_at(&other, "slow"), |v| v.len() == 1).await;
    let _ = first.child.kill();
    let _ = first.child.wait();
    let done = until_delivery(&other, id, "succeeded").await;
    let attempts = done["attempts"].as_array().unwrap();
    assert_eq!(
        attempts.len(),
        2,
        "the interrupted attempt and its retry: {done}"
    );
    assert_eq!(attempts[1]["response"]["status"], 200, "{done}");
    assert!(
        attempts[0]["error"].as_str().unwrap().contains("stopped"),
        "{done}"
    );
}

/// [`ids`] of a spawned instance.
async fn ids_at(base: &str, bin: &str) -> Vec<u64> {
    let a = get(&format!("{base}/_/api/bins/{bin}/requests")).await;
    a.json()["requests"]
        .as_array()
        .map(|v| v.iter().filter_map(|r| r["id"].as_u64()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hookpit_tail_on_one_instance_prints_the_others_captures_and_the_store_going_offline() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    let mut tail = Command::new(crate::support::bin_path())
        .args(["tail", "--bin", "t"])
        .env("HOOKPIT_SERVER", b.base_url())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = crate::support::lines_of(tail.stdout.take().unwrap());
    let said = crate::support::lines_of(tail.stderr.take().unwrap());
    until(
        || async { get(&format!("{}/_/api/health", b.base_url())).await.json() },
        |h| h["subscribers"] == 1,
    )
    .await;
    post(&a.catch_url("t/from-a"), "{}").await;
    let line = tokio::task::spawn_blocking(move || {
        let l = crate::support::next_line(&out);
        (l, out)
    })
    .await
    .unwrap();
    assert!(line.0.contains("/t/from-a"), "{}", line.0);
    redis.down();
    let said = tokio::task::spawn_blocking(move || {
        crate::support::line_containing(&said, "store offline")
    })
    .await
    .unwrap();
    assert!(said.contains(&redis.url()), "{said}");
    let _ = tail.kill();
    let _ = tail.wait();
}

#[test]
fn shared_mode_is_set_by_flag_environment_or_config_file_and_refuses_a_data_dir_beside_it() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = Command::new(crate::support::bin_path());
        c.args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("HOOKPIT_CONFIG")
            .env("NO_COLOR", "1");
        for (k, v) in env {
            c.env(k, v);
        }
        run_within(&mut c)
    };
    let (code, _, err) = run(&["--redis", "http://127.0.0.1:1"], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--redis: expected a redis:// or rediss:// URL"),
        "{err}"
    );
    let dir = crate::support::temp_dir("both");
    let (code, _, err) = run(
        &[
            "--redis",
            "redis://127.0.0.1:1",
            "--data-dir",
            dir.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 2);
    assert!(err.contains("cannot be used together"), "{err}");
    // the environment and the config file reach the same connection (here: refused)
    let port = free_port();
    let (code, _, err) = run(
        &[],
        &[("HOOKPIT_REDIS", &format!("redis://127.0.0.1:{port}"))],
    );
    assert_eq!(code, 2);
    assert!(err.contains(&format!("redis://127.0.0.1:{port}")), "{err}");
    let file = dir.join("hookpit.toml");
    std::fs::write(
        &file,
        format!("[server]\nredis = \"redis://user:pw@127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let (code, _, err) = run(&["--config", file.to_str().unwrap()], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("redis://user:***@127.0.0.1:{port}")),
        "{err}"
    );
    assert!(!err.contains(":pw@"), "{err}");
    std::fs::write(&file, "[server]\nredis = \"localhost:6379\"\n").unwrap();
    let (code, _, err) = run(&["--config", file.to_str().unwrap()], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("hookpit.toml") && err.contains("redis"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_with_a_password_is_reached_with_the_password_in_the_url() {
    let Some(redis) = Redis::start() else { return };
    assert_eq!(
        redis.command(&["CONFIG", "SET", "requirepass", "s3cret"]),
        "+OK\r\n"
    );
    let mut c = Config::for_tests();
    c.redis = Some(format!("redis://:s3cret@127.0.0.1:{}", redis.port));
    let s = start_with(c).await;
    assert_eq!(post(&s.catch_url("auth"), "x").await.status, 200);
    let health = get(&format!("{}/_/api/health", s.base_url())).await.json();
    assert_eq!(
        health["store"]["url"],
        format!("redis://***@127.0.0.1:{}", redis.port)
    );
    // without it, Redis refuses and hookpit says so without starting
    let mut c = Config::for_tests();
    c.redis = Some(redis.url());
    let err = hookpit::Server::start(c).await.err().expect("refused");
    assert!(err.to_string().contains(&redis.url()), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_over_a_redis_that_speaks_only_tls() {
    let Some(redis) = Redis::start_tls() else {
        return;
    };
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    let id = post(&a.catch_url("tls"), "x").await.json()["id"].clone();
    assert_eq!(id, 1);
    assert_eq!(until(|| ids(&b, "tls"), |v| v.len() == 1).await, [1]);
    // and a plain connection to it is refused at start
    let mut c = Config::for_tests();
    c.redis = Some(format!("redis://127.0.0.1:{}", redis.port));
    assert!(hookpit::Server::start(c).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_started_while_captures_flow_ends_up_holding_exactly_what_the_others_hold() {
    let Some(redis) = Redis::start() else { return };
    let a = instance(&redis).await;
    let flow = {
        let urls: Vec<String> = ["p", "q", "r"].iter().map(|b| a.catch_url(b)).collect();
        tokio::spawn(async move {
            for i in 0..600 {
                assert_eq!(post(&urls[i % 3], "x").await.status, 200);
            }
        })
    };
    // joins mid-flow: it reads Redis at start and follows the feed from there
    until(|| ids(&a, "p"), |v| v.len() >= 50).await;
    let c = instance(&redis).await;
    flow.await.unwrap();
    for bin in ["p", "q", "r"] {
        let want = ids(&a, bin).await;
        assert_eq!(want.len(), 200);
        assert_eq!(
            until(|| ids(&c, bin), |v| v == &want).await,
            want,
            "bin {bin}"
        );
    }
    // and the newest instance's feed order is id order (a viewer resuming there misses nothing)
    let mut feed = ws(&c, "?after=0").await;
    let got = crate::support::request_ids(&mut feed, 600, Duration::from_secs(5)).await;
    assert_eq!(got, (1..=600).collect::<Vec<u64>>());
}

/// Freezes (`STOP`) or thaws (`CONT`) the test's `redis-server` by its PID: its sockets stay
/// open and it keeps all it holds, it just does not answer meanwhile.
fn signal(redis: &Redis, sig: &str) {
    let pid = redis.child.as_ref().expect("redis is running").id();
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{sig} {pid}");
}

/// Thaws the frozen `redis-server` however the test ends (a frozen one cannot be stopped by a
/// plain kill without it).
struct Thaw<'a>(&'a Redis);

impl Drop for Thaw<'_> {
    fn drop(&mut self) {
        signal(self.0, "CONT");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_answered_503_while_redis_was_frozen_is_not_kept_when_redis_thaws() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    assert_eq!(post(&a.catch_url("frozen"), "first").await.status, 200);
    signal(&redis, "STOP");
    let thaw = Thaw(&redis);
    // the sender is told to come back: the capture was not kept
    let refused = tokio::time::timeout(
        Duration::from_secs(15),
        post(&a.catch_url("frozen"), "retried"),
    )
    .await
    .expect("a frozen Redis does not hang a capture");
    assert_eq!(refused.status, 503, "{}", refused.text());
    drop(thaw);
    // it comes back, as told, and is kept once
    let kept = until(
        || async { post(&a.catch_url("frozen"), "retried").await },
        |r| r.status == 200,
    )
    .await;
    assert_eq!(kept.status, 200, "{}", kept.text());
    let id = kept.json()["id"].as_u64().unwrap();
    let seen = until(|| ids(&b, "frozen"), |v| v.contains(&id)).await;
    assert_eq!(
        seen,
        [1, id],
        "the request answered 503 is not kept beside its retry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_answered_after_its_bins_delete_was_answered_is_kept() {
    let Some(redis) = Redis::start() else { return };
    let a = instance(&redis).await;
    assert_eq!(post(&a.catch_url("victim"), "old").await.status, 200);
    assert_eq!(post(&a.catch_url("other"), "x").await.status, 200);
    // Redis is slow for a moment: the instance's writes queue up behind the first
    signal(&redis, "STOP");
    let thaw = Thaw(&redis);
    let del = crate::support::delete(&format!("{}/_/api/requests/2", a.base_url())).await;
    assert_eq!(del.status, 200, "{}", del.text());
    let del = crate::support::delete(&format!("{}/_/api/bins/victim", a.base_url())).await;
    assert_eq!(del.status, 200, "{}", del.text());
    // answered after the delete: the sender is told this one is kept
    let url = a.catch_url("victim");
    let caught = tokio::spawn(async move { post(&url, "new").await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(thaw);
    let caught = caught.await.unwrap();
    assert_eq!(caught.status, 200, "{}", caught.text());
    let id = caught.json()["id"].as_u64().unwrap();
    // every write queued so far reaches Redis (a marker bin's config, written last)
    assert_eq!(configure(&a, "marker", json!({})).await.status, 200);
    until(
        || async { redis.command(&["HEXISTS", "hookpit:cfg", "marker"]) },
        |r| r == ":1\r\n",
    )
    .await;
    let c = instance(&redis).await;
    assert_eq!(ids(&c, "victim").await, [id], "Redis keeps the capture");
    assert_eq!(
        until(|| ids(&a, "victim"), |v| v != &[id]).await,
        [id],
        "and so does the instance that answered it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequence_set_while_redis_is_slow_starts_at_its_first_step_and_takes_each_once() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    assert_eq!(post(&a.catch_url("other"), "x").await.status, 200);
    signal(&redis, "STOP");
    let thaw = Thaw(&redis);
    // a write in flight, then the config queued behind it
    let del = crate::support::delete(&format!("{}/_/api/requests/1", a.base_url())).await;
    assert_eq!(del.status, 200, "{}", del.text());
    let steps = json!({"sequence": [
        {"status": 200, "body": "step-0"},
        {"status": 200, "body": "step-1"},
        {"status": 200, "body": "step-2"},
    ]});
    assert_eq!(configure(&a, "seq", steps).await.status, 200);
    let url = a.catch_url("seq");
    let first = tokio::spawn(async move { post(&url, "x").await.text() });
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(thaw);
    let mut bodies = vec![first.await.unwrap()];
    until(
        || async {
            get(&format!("{}/_/api/bins/seq", b.base_url()))
                .await
                .json()
        },
        |v| v["config"]["sequence"].is_array(),
    )
    .await;
    bodies.push(post(&b.catch_url("seq"), "x").await.text());
    bodies.push(post(&a.catch_url("seq"), "x").await.text());
    assert_eq!(
        bodies,
        ["step-0", "step-1", "step-2"],
        "each step once, in order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_new_bins_over_two_instances_keeps_a_configured_bin_as_one_instance_does() {
    let Some(redis) = Redis::start() else { return };
    // one memory-mode hookpit is the reference
    let solo = start_with({
        let mut c = Config::for_tests();
        c.max_bins = 5;
        c
    })
    .await;
    let config = json!({"response": {"status": 202, "body": "kept"}});
    assert_eq!(configure(&solo, "keep", config.clone()).await.status, 200);
    for i in 0..30 {
        assert_eq!(
            post(&solo.catch_url(&format!("f{i}")), "x").await.status,
            200
        );
    }
    assert_eq!(post(&solo.catch_url("keep"), "x").await.status, 202);
    let a = instance_with(&redis, |c| c.max_bins = 5).await;
    let b = instance_with(&redis, |c| c.max_bins = 5).await;
    assert_eq!(configure(&a, "keep", config).await.status, 200);
    let mut tasks = Vec::new();
    for i in 0..30 {
        let url = if i % 2 == 0 {
            a.catch_url(&format!("f{i}"))
        } else {
            b.catch_url(&format!("f{i}"))
        };
        tasks.push(tokio::spawn(async move { post(&url, "x").await.status }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    for s in [&a, &b] {
        let r = post(&s.catch_url("keep"), "x").await;
        assert_eq!(
            r.status,
            202,
            "the configured bin still answers: {}",
            r.text()
        );
    }
}

/// The bin names an instance lists, sorted.
async fn bin_names(s: &ServerHandle) -> Vec<String> {
    let v = get(&format!("{}/_/api/bins", s.base_url())).await.json();
    let mut names: Vec<String> = v["bins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bins_configured_past_max_bins_are_the_same_on_every_instance_and_in_redis() {
    let Some(redis) = Redis::start() else { return };
    let a = instance_with(&redis, |c| c.max_bins = 3).await;
    let b = instance_with(&redis, |c| c.max_bins = 3).await;
    for bin in ["e", "d", "c", "b", "a"] {
        assert_eq!(configure(&a, bin, json!({})).await.status, 200);
    }
    assert_eq!(post(&b.catch_url("z"), "x").await.status, 200);
    // every config made so far is in Redis (the last one made is there)
    until(
        || async { redis.command(&["HEXISTS", "hookpit:cfg", "a"]) },
        |r| r == ":1\r\n",
    )
    .await;
    let c = instance_with(&redis, |c| c.max_bins = 3).await;
    let on_c = bin_names(&c).await;
    for s in [&a, &b] {
        assert_eq!(
            until(|| bin_names(s), |v| v == &on_c).await,
            on_c,
            "an instance started now holds the bins the others hold"
        );
    }
    assert!(on_c.len() <= 3, "{on_c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_started_later_counts_the_same_evictions_as_the_others() {
    let Some(redis) = Redis::start() else { return };
    let a = instance_with(&redis, |c| c.max_requests = 5).await;
    for _ in 0..12 {
        assert_eq!(post(&a.catch_url("ring"), "x").await.status, 200);
    }
    let c = instance_with(&redis, |c| c.max_requests = 5).await;
    assert_eq!(ids(&c, "ring").await, [8, 9, 10, 11, 12]);
    let on_a = get(&format!("{}/_/api/bins/ring", a.base_url()))
        .await
        .json();
    let on_c = get(&format!("{}/_/api/bins/ring", c.base_url()))
        .await
        .json();
    assert_eq!(on_a["evicted"], 7);
    assert_eq!(on_c["evicted"], on_a["evicted"], "{on_c}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_bytes_that_are_not_utf8_read_back_byte_exact_on_another_instance() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    let mut wire = b"POST /bytes HTTP/1.1\r\nHost: x\r\nX-Raw: caf\xe9 \xff\xfe\x80ok\r\nX-Case: A\r\nx-case: b\r\nContent-Length: 4\r\nConnection: close\r\n\r\n".to_vec();
    wire.extend_from_slice(b"\x00\xff\xc3(");
    let answer = crate::support::raw(a.addr(), &wire, Duration::from_secs(2)).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let on_a = get(&format!("{}/_/api/requests/1/raw", a.base_url())).await;
    assert_eq!(on_a.status, 200, "{}", on_a.text());
    let on_b = until(
        || async { get(&format!("{}/_/api/requests/1/raw", b.base_url())).await },
        |r| r.status == 200,
    )
    .await;
    assert_eq!(on_b.body, on_a.body);
    assert!(
        memchr::memmem::find(&on_b.body, b"caf\xe9 \xff\xfe\x80ok").is_some(),
        "{}",
        on_b.text()
    );
    assert!(on_b.body.ends_with(b"\x00\xff\xc3("), "{}", on_b.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bins_creation_time_is_the_same_on_every_instance() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    assert_eq!(post(&a.catch_url("born"), "x").await.status, 200);
    until(|| ids(&b, "born"), |v| v.len() == 1).await;
    let c = instance(&redis).await;
    let created = |s: &ServerHandle| {
        let url = format!("{}/_/api/bins/born", s.base_url());
        async move { get(&url).await.json()["created_at"].clone() }
    };
    let on_a = created(&a).await;
    assert!(on_a.is_string(), "{on_a}");
    assert_eq!(created(&b).await, on_a);
    assert_eq!(created(&c).await, on_a);
}

/// Freezes a spawned instance (`STOP`) or thaws it (`CONT`).
fn signal_process(child: &std::process::Child, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{sig}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_go_on_above_the_old_ones_when_a_new_instance_reaches_an_emptied_redis_first() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let a = spawn_on(&redis);
    let base = a.base();
    for i in 1..=3 {
        let r = post(&format!("{base}/old"), "x").await;
        assert_eq!(r.json()["id"], i, "{}", r.text());
    }
    // the instance that knows the old ids is frozen while Redis restarts empty and a new
    // instance joins it
    signal_process(&a.child, "STOP");
    redis.down();
    redis.up();
    let c = instance(&redis).await;
    signal_process(&a.child, "CONT");
    assert_eq!(post(&c.catch_url("new"), "x").await.status, 200);
    // the old instance comes back, sees the new run, and joins it
    let run = get(&format!("{}/_/api/health", c.base_url())).await.json()["store"]["run"].clone();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let h = get(&format!("{base}/_/api/health")).await.json();
        if h["store"]["run"] == run {
            break;
        }
        assert!(Instant::now() < deadline, "never joined {run}: {h}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let next = loop {
        let r = post(&format!("{base}/new"), "x").await;
        if r.status == 200 {
            break r;
        }
        assert!(Instant::now() < deadline, "never back: {}", r.text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        next.json()["id"].as_u64().unwrap() > 3,
        "no id the old instance gave out is given again: {}",
        next.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_is_told_by_health_and_viewers_and_waits_survive_it() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    assert_eq!(post(&a.catch_url("cold"), "before").await.status, 200);
    until(|| ids(&b, "cold"), |v| v.len() == 1).await;
    let mut feed = ws(&b, "").await;
    next_of(&mut feed, "hello").await;
    let url = format!("{}/_/api/bins/cold/wait?after=1&timeout=60s", b.base_url());
    let waiter = tokio::spawn(async move { get(&url).await });
    signal(&redis, "STOP");
    let thaw = Thaw(&redis);
    // health on the instance that was not even asked to capture tells within seconds
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let h = get(&format!("{}/_/api/health", b.base_url())).await;
        if h.status == 503 {
            break;
        }
        assert!(Instant::now() < deadline, "health never told: {}", h.text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = tokio::time::timeout(
        Duration::from_secs(15),
        post(&a.catch_url("cold"), "during"),
    )
    .await
    .expect("a frozen Redis does not hang a capture");
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(next_of(&mut feed, "store").await["ok"], false);
    drop(thaw);
    let deadline = Instant::now() + Duration::from_secs(15);
    let caught = loop {
        let r = post(&a.catch_url("cold"), "after").await;
        if r.status == 200 {
            break r.json();
        }
        assert!(Instant::now() < deadline, "never back: {}", r.text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let released = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the wait is released")
        .unwrap();
    assert_eq!(released.status, 200, "{}", released.text());
    let got = released.json()["requests"][0]["id"].clone();
    assert!(got.as_u64().is_some(), "{}", released.text());
    assert_eq!(next_of(&mut feed, "store").await["ok"], true);
    let id = caught["id"].as_u64().unwrap();
    let seen = crate::support::request_ids(&mut feed, 3, Duration::from_secs(5)).await;
    assert!(seen.contains(&id), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_near_max_body_reach_another_instances_viewer_and_a_later_instance_byte_exact() {
    let Some(redis) = Redis::start() else { return };
    const MAX: usize = 2 * 1024 * 1024;
    let a = instance_with(&redis, |c| c.max_body = MAX).await;
    let b = instance_with(&redis, |c| c.max_body = MAX).await;
    let mut feed = ws(&b, "").await;
    next_of(&mut feed, "hello").await;
    let mut tasks = Vec::new();
    for i in 0..6u8 {
        let url = a.catch_url("big");
        tasks.push(tokio::spawn(async move {
            let body = vec![b'a' + i; MAX - 1];
            crate::support::http("POST", &url, &[], body).await.status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let mut seen = crate::support::request_ids(&mut feed, 6, Duration::from_secs(10)).await;
    seen.sort_unstable();
    assert_eq!(seen, (1..=6).collect::<Vec<u64>>());
    let c = instance_with(&redis, |c| c.max_body = MAX).await;
    for s in [&b, &c] {
        for id in 1..=6u64 {
            let raw = get(&format!("{}/_/api/requests/{id}/raw", s.base_url())).await;
            assert_eq!(raw.status, 200);
            let on_a = get(&format!("{}/_/api/requests/{id}/raw", a.base_url())).await;
            assert_eq!(raw.body.len(), on_a.body.len());
            assert!(raw.body == on_a.body, "request {id} differs");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hookpit_tail_goes_on_printing_captures_after_redis_restarted_empty() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    let mut tail = Command::new(crate::support::bin_path())
        .args(["tail", "--bin", "t"])
        .env("HOOKPIT_SERVER", b.base_url())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = crate::support::lines_of(tail.stdout.take().unwrap());
    until(
        || async { get(&format!("{}/_/api/health", b.base_url())).await.json() },
        |h| h["subscribers"] == 1,
    )
    .await;
    post(&a.catch_url("t/before"), "{}").await;
    let out = tokio::task::spawn_blocking(move || {
        crate::support::line_containing(&out, "/t/before");
        out
    })
    .await
    .unwrap();
    redis.down();
    redis.up();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = post(&a.catch_url("t/after"), "{}").await;
        if r.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "never back: {}", r.text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let line =
        tokio::task::spawn_blocking(move || crate::support::line_containing(&out, "/t/after"))
            .await
            .unwrap();
    assert!(line.contains("/t/after"), "{line}");
    let _ = tail.kill();
    let _ = tail.wait();
}

/// The ids Redis keeps for a bin.
fn ids_in_redis(redis: &Redis, bin: &str) -> Vec<u64> {
    let reply = redis.command(&["XRANGE", &format!("hookpit:req:{bin}"), "-", "+"]);
    let mut ids: Vec<u64> = reply
        .lines()
        .filter_map(|l| l.strip_suffix("-0"))
        .filter_map(|l| l.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_and_clears_racing_captures_on_two_instances_leave_both_holding_the_same_ids() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    let mut tasks = Vec::new();
    for i in 0..300u64 {
        let (catch, api) = if i % 2 == 0 {
            (a.catch_url("race"), a.base_url())
        } else {
            (b.catch_url("race"), b.base_url())
        };
        tasks.push(tokio::spawn(async move {
            let r = post(&catch, "x").await;
            assert_eq!(r.status, 200, "{}", r.text());
            let id = r.json()["id"].as_u64().unwrap();
            if id % 7 == 0 {
                crate::support::delete(&format!("{api}/_/api/requests/{}", id - 3)).await;
            }
            if id % 50 == 0 && id < 250 {
                crate::support::delete(&format!("{api}/_/api/bins/race/requests")).await;
            }
            if id == 120 {
                crate::support::delete(&format!("{api}/_/api/bins/race")).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // each instance's writes are in Redis (a config each, written after them)
    assert_eq!(configure(&a, "mark-a", json!({})).await.status, 200);
    assert_eq!(configure(&b, "mark-b", json!({})).await.status, 200);
    for m in ["mark-a", "mark-b"] {
        until(
            || async { redis.command(&["HEXISTS", "hookpit:cfg", m]) },
            |r| r == ":1\r\n",
        )
        .await;
    }
    let want = ids_in_redis(&redis, "race");
    let c = instance(&redis).await;
    assert_eq!(ids(&c, "race").await, want);
    for s in [&a, &b] {
        assert_eq!(until(|| ids(s, "race"), |v| v == &want).await, want);
    }
}

/// The types of the messages a viewer gets after its `hello`, up to its `n`th request.
async fn resumed(s: &ServerHandle, query: &str, n: usize) -> Vec<String> {
    let mut feed = ws(s, query).await;
    next_of(&mut feed, "hello").await;
    let mut kinds = Vec::new();
    let mut requests = 0;
    while requests < n {
        let m = next_json(&mut feed, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("more messages after {kinds:?}"));
        let kind = m["type"].as_str().unwrap_or("").to_owned();
        if kind == "request" {
            requests += 1;
        }
        if kind != "ping" {
            kinds.push(kind);
        }
    }
    kinds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_resuming_past_evicted_requests_on_a_later_instance_is_told_to_resync() {
    let Some(redis) = Redis::start() else { return };
    let a = instance_with(&redis, |c| c.max_requests = 5).await;
    for _ in 0..12 {
        assert_eq!(post(&a.catch_url("gone"), "x").await.status, 200);
    }
    let run = get(&format!("{}/_/api/health", a.base_url())).await.json()["store"]["run"]
        .as_str()
        .unwrap()
        .to_owned();
    let query = format!("?after=2&instance={run}");
    let on_a = resumed(&a, &query, 5).await;
    assert_eq!(on_a[0], "resync", "{on_a:?}");
    // an instance started after the evictions knows of them too
    let c = instance_with(&redis, |c| c.max_requests = 5).await;
    assert_eq!(ids(&c, "gone").await, [8, 9, 10, 11, 12]);
    let on_c = resumed(&c, &query, 5).await;
    assert_eq!(
        on_c, on_a,
        "ids 3 to 7 were evicted: the viewer missed them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_under_way_while_redis_is_frozen_past_the_lease_is_attempted_once() {
    let Some(redis) = Redis::start() else { return };
    // the receiver: a plain hookpit that answers after 6 s
    let receiver = start_with(Config::for_tests()).await;
    let slow = json!({"response": {"status": 200, "delay": "6s"}});
    assert_eq!(configure(&receiver, "slow", slow).await.status, 200);
    let a = instance(&redis).await; // started first: it takes the sender's seat
    let b = instance(&redis).await;
    make_webhook(
        &a.base_url(),
        json!({"name": "r", "url": receiver.catch_url("slow"), "events": ["*"],
                "retry": {"schedule": ["1s"]}}),
    )
    .await;
    let id = send_event(&a.base_url(), "r", "{}").await;
    // the attempt is under way (the receiver has it, its answer comes later)
    assert_eq!(
        until(|| ids(&receiver, "slow"), |v| v.len() == 1)
            .await
            .len(),
        1
    );
    // Redis freezes longer than the sender's lease
    signal(&redis, "STOP");
    let thaw = Thaw(&redis);
    tokio::time::sleep(hookpit::shared::LEASE + Duration::from_secs(3)).await;
    drop(thaw);
    let done = until_delivery(&b.base_url(), id, "succeeded").await;
    // a second attempt, if one is made, comes within a retry's second or two
    let got = until(|| ids(&receiver, "slow"), |v| v.len() > 1).await;
    assert_eq!(got.len(), 1, "attempted once: {done}");
}

impl Redis {
    /// Makes it keep an append-only file, written before each answer.
    fn keep_aof(&self) {
        assert_eq!(
            self.command(&["CONFIG", "SET", "appendonly", "yes"]),
            "+OK\r\n"
        );
        assert_eq!(
            self.command(&["CONFIG", "SET", "appendfsync", "always"]),
            "+OK\r\n"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self
            .command(&["INFO", "persistence"])
            .contains("aof_rewrite_in_progress:0")
        {
            assert!(
                Instant::now() < deadline,
                "the append-only file is never written"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts it again (after [`Redis::down`]) reading back its append-only file.
    fn up_from_aof(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--protected-mode",
                "no",
                "--dir",
            ])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err()
            || !self.command(&["PING"]).starts_with("+PONG")
        {
            assert!(Instant::now() < deadline, "redis-server did not answer");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_capture_answered_2xx_while_redis_is_killed_mid_flight_is_kept_under_its_id() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    redis.keep_aof();
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    // a ring that holds every request the senders can send
    let ring = configure(&a, "flow", json!({"max_requests": 20_000})).await;
    assert_eq!(ring.status, 200, "{}", ring.text());
    until(
        || async {
            get(&format!("{}/_/api/bins/flow", b.base_url()))
                .await
                .json()
        },
        |v| v["config"]["max_requests"] == 20_000,
    )
    .await;
    // eight senders, each sending its next request once the last is answered, until Redis
    // is back (however fast captures are, the kill falls while they send)
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for w in 0..8 {
        let url = if w % 2 == 0 {
            a.catch_url("flow")
        } else {
            b.catch_url("flow")
        };
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..2000 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let r = post(&url, &format!("{w}-{i}")).await;
                got.push((r.status, r.json()["id"].as_u64()));
            }
            got
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let kept_so_far = || {
        redis
            .command(&["XLEN", "hookpit:req:flow"])
            .trim()
            .trim_start_matches(':')
            .parse::<u64>()
            .unwrap_or(0)
    };
    while kept_so_far() < 100 {
        assert!(Instant::now() < deadline, "captures never flowed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    redis.down();
    redis.up_from_aof();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut answered = Vec::new();
    let mut refused = 0;
    for t in tasks {
        for (status, id) in t.await.unwrap() {
            if (200..300).contains(&status) {
                answered.push(id.expect("a 2xx names its id"));
            } else {
                assert_eq!(status, 503);
                refused += 1;
            }
        }
    }
    let n = answered.len();
    answered.sort_unstable();
    answered.dedup();
    assert_eq!(answered.len(), n, "no id given twice");
    assert!(
        refused > 0,
        "the kill fell mid-flight: all {n} answered 2xx"
    );
    let c = instance(&redis).await;
    let kept = ids(&c, "flow").await;
    let missing: Vec<u64> = answered
        .iter()
        .filter(|id| !kept.contains(id))
        .copied()
        .collect();
    assert!(missing.is_empty(), "answered 2xx but not kept: {missing:?}");
    for s in [&a, &b] {
        let seen = until(|| ids(s, "flow"), |v| v == &kept).await;
        assert_eq!(seen, kept);
    }
}

/// A sequence of `n` steps answering `{tag}-{i}`.
fn steps(tag: &str, n: usize) -> serde_json::Value {
    let steps: Vec<serde_json::Value> = (0..n)
        .map(|i| json!({"status": 200, "body": format!("{tag}-{i}")}))
        .collect();
    json!({ "sequence": steps })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_racing_a_new_sequence_on_another_instance_never_answers_an_old_step_with_a_new_ones_turn(
) {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    assert_eq!(configure(&a, "s", steps("old", 10)).await.status, 200);
    until(
        || async { get(&format!("{}/_/api/bins/s", b.base_url())).await.json() },
        |v| v["config"]["sequence"][0]["body"] == "old-0",
    )
    .await;
    for i in 0..3 {
        assert_eq!(
            post(&b.catch_url("s"), "x").await.text(),
            format!("old-{i}")
        );
    }
    // Redis is slow: the new sequence set on one instance reaches it first, a capture on the
    // other (which has not seen the new sequence yet) right after
    signal(&redis, "STOP");
    let thaw = Thaw(&redis);
    assert_eq!(configure(&a, "s", steps("new", 10)).await.status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let url = b.catch_url("s");
    let racing = tokio::spawn(async move { post(&url, "x").await.text() });
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(thaw);
    let mut answers = vec![racing.await.unwrap()];
    answers.push(post(&a.catch_url("s"), "x").await.text());
    answers.push(post(&a.catch_url("s"), "x").await.text());
    // either it came before the new sequence (old-3, then new-0, new-1) or after it (new-0,
    // new-1, new-2): the new sequence's first step is answered either way
    assert!(
        answers == ["old-3", "new-0", "new-1"] || answers == ["new-0", "new-1", "new-2"],
        "{answers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_reset_their_connection_mid_capture_leave_nothing_behind() {
    let Some(redis) = Redis::start() else { return };
    let a = instance(&redis).await;
    assert_eq!(post(&a.catch_url("rst"), "warm").await.status, 200);
    let in_flight = || {
        let url = format!("{}/_/api/health", a.base_url());
        async move { get(&url).await.json()["store"]["captures_in_flight"].clone() }
    };
    // Redis is slow: each capture waits for it, and each client gives up with a reset
    signal(&redis, "STOP");
    let thaw = Thaw(&redis);
    let mut gone = Vec::new();
    for i in 0..20 {
        let mut s = tokio::net::TcpStream::connect(a.addr()).await.unwrap();
        let body = format!("{{\"i\":{i}}}");
        let head = format!(
            "POST /rst HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n{body}",
            a.addr(),
            body.len()
        );
        tokio::io::AsyncWriteExt::write_all(&mut s, head.as_bytes())
            .await
            .unwrap();
        gone.push(s);
    }
    assert_eq!(until(in_flight, |n| n == &json!(20)).await, json!(20));
    for s in gone {
        s.set_zero_linger().unwrap();
        drop(s); // a reset, not a close
    }
    // every slot goes with its capture (dropped, or refused when Redis does not answer in
    // time: a few response timeouts, batch after batch), while Redis is still frozen
    let deadline = Instant::now() + Duration::from_secs(20);
    while in_flight().await != json!(0) {
        assert!(
            Instant::now() < deadline,
            "{} captures left behind",
            in_flight().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(thaw);
    // captures are taken again once the instance sees Redis back
    let back = until(
        || async { post(&a.catch_url("rst"), "after").await },
        |r| r.status == 200,
    )
    .await;
    assert_eq!(back.status, 200, "{}", back.text());
    assert_eq!(in_flight().await, json!(0));
    // what Redis kept, every cache holds
    let kept = ids(&a, "rst").await;
    let c = instance(&redis).await;
    assert_eq!(until(|| ids(&c, "rst"), |v| v == &kept).await, kept);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_requests_waiting_on_another_instance_are_bounded() {
    let Some(redis) = Redis::start() else { return };
    let receiver = start_with(Config::for_tests()).await;
    let slow = json!({"response": {"status": 200, "delay": "8s"}});
    assert_eq!(configure(&receiver, "slow", slow).await.status, 200);
    let (a, b) = (instance(&redis).await, instance(&redis).await); // a holds the sender
    make_webhook(
        &a.base_url(),
        json!({"name": "w", "url": receiver.catch_url("slow"), "events": ["*"]}),
    )
    .await;
    let id = send_event(&a.base_url(), "w", "{}").await;
    // 64 waits for the pending delivery, handed from b to a, hold their turns
    let url = format!("{}/_/api/deliveries/{id}/wait?timeout=6s", b.base_url());
    let waits: Vec<_> = (0..64)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { get(&url).await.status })
        })
        .collect();
    let waiting = until(
        || async { get(&format!("{}/_/api/health", b.base_url())).await.json() },
        |h| h["store"]["sender_requests_waiting"] == 64,
    )
    .await;
    assert_eq!(waiting["store"]["sender_requests_waiting"], 64, "{waiting}");
    let busy = get(&format!("{}/_/api/deliveries/{id}", b.base_url())).await;
    assert_eq!(busy.status, 503, "the 65th is refused: {}", busy.text());
    assert_eq!(busy.json()["error"]["code"], "busy");
    for w in waits {
        assert_eq!(w.await.unwrap(), 408, "each wait is answered (timed out)");
    }
    // turns are given back
    let after = get(&format!("{}/_/api/deliveries/{id}", b.base_url())).await;
    assert_eq!(after.status, 200, "{}", after.text());
}
