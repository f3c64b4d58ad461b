//! Hostile input on the paths that send or inflate: decompression bombs on `?decode=1`, forward
//! loops through hookpit itself, the cap on mirror forwards in flight and on pending deliveries.

use std::io::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;

use crate::support::*;

const MIB: usize = 1024 * 1024;

async fn configure(s: &hookpit::ServerHandle, bin: &str, config: serde_json::Value) -> Answer {
    let a = put_bin(s, bin, config.to_string()).await;
    assert_eq!(a.status, 200, "configure {bin}: {}", a.text());
    a
}

/// `total` bytes of zeros, brotli-compressed.
fn br_bomb(total: usize) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let params = brotli::enc::BrotliEncoderParams {
            quality: 5,
            lgwin: 24,
            ..Default::default()
        };
        let mut w = brotli::CompressorWriter::with_params(&mut out, 1 << 16, &params);
        let zeros = vec![0u8; MIB];
        for _ in 0..total / MIB {
            w.write_all(&zeros).unwrap();
        }
    }
    out
}

/// `total` bytes of zeros as gzip: one 1 MiB member repeated (a multi-member stream).
fn gzip_bomb(total: usize) -> Vec<u8> {
    let mut member = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    member.write_all(&vec![0u8; MIB]).unwrap();
    let member = member.finish().unwrap();
    member.repeat(total / MIB)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(data).unwrap();
    }
    out
}

