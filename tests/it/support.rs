//! Test support: start a hookpit in-process on 127.0.0.1:0, send raw bytes or simple HTTP
//! requests to it, read its websocket feed, and spawn the real binary (whose output is read
//! with a timeout: a child that goes quiet fails the test instead of hanging the suite).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use hookpit::{Config, Server, ServerHandle};
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// A server with test defaults.
pub async fn start() -> ServerHandle {
    start_with(Config::for_tests()).await
}

/// A server with a given configuration.
pub async fn start_with(config: Config) -> ServerHandle {
    Server::start(config).await.expect("server starts")
}

/// An answer: status, headers (lower-case names), body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one HTTP/1.1 request with hyper's client.
pub async fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Answer {
    let uri: hyper::Uri = url.parse().expect("valid url");
    let addr = format!(
        "{}:{}",
        uri.host().expect("host"),
        uri.port_u16().unwrap_or(80)
    );
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut b = hyper::Request::builder()
        .method(method)
        .uri(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        b = b.header("host", uri.authority().expect("authority").as_str());
    }
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let resp = send
        .send_request(b.body(Full::new(body.into())).expect("request"))
        .await
        .expect("response");
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    Answer {
        status,
        headers,
        body,
    }
}

pub async fn get(url: &str) -> Answer {
    http("GET", url, &[], Bytes::new()).await
}

pub async fn post(url: &str, body: &str) -> Answer {
    http(
        "POST",
        url,
        &[("content-type", "application/json")],
        Bytes::copy_from_slice(body.as_bytes()),
    )
    .await
}

pub async fn delete(url: &str) -> Answer {
    http("DELETE", url, &[], Bytes::new()).await
}

/// `PUT /_/api/bins/{bin}` with `body` as sent (JSON or not).
pub async fn put_bin(s: &ServerHandle, bin: &str, body: impl Into<Bytes>) -> Answer {
    http(
        "PUT",
        &format!("{}/_/api/bins/{bin}", s.base_url()),
        &[("content-type", "application/json")],
        body,
    )
    .await
}

/// Sets `bin`'s whole config; the answer says whether it was taken.
pub async fn configure(s: &ServerHandle, bin: &str, config: serde_json::Value) -> Answer {
    put_bin(s, bin, config.to_string()).await
}

/// Writes raw bytes on a fresh connection and reads until the server closes it or `wait`
/// passes without more data.
pub async fn raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    read_until_quiet(&mut s, wait).await
}

