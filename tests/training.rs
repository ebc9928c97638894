//! Whole updates: a seeded run is bit-identical when repeated, and both algorithms run on
//! every environment.

use burn::prelude::*;
use playground::config::ExperimentConfig;
use playground::env::EnvId;
use playground::grpo::Grpo;
use playground::metrics::UpdateMetrics;
use playground::ppo::Ppo;
use playground::train::Algorithm;

fn small(env: EnvId, seed: u64) -> ExperimentConfig {
    let mut c = ExperimentConfig::for_env(env);
    c.run.seed = seed;
    c.run.width = 16;
    c.ppo.num_envs = 2;
    c.ppo.num_steps = 64;
    c.ppo.num_minibatches = 4;
    c.ppo.update_epochs = 2;
    c.grpo.num_generations = 4;
    c.grpo.max_completion_length = 60;
    c
}

fn updates<A: Algorithm>(mut alg: A, n: usize) -> Vec<UpdateMetrics> {
    (0..n).map(|_| pollster::block_on(alg.update()).expect("update").without_timings()).collect()
}

fn ppo(c: &ExperimentConfig, n: usize) -> Vec<UpdateMetrics> {
    updates(Ppo::new(c, &Device::flex().autodiff(), &Device::flex()), n)
}

fn grpo(c: &ExperimentConfig, n: usize) -> Vec<UpdateMetrics> {
    updates(Grpo::new(c, &Device::flex().autodiff(), &Device::flex()), n)
}

#[test]
fn the_same_seed_gives_bit_identical_metrics() {
    for env in [EnvId::CartPole, EnvId::Pendulum] {
        let c = small(env, 5);
        let (a, b) = (ppo(&c, 3), ppo(&c, 3));
        assert_eq!(a, b, "{env} PPO");
        let (a, b) = (grpo(&c, 3), grpo(&c, 3));
        assert_eq!(a, b, "{env} GRPO");
        // Bit-identical, not merely equal as f64 comparisons would have it (NaN, -0.0).
        let bits = |m: &[UpdateMetrics]| serde_json::to_string(m).unwrap();
        assert_eq!(bits(&a), bits(&b));
    }
}

#[test]
fn another_seed_gives_other_metrics() {
    let (a, b) = (small(EnvId::CartPole, 1), small(EnvId::CartPole, 2));
    assert_ne!(ppo(&a, 2), ppo(&b, 2));
    assert_ne!(grpo(&a, 2), grpo(&b, 2));
}

#[test]
fn both_algorithms_update_on_every_environment() {
    for env in EnvId::ALL {
        let c = small(env, 11);
        for (name, history) in [("ppo", ppo(&c, 2)), ("grpo", grpo(&c, 2))] {
            let last = history.last().unwrap();
            assert_eq!(last.update, 2, "{env} {name}");
            assert!(
                last.env_steps > 0 && last.policy_loss.is_finite() && last.grad_norm.is_finite(),
                "{env} {name}: {last:?}"
            );
        }
    }
}
