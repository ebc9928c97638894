//! Collecting experience and the reference policy: what the maths tests take as given.

use burn::prelude::*;
use playground::Rng;
use playground::config::ExperimentConfig;
use playground::env::EnvId;
use playground::grpo::Grpo;
use playground::host;
use playground::policy::{Policy, Sampling, StochasticPolicy};
use playground::value::ActorCritic;
use playground::ppo::Ppo;
use playground::rollout::{Rollout, VecEnv, collect_group, collect_rollout};
use playground::train::Algorithm;
use playground::value::Critic;
use rand::SeedableRng;

fn block<T>(f: impl Future<Output = T>) -> T {
    pollster::block_on(f)
}

/// A `(T, N)` rollout of `steps` steps of an actor and a critic.
fn rollout(
    policy: &Policy,
    critic: &Critic,
    envs: &mut VecEnv,
    steps: usize,
    rng: &mut Rng,
    device: &Device,
) -> Rollout {
    let agent = ActorCritic { actor: policy.clone(), critic: critic.clone() };
    block(collect_rollout(&agent, envs, steps, rng, device)).unwrap()
}

/// Pendulum is only ever truncated (at 200 steps): a 210-step rollout of 2 envs truncates each
/// once. The bootstrap value there must be V of the episode's final observation, which the env
/// has already replaced by a fresh reset's when the step returns.
#[test]
fn truncation_values_come_from_the_final_observation_before_the_reset() {
    let device = Device::flex();
    let env = EnvId::Pendulum;
    let (n, steps, seed) = (2, 210, 7);
    let mut rng = Rng::seed_from_u64(1);
    let policy = Policy::new(env.observation_dim(), &env.action_space(), 16, 1, &device, &mut rng);
    let critic = Critic::new(env.observation_dim(), 16, 1, &device, &mut rng);
    let mut envs = VecEnv::new(env, n, seed);
    let r = rollout(&policy, &critic, &mut envs, steps, &mut rng, &device);
    let d = env.observation_dim();
    let value = |obs: &[f32]| {
        block(host::read(critic.forward(host::matrix(obs.to_vec(), 1, d, &device)))).unwrap()[0]
    };

    for i in 0..n {
        let at = 199 * n + i;
        assert!(r.truncated[at] && !r.terminated[at], "env {i} is truncated at t = 199");
        assert_eq!(r.truncated.iter().skip(i).step_by(n).filter(|&&x| x).count(), 1);
        // Replay env i with the recorded actions to its 200th step: the final observation.
        let mut e = env.make();
        e.reset(Some(seed + i as u64));
        let mut last = None;
        for t in 0..200 {
            let tr = e.step(&r.actions[(t * n + i)..(t * n + i + 1)]);
            assert_eq!(tr.reward as f32, r.rewards[t * n + i], "the replay follows the rollout");
            last = Some(tr.observation);
        }
        let final_obs = last.unwrap();
        let after_reset = &r.observations[(200 * n + i) * d..(200 * n + i + 1) * d];
        assert_ne!(final_obs.as_slice(), after_reset, "the next row starts a new episode");
        assert_eq!(r.truncation_values[at], value(&final_obs), "env {i}: V(final observation)");
        assert_ne!(r.truncation_values[at], value(after_reset));
        // Nowhere else is there a truncation value.
        let others =
            r.truncation_values.iter().enumerate().filter(|&(j, &v)| j != at && j % n == i && v != 0.0);
        assert_eq!(others.count(), 0);
    }
}

#[test]
fn a_group_starts_every_trajectory_from_the_same_state_and_then_diverges() {
    let device = Device::flex();
    for env in [EnvId::CartPole, EnvId::Pendulum, EnvId::Acrobot] {
        let mut rng = Rng::seed_from_u64(4);
        let policy = Policy::new(env.observation_dim(), &env.action_space(), 16, 1, &device, &mut rng);
        let mut starts = env.make();
        starts.reset(Some(99));
        let start = starts.state();
        let group = block(collect_group(&policy, env, &start, 6, 50, &mut rng, &device)).unwrap();
        let d = env.observation_dim();
        for traj in &group {
            assert_eq!(traj.states[0], start, "{env}");
            assert_eq!(&traj.observations[..d], &group[0].observations[..d], "{env}: one first observation");
            assert!(traj.len() <= 50);
        }
        assert!(group.iter().any(|t| t.actions != group[0].actions), "{env}: sampling makes them diverge");
    }
}

