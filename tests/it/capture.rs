//! Wire-exact capture: any method and path outside `/_/`, HTTP/1.0, 1.1 and h2c, header order,
//! case and interleaved duplicates, exact body bytes, chunked bodies, pipelining, limits,
//! malformed input and slow clients.

use std::time::Duration;

use bytes::Bytes;
use hookpit::Config;
use http_body_util::{BodyExt, Full};
use tokio::io::AsyncWriteExt;

use crate::support::*;

const QUIET: Duration = Duration::from_millis(300);

#[tokio::test]
async fn any_method_and_path_outside_the_reserved_prefix_is_recorded() {
    let s = start().await;
    for m in [
        "GET",
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
        "OPTIONS",
        "PURGE",
        "FROBNICATE",
    ] {
        let a = http(m, &s.catch_url("methods/x/y?z=1"), &[], Bytes::new()).await;
        assert_eq!(a.status, 200, "{m}");
        assert_eq!(a.json()["bin"], "methods");
    }
    let got: Vec<String> = s
        .requests("methods")
        .iter()
        .map(|r| r.method.to_string())
        .collect();
    assert_eq!(
        got,
        [
            "GET",
            "POST",
            "PUT",
            "PATCH",
            "DELETE",
            "OPTIONS",
            "PURGE",
            "FROBNICATE"
        ]
    );
    assert!(s
        .requests("methods")
        .iter()
        .all(|r| r.path() == "/methods/x/y"));
}

#[tokio::test]
async fn headers_keep_their_order_case_and_interleaved_duplicates() {
    let s = start().await;
    let out = raw(
        s.addr(),
        b"POST /hdr/a?b=1&a=2 HTTP/1.1\r\nHost: example.test\r\nX-Dup: 1\r\nother-Header: a\r\nX-Dup: 2\r\nX-UPPER: Q\r\nx-dup: 3\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody",
        QUIET,
    )
    .await;
    assert_eq!(status_lines(&out), ["HTTP/1.1 200 OK"]);
    let r = &s.requests("hdr")[0];
    let names: Vec<(&str, String)> = r
        .headers
        .iter()
        .map(|h| (&*h.name, h.value_str().into_owned()))
        .collect();
    assert_eq!(
        names,
        [
            ("Host", "example.test".to_owned()),
            ("X-Dup", "1".into()),
            ("other-Header", "a".into()),
            ("X-Dup", "2".into()),
            ("X-UPPER", "Q".into()),
            ("x-dup", "3".into()),
            ("Content-Length", "4".into()),
            ("Connection", "close".into()),
        ]
    );
    assert_eq!(r.target, "/hdr/a?b=1&a=2");
    assert_eq!(
        r.query_vec(),
        [("b".into(), "1".into()), ("a".into(), "2".into())]
    );
    assert_eq!(r.version, "HTTP/1.1");
    assert_eq!(&r.body.bytes[..], b"body");
}

#[tokio::test]
async fn the_raw_target_is_kept_as_sent_and_the_path_is_decoded() {
    let s = start().await;
    raw(
        s.addr(),
        b"GET /enc/a%20b/%E2%9C%93?q=a%2Bb+c&q=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        QUIET,
    )
    .await;
    let r = &s.requests("enc")[0];
    assert_eq!(r.target, "/enc/a%20b/%E2%9C%93?q=a%2Bb+c&q=2");
    assert_eq!(r.path(), "/enc/a b/✓");
    assert_eq!(
        r.query_vec(),
        [("q".into(), "a+b c".into()), ("q".into(), "2".into())]
    );
}

