//! The sender's command-line verbs: `send`, `test`, `events`, `deliveries`, `webhooks` (client
//! commands talking to a running server's `/_/api`), `sign` (a local Standard Webhooks helper
//! for debugging a receiver) and `verify` (the signature doctor for any scheme, over given
//! headers and a body or over a request the server captured). Exit codes as everywhere: 0 ok, 1 not ok (a failed
//! test or delivery, an invalid signature), 2 usage or runtime error.
//!
//! Uses `client`, `deliver` (the JSON views), `catalog`, `sign`, `units`, and `cli`'s `args`
//! and `output` (the delivery line, exit codes). `cli/mod.rs` owns the `Command` enum and calls
//! the functions here.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::Args;
use colored::Colorize;
use hyper::Method;
use serde_json::Value;

use super::args::{self, query, read_input};
use super::output::{delivery_line, outln, preview, status_text, stdout, EXIT_NO_MATCH, EXIT_OK};
use crate::catalog::EventDef;
use crate::client::{api_error, enc, Client};
use crate::deliver::{DeliveryView, Dispatched, TestOutcome, WebhookView};
use crate::sign;
use crate::units::parse_duration;

/// `send`'s options.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The event to fire (see `hookpit events`).
    pub event: String,
    /// The payload: a JSON file, or `-` for stdin (default: the event's sample).
    #[arg(long, short)]
    pub data: Option<String>,
    /// Only this webhook (name or id), whatever events it listens to.
    #[arg(long, short)]
    pub webhook: Option<String>,
    /// Wait until every delivery succeeded (exit 0) or failed (exit 1).
    #[arg(long)]
    pub wait: bool,
    /// With --wait: how long at most (e.g. 60s).
    #[arg(long, default_value = "60s")]
    pub timeout: String,
    /// Print the API's JSON.
    #[arg(long)]
    pub json: bool,
}

/// `test`'s options.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The webhook: its name or id.
    pub webhook: String,
    /// The event to send (default: the webhook's first event).
    #[arg(long, short)]
    pub event: Option<String>,
    /// The payload: a JSON file, or `-` for stdin (default: the event's sample).
    #[arg(long, short)]
    pub data: Option<String>,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `events`' options.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Print the API's JSON (with sample payloads).
    #[arg(long)]
    pub json: bool,
}

/// `deliveries`' options.
#[derive(Debug, Args)]
pub struct DeliveriesArgs {
    /// Only this webhook (name or id).
    #[arg(long, short)]
    pub webhook: Option<String>,
    /// Only pending, succeeded or failed deliveries.
    #[arg(long, short)]
    pub status: Option<String>,
    /// Only this event.
    #[arg(long, short)]
    pub event: Option<String>,
    /// How many at most (newest first).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Print the API's JSON.
    #[arg(long)]
    pub json: bool,
}

/// `webhooks`' options.
#[derive(Debug, Args)]
pub struct WebhooksArgs {
    /// Print the API's JSON (secrets included).
    #[arg(long)]
    pub json: bool,
}

/// `sign`'s options.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The `whsec_…` secret.
    #[arg(long, env = "HOOKPIT_SECRET", hide_env_values = true)]
    pub secret: String,
    /// The message id (default: a new `msg_…`).
    #[arg(long)]
    pub id: Option<String>,
    /// The Unix timestamp (default: now).
    #[arg(long, allow_negative_numbers = true)]
    pub timestamp: Option<i64>,
    /// The body: a file, or `-` / nothing for stdin. Signed byte for byte.
    pub file: Option<String>,
}

