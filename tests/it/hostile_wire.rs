//! Hostile input on the wire: thousands of tiny chunks, pipelined chunked requests, malformed
//! chunked framing, upgrade headers that do not upgrade, stalled bodies and idle keep-alive
//! connections. Each sends the hostile thing for real and proves the bound.

use std::time::{Duration, Instant};

use hookpit::Config;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::support::*;

const CLOSE: Duration = Duration::from_secs(5);

/// The header names of a captured request, in order and as spelled.
fn names(r: &hookpit::CapturedRequest) -> Vec<String> {
    r.headers.iter().map(|h| h.name.to_string()).collect()
}

#[tokio::test]
async fn a_body_of_20000_one_byte_chunks_is_captured_exactly() {
    let s = start().await;
    let mut wire = b"POST /tiny-chunks HTTP/1.1\r\nHost: a\r\nX-Mixed-Case: Yes\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    let mut want = Vec::new();
    for i in 0..20_000u32 {
        let b = b'a' + (i % 26) as u8;
        wire.extend_from_slice(b"1\r\n");
        wire.push(b);
        wire.extend_from_slice(b"\r\n");
        want.push(b);
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    let out = raw(s.addr(), &wire, CLOSE).await;
    assert_eq!(status_lines(&out), ["HTTP/1.1 200 OK"]);
    let reqs = s.requests("tiny-chunks");
    assert_eq!(reqs.len(), 1);
    assert_eq!(&reqs[0].body.bytes[..], &want[..]);
    assert!(!reqs[0].body.truncated);
    assert_eq!(
        names(&reqs[0]),
        ["Host", "X-Mixed-Case", "Transfer-Encoding", "Connection"]
    );
}

#[tokio::test]
async fn fifty_pipelined_chunked_requests_in_one_write_are_captured_exactly_and_in_order() {
    let s = start().await;
    let mut wire = Vec::new();
    let mut bodies = Vec::new();
    for i in 0..50usize {
        let close = if i == 49 { "Connection: close\r\n" } else { "" };
        wire.extend_from_slice(
            format!("PUT /piped/{i} HTTP/1.1\r\nHost: a\r\nX-Req-{i}: {i}\r\nTransfer-Encoding: chunked\r\n{close}\r\n").as_bytes(),
        );
        let mut body = Vec::new();
        for c in 0..(i % 7 + 1) {
            let chunk: Vec<u8> = (0..(c * 13 + i) % 40 + 1)
                .map(|k| b'A' + ((k + c + i) % 26) as u8)
                .collect();
            wire.extend_from_slice(format!("{:x};n={c}\r\n", chunk.len()).as_bytes());
            wire.extend_from_slice(&chunk);
            wire.extend_from_slice(b"\r\n");
            body.extend_from_slice(&chunk);
        }
        if i % 3 == 0 {
            wire.extend_from_slice(format!("0\r\nX-Trailer-{i}: t\r\n\r\n").as_bytes());
        } else {
            wire.extend_from_slice(b"0\r\n\r\n");
        }
        bodies.push(body);
    }
    let out = raw(s.addr(), &wire, CLOSE).await;
    assert_eq!(status_lines(&out).len(), 50);
    let reqs = s.requests("piped");
    assert_eq!(reqs.len(), 50);
    for (i, r) in reqs.iter().enumerate() {
        assert_eq!(r.target, format!("/piped/{i}"));
        let mut want = vec![
            "Host".to_owned(),
            format!("X-Req-{i}"),
            "Transfer-Encoding".into(),
        ];
        if i == 49 {
            want.push("Connection".into());
        }
        assert_eq!(names(r), want, "request {i}");
        assert_eq!(&r.body.bytes[..], &bodies[i][..], "request {i}");
    }
}

/// Sends one chunked request with a broken body and checks it is refused, not captured as a
/// success.
async fn refused(bin: &str, body: &[u8]) {
    let s = start().await;
    let mut wire = format!(
        "POST /{bin} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    wire.extend_from_slice(body);
    let out = raw(s.addr(), &wire, CLOSE).await;
    let lines = status_lines(&out);
    assert!(
        lines.iter().all(|l| !l.as_bytes()[9].eq(&b'2')),
        "never a 2xx: {}",
        String::from_utf8_lossy(&out)
    );
    assert!(
        lines.is_empty() || lines == ["HTTP/1.1 400 Bad Request"],
        "a 400 or a closed connection: {}",
        String::from_utf8_lossy(&out)
    );
    for r in s.requests(bin) {
        assert_eq!(r.response.status, 400, "recorded as refused");
        assert!(r.body.truncated, "recorded as incomplete");
    }
    // the server is fine
    assert_eq!(post(&s.catch_url("after"), "{}").await.status, 200);
}

#[tokio::test]
async fn a_chunk_size_that_is_not_hex_is_refused_with_400() {
    refused("not-hex", b"ZZ\r\nhello\r\n0\r\n\r\n").await;
}

#[tokio::test]
async fn a_chunk_size_line_ended_by_a_bare_lf_is_refused_with_400() {
    refused("bare-lf", b"5\nhello\r\n0\r\n\r\n").await;
}

#[tokio::test]
async fn a_chunk_size_that_overflows_64_bits_is_refused_with_400() {
    refused("overflow", b"1ffffffffffffffff\r\nhello\r\n0\r\n\r\n").await;
}

#[tokio::test]
async fn an_empty_chunk_size_line_is_refused_with_400() {
    refused("empty-size", b"\r\nhello\r\n0\r\n\r\n").await;
}

#[tokio::test]
async fn a_request_with_upgrade_h2c_does_not_turn_off_exact_capture_for_the_next_one() {
    let s = start().await;
    let mut c = TcpStream::connect(s.addr()).await.unwrap();
    c.write_all(b"GET /h2c-up/1 HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n").await.unwrap();
    let first = read_answers(&mut c, 1, CLOSE).await;
    assert_eq!(status_lines(&first), ["HTTP/1.1 200 OK"]);
    c.write_all(b"POST /h2c-up/2 HTTP/1.1\r\nHost: a\r\nX-Mixed-Case: Kept\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi").await.unwrap();
    let second = read_until_quiet(&mut c, CLOSE).await;
    assert_eq!(status_lines(&second), ["HTTP/1.1 200 OK"]);
    let reqs = s.requests("h2c-up");
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        names(&reqs[0]),
        ["Host", "Connection", "Upgrade", "HTTP2-Settings"]
    );
    assert_eq!(
        names(&reqs[1]),
        ["Host", "X-Mixed-Case", "Content-Length", "Connection"]
    );
    assert_eq!(&reqs[1].body.bytes[..], b"hi");
}

#[tokio::test]
async fn a_chunk_size_with_more_than_16_hex_digits_is_handled_exactly() {
    let s = start().await;
    let out = raw(
        s.addr(),
        b"POST /long-hex/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000000005\r\nhello\r\n0\r\n\r\nPOST /long-hex/2 HTTP/1.1\r\nHost: a\r\nX-Mixed-Case: Kept\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
        CLOSE,
    )
    .await;
    assert_eq!(status_lines(&out), ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"]);
    let reqs = s.requests("long-hex");
    assert_eq!(reqs.len(), 2);
    assert_eq!(&reqs[0].body.bytes[..], b"hello");
    assert_eq!(
        names(&reqs[1]),
        ["Host", "X-Mixed-Case", "Content-Length", "Connection"]
    );
}

fn timeouts(body: Duration, idle: Duration) -> Config {
    Config {
        body_timeout: body,
        idle_timeout: idle,
        ..Config::for_tests()
    }
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_and_recorded_truncated() {
    let s = start_with(timeouts(
        Duration::from_millis(300),
        Duration::from_secs(60),
    ))
    .await;
    let mut c = TcpStream::connect(s.addr()).await.unwrap();
    c.write_all(b"POST /stalled HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc")
        .await
        .unwrap();
    let t = Instant::now();
    let out = read_until_quiet(&mut c, CLOSE).await;
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("body_timeout"), "{text}");
    let r = &s.requests("stalled")[0];
    assert_eq!(&r.body.bytes[..], b"abc");
    assert!(r.body.truncated);
    assert_eq!(r.response.status, 408);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let s = start_with(timeouts(
        Duration::from_secs(30),
        Duration::from_millis(300),
    ))
    .await;
    let mut c = TcpStream::connect(s.addr()).await.unwrap();
    c.write_all(b"GET /idle HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let first = read_answers(&mut c, 1, CLOSE).await;
    assert_eq!(status_lines(&first), ["HTTP/1.1 200 OK"]);
    let t = Instant::now();
    let rest = read_until_quiet(&mut c, CLOSE).await;
    let waited = t.elapsed();
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    assert!(
        waited < Duration::from_secs(3),
        "closed by the server, not by the test's wait: {waited:?}"
    );
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
}

#[tokio::test]
async fn a_connection_that_keeps_sending_requests_stays_open() {
    let s = start_with(timeouts(
        Duration::from_secs(30),
        Duration::from_millis(500),
    ))
    .await;
    let mut c = TcpStream::connect(s.addr()).await.unwrap();
    let t = Instant::now();
    let mut n = 0;
    // twelve requests 100 ms apart span more than two idle timeouts on one connection
    while n < 12 {
        c.write_all(b"GET /busy HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let out = read_answers(&mut c, 1, CLOSE).await;
        assert_eq!(status_lines(&out), ["HTTP/1.1 200 OK"], "request {n}");
        n += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(t.elapsed() > Duration::from_millis(1200));
    assert_eq!(s.requests("busy").len(), 12);
}

#[tokio::test]
async fn other_requests_are_served_while_200_stalled_bodies_are_held() {
    let s = start_with(timeouts(Duration::from_secs(2), Duration::from_secs(60))).await;
    let mut stalled = Vec::new();
    for i in 0..200 {
        let mut c = TcpStream::connect(s.addr()).await.unwrap();
        c.write_all(
            format!("POST /held/{i} HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nx")
                .as_bytes(),
        )
        .await
        .unwrap();
        stalled.push(c);
    }
    let t = Instant::now();
    for _ in 0..20 {
        assert_eq!(post(&s.catch_url("free"), "{}").await.status, 200);
    }
    // all served before the held bodies' timeout: while they were held
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // every held connection is answered and closed, all within one bound
    let all = futures_util::future::join_all(stalled.iter_mut().map(|c| async move {
        let out = read_until_quiet(c, CLOSE).await;
        String::from_utf8_lossy(&out).starts_with("HTTP/1.1 408")
    }));
    let answered = tokio::time::timeout(Duration::from_secs(8), all)
        .await
        .expect("the stalled bodies were cut off by the body timeout");
    assert_eq!(answered.iter().filter(|a| **a).count(), 200);
    assert_eq!(s.requests("held").len(), 200);
    assert!(s.requests("held").iter().all(|r| r.body.truncated));
}

#[test]
fn the_config_file_sets_the_body_and_idle_timeouts_and_refuses_zero() {
    let f = hookpit::hookfile::parse(
        "[server]\nbody_timeout = \"250ms\"\nidle_timeout = \"2m\"\n",
        "hookpit.toml",
        std::path::Path::new("."),
    )
    .expect("valid file");
    let mut c = Config::for_tests();
    f.apply(&mut c);
    assert_eq!(c.body_timeout, Duration::from_millis(250));
    assert_eq!(c.idle_timeout, Duration::from_secs(120));
    let e = hookpit::hookfile::parse(
        "[server]\nidle_timeout = 0\n",
        "hookpit.toml",
        std::path::Path::new("."),
    )
    .expect_err("zero is refused")
    .to_string();
    assert!(e.contains("idle_timeout"), "{e}");
}

#[tokio::test]
async fn the_body_timeout_flag_reaches_the_server() {
    let s = spawn_serve(&["--body-timeout", "300ms", "--idle-timeout", "10m"]);
    let addr: std::net::SocketAddr = s.announced["listen"].as_str().unwrap().parse().unwrap();
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"POST /flag HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab")
        .await
        .unwrap();
    let out = read_until_quiet(&mut c, CLOSE).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("300ms"), "{text}");
}

#[cfg(target_os = "linux")]
#[test]
fn serve_raises_the_soft_open_files_limit_to_the_hard_one() {
    // start the real binary with a low soft limit, as many systems do
    let mut child = std::process::Command::new("sh")
        .args([
            "-c",
            "ulimit -Sn 256 && exec \"$0\" serve --listen 127.0.0.1:0 --print-json",
            bin_path(),
        ])
        .env_remove("HOOKPIT_CONFIG")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn hookpit");
    // the address is announced once the limit has been raised
    let out = lines_of(child.stdout.take().expect("stdout"));
    next_line(&out);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id()));
    let _ = child.kill();
    let _ = child.wait();
    let limits = limits.expect("limits readable");
    let row: Vec<&str> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("an open files row")
        .split_whitespace()
        .collect();
    // "Max open files  SOFT  HARD  files"
    assert_eq!(row[3], row[4], "{limits}");
    assert_ne!(row[3], "256");
}

#[tokio::test]
async fn a_refused_body_is_read_to_its_end_so_a_client_still_sending_it_reads_the_answer_and_goes_on(
) {
    let s = start_with(Config {
        max_body: 1000,
        max_memory: 1024 * 1024,
        ..Config::for_tests()
    })
    .await;
    let mb = 1 << 20;
    // a capture past --max-body: the first 1,000 bytes are kept, the rest read and dropped
    let (refusal, next) =
        refused_then_next(&s, "POST /big HTTP/1.1\r\nHost: a\r\n", mb, 2000).await;
    assert_eq!(refusal, ["HTTP/1.1 413 Payload Too Large"]);
    assert_eq!(next, ["HTTP/1.1 200 OK"]);
    assert_eq!(s.requests("big")[0].body.bytes.len(), 1000);
    // an import file whose declared length is past its limit is refused before it is read
    let import = format!(
        "POST /_/api/bins/to/import HTTP/1.1\r\nHost: {}\r\n",
        s.addr()
    );
    let (refusal, next) = refused_then_next(&s, &import, mb, 0).await;
    assert_eq!(refusal, ["HTTP/1.1 413 Payload Too Large"]);
    assert_eq!(next, ["HTTP/1.1 200 OK"]);
    // and so is an API call the access check refuses (a Host that is not this server's)
    let foreign = "POST /_/api/bins/to/import HTTP/1.1\r\nHost: evil.example\r\n";
    let (refusal, next) = refused_then_next(&s, foreign, mb, 1000).await;
    assert_eq!(refusal, ["HTTP/1.1 403 Forbidden"]);
    assert_eq!(next, ["HTTP/1.1 200 OK"]);
    assert_eq!(s.requests("after").len(), 3);
    assert!(s.requests("to").is_empty());
}

#[tokio::test]
async fn a_refused_body_is_read_on_for_at_most_64_mib_then_its_connection_is_closed() {
    let s = start_with(Config {
        max_body: 1000,
        ..Config::for_tests()
    })
    .await;
    let mut c = TcpStream::connect(s.addr()).await.unwrap();
    c.write_all(b"POST /endless HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    let chunk = [b"100000\r\n".as_slice(), &vec![b'x'; 1 << 20], b"\r\n"].concat();
    let mut sent_mib = 0;
    while c.write_all(&chunk).await.is_ok() {
        sent_mib += 1;
        assert!(
            sent_mib < 200,
            "the server still reads after {sent_mib} MiB"
        );
    }
    // what it read past the limit was dropped, and the refusal went out first
    assert!(sent_mib >= 64, "closed after {sent_mib} MiB");
    assert_eq!(s.requests("endless")[0].body.bytes.len(), 1000);
    assert_eq!(s.requests("endless")[0].response.status, 413);
}
