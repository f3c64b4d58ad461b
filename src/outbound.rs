//! The one outbound HTTP client, shared by replay, forwarding and the sender: `http` and `https`
//! (rustls with the usual web roots; a per-call `insecure_tls` for local apps with self-signed
//! certificates), a whole-exchange timeout, redirects not followed, response bodies kept up to a
//! limit. Also hookpit's hop marker: every request it forwards, replays or sends carries a `Via:
//! 1.1 hookpit-<instance>` entry (the sender's with a `(sender)` comment), by which a server
//! recognises a request that already passed through it; and a server's client refuses targets on
//! that server's own reserved `/_/` prefix. A request can also be sent with its head exactly as
//! listed (names' case, order, repeated names apart), for replays of edited requests.
//!
//! Uses `model`, `render` (which headers are end-to-end) and `error`. A refused connection, a
//! timeout or a TLS failure is an [`Outcome`] with an `error` text, never an `Err`: callers report
//! outcomes, they do not fail on them.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::model::Header;

type Http = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One request to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub method: String,
    pub url: String,
    pub headers: Vec<Header>,
    pub body: Bytes,
    pub timeout: Duration,
    pub insecure_tls: bool,
    /// How much of the response body to keep.
    pub keep_body: usize,
}

impl Outgoing {
    /// A captured request sent again to `url`: the exact method, the end-to-end headers in
    /// received order, the exact body, and `via` (this server's [`via_entry`]) appended to its
    /// `Via`. Replay and forwarding both use it.
    pub fn resend(
        r: &crate::model::CapturedRequest,
        url: String,
        timeout: Duration,
        insecure_tls: bool,
        keep_body: usize,
        via: &str,
    ) -> Outgoing {
        let mut headers: Vec<Header> = r
            .headers
            .iter()
            .filter(|h| crate::render::is_end_to_end(&h.name))
            .cloned()
            .collect();
        append_via(&mut headers, via);
        Outgoing {
            method: r.method.to_string(),
            url,
            headers,
            body: r.body.bytes.clone(),
            timeout,
            insecure_tls,
            keep_body,
        }
    }
}

/// The `Via` entry of a request this hookpit instance forwards or replays (`from_sender`:
/// a delivery of its sender, which has not been captured by it).
pub fn via_entry(instance: &str, from_sender: bool) -> String {
    if from_sender {
        format!("1.1 hookpit-{instance} (sender)")
    } else {
        format!("1.1 hookpit-{instance}")
    }
}

/// Appends `entry` to the last `Via` header, or adds one.
pub fn append_via(headers: &mut Vec<Header>, entry: &str) {
    match headers
        .iter_mut()
        .rev()
        .find(|h| h.name.eq_ignore_ascii_case("via"))
    {
        Some(h) => {
            let mut v = h.value.to_vec();
            v.extend_from_slice(b", ");
            v.extend_from_slice(entry.as_bytes());
            *h = Header::new(&*h.name, v);
        }
        None => headers.push(Header::new("Via", entry.as_bytes().to_vec())),
    }
}

/// The `Via` entries naming this hookpit instance: `(from_sender, …)` for each.
fn own_via_entries<'a>(
    headers: &'a [Header],
    instance: &'a str,
) -> impl Iterator<Item = bool> + 'a {
    let me = format!("hookpit-{instance}");
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("via"))
        .flat_map(|h| h.value.split(|b| *b == b','))
        .filter_map(move |entry| {
            let entry = String::from_utf8_lossy(entry);
            let mut words = entry.split_ascii_whitespace();
            let _protocol = words.next()?;
            (words.next()? == me).then(|| words.next().is_some_and(|c| c == "(sender)"))
        })
}

/// Did this request already pass through this hookpit instance (captured, then forwarded or
/// replayed)? A delivery of its own sender does not count: capturing and forwarding that once
/// is how a bin relays test events to an app.
pub fn passed_through(headers: &[Header], instance: &str) -> bool {
    own_via_entries(headers, instance).any(|from_sender| !from_sender)
}

/// Was this request made by this hookpit instance at all (forward, replay or sender)?
pub fn came_from(headers: &[Header], instance: &str) -> bool {
    own_via_entries(headers, instance).next().is_some()
}

/// Does `url` point at the reserved `/_/` prefix of the server listening on `own`? The host
/// matches when it is `localhost` (or `*.localhost`), a loopback or unspecified address, or the
/// bound address; the port must be the bound port. Other names for this machine are caught by
/// the hop marker instead: the API refuses requests that came from itself.
pub fn targets_reserved(url: &str, own: SocketAddr) -> bool {
    let Ok(uri) = url.parse::<hyper::Uri>() else {
        return false;
    };
    let path = uri.path();
    if path != "/_" && !path.starts_with("/_/") {
        return false;
    }
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    });
    if port != own.port() {
        return false;
    }
    let host = uri.host().unwrap_or("").to_ascii_lowercase();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    host.parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified() || ip == own.ip())
}