/// `verify`'s options.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The secret: `whsec_…` for Standard Webhooks, the signing secret as text for the others.
    #[arg(long, env = "HOOKPIT_SECRET", hide_env_values = true)]
    pub secret: String,
    /// The scheme: standard-webhooks (default), github, stripe, shopify or slack; for
    /// `--request`, the default is the scheme the request's bin checked.
    #[arg(long)]
    pub scheme: Option<String>,
    /// A received header, `-H 'Stripe-Signature: t=…,v1=…'` (repeatable).
    #[arg(long = "header", short = 'H', value_name = "K: V")]
    pub headers: Vec<String>,
    /// Diagnose a request captured by the running server (its headers and exact body).
    #[arg(long, value_name = "ID", conflicts_with_all = ["id", "timestamp", "signature", "headers", "file"])]
    pub request: Option<String>,
    /// The `webhook-id` header (Standard Webhooks shorthand for `-H`).
    #[arg(long)]
    pub id: Option<String>,
    /// The `webhook-timestamp` header (Standard Webhooks shorthand for `-H`).
    #[arg(long, allow_hyphen_values = true)]
    pub timestamp: Option<String>,
    /// The `webhook-signature` header (one or more space-separated `v1,…` tokens).
    #[arg(long)]
    pub signature: Option<String>,
    /// Also refuse a timestamp further than this from now (from when it was received, for
    /// `--request`), e.g. 5m; not checked by default.
    #[arg(long)]
    pub tolerance: Option<String>,
    /// The body: a file, or `-` / nothing for stdin.
    pub file: Option<String>,
}

