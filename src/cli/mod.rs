//! The command line: clap definitions (every flag with a `HOOKPIT_*` environment twin), the one
//! conversion of `serve`'s flags into a [`Config`], and the client verbs' human and `--json`
//! output. Exit codes: 0 ok/matched, 1 not matched/timed out, 2 usage or runtime error.
//!
//! Uses `config`, `server`, `client`, `model`, `matcher` and `error`. Nothing below this module
//! sees clap types; this is the only place that prints for users, apart from `main.rs`.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use colored::Colorize;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{enc, Client};
use crate::config::{parse_duration, parse_size, Config};
use crate::model::{BinSummary, CapturedRequest};
use crate::server::Server;

pub mod bin;
pub mod sender;

/// `println!` for command output: a closed pipe ends the command quietly (the enclosing
/// function returns the error with `?`) instead of panicking.
macro_rules! outln {
    () => {
        ::std::io::Write::write_all(&mut $crate::cli::stdout(), b"\n")?
    };
    ($($arg:tt)*) => {
        ::std::io::Write::write_fmt(
            &mut $crate::cli::stdout(),
            format_args!("{}\n", format_args!($($arg)*)),
        )?
    };
}

/// `print!` for command output (see [`outln!`]).
macro_rules! out {
    ($($arg:tt)*) => {
        ::std::io::Write::write_fmt(&mut $crate::cli::stdout(), format_args!($($arg)*))?
    };
}

pub(crate) use outln;

/// Exit code: success or match.
pub const EXIT_OK: i32 = 0;
/// Exit code: not matched, timed out, assertion failed.
pub const EXIT_NO_MATCH: i32 = 1;
/// Exit code: usage or runtime error.
pub const EXIT_ERROR: i32 = 2;

/// hookpit: catch, inspect, assert on and send webhooks, offline.
#[derive(Debug, Parser)]
#[command(name = "hookpit", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `serve`, which runs when no command is given.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Options every command takes.
#[derive(Debug, Args, Clone)]
pub struct Global {
    /// The server client commands talk to.
    #[arg(
        long,
        global = true,
        env = "HOOKPIT_SERVER",
        default_value = "http://127.0.0.1:4665"
    )]
    pub server: String,
    /// Colour: auto, always or never (NO_COLOR is honoured).
    #[arg(long, global = true, env = "HOOKPIT_COLOR", value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Token protecting the viewer and API (`serve` enforces it; clients send it).
    #[arg(long, global = true, env = "HOOKPIT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// When to colour output.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Follow captured requests live, one line each.
    Tail(TailArgs),
    /// List bins, or a bin's requests.
    Ls(LsArgs),
    /// Show one request (an id or `latest`).
    Show(ShowArgs),
    /// Delete a bin's requests (all, or those matching a filter).
    Clear(ClearArgs),
    /// Wait until requests matching a filter arrive (exit 0), or time out (exit 1).
    Wait(WaitArgs),
    /// Export a bin as HAR 1.2 or NDJSON.
    Export(ExportArgs),
    /// Send a captured request again to another URL.
    Replay(ReplayArgs),
    /// Fire an event at every active webhook listening to it (or at one, with --webhook).
    Send(crate::cli_sender::SendArgs),
    /// Send Test Event to one webhook now; exit 0 for a 2xx, 1 otherwise.
    Test(crate::cli_sender::TestArgs),
    /// List the event catalog.
    Events(crate::cli_sender::EventsArgs),
    /// List deliveries and their attempts, newest first.
    Deliveries(crate::cli_sender::DeliveriesArgs),
    /// List the configured webhooks.
    Webhooks(crate::cli_sender::WebhooksArgs),
    /// Print the Standard Webhooks headers for a body (to debug a receiver).
    Sign(crate::cli_sender::SignArgs),
    /// Check a Standard Webhooks signature; exit 0 valid, 1 invalid.
    Verify(crate::cli_sender::VerifyArgs),
    /// Configure a bin: responses, sequences, faults, signature checks, forwarding.
    #[command(subcommand)]
    Bin(crate::cli_bin::BinCommand),
    /// Tunnel a bin's webhooks to a local app and follow them live.
    Forward(crate::cli_bin::ForwardArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell or elvish).
    Completions(CompletionsArgs),
    /// Print the manual page (roff), e.g. `hookpit man > hookpit.1`.
    Man,
}

