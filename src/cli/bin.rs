//! The CLI verbs for a bin's behaviour: `hookpit bin set|show|reset` (response, sequence, fault,
//! verification, forwarding, capacity, rate limit) and `hookpit forward BIN --to URL`, the one-liner that
//! tunnels a bin's webhooks to a local app and follows them live.
//!
//! Uses `client`, `rules` (the config shape), `limit` (its rate limit part), `units` and `cli`'s `args`, `output` and `tail`.
//! Settings are merged client-side: `bin set` reads the bin's config, changes what its flags
//! name, and PUTs the whole config back, so the server validates one complete document.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use colored::Colorize;
use hyper::Method;

use super::args;
use super::output::{outln, EXIT_OK};
use super::tail::{tail, TailArgs};
use crate::client::{enc, Client};
use crate::limit::LimitSpec;
use crate::rules::{BinConfig, FaultSpec, ForwardSpec, ResponseSpec, VerifySpec};
use crate::units::Dur;

/// `bin`'s verbs.
#[derive(Debug, Subcommand)]
pub enum BinCommand {
    /// Change a bin's behaviour (only what the flags name; the rest is kept).
    Set(Box<BinSetArgs>),
    /// Print a bin's summary and configuration.
    Show(BinNameArgs),
    /// Restart a bin's response sequence at its first step.
    Reset(BinNameArgs),
}

