//! The validated server configuration, and the size/duration notation of SPEC §12 (`10MiB`,
//! `1.5GB`, `500ms`, `2m`).
//!
//! Uses `error`, and holds the plain declarations of `hookfile` and `catalog`. The CLI turns its
//! flags (and the config file) into a [`Config`] in one place (`cli.rs`); nothing below the CLI
//! sees clap types.

use std::net::SocketAddr;
use std::time::Duration;

use crate::error::{Error, Result};

/// Everything a running server needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to bind (`127.0.0.1:4665` by default; port 0 picks a free port).
    pub listen: SocketAddr,
    /// Largest request body kept, enforced while reading.
    pub max_body: usize,
    /// Requests kept per bin (a ring).
    pub max_requests: usize,
    /// Memory budget across all bins; the oldest requests are evicted past it.
    pub max_memory: usize,
    /// Bins kept at once; past it the least recently used bin goes, with its requests.
    pub max_bins: usize,
    /// Time allowed to receive a request head.
    pub header_timeout: Duration,
    /// Time allowed to receive a request body, counted from the end of its head; past it the
    /// request is answered 408 and recorded truncated.
    pub body_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request before it is closed.
    pub idle_timeout: Duration,
    /// Largest request head accepted.
    pub max_header_size: usize,
    /// Extra `Host` names the viewer and API answer to (loopback names always work).
    pub allow_hosts: Vec<String>,
    /// When set, `/_/` requires this token.
    pub token: Option<String>,
    /// Take the peer address from `X-Forwarded-For`.
    pub trust_proxy: bool,
    /// Bodies larger than this are left out of websocket `request` messages.
    pub preview_limit: usize,
    /// Websocket messages buffered for a slow viewer before it is sent `resync`.
    pub feed_capacity: usize,
    /// Webhooks the sender starts with (`[[webhook]]` in the config file).
    pub webhooks: Vec<crate::hookfile::WebhookDef>,
    /// Custom events added to the built-in catalog (`[[event]]`).
    pub events: Vec<crate::catalog::EventDef>,
    /// Bins declared in the config file (`[[bin]]`), their config as JSON.
    pub bins: Vec<crate::hookfile::BinDecl>,
    /// Start with the "Local demo" webhook to this server's own bin `demo` (true unless a
    /// config file declares webhooks).
    pub demo_webhook: bool,
    /// The config file these settings came from, if any.
    pub config_file: Option<std::path::PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 4665)),
            max_body: 10 * 1024 * 1024,
            max_requests: 1000,
            max_memory: 512 * 1024 * 1024,
            max_bins: 1000,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
            max_header_size: 64 * 1024,
            allow_hosts: Vec::new(),
            token: None,
            trust_proxy: false,
            preview_limit: 64 * 1024,
            feed_capacity: 4096,
            webhooks: Vec::new(),
            events: Vec::new(),
            bins: Vec::new(),
            demo_webhook: true,
            config_file: None,
        }
    }
}

impl Config {
    /// Defaults, bound to a free loopback port: what tests and embedders want.
    pub fn for_tests() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..Config::default()
        }
    }

    /// The same configuration on another address.
    pub fn listen(mut self, addr: SocketAddr) -> Config {
        self.listen = addr;
        self
    }
}

/// Splits `1.5GB` into its number and its (trimmed) unit.
fn split_number<'a>(s: &'a str, what: &str, example: &str) -> Result<(f64, &'a str)> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| Error::bad(what, format!("`{s}` is not {example}")))?;
    Ok((n, unit.trim()))
}

/// Parses a size: a plain integer is bytes; `K`/`KB` (1000), `KiB` (1024), `M`, `MB`, `MiB`, `G`,
/// `GB`, `GiB`; fractions allowed (`1.5GB`).
pub fn parse_size(s: &str) -> Result<usize> {
    let (n, unit) = split_number(s, "size", "a size (e.g. 10MiB, 512KiB, 1024)")?;
    let mult: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(Error::bad(
                "size",
                format!("`{s}`: unknown unit (use B, KB, KiB, MB, MiB, GB, GiB)"),
            ))
        }
    };
    let v = n * mult;
    if !v.is_finite() || v < 0.0 || v > usize::MAX as f64 {
        return Err(Error::bad("size", format!("`{s}` is out of range")));
    }
    Ok(v.round() as usize)
}

/// Parses a duration: a plain number is seconds; units `ms`, `s`, `m`, `h`; fractions allowed.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let (n, unit) = split_number(s, "duration", "a duration (e.g. 500ms, 30s, 2m, 1h)")?;
    let secs = match unit {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1000.0,
        "us" | "µs" => n / 1e6,
        "m" | "min" | "mins" => n * 60.0,
        "h" | "hr" => n * 3600.0,
        _ => {
            return Err(Error::bad(
                "duration",
                format!("`{s}`: unknown unit (use ms, s, m, h)"),
            ))
        }
    };
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(Error::bad("duration", format!("`{s}` is out of range")));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Formats a duration the way the API shows it (`250ms`, `30s`, `2m`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(60_000) && ms >= 60_000 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) && ms > 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_plain_bytes_and_units() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("10MiB").unwrap(), 10 * 1024 * 1024);
        assert_eq!(parse_size("512KiB").unwrap(), 512 * 1024);
        assert_eq!(parse_size("1.5GB").unwrap(), 1_500_000_000);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }

    #[test]
    fn durations_accept_plain_seconds_and_units() {
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn durations_format_back_into_the_notation() {
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
        assert_eq!(format_duration(Duration::from_secs(5)), "5s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
    }
}
