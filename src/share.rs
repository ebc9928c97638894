//! Experiments as URLs: `#env=CartPole-v1&seed=3&grpo.num_generations=16&run=40`.
//!
//! The fragment holds its format version `v`, the environment, the seed, and every key whose
//! value differs from that environment's default *in that version* ([`crate::versions`]), so
//! links stay short and hand-editable, and keep their meaning when later versions change the
//! defaults. A link without `v` is version 1. Parsing never fails: each
//! problem (unknown key, unparsable or out-of-range value, repeated key, impossible combination)
//! is reported with what was used instead, and the rest of the URL still applies.

use serde::Serialize;

use crate::config::{ExperimentConfig, ParamValue};
use crate::env::EnvId;
use crate::versions;

/// The longest fragment accepted, in bytes (a shared link stays well under 1 kB in practice).
pub const MAX_URL_LEN: usize = 2048;
/// Keys a fragment may hold beyond the config's own.
pub const PAGE_KEYS: [(&str, &str); 4] = [
    ("v", "the link's version: its keys are read against that version's defaults (absent: 1)"),
    ("run", "updates to replay on opening (0: none, `all`: until the budget is spent)"),
    ("at", "the update the tensors, completions and replay show (absent: the latest); replays at least that many"),
    ("figure", "the one figure an embed shows: curves, losses, tensors, completions (a text task) or env"),
];
/// Figures a page or an embed can show alone.
pub const FIGURES: [&str; 5] = ["curves", "losses", "tensors", "completions", "env"];

/// How many updates to replay when a link is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Replay {
    Updates(u64),
    All,
}

/// One thing wrong with a URL, and what the page used instead.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Problem {
    pub key: String,
    pub message: String,
    /// The value used instead (`None`: the key was ignored).
    pub used: Option<String>,
}

/// What a URL asked for.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Parsed {
    pub config: ExperimentConfig,
    /// The version the link was made with (its `v`; 1 without one).
    pub version: u32,
    /// Set when the code has changed since that version: results may differ in detail.
    pub notice: Option<String>,
    pub replay: Option<Replay>,
    /// The update the page shows (`at`), within what it replays.
    pub at: Option<u64>,
    pub figure: Option<String>,
    pub problems: Vec<Problem>,
}

/// Read a URL fragment or query (a leading `#` or `?` is skipped), or a whole link.
impl Parsed {
    /// A link that cannot be used, for the `problems` given: it opens `config` (the default
    /// experiment) at `version`, and nothing of the link is replayed or embedded.
    pub fn refused(config: ExperimentConfig, version: u32, problems: Vec<Problem>) -> Self {
        Parsed { config, version, notice: None, replay: None, at: None, figure: None, problems }
    }
}

pub fn parse(url: &str) -> Parsed {
    parse_in(versions::VERSIONS, url)
}

