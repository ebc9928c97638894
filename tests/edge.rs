//! Edge configurations train for 200 updates without a NaN: groups whose rewards are all equal,
//! one-step episodes, and the largest learning rate the config allows.

use burn::prelude::*;
use playground::config::ExperimentConfig;
use playground::env::EnvId;
use playground::grpo::Grpo;
use playground::ppo::Ppo;
use playground::share::parse;
use playground::train::Algorithm;

fn config(url: &str) -> ExperimentConfig {
    let parsed = parse(url);
    assert_eq!(parsed.problems, vec![], "{url}");
    parsed.config
}

fn train<A: Algorithm>(mut alg: A, updates: usize, label: &str) -> Vec<playground::metrics::UpdateMetrics> {
    (0..updates)
        .map(|i| {
            pollster::block_on(alg.update()).unwrap_or_else(|e| panic!("{label}, update {}: {e}", i + 1))
        })
        .collect()
}

fn both(
    url: &str,
    updates: usize,
) -> (Vec<playground::metrics::UpdateMetrics>, Vec<playground::metrics::UpdateMetrics>) {
    let c = config(url);
    let (learner, acting) = (Device::flex().autodiff(), Device::flex());
    (
        train(Ppo::new(&c, &learner, &acting), updates, url),
        train(Grpo::new(&c, &learner, &acting), updates, url),
    )
}

const SMALL: &str =
    "width=16&total_steps=10000000&ppo.num_envs=2&ppo.num_steps=16&ppo.update_epochs=2&ppo.num_minibatches=2";

#[test]
fn groups_of_two_with_identical_rewards_give_zero_advantage_and_no_nan() {
    // MountainCar pays −1 per step: every trajectory cut at 10 steps returns −10.
    for beta in ["0", "0.1"] {
        let url = format!(
            "env=MountainCar-v0&{SMALL}&grpo.num_generations=2&grpo.max_completion_length=10&grpo.beta={beta}"
        );
        let (ppo, grpo) = both(&url, 200);
        assert!(ppo.iter().all(|m| m.first_non_finite().is_none()));
        for m in &grpo {
            assert_eq!(m.zero_std_fraction, Some(1.0), "{m:?}");
            assert_eq!(m.policy_loss, 0.0, "with zero advantage and a policy equal to its reference: {m:?}");
            assert!(m.first_non_finite().is_none(), "{m:?}");
        }
    }
}

#[test]
fn one_step_episodes_and_one_step_rollouts_train() {
    let url = "env=CartPole-v1&width=16&total_steps=10000000&ppo.num_envs=1&ppo.num_steps=1&ppo.num_minibatches=1\
               &grpo.num_generations=2&grpo.max_completion_length=1&grpo.beta=0.04";
    let (ppo, grpo) = both(url, 200);
    assert!(ppo.iter().chain(&grpo).all(|m| m.first_non_finite().is_none()));
    // CartPole pays 1 for the step: every trajectory of length 1 returns the same.
    assert!(grpo.iter().all(|m| m.mean_valid_length == Some(1.0) && m.zero_std_fraction == Some(1.0)));
}

#[test]
fn the_largest_learning_rate_trains_without_nan() {
    for env in [EnvId::CartPole, EnvId::Pendulum] {
        let url = format!(
            "env={env}&{SMALL}&ppo.learning_rate=0.01&ppo.anneal_lr=false&grpo.learning_rate=0.01\
             &grpo.num_generations=4&grpo.max_completion_length=50&grpo.beta=0.1&grpo.num_iterations=2"
        );
        let (ppo, grpo) = both(&url, 200);
        for m in ppo.iter().chain(&grpo) {
            assert!(m.first_non_finite().is_none(), "{env}: {m:?}");
        }
    }
}
