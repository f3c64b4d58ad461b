//! The one outbound HTTP client, shared by replay, forwarding and the sender: `http` and `https`
//! (rustls with the usual web roots; a per-call `insecure_tls` for local apps with self-signed
//! certificates), a whole-exchange timeout, redirects not followed, response bodies kept up to a
//! limit. Also hookpit's hop marker: every request it forwards, replays or sends carries a `Via:
//! 1.1 hookpit-<instance>` entry (the sender's with a `(sender)` comment), by which a server
//! recognises a request that already passed through it; and a server's client refuses targets on
//! that server's own reserved `/_/` prefix.
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
            method: r.method.clone(),
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
    /// The address of the server this client belongs to: its `/_/` is never a target.
    own: Option<SocketAddr>,
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
                own: None,
            },
            // the built-in provider supports the default versions; this cannot happen
            _ => unreachable!("rustls ring provider rejects its default protocol versions"),
        }
    }

    /// The client of the server listening on `addr`: it refuses targets on that server's own
    /// reserved `/_/` prefix.
    pub fn for_server(addr: SocketAddr) -> Outbound {
        Outbound {
            own: Some(addr),
            ..Outbound::new()
        }
    }

    /// Sends one request; never fails, the outcome says what happened.
    pub async fn send(&self, out: Outgoing) -> Outcome {
        if self.own.is_some_and(|own| targets_reserved(&out.url, own)) {
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
        let mut outcome = match tokio::time::timeout(out.timeout, self.exchange(&out)).await {
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
            let frame = frame.map_err(|e| {
                format!("reading the response body: {}", crate::error::innermost(&e))
            })?;
            if let Ok(data) = frame.into_data() {
                let room = out.keep_body.saturating_sub(buf.len());
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
