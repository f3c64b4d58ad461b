//! `hookpit trigger PROVIDER EVENT --to URL`: makes a provider event offline and sends it
//! straight to the target (no running hookpit needed), with the library's outbound client and
//! a bounded timeout; `hookpit trigger --list [PROVIDER]` lists what it knows. Exit 0 when the
//! target answered 2xx, 1 otherwise, 2 for a usage error (an unknown provider or event names
//! the nearest ones). Without `--secret` a secret in the provider's own form is made and
//! printed first, so the receiver can be set up with it.
//!
//! Uses `provider` (the event), `trigger_api` (the send and its JSON, the API's shape),
//! `outbound`, and `cli`'s `args` and `output`. `cli/mod.rs` owns the `Command` enum and calls
//! the functions here.

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::Args;
use colored::Colorize;

use super::args::read_input_within;
use super::output::{outln, preview, status_text, EXIT_NO_MATCH, EXIT_OK};
use crate::provider::{self, Provider, Trigger};
use crate::trigger_api::{fire, Target};
use crate::units::parse_duration;

/// How much of the answer's body is printed.
const PREVIEW_CHARS: usize = 512;

/// `trigger`'s options.
#[derive(Debug, Args)]
pub struct TriggerArgs {
    /// The provider: stripe, github, shopify, slack or standard-webhooks.
    #[arg(required_unless_present = "list")]
    pub provider: Option<String>,
    /// The event (see `hookpit trigger --list PROVIDER`).
    #[arg(required_unless_present = "list")]
    pub event: Option<String>,
    /// Where to send it (an http or https URL).
    #[arg(long, required_unless_present = "list")]
    pub to: Option<String>,
    /// The signing secret (default: a new one in the provider's form, printed first).
    #[arg(long)]
    pub secret: Option<String>,
    /// Set a value in the payload: a dot path and a JSON value (`5000`, `true`, `null`,
    /// `{…}`, `"eur"`), or text when it is not JSON. Repeatable.
    #[arg(long = "set", value_name = "PATH=VALUE", allow_hyphen_values = true)]
    pub sets: Vec<String>,
    /// Replace the payload with this JSON: a file, or `-` for stdin. Sent byte for byte.
    #[arg(long, short)]
    pub data: Option<String>,
    /// An extra header, `Name: value` (replaces the provider's header of that name). Repeatable.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// How long the target may take to answer.
    #[arg(long, default_value = "30s")]
    pub timeout: String,
    /// Accept any TLS certificate (a local app's self-signed one).
    #[arg(long)]
    pub insecure: bool,
    /// Print one JSON object (the API's answer shape).
    #[arg(long)]
    pub json: bool,
    /// List the providers, or PROVIDER's events.
    #[arg(long)]
    pub list: bool,
}

/// `hookpit trigger`.
pub async fn trigger(a: TriggerArgs) -> Result<i32> {
    if a.list {
        return list(a.provider.as_deref());
    }
    let (Some(provider), Some(event), Some(to)) = (a.provider, a.event, a.to) else {
        bail!("PROVIDER, EVENT and --to are required (or --list)");
    };
    let provider = Provider::parse(&provider)?;
    let url = crate::webhook::check_url(&to).map_err(|m| anyhow::anyhow!("--to: {m}"))?;
    let timeout = parse_duration(&a.timeout).context("--timeout")?;
    let mut sets = Vec::with_capacity(a.sets.len());
    for s in &a.sets {
        let Some((path, value)) = s.split_once('=') else {
            bail!("--set `{s}`: expected PATH=VALUE, like data.object.amount=5000");
        };
        sets.push((path.trim().to_owned(), provider::parse_value(value)));
    }
    let mut headers = Vec::with_capacity(a.headers.len());
    for h in &a.headers {
        let Some((name, value)) = h.split_once(':') else {
            bail!("--header `{h}`: expected `Name: value`");
        };
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let data = match &a.data {
        Some(d) => Some(Bytes::from(read_input_within(
            Some(d),
            "--data",
            provider::MAX_DATA,
        )?)),
        None => None,
    };
    let prepared = provider::prepare(&Trigger {
        provider,
        event,
        secret: a.secret,
        sets,
        data,
        headers,
    })?;
    let target = Target {
        url: url.clone(),
        timeout,
        insecure_tls: a.insecure,
        via: None,
    };
    let outbound = crate::outbound::Outbound::new();
    let v = fire(&outbound, &prepared, &target).await;
    let ok = v["ok"].as_bool().unwrap_or(false);
    if a.json {
        outln!("{v}");
    } else {
        if prepared.secret_generated {
            outln!("secret {}", prepared.secret);
        }
        match v["status"].as_u64() {
            Some(status) => {
                outln!(
                    "{} {} {} {} {} in {:.1} ms",
                    if ok { "→".green() } else { "→".red() },
                    prepared.provider,
                    prepared.event.bold(),
                    url,
                    status_text(Some(status), ok),
                    v["latency_ms"].as_f64().unwrap_or(0.0)
                );
                if let Some(t) = v["body"]["text"].as_str() {
                    if !t.is_empty() {
                        outln!("{}", preview(t, PREVIEW_CHARS));
                    }
                }
            }
            None => outln!(
                "{} {} {} {} {}",
                "→".red(),
                prepared.provider,
                prepared.event.bold(),
                url,
                v["error"].as_str().unwrap_or("failed").red()
            ),
        }
    }
    Ok(if ok { EXIT_OK } else { EXIT_NO_MATCH })
}

/// `--list`: each provider and its events on one line, or one provider's events one a line.
fn list(provider: Option<&str>) -> Result<i32> {
    match provider {
        Some(name) => {
            for e in Provider::parse(name)?.events() {
                outln!("{e}");
            }
        }
        None => {
            for p in Provider::ALL {
                outln!("{} {}", p.as_str().bold(), p.events().join(", ").dimmed());
            }
        }
    }
    Ok(EXIT_OK)
}
