//! The one bounded decoder of captured bodies' `Content-Encoding`: at most a limit of output at
//! every step and at most [`MAX_CODINGS`] codings, so a small compressed body cannot become a
//! large one. The body download (`?decode=1`), exports and filters all decode through it.
//!
//! Pure and CPU-bound (async callers run it on a blocking thread); uses `model` and `error`.

use std::io::Read;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::model::CapturedRequest;

/// Most `Content-Encoding` codings undone on one body (`gzip, br` is two).
pub const MAX_CODINGS: usize = 4;

/// The request's content codings in the order they were applied: every `Content-Encoding`
/// line, comma-separated, lower-cased (`identity` included, empty items left out).
pub fn content_codings(r: &CapturedRequest) -> Vec<String> {
    r.header_all("content-encoding")
        .flat_map(|v| v.split(|b| *b == b','))
        .map(|c| String::from_utf8_lossy(c).trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty())
        .collect()
}

/// Undoes `codings` (in the order they were applied: the last is undone first; gzip, x-gzip,
/// deflate, br, identity) on `body`, producing at most `limit` bytes at every step. Past the
/// limit it stops reading and answers [`Error::DecodedTooLarge`]; more than [`MAX_CODINGS`]
/// codings, an unknown coding or corrupt data are a 400. CPU-bound: async callers run it on a
/// blocking thread. The one decoder of captured bodies.
pub fn decode_bounded(body: &Bytes, codings: &[String], limit: usize) -> Result<Bytes> {
    if codings.len() > MAX_CODINGS {
        return Err(Error::bad(
            "Content-Encoding",
            format!(
                "at most {MAX_CODINGS} codings are decoded; this body lists {}",
                codings.len()
            ),
        ));
    }
    let mut data = body.clone();
    for coding in codings.iter().rev() {
        let read = |r: &mut dyn Read| -> std::io::Result<Vec<u8>> {
            let mut out = Vec::new();
            // one byte past the limit tells "exactly at the limit" from "past it"
            r.take(limit as u64 + 1).read_to_end(&mut out)?;
            Ok(out)
        };
        let res = match coding.as_str() {
            "gzip" | "x-gzip" => read(&mut flate2::read::MultiGzDecoder::new(&data[..])),
            // zlib-wrapped per RFC 9110, but raw deflate is common in the wild
            "deflate" => read(&mut flate2::read::ZlibDecoder::new(&data[..]))
                .or_else(|_| read(&mut flate2::read::DeflateDecoder::new(&data[..]))),
            "br" => read(&mut brotli::Decompressor::new(&data[..], 4096)),
            "identity" => continue,
            other => {
                return Err(Error::bad(
                    "decode",
                    format!("cannot decode Content-Encoding `{other}`"),
                ))
            }
        };
        let out = res
            .map_err(|e| Error::bad("decode", format!("the {coding} body does not decode: {e}")))?;
        if out.len() > limit {
            return Err(Error::DecodedTooLarge { limit });
        }
        data = Bytes::from(out);
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn codings(list: &[&str]) -> Vec<String> {
        list.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn a_body_of_exactly_the_limit_decodes_and_one_byte_more_is_too_large() {
        let body = Bytes::from(gzip(&[7u8; 1000]));
        let out = decode_bounded(&body, &codings(&["gzip"]), 1000).unwrap();
        assert_eq!(&out[..], &[7u8; 1000][..]);
        match decode_bounded(&body, &codings(&["gzip"]), 999) {
            Err(Error::DecodedTooLarge { limit: 999 }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn raw_deflate_identity_and_unknown_codings() {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b"raw deflate").unwrap();
        let raw = Bytes::from(e.finish().unwrap());
        let out = decode_bounded(&raw, &codings(&["deflate", "identity"]), 100).unwrap();
        assert_eq!(&out[..], b"raw deflate");
        let err = decode_bounded(&raw, &codings(&["zstd"]), 100).unwrap_err();
        assert!(err.to_string().contains("zstd"), "{err}");
        let err = decode_bounded(&raw, &codings(&["gzip"]), 100).unwrap_err();
        assert_eq!(err.status(), hyper::StatusCode::BAD_REQUEST);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 128,
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Any bytes under any list of codings: an answer, never a panic, never past the limit.
        #[test]
        fn decoding_anything_stays_within_the_limit(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            list in proptest::collection::vec(
                proptest::sample::select(vec!["gzip", "x-gzip", "deflate", "br", "identity", "zz"]),
                0..6,
            ),
            wrap in proptest::prelude::any::<bool>(),
            limit in 0usize..4096,
        ) {
            let body = if wrap { gzip(&data) } else { data.clone() };
            let list = codings(&list);
            match decode_bounded(&Bytes::from(body), &list, limit) {
                Ok(out) => proptest::prop_assert!(out.len() <= limit || list.iter().all(|c| c == "identity")),
                Err(e) => proptest::prop_assert!(matches!(e.status().as_u16(), 400 | 413)),
            }
        }
    }
}