/// [`parse`] on a page whose releases are `table` (tests use a table with later versions).
pub fn parse_in(table: &[versions::Version], url: &str) -> Parsed {
    let current = versions::current_in(table);
    let mut problems = Vec::new();
    // A whole pasted link (`https://host/path/#v=1&env=…`) reads as its fragment.
    let text = url.split_once('#').map_or(url, |(_, fragment)| fragment);
    let text = text.strip_prefix('?').unwrap_or(text);
    let text = if text.len() > MAX_URL_LEN {
        problems.push(Problem {
            key: "(url)".into(),
            message: format!("the URL is {} bytes long; the limit is {MAX_URL_LEN}", text.len()),
            used: Some("the default experiment".into()),
        });
        ""
    } else {
        text
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (key, value) in form_urlencoded::parse(text.as_bytes()) {
        let (key, value) = (key.trim().to_string(), value.into_owned());
        if key.is_empty() {
            continue;
        }
        if pairs.iter().any(|(k, _)| *k == key) {
            problems.push(Problem {
                key: key.clone(),
                message: format!("given more than once; the first value is used (ignored: {value:?})"),
                used: None,
            });
            continue;
        }
        pairs.push((key, value));
    }

    // The version first: it says which defaults the link's keys are relative to. A version
    // this page does not know is not guessed at.
    // A link without one is version 1; an empty fragment names no experiment: today's defaults.
    let version = match pairs.iter().find(|(k, _)| k == "v") {
        None if pairs.is_empty() => current,
        None => 1,
        Some((_, v)) => match versions::parse_version_in(table, v) {
            Ok(version) => version,
            Err(message) => {
                problems.push(Problem {
                    key: "v".into(),
                    message,
                    used: Some("the default experiment".into()),
                });
                return Parsed::refused(
                    versions::defaults_in(table, EnvId::CartPole, current),
                    current,
                    problems,
                );
            }
        },
    };

    // The environment next: the other defaults depend on it.
    let default_env = EnvId::CartPole;
    let env = match pairs.iter().find(|(k, _)| k == "env") {
        None => default_env,
        Some((_, v)) => EnvId::parse(v).unwrap_or_else(|message| {
            problems.push(Problem { key: "env".into(), message, used: Some(default_env.name().into()) });
            default_env
        }),
    };
    let defaults = versions::defaults_in(table, env, version);
    let mut config = defaults.clone();
    let mut replay = None;
    let mut at = None;
    let mut figure = None;
    for (key, value) in pairs.iter().filter(|(k, _)| k != "env" && k != "v") {
        match key.as_str() {
            "at" => match value.trim().parse::<u64>().ok().filter(|n| (1..=MAX_UPDATES).contains(n)) {
                Some(n) => at = Some(n),
                None => problems.push(Problem {
                    key: key.clone(),
                    message: format!("{value:?} is not an update (1 … {MAX_UPDATES})"),
                    used: Some("the latest".into()),
                }),
            },
            "run" => match parse_replay(value) {
                Ok(r) => replay = Some(r),
                Err(message) => problems.push(Problem { key: key.clone(), message, used: None }),
            },
            "figure" => match FIGURES.iter().find(|f| **f == value.trim()) {
                Some(f) => figure = Some(f.to_string()),
                None => problems.push(Problem {
                    key: key.clone(),
                    message: format!("{value:?} is not one of {}", FIGURES.join(", ")),
                    used: None,
                }),
            },
            _ => {
                if let Err(message) = config.set(key, value) {
                    let used = defaults.get(key);
                    problems.push(Problem { key: key.clone(), message, used });
                }
            }
        }
    }
    // Keys fine alone but impossible together: the one at fault takes the nearest value that
    // fits. Each fix resolves its own conflict, so this ends.
    for conflict in config.check() {
        config.set(conflict.key, &conflict.fix).expect("fixes are in range");
        problems.push(Problem {
            key: conflict.key.into(),
            message: conflict.message,
            used: Some(conflict.fix),
        });
    }
    // The page shows update `at` of what it replays: `at` alone replays that many updates.
    match (at, replay) {
        (Some(n), None | Some(Replay::Updates(0))) => replay = Some(Replay::Updates(n)),
        (Some(n), Some(Replay::Updates(r))) if n > r => {
            problems.push(Problem {
                key: "at".into(),
                message: format!("update {n} is after the {r} updates the link replays (run={r})"),
                used: Some(r.to_string()),
            });
            at = Some(r);
        }
        _ => {}
    }
    Parsed { config, version, notice: versions::notice_in(table, version), replay, at, figure, problems }
}

/// The most updates a link replays (`run`) or shows (`at`).
const MAX_UPDATES: u64 = 1_000_000;

fn parse_replay(value: &str) -> Result<Replay, String> {
    match value.trim() {
        "all" => Ok(Replay::All),
        v => u64::parse(v)
            .ok()
            .filter(|&n| n <= MAX_UPDATES)
            .map(Replay::Updates)
            .ok_or_else(|| format!("{v:?} is not a number of updates (0 … {MAX_UPDATES}) or 'all'")),
    }
}

/// The fragment (without `#`) for a config: this build's version `v`, `env`, `seed`, then every
/// key that differs from the env's defaults, in declaration order; `extra` pairs (e.g. `run`)
/// go last.
pub fn to_fragment(config: &ExperimentConfig, extra: &[(&str, &str)]) -> String {
    to_fragment_in(versions::VERSIONS, config, extra)
}

/// [`to_fragment`] as the release `table`'s newest version writes it.
pub fn to_fragment_in(
    table: &[versions::Version],
    config: &ExperimentConfig,
    extra: &[(&str, &str)],
) -> String {
    let current = versions::current_in(table);
    let defaults = versions::defaults_in(table, config.run.env, current);
    let mut out = form_urlencoded::Serializer::new(String::new());
    out.append_pair("v", &current.to_string());
    out.append_pair("env", config.run.env.name());
    out.append_pair("seed", &config.run.seed.to_string());
    for spec in ExperimentConfig::specs() {
        if spec.key == "env" || spec.key == "seed" {
            continue;
        }
        let value = config.get(&spec.key).expect("specs name real keys");
        if defaults.get(&spec.key).as_deref() != Some(value.as_str()) {
            out.append_pair(&spec.key, &value);
        }
    }
    for (k, v) in extra {
        out.append_pair(k, v);
    }
    out.finish()
}

/// Every key a URL may hold, as a Markdown table (the README's copy is checked against it).
pub fn keys_markdown() -> String {
    use crate::config::ParamKind;
    let defaults = ExperimentConfig::default();
    let mut s = String::from("| key | default (CartPole-v1) | allowed | meaning |\n|---|---|---|---|\n");
    for spec in ExperimentConfig::specs() {
        let allowed = match &spec.kind {
            ParamKind::Int { min, max } => format!("{min} … {max}"),
            ParamKind::Float { min, max } => format!("{} … {}", min.render(), max.render()),
            ParamKind::Bool => "true, false".into(),
            ParamKind::Choice { options } => options.join(", "),
        };
        let default = defaults.get(&spec.key).unwrap_or_default();
        s += &format!("| `{}` | `{default}` | {allowed} | {} |\n", spec.key, spec.doc);
    }
    for (key, doc) in PAGE_KEYS {
        s += &format!("| `{key}` | | | {doc} |\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fragment_round_trips_and_holds_only_changed_keys() {
        let mut c = ExperimentConfig::for_env(EnvId::Pendulum);
        c.run.seed = 3;
        c.set("grpo.num_generations", "16").unwrap();
        c.set("ppo.learning_rate", "1e-4").unwrap();
        let f = to_fragment(&c, &[("run", "40")]);
        let v = versions::CURRENT;
        assert_eq!(
            f,
            format!("v={v}&env=Pendulum-v1&seed=3&ppo.learning_rate=1e-4&grpo.num_generations=16&run=40")
        );
        let p = parse(&format!("#{f}"));
        assert_eq!(p.problems, vec![]);
        assert_eq!((p.version, p.notice), (versions::CURRENT, None));
        assert_eq!(p.config, c);
        assert_eq!(p.replay, Some(Replay::Updates(40)));
    }

    #[test]
    fn every_problem_is_reported_with_what_was_used() {
        let p = parse(
            "#env=Pendulum-v1&ppo.gamma=7&bogus=1&seed=2&seed=3&grpo.loss_type=<script>&run=x&figure=pie",
        );
        let keys: Vec<&str> = p.problems.iter().map(|q| q.key.as_str()).collect();
        assert_eq!(keys, vec!["seed", "ppo.gamma", "bogus", "grpo.loss_type", "run", "figure"]);
        assert_eq!(p.config.run.seed, 2);
        // A link without `v` is version 1's: its defaults are used.
        assert_eq!(p.config.ppo.gamma, versions::defaults(EnvId::Pendulum, 1).ppo.gamma);
        assert_eq!(p.problems[1].used.as_deref(), Some("0.9"));
        assert!(p.problems.iter().all(|q| !q.message.is_empty()));
    }

    #[test]
    fn at_names_an_update_within_what_the_link_replays() {
        let p = parse("env=CartPole-v1&at=12");
        assert_eq!((p.at, p.replay, p.problems.len()), (Some(12), Some(Replay::Updates(12)), 0));
        let p = parse("env=CartPole-v1&run=40&at=12");
        assert_eq!((p.at, p.replay), (Some(12), Some(Replay::Updates(40))));
        let p = parse("env=CartPole-v1&run=all&at=12");
        assert_eq!((p.at, p.replay), (Some(12), Some(Replay::All)));
        let p = parse("env=CartPole-v1&run=10&at=12");
        assert_eq!((p.at, p.replay), (Some(10), Some(Replay::Updates(10))));
        assert_eq!(p.problems[0].used.as_deref(), Some("10"));
        for bad in ["0", "-3", "x", "1.5", "99999999"] {
            let p = parse(&format!("env=CartPole-v1&run=5&at={bad}"));
            assert_eq!((p.at, p.problems[0].key.as_str()), (None, "at"), "at={bad}");
            assert_eq!(p.replay, Some(Replay::Updates(5)));
        }
    }

    #[test]
    fn an_impossible_combination_fixes_the_key_at_fault() {
        // Pendulum's default of 64 minibatches does not fit a batch of 2 either: clamped to 2.
        let p = parse("env=Pendulum-v1&ppo.num_envs=1&ppo.num_steps=2&grpo.max_completion_length=999");
        let keys: Vec<&str> = p.problems.iter().map(|q| q.key.as_str()).collect();
        assert_eq!(keys, vec!["ppo.num_minibatches", "grpo.max_completion_length"]);
        assert_eq!(p.config.ppo.num_minibatches, 2);
        assert_eq!(p.config.grpo.max_completion_length, 200);
        assert!(p.config.check().is_empty());
    }

    #[test]
    fn an_overlong_url_falls_back_to_the_default_experiment() {
        let p = parse(&format!("seed=5&x={}", "a".repeat(MAX_URL_LEN)));
        assert_eq!(p.config, ExperimentConfig::default());
        assert_eq!(p.problems.len(), 1);
    }
}

#[cfg(test)]
mod version_tests {
    use super::*;

    #[test]
    fn a_newer_or_unknown_version_is_refused_with_a_message_not_guessed() {
        let newer = versions::CURRENT + 1;
        for v in [newer.to_string(), "0".into(), "abc".into(), "1.5".into(), "-1".into()] {
            let p = parse(&format!("v={v}&env=Pendulum-v1&seed=9&ppo.gamma=0.5"));
            assert_eq!(p.problems.len(), 1, "v={v}: {:?}", p.problems);
            assert_eq!(p.problems[0].key, "v");
            assert_eq!(p.config, ExperimentConfig::default(), "v={v}: nothing of the link is used");
        }
        let p = parse(&format!("v={newer}"));
        assert!(p.problems[0].message.contains("newer than this page"), "{}", p.problems[0].message);
    }

    #[test]
    fn a_link_without_a_version_is_version_1() {
        let p = parse("env=Acrobot-v1&seed=4");
        assert_eq!(p.version, 1);
        assert_eq!(p.config.run.seed, 4);
        assert_eq!(p.problems, vec![]);
    }
}