/// A small GRPO on CartPole taking `iterations` optimiser steps per update and refreshing its
/// reference every `sync_steps` of them.
fn refreshing_grpo(iterations: usize, sync_steps: usize) -> ExperimentConfig {
    let mut c = ExperimentConfig::for_env(EnvId::CartPole);
    c.run.width = 8;
    c.grpo.num_generations = 4;
    c.grpo.max_completion_length = 30;
    c.grpo.num_iterations = iterations;
    c.grpo.ref_model_sync_steps = sync_steps;
    c
}

#[test]
fn the_reference_refresh_mixes_in_the_policy_by_alpha() {
    let mut c = refreshing_grpo(2, 2);
    c.grpo.ref_model_mixup_alpha = 0.25;
    let mut grpo = Grpo::new(&c, &Device::flex().autodiff(), &Device::flex());
    let read = |p: &Policy| block(host::read_params(p, None)).unwrap();
    let initial = read(grpo.reference());
    assert_eq!(initial, read(grpo.policy()), "the reference starts as the policy");
    // Two optimiser steps per update: a refresh at the end of each update, after the second.
    block(grpo.update()).unwrap();
    let (policy, reference) = (read(grpo.policy()), read(grpo.reference()));
    assert_ne!(policy, initial, "the policy moved");
    for ((p, r), r0) in policy.iter().flatten().zip(reference.iter().flatten()).zip(initial.iter().flatten())
    {
        let mixed = (0.25 * *p as f64 + 0.75 * *r0 as f64) as f32;
        assert_eq!(*r, mixed, "ref ← 0.25·π + 0.75·ref");
    }
    // With sync_ref_model off the reference stays.
    c.grpo.sync_ref_model = false;
    let mut frozen = Grpo::new(&c, &Device::flex().autodiff(), &Device::flex());
    let before = read(frozen.reference());
    block(frozen.update()).unwrap();
    assert_eq!(read(frozen.reference()), before);
}

#[test]
fn the_reference_refresh_counts_optimiser_steps_as_trl_does() {
    // Steps 3 and 6 end the first two updates; step 4 falls inside the second.
    let c = refreshing_grpo(3, 4);
    let mut grpo = Grpo::new(&c, &Device::flex().autodiff(), &Device::flex());
    let read = |p: &Policy| block(host::read_params(p, None)).unwrap();
    let initial = read(grpo.reference());
    block(grpo.update()).unwrap();
    assert_eq!(read(grpo.reference()), initial, "3 steps: no refresh yet");
    block(grpo.update()).unwrap();
    let reference = read(grpo.reference());
    assert_ne!(reference, initial, "refreshed at step 4");
    assert_ne!(reference, read(grpo.policy()), "with the policy of step 4, not of step 6");
}