#[tokio::test]
async fn all_256_byte_values_round_trip_through_the_body_endpoint() {
    let s = start().await;
    let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    let a = http(
        "POST",
        &s.catch_url("bytes"),
        &[("content-type", "application/octet-stream")],
        all.clone(),
    )
    .await;
    let id = a.json()["id"].as_u64().unwrap();
    let body = get(&format!("{}/_/api/requests/{id}/body", s.base_url())).await;
    assert_eq!(body.status, 200);
    assert_eq!(&body.body[..], &all[..]);
    assert_eq!(
        body.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(body.header("x-content-type-options"), Some("nosniff"));
    assert!(body
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment"));
    let json = get(&format!("{}/_/api/requests/{id}", s.base_url()))
        .await
        .json();
    assert_eq!(json["body"]["encoding"], "base64");
    assert_eq!(json["body"]["size"], 512);
}

#[tokio::test]
async fn http_1_0_requests_are_captured_and_answered() {
    let s = start().await;
    let out = raw(
        s.addr(),
        b"POST /old/x HTTP/1.0\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
        QUIET,
    )
    .await;
    assert!(
        String::from_utf8_lossy(&out).starts_with("HTTP/1.0 200")
            || String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200")
    );
    let r = &s.requests("old")[0];
    assert_eq!(r.version, "HTTP/1.0");
    assert_eq!(&r.body.bytes[..], b"abc");
}

#[tokio::test]
async fn chunked_bodies_with_extensions_and_trailers_are_reassembled_exactly() {
    let s = start().await;
    let out = raw(
        s.addr(),
        b"POST /chunk HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nX-After: yes\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\nGET /chunk/next HTTP/1.1\r\nHost: a\r\nX-Second: 1\r\nConnection: close\r\n\r\n",
        QUIET,
    )
    .await;
    assert_eq!(status_lines(&out).len(), 2);
    let reqs = s.requests("chunk");
    assert_eq!(&reqs[0].body.bytes[..], b"hello world");
    assert_eq!(reqs[0].headers[2].name.as_ref(), "X-After");
    // the tap found the second head after the chunked body and its trailers
    assert_eq!(reqs[1].target, "/chunk/next");
    assert_eq!(reqs[1].headers[1].name.as_ref(), "X-Second");
}

#[tokio::test]
async fn pipelined_keep_alive_requests_each_keep_their_own_head() {
    let s = start().await;
    let mut wire = Vec::new();
    for i in 0..5 {
        wire.extend_from_slice(
            format!("POST /pipe/{i} HTTP/1.1\r\nHost: a\r\nX-Seq-{i}: {i}\r\nContent-Length: 1\r\n\r\n{i}")
                .as_bytes(),
        );
    }
    wire.extend_from_slice(b"GET /pipe/end HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    let out = raw(s.addr(), &wire, QUIET).await;
    assert_eq!(status_lines(&out).len(), 6);
    let reqs = s.requests("pipe");
    for (i, r) in reqs.iter().take(5).enumerate() {
        assert_eq!(r.target, format!("/pipe/{i}"));
        assert_eq!(r.headers[1].name.as_ref(), format!("X-Seq-{i}"));
        assert_eq!(&r.body.bytes[..], i.to_string().as_bytes());
    }
}

#[tokio::test]
async fn h2c_prior_knowledge_requests_are_captured() {
    let s = start().await;
    let tcp = tokio::net::TcpStream::connect(s.addr()).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .method("PUT")
        .uri(format!("http://{}/h2/thing?x=1", s.addr()))
        .header("x-h2", "yes")
        .body(Full::new(Bytes::from_static(b"over h2")))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("\"bin\":\"h2\""));
    let r = &s.requests("h2")[0];
    assert_eq!(r.version, "HTTP/2.0");
    assert_eq!(r.method, "PUT");
    assert_eq!(r.target, "/h2/thing?x=1");
    assert_eq!(r.header("x-h2").as_deref(), Some("yes"));
    assert_eq!(&r.body.bytes[..], b"over h2");
}

#[tokio::test]
async fn oversized_bodies_are_recorded_truncated_and_answered_413() {
    let s = start_with(Config {
        max_body: 1000,
        ..Config::for_tests()
    })
    .await;
    let big = vec![b'x'; 5000];
    let a = http("POST", &s.catch_url("big"), &[], big).await;
    assert_eq!(a.status, 413);
    assert_eq!(a.json()["error"]["code"], "payload_too_large");
    let r = &s.requests("big")[0];
    assert!(r.body.truncated);
    assert_eq!(r.body.bytes.len(), 1000);
    assert_eq!(r.response.status, 413);
    // a small request on another connection is unaffected
    assert_eq!(post(&s.catch_url("big"), "{}").await.status, 200);
}

#[tokio::test]
async fn malformed_requests_get_400_and_other_requests_are_unaffected() {
    let s = start().await;
    let out = raw(s.addr(), b"THIS IS NOT HTTP\r\n\r\n", QUIET).await;
    assert!(
        String::from_utf8_lossy(&out).starts_with("HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let out = raw(
        s.addr(),
        b"GET /x HTTP/1.1\r\nBad Header Line\r\n\r\n",
        QUIET,
    )
    .await;
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 400"));
    let out = raw(
        s.addr(),
        b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: nope\r\n\r\n",
        QUIET,
    )
    .await;
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 400"));
    assert_eq!(post(&s.catch_url("fine"), "{}").await.status, 200);
    assert_eq!(s.requests("fine").len(), 1);
}

#[tokio::test]
async fn a_slow_client_is_cut_off_by_the_header_timeout_without_blocking_others() {
    let s = start_with(Config {
        header_timeout: Duration::from_millis(300),
        ..Config::for_tests()
    })
    .await;
    let mut slow = tokio::net::TcpStream::connect(s.addr()).await.unwrap();
    slow.write_all(b"POST /slow HTTP/1.1\r\nHost: a\r\n")
        .await
        .unwrap();
    // others are served meanwhile
    for _ in 0..5 {
        assert_eq!(post(&s.catch_url("quick"), "{}").await.status, 200);
    }
    let t = std::time::Instant::now();
    let rest = read_until_quiet(&mut slow, Duration::from_secs(5)).await;
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "the slow connection was closed by the server"
    );
    let text = String::from_utf8_lossy(&rest);
    assert!(
        text.starts_with("HTTP/1.1 408"),
        "the slow client is told why: {text}"
    );
    assert!(text.contains("header_timeout"), "{text}");
    assert!(s.requests("slow").is_empty());
}

#[tokio::test]
async fn the_first_path_segment_names_the_bin_and_invalid_names_go_to_default() {
    let s = start().await;
    post(&s.catch_url("stripe/events"), "{}").await;
    post(&format!("{}/", s.base_url()), "{}").await;
    post(&format!("{}/-bad/x", s.base_url()), "{}").await;
    post(&format!("{}/{}", s.base_url(), "a".repeat(70)), "{}").await;
    assert_eq!(s.requests("stripe").len(), 1);
    assert_eq!(s.requests("default").len(), 3);
}

#[tokio::test]
async fn each_bin_keeps_the_newest_requests_and_counts_evictions() {
    let s = start_with(Config {
        max_requests: 3,
        ..Config::for_tests()
    })
    .await;
    for i in 0..5 {
        post(&s.catch_url(&format!("ring/{i}")), "{}").await;
    }
    let kept: Vec<String> = s
        .requests("ring")
        .iter()
        .map(|r| r.path().into_owned())
        .collect();
    assert_eq!(kept, ["/ring/2", "/ring/3", "/ring/4"]);
    let bins = get(&format!("{}/_/api/bins", s.base_url())).await.json();
    assert_eq!(bins["bins"][0]["evicted"], 2);
    assert_eq!(bins["bins"][0]["count"], 3);
}

#[tokio::test]
async fn the_memory_budget_evicts_the_oldest_requests_across_bins() {
    let s = start_with(Config {
        max_memory: 40 * 1024,
        ..Config::for_tests()
    })
    .await;
    let body = "x".repeat(4000);
    for i in 0..20 {
        let bin = if i % 2 == 0 { "mem-a" } else { "mem-b" };
        post(&s.catch_url(bin), &body).await;
    }
    let stats = get(&format!("{}/_/api/health", s.base_url())).await.json();
    let evicted = stats["stats"]["evicted"].as_u64().unwrap();
    assert!(evicted >= 8, "evicted {evicted}");
    assert!(stats["stats"]["memory"].as_u64().unwrap() <= 40 * 1024);
    // the newest survive, in both bins
    assert_eq!(s.requests("mem-b").last().unwrap().id, 20);
    assert_eq!(s.requests("mem-a").last().unwrap().id, 19);
    let hello = {
        let mut w = ws(&s, "").await;
        next_json(&mut w, Duration::from_secs(2)).await.unwrap()
    };
    assert_eq!(hello["evicted"].as_u64().unwrap(), evicted);
}

#[tokio::test]
async fn a_browser_opening_a_catch_url_gets_a_small_html_page() {
    let s = start().await;
    let a = http(
        "GET",
        &s.catch_url("page"),
        &[("accept", "text/html,application/xhtml+xml,*/*;q=0.8")],
        Bytes::new(),
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(a.header("content-type").unwrap().starts_with("text/html"));
    assert!(a.text().contains("/_/#/bin/page/1"));
    let a = http(
        "GET",
        &s.catch_url("page"),
        &[("accept", "*/*")],
        Bytes::new(),
    )
    .await;
    assert_eq!(a.json()["id"], 2);
}

#[tokio::test]
async fn the_recorded_response_and_peer_address_are_kept() {
    let s = start().await;
    post(&s.catch_url("resp"), "{}").await;
    let r = &s.requests("resp")[0];
    assert_eq!(r.response.status, 200);
    assert_eq!(r.remote_addr.ip().to_string(), "127.0.0.1");
    assert!(r.response.body.text().unwrap().contains("\"id\":1"));
}

#[tokio::test]
async fn the_peer_address_comes_from_x_forwarded_for_only_with_trust_proxy() {
    for (trust, want) in [(false, "127.0.0.1"), (true, "203.0.113.9")] {
        let s = start_with(Config {
            trust_proxy: trust,
            ..Config::for_tests()
        })
        .await;
        crate::support::http(
            "POST",
            &s.catch_url("xff"),
            &[("X-Forwarded-For", "203.0.113.9, 10.0.0.1")],
            "{}",
        )
        .await;
        let r = &s.requests("xff")[0];
        assert_eq!(
            r.remote_addr.ip().to_string(),
            want,
            "trust_proxy = {trust}"
        );
    }
}
