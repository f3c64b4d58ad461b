//! The store under hostile load: a flood of new bins stays within `--max-bins` (least recently
//! used bins go first, viewers hear of it, `hello` stays small), filters are bounded and matched
//! outside the store's lock so a slow search never holds a capture, substring search is linear,
//! and deleting a bin while requests land in it under a tiny memory budget neither leaks nor
//! spins.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hookpit::Config;
use http_body_util::{BodyExt, Full};

use crate::support::*;

const WAIT: Duration = Duration::from_secs(5);

/// One keep-alive HTTP/1.1 connection, for sending many requests quickly.
struct Conn {
    send: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: String,
}

impl Conn {
    async fn open(addr: std::net::SocketAddr) -> Conn {
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        Conn {
            send,
            host: addr.to_string(),
        }
    }

    async fn send(&mut self, method: &str, path: &str, body: Bytes) -> (u16, Bytes) {
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.host.as_str())
            .body(Full::new(body))
            .expect("request");
        self.send.ready().await.expect("connection ready");
        let resp = self.send.send_request(req).await.expect("response");
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, body)
    }

    async fn post(&mut self, path: &str) -> u16 {
        self.send("POST", path, Bytes::from_static(b"{}")).await.0
    }
}

fn json(body: &Bytes) -> serde_json::Value {
    serde_json::from_slice(body).expect("JSON")
}

async fn health(s: &hookpit::ServerHandle) -> serde_json::Value {
    get(&format!("{}/_/api/health", s.base_url())).await.json()
}

#[tokio::test]
async fn twelve_hundred_bins_keep_the_thousand_most_recent_and_count_the_evicted() {
    let s = start().await;
    let mut c = Conn::open(s.addr()).await;
    for i in 0..1200 {
        assert_eq!(c.post(&format!("/flood{i}")).await, 200);
    }
    let h = health(&s).await;
    assert_eq!(h["stats"]["bins"], 1000, "{h}");
    assert_eq!(h["stats"]["evicted_bins"], 200, "{h}");
    assert_eq!(h["stats"]["requests"], 1000, "{h}");
    let api = format!("{}/_/api/bins", s.base_url());
    assert_eq!(get(&format!("{api}/flood0")).await.status, 404);
    assert_eq!(get(&format!("{api}/flood199")).await.status, 404);
    assert_eq!(get(&format!("{api}/flood200")).await.status, 200);
    assert_eq!(get(&format!("{api}/flood1199")).await.status, 200);
    let listed = get(&api).await.json();
    assert_eq!(listed["bins"].as_array().unwrap().len(), 1000);
    // the evicted bins' requests went with them
    let first = get(&format!("{}/_/api/requests/1", s.base_url())).await;
    assert_eq!(first.status, 404);
}

