//! The URL parser against generated input: it never panics, every rejection says why, and the
//! config it returns is always valid. Valid configs survive config → URL → config.

use playground::config::{ExperimentConfig, ParamKind};
use playground::env::EnvId;
use playground::share::{MAX_URL_LEN, Replay, parse, to_fragment};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn keys() -> Vec<String> {
    let mut keys: Vec<String> = ExperimentConfig::specs().into_iter().map(|s| s.key).collect();
    keys.extend(["run", "figure", "env", "v"].map(String::from));
    keys
}

/// Keys: real ones (so values get checked), near misses, unicode and junk.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(keys()),
        1 => proptest::sample::select(keys()).prop_map(|k| format!("{k}x")),
        1 => "\\PC{0,12}",
        1 => "[a-z._]{0,10}",
    ]
}

/// Values: numbers of every size and sign, special floats, unicode, markup, percent escapes.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<f64>().prop_map(|v| v.to_string()),
        any::<i64>().prop_map(|v| v.to_string()),
        any::<u64>().prop_map(|v| format!("{v}{v}")),
        proptest::sample::select(vec![
            "",
            "NaN",
            "inf",
            "-inf",
            "1e309",
            "-1e309",
            "1e-400",
            "0x10",
            "1_000",
            " 3 ",
            "+4",
            "-0",
            "true",
            "false",
            "all",
            "curves",
            "<script>alert(1)</script>",
            "%00",
            "%ZZ",
            "\u{202e}",
            "CartPole-v1",
            "Pendulum-v1",
            "grpo",
            "dr_grpo",
            "process",
            "webgpu",
            "1",
            "2",
            "3",
            "99",
        ])
        .prop_map(String::from),
        "\\PC{0,16}",
        proptest::collection::vec(any::<u8>(), 0..12)
            .prop_map(|b| b.iter().map(|x| format!("%{x:02X}")).collect::<String>()),
    ]
}

fn url() -> impl Strategy<Value = String> {
    prop_oneof![
        // Well-formed key=value lists, repeated keys included.
        4 => proptest::collection::vec((key(), value()), 0..24).prop_map(|pairs| {
            let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("#{}", body.join("&"))
        }),
        // Random bytes, read as the browser would hand them over (lossy UTF-8).
        1 => proptest::collection::vec(any::<u8>(), 0..300)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        // Overlong.
        1 => (2000usize..2100).prop_map(|n| format!("seed=1&x={}", "9".repeat(n))),
    ]
}

fn assert_valid(config: &ExperimentConfig) {
    assert!(config.check().is_empty(), "{:?}", config.check());
    // Every value is in range: setting it again from its own text succeeds.
    let mut copy = config.clone();
    for spec in ExperimentConfig::specs() {
        let text = config.get(&spec.key).unwrap();
        copy.set(&spec.key, &text).unwrap_or_else(|e| panic!("{} = {text}: {e}", spec.key));
    }
}