/// `completions`' options.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `wait`'s options.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// The bin to watch (it need not exist yet).
    #[arg(long, short)]
    pub bin: String,
    /// The filter requests must match (all requests when absent).
    #[arg(long = "match", short = 'm', allow_hyphen_values = true)]
    pub filter: Option<String>,
    /// How many matching requests to wait for.
    #[arg(long, short = 'n', default_value_t = 1)]
    pub count: usize,
    /// How long to wait (e.g. 30s, 2m).
    #[arg(long, short, default_value = "30s")]
    pub timeout: String,
    /// Only requests with a larger id count (default: every kept request counts).
    #[arg(long, conflicts_with = "new")]
    pub after: Option<u64>,
    /// Only requests that arrive after the wait starts count (an older request that matches
    /// does not release it).
    #[arg(long)]
    pub new: bool,
    /// Print JSON: the matched requests, or the timeout report.
    #[arg(long)]
    pub json: bool,
}

/// `export`'s options.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The bin to export.
    pub bin: String,
    /// har or ndjson.
    #[arg(long, short, default_value = "har")]
    pub format: String,
    /// Only requests matching this filter.
    #[arg(long = "match", short = 'm', allow_hyphen_values = true)]
    pub filter: Option<String>,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<std::path::PathBuf>,
}

/// `replay`'s options.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A request id, or `latest`.
    pub id: String,
    /// The URL to send it to.
    #[arg(long)]
    pub to: String,
    /// Accept any TLS certificate (local apps with self-signed certificates).
    #[arg(long)]
    pub insecure: bool,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

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
}

/// `tail`'s options.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// Only this bin.
    #[arg(long, short)]
    pub bin: Option<String>,
    /// Only requests matching this filter.
    #[arg(long = "match", short = 'm', allow_hyphen_values = true)]
    pub filter: Option<String>,
    /// Print request JSON lines.
    #[arg(long)]
    pub json: bool,
    /// Show headers and a body preview.
    #[arg(long, short)]
    pub verbose: bool,
    /// Replay kept requests newer than this id first.
    #[arg(long)]
    pub after: Option<u64>,
}

/// `ls`'s options.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// A bin whose requests to list (all bins when absent).
    pub bin: Option<String>,
    /// Only requests matching this filter.
    #[arg(long = "match", short = 'm', allow_hyphen_values = true)]
    pub filter: Option<String>,
    /// How many requests at most.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Print the API's JSON.
    #[arg(long)]
    pub json: bool,
}

/// `show`'s options.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A request id, or `latest`.
    pub id: String,
    /// With `latest`: the newest of this bin.
    #[arg(long, short)]
    pub bin: Option<String>,
    /// Print the request JSON.
    #[arg(long)]
    pub json: bool,
    /// Print the request as HTTP/1.1 text.
    #[arg(long, conflicts_with = "json")]
    pub raw: bool,
}

