//! GRPO's update in shards (`src/shards.rs`): a minibatch's gradient summed over its shards is
//! the minibatch's own gradient (to float rounding) for every loss type, and a run's results do
//! not depend on how many helpers ran its shards, nor in what order they answered.

use std::future::Future;
use std::pin::Pin;

use burn::optim::GradientsParams;
use burn::prelude::*;
use playground::Rng;
use playground::config::{ExperimentConfig, GrpoConfig, ImportanceSamplingLevel, LossType};
use playground::env::EnvId;
use playground::grpo::{Grpo, GrpoMinibatch, Norm, grpo_loss};
use playground::host::{self, HostVec};
use playground::policy::Policy;
use playground::shards::{self, Helper, HostBatch, Pool, SHARD};
use playground::train::Algorithm;
use rand::{Rng as _, SeedableRng};

/// Helpers in this process, each with its own model (as a Web Worker has): they run the jobs
/// they are given in reverse order.
struct LocalPool(Vec<Helper>);

impl Pool for LocalPool {
    fn helpers(&self) -> usize {
        self.0.len()
    }
    fn start(
        &self,
        messages: Vec<(usize, Vec<f32>)>,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Vec<f32>>, String>> + '_>> {
        Box::pin(async move {
            let mut answers = vec![Vec::new(); messages.len()];
            for (i, (helper, message)) in messages.iter().enumerate().rev() {
                answers[i] = self.0[*helper].run(message).await?;
            }
            Ok(answers)
        })
    }
}

/// Helpers that never answer (crashed, or lost): their jobs fall back to the run's own worker.
struct LostPool;

impl Pool for LostPool {
    fn helpers(&self) -> usize {
        2
    }
    fn start(
        &self,
        _: Vec<(usize, Vec<f32>)>,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Vec<f32>>, String>> + '_>> {
        Box::pin(async { Err("the helper was lost".to_string()) })
    }
}

/// A batch of `g` ragged trajectories of CartPole's policy: `(T, g)` cells.
struct Batch {
    observations: Vec<f32>,
    actions: Vec<f32>,
    log_probs: Vec<f32>,
    ref_log_probs: Vec<f32>,
    advantages: Vec<f32>,
    mask: Vec<f32>,
}

fn batch(steps: usize, g: usize, rng: &mut Rng) -> Batch {
    let lengths: Vec<usize> = (0..g).map(|_| rng.random_range(1..=steps)).collect();
    let cells = steps * g;
    let mask: Vec<f32> = (0..cells).map(|i| f32::from(u8::from(i / g < lengths[i % g]))).collect();
    Batch {
        observations: (0..cells * 4).map(|_| rng.random_range(-1.0..1.0)).collect(),
        actions: (0..cells).map(|_| f32::from(rng.random_range(0..2u8))).collect(),
        // Near the policy's own log-probs (about ln ½), so that some ratios clip and some do not.
        log_probs: (0..cells).map(|_| rng.random_range(-0.9..-0.5)).collect(),
        ref_log_probs: (0..cells).map(|_| rng.random_range(-0.9..-0.5)).collect(),
        advantages: (0..cells).map(|_| rng.random_range(-1.5..1.5)).collect(),
        mask,
    }
}

fn max_rel_diff(a: &[f32], b: &[f32]) -> f32 {
    let scale = a.iter().fold(1e-6f32, |m, x| m.max(x.abs()));
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max) / scale
}

