//! The bin config parser: any JSON is accepted or refused without a panic, and an accepted
//! config's own JSON form is accepted again and settles after one round trip (durations are kept
//! to the millisecond).

#![no_main]

use hookpit::rules::BinConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(first) = BinConfig::from_json(&v) else {
        return;
    };
    let again = |c: &BinConfig| {
        let v = serde_json::to_value(c).expect("a config serializes");
        BinConfig::from_json(&v).expect("a valid config's JSON form is valid")
    };
    let second = again(&first);
    assert_eq!(again(&second), second);
});