#[test]
fn the_parser_survives_100_000_generated_urls() {
    let mut runner =
        TestRunner::new(Config { cases: 100_000, failure_persistence: None, ..Config::default() });
    use std::cell::Cell;
    let (with_problems, accepted, longest_accepted) = (Cell::new(0u32), Cell::new(0u32), Cell::new(0usize));
    runner
        .run(&url(), |u| {
            let parsed = parse(&u);
            for p in &parsed.problems {
                prop_assert!(!p.message.is_empty(), "no message for {:?}", p.key);
            }
            assert_valid(&parsed.config);
            if parsed.problems.is_empty() {
                accepted.set(accepted.get() + 1);
                longest_accepted.set(longest_accepted.get().max(u.len()));
            } else {
                with_problems.set(with_problems.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    let (with_problems, accepted, longest) = (with_problems.get(), accepted.get(), longest_accepted.get());
    println!(
        "100000 URLs: {accepted} accepted as they were (longest {longest} bytes), {with_problems} with problems reported"
    );
    assert_eq!(with_problems + accepted, 100_000);
    assert!(with_problems > 10_000 && accepted > 1_000, "the generator covers both outcomes");
}

/// A random valid config: every key drawn within its declared range.
fn config() -> impl Strategy<Value = ExperimentConfig> {
    let specs = ExperimentConfig::specs();
    let n = specs.len();
    (proptest::sample::select(EnvId::ALL.to_vec()), proptest::collection::vec(0.0f64..1.0, n)).prop_map(
        move |(env, draws)| {
            let mut c = ExperimentConfig::for_env(env);
            for (spec, u) in specs.iter().zip(draws) {
                let text = match &spec.kind {
                    ParamKind::Int { min, max } => {
                        let hi = max.min(1e6);
                        ((min + u * (hi - min)).round() as u64).to_string()
                    }
                    ParamKind::Float { min, max } => {
                        // Log-uniform over positive ranges, so small learning rates come up.
                        if *min > 0.0 {
                            (min.ln() + u * (max.ln() - min.ln())).exp()
                        } else {
                            min + u * (max.min(1e6) - min)
                        }
                        .clamp(*min, *max)
                        .to_string()
                    }
                    ParamKind::Bool => (u < 0.5).to_string(),
                    ParamKind::Choice { options } => {
                        options[(u * options.len() as f64) as usize % options.len()].into()
                    }
                };
                if spec.key != "env" {
                    c.set(&spec.key, &text).unwrap_or_else(|e| panic!("{} = {text}: {e}", spec.key));
                }
            }
            for conflict in c.check() {
                c.set(conflict.key, &conflict.fix).unwrap();
            }
            c
        },
    )
}

#[test]
fn valid_configs_round_trip_through_a_url() {
    let mut runner = TestRunner::new(Config { cases: 5_000, failure_persistence: None, ..Config::default() });
    let longest = std::cell::Cell::new(0usize);
    runner
        .run(&(config(), 0u64..1000), |(c, updates)| {
            let fragment = to_fragment(&c, &[("run", &updates.to_string())]);
            // Random floats carry 17 significant digits: such a URL can pass 1 KiB (1331 bytes
            // at worst, see below) but never the limit; URLs of typed values stay under 1.5 KiB.
            prop_assert!(fragment.len() < MAX_URL_LEN, "{} bytes: {fragment}", fragment.len());
            longest.set(longest.get().max(fragment.len()));
            let parsed = parse(&format!("#{fragment}"));
            prop_assert_eq!(parsed.problems, vec![]);
            prop_assert_eq!(parsed.replay, Some(Replay::Updates(updates)));
            prop_assert_eq!(parsed.config, c);
            Ok(())
        })
        .unwrap();
    println!("5000 random valid configs round-tripped; longest fragment {} bytes", longest.get());
}

/// The longest text a key's value can take: the largest integer, the longest option, or a float
/// with one of `mantissas` at whichever decade of its range writes longest (down to subnormals'
/// decades for ranges that start at 0).
fn longest_value(c: &ExperimentConfig, key: &str, kind: &ParamKind, mantissas: &[&str]) -> String {
    let candidates: Vec<String> = match kind {
        ParamKind::Int { max, .. } => vec![(*max as u64).to_string()],
        ParamKind::Float { min, max } => {
            let low = if *min > 0.0 { min.log10().floor() as i32 } else { -308 };
            (low..=max.log10().ceil() as i32)
                .flat_map(|e| mantissas.iter().map(move |m| format!("{m}e{e}")))
                .collect()
        }
        ParamKind::Bool => vec!["false".into()],
        ParamKind::Choice { options } => options.iter().map(|o| o.to_string()).collect(),
    };
    candidates
        .into_iter()
        .filter_map(|text| {
            let mut c = c.clone();
            c.set(key, &text).ok()?;
            c.get(key)
        })
        .max_by_key(String::len)
        .expect("every key has a valid value")
}

/// Every key away from its default at its longest, plus the page's own keys (`v`, `run`, `figure`):
/// an upper bound on what Share or Embed writes (conflicts between keys are ignored, which only
/// adds length).
fn longest_fragment(mantissas: &[&str]) -> String {
    let c = ExperimentConfig::default();
    let mut out = form_urlencoded::Serializer::new(String::new());
    out.append_pair("v", &playground::versions::CURRENT.to_string());
    for spec in ExperimentConfig::specs() {
        out.append_pair(&spec.key, &longest_value(&c, &spec.key, &spec.kind, mantissas));
    }
    out.append_pair("run", "10000000"); // updates: at most one per env step
    out.append_pair("figure", "completions");
    out.finish()
}

#[test]
fn every_url_the_page_writes_can_be_opened_and_a_typed_one_stays_under_1_5_kib() {
    // Floats at full precision (17 significant digits, as random or computed values have).
    let worst = longest_fragment(&["1.2345678901234567", "1.0000000000000002", "9.876543210987654"]);
    // Floats as a person types them: three significant digits.
    let typed = longest_fragment(&["1.25", "9.75"]);
    println!(
        "longest possible shared URL fragment: {} bytes at full precision, {} bytes as typed",
        worst.len(),
        typed.len()
    );
    assert!(worst.len() < MAX_URL_LEN, "{} bytes: {worst}", worst.len());
    assert!(!parse(&format!("#{worst}")).problems.iter().any(|p| p.key == "(url)"), "refused as too long");
    assert!(typed.len() < 1536, "{} bytes: {typed}", typed.len());
}
