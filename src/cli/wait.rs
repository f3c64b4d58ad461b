//! `hookpit wait`: blocks until requests matching a filter arrive in a bin (exit 0, printing
//! them) or the wait times out (exit 1, printing the server's report of the closest requests
//! and why each did not match). The wait itself runs in the server; this is one API call.
//!
//! Uses `client`, `model`, and `cli`'s `args` and `output`.

use std::io::Write;

use anyhow::Result;
use clap::Args;
use colored::Colorize;

use super::args::{self, query};
use super::output::{outln, request_line, stdout, EXIT_NO_MATCH, EXIT_OK};
use crate::client::{enc, Client};
use crate::model::CapturedRequest;

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

/// Waits server-side for `a.count` matching requests; prints them (exit 0), or the timeout
/// report with the closest misses and why each failed (exit 1).
pub async fn wait(c: &Client, a: WaitArgs) -> Result<i32> {
    args::duration("--timeout", &a.timeout)?;
    anyhow::ensure!(a.count > 0, "--count must be at least 1");
    let after = match (a.after, a.new) {
        (Some(x), _) => Some(x.to_string()),
        (None, true) => Some("now".to_owned()),
        (None, false) => None,
    };
    let path = format!(
        "/_/api/bins/{}/wait{}",
        enc(&a.bin),
        query(&[
            ("count", Some(a.count.to_string())),
            ("timeout", Some(a.timeout.clone())),
            ("q", a.filter.clone()),
            ("after", after),
        ])
    );
    let ans = c.send(hyper::Method::GET, &path, None).await?;
    let code = match ans.status {
        200 => EXIT_OK,
        408 => EXIT_NO_MATCH,
        _ => return Err(crate::client::api_error(&ans).into()),
    };
    if a.json {
        stdout().write_all(&ans.body)?;
        outln!();
    } else if code == EXIT_OK {
        let page: crate::client::RequestPage = serde_json::from_slice(&ans.body)?;
        for r in &page.requests {
            outln!("{}", request_line(r));
        }
    } else {
        timeout_report(&ans.body)?;
    }
    Ok(code)
}

/// Prints a timed-out wait's report on stderr: the server's sentence, then the closest requests,
/// each with the terms it failed and what was found for them.
fn timeout_report(body: &[u8]) -> Result<()> {
    let v: serde_json::Value = serde_json::from_slice(body)?;
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
    // with no closest requests the server's sentence already says that none arrived
    if !closest.is_empty() {
        eprintln!("  closest requests:");
    }
    for item in closest {
        if let Ok(r) = serde_json::from_value::<CapturedRequest>(item["request"].clone()) {
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
    Ok(())
}