#[test]
fn two_seeds_differ_in_their_weights_and_first_actions() {
    let mut first = Vec::new();
    for seed in [1, 2] {
        let mut c = ExperimentConfig::for_env(EnvId::CartPole);
        c.run.seed = seed;
        let ppo = Ppo::new(&c, &Device::flex().autodiff(), &Device::flex());
        let grpo = Grpo::new(&c, &Device::flex().autodiff(), &Device::flex());
        let weights = block(host::read_params(ppo.policy(), None)).unwrap();
        assert_eq!(
            weights,
            block(host::read_params(grpo.policy(), None)).unwrap(),
            "PPO and GRPO start alike"
        );
        // The first actions of a seeded rollout: the envs' first observations and the policy.
        let envs = VecEnv::new(EnvId::CartPole, 64, seed);
        let policy = ppo.policy().valid();
        let obs = host::matrix(envs.observations().to_vec(), 64, 4, &Device::flex());
        let mut rng = Rng::seed_from_u64(seed);
        let actions = block(policy.get_action(obs, &mut Sampling::Sample(&mut rng))).unwrap().actions;
        first.push((weights, envs.observations().to_vec(), actions));
    }
    let ((w1, o1, a1), (w2, o2, a2)) = (&first[0], &first[1]);
    // Every weight matrix differs (biases start at 0 for every seed, as CleanRL's do).
    let weights = w1.iter().zip(w2).filter(|(a, _)| a.iter().any(|&x| x != 0.0));
    assert_eq!(weights.clone().count(), 3, "CartPole's 2×64 policy has three weight matrices");
    for (i, (a, b)) in weights.enumerate() {
        assert_ne!(a, b, "weight matrix {i} is the same for both seeds");
    }
    assert_ne!(o1, o2, "first observations");
    assert_ne!(a1, a2, "first actions");
}

/// CleanRL's `ClipAction`: MountainCarContinuous charges `0.1·a²` on the action it is given, so
/// an unclipped sample of 3 would cost 0.9 where the clipped 1 costs 0.1. The buffer keeps the
/// sample, whose log-prob the update needs.
#[test]
fn continuous_actions_reach_the_env_clipped_and_stay_unclipped_in_the_buffer() {
    let device = Device::flex();
    let env = EnvId::MountainCarContinuous;
    let mut rng = Rng::seed_from_u64(2);
    let policy = Policy::new(env.observation_dim(), &env.action_space(), 16, 1, &device, &mut rng);
    let critic = Critic::new(env.observation_dim(), 16, 1, &device, &mut rng);
    let mut envs = VecEnv::new(env, 2, 3);
    let r = rollout(&policy, &critic, &mut envs, 100, &mut rng, &device);
    let outside = r.actions.iter().filter(|a| a.abs() > 1.0).count();
    assert!(outside > 10, "a fresh Gaussian policy (σ = 1) samples outside [−1, 1]: {outside}");
    for (i, (&a, &reward)) in r.actions.iter().zip(&r.rewards).enumerate() {
        if r.terminated[i] {
            continue;
        }
        let clipped = a.clamp(-1.0, 1.0) as f64;
        assert_eq!(reward, (-0.1 * clipped * clipped) as f32, "step {i}: action {a}");
    }
    // GRPO's groups act through the same wrapper.
    let mut starts = env.make();
    starts.reset(Some(5));
    let group = block(collect_group(&policy, env, &starts.state(), 4, 50, &mut rng, &device)).unwrap();
    for t in &group {
        for (&a, &reward) in t.actions.iter().zip(&t.rewards) {
            let clipped = a.clamp(-1.0, 1.0) as f64;
            assert_eq!(reward, (-0.1 * clipped * clipped) as f32);
        }
    }
}

/// `ppo.norm_obs`: the learner sees observations standardised by running statistics over all
/// envs (clipped to ±10), and an evaluation applies the same statistics frozen.
#[test]
fn normalised_observations_are_standardised_and_frozen_for_evaluation() {
    let device = Device::flex();
    let env = EnvId::MountainCar; // raw observations near (−0.5, 0): far from standard
    let mut rng = Rng::seed_from_u64(8);
    let policy = Policy::new(env.observation_dim(), &env.action_space(), 16, 1, &device, &mut rng);
    let critic = Critic::new(env.observation_dim(), 16, 1, &device, &mut rng);
    let mut envs = VecEnv::new(env, 8, 1).with_observation_normalization();
    let r = rollout(&policy, &critic, &mut envs, 200, &mut rng, &device);
    for j in 0..2 {
        let xs: Vec<f64> = r.observations.iter().skip(j).step_by(2).map(|&x| x as f64).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let std = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64).sqrt();
        assert!(mean.abs() < 0.5 && (0.5..2.0).contains(&std), "dimension {j}: mean {mean}, std {std}");
        assert!(xs.iter().all(|x| x.abs() <= 10.0));
    }
    let norm = envs.observation_normalizer().expect("normalising").clone();
    let frozen = norm.clone();
    let starts = [5, 6].map(playground::eval::Start::Seed);
    let returns = block(playground::eval::evaluate(&policy, env, &starts, Some(&norm), &device)).unwrap();
    assert_eq!(norm, frozen, "evaluation leaves the statistics as they were");
    assert_eq!(returns.len(), 2);
}

