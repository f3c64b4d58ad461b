//! The `hookpit.toml` parser: any text is accepted or refused without a panic, and a refusal
//! names a line inside the text.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = std::path::Path::new("/nonexistent");
    if let Err(hookpit::Error::Config { line, .. }) =
        hookpit::hookfile::parse(text, "hookpit.toml", dir)
    {
        assert!((1..=text.matches('\n').count() + 1).contains(&line));
    }
});