/// What came back (or did not).
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub status: Option<u16>,
    pub headers: Vec<Header>,
    pub body: Bytes,
    /// The response body went past `keep_body` and was cut.
    pub body_truncated: bool,
    pub latency: Duration,
    pub error: Option<String>,
}

/// The shared client; cheap to clone.
#[derive(Clone)]
pub struct Outbound {
    secure: Http,
    insecure: Http,
    /// The addresses of the server this client belongs to (plain, then HTTPS): its `/_/` is
    /// never a target.
    own: Arc<[SocketAddr]>,
}

impl Default for Outbound {
    fn default() -> Self {
        Outbound::new()
    }
}

fn client(tls: rustls::ClientConfig) -> Http {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(https)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Outbound {
    /// A client with the usual web roots, plus one that skips certificate checks.
    pub fn new() -> Outbound {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let secure = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth());
        let insecure = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map(|b| {
                b.dangerous()
                    .with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
                    .with_no_client_auth()
            });
        match (secure, insecure) {
            (Ok(s), Ok(i)) => Outbound {
                secure: client(s),
                insecure: client(i),
                own: Arc::from([]),
            },
            // the built-in provider supports the default versions; this cannot happen
            _ => unreachable!("rustls ring provider rejects its default protocol versions"),
        }
    }

    /// The client of the server listening on `addr`: it refuses targets on that server's own
    /// reserved `/_/` prefix.
    pub fn for_server(addr: SocketAddr) -> Outbound {
        Outbound::for_listeners(&[addr])
    }

    /// The client of a server listening on each of `addrs` (its plain and HTTPS listeners).
    pub fn for_listeners(addrs: &[SocketAddr]) -> Outbound {
        Outbound {
            own: Arc::from(addrs),
            ..Outbound::new()
        }
    }

    /// Sends one request; never fails, the outcome says what happened.
    pub async fn send(&self, out: Outgoing) -> Outcome {
        self.send_with(out, false).await
    }

    /// Sends one request with its head as listed: over `http`, a fresh connection whose head
    /// carries `out.headers` in their order, with their names' case and their exact bytes
    /// (after the request line, a `Host` from the URL, and the `Content-Length` of the body).
    /// Over `https` the shared client sends it, which writes names in lower case. Replay uses
    /// it; never fails.
    pub async fn send_as_given(&self, out: Outgoing) -> Outcome {
        self.send_with(out, true).await
    }

    async fn send_with(&self, out: Outgoing, as_given: bool) -> Outcome {
        if self.own.iter().any(|own| targets_reserved(&out.url, *own)) {
            return Outcome {
                error: Some(format!(
                    "refused: {} is this hookpit's own reserved /_/ prefix (its viewer and API); \
                     forwards, replays and deliveries never target it",
                    out.url
                )),
                ..Outcome::default()
            };
        }
        let started = Instant::now();
        let exchange = async {
            if as_given {
                self.exchange_as_given(&out).await
            } else {
                self.exchange(&out).await
            }
        };
        let mut outcome = match tokio::time::timeout(out.timeout, exchange).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => Outcome {
                error: Some(e),
                ..Outcome::default()
            },
            Err(_) => Outcome {
                error: Some(format!("timed out after {:?}", out.timeout)),
                ..Outcome::default()
            },
        };
        outcome.latency = started.elapsed();
        outcome
    }

    /// [`Outbound::send_as_given`]'s exchange: hyper writes and reads the message, and
    /// [`HeadAsGiven`] puts the listed head on the wire in place of the one hyper writes.
    async fn exchange_as_given(&self, out: &Outgoing) -> Result<Outcome, String> {
        let uri: hyper::Uri = out
            .url
            .parse()
            .map_err(|e| format!("invalid URL `{}`: {e}", out.url))?;
        if uri.scheme_str() != Some("http") {
            return self.exchange(out).await;
        }
        let method = hyper::Method::from_bytes(out.method.as_bytes())
            .map_err(|_| format!("invalid method `{}`", out.method))?;
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("`{}` has no host", out.url))?;
        let port = uri.port_u16().unwrap_or(80);
        let tcp = tokio::net::TcpStream::connect(format!("{host}:{port}"))
            .await
            .map_err(|e| crate::error::innermost(&e))?;
        let _ = tcp.set_nodelay(true);
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let host_header = host_header(&uri).unwrap_or_else(|| host.to_owned());
        let framed = framed(out);
        let head = head_as_given(out, path, &host_header, framed);
        let io = hyper_util::rt::TokioIo::new(HeadAsGiven::new(tcp, head));
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| crate::error::innermost(&e))?;
        // the connection lives as long as the exchange may, not longer
        let limit = out.timeout;
        tokio::spawn(async move {
            let _ = tokio::time::timeout(limit, conn).await;
        });
        let mut b = Request::builder().method(method).uri(path);
        if framed {
            b = b.header(hyper::header::CONTENT_LENGTH, out.body.len());
        }
        let req = b
            .body(Full::new(out.body.clone()))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| crate::error::innermost(&e))?;
        read_response(resp, out.keep_body).await
    }

    async fn exchange(&self, out: &Outgoing) -> Result<Outcome, String> {
        let uri: hyper::Uri = out
            .url
            .parse()
            .map_err(|e| format!("invalid URL `{}`: {e}", out.url))?;
        match uri.scheme_str() {
            Some("http") | Some("https") => {}
            _ => return Err(format!("`{}` is not an http or https URL", out.url)),
        }
        let method = hyper::Method::from_bytes(out.method.as_bytes())
            .map_err(|_| format!("invalid method `{}`", out.method))?;
        let mut b = Request::builder().method(method).uri(uri);
        for h in &out.headers {
            b = b.header(&*h.name, &*h.value);
        }
        let req = b
            .body(Full::new(out.body.clone()))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let client = if out.insecure_tls {
            &self.insecure
        } else {
            &self.secure
        };
        let resp = client
            .request(req)
            .await
            .map_err(|e| crate::error::innermost(&e))?;
        read_response(resp, out.keep_body).await
    }
}

