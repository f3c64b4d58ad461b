//! The provider kit under hostile input: trigger requests, replay edits, the signature doctor,
//! the HTTPS listener and a bin's rate limit, each pushed past its bounds against a real
//! hookpit. Every answer must be bounded, prompt and say what was wrong.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookpit::{Config, ServerHandle};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};
use tokio::net::TcpStream;

use crate::support::{self, post};

/// A request body that never sends a byte and never ends.
struct Stalled;

impl hyper::body::Body for Stalled {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        Poll::Pending
    }
}

/// An HTTP/2 connection over TLS (ALPN `h2`) to `s`'s HTTPS listener, trusting its certificate;
/// returns the sender and the connection's task, which ends when the server closes it.
async fn h2_over_tls<B>(
    s: &ServerHandle,
) -> (
    hyper::client::conn::http2::SendRequest<B>,
    tokio::task::JoinHandle<()>,
)
where
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tls = s.tls().expect("an HTTPS listener");
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(tls.cert_pem.as_bytes()) {
        roots.add(c.expect("a PEM certificate")).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(tls.addr).await.expect("connect");
    let name = ServerName::try_from("localhost".to_owned()).unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .expect("TLS handshake");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("h2 handshake");
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    (send, task)
}

async fn trigger_api(s: &ServerHandle, body: Value) -> support::Answer {
    post(
        &format!("{}/_/api/trigger", s.base_url()),
        &body.to_string(),
    )
    .await
}

#[tokio::test]
async fn a_megabyte_event_or_provider_name_is_refused_promptly_with_a_short_message() {
    let s = support::start().await;
    let bin = s.fresh_bin();
    let huge = "x".repeat(1024 * 1024);
    for body in [
        json!({"provider": "stripe", "event": huge, "url": bin.url()}),
        json!({"provider": huge, "event": "ping", "url": bin.url()}),
    ] {
        let started = Instant::now();
        let a = trigger_api(&s, body).await;
        let took = started.elapsed();
        assert_eq!(a.status, 400, "{}", a.text());
        assert!(
            a.body.len() < 2048,
            "the refusal echoes the name: {} bytes",
            a.body.len()
        );
        assert!(
            took < Duration::from_secs(2),
            "guessing the nearest name took {took:?}"
        );
    }
}

#[tokio::test]
async fn trigger_headers_that_frame_the_request_or_its_connection_are_refused_naming_them() {
    let s = support::start().await;
    let bin = s.fresh_bin();
    for name in [
        "Content-Length",
        "transfer-encoding",
        "Host",
        "Connection",
        "Upgrade",
    ] {
        let a = trigger_api(
            &s,
            json!({"provider": "github", "event": "ping", "url": bin.url(),
                   "headers": [[name, "5"]]}),
        )
        .await;
        assert_eq!(a.status, 400, "{name}: {}", a.text());
        let message = a.json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        assert!(
            message.starts_with("headers:") && message.contains(name),
            "{name}: {message}"
        );
    }
    // a header of the request itself still goes out
    let a = trigger_api(
        &s,
        json!({"provider": "github", "event": "ping", "url": bin.url(),
               "headers": [["X-Extra", "1"]]}),
    )
    .await;
    assert_eq!(a.json()["status"], 200, "{}", a.text());
    let r = bin
        .wait_for("method:POST", Duration::from_secs(10))
        .await
        .expect("the request arrives");
    assert_eq!(r.header("x-extra").as_deref(), Some("1"));
    assert_eq!(bin.requests().len(), 1, "only the last trigger was sent");
}

#[tokio::test]
async fn an_h2_stream_whose_body_stalls_gets_408_and_an_idle_h2_connection_is_closed() {
    let mut config = Config::for_tests().tls_listen("127.0.0.1:0".parse().unwrap());
    config.body_timeout = Duration::from_millis(500);
    config.idle_timeout = Duration::from_secs(1);
    let s = support::start_with(config).await;
    let (mut send, conn) = h2_over_tls(&s).await;
    let port = s.tls().expect("an HTTPS listener").addr.port();
    let req = hyper::Request::builder()
        .method("POST")
        .uri(format!("https://localhost:{port}/h2-stall"))
        .body(Stalled)
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), send.send_request(req))
        .await
        .expect("a stalled body is answered within the body timeout")
        .expect("an answer");
    assert_eq!(answer.status(), 408);
    drop(answer);
    let r = s
        .bin("h2-stall")
        .wait_for("method:POST", Duration::from_secs(10))
        .await
        .expect("the stalled request is recorded");
    assert!(r.body.truncated);
    // nothing more is asked: the connection is idle and closed after the idle timeout
    tokio::time::timeout(Duration::from_secs(10), conn)
        .await
        .expect("an idle h2 connection is closed")
        .unwrap();
}

