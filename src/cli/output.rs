//! What the user sees: the commands' standard output (a closed pipe ends a command quietly),
//! colour (`--color`, NO_COLOR, set once), the exit codes, the one coloured `error:` line, and
//! the line formats the verbs share (a request, its details, a delivery, a status).
//!
//! Uses `model` and `deliver` (the views it formats) and `units` (sizes); every `cli` module but
//! `args` uses it. It prints only what it is handed: it never talks to a server.

use std::io::Write;

use clap::ValueEnum;
use colored::Colorize;

use crate::deliver::DeliveryView;
use crate::model::CapturedRequest;
use crate::units::format_size;

/// `println!` for command output: a closed pipe ends the command quietly (the enclosing
/// function returns the error with `?`) instead of panicking.
macro_rules! outln {
    () => {
        ::std::io::Write::write_all(&mut $crate::cli::output::stdout(), b"\n")?
    };
    ($($arg:tt)*) => {
        ::std::io::Write::write_fmt(
            &mut $crate::cli::output::stdout(),
            format_args!("{}\n", format_args!($($arg)*)),
        )?
    };
}

/// `print!` for command output (see [`outln!`]).
macro_rules! out {
    ($($arg:tt)*) => {
        ::std::io::Write::write_fmt(&mut $crate::cli::output::stdout(), format_args!($($arg)*))?
    };
}

pub(crate) use {out, outln};

/// Exit code: success or match.
pub const EXIT_OK: i32 = 0;
/// Exit code: not matched, timed out, assertion failed.
pub const EXIT_NO_MATCH: i32 = 1;
/// Exit code: usage or runtime error.
pub const EXIT_ERROR: i32 = 2;

