//! `hookpit serve` (also what runs with no verb): its flags, the one conversion of flags and the
//! config file into a validated [`Config`], starting the server, announcing its addresses
//! (`--print-json` as one JSON line first; the HTTPS one with its certificate's fingerprint),
//! and the summary printed on Ctrl-C or SIGTERM.
//!
//! Uses `hookfile` (the config file), `config`, `server`, and `cli`'s `args` and `output`.

use std::io::Write;
use std::net::SocketAddr;

use anyhow::Result;
use clap::Args;
use colored::Colorize;

use super::args;
use super::output::{outln, plural, stdout, EXIT_OK};
use crate::config::Config;
use crate::server::Server;

/// `serve`'s options.
#[derive(Debug, Args, Clone, Default)]
pub struct ServeArgs {
    /// The config file (default: hookpit.toml in the working directory, when there is one).
    #[arg(long, env = "HOOKPIT_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "HOOKPIT_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Print the bound addresses as one JSON line first on stdout.
    #[arg(long, env = "HOOKPIT_PRINT_JSON")]
    pub print_json: bool,
    /// Largest request body kept (e.g. 10MiB); larger requests are cut and answered 413.
    #[arg(long, env = "HOOKPIT_MAX_BODY")]
    pub max_body: Option<String>,
    /// Requests kept per bin.
    #[arg(long, env = "HOOKPIT_MAX_REQUESTS")]
    pub max_requests: Option<usize>,
    /// Memory budget for all kept requests (e.g. 512MiB).
    #[arg(long, env = "HOOKPIT_MAX_MEMORY")]
    pub max_memory: Option<String>,
    /// Bins kept at once; past it the least recently used bin is evicted with its requests.
    #[arg(long, env = "HOOKPIT_MAX_BINS")]
    pub max_bins: Option<usize>,
    /// Time allowed to send a request head (e.g. 10s).
    #[arg(long, env = "HOOKPIT_HEADER_TIMEOUT")]
    pub header_timeout: Option<String>,
    /// Time allowed to send a request body after its head (e.g. 30s); a late body is answered
    /// 408 and recorded truncated.
    #[arg(long, env = "HOOKPIT_BODY_TIMEOUT")]
    pub body_timeout: Option<String>,
    /// How long a keep-alive connection may wait for its next request before it is closed
    /// (e.g. 5m).
    #[arg(long, env = "HOOKPIT_IDLE_TIMEOUT")]
    pub idle_timeout: Option<String>,
    /// Another Host name the viewer and API answer to (repeatable).
    #[arg(long, env = "HOOKPIT_ALLOW_HOST", value_delimiter = ',')]
    pub allow_host: Vec<String>,
    /// Take the peer address from X-Forwarded-For.
    #[arg(long, env = "HOOKPIT_TRUST_PROXY")]
    pub trust_proxy: bool,
    /// Keep captures, bins, run-time webhooks and the delivery log in this directory, across
    /// restarts (created if missing). Without it nothing is written anywhere.
    #[arg(long, env = "HOOKPIT_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<std::path::PathBuf>,
    /// Disk the data directory may use (default 1GiB, at least 1MiB; needs --data-dir); past it
    /// the oldest requests are evicted.
    #[arg(long, env = "HOOKPIT_MAX_DISK")]
    pub max_disk: Option<String>,
    /// Shared mode: every instance started with this Redis (6.2+) shares bins, requests, ids,
    /// the live feed, waits, bin behaviour and the sender (`redis://[:PASSWORD@]HOST:PORT[/DB]`,
    /// `rediss://` for TLS). Cannot be used with --data-dir.
    #[arg(long, env = "HOOKPIT_REDIS", value_name = "URL")]
    pub redis: Option<String>,
    #[command(flatten)]
    pub tls: Box<TlsArgs>,
}

/// `serve`'s HTTPS options (boxed: most runs leave them out).
#[derive(Debug, Args, Clone, Default)]
pub struct TlsArgs {
    /// Also serve bins, viewer, API and live feed over HTTPS on this address (port 0 picks a
    /// free port). Without --tls-cert/--tls-key a self-signed certificate for localhost,
    /// 127.0.0.1 and ::1 is made at start (kept in --data-dir when given).
    #[arg(long, env = "HOOKPIT_TLS_LISTEN", value_name = "ADDR")]
    pub tls_listen: Option<SocketAddr>,
    /// The HTTPS certificate (chain) as a PEM file; needs --tls-key.
    #[arg(long, env = "HOOKPIT_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The HTTPS certificate's private key as a PEM file; needs --tls-cert.
    #[arg(long, env = "HOOKPIT_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<std::path::PathBuf>,
}

