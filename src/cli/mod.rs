//! The command line's front: the clap definitions of the whole command line (the global and
//! `serve` flags each with a `HOOKPIT_*` environment twin; each verb's options are defined beside
//! its code), the help conventions, and the dispatch from a parsed command line to a verb.
//! [`main`] turns the outcome into the exit code: 0 ok/matched, 1 not matched/timed out,
//! 2 usage or runtime error.
//!
//! The verbs live one concern a file: `serve` (flags → [`Config`](crate::Config), the server),
//! `tail` (the live feed), `requests` (`ls`, `show`, `clear`, `export`, `import`, `replay`),
//! `wait`, `bin` (a bin's behaviour, `forward`), `sender` (`send`, `test`, `events`,
//! `deliveries`, `webhooks`, `sign`, `verify`), `trigger` (provider events, sent offline); `output` owns standard output, colour, the line
//! formats and the one `error:` line; `args` turns flag values into typed values. This module
//! uses them all and `client`; none of them uses this one. Nothing below `cli` sees clap types.

use std::io::Write;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::client::Client;

mod args;
pub mod bin;
pub mod output;
pub mod requests;
pub mod sender;
pub mod serve;
pub mod tail;
pub mod trigger;
pub mod wait;

pub use output::{
    output_closed, print_error, request_details, request_line, stdout, ColorChoice, OutputClosed,
    Stdout, EXIT_ERROR, EXIT_NO_MATCH, EXIT_OK,
};
pub use serve::ServeArgs;

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

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Follow captured requests live, one line each.
    Tail(tail::TailArgs),
    /// List bins, or a bin's requests.
    Ls(requests::LsArgs),
    /// Show one request (an id or `latest`).
    Show(requests::ShowArgs),
    /// Delete a bin's requests (all, or those matching a filter).
    Clear(requests::ClearArgs),
    /// Wait until requests matching a filter arrive (exit 0), or time out (exit 1).
    Wait(wait::WaitArgs),
    /// Export a bin as HAR 1.2 or NDJSON.
    Export(requests::ExportArgs),
    /// Load an NDJSON or HAR export into a bin (new ids, the file's order).
    Import(requests::ImportArgs),
    /// Send a captured request again to another URL, edited and re-signed if asked.
    Replay(requests::ReplayArgs),
    /// Fire an event at every active webhook listening to it (or at one, with --webhook).
    Send(sender::SendArgs),
    /// Send Test Event to one webhook now; exit 0 for a 2xx, 1 otherwise.
    Test(sender::TestArgs),
    /// List the event catalog.
    Events(sender::EventsArgs),
    /// List deliveries and their attempts, newest first.
    Deliveries(sender::DeliveriesArgs),
    /// List the configured webhooks.
    Webhooks(sender::WebhooksArgs),
    /// Print the Standard Webhooks headers for a body (to debug a receiver).
    Sign(sender::SignArgs),
    /// Send a provider's event (stripe, github, shopify, slack, standard-webhooks), signed
    /// its way, to a URL; exit 0 for a 2xx, 1 otherwise.
    Trigger(trigger::TriggerArgs),
    /// Check a signature (any scheme, or a captured request) and say why it fails; exit 0 valid, 1 invalid.
    Verify(sender::VerifyArgs),
    /// Configure a bin: responses, sequences, faults, signature checks, forwarding.
    #[command(subcommand)]
    Bin(bin::BinCommand),
    /// Tunnel a bin's webhooks to a local app and follow them live.
    Forward(bin::ForwardArgs),
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
        "sign" | "verify" | "trigger" | "completions" | "man" => {
            stand_in(sub, &["server", "token"])
        }
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
    output::set_color(cli.global.color);
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

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<i32> {
    let g = cli.global.clone();
    let client = || Client::new(g.server.clone()).with_token(g.token.clone());
    match cli.command {
        None => serve::serve(cli.serve, g.token.clone()).await,
        Some(Command::Serve(a)) => serve::serve(a, g.token.clone()).await,
        Some(Command::Completions(a)) => {
            let mut out = Vec::new();
            clap_complete::generate(a.shell, &mut command(), "hookpit", &mut out);
            stdout().write_all(&out)?;
            Ok(EXIT_OK)
        }
        Some(Command::Man) => {
            let mut out = Vec::new();
            clap_mangen::Man::new(command()).render(&mut out)?;
            stdout().write_all(&out)?;
            Ok(EXIT_OK)
        }
        Some(Command::Tail(a)) => tail::tail(&client(), g.token.as_deref(), a).await,
        Some(Command::Ls(a)) => requests::ls(&client(), a).await,
        Some(Command::Show(a)) => requests::show(&client(), a).await,
        Some(Command::Clear(a)) => requests::clear(&client(), a).await,
        Some(Command::Wait(a)) => wait::wait(&client(), a).await,
        Some(Command::Export(a)) => requests::export(&client(), a).await,
        Some(Command::Import(a)) => requests::import(&client(), a).await,
        Some(Command::Replay(a)) => requests::replay(&client(), a).await,
        Some(Command::Send(a)) => sender::send(&client(), a).await,
        Some(Command::Test(a)) => sender::test(&client(), a).await,
        Some(Command::Events(a)) => sender::events(&client(), a).await,
        Some(Command::Deliveries(a)) => sender::deliveries(&client(), a).await,
        Some(Command::Webhooks(a)) => sender::webhooks(&client(), a).await,
        Some(Command::Sign(a)) => sender::sign_cmd(a),
        Some(Command::Bin(cmd)) => bin::bin(&client(), cmd).await,
        Some(Command::Forward(a)) => bin::forward(&client(), g.token.as_deref(), a).await,
        Some(Command::Verify(a)) => sender::verify_cmd(&client(), a).await,
        Some(Command::Trigger(a)) => trigger::trigger(a).await,
    }
}
