//! Sizes and durations as people write them (SPEC §12): `10MiB`, `1.5GB`, `512KiB`, `1024`;
//! `500ms`, `30s`, `2m`, `1h`. Parsing from flags and text, formatting back for the API and the
//! terminal, and the serde forms config files and bin configs use ([`NumOrText`], [`Dur`]).
//!
//! Uses `error` only. Pure functions, no I/O: every module that reads or shows a size or a
//! duration comes here, none of them spells the notation itself.

use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::error::{Error, Result};

/// Splits `1.5GB` into its number and its (trimmed) unit.
fn split_number<'a>(s: &'a str, what: &str, example: &str) -> Result<(f64, &'a str)> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| Error::bad(what, format!("`{s}` is not {example}")))?;
    Ok((n, unit.trim()))
}

/// Parses a size: a plain integer is bytes; `K`/`KB` (1000), `KiB` (1024), `M`, `MB`, `MiB`, `G`,
/// `GB`, `GiB`; fractions allowed (`1.5GB`).
pub fn parse_size(s: &str) -> Result<usize> {
    let (n, unit) = split_number(s, "size", "a size (e.g. 10MiB, 512KiB, 1024)")?;
    let mult: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(Error::bad(
                "size",
                format!("`{s}`: unknown unit (use B, KB, KiB, MB, MiB, GB, GiB)"),
            ))
        }
    };
    let v = n * mult;
    if !v.is_finite() || v < 0.0 || v > usize::MAX as f64 {
        return Err(Error::bad("size", format!("`{s}` is out of range")));
    }
    Ok(v.round() as usize)
}

/// Parses a duration: a plain number is seconds; units `ms`, `s`, `m`, `h`; fractions allowed.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let (n, unit) = split_number(s, "duration", "a duration (e.g. 500ms, 30s, 2m, 1h)")?;
    let secs = match unit {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1000.0,
        "us" | "µs" => n / 1e6,
        "m" | "min" | "mins" => n * 60.0,
        "h" | "hr" => n * 3600.0,
        _ => {
            return Err(Error::bad(
                "duration",
                format!("`{s}`: unknown unit (use ms, s, m, h)"),
            ))
        }
    };
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(Error::bad("duration", format!("`{s}` is out of range")));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Formats a duration the way the API shows it (`250ms`, `30s`, `2m`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(60_000) && ms >= 60_000 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) && ms > 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Formats a byte count for people: `512B`, `1.5KiB`, `10.0MiB`.
pub fn format_size(n: usize) -> String {
    if n < 1024 {
        format!("{n}B")
    } else if n < 1024 * 1024 {
        format!("{:.1}KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1}MiB", n as f64 / (1024.0 * 1024.0))
    }
}

/// A number or a text, for sizes and durations written either way (`30`, `"30s"`).
#[derive(Debug, Clone, PartialEq)]
pub enum NumOrText {
    Num(f64),
    Text(String),
}

impl NumOrText {
    /// As a duration: a number is seconds; text uses the SPEC §12 notation.
    pub fn duration(&self) -> std::result::Result<Duration, String> {
        match self {
            NumOrText::Num(n) if n.is_finite() && (0.0..=1e9).contains(n) => {
                Ok(Duration::from_secs_f64(*n))
            }
            NumOrText::Num(n) => Err(format!("expected a duration, got {n}")),
            NumOrText::Text(s) => parse_duration(s)
                .map_err(|_| format!("expected a duration like 500ms, 30s or 2m, got `{s}`")),
        }
    }

    /// As a size: a number is bytes; text uses the SPEC §12 notation.
    pub fn size(&self) -> std::result::Result<usize, String> {
        match self {
            NumOrText::Num(n) if n.is_finite() && *n >= 0.0 && n.fract() == 0.0 => Ok(*n as usize),
            NumOrText::Num(n) => Err(format!("expected a size in bytes, got {n}")),
            NumOrText::Text(s) => parse_size(s)
                .map_err(|_| format!("expected a size like 10MiB, 512KiB or 1024, got `{s}`")),
        }
    }
}

impl<'de> Deserialize<'de> for NumOrText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NumOrText;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number or a text like \"30s\" / \"10MiB\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<NumOrText, E> {
                Ok(NumOrText::Num(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<NumOrText, E> {
                Ok(NumOrText::Num(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<NumOrText, E> {
                Ok(NumOrText::Num(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<NumOrText, E> {
                Ok(NumOrText::Text(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A duration written as `250ms`, `30s`, `2m` (or a number of seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dur(pub Duration);

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            Secs(f64),
        }
        let text = match Repr::deserialize(d).map_err(|_| {
            serde::de::Error::custom("expected a duration such as \"500ms\" or \"30s\"")
        })? {
            Repr::Text(t) => t,
            Repr::Secs(n) => n.to_string(),
        };
        parse_duration(&text)
            .map(Dur)
            .map_err(|e| serde::de::Error::custom(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_plain_bytes_and_units() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("10MiB").unwrap(), 10 * 1024 * 1024);
        assert_eq!(parse_size("512KiB").unwrap(), 512 * 1024);
        assert_eq!(parse_size("1.5GB").unwrap(), 1_500_000_000);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }

    #[test]
    fn durations_accept_plain_seconds_and_units() {
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn sizes_format_in_the_largest_unit_below_their_value() {
        assert_eq!(format_size(512), "512B");
        assert_eq!(format_size(1536), "1.5KiB");
        assert_eq!(format_size(10 * 1024 * 1024), "10.0MiB");
    }

    #[test]
    fn durations_format_back_into_the_notation() {
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
        assert_eq!(format_duration(Duration::from_secs(5)), "5s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
    }
}