/// When to colour output.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Sets colored's global override once from `--color` and the environment.
pub fn set_color(choice: ColorChoice) {
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

/// The plural `s` of a count's noun.
pub fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// One coloured line for a request: time, bin, method, target, size, status.
pub fn request_line(r: &CapturedRequest) -> String {
    let time = crate::model::format_time(r.received_at);
    let time = clock(&time);
    let method = match &*r.method {
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
        let mut tag = format!("sig:{}", if sig.valid { "valid" } else { "invalid" });
        if let Some(reason) = sig.reason.as_deref().filter(|_| !sig.valid) {
            tag.push_str(&format!(" ({})", short_reason(reason)));
        }
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
    let s = format_size(n);
    if truncated {
        format!("{s}(cut)")
    } else {
        s
    }
}

/// The first clause of a signature doctor's reason, at most 60 characters, for one-line views.
pub fn short_reason(reason: &str) -> String {
    let end = ["; ", ": ", " — "]
        .iter()
        .filter_map(|sep| reason.find(sep))
        .min()
        .unwrap_or(reason.len());
    let clause = &reason[..end];
    if clause.chars().count() > 60 {
        format!("{}…", clause.chars().take(59).collect::<String>())
    } else {
        clause.to_owned()
    }
}

/// The signature verdict, the doctor's whole reason and the expected and received signatures,
/// indented, for `-v` and `show`; empty when the bin does not verify.
pub fn signature_details(r: &CapturedRequest) -> String {
    let Some(sig) = &r.signature else {
        return String::new();
    };
    let mut s = if sig.valid {
        format!(
            "    {} {} {}\n",
            "signature".dimmed(),
            sig.scheme,
            "valid".green()
        )
    } else {
        format!(
            "    {} {} {} {}\n",
            "signature".dimmed(),
            sig.scheme,
            "invalid:".red(),
            sig.reason.as_deref().unwrap_or("")
        )
    };
    for (label, value) in [("expected", &sig.expected), ("received", &sig.received)] {
        if let Some(v) = value {
            s.push_str(&format!("      {} {v}\n", format!("{label}:").dimmed()));
        }
    }
    s
}

/// The signature verdict (see [`signature_details`]), headers and a body preview, indented, for
/// `-v` and `show`.
pub fn request_details(r: &CapturedRequest, body_limit: usize) -> String {
    let mut s = signature_details(r);
    for h in &r.headers {
        s.push_str(&format!("    {}: {}\n", h.name.cyan(), h.value_str()));
    }
    if r.body.omitted {
        s.push_str(&format!("    {}\n", "(body not included)".dimmed()));
    } else if !r.body.bytes.is_empty() {
        match r.display_text() {
            Some(t) => {
                let cut = preview(&t, body_limit);
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

/// A response status, green when it counts as ok and red when not; a red `—` for none.
pub fn status_text(status: Option<impl std::fmt::Display>, ok: bool) -> String {
    match status {
        Some(s) if ok => s.to_string().green().to_string(),
        Some(s) => s.to_string().red().to_string(),
        None => "—".red().to_string(),
    }
}

/// One line for a delivery: time, id, event, webhook, state, last status, attempts.
pub fn delivery_line(d: &DeliveryView) -> String {
    let last = d.attempts.last();
    let status = last.and_then(|a| a.response.as_ref().map(|r| r.status));
    let state = match d.state.as_str() {
        "succeeded" => d.state.green(),
        "failed" => d.state.red(),
        _ => d.state.yellow(),
    };
    let time = clock(&d.created_at);
    let mut line = format!(
        "{} {} {} {} {} {} {} {}",
        time.dimmed(),
        format!("#{}", d.id).dimmed(),
        d.event.bold(),
        "→".dimmed(),
        d.webhook_name
            .clone()
            .unwrap_or_else(|| format!("webhook {}", d.webhook_id)),
        state,
        status_text(status, d.state == "succeeded"),
        format!(
            "{} attempt{}",
            d.attempts.len(),
            plural(d.attempts.len() as u64)
        )
        .dimmed(),
    );
    if d.trigger != "event" {
        line.push_str(&format!(" {}", format!("[{}]", d.trigger).dimmed()));
    }
    if let Some(e) = last.and_then(|a| a.error.as_deref()) {
        line.push_str(&format!(" {}", e.red()));
    }
    if let Some(n) = &d.note {
        line.push_str(&format!(" {}", n.yellow()));
    }
    if let Some(next) = &d.next_attempt_at {
        // the same clock time as the line's own, like every other listing
        line.push_str(&format!(" {} {}", "next".dimmed(), clock(next)));
    }
    line
}

/// The clock part of an RFC 3339 time, to the millisecond (`15:04:05.123`), as every listing
/// prints it; the whole text when it is shorter.
pub fn clock(rfc3339: &str) -> &str {
    rfc3339.get(11..23).unwrap_or(rfc3339)
}

/// The first `max_chars` characters of a text, for a body preview.
pub fn preview(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_delivery_line_prints_its_times_like_every_other_listing() {
        colored::control::set_override(false);
        let d = crate::deliver::DeliveryView {
            id: 7,
            webhook_id: 1,
            webhook_name: Some("CRM".into()),
            event: "payment_received".into(),
            message_id: "msg_1".into(),
            trigger: "event".into(),
            state: "pending".into(),
            created_at: "2026-11-30T15:04:05.123456Z".into(),
            next_attempt_at: Some("2026-11-30T15:04:10.654321Z".into()),
            note: None,
            attempts: Vec::new(),
        };
        let line = super::delivery_line(&d);
        assert!(
            line.starts_with("15:04:05.123 #7 payment_received"),
            "{line}"
        );
        assert!(line.ends_with("next 15:04:10.654"), "{line}");
        assert!(!line.contains("2026-"), "{line}");
    }

    #[test]
    fn a_clock_time_is_the_millisecond_part_of_a_time_or_the_whole_of_a_short_text() {
        assert_eq!(super::clock("2026-11-30T15:04:05.123456Z"), "15:04:05.123");
        assert_eq!(super::clock("15:04"), "15:04");
    }

    #[test]
    fn a_signature_reason_is_cut_to_its_first_clause_for_one_line_views() {
        assert_eq!(
            super::short_reason("wrong secret: the signature in X does not match"),
            "wrong secret"
        );
        assert_eq!(
            super::short_reason("webhook-timestamp 1 is 3600 s old, tolerance 300 s; and more"),
            "webhook-timestamp 1 is 3600 s old, tolerance 300 s"
        );
        let long = super::short_reason(&"x".repeat(100));
        assert_eq!(long.chars().count(), 60);
        assert!(long.ends_with('…'));
    }
}
