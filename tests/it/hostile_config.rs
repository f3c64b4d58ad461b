//! Bin configs that would break HTTP or exhaust the server: framing headers, statuses that
//! cannot carry a normal answer, bodies on bodiless statuses and oversized configs are refused
//! with a 400 naming the field (from the API) or the file, line and key (from `hookpit.toml`);
//! an accepted custom response keeps a keep-alive connection in step.

use std::path::Path;
use std::time::Duration;

use hookpit::Config;
use serde_json::{json, Value};

use crate::support::*;

async fn configure(s: &hookpit::ServerHandle, bin: &str, config: &Value) -> Answer {
    put_bin(s, bin, config.to_string()).await
}

/// Asserts a 400 whose message starts with `field:`.
async fn refused(s: &hookpit::ServerHandle, config: Value, field: &str) {
    let a = configure(s, "h", &config).await;
    let shown: String = config.to_string().chars().take(200).collect();
    assert_eq!(a.status, 400, "{shown} was accepted");
    let msg = a.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        msg.starts_with(&format!("{field}:")),
        "{shown}: wanted `{field}: …`, got `{msg}`"
    );
}

/// One parsed response: status, headers (lower-case names), body.
type Parsed = (u16, Vec<(String, String)>, Vec<u8>);

/// Splits raw bytes into complete HTTP/1.1 responses framed by Content-Length; panics on bytes
/// that do not frame.
fn responses(mut raw: &[u8]) -> Vec<Parsed> {
    let mut out = Vec::new();
    while !raw.is_empty() {
        let mut hs = [httparse::EMPTY_HEADER; 64];
        let mut r = httparse::Response::new(&mut hs);
        let n = match r.parse(raw) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!(
                "not a response ({other:?}): {:?}",
                String::from_utf8_lossy(raw)
            ),
        };
        let headers: Vec<(String, String)> = r
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map(|(_, v)| v.parse().expect("a length"))
            .unwrap_or(0);
        assert!(raw.len() >= n + len, "a body was cut short");
        out.push((r.code.expect("status"), headers, raw[n..n + len].to_vec()));
        raw = &raw[n + len..];
    }
    out
}

#[tokio::test]
async fn framing_headers_in_any_response_are_refused_naming_the_field() {
    let s = start().await;
    let framing = [
        "Content-Length",
        "transfer-encoding",
        "CONNECTION",
        "Keep-Alive",
        "Upgrade",
        "Trailer",
        "TE",
        "Proxy-Connection",
    ];
    for name in framing {
        let h = json!([["X-Fine", "1"], [name, "5"]]);
        refused(
            &s,
            json!({"response": {"headers": h, "body": "0123456789"}}),
            &format!("response.headers.{name}"),
        )
        .await;
        refused(
            &s,
            json!({"rules": [{"match": "method:GET"}, {"match": "method:POST", "headers": h}]}),
            &format!("rules[1].headers.{name}"),
        )
        .await;
        refused(
            &s,
            json!({"sequence": [{}, {}, {}, {"headers": h}]}),
            &format!("sequence[3].headers.{name}"),
        )
        .await;
    }
}

#[tokio::test]
async fn informational_and_out_of_range_statuses_are_refused_naming_the_field() {
    let s = start().await;
    for status in [100, 101, 103, 199, 600, 999] {
        refused(
            &s,
            json!({"response": {"status": status}}),
            "response.status",
        )
        .await;
        refused(
            &s,
            json!({"sequence": [{}, {}, {}, {"status": status}]}),
            "sequence[3].status",
        )
        .await;
        refused(
            &s,
            json!({"rules": [{"match": "method:GET", "status": status}]}),
            "rules[0].status",
        )
        .await;
        refused(
            &s,
            json!({"fault": {"rate": 0.5, "status": status}}),
            "fault.status",
        )
        .await;
    }
    for status in [200, 204, 302, 304, 418, 599] {
        let a = configure(&s, "ok", &json!({"response": {"status": status}})).await;
        assert_eq!(a.status, 200, "{status}: {}", a.text());
    }
}

#[tokio::test]
async fn a_body_on_a_204_205_or_304_is_refused_naming_the_field() {
    let s = start().await;
    for status in [204, 205, 304] {
        refused(
            &s,
            json!({"response": {"status": status, "body": "x"}}),
            "response.body",
        )
        .await;
        refused(
            &s,
            json!({"sequence": [{"status": status, "body": {"a": 1}}]}),
            "sequence[0].body",
        )
        .await;
    }
}

