//! HTTPS: a hookpit with `--tls-listen` captures over HTTPS (HTTP/1.1 and h2 by ALPN) what the
//! API then shows over both listeners; its live feed works over wss; the made certificate names
//! localhost, 127.0.0.1 and ::1, has the announced fingerprint and stays the same across restarts
//! with a data directory; given PEM files are served; bad files stop `serve` with exit 2 and one
//! line naming the file; a stalled or plain-HTTP handshake is dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hookpit::{Config, ServerHandle};
use http_body_util::{BodyExt, Full};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

/// A TLS client that trusts only `cert_pem` and offers `alpn`.
fn client(cert_pem: &str, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
        roots.add(c.expect("a PEM certificate")).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
}

/// Connects to `addr` over TLS, checking the certificate against `name`.
async fn connect(
    cert_pem: &str,
    addr: SocketAddr,
    name: &str,
    alpn: &[&[u8]],
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(name.to_owned()).unwrap();
    client(cert_pem, alpn).connect(name, tcp).await
}

/// The SHA-256 fingerprint of the certificate the server showed, as `AA:BB:…`.
fn shown_fingerprint(s: &TlsStream<TcpStream>) -> String {
    let der = &s.get_ref().1.peer_certificates().expect("a certificate")[0];
    hookpit::tls::fingerprint(der)
}

/// One HTTP/1.1 request over a TLS stream.
async fn https1(
    s: TlsStream<TcpStream>,
    method: &str,
    authority: &str,
    path: &str,
    body: &str,
) -> Answer {
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(s))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", authority)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
        .unwrap();
    answer(send.send_request(req).await.expect("an answer")).await
}

async fn answer(r: hyper::Response<hyper::body::Incoming>) -> Answer {
    let status = r.status().as_u16();
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = r.into_body().collect().await.expect("a body").to_bytes();
    Answer {
        status,
        headers,
        body,
    }
}

async fn start_tls() -> ServerHandle {
    start_with(Config::for_tests().tls_listen("127.0.0.1:0".parse().unwrap())).await
}

fn tls_addr(s: &ServerHandle) -> SocketAddr {
    s.tls().expect("an HTTPS listener").addr
}

