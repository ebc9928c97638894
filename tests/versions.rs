//! Shared links keep their meaning: a link made with version 1 opens to version 1's settings
//! after a later version changes the defaults, and version 1's defaults never move.

use std::collections::BTreeMap;

use playground::config::ExperimentConfig;
use playground::env::EnvId;
use playground::share::{parse_in, to_fragment_in};
use playground::versions::{self, Change, Version};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/defaults-v1.json");

fn all_keys(c: &ExperimentConfig) -> BTreeMap<String, String> {
    ExperimentConfig::specs().into_iter().map(|s| (s.key.clone(), c.get(&s.key).unwrap())).collect()
}

/// Version 1's defaults of every environment, as released (written once, with
/// `BLESS=1 cargo test --test versions`, when version 1 was current; never rewritten).
#[test]
fn version_1_defaults_are_the_released_ones() {
    let now: BTreeMap<&str, BTreeMap<String, String>> =
        EnvId::CONTROL.iter().map(|&env| (env.name(), all_keys(&versions::defaults(env, 1)))).collect();
    if std::env::var_os("BLESS").is_some() && !std::path::Path::new(FIXTURE).exists() {
        std::fs::write(FIXTURE, serde_json::to_string_pretty(&now).unwrap() + "\n").unwrap();
    }
    let released: BTreeMap<String, BTreeMap<String, String>> =
        serde_json::from_str(&std::fs::read_to_string(FIXTURE).expect("the fixture exists")).unwrap();
    assert_eq!(released.len(), EnvId::CONTROL.len());
    for (env, keys) in &released {
        let current = &now[env.as_str()];
        for (key, value) in keys {
            // Keys added after version 1 are absent from the fixture; every key it has must
            // still resolve to its released value.
            assert_eq!(current.get(key), Some(value), "{env}: {key} moved; change defaults in versions.rs");
        }
    }
}

/// A release table with a later version that changes defaults and code.
const LATER: &[Version] = &[Version {
    number: 2,
    defaults: &[
        Change { env: Some(EnvId::Acrobot), key: "ppo.num_envs", value: "16" },
        Change { env: Some(EnvId::MountainCarContinuous), key: "ppo.gamma", value: "0.9999" },
        Change { env: None, key: "grpo.beta", value: "0" },
        Change { env: None, key: "total_steps", value: "123456" },
    ],
    code: "a fix",
}];

#[test]
fn a_version_1_link_opens_to_version_1_settings_after_the_defaults_change() {
    assert_ne!(
        versions::defaults_in(LATER, EnvId::Acrobot, 2),
        versions::defaults_in(LATER, EnvId::Acrobot, 1)
    );
    for env in EnvId::ALL {
        let v1 = versions::defaults_in(&[], env, 1);
        let v2 = versions::defaults_in(LATER, env, 2);
        assert_ne!(v1, v2, "{env}: the later version changes something");

        // Made today (version 1): the defaults themselves, and with two keys changed.
        let mut edited = v1.clone();
        edited.run.seed = 7;
        edited.set("ppo.learning_rate", "3e-4").unwrap();
        for config in [&v1, &edited] {
            let link = to_fragment_in(&[], config, &[("run", "5")]);
            assert!(link.starts_with("v=1&"), "{link}");
            // Without its `v`, as links made before versions existed: still version 1.
            let unversioned = link.replacen("v=1&", "", 1);
            for url in [&link, &unversioned] {
                let p = parse_in(LATER, url);
                assert_eq!(p.problems, vec![], "{url}");
                assert_eq!(&p.config, config, "{env}: {url}");
                assert_eq!(p.version, 1);
                let notice = p.notice.expect("the code changed since");
                assert!(notice.starts_with("made with version 1; this page is version 2"), "{notice}");
            }
            // Written again by the later page, it names the same experiment in version 2.
            let again = to_fragment_in(LATER, config, &[]);
            assert!(again.starts_with("v=2&"), "{again}");
            let p = parse_in(LATER, &again);
            assert_eq!((&p.config, p.version, p.notice), (config, 2, None));
        }
    }
}

#[test]
fn links_round_trip_in_every_version_and_without_code_changes_there_is_no_notice() {
    const DEFAULTS_ONLY: &[Version] =
        &[Version { number: 2, defaults: &[Change { env: None, key: "width", value: "32" }], code: "" }];
    for env in EnvId::ALL {
        let c = versions::defaults_in(DEFAULTS_ONLY, env, 2);
        let p = parse_in(DEFAULTS_ONLY, &to_fragment_in(DEFAULTS_ONLY, &c, &[]));
        assert_eq!((p.config, p.notice), (c, None));
        let v1 = versions::defaults_in(&[], env, 1);
        let p = parse_in(DEFAULTS_ONLY, &to_fragment_in(&[], &v1, &[]));
        assert_eq!((&p.config, p.notice.as_deref()), (&v1, None), "{env}: same settings, same code");
    }
}