impl ServeArgs {
    /// The one conversion from flags to a validated [`Config`].
    pub fn to_config(&self, token: Option<String>) -> Result<Config> {
        // the config file first; every flag given overrides it
        let mut c = crate::hookfile::base_config(self.config.as_deref())?;
        if let Some(l) = self.listen {
            c.listen = l;
        }
        if let Some(s) = &self.max_body {
            c.max_body = args::size("--max-body", s)?;
        }
        if let Some(n) = self.max_requests {
            anyhow::ensure!(n > 0, "--max-requests: must be at least 1");
            c.max_requests = n;
        }
        if let Some(s) = &self.max_memory {
            c.max_memory = args::size("--max-memory", s)?;
        }
        if let Some(n) = self.max_bins {
            anyhow::ensure!(n > 0, "--max-bins: must be at least 1");
            c.max_bins = n;
        }
        if let Some(s) = &self.header_timeout {
            c.header_timeout = args::positive_duration("--header-timeout", s)?;
        }
        if let Some(s) = &self.body_timeout {
            c.body_timeout = args::positive_duration("--body-timeout", s)?;
        }
        if let Some(s) = &self.idle_timeout {
            c.idle_timeout = args::positive_duration("--idle-timeout", s)?;
        }
        c.allow_hosts.extend(
            self.allow_host
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty()),
        );
        c.trust_proxy |= self.trust_proxy;
        if let Some(d) = &self.data_dir {
            anyhow::ensure!(
                !d.as_os_str().is_empty(),
                "--data-dir: expected a directory"
            );
            c.data_dir = Some(d.clone());
        }
        if let Some(s) = &self.max_disk {
            let n = args::size("--max-disk", s)?;
            anyhow::ensure!(
                n >= crate::disk::MIN_DISK as usize,
                "--max-disk: must be at least 1MiB (an empty store takes about 100 KiB), got {s}"
            );
            anyhow::ensure!(
                c.data_dir.is_some(),
                "--max-disk: needs --data-dir (without one nothing is written to disk)"
            );
            c.max_disk = n as u64;
        }
        if let Some(u) = &self.redis {
            anyhow::ensure!(
                u.starts_with("redis://") || u.starts_with("rediss://"),
                "--redis: expected a redis:// or rediss:// URL, got {}",
                crate::shared::shown_url(u)
            );
            c.redis = Some(u.clone());
        }
        anyhow::ensure!(
            !(c.redis.is_some() && c.data_dir.is_some()),
            "--redis and --data-dir cannot be used together: in shared mode Redis keeps everything"
        );
        anyhow::ensure!(
            c.data_dir.is_some() || c.max_disk == Config::default().max_disk,
            "max_disk: needs a data directory ([server] data_dir or --data-dir)"
        );
        let tls = &self.tls;
        if let Some(l) = tls.tls_listen {
            c.tls_listen = Some(l);
        }
        if tls.tls_cert.is_some() || tls.tls_key.is_some() {
            // flags name the pair together: one of them never mixes with the file's other
            c.tls_cert = tls.tls_cert.clone();
            c.tls_key = tls.tls_key.clone();
        }
        match (&c.tls_cert, &c.tls_key) {
            (Some(_), None) => {
                anyhow::bail!("--tls-cert: needs --tls-key (the certificate's private key)")
            }
            (None, Some(_)) => {
                anyhow::bail!("--tls-key: needs --tls-cert (the certificate it belongs to)")
            }
            (Some(_), Some(_)) => anyhow::ensure!(
                c.tls_listen.is_some(),
                "--tls-cert: needs --tls-listen ADDR (the address to serve HTTPS on)"
            ),
            (None, None) => {}
        }
        if let Some(t) = token.filter(|t| !t.is_empty()) {
            c.token = Some(t);
        }
        if c.token.is_none() && !c.listen.ip().is_loopback() {
            let mut b = [0u8; 16];
            let _ = getrandom::fill(&mut b);
            c.token = Some(b.iter().map(|x| format!("{x:02x}")).collect());
        }
        Ok(c)
    }
}

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn serve(args: ServeArgs, token: Option<String>) -> Result<i32> {
    let config = args.to_config(token)?;
    // many keep-alive connections each hold a descriptor: use all the system allows
    let _ = crate::server::raise_open_files_limit();
    let stop = shutdown_signal();
    let token = config.token.clone();
    let handle = Server::start(config).await?;
    for w in handle.warnings() {
        eprintln!("{} {w}", "warning:".yellow().bold());
    }
    let tq = token
        .as_ref()
        .map(|t| format!("?token={t}"))
        .unwrap_or_default();
    let viewer = format!("{}{tq}", handle.viewer_url());
    let catch = handle.catch_url("demo");
    let api = handle.api_url();
    let mut out = stdout();
    if args.print_json {
        let line = serde_json::json!({
            "listen": handle.addr().to_string(),
            "viewer": viewer,
            "catch": catch,
            "api": api,
            "tls": handle.tls_base_url(),
        });
        writeln!(out, "{line}")?;
    }
    writeln!(out, "{} {}", "hookpit".bold(), env!("CARGO_PKG_VERSION"))?;
    writeln!(out, "  viewer  {}", viewer.cyan())?;
    writeln!(out, "  catch   {}", format!("{catch}/…").green())?;
    writeln!(out, "  api     {}", api)?;
    if let (Some(url), Some(t)) = (handle.tls_base_url(), handle.tls()) {
        writeln!(out, "  https   {}", format!("{url}/").green())?;
        writeln!(out, "  cert    SHA-256 {}", t.fingerprint)?;
    }
    if let Some(d) = handle.disk() {
        let kept = handle.store().stats().requests;
        writeln!(
            out,
            "  data    {} ({kept} request{} kept)",
            d.dir().display(),
            plural(kept as u64)
        )?;
    }
    out.flush()?;
    stop.await;
    let s = handle.shutdown().await;
    if let Some(lost) = &s.unwritten {
        // answered 2xx, yet not kept: the one thing a stop must never hide
        anyhow::bail!("{lost}");
    }
    outln!(
        "hookpit stopped: {} request{} captured, {} kept in {} bin{}, {} evicted",
        s.requests,
        plural(s.requests),
        s.kept,
        s.bins,
        plural(s.bins as u64),
        s.evicted
    );
    Ok(EXIT_OK)
}

/// Ctrl-C or SIGTERM. The handlers are installed when this is called, not when it is awaited,
/// so a signal that arrives right after start-up is not missed (or fatal).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