#[tokio::test]
async fn a_capture_over_https_is_recorded_and_seen_in_the_api_over_both_listeners() {
    let s = start_tls().await;
    let t = s.tls().unwrap().clone();
    assert_eq!(
        s.tls_base_url().unwrap(),
        format!("https://{}", t.addr),
        "the embedding API names the https address"
    );
    // the certificate names localhost, 127.0.0.1 and ::1, and no one else
    for name in ["localhost", "127.0.0.1", "::1"] {
        let c = connect(&t.cert_pem, t.addr, name, &[b"http/1.1"])
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            shown_fingerprint(&c),
            t.fingerprint,
            "the announced fingerprint"
        );
    }
    assert!(
        connect(&t.cert_pem, t.addr, "example.com", &[b"http/1.1"])
            .await
            .is_err(),
        "a name the certificate does not carry is refused by the client"
    );
    let c = connect(&t.cert_pem, t.addr, "localhost", &[b"h2", b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(
        c.get_ref().1.alpn_protocol(),
        Some(&b"h2"[..]),
        "h2 by ALPN"
    );
    drop(c);
    let c = connect(&t.cert_pem, t.addr, "localhost", &[b"http/1.1"])
        .await
        .unwrap();
    let a = https1(
        c,
        "POST",
        "localhost",
        "/secure/hook?x=1",
        r#"{"paid":true}"#,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["bin"], "secure");
    // h2 over TLS too
    let c = connect(&t.cert_pem, t.addr, "localhost", &[b"h2"])
        .await
        .unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(c),
    )
    .await
    .expect("h2 handshake");
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .method("PUT")
        .uri(format!("https://localhost:{}/secure/h2", t.addr.port()))
        .body(Full::new(Bytes::from_static(b"two")))
        .unwrap();
    let a = answer(send.send_request(req).await.unwrap()).await;
    assert_eq!(a.status, 200);
    // the API shows both, over the plain listener and over HTTPS
    let plain = get(&format!("{}/_/api/bins/secure/requests", s.base_url()))
        .await
        .json();
    let c = connect(&t.cert_pem, t.addr, "localhost", &[b"http/1.1"])
        .await
        .unwrap();
    let host = format!("localhost:{}", t.addr.port());
    let secure = https1(c, "GET", &host, "/_/api/bins/secure/requests", "")
        .await
        .json();
    assert_eq!(plain["requests"], secure["requests"]);
    let mut got: Vec<(String, String, String)> = plain["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_owned(),
                r["path"].as_str().unwrap().to_owned(),
                r["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("POST".into(), "/secure/hook".into(), "HTTP/1.1".into()),
            ("PUT".into(), "/secure/h2".into(), "HTTP/2.0".into()),
        ]
    );
}

#[tokio::test]
async fn the_live_feed_works_over_wss() {
    let s = start_tls().await;
    let t = s.tls().unwrap().clone();
    let c = connect(&t.cert_pem, t.addr, "localhost", &[b"http/1.1"])
        .await
        .unwrap();
    let url = format!("wss://localhost:{}/_/ws?bin=wss", t.addr.port());
    let (mut ws, _) = tokio_tungstenite::client_async(url, c)
        .await
        .expect("the websocket upgrades over TLS");
    let wait = Duration::from_secs(5);
    let hello = loop {
        match tokio::time::timeout(wait, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                break serde_json::from_str::<serde_json::Value>(&t).unwrap()
            }
            Ok(Some(Ok(_))) => continue,
            other => panic!("no hello over wss: {other:?}"),
        }
    };
    assert_eq!(hello["type"], "hello", "{hello}");
    let c = connect(&t.cert_pem, t.addr, "localhost", &[b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(
        https1(c, "POST", "localhost", "/wss/x", "{}").await.status,
        200
    );
    let got = loop {
        match tokio::time::timeout(wait, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "request" {
                    break v;
                }
            }
            Ok(Some(Ok(_))) => continue,
            other => panic!("no request message over wss: {other:?}"),
        }
    };
    assert_eq!(got["request"]["path"], "/wss/x");
    let _ = ws.send(Message::Close(None)).await;
}

#[tokio::test]
async fn a_handshake_that_stalls_or_is_plain_http_is_dropped_within_the_header_timeout() {
    let mut config = Config::for_tests().tls_listen("127.0.0.1:0".parse().unwrap());
    config.header_timeout = Duration::from_secs(1);
    let s = start_with(config).await;
    let addr = tls_addr(&s);
    // connects and sends nothing; sends half a ClientHello; speaks plain HTTP
    let half_hello: &[u8] = &[
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    let plain: &[u8] = b"POST /plain HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}";
    for (what, bytes) in [
        ("nothing", &b""[..]),
        ("half a ClientHello", half_hello),
        ("plain HTTP", plain),
    ] {
        let started = Instant::now();
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(bytes).await.unwrap();
        let mut buf = [0u8; 1024];
        let mut closed = false;
        while started.elapsed() < Duration::from_secs(5) {
            match tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    closed = true;
                    break;
                }
                // an alert may come first: keep reading until the close
                Ok(Ok(_)) => continue,
                Err(_) => break,
            }
        }
        assert!(closed, "{what}: the connection was closed");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{what}: closed after {:?}",
            started.elapsed()
        );
    }
    assert!(
        s.store().latest(None).is_none(),
        "nothing was captured from a failed handshake"
    );
    // the listener still serves
    let t = s.tls().unwrap().clone();
    let c = connect(&t.cert_pem, addr, "127.0.0.1", &[b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(
        https1(c, "POST", "127.0.0.1", "/after", "{}").await.status,
        200
    );
}

#[tokio::test]
async fn given_certificate_and_key_files_are_served() {
    let dir = temp_dir("tls-files");
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["hooks.test".to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.join("c.pem"), dir.join("k.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let mut config = Config::for_tests().tls_listen("127.0.0.1:0".parse().unwrap());
    config.tls_cert = Some(cert_path);
    config.tls_key = Some(key_path);
    let s = start_with(config).await;
    let t = s.tls().unwrap().clone();
    assert_eq!(t.fingerprint, hookpit::tls::fingerprint(cert.der()));
    let c = connect(&cert.pem(), t.addr, "hooks.test", &[b"http/1.1"])
        .await
        .expect("the given certificate is served");
    assert_eq!(shown_fingerprint(&c), t.fingerprint);
    assert_eq!(
        https1(c, "POST", "hooks.test", "/given", "{}").await.status,
        200
    );
}

/// The fingerprint the banner prints (`cert    SHA-256 AA:…`).
fn banner_fingerprint(s: &mut Spawned) -> String {
    let lines = lines_of(s.stdout.take().expect("stdout"));
    let line = line_containing(&lines, "SHA-256");
    line.split_whitespace().last().unwrap().to_owned()
}

fn stop_cleanly(s: &mut Spawned) {
    // SAFETY: kill only sends a signal to the child's pid.
    assert_eq!(unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) }, 0);
    assert_eq!(wait_within(&mut s.child).code(), Some(0));
}

#[test]
fn serve_announces_https_and_keeps_its_certificate_in_the_data_dir_across_restarts() {
    let dir = temp_dir("tls-keep");
    let data = dir.join("data");
    let config = dir.join("hookpit.toml");
    std::fs::write(&config, "[server]\ntls_listen = \"127.0.0.1:0\"\n").unwrap();
    let args = [
        "--data-dir",
        data.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ];
    let mut first = spawn_serve(&args);
    let tls = first.announced["tls"]
        .as_str()
        .expect("tls announced")
        .to_owned();
    assert!(tls.starts_with("https://127.0.0.1:"), "{tls}");
    let printed = banner_fingerprint(&mut first);
    let kept = std::fs::read(data.join("tls/cert.pem")).unwrap();
    let der = CertificateDer::from_pem_slice(&kept).unwrap();
    assert_eq!(
        printed,
        hookpit::tls::fingerprint(&der),
        "the banner's fingerprint is the kept certificate's"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("tls/key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the key is its owner's alone");
    }
    // trust what was kept, and capture over HTTPS
    let addr: SocketAddr = tls.trim_start_matches("https://").parse().unwrap();
    let pem = String::from_utf8(kept).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let a = rt.block_on(async {
        let c = connect(&pem, addr, "127.0.0.1", &[b"http/1.1"])
            .await
            .unwrap();
        https1(c, "POST", "127.0.0.1", "/kept/1", "{}").await
    });
    assert_eq!(a.status, 200);
    stop_cleanly(&mut first);
    let mut second = spawn_serve(&args);
    assert_eq!(
        banner_fingerprint(&mut second),
        printed,
        "the same certificate after a restart"
    );
    let (code, out, _) = run_cli(&second.base(), &["ls", "kept", "--json"]);
    assert_eq!(code, 0);
    assert!(out.contains("/kept/1"), "{out}");
    // without --tls-listen: no HTTPS, announced as null
    drop(second);
    let plain = spawn_serve(&[]);
    assert!(plain.announced["tls"].is_null(), "{}", plain.announced);
}

#[test]
fn each_bad_certificate_or_key_stops_serve_with_exit_2_and_one_line_naming_it() {
    let dir = temp_dir("tls-bad");
    // a good pair, and a key of another certificate
    let make = |tag: &str| {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (c, k) = (
            dir.join(format!("{tag}-cert.pem")),
            dir.join(format!("{tag}-key.pem")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    };
    let (cert, _) = make("a");
    let (_, other_key) = make("b");
    let junk = dir.join("junk.pem");
    std::fs::write(&junk, "not a pem file\n").unwrap();
    let missing = dir.join("missing.pem");
    let p = |x: &std::path::Path| x.to_str().unwrap().to_owned();
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec![
                "--tls-cert".into(),
                p(&missing),
                "--tls-key".into(),
                p(&other_key),
            ],
            p(&missing),
        ),
        (
            vec![
                "--tls-cert".into(),
                p(&junk),
                "--tls-key".into(),
                p(&other_key),
            ],
            p(&junk),
        ),
        (
            vec!["--tls-cert".into(), p(&cert), "--tls-key".into(), p(&junk)],
            p(&junk),
        ),
        (
            vec![
                "--tls-cert".into(),
                p(&cert),
                "--tls-key".into(),
                p(&other_key),
            ],
            p(&other_key),
        ),
        (vec!["--tls-cert".into(), p(&cert)], "--tls-key".into()),
        (vec!["--tls-key".into(), p(&other_key)], "--tls-cert".into()),
    ];
    for (extra, named) in cases {
        let (code, out, err) = run_within(
            std::process::Command::new(bin_path())
                .args([
                    "serve",
                    "--listen",
                    "127.0.0.1:0",
                    "--tls-listen",
                    "127.0.0.1:0",
                ])
                .args(&extra)
                .env_remove("HOOKPIT_CONFIG")
                .env("NO_COLOR", "1"),
        );
        assert_eq!(code, 2, "{extra:?}: {out}{err}");
        let err = err.trim();
        assert_eq!(err.lines().count(), 1, "{extra:?}: {err}");
        assert!(err.starts_with("error:"), "{err}");
        assert!(err.contains(&named), "{extra:?} should name {named}: {err}");
    }
}

#[tokio::test]
async fn a_data_dir_holding_only_a_kept_certificate_is_taken_as_a_store() {
    let dir = temp_dir("tls-only");
    let data = dir.join("data");
    let config = || {
        let mut c = Config::for_tests().tls_listen("127.0.0.1:0".parse().unwrap());
        c.data_dir = Some(data.clone());
        c
    };
    let first = start_with(config()).await;
    let printed = first.tls().unwrap().fingerprint.clone();
    first.shutdown().await;
    // the store's files go (say, deleted by hand); the certificate stays
    for e in std::fs::read_dir(&data).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with("hookpit.db") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let again = hookpit::Server::start(config())
        .await
        .expect("a directory with only a kept certificate is not foreign");
    assert_eq!(again.tls().unwrap().fingerprint, printed);
}

#[test]
fn a_config_file_names_the_https_address_and_files_relative_to_itself_and_a_bad_one_names_its_line()
{
    let dir = std::path::Path::new("/srv/hooks");
    let f = hookpit::hookfile::parse(
        "[server]\ntls_listen = \"127.0.0.1:4666\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n",
        "hookpit.toml",
        dir,
    )
    .unwrap();
    assert_eq!(f.server.tls_listen, Some("127.0.0.1:4666".parse().unwrap()));
    assert_eq!(f.server.tls_cert, Some(dir.join("c.pem")));
    assert_eq!(f.server.tls_key, Some(dir.join("k.pem")));
    let e = hookpit::hookfile::parse("[server]\n\ntls_listen = \"nope\"\n", "hookpit.toml", dir)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("hookpit.toml:3: server.tls_listen: expected an address"),
        "{e}"
    );
}

#[test]
fn certificate_files_without_an_https_address_are_refused() {
    let (code, _, err) = run_within(
        std::process::Command::new(bin_path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--tls-cert", "c.pem", "--tls-key", "k.pem"])
            .env_remove("HOOKPIT_CONFIG")
            .env("NO_COLOR", "1"),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--tls-listen"), "{err}");
}

#[tokio::test]
async fn a_replay_or_forward_never_reaches_the_api_through_the_https_listener_either() {
    let s = start_tls().await;
    let caught = post(&format!("{}/b/x", s.base_url()), "{}").await;
    assert_eq!(caught.status, 200);
    let id = caught.json()["id"].as_u64().unwrap();
    let own_api = format!("https://127.0.0.1:{}/_/api/health", tls_addr(&s).port());
    let a = post(
        &format!("{}/_/api/requests/{id}/replay", s.base_url()),
        &serde_json::json!({"url": own_api, "insecure_tls": true}).to_string(),
    )
    .await;
    let answer = a.json();
    assert_eq!(answer["ok"], false, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or("")
            .contains("reserved /_/ prefix"),
        "{answer}"
    );
}
