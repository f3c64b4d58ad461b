//! `hookpit tail`: follows captured requests live over the server's websocket feed, one line
//! each (or request JSON lines), replaying kept requests after an id first, and reconnecting on
//! its own (resuming after the last request seen, saying when the server restarted).
//!
//! Uses `client` (the server's base URL, percent-encoding), `model`, and `cli`'s `args` and
//! `output`. `bin`'s `forward` follows a bin through it.

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use colored::Colorize;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use super::args::query;
use super::output::{request_details, request_line, stdout};
use crate::client::Client;
use crate::model::CapturedRequest;

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

/// Follows the feed of the server `c` talks to (sending `token`, when there is one) until the
/// process is stopped; returns only for an error.
pub async fn tail(c: &Client, token: Option<&str>, a: TailArgs) -> Result<i32> {
    let base = c.base();
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
        let url = format!(
            "{ws_base}/_/ws{}",
            query(&[
                ("bin", a.bin.clone()),
                ("q", a.filter.clone()),
                ("after", after.map(|x| x.to_string())),
                ("instance", instance.clone()),
                ("token", token.map(str::to_owned)),
            ])
        );
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
                say_lost(&mut announced_wait);
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
                    let mut out = stdout();
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
                        let mut out = stdout();
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
                // the shared store going away (captures refused) and coming back
                Some("store") if !a.json => {
                    if v["ok"] == false {
                        eprintln!(
                            "{} {}",
                            "store offline:".red(),
                            v["error"].as_str().unwrap_or("captures are refused")
                        );
                    } else {
                        eprintln!("{} captures are taken again", "store back:".green());
                    }
                }
                _ => {}
            }
        }
        let _ = ws.close(None).await;
        say_lost(&mut announced_wait);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Says that the feed was lost, once until it is back.
fn say_lost(announced: &mut bool) {
    if !*announced {
        eprintln!("{}", "connection lost; reconnecting…".yellow());
        *announced = true;
    }
}
