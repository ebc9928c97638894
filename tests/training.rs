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

/// `wall_s` is each algorithm's own training time: the other algorithm's updates and idle time
/// between two steps (the page's Step, Step) are not in it, so "return against wall-clock
/// seconds" and SPS compare the algorithms on their own cost.
#[test]
fn wall_time_counts_only_the_algorithms_own_updates() {
    let c = small(EnvId::CartPole, 3);
    let mut ppo = Ppo::new(&c, &Device::flex().autodiff(), &Device::flex());
    let mut grpo = Grpo::new(&c, &Device::flex().autodiff(), &Device::flex());
    let own = |m: &UpdateMetrics| m.rollout_s + m.advantage_s + m.update_s;
    let (p1, g1) = (pollster::block_on(ppo.update()).unwrap(), pollster::block_on(grpo.update()).unwrap());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (p2, g2) = (pollster::block_on(ppo.update()).unwrap(), pollster::block_on(grpo.update()).unwrap());
    for (name, first, second) in [("ppo", &p1, &p2), ("grpo", &g1, &g2)] {
        assert!((first.wall_s - own(first)).abs() < 1e-9, "{name}: {} vs {}", first.wall_s, own(first));
        let added = second.wall_s - first.wall_s;
        assert!((added - own(second)).abs() < 1e-9, "{name}: {added} s added for {} s of work", own(second));
        assert_eq!(second.sps, second.env_steps as f64 / second.wall_s);
    }
}

/// `grpo.warm_start_ppo_steps`: GRPO starts from the policy this experiment's PPO had after
/// that many steps (the whole updates that fit), its reference too; PPO's steps are reported
/// apart and not spent from GRPO's budget.
#[test]
fn grpo_warm_starts_from_the_same_runs_ppo_policy() {
    let mut c = small(EnvId::CartPole, 6);
    c.grpo.warm_start_ppo_steps = 300; // two PPO updates of 2 × 64 steps fit, a third does not
    let (learner, acting) = (Device::flex().autodiff(), Device::flex());
    let mut ppo = Ppo::new(&c, &learner, &acting);
    pollster::block_on(ppo.update()).unwrap();
    pollster::block_on(ppo.update()).unwrap();
    let read =
        |p: &playground::policy::Policy| pollster::block_on(playground::host::read_params(p, None)).unwrap();
    let expected = read(ppo.policy());

    let mut grpo = playground::experiment::GrpoRun::new(&c, &learner, &acting);
    assert_ne!(read(grpo.policy()), expected, "before its first update GRPO has its own initial weights");
    c.grpo.warm_start_ppo_steps = 0;
    let scratch = pollster::block_on(Grpo::new(&c, &learner, &acting).update()).unwrap();
    let m = pollster::block_on(grpo.update()).unwrap();
    assert_eq!(m.warm_start_env_steps, Some(256));
    assert_eq!(scratch.warm_start_env_steps, None);
    assert!(m.env_steps <= 4 * 60, "PPO's steps are not GRPO's: {}", m.env_steps);
    // The reference is PPO's policy itself (the refresh comes every 10 optimiser steps).
    assert_eq!(read(grpo.reference()), expected);
    assert_ne!(
        m.without_timings().mean_return,
        scratch.without_timings().mean_return,
        "a trained policy plays otherwise"
    );
}

/// TRL's `mask_truncated_completions`: trajectories cut at the length limit leave the loss. On
/// Pendulum with a 5-step limit every trajectory is truncated, so nothing is left to learn from;
/// without the key the same batch gives a gradient.
#[test]
fn masking_truncated_completions_leaves_them_out_of_the_loss() {
    let mut c = small(EnvId::Pendulum, 2);
    c.grpo.max_completion_length = 5;
    let kept = grpo(&c, 1).pop().unwrap();
    c.grpo.mask_truncated_completions = true;
    let masked = grpo(&c, 1).pop().unwrap();
    // The same rollouts either way (same seed), and the group statistics still see them.
    assert_eq!((kept.env_steps, kept.reward_mean), (masked.env_steps, masked.reward_mean));
    assert!(kept.grad_norm > 0.0, "{kept:?}");
    assert_eq!((masked.grad_norm, masked.policy_loss), (0.0, 0.0), "{masked:?}");
}

