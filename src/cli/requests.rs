//! The verbs over captured requests: `ls` (bins, or a bin's requests), `show` (one request, as
//! lines, JSON or HTTP/1.1 text), `clear`, `export` (HAR or NDJSON), `import` (an export read
//! back into a bin) and `replay` (send one again elsewhere). Each is one or two API calls and
//! prints the answer.
//!
//! Uses `client`, `model`, and `cli`'s `args` and `output`. `replay` with `-H` fetches the
//! request, edits its header list here and sends the whole list.

use std::io::Write;

use anyhow::{Context, Result};
use clap::Args;
use colored::Colorize;

use super::args::{query, read_input};
use super::output::{
    out, outln, plural, preview, request_details, request_line, status_text, stdout, EXIT_NO_MATCH,
    EXIT_OK,
};
use crate::client::{enc, Client};
use crate::model::{BinSummary, Header};

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

/// `import`'s options.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The bin to import into.
    pub bin: String,
    /// An NDJSON export or a HAR log (`-` for standard input).
    pub file: String,
    /// Print the API's JSON (`imported`, `first_id`, `last_id`).
    #[arg(long)]
    pub json: bool,
}

/// `replay`'s options.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A request id, or `latest`.
    pub id: String,
    /// The URL to send it to.
    #[arg(long)]
    pub to: String,
    /// Sign again with the source bin's `verify` scheme and secret, with a fresh timestamp
    /// (and message id), over the exact body sent.
    #[arg(long)]
    pub resign: bool,
    /// Send this body instead of the captured one (a file, or `-` for standard input).
    #[arg(long, value_name = "FILE|-")]
    pub data: Option<String>,
    /// Set a header on top of the captured ones: `K: v` replaces the headers named K (any
    /// case) in place, or adds one; `K:` removes them.
    #[arg(
        long = "header",
        short = 'H',
        value_name = "K: v",
        allow_hyphen_values = true
    )]
    pub headers: Vec<String>,
    /// Accept any TLS certificate (local apps with self-signed certificates).
    #[arg(long)]
    pub insecure: bool,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `hookpit ls [BIN]`: exit 1 when a filter matched nothing.