/// Captures `body` with a `Content-Encoding` in `bin`; returns the request id.
async fn capture_encoded(s: &hookpit::ServerHandle, bin: &str, coding: &str, body: Vec<u8>) -> u64 {
    let a = http(
        "POST",
        &s.catch_url(bin),
        &[
            ("content-encoding", coding),
            ("content-type", "application/json"),
        ],
        Bytes::from(body),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    a.json()["id"].as_u64().expect("id")
}

/// The peak resident set of this process, in bytes.
fn peak_rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn small_body_config() -> hookpit::Config {
    let mut c = hookpit::Config::for_tests();
    c.max_body = 4 * MIB;
    c.demo_webhook = false;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_brotli_and_a_gzip_bomb_decode_to_a_413_naming_the_limit_quickly_and_in_bounded_memory() {
    let br = br_bomb(200 * MIB);
    assert!(br.len() < MIB, "the br bomb is small: {} bytes", br.len());
    let gz = gzip_bomb(200 * MIB);
    assert!(gz.len() < MIB, "the gzip bomb is small: {} bytes", gz.len());
    let s = start_with(small_body_config()).await;
    let br_id = capture_encoded(&s, "bomb", "br", br).await;
    let gz_id = capture_encoded(&s, "bomb", "gzip", gz.clone()).await;
    // a bomb under a second coding is still a bomb
    let stacked_id = capture_encoded(&s, "bomb", "gzip, br", brotli(&gz)).await;
    let peak_before = peak_rss();
    for id in [br_id, gz_id, stacked_id] {
        let started = Instant::now();
        let a = get(&format!("{}/requests/{id}/body?decode=1", s.api_url())).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "decode answered in {:?}",
            started.elapsed()
        );
        assert_eq!(a.status, 413, "{}", a.text());
        let msg = a.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(msg.contains(&(4 * MIB).to_string()), "{msg}");
        // the undecoded body still downloads
        let raw = get(&format!("{}/requests/{id}/body", s.api_url())).await;
        assert_eq!(raw.status, 200);
    }
    let grown = peak_rss().saturating_sub(peak_before);
    assert!(grown < 128 * MIB, "peak RSS grew by {} MiB", grown / MIB);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stacked_codings_decode_right_to_left_and_more_than_four_are_refused() {
    let s = start_with(small_body_config()).await;
    let text = br#"{"event":"stacked","n":42}"#;
    // applied gzip first, then br: Content-Encoding lists them in that order
    let id = capture_encoded(&s, "stack", "gzip, br", brotli(&gzip(text))).await;
    let a = get(&format!("{}/requests/{id}/body?decode=1", s.api_url())).await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(&a.body[..], &text[..]);
    // codings on two header lines are one list
    let a = http(
        "POST",
        &s.catch_url("stack"),
        &[("content-encoding", "gzip"), ("content-encoding", "gzip")],
        Bytes::from(gzip(&gzip(text))),
    )
    .await;
    let id = a.json()["id"].as_u64().unwrap();
    let a = get(&format!("{}/requests/{id}/body?decode=1", s.api_url())).await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(&a.body[..], &text[..]);

    let id = capture_encoded(
        &s,
        "stack",
        "identity, gzip, gzip, gzip, gzip",
        text.to_vec(),
    )
    .await;
    let a = get(&format!("{}/requests/{id}/body?decode=1", s.api_url())).await;
    assert_eq!(a.status, 400, "{}", a.text());
    assert!(a.text().contains("at most 4"), "{}", a.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_four_bomb_decodes_run_health_and_a_new_capture_answer_quickly() {
    let mut c = small_body_config();
    c.max_body = 16 * MIB;
    let s = start_with(c).await;
    let br = br_bomb(200 * MIB);
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(capture_encoded(&s, "bombs", "br", br.clone()).await);
    }
    let api = s.api_url();
    let decodes: Vec<_> = ids
        .iter()
        .map(|id| {
            let url = format!("{api}/requests/{id}/body?decode=1");
            tokio::spawn(async move { get(&url).await.status })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    let mut checks = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while decodes.iter().any(|d| !d.is_finished()) || checks < 3 {
        assert!(Instant::now() < deadline, "the decodes did not finish");
        let started = Instant::now();
        let h = get(&format!("{api}/health")).await;
        assert_eq!(h.status, 200);
        let c = post(&s.catch_url("meanwhile"), "{}").await;
        assert_eq!(c.status, 200);
        slowest = slowest.max(started.elapsed());
        checks += 1;
    }
    for d in decodes {
        assert_eq!(d.await.unwrap(), 413);
    }
    assert!(
        slowest < Duration::from_secs(1),
        "health + capture took up to {slowest:?} during the decodes"
    );
}

/// Polls the store (an observable, not a guess) until `ready` holds, or fails after `wait`.
async fn until<T>(wait: Duration, mut ready: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + wait;
    loop {
        if let Some(v) = ready() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {wait:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bin_mirroring_to_its_own_catch_url_is_captured_twice_and_the_loop_is_named() {
    let s = start().await;
    configure(
        &s,
        "echo",
        json!({"forward": {"url": s.catch_url("echo"), "mode": "mirror"}}),
    )
    .await;
    let a = post(&s.catch_url("echo"), r#"{"n":1}"#).await;
    assert_eq!(a.status, 200);
    let first = a.json()["id"].as_u64().unwrap();
    // the first capture's forward finished: the looped copy was captured and answered by then
    let reqs = until(Duration::from_secs(5), || {
        let reqs = s.requests("echo");
        let done = reqs.iter().all(|r| r.forward.is_some()) && reqs.len() >= 2;
        done.then_some(reqs)
    })
    .await;
    assert_eq!(reqs.len(), 2, "one capture plus its looped copy");
    assert_eq!(reqs[0].id, first);
    assert_eq!(reqs[0].forward.as_ref().unwrap().status, Some(200));
    let looped = reqs[1].forward.as_ref().unwrap();
    assert_eq!(looped.status, None);
    let why = looped.error.as_deref().unwrap();
    assert!(why.contains("forward loop"), "{why}");
    let via = reqs[1]
        .header("via")
        .expect("the looped copy carries a Via");
    assert!(
        via.contains(&format!("hookpit-{}", s.store().instance())),
        "{via}"
    );
    // nothing more arrives: the chain ended
    assert_eq!(s.store().stats().last_id, reqs[1].id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passthrough_bin_forwarding_to_itself_answers_a_loop_error_at_once_without_leaking_sockets(
) {
    let s = start().await;
    configure(
        &s,
        "self",
        json!({"forward": {"url": s.catch_url("self"), "mode": "passthrough"}}),
    )
    .await;
    let fds = open_fds();
    for _ in 0..3 {
        let started = Instant::now();
        let a = tokio::time::timeout(
            Duration::from_secs(5),
            http(
                "POST",
                &s.catch_url("self"),
                &[("via", "1.1 proxy.example")],
                "{}",
            ),
        )
        .await
        .expect("answered");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(a.status, 508, "{}", a.text());
        assert!(a.text().contains("forward loop"), "{}", a.text());
    }
    let reqs = s.requests("self");
    assert_eq!(reqs.len(), 6, "each request and its one looped copy");
    // the looped copy is recorded first (the outer capture waits for its forward); its hop
    // marker was appended to the client's own Via
    let looped = &reqs[0];
    assert!(looped
        .forward
        .as_ref()
        .unwrap()
        .error
        .as_deref()
        .unwrap()
        .contains("forward loop"));
    assert_eq!(reqs[1].forward.as_ref().unwrap().status, Some(508));
    let via = looped.header("via").unwrap();
    assert!(via.starts_with("1.1 proxy.example, 1.1 hookpit-"), "{via}");
    assert!(
        open_fds() < fds + 40,
        "descriptors grew from {fds} to {}",
        open_fds()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_into_a_bin_that_forwards_to_the_events_api_does_not_loop() {
    let mut c = hookpit::Config::for_tests();
    c.demo_webhook = false;
    let s = start_with(c).await;
    let w = post(
        &format!("{}/webhooks", s.api_url()),
        &json!({"name": "to-b", "url": s.catch_url("b"), "events": ["*"],
                "retry": {"schedule": []}})
        .to_string(),
    )
    .await;
    assert_eq!(w.status, 201, "{}", w.text());
    for target in [
        format!("{}/events/payment_received", s.api_url()),
        format!(
            "http://localhost:{}/_/api/events/payment_received",
            s.addr().port()
        ),
    ] {
        configure(
            &s,
            "b",
            json!({"forward": {"url": target, "mode": "mirror"}}),
        )
        .await;
        let before = s.requests("b").len();
        let d = post(&format!("{}/events/payment_received", s.api_url()), "{}").await;
        assert_eq!(d.status, 202, "{}", d.text());
        let reqs = until(Duration::from_secs(5), || {
            let reqs = s.requests("b");
            (reqs.len() > before && reqs[before].forward.is_some()).then_some(reqs)
        })
        .await;
        let fwd = reqs[before].forward.as_ref().unwrap();
        assert_eq!(fwd.status, None);
        assert!(
            fwd.error.as_deref().unwrap().contains("/_/"),
            "{:?}",
            fwd.error
        );
        s.sender().idle().await;
        assert_eq!(s.requests("b").len(), before + 1);
    }
    assert_eq!(s.sender().stats().deliveries, 2);
    // whatever name reaches it, the API refuses a request that already passed through
    let marker = format!("1.1 hookpit-{}", s.store().instance());
    let a = http(
        "POST",
        &format!("{}/events/payment_received", s.api_url()),
        &[
            ("via", marker.as_str()),
            ("content-type", "application/json"),
        ],
        "{}",
    )
    .await;
    assert_eq!(a.status, 508, "{}", a.text());
    assert_eq!(s.sender().stats().deliveries, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_to_hookpits_own_reserved_prefix_is_refused() {
    let s = start().await;
    let id = post(&s.catch_url("r"), "{}").await.json()["id"]
        .as_u64()
        .unwrap();
    let a = post(
        &format!("{}/requests/{id}/replay", s.api_url()),
        &json!({"url": format!("{}/bins", s.api_url())}).to_string(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let v = a.json();
    assert_eq!(v["ok"], false);
    assert!(v["error"].as_str().unwrap().contains("/_/"), "{v}");
    // a replay to a catch URL of this hookpit is fine, and marked
    let a = post(
        &format!("{}/requests/{id}/replay", s.api_url()),
        &json!({"url": s.catch_url("again")}).to_string(),
    )
    .await;
    assert_eq!(a.json()["status"], 200);
    let again = s.requests("again");
    assert!(again[0].header("via").unwrap().contains("hookpit-"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_64_mirror_forwards_in_flight_a_forward_is_recorded_as_skipped() {
    let s = start().await;
    // a target that accepts connections and never answers
    let sink = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink_addr = sink.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((c, _)) = sink.accept().await {
            conns.push(c);
        }
    });
    configure(
        &s,
        "m",
        json!({"forward": {"url": format!("http://{sink_addr}"), "mode": "mirror", "timeout": "30s"}}),
    )
    .await;
    for _ in 0..70 {
        assert_eq!(post(&s.catch_url("m"), "{}").await.status, 200);
    }
    let reqs = s.requests("m");
    assert_eq!(reqs.len(), 70);
    let skipped: Vec<_> = reqs
        .iter()
        .filter(|r| {
            r.forward
                .as_ref()
                .and_then(|f| f.error.as_deref())
                .is_some_and(|e| e.contains("skipped"))
        })
        .collect();
    assert_eq!(skipped.len(), 6, "the 65th to 70th forwards were skipped");
    assert!(skipped.iter().all(|r| r.id > reqs[63].id));
    let why = skipped[0].forward.as_ref().unwrap().error.clone().unwrap();
    assert!(why.contains("64"), "{why}");
    held.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_ten_thousand_pending_deliveries_an_event_is_refused_with_503() {
    let mut c = hookpit::Config::for_tests();
    c.demo_webhook = false;
    let s = start_with(c).await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    for i in 0..100 {
        let w = post(
            &format!("{}/webhooks", s.api_url()),
            &json!({"name": format!("dead-{i}"), "url": format!("http://{dead}/"),
                    "events": ["*"], "retry": {"schedule": ["1h"]}})
            .to_string(),
        )
        .await;
        assert_eq!(w.status, 201, "{}", w.text());
    }
    let events = format!("{}/events/payment_received", s.api_url());
    let fire = || post(&events, "{}");
    for _ in 0..100 {
        let a = fire().await;
        assert_eq!(a.status, 202, "{}", a.text());
    }
    assert_eq!(s.sender().stats().pending, 10_000);
    let a = fire().await;
    assert_eq!(a.status, 503, "{}", a.text());
    let msg = a.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(msg.contains("10000"), "{msg}");
    assert_eq!(s.sender().stats().deliveries, 10_000, "nothing was dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_that_decode_bombs_run_off_the_async_workers() {
    // each capture decodes to 10 MiB of zeros for a `body:` filter; four pending waits and a
    // search read them all while health and captures must stay quick
    let s = start().await;
    let gz = gzip_bomb(10 * MIB);
    for _ in 0..6 {
        capture_encoded(&s, "bombs", "gzip", gz.clone()).await;
    }
    let api = s.api_url();
    let mut searches: Vec<_> = (0..4)
        .map(|_| {
            let url = format!("{api}/bins/bombs/wait?q=body%3Aneedle&timeout=3s");
            tokio::spawn(async move { get(&url).await.status })
        })
        .collect();
    let url = format!("{api}/bins/bombs/requests?q=needle");
    searches.push(tokio::spawn(async move { get(&url).await.status }));
    let mut slowest = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_secs(30);
    while searches.iter().any(|d| !d.is_finished()) {
        assert!(Instant::now() < deadline, "the searches did not finish");
        let started = Instant::now();
        assert_eq!(get(&format!("{api}/health")).await.status, 200);
        assert_eq!(post(&s.catch_url("meanwhile"), "{}").await.status, 200);
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let statuses: Vec<u16> = futures_util::future::join_all(searches)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(statuses, [408, 408, 408, 408, 200]);
    assert!(
        slowest < Duration::from_millis(600),
        "health + capture took up to {slowest:?} while filters decoded"
    );
}
