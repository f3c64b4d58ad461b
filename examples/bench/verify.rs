//! `verify`: what checking Standard Webhooks signatures costs the capture path.

use super::*;

use hookpit::rules::{BinConfig, BinSetup, VerifySpec};
use hookpit::sign::Secret;

/// A fixed test secret (`whsec_` + base64 of 24 bytes).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub(super) async fn bench_verify(o: &Opts) -> Result<Vec<Verdict>, BoxError> {
    println!();
    println!(
        "== capture throughput with signature verification: POST 1 KiB JSON signed (standard-webhooks), {} conns, {:.1} s/round, {} rounds ==",
        o.conns, o.secs, o.rounds
    );
    let hp = hookpit::Server::start(hookpit::Config {
        max_requests: 1_000_000,
        max_memory: 256 * 1024 * 1024,
        ..hookpit::Config::for_tests()
    })
    .await?;
    let setup = BinSetup::new(
        BinConfig {
            verify: Some(VerifySpec {
                scheme: "standard-webhooks".into(),
                secret: SECRET.into(),
                tolerance: None,
            }),
            ..BinConfig::default()
        },
        usize::MAX,
    )?;
    hp.store().apply_bin_config("signed", setup);
    let body = body_1k();
    let secret = Secret::parse(SECRET)?;
    let msg_id = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
    // one signature for the whole run; the timestamp is fresh (the default tolerance is 5 min)
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let sig = hookpit::sign::sign(&secret, msg_id, ts, &body);
    let spec = |bin: &str| -> Result<LoadSpec, BoxError> {
        let t = Template::post(&format!("{}/events", hp.catch_url(bin)), body.clone())?
            .header("webhook-id", msg_id)?
            .header("webhook-timestamp", &ts.to_string())?
            .header("webhook-signature", &sig)?;
        Ok(LoadSpec::new(t, o.conns, Duration::from_millis(500)))
    };
    let (plain, signed) = (spec("plain")?, spec("signed")?);
    load_with(plain.clone()).await?;
    load_with(signed.clone()).await?;
    check(&hp)?;

    let ab = compare(o, ("no verify", &plain), ("verify", &signed)).await?;
    let (ps, ss) = (Stats::of(&ab.a), Stats::of(&ab.b));
    print_stats("no verify", &ps);
    print_stats("verify", &ss);
    print_per_round("ratio verify/no verify (req/s)", "", &ab.ratios);
    check(&hp)?;
    drop(hp);
    Ok(vec![Verdict {
        name: "capture: verify on / off".into(),
        value: median(&ab.ratios),
        unit: "x",
        target: Target::AtLeast(0.90),
        note: format!("{:.0} vs {:.0} req/s", ss.median, ps.median),
    }])
}

/// The newest signed request was checked and found valid, and the plain bin checks nothing:
/// otherwise the bench would time the wrong path.
fn check(hp: &hookpit::ServerHandle) -> Result<(), BoxError> {
    let signed = hp
        .store()
        .latest(Some("signed"))
        .ok_or("no signed request")?;
    match &signed.signature {
        Some(s) if s.valid => {}
        other => return Err(format!("the signed bin's verdict is {other:?}, not valid").into()),
    }
    let plain = hp.store().latest(Some("plain")).ok_or("no plain request")?;
    if plain.signature.is_some() {
        return Err("the plain bin checked a signature".into());
    }
    println!(
        "check: newest request of `signed` verified valid ({}), `plain` unchecked",
        signed.id
    );
    Ok(())
}