/// A bin's name.
#[derive(Debug, Args)]
pub struct BinNameArgs {
    pub bin: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `bin set`'s options.
#[derive(Debug, Args, Default)]
pub struct BinSetArgs {
    /// The bin (created if it does not exist).
    pub bin: String,
    /// Replace the whole config with this JSON file (`-` for stdin); other flags then apply on top.
    #[arg(long)]
    pub config: Option<String>,
    /// Response status.
    #[arg(long)]
    pub status: Option<u16>,
    /// Response body (placeholders like {{json:/challenge}} are filled from the request).
    #[arg(long)]
    pub body: Option<String>,
    /// A response header `Name: value` (repeatable).
    #[arg(long = "header", short = 'H')]
    pub headers: Vec<String>,
    /// Response delay (e.g. 250ms).
    #[arg(long)]
    pub delay: Option<String>,
    /// An ordered sequence of statuses answered first, e.g. 500,500,200 (empty string clears).
    #[arg(long, value_delimiter = ',')]
    pub sequence: Option<Vec<String>>,
    /// Fraction of requests answered with a fault (0 turns faults off).
    #[arg(long)]
    pub fault_rate: Option<f64>,
    /// Status of a fault answer.
    #[arg(long)]
    pub fault_status: Option<u16>,
    /// Drop the connection on a fault instead of answering.
    #[arg(long)]
    pub fault_drop: bool,
    /// Seed of the fault generator.
    #[arg(long)]
    pub fault_seed: Option<u64>,
    /// Verify incoming signatures: standard-webhooks, github, stripe, shopify, slack, or none.
    #[arg(long)]
    pub verify: Option<String>,
    /// The secret for --verify.
    #[arg(long)]
    pub secret: Option<String>,
    /// Timestamp tolerance for --verify (e.g. 5m).
    #[arg(long)]
    pub tolerance: Option<String>,
    /// Forward every request to this URL (`none` stops forwarding).
    #[arg(long)]
    pub forward: Option<String>,
    /// Forward mode: mirror or passthrough.
    #[arg(long)]
    pub mode: Option<String>,
    /// Requests kept in this bin.
    #[arg(long)]
    pub max_requests: Option<usize>,
    /// Rate limit as RATE/INTERVAL, e.g. 5/s, 100/m, 10/500ms (`none` removes it); requests
    /// over it are answered 429 with Retry-After, and still recorded.
    #[arg(long, value_name = "RATE/INTERVAL")]
    pub limit: Option<String>,
    /// Requests the rate limit admits at once after a quiet spell (default: the rate).
    #[arg(long)]
    pub burst: Option<u64>,
    /// Status of a request over the rate limit (default 429).
    #[arg(long)]
    pub limit_status: Option<u16>,
    /// Print the resulting summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `forward`'s options.
#[derive(Debug, Args)]
pub struct ForwardArgs {
    /// The bin whose requests to forward.
    pub bin: String,
    /// The local app, e.g. http://localhost:3000/webhooks.
    #[arg(long)]
    pub to: String,
    /// mirror (answer at once) or passthrough (answer with the app's response).
    #[arg(long, default_value = "passthrough")]
    pub mode: String,
    /// Accept the app's self-signed certificate.
    #[arg(long)]
    pub insecure: bool,
}

async fn current(c: &Client, bin: &str) -> Result<BinConfig> {
    let ans = c
        .send(Method::GET, &format!("/_/api/bins/{}", enc(bin)), None)
        .await?;
    if ans.status == 404 {
        return Ok(BinConfig::default());
    }
    if ans.status != 200 {
        return Err(crate::client::api_error(&ans).into());
    }
    let v: serde_json::Value = serde_json::from_slice(&ans.body)?;
    Ok(BinConfig::from_json(&v["config"])?)
}

async fn put(c: &Client, bin: &str, cfg: &BinConfig) -> Result<serde_json::Value> {
    let body = serde_json::to_value(cfg)?;
    Ok(c.call(
        Method::PUT,
        &format!("/_/api/bins/{}", enc(bin)),
        Some(&body),
    )
    .await?)
}

fn dur(flag: &str, s: &str) -> Result<Dur> {
    Ok(Dur(args::duration(flag, s)?))
}

/// Applies `bin set`'s flags to a config.
pub fn apply_flags(mut cfg: BinConfig, a: &BinSetArgs) -> Result<BinConfig> {
    if a.status.is_some() || a.body.is_some() || !a.headers.is_empty() || a.delay.is_some() {
        let r = cfg.response.get_or_insert_with(ResponseSpec::default);
        if a.status.is_some() {
            r.status = a.status;
        }
        if let Some(b) = &a.body {
            r.body = Some(serde_json::Value::String(b.clone()));
        }
        for h in &a.headers {
            let (k, v) = h
                .split_once(':')
                .with_context(|| format!("--header `{h}`: expected `Name: value`"))?;
            r.headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        if let Some(d) = &a.delay {
            r.delay = Some(dur("--delay", d)?);
        }
    }
    if let Some(seq) = &a.sequence {
        cfg.sequence = seq
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.trim()
                    .parse::<u16>()
                    .map(|status| ResponseSpec {
                        status: Some(status),
                        ..ResponseSpec::default()
                    })
                    .with_context(|| format!("--sequence: `{s}` is not a status"))
            })
            .collect::<Result<_>>()?;
    }
    if let Some(rate) = a.fault_rate {
        cfg.fault = if rate == 0.0 {
            None
        } else {
            Some(FaultSpec {
                rate,
                status: a
                    .fault_status
                    .or(if a.fault_drop { None } else { Some(503) }),
                drop: a.fault_drop,
                delay: None,
                seed: a.fault_seed,
            })
        };
    }
    if let Some(scheme) = &a.verify {
        cfg.verify = if scheme == "none" {
            None
        } else {
            Some(VerifySpec {
                scheme: scheme.clone(),
                secret: a.secret.clone().context("--verify needs --secret")?,
                tolerance: a
                    .tolerance
                    .as_deref()
                    .map(|t| dur("--tolerance", t))
                    .transpose()?,
            })
        };
    }
    if let Some(url) = &a.forward {
        cfg.forward = if url == "none" {
            None
        } else {
            Some(ForwardSpec {
                url: url.clone(),
                mode: a.mode.clone(),
                timeout: None,
                insecure_tls: false,
            })
        };
    }
    if a.max_requests.is_some() {
        cfg.max_requests = a.max_requests;
    }
    if let Some(l) = &a.limit {
        cfg.limit = if l.trim() == "none" {
            None
        } else {
            let (rate, per) = rate_per(l)?;
            Some(LimitSpec {
                rate,
                per: Some(per),
                burst: None,
                status: None,
            })
        };
    }
    if a.burst.is_some() || a.limit_status.is_some() {
        let l = cfg.limit.as_mut().context(
            "--burst and --limit-status change a rate limit: give one with --limit RATE/INTERVAL",
        )?;
        if a.burst.is_some() {
            l.burst = a.burst;
        }
        if a.limit_status.is_some() {
            l.status = a.limit_status;
        }
    }
    Ok(cfg)
}

/// `5/s`, `100/m`, `10/500ms`, `3/2s`: a rate and the interval it is counted over.
fn rate_per(s: &str) -> Result<(u64, Dur)> {
    let (rate, per) = s
        .split_once('/')
        .with_context(|| format!("--limit `{s}`: expected RATE/INTERVAL, e.g. 5/s or 100/m"))?;
    let rate: u64 = rate
        .trim()
        .parse()
        .with_context(|| format!("--limit `{s}`: `{rate}` is not a whole number of requests"))?;
    let per = per.trim();
    if per.is_empty() {
        anyhow::bail!("--limit `{s}`: expected RATE/INTERVAL, e.g. 5/s or 100/m");
    }
    // a bare unit means one of it: `s` is `1s`; anything else is read (and quoted) as typed
    let per = if per.chars().all(char::is_alphabetic) {
        format!("1{per}")
    } else {
        per.to_owned()
    };
    Ok((rate, dur("--limit", &per)?))
}

fn print_summary(v: &serde_json::Value, json: bool) -> Result<()> {
    if json {
        outln!("{v}");
        return Ok(());
    }
    outln!(
        "{}  {} requests, last id {}, {} evicted",
        v["name"].as_str().unwrap_or("?").bold(),
        v["count"],
        v["last_id"],
        v["evicted"]
    );
    if let Some(p) = v["sequence_position"].as_u64() {
        outln!("  sequence position {p}");
    }
    let cfg = &v["config"];
    if cfg.as_object().is_some_and(|o| o.is_empty()) {
        outln!("  default behaviour: 200 with a small JSON body");
    } else {
        outln!(
            "{}",
            serde_json::to_string_pretty(cfg)
                .unwrap_or_default()
                .lines()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    Ok(())
}

/// Runs `bin …`.
pub async fn bin(c: &Client, cmd: BinCommand) -> Result<i32> {
    match cmd {
        BinCommand::Set(a) => {
            let base = match &a.config {
                None => current(c, &a.bin).await?,
                Some(path) => {
                    let text = args::read_input(Some(path))?;
                    let v: serde_json::Value = serde_json::from_slice(&text)
                        .with_context(|| format!("{path}: not JSON"))?;
                    BinConfig::from_json(&v).with_context(|| path.clone())?
                }
            };
            let cfg = apply_flags(base, a.as_ref())?;
            let v = put(c, &a.bin, &cfg).await?;
            print_summary(&v, a.json)?;
            Ok(EXIT_OK)
        }
        BinCommand::Show(a) => {
            let v = c.bin(&a.bin).await?;
            print_summary(&v, a.json)?;
            Ok(EXIT_OK)
        }
        BinCommand::Reset(a) => {
            let v: serde_json::Value = c
                .call(
                    Method::DELETE,
                    &format!("/_/api/bins/{}/sequence", enc(&a.bin)),
                    None,
                )
                .await?;
            print_summary(&v, a.json)?;
            Ok(EXIT_OK)
        }
    }
}

/// Runs `forward BIN --to URL`: sets the bin's forward, follows its requests (sending `token`
/// to the live feed) until Ctrl-C, then restores the bin's previous configuration.
pub async fn forward(c: &Client, token: Option<&str>, a: ForwardArgs) -> Result<i32> {
    let before = current(c, &a.bin).await?;
    let mut cfg = before.clone();
    cfg.forward = Some(ForwardSpec {
        url: a.to.clone(),
        mode: Some(a.mode.clone()),
        timeout: None,
        insecure_tls: a.insecure,
    });
    put(c, &a.bin, &cfg).await?;
    eprintln!(
        "forwarding {} → {} ({}); Ctrl-C stops and restores the bin",
        format!("{}/{}/…", c.base(), a.bin).green(),
        a.to.cyan(),
        a.mode
    );
    let follow = TailArgs {
        bin: Some(a.bin.clone()),
        filter: None,
        json: false,
        verbose: false,
        after: None,
    };
    let outcome = tokio::select! {
        r = tail(c, token, follow) => r,
        _ = tokio::signal::ctrl_c() => Ok(EXIT_OK),
    };
    put(c, &a.bin, &before)
        .await
        .context("restoring the bin's configuration")?;
    eprintln!("stopped forwarding {}", a.bin);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_limit_flag_reads_as_a_rate_per_interval_with_a_bare_unit_meaning_one() {
        assert_eq!(rate_per("5/s").unwrap(), (5, Dur(Duration::from_secs(1))));
        assert_eq!(
            rate_per("100/m").unwrap(),
            (100, Dur(Duration::from_secs(60)))
        );
        assert_eq!(
            rate_per("10/500ms").unwrap(),
            (10, Dur(Duration::from_millis(500)))
        );
        assert_eq!(rate_per("3/2s").unwrap(), (3, Dur(Duration::from_secs(2))));
        for bad in ["5", "x/s", "5/fortnight", "-1/s"] {
            assert!(rate_per(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_limit_without_an_interval_or_with_a_signed_one_is_refused_quoting_what_was_typed() {
        for (bad, quoted) in [
            ("5/", "5/"),
            ("5/ ", "5/ "),
            ("5/-1s", "-1s"),
            ("5//s", "/s"),
        ] {
            let e = format!("{:#}", rate_per(bad).unwrap_err());
            assert!(e.contains(&format!("`{quoted}`")), "{bad}: {e}");
        }
    }

    #[test]
    fn burst_and_limit_status_change_the_limit_and_need_one() {
        let a = BinSetArgs {
            limit: Some("5/s".into()),
            burst: Some(2),
            limit_status: Some(503),
            ..BinSetArgs::default()
        };
        let c = apply_flags(BinConfig::default(), &a).unwrap();
        let l = c.limit.clone().unwrap();
        assert_eq!((l.rate, l.burst, l.status), (5, Some(2), Some(503)));
        let only_burst = BinSetArgs {
            burst: Some(9),
            ..BinSetArgs::default()
        };
        assert_eq!(
            apply_flags(c.clone(), &only_burst)
                .unwrap()
                .limit
                .unwrap()
                .burst,
            Some(9)
        );
        assert!(apply_flags(BinConfig::default(), &only_burst).is_err());
        let off = BinSetArgs {
            limit: Some("none".into()),
            ..BinSetArgs::default()
        };
        assert!(apply_flags(c, &off).unwrap().limit.is_none());
    }
}