/// A run whose device is lost carries on on the CPU from its copy after the last good update
/// (taken before the first update, too), exactly as if nothing had happened: the failed
/// update is taken again, no update is lost and every metric is the same. The injected loss
/// strikes after the update has run, so the lost run's environments, RNG and weights had moved
/// on: only the copy is used. GRPO's copy before its first update carries its warm-start PPO;
/// the language model's copy keeps its frozen base and trains only its adapters.
#[test]
fn a_lost_device_costs_no_update_and_changes_no_metric() {
    use playground::experiment::Experiment;
    for (env, warm_start, lost_at) in [(EnvId::CartPole, 300, 1), (EnvId::Pendulum, 0, 3), (EnvId::LmReverse, 0, 2)] {
        let mut c = small(env, 7);
        c.grpo.warm_start_ppo_steps = warm_start;
        (c.ppo.norm_obs, c.ppo.norm_reward) = (true, true);
        let (learner, acting) = (Device::flex().autodiff(), Device::flex());
        let mut plain = Experiment::new(c.clone(), &learner, &acting);
        let mut surviving = Experiment::new(c, &learner, &acting).surviving_device_loss();
        for update in 1..=4 {
            if update == lost_at {
                assert!(surviving.inject_device_loss("ppo") && surviving.inject_device_loss("grpo"));
            }
            pollster::block_on(plain.step());
            pollster::block_on(surviving.step());
        }
        let history = |t: &playground::experiment::Track| {
            t.history.iter().map(UpdateMetrics::without_timings).collect::<Vec<_>>()
        };
        for (name, a, b) in [
            ("ppo", &plain.ppo_track, &surviving.ppo_track),
            ("grpo", &plain.grpo_track, &surviving.grpo_track),
        ] {
            assert_eq!(b.history.len(), 4, "{env} {name}: no update lost");
            assert_eq!(history(b), history(a), "{env} {name}");
            assert_eq!(b.error, None);
            let lost = b.device_lost.as_ref().expect("the loss is recorded");
            assert_eq!(lost.update, lost_at, "{env} {name}");
            assert!(lost.error.contains("lost"), "{}", lost.error);
            assert_eq!(a.device_lost, None);
            // A copy after every update until the loss, none after it (the run is on the CPU).
            let copied: Vec<bool> = b.history.iter().map(|m| m.cpu_copy_s.is_some()).collect();
            assert_eq!(copied, (1..=4).map(|u| u < lost_at).collect::<Vec<_>>(), "{env} {name}");
        }
    }
}

/// GRPO's KL is taken to its frozen reference, through the update itself: once the policy has
/// moved, the reported KL is positive (were the reference pass to score the current policy, it
/// would read exactly 0 at every update with one pass over its batch), and the reference still
/// holds the starting weights, bit for bit.
#[test]
fn grpo_penalises_the_kl_to_its_frozen_reference_not_to_itself() {
    let mut c = small(EnvId::CartPole, 4);
    c.grpo.beta = 0.04;
    c.grpo.learning_rate = 1e-2;
    c.grpo.num_iterations = 1;
    c.grpo.num_minibatches = 1;
    let mut g = Grpo::new(&c, &Device::flex().autodiff(), &Device::flex());
    let read = |m: &playground::policy::Policy| -> Vec<Vec<f32>> {
        pollster::block_on(playground::host::read_params(m, None)).unwrap().into_iter().map(|v| v.to_vec()).collect()
    };
    let start = read(g.reference());
    assert_eq!(read(g.policy()), start, "the policy starts at its reference");
    let first = pollster::block_on(g.update()).unwrap();
    assert_eq!(first.kl, Some(0.0), "the first update's batch is scored before any step: the policy is its reference");
    let later: Vec<f64> = (0..3).map(|_| pollster::block_on(g.update()).unwrap().kl.unwrap()).collect();
    assert!(later.iter().all(|&kl| kl > 0.0), "the policy moved away from its reference: {later:?}");
    assert_ne!(read(g.policy()), start, "the policy trained");
    assert_eq!(read(g.reference()), start, "the reference is frozen (no ref_model sync by default)");
}

#[test]
fn flags_appear_on_runs_built_to_provoke_them_and_not_on_the_defaults() {
    use playground::experiment::{Algos, Experiment};
    use playground::flags::FlagKind::*;
    let run = |c: ExperimentConfig, n: usize| {
        let mut e = Experiment::new(c, &Device::flex().autodiff(), &Device::flex());
        for _ in 0..n {
            pollster::block_on(e.step());
        }
        let kinds = |algo| e.flags(algo).expect("advanced").iter().map(|f| (f.kind, f.update)).collect::<Vec<_>>();
        (kinds(Algos::Ppo), kinds(Algos::Grpo))
    };
    // The page's default experiment (CartPole's defaults) and the text tasks' defaults: no flag...
    for (env, n) in [(EnvId::CartPole, 20), (EnvId::LmReverse, 3), (EnvId::LmSort, 3)] {
        assert_eq!(run(ExperimentConfig::for_env(env), n), (vec![], vec![]), "{env}");
    }
    // ...but lm-add's, whose first GRPO update moves the KL to the reference to 14.6 nats per
    // token and clips most ratios (Adam's first step on LoRA's zero B): a finding, kept in view.
    assert_eq!(run(ExperimentConfig::for_env(EnvId::LmAdd), 3), (vec![], vec![(KlJump, 1), (ClipFractionHigh, 1)]));
    // GRPO on MountainCar from scratch: every episode of every group is cut at the same length
    // with the same return, so no group has a signal.
    assert_eq!(run(small(EnvId::MountainCar, 1), 2).1, vec![(NoSignal, 1)]);
    // PPO with a step size far too large: the ratios leave the clip range, then the policy
    // becomes deterministic.
    let mut c = small(EnvId::CartPole, 1);
    c.ppo.learning_rate = 0.3;
    c.ppo.update_epochs = 10;
    assert_eq!(run(c, 6).0, vec![(ClipFractionHigh, 1), (EntropyCollapse, 2)]);
}