/// `hookpit send EVENT`.
pub async fn send(c: &Client, a: SendArgs) -> Result<i32> {
    let wait_for = parse_duration(&a.timeout).context("--timeout")?;
    let body = match &a.data {
        Some(d) => Some(Bytes::from(read_input(Some(d))?)),
        None => None,
    };
    let mut path = format!("/_/api/events/{}?trigger=manual", enc(&a.event));
    if let Some(w) = &a.webhook {
        path.push_str(&format!("&webhook={}", enc(w)));
    }
    let ans = c.send(Method::POST, &path, body).await?;
    if ans.status == 404 && a.webhook.is_none() {
        let list: EventList = c.get("/_/api/events").await?;
        let near = crate::names::nearest(&a.event, list.events.iter().map(|e| e.name.as_str()));
        let hint = match near.as_slice() {
            [] => "see `hookpit events` for the catalog".to_owned(),
            [one] => format!("did you mean {one}?"),
            many => format!("did you mean one of {}?", many.join(", ")),
        };
        let mut e = api_error(&ans);
        if let crate::Error::Api { message, .. } = &mut e {
            *message = format!("{message}; {hint}");
        }
        return Err(e.into());
    }
    if !(200..300).contains(&ans.status) {
        return Err(api_error(&ans).into());
    }
    let d: Dispatched = serde_json::from_slice(&ans.body)?;
    if !a.wait {
        if a.json {
            outln!("{}", serde_json::to_string(&d)?);
        } else if d.deliveries.is_empty() {
            eprintln!(
                "{} no active webhook listens to {} (see `hookpit webhooks`)",
                "warning:".yellow().bold(),
                d.event.bold()
            );
        } else {
            outln!(
                "sent {} as {} to {} webhook{} (deliveries {})",
                d.event.bold(),
                d.message_id.dimmed(),
                d.deliveries.len(),
                if d.deliveries.len() == 1 { "" } else { "s" },
                d.deliveries
                    .iter()
                    .map(|i| format!("#{i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        return Ok(EXIT_OK);
    }
    let deadline = Instant::now() + wait_for;
    let mut done: Vec<DeliveryView> = Vec::new();
    for id in &d.deliveries {
        done.push(wait_delivery(c, *id, deadline).await?);
    }
    let all_ok = done.iter().all(|v| v.state == "succeeded");
    if a.json {
        outln!(
            "{}",
            serde_json::json!({"message_id": d.message_id, "event": d.event, "deliveries": done})
        );
    } else {
        for v in &done {
            outln!("{}", delivery_line(v));
        }
        if d.deliveries.is_empty() {
            eprintln!(
                "{} no active webhook listens to {}",
                "warning:".yellow().bold(),
                d.event.bold()
            );
        }
    }
    Ok(if all_ok { EXIT_OK } else { EXIT_NO_MATCH })
}

/// The longest wait the server takes in one request (`GET /_/api/deliveries/{id}/wait`).
const MAX_SERVER_WAIT: Duration = Duration::from_secs(3600);

/// Waits on the server until delivery `id` succeeded or failed, or `deadline` passed; returns
/// the delivery as it then stands.
async fn wait_delivery(c: &Client, id: u64, deadline: Instant) -> Result<DeliveryView> {
    #[derive(serde::Deserialize)]
    struct TimedOut {
        delivery: DeliveryView,
    }
    loop {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .min(MAX_SERVER_WAIT);
        // whole milliseconds, rounded up: the server never answers before the deadline
        let ms = left.as_micros().div_ceil(1000);
        let path = format!("/_/api/deliveries/{id}/wait?timeout={ms}ms");
        let ans = c.send(Method::GET, &path, None).await?;
        match ans.status {
            200 => return Ok(serde_json::from_slice(&ans.body)?),
            408 => {
                let t: TimedOut = serde_json::from_slice(&ans.body)?;
                if Instant::now() >= deadline {
                    return Ok(t.delivery);
                }
            }
            _ => return Err(api_error(&ans).into()),
        }
    }
}

/// `hookpit test WEBHOOK`: exit 0 for a 2xx, 1 otherwise.
pub async fn test(c: &Client, a: TestArgs) -> Result<i32> {
    let mut body = serde_json::Map::new();
    if let Some(e) = &a.event {
        body.insert("event".into(), Value::String(e.clone()));
    }
    if let Some(d) = &a.data {
        let bytes = read_input(Some(d))?;
        let v: Value = serde_json::from_slice(&bytes).context("--data is not JSON")?;
        body.insert("payload".into(), v);
    }
    let out: TestOutcome = c
        .call(
            Method::POST,
            &format!("/_/api/webhooks/{}/test", enc(&a.webhook)),
            Some(&Value::Object(body)),
        )
        .await?;
    if a.json {
        outln!("{}", serde_json::to_string(&out)?);
    } else {
        let mark = if out.ok { "✓".green() } else { "✗".red() };
        match (&out.response, &out.error) {
            (Some(r), _) => {
                outln!(
                    "{mark} {} {} in {:.1} ms {}",
                    a.webhook.bold(),
                    status_text(Some(r.status), out.ok),
                    out.latency_ms,
                    format!("(delivery #{})", out.delivery_id).dimmed()
                );
                if let Some(b) = r.body.as_deref().filter(|b| !b.is_empty()) {
                    outln!("{}", preview(b, 2048));
                }
            }
            (None, e) => outln!(
                "{mark} {} {} {}",
                a.webhook.bold(),
                e.as_deref().unwrap_or("no response").red(),
                format!("(delivery #{})", out.delivery_id).dimmed()
            ),
        }
    }
    Ok(if out.ok { EXIT_OK } else { EXIT_NO_MATCH })
}

/// Prints the JSON the API answers at `path`, as one line (the verbs' `--json`).
async fn print_api_json(c: &Client, path: &str) -> Result<i32> {
    let v: Value = c.get(path).await?;
    outln!("{v}");
    Ok(EXIT_OK)
}

#[derive(serde::Deserialize)]
struct EventList {
    events: Vec<EventDef>,
}

/// `hookpit events`.
pub async fn events(c: &Client, a: EventsArgs) -> Result<i32> {
    if a.json {
        return print_api_json(c, "/_/api/events").await;
    }
    let list: EventList = c.get("/_/api/events").await?;
    // pad the plain text, then colour it: escape codes must not count as width
    let name_w = list
        .events
        .iter()
        .map(|e| e.name.chars().count())
        .max()
        .unwrap_or(4);
    let title_w = list
        .events
        .iter()
        .map(|e| e.title.chars().count() + if e.builtin { 0 } else { 9 })
        .max()
        .unwrap_or(5);
    for e in &list.events {
        let title = if e.builtin {
            e.title.clone()
        } else {
            format!("{} (custom)", e.title)
        };
        outln!(
            "{}  {}  {}",
            format!("{:<name_w$}", e.name).bold(),
            format!("{title:<title_w$}"),
            e.description.dimmed()
        );
    }
    Ok(EXIT_OK)
}

#[derive(serde::Deserialize)]
struct DeliveryList {
    deliveries: Vec<DeliveryView>,
}

/// `hookpit deliveries`.
pub async fn deliveries(c: &Client, a: DeliveriesArgs) -> Result<i32> {
    let mut path = format!(
        "/_/api/deliveries{}",
        query(&[
            ("limit", Some(a.limit.to_string())),
            ("webhook", a.webhook.clone()),
            ("status", a.status.clone()),
            ("event", a.event.clone()),
        ])
    );
    if a.json {
        return print_api_json(c, &path).await;
    }
    path.push_str("&body=false");
    let list: DeliveryList = c.get(&path).await?;
    if list.deliveries.is_empty() {
        outln!("no deliveries yet: fire one with `hookpit send EVENT` or `hookpit test WEBHOOK`");
    }
    for d in &list.deliveries {
        outln!("{}", delivery_line(d));
    }
    Ok(EXIT_OK)
}

#[derive(serde::Deserialize)]
struct WebhookList {
    webhooks: Vec<WebhookView>,
}

/// `hookpit webhooks`.
pub async fn webhooks(c: &Client, a: WebhooksArgs) -> Result<i32> {
    if a.json {
        return print_api_json(c, "/_/api/webhooks").await;
    }
    let list: WebhookList = c.get("/_/api/webhooks").await?;
    if list.webhooks.is_empty() {
        outln!("no webhooks: add one in the viewer, hookpit.toml or POST /_/api/webhooks");
    }
    for w in &list.webhooks {
        let active = if w.active {
            "active".green()
        } else {
            "inactive".red()
        };
        let last = w
            .last_status
            .map(|s| format!("last {s}"))
            .unwrap_or_default();
        outln!(
            "{} {} {} {} {} {} {} {}",
            format!("#{}", w.id).dimmed(),
            w.name.bold(),
            w.url.cyan(),
            w.events.join(",").dimmed(),
            format!("signed {}", w.signature).dimmed(),
            active,
            format!("sent {}", w.sent_count).dimmed(),
            last.dimmed()
        );
    }
    Ok(EXIT_OK)
}

/// `hookpit sign`: prints the three `webhook-*` headers for a body.
pub fn sign_cmd(a: SignArgs) -> Result<i32> {
    let secret = sign::Secret::parse(&a.secret).context("--secret")?;
    let body = read_input(a.file.as_deref())?;
    let id = match a.id {
        Some(id) => id,
        None => sign::new_msg_id().map_err(|e| anyhow::anyhow!("{e}"))?,
    };
    anyhow::ensure!(
        !id.is_empty() && !id.contains('.'),
        "--id must be non-empty and contain no `.`"
    );
    let ts = a.timestamp.unwrap_or_else(sign::unix_now);
    let mut out = stdout();
    for (k, v) in sign::sign_headers(&secret, &id, ts, &body) {
        writeln!(out, "{k}: {v}")?;
    }
    Ok(EXIT_OK)
}

/// `hookpit verify`: checks a signature under any scheme — given as headers and a body, or a
/// request the server `c` captured — and prints the signature doctor's diagnosis: exit 0 when
/// valid, 1 when not (with why, and the expected and received signatures).
pub async fn verify_cmd(c: &Client, a: VerifyArgs) -> Result<i32> {
    let mut tolerance = match &a.tolerance {
        Some(t) => args::duration("--tolerance", t)?.as_secs() as i64,
        None => i64::MAX,
    };
    let (scheme, headers, body, now) = match &a.request {
        Some(id) => {
            let r = c.request(id, None).await?;
            anyhow::ensure!(
                !r.body.truncated,
                "request {id}'s body was cut at the server's --max-body, so its signature cannot be checked"
            );
            // the bin's own check, as far as it is still configured: its scheme and tolerance
            let bin_verify = c
                .bin(&r.bin)
                .await
                .ok()
                .and_then(|b| b.pointer("/config/verify").cloned());
            if a.tolerance.is_none() {
                if let Some(v) = &bin_verify {
                    tolerance = v
                        .get("tolerance")
                        .and_then(|t| t.as_str())
                        .and_then(|t| crate::units::parse_duration(t).ok())
                        .map_or(sign::DEFAULT_TOLERANCE_SECS, |d| d.as_secs() as i64);
                }
            }
            let scheme = a
                .scheme
                .clone()
                .or_else(|| r.signature.as_ref().map(|s| s.scheme.clone()))
                .or_else(|| {
                    bin_verify
                        .as_ref()
                        .and_then(|v| v.get("scheme"))
                        .and_then(|s| s.as_str())
                        .map(str::to_owned)
                });
            let headers: Vec<(String, Vec<u8>)> = r
                .headers
                .iter()
                .map(|h| (h.name.to_string(), h.value.to_vec()))
                .collect();
            let at = r
                .received_at
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            (scheme, headers, r.body.bytes.to_vec(), at)
        }
        None => {
            let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
            for h in &a.headers {
                let (k, v) = h
                    .split_once(':')
                    .with_context(|| format!("-H `{h}`: expected `Name: value`"))?;
                headers.push((k.trim().to_owned(), v.trim().as_bytes().to_vec()));
            }
            let shorthand = [
                (sign::WEBHOOK_ID, &a.id),
                (sign::WEBHOOK_TIMESTAMP, &a.timestamp),
                (sign::WEBHOOK_SIGNATURE, &a.signature),
            ];
            for (name, value) in shorthand {
                if let Some(v) = value {
                    headers.push((name.to_owned(), v.as_bytes().to_vec()));
                }
            }
            let body = read_input(a.file.as_deref())?;
            (a.scheme.clone(), headers, body, sign::unix_now())
        }
    };
    let scheme: sign::Scheme = scheme
        .as_deref()
        .unwrap_or("standard-webhooks")
        .parse()
        .context("--scheme")?;
    if scheme == sign::Scheme::StandardWebhooks {
        sign::Secret::parse(&a.secret).context("--secret")?;
    }
    let borrowed: Vec<(&str, &[u8])> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect();
    let d = sign::diagnose(scheme, &a.secret, &borrowed, &body, now, tolerance);
    if d.is_valid() {
        outln!("{}", "valid".green().bold());
        return Ok(EXIT_OK);
    }
    outln!(
        "{} {}",
        "invalid:".red().bold(),
        d.reason.as_deref().unwrap_or("missing")
    );
    if let Some(e) = &d.expected {
        outln!("  {} {e}", "expected:".dimmed());
    }
    if let Some(r) = &d.received {
        outln!("  {} {r}", "received:".dimmed());
    }
    Ok(EXIT_NO_MATCH)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_negative_timestamp_is_a_value_for_verify_and_sign() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from([
            "hookpit",
            "verify",
            "--secret",
            "s",
            "--timestamp",
            "-1",
            "body.json",
        ])
        .unwrap();
        let Some(crate::cli::Command::Verify(a)) = cli.command else {
            panic!("not verify");
        };
        assert_eq!(a.timestamp.as_deref(), Some("-1"));
        let cli = crate::cli::Cli::try_parse_from([
            "hookpit",
            "sign",
            "--secret",
            "s",
            "--timestamp",
            "-5",
        ])
        .unwrap();
        let Some(crate::cli::Command::Sign(a)) = cli.command else {
            panic!("not sign");
        };
        assert_eq!(a.timestamp, Some(-5));
    }
}