/// `clear`'s options.
#[derive(Debug, Args)]
pub struct ClearArgs {
    /// The bin to clear.
    pub bin: String,
    /// Only requests matching this filter.
    #[arg(long = "match", short = 'm', allow_hyphen_values = true)]
    pub filter: Option<String>,
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
            c.max_body = parse_size(s).context("--max-body")?;
        }
        if let Some(n) = self.max_requests {
            anyhow::ensure!(n > 0, "--max-requests: must be at least 1");
            c.max_requests = n;
        }
        if let Some(s) = &self.max_memory {
            c.max_memory = parse_size(s).context("--max-memory")?;
        }
        if let Some(n) = self.max_bins {
            anyhow::ensure!(n > 0, "--max-bins: must be at least 1");
            c.max_bins = n;
        }
        if let Some(s) = &self.header_timeout {
            c.header_timeout = parse_duration(s).context("--header-timeout")?;
            anyhow::ensure!(
                !c.header_timeout.is_zero(),
                "--header-timeout: must be more than 0"
            );
        }
        if let Some(s) = &self.body_timeout {
            c.body_timeout = parse_duration(s).context("--body-timeout")?;
            anyhow::ensure!(
                !c.body_timeout.is_zero(),
                "--body-timeout: must be more than 0"
            );
        }
        if let Some(s) = &self.idle_timeout {
            c.idle_timeout = parse_duration(s).context("--idle-timeout")?;
            anyhow::ensure!(
                !c.idle_timeout.is_zero(),
                "--idle-timeout: must be more than 0"
            );
        }
        c.allow_hosts.extend(
            self.allow_host
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty()),
        );
        c.trust_proxy |= self.trust_proxy;
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

/// Sets colored's global override once from `--color` and the environment.
fn set_color(choice: ColorChoice) {
    use std::io::IsTerminal;
    let on = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    };
    colored::control::set_override(on);
}

/// The clap command with hookpit's help conventions applied to every argument of every verb:
/// `[env: HOOKPIT_X]` names the variable without its value, which read as "set to empty" when
/// unset (and must not show secrets when set).
///
/// `--server` and `--token` are global so they may come before or after the verb, but each
/// verb's help shows only what applies to it: no `--server` for `serve`, and neither for the
/// offline `sign`, `verify`, `completions` and `man`.
pub fn command() -> clap::Command {
    fn tidy(cmd: clap::Command) -> clap::Command {
        cmd.mut_args(|a| a.hide_env_values(true))
            .mut_subcommands(tidy)
    }
    // A verb that defines an argument itself does not receive the global of that name: each
    // of these gets a hidden stand-in, so its help shows only what applies to it.
    let stand_in = |cmd: clap::Command, names: &[&'static str]| {
        names.iter().fold(cmd, |c, n| {
            c.arg(
                clap::Arg::new(*n)
                    .long(*n)
                    .hide(true)
                    .num_args(1)
                    .action(clap::ArgAction::Set),
            )
        })
    };
    tidy(<Cli as clap::CommandFactory>::command()).mut_subcommands(|sub| match sub.get_name() {
        "serve" => stand_in(sub, &["server"]),
        "sign" | "verify" | "completions" | "man" => stand_in(sub, &["server", "token"]),
        _ => sub,
    })
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = match command()
        .try_get_matches()
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m))
    {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_ERROR } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    set_color(cli.global.color);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            print_error(&anyhow::Error::from(e));
            return EXIT_ERROR;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        // `hookpit export … | head` closed our output: the reader's choice, not a failure
        Err(e) if output_closed(&e) => EXIT_OK,
        Err(e) => {
            print_error(&e);
            if not_found(&e) {
                EXIT_NO_MATCH
            } else {
                EXIT_ERROR
            }
        }
    }
}

/// Whether the server answered that what was asked for does not exist (a 404): exit 1, like
/// a wait that found nothing, not 2 as for a usage or runtime error.
pub fn not_found(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<crate::Error>(),
            Some(crate::Error::Api { status: 404, .. } | crate::Error::NotFound { .. })
        )
    })
}

/// Standard output closed under us (a `BrokenPipe` when writing it).
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
pub struct OutputClosed;

/// Whether an error is (or was caused by) [`OutputClosed`], which travels inside an I/O error
/// of kind `BrokenPipe` (an I/O error's `source` skips its payload, so look inside).
pub fn output_closed(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.is::<OutputClosed>()
            || c.downcast_ref::<std::io::Error>().is_some_and(|io| {
                io.kind() == std::io::ErrorKind::BrokenPipe
                    && io.get_ref().is_some_and(|inner| inner.is::<OutputClosed>())
            })
    })
}

