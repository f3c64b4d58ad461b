//! Who may use the viewer, the API and the live feed (SPEC §11): the Host check against DNS
//! rebinding, the same-origin check on state-changing requests, and the token (a bearer header,
//! `?token=` or the `hookpit_token` cookie, compared in constant time), plus the cookie handed
//! to a client that presented the token in the URL. Catch URLs are never checked here.
//!
//! Uses `config`, `http` (query parameters), `live` (what an upgrade is) and `error`; called by
//! `server` before it routes anything under `/_/`.

use std::net::IpAddr;

use hyper::header::HeaderValue;
use hyper::Method;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::http::{ApiRequest, Params};
use crate::live;

/// The DNS-rebinding, cross-site and token checks of SPEC §11.
pub fn check(config: &Config, req: &ApiRequest) -> Result<()> {
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()))
        .unwrap_or_default();
    if !host_allowed(&host, &config.allow_hosts, config.listen.ip()) {
        return Err(Error::Forbidden(format!(
            "Host `{host}` is not allowed for the viewer and API (add it with --allow-host)"
        )));
    }
    let state_changing = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || live::is_upgrade(req);
    if state_changing {
        if let Some(origin) = req.headers().get("origin") {
            let origin = origin.to_str().unwrap_or("");
            let same = origin.eq_ignore_ascii_case(&format!("http://{host}"))
                || origin.eq_ignore_ascii_case(&format!("https://{host}"));
            if !same {
                return Err(Error::Forbidden(format!(
                    "cross-origin request from `{origin}` refused"
                )));
            }
        }
    }
    if let Some(token) = &config.token {
        let path = req.uri().path();
        let is_static = path.len() > 3
            && !path.starts_with("/_/api")
            && path != "/_/ws"
            && !path.ends_with(".html");
        if !is_static && !token_matches(req, token) {
            return Err(Error::Unauthorized(
                "a token is required: open the viewer with ?token=T or send Authorization: Bearer T"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// The `Set-Cookie` value for a viewer file: the token, only for a client that presented it in
/// the URL; `None` without a token or without the URL's.
pub fn token_cookie(config: &Config, req: &ApiRequest) -> Option<HeaderValue> {
    let t = config.token.as_ref()?;
    let presented = query_token(req).is_some_and(|given| token_eq(&given, t));
    let cookie = format!("hookpit_token={t}; Path=/_/; HttpOnly; SameSite=Strict");
    match (presented, HeaderValue::from_str(&cookie)) {
        (true, Ok(v)) => Some(v),
        _ => None,
    }
}

fn query_token(req: &ApiRequest) -> Option<String> {
    Params::of(req).get("token").map(str::to_owned)
}

fn token_matches(req: &ApiRequest, token: &str) -> bool {
    if let Some(v) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    {
        if let Some(t) = v.strip_prefix("Bearer ") {
            if token_eq(t.trim(), token) {
                return true;
            }
        }
    }
    if query_token(req).is_some_and(|t| token_eq(&t, token)) {
        return true;
    }
    req.headers()
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix("hookpit_token="))
        .any(|t| token_eq(t, token))
}

/// Compares a presented token with the real one in time that depends on neither's content nor
/// length: both are hashed, and the digests compared without an early exit.
fn token_eq(given: &str, token: &str) -> bool {
    use sha2::{Digest, Sha256};
    constant_time_eq(&Sha256::digest(given), &Sha256::digest(token))
}

/// Equal-length slices compared with a fold of XORs (no early exit).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Is `host` (a Host header value, port included) a name the viewer and API answer to?
pub fn host_allowed(host: &str, allow: &[String], bound: IpAddr) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        match host.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => host,
        }
    };
    if name.is_empty() {
        return false;
    }
    let lname = name.to_ascii_lowercase();
    if lname == "localhost" || lname.ends_with(".localhost") {
        return true;
    }
    if let Ok(ip) = lname.parse::<IpAddr>() {
        if ip.is_loopback() || (!bound.is_unspecified() && ip == bound) {
            return true;
        }
    }
    allow
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(&lname))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_equal_only_when_identical_whatever_their_lengths() {
        assert!(token_eq("s3cret", "s3cret"));
        for other in [
            "",
            "s",
            "s3cre",
            "s3cret!",
            "S3cret",
            "s3cres",
            "s3cret s3cret",
        ] {
            assert!(!token_eq(other, "s3cret"), "{other}");
        }
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(constant_time_eq(b"", b""));
    }
}