/// Reads from a socket until it closes or stays quiet for `wait`.
pub async fn read_until_quiet(s: &mut TcpStream, wait: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match tokio::time::timeout(wait, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return out,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads until at least `n` status lines arrived, the socket closed, or `wait` passed quietly.
pub async fn read_answers(s: &mut TcpStream, n: usize, wait: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while status_lines(&out).len() < n {
        match tokio::time::timeout(wait, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(k)) => out.extend_from_slice(&buf[..k]),
        }
    }
    out
}

/// Sends `head` (the request line and its headers) declaring a body of `total` bytes and the
/// first `first` of them, reads the answer, then sends the rest and a second request on the
/// same connection: returns both answers' status lines.
pub async fn refused_then_next(
    s: &ServerHandle,
    head: &str,
    total: usize,
    first: usize,
) -> (Vec<String>, Vec<String>) {
    let mut c = TcpStream::connect(s.addr()).await.unwrap();
    c.write_all(format!("{head}Content-Length: {total}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    c.write_all(&vec![b'x'; first]).await.unwrap();
    let refusal = status_lines(&read_answers(&mut c, 1, Duration::from_secs(5)).await);
    // a server that closed on the unread rest would have the kernel reset these writes
    let rest = c.write_all(&vec![b'x'; total - first]).await;
    let next = c.write_all(b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert!(
        rest.is_ok() && next.is_ok(),
        "{refusal:?} {rest:?} {next:?}"
    );
    (
        refusal,
        status_lines(&read_answers(&mut c, 1, Duration::from_secs(5)).await),
    )
}

/// Counts HTTP responses in raw bytes by their status lines.
pub fn status_lines(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    text.match_indices("HTTP/1.")
        .filter_map(|(i, _)| text[i..].split("\r\n").next())
        .filter(|l| l.len() >= 12 && l.as_bytes()[8] == b' ')
        .map(str::to_owned)
        .collect()
}

/// A websocket on the live feed.
pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

pub async fn ws(server: &ServerHandle, query: &str) -> Ws {
    let url = format!("ws://{}/_/ws{}", server.addr(), query);
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connects");
    ws
}

/// The next JSON text message, within `wait`.
pub async fn next_json(ws: &mut Ws, wait: Duration) -> Option<serde_json::Value> {
    loop {
        match tokio::time::timeout(wait, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                return Some(serde_json::from_str(t.as_str()).expect("feed sends JSON"))
            }
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

/// Reads `request` messages until `n` arrived (other types are skipped); returns their ids.
pub async fn request_ids(ws: &mut Ws, n: usize, wait: Duration) -> Vec<u64> {
    let mut ids = Vec::new();
    while ids.len() < n {
        match next_json(ws, wait).await {
            Some(v) if v["type"] == "request" => ids.push(v["request"]["id"].as_u64().expect("id")),
            Some(_) => {}
            None => break,
        }
    }
    ids
}

/// The real binary.
/// A fresh directory under the system temp dir.
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).unwrap();
    let name: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let d = std::env::temp_dir().join(format!("hookpit-{tag}-{name}"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn bin_path() -> &'static str {
    env!("CARGO_BIN_EXE_hookpit")
}

/// A running `hookpit serve`, killed on drop.
pub struct Spawned {
    pub child: std::process::Child,
    pub announced: serde_json::Value,
    /// The server's stdout after its first line (take it, e.g. into [`lines_of`]).
    pub stdout: Option<std::io::BufReader<std::process::ChildStdout>>,
}

impl Spawned {
    pub fn base(&self) -> String {
        format!(
            "http://{}",
            self.announced["listen"].as_str().expect("listen")
        )
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `hookpit serve --listen 127.0.0.1:0 --print-json ARGS` and reads the announced
/// addresses from its first stdout line.
pub fn spawn_serve(args: &[&str]) -> Spawned {
    spawn_serve_at("127.0.0.1:0", args)
}

/// Spawns `hookpit serve --listen LISTEN --print-json ARGS` (a fixed port: a restart).
pub fn spawn_serve_at(listen: &str, args: &[&str]) -> Spawned {
    let mut child = std::process::Command::new(bin_path())
        .args(["serve", "--listen", listen, "--print-json"])
        .args(args)
        .env_remove("HOOKPIT_CONFIG")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("spawn hookpit");
    let (stdout, line) = match first_line(child.stdout.take().expect("stdout")) {
        Ok(read) => read,
        Err(why) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hookpit serve {args:?} did not announce its address: {why}");
        }
    };
    let announced: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("first line is JSON ({e}): {line:?}"));
    Spawned {
        child,
        announced,
        stdout: Some(stdout),
    }
}

/// Waits for a child to exit, killing it and failing the test after [`CLI_LIMIT`].
pub fn wait_within(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + CLI_LIMIT;
    loop {
        if let Some(status) = child.try_wait().expect("the child's status") {
            return status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child was still running after {CLI_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs a client command of the real binary against `server`; returns (exit code, stdout, stderr).
/// A command that has not finished after [`CLI_LIMIT`] fails the test.
pub fn run_cli(server: &str, args: &[&str]) -> (i32, String, String) {
    run_within(
        std::process::Command::new(bin_path())
            .args(args)
            .env("HOOKPIT_SERVER", server)
            .env("NO_COLOR", "1")
            .env_remove("HOOKPIT_TOKEN"),
    )
}

/// Runs `cmd` to its end and returns (exit code, stdout, stderr), like `Command::output`,
/// except that a command still running after [`CLI_LIMIT`] is killed and fails the test.
pub fn run_within(cmd: &mut std::process::Command) -> (i32, String, String) {
    let out = output_within(cmd);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `Command::output` (stdin empty), except that a command still running after [`CLI_LIMIT`] is
/// killed and fails the test.
pub fn output_within(cmd: &mut std::process::Command) -> std::process::Output {
    let args = format!("{cmd:?}");
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {args}: {e}"));
    let out = all_of(child.stdout.take().expect("stdout"));
    let err = all_of(child.stderr.take().expect("stderr"));
    let status = wait_within(&mut child);
    let read = |rx: std::sync::mpsc::Receiver<Vec<u8>>| {
        rx.recv_timeout(LINE_WAIT)
            .unwrap_or_else(|e| panic!("{args}: no output: {e}"))
    };
    std::process::Output {
        status,
        stdout: read(out),
        stderr: read(err),
    }
}

/// The longest a command (such as a client command of the real binary) may run in a test.
pub const CLI_LIMIT: Duration = Duration::from_secs(60);

/// The longest a test waits for the next line a child prints.
pub const LINE_WAIT: Duration = Duration::from_secs(10);

/// Everything `out` yields until it ends, read on a thread (so stdout and stderr both drain).
pub fn all_of(out: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = out;
        let mut bytes = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut bytes);
        let _ = tx.send(bytes);
    });
    rx
}

/// The first line `out` prints, read on a thread so that a child which never prints fails the
/// test after 30 s; the reader is handed back for the lines after it.
pub fn first_line<R: std::io::Read + Send + 'static>(
    out: R,
) -> Result<(std::io::BufReader<R>, String), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut r = std::io::BufReader::new(out);
        let mut line = String::new();
        let got = r.read_line(&mut line).map(|_| (r, line));
        let _ = tx.send(got);
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok((r, line))) if !line.is_empty() => Ok((r, line)),
        Ok(Ok(_)) => Err("its output ended".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("nothing within 30 s".into()),
    }
}

/// The lines a child prints, read on a thread so a test can wait for one with a timeout (and
/// the child never blocks on a full pipe).
pub fn lines_of(out: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut r = std::io::BufReader::new(out);
        loop {
            let mut l = String::new();
            match r.read_line(&mut l) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// The next line within [`LINE_WAIT`], or the test fails: a child that goes quiet must fail
/// the test, not hang the suite.
pub fn next_line(rx: &std::sync::mpsc::Receiver<String>) -> String {
    rx.recv_timeout(LINE_WAIT)
        .unwrap_or_else(|e| panic!("no line within {LINE_WAIT:?}: {e}"))
}

/// Reads lines until one contains `text` (returning it), failing the test when none has
/// within [`LINE_WAIT`].
pub fn line_containing(rx: &std::sync::mpsc::Receiver<String>, text: &str) -> String {
    let deadline = std::time::Instant::now() + LINE_WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(text) => return line,
            Ok(_) => {}
            Err(e) => panic!("no line containing {text:?} within {LINE_WAIT:?}: {e}"),
        }
    }
}