/// Standard output for the commands' output: a write into a closed pipe fails with
/// [`OutputClosed`] inside the I/O error (told apart by its kind, `BrokenPipe`), so the command
/// ends quietly instead of a socket's broken pipe being mistaken for it.
pub struct Stdout(std::io::Stdout);

/// The commands' standard output (see [`Stdout`]).
pub fn stdout() -> Stdout {
    Stdout(std::io::stdout())
}

fn closed(e: std::io::Error) -> std::io::Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::io::Error::new(std::io::ErrorKind::BrokenPipe, OutputClosed)
    } else {
        e
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).map_err(closed)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0.lock().write_all(buf).map_err(closed)
    }

    fn write_fmt(&mut self, args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
        self.0.lock().write_fmt(args).map_err(closed)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().map_err(closed)
    }
}

/// Prints the one `error:` line.
pub fn print_error(e: &anyhow::Error) {
    eprintln!("{} {:#}", "error:".red().bold(), e);
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<i32> {
    let g = cli.global.clone();
    let client = || Client::new(g.server.clone()).with_token(g.token.clone());
    match cli.command {
        None => serve(cli.serve, g.token.clone()).await,
        Some(Command::Serve(a)) => serve(a, g.token.clone()).await,
        Some(Command::Completions(a)) => {
            let mut out = Vec::new();
            clap_complete::generate(a.shell, &mut command(), "hookpit", &mut out);
            crate::cli::stdout().write_all(&out)?;
            Ok(EXIT_OK)
        }
        Some(Command::Man) => {
            let mut out = Vec::new();
            clap_mangen::Man::new(command()).render(&mut out)?;
            crate::cli::stdout().write_all(&out)?;
            Ok(EXIT_OK)
        }
        Some(Command::Tail(a)) => tail(&g, a).await,
        Some(Command::Ls(a)) => ls(&client(), a).await,
        Some(Command::Show(a)) => show(&client(), a).await,
        Some(Command::Wait(a)) => wait(&client(), a).await,
        Some(Command::Export(a)) => export(&client(), a).await,
        Some(Command::Replay(a)) => replay(&client(), a).await,
        Some(Command::Send(a)) => crate::cli_sender::send(&client(), a).await,
        Some(Command::Test(a)) => crate::cli_sender::test(&client(), a).await,
        Some(Command::Events(a)) => crate::cli_sender::events(&client(), a).await,
        Some(Command::Deliveries(a)) => crate::cli_sender::deliveries(&client(), a).await,
        Some(Command::Webhooks(a)) => crate::cli_sender::webhooks(&client(), a).await,
        Some(Command::Sign(a)) => crate::cli_sender::sign_cmd(a),
        Some(Command::Bin(cmd)) => crate::cli_bin::bin(&client(), cmd).await,
        Some(Command::Forward(a)) => crate::cli_bin::forward(&g, &client(), a).await,
        Some(Command::Verify(a)) => crate::cli_sender::verify_cmd(a),
        Some(Command::Clear(a)) => {
            let n = client().clear(&a.bin, a.filter.as_deref()).await?;
            outln!("cleared {n} request{} from {}", plural(n), a.bin.bold());
            Ok(EXIT_OK)
        }
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

async fn serve(args: ServeArgs, token: Option<String>) -> Result<i32> {
    let config = args.to_config(token)?;
    // many keep-alive connections each hold a descriptor: use all the system allows
    let _ = crate::server::raise_open_files_limit();
    let stop = shutdown_signal();
    let token = config.token.clone();
    let handle = Server::start(config).await?;
    let tq = token
        .as_ref()
        .map(|t| format!("?token={t}"))
        .unwrap_or_default();
    let viewer = format!("{}{tq}", handle.viewer_url());
    let catch = handle.catch_url("demo");
    let api = handle.api_url();
    let mut out = crate::cli::stdout();
    if args.print_json {
        let line = serde_json::json!({
            "listen": handle.addr().to_string(),
            "viewer": viewer,
            "catch": catch,
            "api": api,
        });
        writeln!(out, "{line}")?;
    }
    writeln!(out, "{} {}", "hookpit".bold(), env!("CARGO_PKG_VERSION"))?;
    writeln!(out, "  viewer  {}", viewer.cyan())?;
    writeln!(out, "  catch   {}", format!("{catch}/…").green())?;
    writeln!(out, "  api     {}", api)?;
    out.flush()?;
    stop.await;
    let s = handle.shutdown().await;
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

/// One coloured line for a request: time, bin, method, target, size, status.
pub fn request_line(r: &CapturedRequest) -> String {
    let time = crate::model::format_time(r.received_at);
    let time = time.get(11..23).unwrap_or(&time).to_owned();
    let method = match r.method.as_str() {
        "GET" => r.method.blue(),
        "POST" => r.method.green(),
        "PUT" | "PATCH" => r.method.yellow(),
        "DELETE" => r.method.red(),
        _ => r.method.magenta(),
    };
    let status = r.response.status;
    let status_s = status.to_string();
    let status_c = match status {
        200..=299 => status_s.green(),
        300..=399 => status_s.cyan(),
        400..=499 => status_s.yellow(),
        _ => status_s.red(),
    };
    let mut line = format!(
        "{} {} {} {:<7} {} {} {}",
        time.dimmed(),
        format!("#{}", r.id).dimmed(),
        r.bin.bold(),
        method.bold(),
        r.target,
        human_size(r.body.bytes.len(), r.body.truncated).dimmed(),
        status_c
    );
    if let Some(f) = &r.forward {
        let text = match (f.status, &f.error) {
            (Some(s), _) => format!("→ app {s} ({:.0} ms)", f.latency_ms),
            (None, Some(e)) => format!("→ app failed: {e}"),
            (None, None) => "→ app ?".to_owned(),
        };
        line.push(' ');
        line.push_str(&if f.status.is_some_and(|s| (200..300).contains(&s)) {
            text.cyan().to_string()
        } else {
            text.red().to_string()
        });
    }
    if let Some(sig) = &r.signature {
        let tag = format!("sig:{}", if sig.valid { "valid" } else { "invalid" });
        line.push(' ');
        line.push_str(&if sig.valid {
            tag.green().to_string()
        } else {
            tag.red().to_string()
        });
    }
    line
}

fn human_size(n: usize, truncated: bool) -> String {
    let s = if n < 1024 {
        format!("{n}B")
    } else if n < 1024 * 1024 {
        format!("{:.1}KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1}MiB", n as f64 / (1024.0 * 1024.0))
    };
    if truncated {
        format!("{s}(cut)")
    } else {
        s
    }
}

/// Headers and a body preview, indented, for `-v` and `show`.
pub fn request_details(r: &CapturedRequest, body_limit: usize) -> String {
    let mut s = String::new();
    for h in &r.headers {
        s.push_str(&format!("    {}: {}\n", h.name.cyan(), h.value_str()));
    }
    if r.body.omitted {
        s.push_str(&format!("    {}\n", "(body not included)".dimmed()));
    } else if !r.body.bytes.is_empty() {
        match r.display_text() {
            Some(t) => {
                let cut: String = t.chars().take(body_limit).collect();
                s.push('\n');
                for l in cut.lines() {
                    s.push_str(&format!("    {l}\n"));
                }
                if cut.len() < t.len() {
                    s.push_str(&format!("    {}\n", "…".dimmed()));
                }
            }
            None => s.push_str(&format!(
                "    {}\n",
                format!("({} bytes of binary data)", r.body.bytes.len()).dimmed()
            )),
        }
    }
    s
}

pub(crate) async fn tail(g: &Global, a: TailArgs) -> Result<i32> {
    let base = g.server.trim_end_matches('/');
    let ws_base = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        anyhow::bail!("--server must be an http:// URL, got `{base}`");
    };
    let mut after = a.after;
    let mut instance: Option<String> = None;
    let mut failures = 0u32;
    let mut announced_wait = false;
    loop {
        let mut url = format!("{ws_base}/_/ws?");
        if let Some(b) = &a.bin {
            url.push_str(&format!("bin={}&", enc(b)));
        }
        if let Some(f) = &a.filter {
            url.push_str(&format!("q={}&", enc(f)));
        }
        if let Some(x) = after {
            url.push_str(&format!("after={x}&"));
        }
        if let Some(i) = &instance {
            url.push_str(&format!("instance={}&", enc(i)));
        }
        if let Some(t) = &g.token {
            url.push_str(&format!("token={}&", enc(t)));
        }
        let url = url.trim_end_matches(['&', '?']).to_owned();
        let mut ws = match tokio_tungstenite::connect_async(&url).await {
            Ok((ws, _)) => ws,
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                let body = resp
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                anyhow::bail!(
                    "the server refused the live feed ({}): {}",
                    resp.status(),
                    body
                );
            }
            Err(e) => {
                failures += 1;
                if instance.is_none() && failures == 1 && after.is_none() {
                    // never connected: a wrong --server is a usage problem, say so at once
                    anyhow::bail!(
                        "cannot reach {base}: {e} (is hookpit running? start it with `hookpit`)"
                    );
                }
                if !announced_wait {
                    eprintln!("{}", "connection lost; reconnecting…".yellow());
                    announced_wait = true;
                }
                tokio::time::sleep(Duration::from_millis(250 * u64::from(failures.min(8)))).await;
                continue;
            }
        };
        failures = 0;
        if announced_wait {
            eprintln!("{}", "reconnected".green());
            announced_wait = false;
        }
        while let Some(msg) = ws.next().await {
            let Ok(Message::Text(text)) = msg else {
                if matches!(msg, Ok(Message::Close(_)) | Err(_)) {
                    break;
                }
                continue;
            };
            let v: serde_json::Value = match serde_json::from_str(text.as_str()) {
                Ok(v) => v,
                Err(_) => continue,
            };
            match v["type"].as_str() {
                Some("hello") => {
                    let inst = v["instance"].as_str().map(str::to_owned);
                    if instance.is_some() && inst != instance {
                        eprintln!("{}", "server restarted".yellow());
                    }
                    instance = inst;
                    if after.is_none() {
                        after = v["last_id"].as_u64();
                    }
                }
                Some("request") => {
                    let Ok(r) = serde_json::from_value::<CapturedRequest>(v["request"].clone())
                    else {
                        continue;
                    };
                    after = Some(r.id);
                    let mut out = crate::cli::stdout();
                    if a.json {
                        writeln!(out, "{}", v["request"])?;
                    } else {
                        writeln!(out, "{}", request_line(&r))?;
                        if a.verbose {
                            write!(out, "{}", request_details(&r, 1024))?;
                        }
                    }
                    out.flush()?;
                }
                Some("updated") if !a.json => {
                    if let Ok(r) = serde_json::from_value::<CapturedRequest>(v["request"].clone()) {
                        let mut out = crate::cli::stdout();
                        writeln!(out, "{} {}", "↻".dimmed(), request_line(&r))?;
                        out.flush()?;
                    }
                }
                Some("resync") if !a.json => {
                    eprintln!(
                        "{} {}",
                        "resync:".yellow(),
                        v["reason"].as_str().unwrap_or("fell behind")
                    );
                }
                _ => {}
            }
        }
        let _ = ws.close(None).await;
        if !announced_wait {
            eprintln!("{}", "connection lost; reconnecting…".yellow());
            announced_wait = true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn ls(c: &Client, a: LsArgs) -> Result<i32> {
    match &a.bin {
        None => {
            if a.filter.is_some() {
                anyhow::bail!("--match needs a bin: `hookpit ls BIN --match FILTER`");
            }
            let bins = c.bins().await?;
            if a.json {
                outln!("{}", serde_json::json!({ "bins": bins }));
            } else if bins.is_empty() {
                outln!("no bins yet: send a request to {}/<bin>/…", c.base());
            } else {
                print_bins(&bins)?;
            }
            Ok(EXIT_OK)
        }
        Some(bin) => {
            let page = c.requests(bin, a.filter.as_deref(), a.limit).await?;
            if page.requests.is_empty() {
                // an empty list and a bin that does not exist are told apart
                c.bin(bin).await?;
            }
            if a.json {
                let v = serde_json::json!({
                    "bin": bin,
                    "count": page.requests.len(),
                    "requests": page.requests,
                    "has_more": page.has_more,
                });
                outln!("{v}");
            } else {
                for r in &page.requests {
                    outln!("{}", request_line(r));
                }
                if page.has_more {
                    outln!("{}", "… more (raise --limit)".dimmed());
                }
            }
            Ok(if page.requests.is_empty() && a.filter.is_some() {
                EXIT_NO_MATCH
            } else {
                EXIT_OK
            })
        }
    }
}

fn print_bins(bins: &[BinSummary]) -> Result<()> {
    outln!(
        "{:<24} {:>8} {:>10} {:>8}",
        "BIN".bold(),
        "COUNT".bold(),
        "LAST ID".bold(),
        "EVICTED".bold()
    );
    for b in bins {
        outln!(
            "{:<24} {:>8} {:>10} {:>8}",
            b.name,
            b.count,
            b.last_id,
            b.evicted
        );
    }
    Ok(())
}

async fn show(c: &Client, a: ShowArgs) -> Result<i32> {
    if a.raw {
        let mut path = format!("/_/api/requests/{}/raw", enc(&a.id));
        if let Some(b) = &a.bin {
            path.push_str(&format!("?bin={}", enc(b)));
        }
        let ans = c.send(hyper::Method::GET, &path, None).await?;
        if ans.status != 200 {
            return Err(crate::client::api_error(&ans).into());
        }
        crate::cli::stdout().write_all(&ans.body)?;
        if !ans.body.ends_with(b"\n") {
            // a shell prompt must not start on the body's last line
            outln!();
        }
        return Ok(EXIT_OK);
    }
    let r = match c.request(&a.id, a.bin.as_deref()).await {
        Ok(r) => r,
        Err(e) => match (&a.bin, &e) {
            (Some(bin), crate::Error::Api { status: 404, .. }) => {
                c.bin(bin).await?;
                anyhow::bail!("bin {bin} has no request {}", a.id);
            }
            _ => return Err(e.into()),
        },
    };
    if a.json {
        outln!("{}", serde_json::to_string(&r)?);
    } else {
        outln!("{}", request_line(&r));
        outln!(
            "    {} {}  {} {}  {} {}",
            "from".dimmed(),
            r.remote_addr,
            "version".dimmed(),
            r.version,
            "received".dimmed(),
            crate::model::format_time(r.received_at)
        );
        out!("{}", request_details(&r, 64 * 1024));
    }
    Ok(EXIT_OK)
}

async fn wait(c: &Client, a: WaitArgs) -> Result<i32> {
    parse_duration(&a.timeout).context("--timeout")?;
    anyhow::ensure!(a.count > 0, "--count must be at least 1");
    let mut path = format!(
        "/_/api/bins/{}/wait?count={}&timeout={}",
        enc(&a.bin),
        a.count,
        enc(&a.timeout)
    );
    if let Some(f) = &a.filter {
        path.push_str(&format!("&q={}", enc(f)));
    }
    if let Some(x) = a.after {
        path.push_str(&format!("&after={x}"));
    }
    if a.new {
        path.push_str("&after=now");
    }
    let ans = c.send(hyper::Method::GET, &path, None).await?;
    match ans.status {
        200 => {
            if a.json {
                crate::cli::stdout().write_all(&ans.body)?;
                outln!();
            } else {
                let page: crate::client::RequestPage = serde_json::from_slice(&ans.body)?;
                for r in &page.requests {
                    outln!("{}", request_line(r));
                }
            }
            Ok(EXIT_OK)
        }
        408 => {
            if a.json {
                crate::cli::stdout().write_all(&ans.body)?;
                outln!();
            } else {
                let v: serde_json::Value = serde_json::from_slice(&ans.body)?;
                // the message is a whole sentence that starts with "timed out after …"
                eprintln!(
                    "{}",
                    v["error"]["message"]
                        .as_str()
                        .unwrap_or("timed out: no match")
                        .yellow()
                        .bold()
                );
                let closest = v["closest"].as_array().cloned().unwrap_or_default();
                if closest.is_empty() {
                    eprintln!("  no other request arrived in bin {}", a.bin.bold());
                } else {
                    eprintln!("  closest requests:");
                }
                for item in closest {
                    if let Ok(r) =
                        serde_json::from_value::<CapturedRequest>(item["request"].clone())
                    {
                        eprintln!("  {}", request_line(&r));
                    }
                    // `why` says what was found for each failed term; `failed` alone from an
                    // older server
                    let lines = item["why"]
                        .as_array()
                        .or_else(|| item["failed"].as_array())
                        .cloned()
                        .unwrap_or_default();
                    for t in lines {
                        eprintln!(
                            "      {} {}",
                            "failed:".red(),
                            t.as_str().unwrap_or_default()
                        );
                    }
                }
            }
            Ok(EXIT_NO_MATCH)
        }
        _ => Err(crate::client::api_error(&ans).into()),
    }
}

async fn export(c: &Client, a: ExportArgs) -> Result<i32> {
    let mut path = format!(
        "/_/api/bins/{}/export?format={}",
        enc(&a.bin),
        enc(&a.format)
    );
    if let Some(f) = &a.filter {
        path.push_str(&format!("&q={}", enc(f)));
    }
    let ans = c.send(hyper::Method::GET, &path, None).await?;
    if ans.status != 200 {
        return Err(crate::client::api_error(&ans).into());
    }
    match &a.output {
        Some(file) => std::fs::write(file, &ans.body)
            .with_context(|| format!("cannot write {}", file.display()))?,
        None => crate::cli::stdout().write_all(&ans.body)?,
    }
    Ok(EXIT_OK)
}

async fn replay(c: &Client, a: ReplayArgs) -> Result<i32> {
    let body = serde_json::json!({"url": a.to, "insecure_tls": a.insecure});
    let v: serde_json::Value = c
        .call(
            hyper::Method::POST,
            &format!("/_/api/requests/{}/replay", enc(&a.id)),
            Some(&body),
        )
        .await?;
    let ok = v["ok"].as_bool().unwrap_or(false);
    if a.json {
        outln!("{v}");
    } else {
        match v["status"].as_u64() {
            Some(status) => {
                let s = format!("{status}");
                outln!(
                    "{} {} {} in {:.1} ms",
                    if ok { "→".green() } else { "→".red() },
                    a.to,
                    if ok { s.green() } else { s.red() },
                    v["latency_ms"].as_f64().unwrap_or(0.0)
                );
                if let Some(t) = v["body"]["text"].as_str() {
                    let cut: String = t.chars().take(2048).collect();
                    outln!("{cut}");
                }
            }
            None => outln!(
                "{} {} {}",
                "→".red(),
                a.to,
                v["error"].as_str().unwrap_or("failed").red()
            ),
        }
    }
    Ok(if ok { EXIT_OK } else { EXIT_NO_MATCH })
}