#[tokio::test]
async fn a_bin_used_or_configured_recently_survives_a_flood_of_new_bins() {
    let s = start_with(Config {
        max_bins: 50,
        ..Config::for_tests()
    })
    .await;
    let mut c = Conn::open(s.addr()).await;
    assert_eq!(c.post("/used").await, 200);
    let (status, _) = c
        .send(
            "PUT",
            "/_/api/bins/configured",
            Bytes::from_static(br#"{"max_requests":5}"#),
        )
        .await;
    assert_eq!(status, 200);
    for i in 0..40 {
        assert_eq!(c.post(&format!("/a{i}")).await, 200);
    }
    // touch both again, then push the oldest 40 out
    assert_eq!(c.post("/used").await, 200);
    let (status, _) = c
        .send(
            "PUT",
            "/_/api/bins/configured",
            Bytes::from_static(br#"{"max_requests":6}"#),
        )
        .await;
    assert_eq!(status, 200);
    for i in 0..40 {
        assert_eq!(c.post(&format!("/b{i}")).await, 200);
    }
    let api = format!("{}/_/api/bins", s.base_url());
    let used = get(&format!("{api}/used")).await;
    assert_eq!(used.status, 200);
    assert_eq!(used.json()["count"], 2);
    let configured = get(&format!("{api}/configured")).await;
    assert_eq!(configured.status, 200);
    assert_eq!(configured.json()["config"]["max_requests"], 6);
    assert_eq!(get(&format!("{api}/a0")).await.status, 404);
    assert_eq!(get(&format!("{api}/b39")).await.status, 200);
    assert_eq!(health(&s).await["stats"]["bins"], 50);
}

#[tokio::test]
async fn viewers_hear_that_a_bin_was_evicted_and_hello_stays_small() {
    let s = start_with(Config {
        max_bins: 300,
        ..Config::for_tests()
    })
    .await;
    let mut c = Conn::open(s.addr()).await;
    for i in 0..300 {
        assert_eq!(c.post(&format!("/v{i}")).await, 200);
    }
    let mut w = ws(&s, "").await;
    let hello = next_json(&mut w, WAIT).await.expect("hello");
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["bins_total"], 300);
    let page = hello["bins"].as_array().unwrap();
    assert!(page.len() <= 200, "hello lists {} bins", page.len());
    // the page holds the most recently active bins
    assert!(page.iter().any(|b| b["name"] == "v299"));
    assert!(!page.iter().any(|b| b["name"] == "v0"));
    assert!(
        serde_json::to_vec(&hello).unwrap().len() < 64 * 1024,
        "hello is too large"
    );
    assert_eq!(c.post("/newcomer").await, 200);
    let mut evicted = None;
    let deadline = Instant::now() + WAIT;
    while evicted.is_none() && Instant::now() < deadline {
        let m = next_json(&mut w, WAIT).await.expect("a message");
        if m["type"] == "cleared" {
            evicted = Some(m);
        }
    }
    let m = evicted.expect("a cleared message for the evicted bin");
    assert_eq!(m["bin"], "v0");
    assert_eq!(m["removed"], "evicted");
}

#[tokio::test]
async fn the_bin_listing_pages_with_limit_and_offset() {
    let s = start().await;
    let mut c = Conn::open(s.addr()).await;
    for i in 0..5 {
        assert_eq!(c.post(&format!("/p{i}")).await, 200);
    }
    let api = format!("{}/_/api/bins", s.base_url());
    let v = get(&format!("{api}?limit=2&offset=1")).await.json();
    let names: Vec<&str> = v["bins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["p1", "p2"]);
    assert_eq!(v["total"], 5);
    assert_eq!(get(&format!("{api}?limit=x")).await.status, 400);
}

#[tokio::test]
async fn a_filter_of_a_thousand_and_one_terms_is_refused_fast() {
    let s = start().await;
    post(&s.catch_url("terms"), "{}").await;
    let q = vec!["a"; 1001].join("+");
    let t = Instant::now();
    let a = get(&format!("{}/_/api/bins/terms/requests?q={q}", s.base_url())).await;
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(a.status, 400, "{}", a.text());
    let v = a.json();
    assert_eq!(v["error"]["code"], "bad_filter");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("64 terms"),
        "{v}"
    );
    let long = "x".repeat(5000);
    let a = get(&format!(
        "{}/_/api/bins/terms/requests?q={long}",
        s.base_url()
    ))
    .await;
    assert_eq!(a.status, 400);
    assert!(
        a.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("4096"),
        "{}",
        a.text()
    );
    let w = get(&format!(
        "{}/_/api/bins/terms/wait?q={q}&timeout=1s",
        s.base_url()
    ))
    .await;
    assert_eq!(w.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_search_does_not_hold_a_concurrent_capture() {
    let s = start().await;
    let mut c = Conn::open(s.addr()).await;
    // bodies that every term finds only at their very end, so each term scans all of each body
    let mut body = vec![b'a'; 64 * 1024];
    body.extend_from_slice(b"END");
    let body = Bytes::from(body);
    for _ in 0..40 {
        let (status, _) = c.send("POST", "/slow", body.clone()).await;
        assert_eq!(status, 200);
    }
    let q = vec!["body:aEND"; 64].join("+");
    let url = format!("{}/_/api/bins/slow/requests?q={q}&body=false", s.base_url());
    let listing = tokio::spawn(async move {
        let t = Instant::now();
        let a = get(&url).await;
        (a, t.elapsed())
    });
    // capture into another bin, repeatedly, while the search runs
    let mut other = Conn::open(s.addr()).await;
    let mut worst = Duration::ZERO;
    let mut during = 0;
    while !listing.is_finished() {
        let t = Instant::now();
        assert_eq!(other.post("/quick").await, 200);
        worst = worst.max(t.elapsed());
        during += 1;
    }
    let (a, took) = listing.await.unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["requests"].as_array().unwrap().len(), 40);
    assert!(during > 0);
    eprintln!("{during} captures during a {took:?} search, the slowest {worst:?}");
    assert!(
        worst < Duration::from_millis(500) || worst < took / 4,
        "a capture took {worst:?} while a {took:?} search ran"
    );
}

#[tokio::test]
async fn substring_search_is_linear_in_the_body() {
    let s = start().await;
    let mut c = Conn::open(s.addr()).await;
    let body = Bytes::from(vec![b'a'; 1024 * 1024]);
    let (status, _) = c.send("POST", "/linear", body).await;
    assert_eq!(status, 200);
    let needle = format!("{}b", "a".repeat(2000));
    for q in [format!("body:{needle}"), needle.to_uppercase()] {
        let t = Instant::now();
        let a = get(&format!(
            "{}/_/api/bins/linear/requests?q={q}&body=false",
            s.base_url()
        ))
        .await;
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(a.json()["requests"].as_array().unwrap().len(), 0);
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    }
}

#[tokio::test]
async fn the_largest_after_lists_nothing() {
    let s = start().await;
    post(&s.catch_url("big"), "{}").await;
    let max = u64::MAX;
    for url in [
        format!("{}/_/api/requests?after={max}", s.base_url()),
        format!("{}/_/api/bins/big/requests?after={max}", s.base_url()),
    ] {
        let a = get(&url).await;
        assert_eq!(a.status, 200, "{url}");
        assert_eq!(a.json()["requests"].as_array().unwrap().len(), 0, "{url}");
    }
    let a = get(&format!(
        "{}/_/api/bins/big/wait?after={max}&timeout=100ms",
        s.base_url()
    ))
    .await;
    assert_eq!(a.status, 408);
    let mut w = ws(&s, &format!("?after={max}")).await;
    assert_eq!(next_json(&mut w, WAIT).await.unwrap()["type"], "hello");
    post(&s.catch_url("big"), r#"{"n":2}"#).await;
    // the replay sends nothing; the next message is the live request
    let m = next_json(&mut w, WAIT).await.unwrap();
    assert_eq!(m["type"], "request", "{m}");
    assert_eq!(m["request"]["id"], 2);
}

#[tokio::test]
async fn a_wait_count_above_ten_thousand_is_refused() {
    let s = start().await;
    let a = get(&format!(
        "{}/_/api/bins/c/wait?count=10001&timeout=1s",
        s.base_url()
    ))
    .await;
    assert_eq!(a.status, 400);
    assert!(a.text().contains("count"), "{}", a.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_bin_while_requests_land_in_it_under_a_tiny_budget_never_spins() {
    let s = start_with(Config {
        max_memory: 16 * 1024,
        ..Config::for_tests()
    })
    .await;
    let run = async {
        let mut tasks = Vec::new();
        for t in 0..4 {
            let addr = s.addr();
            tasks.push(tokio::spawn(async move {
                let mut c = Conn::open(addr).await;
                for i in 0..150 {
                    if t == 0 && i % 2 == 0 {
                        let (st, _) = c.send("DELETE", "/_/api/bins/race", Bytes::new()).await;
                        assert!(st == 200 || st == 404, "{st}");
                    } else {
                        let body = Bytes::from(vec![b'x'; 900]);
                        let (st, _) = c.send("POST", "/race", body).await;
                        assert_eq!(st, 200);
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let mut c = Conn::open(s.addr()).await;
        assert_eq!(c.post("/after").await, 200);
        let (st, h) = c.send("GET", "/_/api/health", Bytes::new()).await;
        assert_eq!(st, 200);
        json(&h)
    };
    let h = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("captures and health answer in time");
    assert!(h["stats"]["memory"].as_u64().unwrap() <= 16 * 1024, "{h}");
}

#[tokio::test]
async fn bins_alone_count_toward_the_memory_budget() {
    let budget = 32 * 1024;
    let s = start_with(Config {
        max_memory: budget,
        ..Config::for_tests()
    })
    .await;
    let mut c = Conn::open(s.addr()).await;
    for i in 0..200 {
        let (status, _) = c
            .send(
                "PUT",
                &format!("/_/api/bins/m{i}"),
                Bytes::from_static(b"{}"),
            )
            .await;
        assert_eq!(status, 200);
    }
    let h = health(&s).await;
    let bins = h["stats"]["bins"].as_u64().unwrap();
    assert!(bins < 200, "{h}");
    assert!(
        h["stats"]["memory"].as_u64().unwrap() <= budget as u64,
        "{h}"
    );
    assert_eq!(
        h["stats"]["evicted_bins"].as_u64().unwrap(),
        200 - bins,
        "{h}"
    );
    // the most recently configured bin is kept
    assert_eq!(
        get(&format!("{}/_/api/bins/m199", s.base_url()))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_flood_of_new_bins_evicts_plain_bins_before_a_configured_one() {
    let s = start_with(Config {
        max_bins: 20,
        ..Config::for_tests()
    })
    .await;
    let mut c = Conn::open(s.addr()).await;
    let (status, _) = c
        .send(
            "PUT",
            "/_/api/bins/kept",
            Bytes::from_static(br#"{"response":{"status":201}}"#),
        )
        .await;
    assert_eq!(status, 200);
    // never touched again: the least recently used bin of all, but the only configured one
    for i in 0..100 {
        assert_eq!(c.post(&format!("/flood{i}")).await, 200);
    }
    let api = format!("{}/_/api/bins", s.base_url());
    let kept = get(&format!("{api}/kept")).await;
    assert_eq!(kept.status, 200);
    assert_eq!(kept.json()["config"]["response"]["status"], 201);
    assert_eq!(get(&format!("{api}/flood0")).await.status, 404);
    assert_eq!(get(&format!("{api}/flood99")).await.status, 200);
    assert_eq!(c.post("/kept/x").await, 201);
}

#[tokio::test]
async fn a_flood_of_large_requests_cannot_pin_memory_through_the_live_feed() {
    const N: usize = 400;
    // the feed ring keeps its last events alive whoever read them: a viewer must not turn
    // evicted requests into memory the budget no longer sees
    let s = start_with(Config {
        max_memory: 16 * 1024 * 1024,
        ..Config::for_tests()
    })
    .await;
    let budget = s.store().feed_budget();
    let mut viewer = ws(&s, "?bin=big").await;
    assert_eq!(
        next_json(&mut viewer, Duration::from_secs(5))
            .await
            .unwrap()["type"],
        "hello"
    );
    // bodies within the preview limit travel in the messages; the viewer does not read, so
    // once its socket buffers are full the feed holds every new event
    let body = Bytes::from(vec![b'x'; 60 * 1024]);
    let mut c = Conn::open(s.addr()).await;
    let mut most = 0;
    for _ in 0..N {
        assert_eq!(c.send("POST", "/big/e", body.clone()).await.0, 200);
        most = most.max(s.store().stats().feed_bytes);
    }
    // the budget, one whole request over it, and a small message for each request past it
    assert!(
        most <= budget + 2 * 64 * 1024 + N * 2048,
        "the feed kept {most} bytes alive, budget {budget}"
    );
    // every request still reaches the viewer: whole while within the budget, then without its
    // body and headers (the viewer loads those over REST)
    let (mut whole, mut lite) = (0, 0);
    while whole + lite < N {
        let v = next_json(&mut viewer, Duration::from_secs(5))
            .await
            .expect("a request message for every capture");
        if v["type"] != "request" {
            continue;
        }
        if v["request"]["body"]["omitted"] == true {
            assert_eq!(v["request"]["body"]["size"], 60 * 1024);
            assert!(v["request"]["headers"].as_array().unwrap().len() <= 1);
            lite += 1;
        } else {
            assert_eq!(v["request"]["body"]["size"], 60 * 1024);
            whole += 1;
        }
    }
    assert!(lite > 0 && whole > 0, "{whole} whole, {lite} without body");
}

#[tokio::test]
async fn a_large_bin_config_is_counted_at_its_cost_and_listed_by_its_keys() {
    let s = start().await;
    let steps: Vec<serde_json::Value> = (0..2000)
        .map(|_| serde_json::json!({"status": 200, "headers": [["X", "y".repeat(90)]]}))
        .collect();
    let config = serde_json::json!({ "sequence": steps });
    let len = config.to_string().len();
    let before = s.store().stats().memory;
    let mut c = Conn::open(s.addr()).await;
    let (status, _) = c
        .send("PUT", "/_/api/bins/heavy", Bytes::from(config.to_string()))
        .await;
    assert_eq!(status, 200);
    // the parsed and compiled config costs far more than its JSON: counted as such
    assert!(s.store().stats().memory - before >= 10 * len);
    // listings carry its keys, not the 200 KiB
    let api = format!("{}/_/api/bins", s.base_url());
    let list = get(&api).await;
    assert!(list.text().len() < 4096, "{} bytes", list.text().len());
    let listed = &list.json()["bins"][0];
    assert_eq!(listed["config_omitted"], true);
    assert_eq!(listed["config"], serde_json::json!({"sequence": "…"}));
    let mut viewer = ws(&s, "").await;
    let hello = next_json(&mut viewer, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(hello["bins"][0]["config_omitted"], true);
    // a capture that steps the sequence tells viewers without resending the config
    assert_eq!(c.post("/heavy/x").await, 200);
    loop {
        let m = next_json(&mut viewer, Duration::from_secs(5))
            .await
            .unwrap();
        if m["type"] == "bin" {
            assert_eq!(m["bin"]["sequence_position"], 1);
            assert!(m.to_string().len() < 4096);
            break;
        }
    }
    // the bin itself has it whole
    let whole = get(&format!("{api}/heavy")).await;
    assert_eq!(whole.json()["config"], config);
    assert!(whole.json().get("config_omitted").is_none());
}
