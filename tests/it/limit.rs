//! A bin's rate limit: a burst over it gets exactly `burst` answers and then the limit's status
//! with `Retry-After`, every request recorded; a token comes back after its interval; the limit
//! comes before the bin's sequence; a new limit starts a full bucket; bad values are refused
//! naming the field; and the limit is set from the API, the config file and `hookpit bin set`,
//! and kept by `--data-dir`.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

/// The bin's recorded requests, oldest first.
async fn recorded(base: &str, bin: &str) -> Vec<serde_json::Value> {
    let v = get(&format!("{base}/_/api/bins/{bin}/requests?limit=1000"))
        .await
        .json();
    let mut rs = v["requests"].as_array().cloned().unwrap_or_default();
    rs.sort_by_key(|r| r["id"].as_u64());
    rs
}

#[tokio::test]
async fn a_burst_past_the_limit_gets_exactly_burst_answers_then_429s_with_retry_after_all_recorded()
{
    let s = start().await;
    let a = configure(
        &s,
        "edge",
        json!({"limit": {"rate": 5, "per": "1s", "burst": 5}}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    // ten requests written at once on one connection: answered in order, within milliseconds
    let mut burst = Vec::new();
    for i in 0..10 {
        let body = format!("{{\"n\":{i}}}");
        burst.extend_from_slice(
            format!(
                "POST /edge/hook HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
    }
    let started = Instant::now();
    let mut tcp = tokio::net::TcpStream::connect(s.addr()).await.unwrap();
    tcp.write_all(&burst).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while status_lines(&got).len() < 10 {
        let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf))
            .await
            .expect("ten answers within 10 s")
            .unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let took = started.elapsed();
    // one token comes back every 200ms: the burst must be faster than that to be a burst
    assert!(took < Duration::from_millis(200), "the burst took {took:?}");
    let statuses: Vec<String> = status_lines(&got);
    let ok = "HTTP/1.1 200 OK".to_owned();
    let limited = "HTTP/1.1 429 Too Many Requests".to_owned();
    assert_eq!(
        statuses,
        [vec![ok; 5], vec![limited; 5]].concat(),
        "{}",
        String::from_utf8_lossy(&got)
    );
    let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
    assert_eq!(text.matches("retry-after: 1\r\n").count(), 5, "{text}");
    assert_eq!(text.matches("\"rate_limited\"").count(), 5, "{text}");
    let kept = recorded(&s.base_url(), "edge").await;
    assert_eq!(kept.len(), 10, "every request is recorded");
    let kept_statuses: Vec<u64> = kept
        .iter()
        .map(|r| r["response"]["status"].as_u64().unwrap())
        .collect();
    assert_eq!(
        kept_statuses,
        [200, 200, 200, 200, 200, 429, 429, 429, 429, 429]
    );
    assert_eq!(kept[9]["body"]["text"], "{\"n\":9}", "{}", kept[9]);
    // a token is back after its interval: requests pass again
    let url = format!("{}/edge/hook", s.base_url());
    let deadline = Instant::now() + Duration::from_secs(5);
    let passed = loop {
        let a = post(&url, "{}").await;
        if a.status == 200 {
            break true;
        }
        assert_eq!(a.status, 429, "{}", a.text());
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(passed, "a request passed again once a token refilled");
}

#[tokio::test]
async fn a_refused_request_reaches_no_rule_and_moves_no_sequence_step() {
    let s = start().await;
    let a = configure(
        &s,
        "seq",
        json!({
            "sequence": [{"status": 500}, {"status": 201}],
            "response": {"status": 202},
            "limit": {"rate": 1, "per": "1m", "status": 503}
        }),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let url = format!("{}/seq", s.base_url());
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(post(&url, "{}").await.status);
    }
    assert_eq!(got, [500, 503, 503]);
    let bin = get(&format!("{}/_/api/bins/seq", s.base_url()))
        .await
        .json();
    assert_eq!(bin["sequence_position"], 1, "{bin}");
}

#[tokio::test]
async fn a_new_limit_starts_a_full_bucket() {
    let s = start().await;
    let limit = |rate: u64| json!({"limit": {"rate": rate, "per": "1h"}});
    assert_eq!(configure(&s, "b", limit(1)).await.status, 200);
    let url = format!("{}/b", s.base_url());
    assert_eq!(post(&url, "{}").await.status, 200);
    let refused = post(&url, "{}").await;
    assert_eq!(refused.status, 429);
    // the next token is an hour away
    let secs: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((3500..=3600).contains(&secs), "{secs}");
    assert_eq!(configure(&s, "b", limit(2)).await.status, 200);
    let got = [post(&url, "{}").await.status, post(&url, "{}").await.status];
    assert_eq!(got, [200, 200]);
    assert_eq!(post(&url, "{}").await.status, 429);
    // without a limit nothing is refused
    assert_eq!(configure(&s, "b", json!({})).await.status, 200);
    assert_eq!(post(&url, "{}").await.status, 200);
}

#[tokio::test]
async fn a_bad_limit_is_refused_with_400_naming_its_field() {
    let s = start().await;
    for (limit, field) in [
        (json!({"rate": 0}), "limit.rate"),
        (json!({"rate": -1}), "limit.rate"),
        (json!({"rate": 5, "burst": 0}), "limit.burst"),
        (json!({"rate": 5, "burst": 100_000_000}), "limit.burst"),
        (json!({"rate": 5, "per": "0ms"}), "limit.per"),
        (json!({"rate": 5, "per": "soon"}), "limit.per"),
        (json!({"rate": 5, "status": 200}), "limit.status"),
        (json!({"rate": 5, "every": "1s"}), "limit"),
        (json!({"per": "1s"}), "limit"),
    ] {
        let a = configure(&s, "b", json!({ "limit": limit })).await;
        assert_eq!(a.status, 400, "{limit}: {}", a.text());
        let text = a.text();
        assert!(text.contains(field), "{limit}: {text}");
    }
    // nothing was applied
    let v = get(&format!("{}/_/api/bins/b", s.base_url())).await;
    assert!(v.status == 404 || v.json()["config"].get("limit").is_none());
}

#[test]
fn a_config_file_limits_a_bin_and_a_bad_limit_stops_serve_naming_the_key() {
    let dir = temp_dir("limit-cfg");
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "[[bin]]\nname = \"edge\"\nlimit = { rate = 1, per = \"1h\", status = 503 }\n",
    )
    .unwrap();
    let s = spawn_serve(&["--config", good.to_str().unwrap()]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("{}/edge", s.base());
    let got = rt.block_on(async { [post(&url, "{}").await.status, post(&url, "{}").await.status] });
    assert_eq!(got, [200, 503]);
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[[bin]]\nname = \"edge\"\nlimit = { rate = 0 }\n").unwrap();
    let (code, _, err) = run_within(
        std::process::Command::new(bin_path())
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&bad)
            .env("NO_COLOR", "1"),
    );
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(":3: bin.limit.rate"), "{err}");
}

#[test]
fn bin_set_limits_a_bin_from_the_command_line_and_the_data_dir_keeps_it() {
    let dir = temp_dir("limit-cli");
    let data = dir.join("data");
    let data = data.to_str().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    {
        let mut s = spawn_serve(&["--data-dir", data]);
        let (code, out, err) = run_cli(
            &s.base(),
            &[
                "bin",
                "set",
                "edge",
                "--limit",
                "1/h",
                "--burst",
                "2",
                "--limit-status",
                "503",
                "--json",
            ],
        );
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v["config"]["limit"],
            json!({"rate": 1, "per": "60m", "burst": 2, "status": 503})
        );
        let url = format!("{}/edge", s.base());
        let got = rt.block_on(async {
            let mut got = Vec::new();
            for _ in 0..3 {
                got.push(post(&url, "{}").await.status);
            }
            got
        });
        assert_eq!(got, [200, 200, 503]);
        // --burst alone needs a limit to change
        let (code, _, err) = run_cli(&s.base(), &["bin", "set", "other", "--burst", "3"]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("--limit"), "{err}");
        let (code, _, err) = run_cli(&s.base(), &["bin", "set", "edge", "--limit", "5/fortnight"]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("--limit"), "{err}");
        // a clean stop
        // SAFETY: kill only sends a signal to the child's pid.
        assert_eq!(unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) }, 0);
        assert_eq!(wait_within(&mut s.child).code(), Some(0));
    }
    // a restart brings the limit back (with a full bucket)
    let s = spawn_serve(&["--data-dir", data]);
    let (code, out, _) = run_cli(&s.base(), &["bin", "show", "edge", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["config"]["limit"]["rate"], 1, "{v}");
    let url = format!("{}/edge", s.base());
    let got = rt.block_on(async {
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(post(&url, "{}").await.status);
        }
        got
    });
    assert_eq!(got, [200, 200, 503]);
    let (code, out, err) = run_cli(
        &s.base(),
        &["bin", "set", "edge", "--limit", "none", "--json"],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["config"].get("limit").is_none(), "{v}");
    assert_eq!(rt.block_on(post(&url, "{}")).status, 200);
}