/// A text completion's end is its episode's end (issue 21): where one is truncated at the
/// task's length limit, PPO bootstraps no value after its last token, so the TD target of the
/// cutting step is exactly its reward (γ = 1, as the text tasks' default). A random policy
/// rarely emits EOS, so most completions here run to the limit.
#[test]
fn ppo_bootstraps_nothing_past_a_truncated_completion() {
    let device = Device::flex();
    let env = EnvId::LmReverse;
    let mut rng = Rng::seed_from_u64(3);
    let policy = Policy::new(env.observation_dim(), &env.action_space(), 16, 1, &device, &mut rng);
    let critic = Critic::new(env.observation_dim(), 16, 1, &device, &mut rng);
    let mut envs = VecEnv::new(env, 4, 1);
    let r = rollout(&policy, &critic, &mut envs, 64, &mut rng, &device);
    let cut: Vec<usize> = (0..r.truncated.len()).filter(|&i| r.truncated[i]).collect();
    assert!(cut.len() >= 8, "completions truncated: {}", cut.len());
    let (advantages, returns) = playground::ppo::compute_gae(&r, 1.0, 0.95);
    for &i in &cut {
        assert_eq!(r.truncation_values[i], 0.0, "no value after a completion's last token");
        let target = advantages[i] as f64 + r.values[i] as f64;
        assert!((target - r.rewards[i] as f64).abs() < 1e-6, "cell {i}: TD target {target}, reward {}", r.rewards[i]);
        assert_eq!(returns[i], advantages[i] + r.values[i]);
    }
}

/// A completion cut by GRPO's `max_completion_length` below the task's own limit is scored as
/// it stands (TRL scores what was generated): partial credit for its text, minus the format
/// penalty for the missing EOS. On lm-reverse with a horizon of 3, every completion without
/// EOS in its first 3 tokens ends with that score.
#[test]
fn a_completion_cut_by_the_horizon_is_scored_as_it_stands() {
    use playground::env::text::{EOS, Scoring, Task, token_text};
    let device = Device::flex();
    let scoring = Scoring { partial_credit: true, format_penalty: 0.5 };
    let spec = playground::env::EnvSpec { id: EnvId::LmReverse, scoring };
    let mut rng = Rng::seed_from_u64(9);
    let policy = Policy::new(EnvId::LmReverse.observation_dim(), &EnvId::LmReverse.action_space(), 16, 1, &device, &mut rng);
    let start: Vec<f64> = Task::prompt_tokens("abcd").iter().map(|&t| t as f64).collect();
    let group = block(collect_group(&policy, spec, &start, 16, 3, &mut rng, &device)).unwrap();
    let mut scored = 0;
    for traj in group.iter().filter(|t| t.truncated && t.len() == 3) {
        let tokens: Vec<usize> = traj.actions.iter().map(|&a| a as usize).collect();
        if tokens.iter().any(|&t| t == EOS || t < 3) {
            continue; // stopped on its own (EOS, PAD or BOS)
        }
        let text: String = tokens.iter().map(|&t| token_text(t)).collect();
        let expected = scoring.reward(Task::Reverse, "abcd", &text, false);
        assert_eq!(*traj.rewards.last().unwrap(), expected as f32, "{text}");
        assert!(traj.rewards[..2].iter().all(|&r| r == 0.0));
        scored += 1;
    }
    assert!(scored >= 8, "{scored} completions cut at 3 tokens");
    // The case: "dcb" for "abcd=": 3 of 4 characters, no EOS.
    assert_eq!(scoring.reward(Task::Reverse, "abcd", "dcb", false), 0.75 - 0.5);
}
