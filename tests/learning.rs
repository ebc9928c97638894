//! Seeded learning checks: with CartPole-v1's defaults, PPO and GRPO learn within a fixed number
//! of updates. A broken objective, optimiser or advantage fails them (a sign-flipped surrogate,
//! an optimiser step that returns the module unchanged, a swapped min/max in the clip).
//!
//! Thresholds come from measured curves (dev profile, `cargo test --test learning`), with margin:
//! - PPO, mean training return over updates 41–100 (256 env steps each): 192, 251 and 216 for
//!   seeds 1, 2 and 3; a uniformly random policy scores about 22. Threshold 150.
//! - GRPO, mean group reward over updates 1–20: 24, 30, 23; over updates 101–120: 217, 178,
//!   193. Thresholds: at most 40 at first, at least 120 later.
//!
//! Each seed takes about 3 s (PPO) and 1.5 s (GRPO) on one core.

use burn::prelude::*;
use playground::config::ExperimentConfig;
use playground::env::EnvId;
use playground::grpo::Grpo;
use playground::metrics::UpdateMetrics;
use playground::ppo::Ppo;
use playground::train::Algorithm;

fn run<A: Algorithm>(mut alg: A, updates: usize) -> Vec<UpdateMetrics> {
    (0..updates).map(|_| pollster::block_on(alg.update()).expect("update")).collect()
}

/// The mean of `metric` over updates `from..=to` (1-based) where it is defined.
fn window(
    history: &[UpdateMetrics],
    from: usize,
    to: usize,
    metric: fn(&UpdateMetrics) -> Option<f64>,
) -> f64 {
    let xs: Vec<f64> = history[from - 1..to].iter().filter_map(metric).collect();
    assert!(!xs.is_empty(), "no value in updates {from}–{to}");
    xs.iter().sum::<f64>() / xs.len() as f64
}

fn cartpole(seed: u64) -> ExperimentConfig {
    let mut c = ExperimentConfig::for_env(EnvId::CartPole);
    c.run.seed = seed;
    c
}

#[test]
fn ppo_learns_cartpole_within_100_updates() {
    for seed in 1..=3 {
        let history = run(Ppo::new(&cartpole(seed), &Device::flex().autodiff(), &Device::flex()), 100);
        let late = window(&history, 41, 100, |m| m.mean_return);
        println!("seed {seed}: mean training return over updates 41–100: {late:.1}");
        assert!(late >= 150.0, "seed {seed}: PPO's mean training return over updates 41–100 is {late:.1}");
    }
}

#[test]
fn grpo_raises_its_group_reward_within_120_updates() {
    for seed in 1..=3 {
        let history = run(Grpo::new(&cartpole(seed), &Device::flex().autodiff(), &Device::flex()), 120);
        let early = window(&history, 1, 20, |m| m.reward_mean);
        let late = window(&history, 101, 120, |m| m.reward_mean);
        println!("seed {seed}: group reward mean {early:.1} over updates 1–20, {late:.1} over 101–120");
        assert!(early <= 40.0, "seed {seed}: GRPO starts at {early:.1}, not near random");
        assert!(late >= 120.0, "seed {seed}: GRPO's group reward over updates 101–120 is {late:.1}");
    }
}

/// TRL's newer GRPO objectives train CartPole for 20,000 steps without a NaN or an infinity
/// (every update's metrics are checked finite by the update itself).
#[test]
fn every_grpo_variant_trains_20k_steps_finitely() {
    for (key, value) in [
        ("grpo.loss_type", "cispo"),
        ("grpo.loss_type", "sapo"),
        ("grpo.importance_sampling_level", "sequence"),
        ("grpo.delta", "1.5"),
    ] {
        let mut c = cartpole(4);
        c.run.total_steps = 20_000;
        c.set(key, value).unwrap();
        c.grpo.num_iterations = 2; // the variants differ from the plain surrogate only off-policy
        for conflict in c.check() {
            c.set(conflict.key, &conflict.fix).unwrap();
        }
        let mut grpo = Grpo::new(&c, &Device::flex().autodiff(), &Device::flex());
        let mut track = playground::experiment::Track::default();
        while track.active() {
            pollster::block_on(track.advance(&mut grpo, None, c.run.total_steps));
        }
        assert_eq!(track.error, None, "{key}={value}");
        let last = track.history.last().unwrap();
        // The run stops when a full update (8 × 500 steps) no longer fits.
        assert!(last.env_steps > 16_000, "{key}={value}: {} steps", last.env_steps);
        println!(
            "{key}={value}: {} updates, last group reward {:.1}",
            track.history.len(),
            last.reward_mean.unwrap()
        );
    }
}