/// The header lines [`Outbound::send_as_given`] writes for `out` over `http`, in order: `Host`
/// from the URL, the listed headers, and `Content-Length` unless a bodiless method sends no
/// body — what a replay or a trigger reports it sent.
pub fn headers_as_sent(out: &Outgoing) -> Vec<Header> {
    let mut v = Vec::with_capacity(out.headers.len() + 2);
    if let Some(host) = out
        .url
        .parse::<hyper::Uri>()
        .ok()
        .as_ref()
        .and_then(host_header)
    {
        v.push(Header::new("Host", host.into_bytes()));
    }
    v.extend(out.headers.iter().cloned());
    if framed(out) {
        v.push(Header::new(
            "Content-Length",
            out.body.len().to_string().into_bytes(),
        ));
    }
    v
}

/// `Host`'s value for a URL: its host, and its port when it names one.
fn host_header(uri: &hyper::Uri) -> Option<String> {
    let host = uri.host().filter(|h| !h.is_empty())?;
    Some(match uri.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    })
}

/// Whether a request carries `Content-Length`: always, unless its method is bodiless and its
/// body empty.
fn framed(out: &Outgoing) -> bool {
    !out.body.is_empty() || !BODILESS_METHODS.contains(&out.method.as_str())
}

/// Methods whose requests carry no `Content-Length` when their body is empty.
const BODILESS_METHODS: &[&str] = &["GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "CONNECT"];

/// Status, headers and up to `keep_body` bytes of the body of an answer.
async fn read_response(
    resp: hyper::Response<hyper::body::Incoming>,
    keep_body: usize,
) -> Result<Outcome, String> {
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| Header::new(n.as_str(), v.as_bytes()))
        .collect();
    let mut body = resp.into_body();
    let mut buf = BytesMut::new();
    let mut truncated = false;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| format!("reading the response body: {}", crate::error::innermost(&e)))?;
        if let Ok(data) = frame.into_data() {
            let room = keep_body.saturating_sub(buf.len());
            if data.len() > room {
                buf.extend_from_slice(&data[..room]);
                truncated = true;
                break;
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Outcome {
        status: Some(status),
        headers,
        body: buf.freeze(),
        body_truncated: truncated,
        latency: Duration::ZERO,
        error: None,
    })
}

