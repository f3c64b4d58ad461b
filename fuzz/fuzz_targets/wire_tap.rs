//! The wire tap fed arbitrary bytes, split into reads at a size taken from the first byte: it
//! must never panic, overflow its stack or loop, whatever the framing.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(split).max(1);
    let _ = hookpit::wire::tap_reads(rest.chunks(step), 64 * 1024);
});