#[tokio::test]
async fn a_fault_with_a_bodiless_status_answers_without_a_body() {
    let s = start().await;
    let a = configure(&s, "f", &json!({"fault": {"rate": 1.0, "status": 204}})).await;
    assert_eq!(a.status, 200, "{}", a.text());
    let raw_answer = raw(
        s.addr(),
        b"GET /f HTTP/1.1\r\nHost: x\r\n\r\nGET /f HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    let got = responses(&raw_answer);
    assert_eq!(got.len(), 2, "{}", String::from_utf8_lossy(&raw_answer));
    for (status, _, body) in &got {
        assert_eq!((*status, body.len()), (204, 0));
    }
    let kept = s.requests("f");
    assert!(kept.iter().all(|r| r.response.body.bytes.is_empty()));
}

#[tokio::test]
async fn a_content_length_that_lies_cannot_desync_a_keep_alive_connection() {
    let s = start().await;
    refused(
        &s,
        json!({"response": {"headers": [["Content-Length", "5"]], "body": "0123456789"}}),
        "response.headers.Content-Length",
    )
    .await;
    let a = configure(
        &s,
        "h",
        &json!({"response": {"status": 202, "headers": [["X-Custom", "yes"], ["Cache-Control", "no-store"]], "body": "0123456789"}}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let raw_answer = raw(
        s.addr(),
        b"POST /h HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}\
          GET /h/again HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    let got = responses(&raw_answer);
    assert_eq!(got.len(), 2, "{}", String::from_utf8_lossy(&raw_answer));
    for (status, headers, body) in got {
        assert_eq!(status, 202);
        assert_eq!(body, b"0123456789");
        assert!(headers.contains(&("x-custom".into(), "yes".into())));
        assert_eq!(
            headers
                .iter()
                .filter(|(k, _)| k == "content-length")
                .count(),
            1
        );
    }
    assert_eq!(s.requests("h").len(), 2);
}

#[tokio::test]
async fn a_config_past_its_size_bounds_is_refused_naming_the_field() {
    let s = start_with(Config {
        max_body: 4096,
        ..Config::for_tests()
    })
    .await;
    let steps = |n: usize| Value::Array(vec![json!({}); n]);
    let a = configure(&s, "big", &json!({ "sequence": steps(10_000) })).await;
    assert_eq!(a.status, 200, "10,000 steps are fine");
    refused(&s, json!({ "sequence": steps(10_001) }), "sequence").await;
    let rules = Value::Array(vec![json!({"match": "method:GET"}); 10_001]);
    refused(&s, json!({ "rules": rules }), "rules").await;
    let many: Vec<Value> = (0..101).map(|i| json!([format!("X-H{i}"), "v"])).collect();
    refused(
        &s,
        json!({"response": {"headers": many}}),
        "response.headers",
    )
    .await;
    let long = "v".repeat(64 * 1024 + 1);
    refused(
        &s,
        json!({"response": {"headers": [["X-Long", long]]}}),
        "response.headers.X-Long",
    )
    .await;
    refused(
        &s,
        json!({"sequence": [{"body": "b".repeat(4097)}]}),
        "sequence[0].body",
    )
    .await;
    let a = configure(&s, "fits", &json!({"response": {"body": "b".repeat(4096)}})).await;
    assert_eq!(a.status, 200, "{}", a.text());
}

#[tokio::test]
async fn a_bin_config_put_over_one_mebibyte_is_413() {
    let s = start().await;
    let mut body = String::from(r#"{"response":{"body":""#);
    body.push_str(&"x".repeat(1024 * 1024 + 1));
    body.push_str(r#""}}"#);
    let a = put_bin(&s, "huge", body).await;
    assert_eq!(a.status, 413);
    assert_eq!(a.json()["error"]["code"], "payload_too_large");
    assert!(s.store().bin("huge").is_none());
}

fn parse_file(text: &str) -> String {
    match hookpit::hookfile::parse(text, "hookpit.toml", Path::new(".")) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_same_refusals_from_a_config_file_name_the_file_line_and_key() {
    let cases = [
        (
            "[[bin]]\nname = \"b\"\n\nresponse = { headers = [[\"Content-Length\", \"5\"]], body = \"0123456789\" }\n",
            "hookpit.toml:4: bin.response.headers.Content-Length: ",
        ),
        (
            "[[bin]]\nname = \"b\"\nsequence = [{ status = 200 }, { status = 200 }, { status = 200 },\n  { status = 101 }]\n",
            "hookpit.toml:4: bin.sequence.status: ",
        ),
        (
            "[[bin]]\nname = \"b\"\n[[bin.rules]]\nmatch = \"method:GET\"\nheaders = [[\"transfer-encoding\", \"chunked\"]]\n",
            "hookpit.toml:5: bin.rules.headers.transfer-encoding: ",
        ),
        (
            "[[bin]]\nname = \"b\"\nresponse = { status = 204, body = \"x\" }\n",
            "hookpit.toml:3: bin.response.body: ",
        ),
        (
            "[[bin]]\nname = \"b\"\nfault = { rate = 0.1, status = 100 }\n",
            "hookpit.toml:3: bin.fault.status: ",
        ),
    ];
    for (text, want) in cases {
        let got = parse_file(text);
        assert!(
            got.starts_with(want),
            "for\n{text}\nwanted `{want}…`, got `{got}`"
        );
    }
    let mut big = String::from("[[bin]]\nname = \"b\"\nsequence = [\n");
    for _ in 0..10_001 {
        big.push_str("  { status = 200 },\n");
    }
    big.push_str("]\n");
    let got = parse_file(&big);
    assert!(got.starts_with("hookpit.toml:3: bin.sequence: "), "{got}");
    let body = format!(
        "[server]\nmax_body = 100\n\n[[bin]]\nname = \"b\"\nresponse = {{ body = \"{}\" }}\n",
        "x".repeat(101)
    );
    let got = parse_file(&body);
    assert!(
        got.starts_with("hookpit.toml:6: bin.response.body: "),
        "{got}"
    );
}

#[tokio::test]
async fn a_config_file_bin_over_the_served_max_body_stops_the_server_naming_the_bin() {
    let f = hookpit::hookfile::parse(
        "[[bin]]\nname = \"b\"\nresponse = { body = \"0123456789\" }\n",
        "hookpit.toml",
        Path::new("."),
    )
    .expect("valid on its own");
    let mut config = Config::for_tests();
    config.max_body = 5;
    config.bins = f.bins;
    let e = match hookpit::Server::start(config).await {
        Ok(_) => panic!("a bin body over --max-body was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("hookpit.toml:1:") || e.contains(":1: bin.b"),
        "{e}"
    );
    assert!(e.contains("response.body"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_json_rules_read_a_request_body_once() {
    let s = start().await;
    let rules = Value::Array(vec![
        json!({"match": "json:/missing=1", "status": 500});
        10_000
    ]);
    let a = configure(
        &s,
        "j",
        &json!({ "rules": rules, "response": {"status": 202} }),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let items: Vec<Value> = (0..2_000)
        .map(|i| json!({"id": i, "name": format!("item {i}"), "tags": ["a", "b"]}))
        .collect();
    let body = json!({ "items": items }).to_string();
    assert!(body.len() > 80_000);
    let started = std::time::Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(20),
        http(
            "POST",
            &s.catch_url("j"),
            &[("content-type", "application/json")],
            body,
        ),
    )
    .await
    .expect("the capture was answered");
    assert_eq!(answer.status, 202);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "10,000 rules took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_many_rules_against_a_large_body_never_holds_other_captures() {
    let s = start().await;
    // every rule scans the whole body and none matches: the most work rules can ask for
    let rules: Vec<Value> = (0..400)
        .map(|i| json!({"match": format!("body:Z{i}9Z"), "status": 500}))
        .collect();
    let a = configure(
        &s,
        "slow",
        &json!({ "rules": rules, "response": {"status": 202} }),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let url = s.catch_url("slow");
    let slow = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let a = http("POST", &url, &[], vec![b'x'; 2 * 1024 * 1024]).await;
        (a.status, started.elapsed())
    });
    // while those rules run, other bins capture at once (the store's lock is free)
    let started = std::time::Instant::now();
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let t = std::time::Instant::now();
        let a = post(&s.catch_url("fast"), &format!("{{\"i\":{i}}}")).await;
        assert_eq!(a.status, 200);
        slowest = slowest.max(t.elapsed());
    }
    let fast_done = started.elapsed();
    let (status, slow_took) = slow.await.unwrap();
    assert_eq!(status, 202);
    assert!(
        slowest < slow_took / 2,
        "a capture in another bin waited {slowest:?} while the rules took {slow_took:?}"
    );
    // and that means something only if the slow capture was still running meanwhile
    assert!(
        slow_took > fast_done,
        "the rules ran too fast to tell ({slow_took:?})"
    );
}
