//! Bit-identity of seeded runs across refactorings: both algorithms on all eight environments
//! (and GRPO's warm start, and a text task with its reference refreshed and truncated
//! completions masked) take a few updates through `Experiment::step`, the page's path, with
//! evaluations; every metric (timings aside) and the digest of the page's snapshot of each
//! update are compared with `tests/fixtures/identity.json`.
//!
//! The fixture was written by this test (`PVG_BLESS=1 cargo test --test identity`) before the
//! restructuring of issue 18, and a change that moves results must say so by rewriting it
//! deliberately (and by a new version in `src/versions.rs`, since shared links replay runs).

use std::collections::BTreeMap;

use burn::prelude::*;
use playground::config::ExperimentConfig;
use playground::env::EnvId;
use playground::experiment::Experiment;
use playground::train::Evaluation;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/identity.json");
const UPDATES: usize = 3;

/// Small but complete: each environment's current defaults (normalisation, gSDE, reward
/// modes …) with fewer environments, shorter rollouts and smaller groups.
fn cases() -> Vec<(String, ExperimentConfig)> {
    let mut cases = Vec::new();
    for env in EnvId::ALL {
        let mut c = ExperimentConfig::for_env(env);
        c.run.seed = 7;
        if env.task().is_some() {
            c.grpo.num_generations = 4;
            c.grpo.groups_per_update = 2;
            c.ppo.num_envs = 4;
            c.ppo.num_steps = 16;
        } else {
            c.run.width = 16;
            c.ppo.num_envs = 2;
            c.ppo.num_steps = 64;
            c.grpo.num_generations = 4;
            c.grpo.groups_per_update = 2;
            c.grpo.max_completion_length = 60;
        }
        c.ppo.num_minibatches = 2;
        c.ppo.update_epochs = 2;
        cases.push((env.name().to_string(), c));
    }
    let mut warm = cases[0].1.clone();
    warm.grpo.warm_start_ppo_steps = 256;
    cases.push(("CartPole-v1 warm start".into(), warm));
    let mut text = cases.iter().find(|(n, _)| n == "lm-reverse").unwrap().1.clone();
    text.set("grpo.beta", "0.04").unwrap();
    text.set("grpo.sync_ref_model", "true").unwrap();
    text.set("grpo.ref_model_sync_steps", "2").unwrap();
    text.set("grpo.ref_model_mixup_alpha", "0.5").unwrap();
    text.set("grpo.mask_truncated_completions", "true").unwrap();
    text.set("grpo.max_completion_length", "5").unwrap();
    text.set("grpo.num_iterations", "2").unwrap();
    cases.push(("lm-reverse reference sync, masked truncation".into(), text));
    for (name, c) in &cases {
        assert!(c.check().is_empty(), "{name}: {:?}", c.check());
    }
    cases
}

/// FNV-1a: a stable digest of the snapshot's JSON.
fn digest(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in bytes {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// Per update of each algorithm: its metrics without timings, as JSON (floats round-trip
/// exactly), and the digest of the snapshot the page would draw after that step.
fn record(c: ExperimentConfig) -> serde_json::Value {
    let learner = Device::flex().autodiff();
    let mut e = Experiment::new(c.clone(), &learner, &Device::flex());
    let eval = Evaluation { at_end: true, ..Evaluation::of(&c.run, 4, 2) };
    e.ppo_track.evaluation = Some(eval);
    e.grpo_track.evaluation = Some(eval);
    let mut steps = Vec::new();
    for _ in 0..UPDATES {
        let report = pollster::block_on(e.step());
        assert_eq!((&report.ppo_error, &report.grpo_error), (&None, &None));
        let snapshot = serde_json::to_vec(&playground::inspect::snapshot(&e)).unwrap();
        steps.push(serde_json::json!({
            "ppo": report.ppo.map(|m| m.without_timings()),
            "grpo": report.grpo.map(|m| m.without_timings()),
            "snapshot": digest(&snapshot),
        }));
    }
    serde_json::Value::Array(steps)
}

#[test]
fn seeded_runs_match_the_recorded_metrics_bit_for_bit() {
    let recorded: BTreeMap<String, serde_json::Value> =
        cases().into_iter().map(|(name, c)| (name, record(c))).collect();
    if std::env::var_os("PVG_BLESS").is_some() {
        std::fs::write(FIXTURE, serde_json::to_string_pretty(&recorded).unwrap() + "\n").unwrap();
        return;
    }
    let expected: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(FIXTURE).expect("the fixture")).unwrap();
    assert_eq!(expected.keys().collect::<Vec<_>>(), recorded.keys().collect::<Vec<_>>());
    for (name, steps) in &expected {
        for (i, (want, got)) in
            steps.as_array().unwrap().iter().zip(recorded[name].as_array().unwrap()).enumerate()
        {
            assert_eq!(want, got, "{name}, step {}", i + 1);
        }
    }
}