#[tokio::test]
async fn trigger_data_from_an_endless_source_is_refused_past_the_limit() {
    let s = support::start().await;
    let bin = s.fresh_bin();
    let url = bin.url().to_owned();
    let (code, _, err) = tokio::task::spawn_blocking(move || {
        support::run_within(
            std::process::Command::new(support::bin_path())
                .args(["trigger", "stripe", "invoice.paid", "--to", &url])
                .args(["--data", "/dev/zero"])
                .env("NO_COLOR", "1"),
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--data: /dev/zero holds more than 1048576 bytes"),
        "{err}"
    );
    assert!(bin.requests().is_empty());
}

#[tokio::test]
async fn over_h2_a_request_head_may_be_as_large_as_over_http1() {
    let config = Config::for_tests().tls_listen("127.0.0.1:0".parse().unwrap());
    let limit = config.max_header_size;
    let s = support::start_with(config).await;
    let (mut send, _conn) = h2_over_tls::<http_body_util::Full<Bytes>>(&s).await;
    let port = s.tls().expect("an HTTPS listener").addr.port();
    // well past HTTP/2's usual 16 KiB, within the server's own limit
    let big = "v".repeat(limit / 2);
    let req = hyper::Request::builder()
        .method("POST")
        .uri(format!("https://localhost:{port}/h2-big-head"))
        .header("x-big", &big)
        .body(http_body_util::Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), send.send_request(req))
        .await
        .expect("an answer in time")
        .expect("an answer");
    assert_eq!(answer.status(), 200);
    let r = s
        .bin("h2-big-head")
        .wait_for("method:POST", Duration::from_secs(10))
        .await
        .expect("recorded");
    assert_eq!(r.header("x-big").as_deref(), Some(big.as_str()));
}

#[tokio::test]
async fn plain_http_sent_to_the_https_port_is_told_to_use_https() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s =
        support::start_with(Config::for_tests().tls_listen("127.0.0.1:0".parse().unwrap())).await;
    let addr = s.tls().expect("an HTTPS listener").addr;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"POST /plain HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}")
        .await
        .unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut got))
        .await
        .expect("answered and closed in time")
        .expect("read");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
    assert!(
        text.contains(&format!("https://localhost:{}/", addr.port())),
        "{text}"
    );
    assert!(s.store().latest(None).is_none(), "nothing was captured");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_and_triggers_waiting_on_a_silent_target_are_capped_and_the_rest_told_busy() {
    let s = support::start().await;
    let caught = post(&format!("{}/b/x", s.base_url()), "{}").await;
    let id = caught.json()["id"].as_u64().unwrap();
    // a target that accepts connections and never answers
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/hook", silent.local_addr().unwrap());
    let (held_tx, mut held_rx) = tokio::sync::mpsc::unbounded_channel();
    let acceptor = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            held.push(sock);
            let _ = held_tx.send(held.len());
        }
    });
    let replay_url = format!("{}/_/api/requests/{id}/replay", s.base_url());
    let body = json!({"url": target, "timeout": "1m"}).to_string();
    let mut waiting = Vec::new();
    for _ in 0..hookpit::api::MAX_SENDS {
        let (u, b) = (replay_url.clone(), body.clone());
        waiting.push(tokio::spawn(async move { post(&u, &b).await }));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut connected = 0;
    while connected < hookpit::api::MAX_SENDS {
        connected = tokio::time::timeout_at(deadline.into(), held_rx.recv())
            .await
            .expect("every replay reaches the target")
            .unwrap();
    }
    // one more of either kind is refused at once, saying why
    let more = post(&replay_url, &body).await;
    assert_eq!(more.status, 503, "{}", more.text());
    assert_eq!(more.json()["error"]["code"], "busy");
    let trigger = post(
        &format!("{}/_/api/trigger", s.base_url()),
        &json!({"provider": "github", "event": "ping", "url": target}).to_string(),
    )
    .await;
    assert_eq!(trigger.status, 503, "{}", trigger.text());
    // the target goes away: the waiting replays end and turns are free again
    acceptor.abort();
    let _ = acceptor.await;
    for w in waiting {
        let a = tokio::time::timeout(Duration::from_secs(20), w)
            .await
            .expect("a replay ends once its target closes")
            .unwrap();
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(a.json()["ok"], false);
    }
    let again = post(
        &replay_url,
        &json!({"url": s.catch_url("back")}).to_string(),
    )
    .await;
    assert_eq!(again.json()["ok"], true, "{}", again.text());
}