/// The request head of [`Outbound::send_as_given`]: the request line, `Host`, the listed
/// headers byte for byte, and `Content-Length` when `framed`.
fn head_as_given(out: &Outgoing, path: &str, host: &str, framed: bool) -> Vec<u8> {
    let mut head = format!("{} {path} HTTP/1.1\r\nHost: {host}\r\n", out.method).into_bytes();
    for h in &out.headers {
        head.extend_from_slice(h.name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(&h.value);
        head.extend_from_slice(b"\r\n");
    }
    if framed {
        head.extend_from_slice(format!("Content-Length: {}\r\n", out.body.len()).as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// A connection that writes `head` in place of the first request head written to it (up to
/// its blank line), and everything after it as written: hyper frames and reads the exchange,
/// the head goes out as listed. Reads pass straight through.
struct HeadAsGiven<T> {
    inner: T,
    /// The head to write, until the written one has ended.
    head: Option<Vec<u8>>,
    /// The written head so far.
    seen: Vec<u8>,
    /// Bytes accepted but not yet on the wire, from `sent` on.
    pending: Vec<u8>,
    sent: usize,
}

impl<T> HeadAsGiven<T> {
    fn new(inner: T, head: Vec<u8>) -> Self {
        HeadAsGiven {
            inner,
            head: Some(head),
            seen: Vec::new(),
            pending: Vec::new(),
            sent: 0,
        }
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> HeadAsGiven<T> {
    /// Writes the pending bytes out.
    fn drain(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = std::task::ready!(
                std::pin::Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..])
            )?;
            if n == 0 {
                return std::task::Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.pending.clear();
        self.sent = 0;
        std::task::Poll::Ready(Ok(()))
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for HeadAsGiven<T> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        std::task::ready!(this.drain(cx))?;
        let Some(head) = this.head.as_ref() else {
            return std::pin::Pin::new(&mut this.inner).poll_write(cx, buf);
        };
        this.seen.extend_from_slice(buf);
        if let Some(end) = memchr::memmem::find(&this.seen, b"\r\n\r\n") {
            let mut pending = head.clone();
            pending.extend_from_slice(&this.seen[end + 4..]);
            this.pending = pending;
            this.head = None;
            this.seen = Vec::new();
        }
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.drain(cx))?;
        std::pin::Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.drain(cx))?;
        std::pin::Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for HeadAsGiven<T> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

/// Accepts any certificate: only for targets a user marked `insecure_tls`.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_targets_are_this_servers_slash_underscore_under_any_loopback_name() {
        let own: SocketAddr = "127.0.0.1:4665".parse().unwrap();
        for url in [
            "http://127.0.0.1:4665/_/api/events/x",
            "http://localhost:4665/_/",
            "http://LOCALHOST:4665/_",
            "http://app.localhost:4665/_/ws",
            "http://[::1]:4665/_/api",
            "http://0.0.0.0:4665/_/api",
            "http://127.9.9.9:4665/_/api/bins?x=1",
        ] {
            assert!(targets_reserved(url, own), "{url}");
        }
        for url in [
            "http://127.0.0.1:4665/bin/_/x",
            "http://127.0.0.1:4666/_/api",
            "http://127.0.0.1:4665/_x",
            "http://example.com:4665/_/api",
            "http://127.0.0.1/_/api",
            "not a url",
        ] {
            assert!(!targets_reserved(url, own), "{url}");
        }
        let wide: SocketAddr = "0.0.0.0:80".parse().unwrap();
        assert!(targets_reserved("http://127.0.0.1/_/api", wide));
    }

    #[tokio::test]
    async fn the_listed_head_replaces_the_written_one_and_the_body_follows_as_written() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (near, mut far) = tokio::io::duplex(4096);
        let mut io = HeadAsGiven::new(near, b"POST / HTTP/1.1\r\nX-Given: 1\r\n\r\n".to_vec());
        // the head written in pieces, the body starting in the same write as its end
        io.write_all(b"post / HTTP/1.1\r\nx-given: 1\r")
            .await
            .unwrap();
        io.write_all(b"\n\r\nhel").await.unwrap();
        io.write_all(b"lo").await.unwrap();
        io.flush().await.unwrap();
        drop(io);
        let mut wire = Vec::new();
        far.read_to_end(&mut wire).await.unwrap();
        assert_eq!(wire, b"POST / HTTP/1.1\r\nX-Given: 1\r\n\r\nhello");
    }

    #[test]
    fn the_hop_marker_is_appended_and_recognised() {
        let mut h = vec![Header::new("Via", &b"1.0 fred, 1.1 p.example"[..])];
        append_via(&mut h, &via_entry("abc", false));
        assert_eq!(h[0].value_str(), "1.0 fred, 1.1 p.example, 1.1 hookpit-abc");
        assert!(passed_through(&h, "abc"));
        assert!(!passed_through(&h, "abcd"));
        assert!(!passed_through(&h, "ab"));

        let mut sent = Vec::new();
        append_via(&mut sent, &via_entry("abc", true));
        assert!(!passed_through(&sent, "abc"), "a delivery is not a loop");
        assert!(came_from(&sent, "abc"));
        assert!(!came_from(&sent, "other"));
        append_via(&mut sent, &via_entry("abc", false));
        assert!(passed_through(&sent, "abc"));
    }
}