pub async fn ls(c: &Client, a: LsArgs) -> Result<i32> {
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

/// `hookpit show ID`.
pub async fn show(c: &Client, a: ShowArgs) -> Result<i32> {
    if a.raw {
        let path = format!(
            "/_/api/requests/{}/raw{}",
            enc(&a.id),
            query(&[("bin", a.bin.clone())])
        );
        let ans = c.send(hyper::Method::GET, &path, None).await?;
        if ans.status != 200 {
            return Err(crate::client::api_error(&ans).into());
        }
        stdout().write_all(&ans.body)?;
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

/// `hookpit export BIN`.
pub async fn export(c: &Client, a: ExportArgs) -> Result<i32> {
    let path = format!(
        "/_/api/bins/{}/export{}",
        enc(&a.bin),
        query(&[("format", Some(a.format.clone())), ("q", a.filter.clone())])
    );
    let ans = c.send(hyper::Method::GET, &path, None).await?;
    if ans.status != 200 {
        return Err(crate::client::api_error(&ans).into());
    }
    match &a.output {
        Some(file) => std::fs::write(file, &ans.body)
            .with_context(|| format!("cannot write {}", file.display()))?,
        None => stdout().write_all(&ans.body)?,
    }
    Ok(EXIT_OK)
}

/// `hookpit import BIN FILE`.
pub async fn import(c: &Client, a: ImportArgs) -> Result<i32> {
    let file = read_input(Some(&a.file))?;
    let done = c.import(&a.bin, file.into()).await?;
    if a.json {
        outln!("{}", serde_json::to_string(&done)?);
        return Ok(EXIT_OK);
    }
    let n = done.imported;
    match (done.first_id, done.last_id) {
        (Some(first), Some(last)) if first != last => outln!(
            "imported {n} request{} into {} (ids {first}–{last})",
            plural(n as u64),
            a.bin.bold()
        ),
        (Some(id), _) => outln!(
            "imported {n} request{} into {} (id {id})",
            plural(n as u64),
            a.bin.bold()
        ),
        _ => outln!("imported {n} requests into {}", a.bin.bold()),
    }
    Ok(EXIT_OK)
}

/// `hookpit replay ID --to URL [--resign] [--data FILE|-] [-H 'K: v']...`: exit 0 when the
/// target answered 2xx, 1 otherwise. With `-H` the request is fetched first and its whole
/// header list, edited, is sent.
pub async fn replay(c: &Client, a: ReplayArgs) -> Result<i32> {
    let mut body = serde_json::json!({"url": a.to, "insecure_tls": a.insecure});
    if a.resign {
        body["resign"] = true.into();
    }
    if let Some(file) = &a.data {
        let bytes = read_input(Some(file))?;
        let text = String::from_utf8(bytes).map_err(|_| {
            anyhow::anyhow!("--data {file}: not UTF-8 text; a replayed body is sent as text")
        })?;
        body["body"] = text.into();
    }
    let mut id = a.id.clone();
    if !a.headers.is_empty() {
        let r = c.request(&a.id, None).await?;
        id = r.id.to_string();
        let mut headers = r.headers.clone();
        for h in &a.headers {
            edit_header(&mut headers, h)?;
        }
        body["headers"] = serde_json::to_value(&headers)?;
    }
    let v: serde_json::Value = c
        .call(
            hyper::Method::POST,
            &format!("/_/api/requests/{}/replay", enc(&id)),
            Some(&body),
        )
        .await?;
    let ok = v["ok"].as_bool().unwrap_or(false);
    if a.json {
        outln!("{v}");
    } else {
        match v["status"].as_u64() {
            Some(status) => {
                outln!(
                    "{} {} {} in {:.1} ms{}",
                    if ok { "→".green() } else { "→".red() },
                    a.to,
                    status_text(Some(status), ok),
                    v["latency_ms"].as_f64().unwrap_or(0.0),
                    if v["sent"]["resigned"] == true {
                        " (re-signed)"
                    } else {
                        ""
                    }
                );
                if let Some(t) = v["body"]["text"].as_str() {
                    outln!("{}", preview(t, 2048));
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

/// Applies one `-H` to a header list, curl's way: `K: v` sets K (the first header of that
/// name, any case, takes the value and keeps its place; others of that name go; without one it
/// is added at the end), `K:` removes every header named K.
fn edit_header(headers: &mut Vec<Header>, arg: &str) -> Result<()> {
    let Some((name, value)) = arg.split_once(':') else {
        anyhow::bail!("-H {arg:?}: expected `Name: value` (or `Name:` to remove it)");
    };
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() {
        anyhow::bail!("-H {arg:?}: the header has no name");
    }
    let same = |h: &Header| h.name.eq_ignore_ascii_case(name);
    if value.is_empty() {
        headers.retain(|h| !same(h));
        return Ok(());
    }
    match headers.iter().position(same) {
        Some(first) => {
            headers[first] = Header::new(&*headers[first].name, value.as_bytes());
            let mut i = 0;
            headers.retain(|h| {
                i += 1;
                i - 1 == first || !same(h)
            });
        }
        None => headers.push(Header::new(name, value.as_bytes())),
    }
    Ok(())
}

/// `hookpit clear BIN`.
pub async fn clear(c: &Client, a: ClearArgs) -> Result<i32> {
    let n = c.clear(&a.bin, a.filter.as_deref()).await?;
    outln!("cleared {n} request{} from {}", plural(n), a.bin.bold());
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(hs: &[Header]) -> Vec<(String, String)> {
        hs.iter()
            .map(|h| (h.name.to_string(), h.value_str().into_owned()))
            .collect()
    }

    #[test]
    fn a_header_flag_sets_in_place_appends_or_removes_like_curl() {
        let mut hs = vec![
            Header::new("X-A", &b"1"[..]),
            Header::new("x-dup", &b"1"[..]),
            Header::new("Accept", &b"*/*"[..]),
            Header::new("X-Dup", &b"2"[..]),
        ];
        edit_header(&mut hs, "X-DUP: new").unwrap();
        edit_header(&mut hs, "X-Added:  spaced ").unwrap();
        edit_header(&mut hs, "accept:").unwrap();
        edit_header(&mut hs, "X-Url: http://x:1/").unwrap();
        let want = [
            ("X-A", "1"),
            ("x-dup", "new"),
            ("X-Added", "spaced"),
            ("X-Url", "http://x:1/"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        assert_eq!(list(&hs), want);
        assert!(edit_header(&mut hs, "no colon").is_err());
        assert!(edit_header(&mut hs, ": v").is_err());
    }
}