#[test]
fn a_minibatch_gradient_is_the_sum_of_its_shards_for_every_loss_type() {
    let device = Device::flex().autodiff();
    let mut rng = Rng::seed_from_u64(5);
    let run = ExperimentConfig::for_env(EnvId::CartPole).run;
    let policy = Policy::for_run(&run, &device, &mut rng);
    let (steps, g, horizon, batch_valid_steps) = (6, 3 * SHARD + 5, 6, 1000);
    let b = batch(steps, g, &mut rng);
    // The minibatch: a shuffled subset of the columns, wider than two shards.
    let mut columns: Vec<usize> = (0..g).collect();
    rand::seq::SliceRandom::shuffle(&mut columns[..], &mut rng);
    let mb = &columns[..2 * SHARD + 3];
    let one = |data: &[f32], cols: &[usize]| shards::pick(data, g, 1, cols);
    let valid_steps = one(&b.mask, mb).iter().filter(|&&m| m > 0.0).count();

    for (loss_type, level, entropy_coef) in [
        (LossType::Grpo, ImportanceSamplingLevel::Token, 0.0),
        (LossType::Grpo, ImportanceSamplingLevel::Sequence, 0.01),
        (LossType::Bnpo, ImportanceSamplingLevel::Token, 0.01),
        (LossType::DrGrpo, ImportanceSamplingLevel::Token, 0.0),
        (LossType::Dapo, ImportanceSamplingLevel::Token, 0.01),
        (LossType::Cispo, ImportanceSamplingLevel::Token, 0.0),
        (LossType::Sapo, ImportanceSamplingLevel::Token, 0.0),
    ] {
        let c = GrpoConfig {
            loss_type,
            importance_sampling_level: level,
            entropy_coef,
            beta: 0.05,
            epsilon: 0.1,
            ..GrpoConfig::default()
        };
        let what = format!("{loss_type:?}, {level:?}");
        // The minibatch's own loss and gradient, in one pass.
        let (t, s) = (steps, mb.len());
        let cells = |data: &[f32]| host::matrix(one(data, mb), t, s, &device);
        let picked = |data: &[f32], k: usize| shards::pick(data, g, k, mb);
        let minibatch = GrpoMinibatch {
            observations: host::matrix(picked(&b.observations, 4), t * s, 4, &device).reshape([t, s, 4]),
            actions: host::matrix(picked(&b.actions, 1), t * s, 1, &device).reshape([t, s, 1]),
            log_probs: cells(&b.log_probs),
            ref_log_probs: Some(cells(&b.ref_log_probs)),
            advantages: cells(&b.advantages),
            mask: cells(&b.mask),
        };
        let l = grpo_loss(&policy, minibatch, &c, horizon, batch_valid_steps);
        let read = |x: Tensor<1>| pollster::block_on(host::read(x)).unwrap()[0];
        let own_stats = [l.loss.clone().inner(), l.entropy, l.approx_kl, l.clip_fraction, l.kl].map(read);
        let own_ratios = pollster::block_on(host::read(l.ratio)).unwrap();
        let own = pollster::block_on(host::read_grads(
            &policy,
            &GradientsParams::from_grads(l.loss.backward(), &policy),
        ))
        .unwrap();

        // The same in shards.
        let norm = Norm { trajectories: mb.len(), valid_steps, batch_valid_steps, horizon };
        let mut padded = playground::rollout::Padded::default();
        (padded.steps, padded.width, padded.obs_dim, padded.action_width) = (steps, g, 4, 1);
        (padded.observations, padded.actions) = (b.observations.clone(), b.actions.clone());
        padded.log_probs = b.log_probs.clone();
        let host = HostBatch {
            padded: &padded,
            advantages: &b.advantages,
            mask: &b.mask,
            ref_log_probs: Some(&b.ref_log_probs),
        };
        assert_eq!(mb.chunks(SHARD).count(), 3);
        let total =
            pollster::block_on(shards::gradient(&policy, &host, mb, norm, None, &c, &device)).unwrap();
        let flat = |g: &[Option<HostVec>]| g.iter().flatten().flatten().copied().collect::<Vec<f32>>();
        assert_eq!(
            own.iter().map(Option::is_some).collect::<Vec<_>>(),
            total.grads.iter().map(Option::is_some).collect::<Vec<_>>()
        );
        let diff = max_rel_diff(&flat(&own), &flat(&total.grads));
        assert!(diff < 1e-5, "{what}: gradients differ by {diff} of their scale");
        assert!(flat(&own).iter().any(|&x| x != 0.0), "{what}: a gradient to compare");
        // policy_loss, entropy, approx_kl, clip_fraction, kl.
        for (name, (a, b)) in ["loss", "entropy", "approx_kl", "clip_fraction", "kl"]
            .iter()
            .zip(own_stats.iter().zip([0, 1, 2, 3, 7].map(|i| total.stats[i])))
        {
            assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "{what}: {name} {a} against {b} in shards");
        }
        assert_eq!(own_ratios.len(), total.ratios.len());
        assert!(max_rel_diff(&own_ratios, &total.ratios) < 1e-6, "{what}: the ratios, placed back");
    }
}

/// lm-reverse with minibatches of 64 completions (4 shards) and a reference pass over 64.
fn sharded_lm() -> ExperimentConfig {
    let mut c = ExperimentConfig::for_env(EnvId::LmReverse);
    c.run.seed = 3;
    c.grpo.groups_per_update = 4;
    c.grpo.num_minibatches = 1;
    c.grpo.beta = 0.04;
    c
}

/// `updates` of GRPO with `helpers` in-process helpers (`usize::MAX`: helpers that are lost).
fn train(config: &ExperimentConfig, helpers: usize, updates: usize) -> (Vec<String>, Vec<HostVec>) {
    let device = Device::flex().autodiff();
    let mut grpo = Grpo::new(config, &device, &Device::flex());
    if helpers == usize::MAX {
        grpo.set_pool(std::sync::Arc::new(LostPool));
    } else if helpers > 0 {
        grpo.set_pool(std::sync::Arc::new(LocalPool((0..helpers).map(|_| Helper::new(config)).collect())));
    }
    let metrics = (0..updates)
        .map(|_| {
            let mut m = pollster::block_on(grpo.update()).unwrap();
            (m.wall_s, m.sps, m.rollout_s, m.advantage_s, m.update_s) = (0.0, 0.0, 0.0, 0.0, 0.0);
            serde_json::to_string(&m).unwrap()
        })
        .collect();
    let only = host::trainable(grpo.policy());
    (metrics, pollster::block_on(host::read_params(grpo.policy(), only.as_deref())).unwrap())
}

#[test]
fn a_run_is_the_same_on_any_number_of_helpers_and_when_they_are_lost() {
    let config = sharded_lm();
    let alone = train(&config, 0, 2);
    for helpers in [1, 3, usize::MAX] {
        let with = train(&config, helpers, 2);
        assert_eq!(with.0, alone.0, "{helpers} helpers: the metrics");
        assert!(with.1 == alone.1, "{helpers} helpers: the trained adapters, bit for bit");
    }
    // The KL is on and the update moved the adapters: there was something to agree on.
    assert!(alone.0[1].contains("\"kl\":") && !alone.0[1].contains("\"kl\":null"));
}
