//! GRPO without a critic (Shao et al. 2024, DeepSeekMath), with TRL's `GRPOConfig` choices:
//! roll out G trajectories from one initial state, stack and pad them to `(T, G)` with a mask,
//! normalise rewards within the group over valid steps only, then take clipped-surrogate steps
//! with a k3 KL penalty to a reference policy, updating the policy alone.

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use crate::Rng;
use crate::config::{
    ExperimentConfig, GrpoConfig, ImportanceSamplingLevel, LossType, RewardMode, ScaleRewards,
};
use crate::env::{Env, EnvSpec};
use crate::host::{self, DeviceError, Reads};
use crate::learner::{self, Means};
use crate::metrics::{UpdateMetrics, mean};
use crate::policy::{Policy, StochasticPolicy};
use crate::rollout::{Padded, Trajectory, collect_group, stack_and_pad};
use crate::shards::{self, HostBatch, Pool, SHARD, STATS, ShardGradient};
use crate::train::{Algorithm, TrainError, check_finite};
use crate::trainee::{Clock, Trainee};

/// Adam's ε: PyTorch's default, which TRL (through transformers) keeps.
pub const ADAM_EPS: f64 = 1e-8;

/// Added to the std before dividing, as TRL does.
const STD_EPS: f64 = 1e-4;

/// Per-group reward statistics of one generation batch.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupStats {
    /// Std of the trajectory returns within each group (unbiased, as `torch.std`).
    pub return_std: Vec<f64>,
    /// Groups whose rewards were all equal: their advantages are exactly zero.
    pub zero_std_groups: usize,
}

/// Advantages `(T, G)` for a padded batch whose columns form consecutive groups of
/// `group_size` trajectories. Padded cells get exactly zero.
///
/// - outcome: each trajectory's return `R_g`, normalised across its group
///   (`(R_g − mean) / (std + 1e-4)`), broadcast to its valid steps;
/// - process: each valid step's reward normalised across all valid steps of its group, and
///   the advantage of step `t` is the sum of normalised rewards from `t` to the end.
///
/// `scale` picks the std: the group's, the whole batch's, or none (Dr. GRPO). A group whose
/// rewards are all equal gets zero advantage, never NaN.
pub fn group_advantages(
    p: &Padded,
    group_size: usize,
    mode: RewardMode,
    scale: ScaleRewards,
) -> (Vec<f32>, GroupStats) {
    let (steps, width) = (p.steps, p.width);
    assert!(width % group_size == 0, "{width} trajectories do not split into groups of {group_size}");
    let valid = |t: usize, g: usize| p.mask[t * width + g] > 0.0;
    let returns: Vec<f64> = (0..width)
        .map(|g| (0..steps).filter(|&t| valid(t, g)).map(|t| p.rewards[t * width + g] as f64).sum())
        .collect();
    // The samples normalised within each group: one return per trajectory, or one reward per
    // valid step.
    let samples = |g0: usize| -> Vec<f64> {
        match mode {
            RewardMode::Outcome => returns[g0..g0 + group_size].to_vec(),
            RewardMode::Process => (g0..g0 + group_size)
                .flat_map(|g| {
                    (0..steps).filter(move |&t| valid(t, g)).map(move |t| p.rewards[t * width + g] as f64)
                })
                .collect(),
        }
    };
    let groups: Vec<usize> = (0..width).step_by(group_size).collect();
    let batch_std = std(&groups.iter().flat_map(|&g0| samples(g0)).collect::<Vec<_>>());

    let mut advantages = vec![0f32; steps * width];
    let mut zero_std_groups = 0;
    for &g0 in &groups {
        let xs = samples(g0);
        if xs.iter().all(|&x| x == xs[0]) {
            zero_std_groups += 1;
            continue; // all equal: no signal, advantages stay exactly zero
        }
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        let denom = match scale {
            ScaleRewards::Group => std(&xs) + STD_EPS,
            ScaleRewards::Batch => batch_std + STD_EPS,
            ScaleRewards::None => 1.0,
        };
        let normalise = |x: f64| (x - m) / denom;
        for g in g0..g0 + group_size {
            match mode {
                RewardMode::Outcome => {
                    let a = normalise(returns[g]) as f32;
                    for t in (0..steps).filter(|&t| valid(t, g)) {
                        advantages[t * width + g] = a;
                    }
                }
                RewardMode::Process => {
                    let mut to_go = 0.0;
                    for t in (0..steps).rev().filter(|&t| valid(t, g)) {
                        to_go += normalise(p.rewards[t * width + g] as f64);
                        advantages[t * width + g] = to_go as f32;
                    }
                }
            }
        }
    }
    let return_std = groups.iter().map(|&g0| std(&returns[g0..g0 + group_size])).collect();
    (advantages, GroupStats { return_std, zero_std_groups })
}

/// Unbiased standard deviation (`torch.std`); 0 for fewer than two samples.
fn std(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = xs.iter().sum::<f64>() / xs.len() as f64;
    (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
}

/// The k3 estimator of KL(π ‖ π_ref) per element (Schulman 2020; DeepSeekMath eq. 4):
/// `r − log r − 1` with `r = π_ref / π`. Zero where the two agree, positive elsewhere.
pub fn kl_k3<const D: usize>(log_probs: Tensor<D>, ref_log_probs: Tensor<D>) -> Tensor<D> {
    let log_r = ref_log_probs - log_probs;
    log_r.clone().exp() - log_r - 1.0
}

/// Reduce per-step losses `(T, G)` to a scalar over the valid cells, as TRL's `loss_type` does.
/// `horizon` is `max_completion_length` (Dr. GRPO's constant); `batch_valid_steps` the valid
/// steps of the whole generation batch (DAPO's normaliser, and CISPO's).
pub fn aggregate(
    per_step: Tensor<2>,
    mask: Tensor<2>,
    loss_type: LossType,
    horizon: usize,
    batch_valid_steps: usize,
) -> Tensor<1> {
    let [_, g] = per_step.dims();
    let divisors = Divisors::Own { horizon, batch_valid_steps, trajectories: g };
    aggregate_by(per_step, &mask, loss_type, &divisors)
}

/// What a minibatch's means divide by: its own cells (`Own`, counted on the device), or, for one
/// shard of a minibatch (see [`crate::shards`]), the whole minibatch's counts, so that the
/// shards' losses and statistics sum to the minibatch's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Divisors {
    Own { horizon: usize, batch_valid_steps: usize, trajectories: usize },
    Minibatch(Norm),
}

/// A minibatch's counts, for its shards: its trajectories, its valid steps under the loss mask,
/// the generation batch's valid steps, and `max_completion_length`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Norm {
    pub trajectories: usize,
    pub valid_steps: usize,
    pub batch_valid_steps: usize,
    pub horizon: usize,
}

impl Divisors {
    fn horizon(&self) -> usize {
        match *self {
            Divisors::Own { horizon, .. } | Divisors::Minibatch(Norm { horizon, .. }) => horizon,
        }
    }
    fn batch_valid_steps(&self) -> usize {
        match *self {
            Divisors::Own { batch_valid_steps, .. } | Divisors::Minibatch(Norm { batch_valid_steps, .. }) => {
                batch_valid_steps
            }
        }
    }
    fn trajectories(&self) -> usize {
        match *self {
            Divisors::Own { trajectories, .. } | Divisors::Minibatch(Norm { trajectories, .. }) => trajectories,
        }
    }
    /// The sum of `x` over valid cells, divided by the valid cells' count.
    fn per_cell(&self, x: Tensor<2>, mask: &Tensor<2>) -> Tensor<1> {
        match self {
            Divisors::Own { .. } => masked_mean(x, mask.clone()),
            Divisors::Minibatch(n) => zero_padding(x, mask).sum() / n.valid_steps.max(1) as f64,
        }
    }
    /// The sum of each trajectory's mean over its valid steps, divided by the trajectories.
    fn per_trajectory(&self, x: Tensor<2>, mask: &Tensor<2>) -> Tensor<1> {
        match self {
            Divisors::Own { .. } => per_trajectory_mean(x, mask).mean(),
            Divisors::Minibatch(n) => per_trajectory_mean(x, mask).sum() / n.trajectories.max(1) as f64,
        }
    }
}

fn aggregate_by(per_step: Tensor<2>, mask: &Tensor<2>, loss_type: LossType, d: &Divisors) -> Tensor<1> {
    match loss_type {
        LossType::Grpo | LossType::Sapo => d.per_trajectory(per_step, mask),
        LossType::Bnpo => d.per_cell(per_step, mask),
        LossType::DrGrpo => zero_padding(per_step, mask).sum() / (d.trajectories() * d.horizon()) as f64,
        LossType::Dapo | LossType::Cispo => zero_padding(per_step, mask).sum() / d.batch_valid_steps().max(1) as f64,
    }
}

/// `x` with exactly 0 in padded cells, and no gradient from them, whatever `x` holds there
/// (a product with the mask would turn an infinity into NaN).
fn zero_padding(x: Tensor<2>, mask: &Tensor<2>) -> Tensor<2> {
    x.mask_fill(mask.clone().equal_elem(0.0), 0.0)
}

/// Mean over valid cells.
fn masked_mean(x: Tensor<2>, mask: Tensor<2>) -> Tensor<1> {
    zero_padding(x, &mask).sum() / mask.sum().clamp_min(1.0)
}

/// Each trajectory's mean over its valid steps, `(1, G)`.
fn per_trajectory_mean(x: Tensor<2>, mask: &Tensor<2>) -> Tensor<2> {
    zero_padding(x, mask).sum_dim(0) / mask.clone().sum_dim(0).clamp_min(1.0)
}

/// TRL's per-step policy objective for `c.loss_type`, as a loss `(T, G)` before the KL term and
/// the aggregation, with the importance weights it used. `log_probs` are the current policy's
/// and `log_ratio` their difference to the policy that generated the batch, both 0 in padded
/// cells.
///
/// The weight is `r = exp(log π − log π_old)` per step, or per trajectory with
/// `importance_sampling_level = sequence` (GSPO: the masked mean of the trajectory's log-ratios),
/// broadcast over its steps. Then, per loss type:
/// - `grpo`, `bnpo`, `dr_grpo`, `dapo`: the clipped surrogate `−min(A·min(r, δ), A·clip(r))`;
/// - `cispo`: `−sg(min(r, ε_high))·A·log π` (the weight is a constant, `log π` carries the gradient);
/// - `sapo`: `−σ(τ(r − 1))·(4/τ)·A`, with `τ` = `sapo_temperature_pos` where `A > 0`, else `_neg`.
pub fn policy_objective(
    log_probs: Tensor<2>,
    log_ratio: Tensor<2>,
    advantages: Tensor<2>,
    mask: &Tensor<2>,
    c: &GrpoConfig,
) -> (Tensor<2>, Tensor<2>) {
    let [steps, _] = log_probs.dims();
    let log_weights = match c.importance_sampling_level {
        ImportanceSamplingLevel::Token => log_ratio,
        ImportanceSamplingLevel::Sequence => per_trajectory_mean(log_ratio, mask).repeat_dim(0, steps),
    };
    match c.loss_type {
        LossType::Cispo => {
            let weights = log_weights.exp();
            let capped = weights.clone().clamp_max(c.epsilon_high).detach();
            (-(capped * advantages * log_probs), weights)
        }
        LossType::Sapo => {
            let weights = log_weights.exp();
            let (pos, neg) = (c.sapo_temperature_pos, c.sapo_temperature_neg);
            let tau = advantages.clone().greater_elem(0.0).float() * (pos - neg) + neg;
            let gate = sigmoid((weights.clone() - 1.0) * tau.clone()) * 4.0 / tau;
            (-(gate * advantages), weights)
        }
        LossType::Grpo | LossType::Bnpo | LossType::DrGrpo | LossType::Dapo => {
            let delta = (c.delta > 0.0).then_some(c.delta);
            learner::clipped_surrogate(log_weights, advantages, c.epsilon, c.epsilon_high, delta)
        }
    }
}

/// The fractions of valid steps whose clip is active, as TRL logs them: `(low, high, region)`
/// for the clipped losses (`r < 1 − ε` with `A < 0`, `r > 1 + ε_high` with `A > 0`, either),
/// `(0, cispo's r > ε_high with A > 0, same)` for cispo, and zeros for sapo. With sequence-level
/// weights each trajectory counts once (TRL's mean over sequences).
fn clip_ratios(
    weights: Tensor<2>,
    advantages: Tensor<2>,
    mask: Tensor<2>,
    c: &GrpoConfig,
    d: &Divisors,
) -> [Tensor<1>; 3] {
    let negative = advantages.clone().lower_elem(0.0);
    let positive = advantages.greater_elem(0.0);
    let (low, high) = match c.loss_type {
        LossType::Sapo => {
            let zero = Tensor::zeros([1], &mask.device());
            return [zero.clone(), zero.clone(), zero];
        }
        LossType::Cispo => {
            // CISPO caps from above only: nothing is clipped low.
            let none = weights.clone().zeros_like().bool();
            (none, weights.greater_elem(c.epsilon_high).bool_and(positive))
        }
        _ => (
            weights.clone().lower_elem(1.0 - c.epsilon).bool_and(negative),
            weights.greater_elem(1.0 + c.epsilon_high).bool_and(positive),
        ),
    };
    let region = low.clone().bool_or(high.clone());
    let mean = |x: Tensor<2, Bool>| match c.importance_sampling_level {
        ImportanceSamplingLevel::Token => d.per_cell(x.float(), &mask),
        ImportanceSamplingLevel::Sequence => d.per_trajectory(x.float(), &mask),
    };
    [mean(low), mean(high), mean(region)]
}

/// A minibatch of whole trajectories, `(T, G_mb, ...)`, on the learner's device.
pub struct GrpoMinibatch {
    pub observations: Tensor<3>,
    pub actions: Tensor<3>,
    /// Log-probabilities under the policy that generated the batch, `(T, G_mb)`.
    pub log_probs: Tensor<2>,
    /// Log-probabilities under the reference policy (absent when `beta = 0`).
    pub ref_log_probs: Option<Tensor<2>>,
    pub advantages: Tensor<2>,
    /// 1 on valid steps, 0 on padding.
    pub mask: Tensor<2>,
}

/// GRPO's loss on a minibatch, with its diagnostics (masked means, detached).
pub struct GrpoLoss {
    pub loss: Tensor<1>,
    pub entropy: Tensor<1>,
    pub approx_kl: Tensor<1>,
    pub clip_fraction: Tensor<1>,
    /// TRL's `clip_ratio/low_mean`, `clip_ratio/high_mean` and `clip_ratio/region_mean`.
    pub clip_ratio: [Tensor<1>; 3],
    /// Mean k3 KL to the reference (0 when `beta = 0`).
    pub kl: Tensor<1>,
    /// The importance weights per cell, `(T, G_mb)` (per trajectory, broadcast, with GSPO).
    pub ratio: Tensor<2>,
    /// The k3 KL to the reference per cell, `(T, G_mb)`, 0 in padding (`None` when `beta = 0`).
    pub kl_per_cell: Option<Tensor<2>>,
}

/// The policy objective plus `beta`·k3 KL per step, aggregated over valid steps by `loss_type`,
/// minus `entropy_coef` times the mean entropy per valid step. Padded cells contribute neither
/// loss nor gradient.
pub fn grpo_loss<P: StochasticPolicy>(
    policy: &P,
    mb: GrpoMinibatch,
    c: &GrpoConfig,
    horizon: usize,
    batch_valid_steps: usize,
) -> GrpoLoss {
    let trajectories = mb.mask.dims()[1];
    grpo_loss_by(policy, mb, c, &Divisors::Own { horizon, batch_valid_steps, trajectories })
}

/// [`grpo_loss`] with its means divided by `d`: a shard's loss and statistics, with
/// `Divisors::Minibatch`, are its share of its minibatch's.
pub fn grpo_loss_by<P: StochasticPolicy>(policy: &P, mb: GrpoMinibatch, c: &GrpoConfig, d: &Divisors) -> GrpoLoss {
    let (log_probs, entropy) = policy.evaluate_padded(mb.observations, mb.actions);
    // Padded cells hold a zero observation and action, and the policy may give them any
    // log-prob: every log-prob is zeroed there before an exponent, so the ratio is 1 and the KL
    // 0 in padding, which then contributes exactly nothing and no gradient.
    let mask = mb.mask;
    let plain_mask = mask.clone().inner();
    let log_probs = zero_padding(log_probs, &mask);
    let log_ratio = log_probs.clone() - zero_padding(mb.log_probs, &mask);
    let (mut per_step, weights) =
        policy_objective(log_probs.clone(), log_ratio.clone(), mb.advantages.clone(), &mask, c);
    let (kl, kl_per_cell) = match mb.ref_log_probs {
        Some(ref_log_probs) => {
            let kl = kl_k3(log_probs, zero_padding(ref_log_probs, &mask));
            per_step = per_step + kl.clone() * c.beta;
            (d.per_cell(kl.clone().inner(), &plain_mask), Some(kl.inner()))
        }
        None => (Tensor::zeros([1], &plain_mask.device()), None),
    };
    let entropy = zero_padding(entropy, &mask);
    let mut loss = aggregate_by(per_step, &mask, c.loss_type, d);
    if c.entropy_coef > 0.0 {
        // TRL's bonus is the mean entropy per valid step whatever the loss type; for the
        // token-count losses its sum is divided by the same batch-wide count.
        let bonus = match c.loss_type {
            LossType::Dapo | LossType::Cispo => entropy.clone().sum() / d.batch_valid_steps().max(1) as f64,
            _ => d.per_cell(entropy.clone(), &mask),
        };
        loss = loss - bonus * c.entropy_coef;
    }
    let ratio = log_ratio.clone().exp().inner();
    GrpoLoss {
        loss,
        entropy: d.per_cell(entropy.inner(), &plain_mask),
        approx_kl: d.per_cell(learner::approx_kl(log_ratio).inner(), &plain_mask),
        clip_fraction: d.per_cell(learner::clipped(ratio, c.epsilon, c.epsilon_high), &plain_mask),
        clip_ratio: clip_ratios(weights.clone().inner(), mb.advantages.inner(), plain_mask, c, d),
        kl,
        ratio: weights.inner(),
        kl_per_cell,
    }
}

/// The last update's batch, for inspection: the padded tensors, the advantages, the
/// trajectories, and what the last pass over it saw (each minibatch's importance weights and KL,
/// before its optimiser step; `inspect` places them back into `(T, G)`).
#[derive(Clone, Debug)]
pub struct GrpoBatch {
    pub padded: Padded,
    pub advantages: Vec<f32>,
    pub trajectories: Vec<Trajectory>,
    pub last_pass: Vec<MinibatchView>,
}

/// One minibatch of the last pass: its columns of the batch, and its cells' importance weights
/// and k3 KL to the reference (`(T, columns)`, row-major; no KL when `beta = 0`).
#[derive(Clone, Debug)]
pub struct MinibatchView {
    pub columns: Vec<usize>,
    pub ratios: Vec<f32>,
    pub kl: Option<Vec<f32>>,
}

/// A generation batch on the learner's device: the padded `(T, G, ...)` tensors, the group
/// advantages and the loss mask.
struct DeviceBatch {
    observations: Tensor<3>,
    actions: Tensor<3>,
    log_probs: Tensor<2>,
    advantages: Tensor<2>,
    /// The validity mask, less the truncated completions when they leave the loss.
    mask: Tensor<2>,
    /// The mask's valid cells (DAPO's and CISPO's normaliser).
    valid_steps: usize,
    /// The loss mask on the host, for shards.
    host_mask: Vec<f32>,
}

/// A minibatch's importance weights and KL per cell, `(T, columns)`: on the device (a minibatch
/// of one shard), or on the host (summed from shards).
enum PassCells {
    Device(Tensor<2>, Option<Tensor<2>>),
    Host(Vec<f32>, Option<Vec<f32>>),
}

/// TRL's `mask_truncated_completions`: a truncated trajectory keeps its place in its group's
/// statistics but leaves the loss. Otherwise the validity mask itself.
pub fn loss_mask(padded: &Padded, trajectories: &[Trajectory], mask_truncated: bool) -> Vec<f32> {
    let mut mask = padded.mask.clone();
    if mask_truncated {
        for (j, tr) in trajectories.iter().enumerate().filter(|(_, tr)| tr.truncated) {
            (0..tr.len()).for_each(|t| mask[t * padded.width + j] = 0.0);
        }
    }
    mask
}

/// A GRPO run: the policy in training, its frozen reference (kept on the learner's autodiff
/// device, to be scored as the policy is; never differentiated), the env its groups start from,
/// and its RNG.
pub struct Grpo<P: StochasticPolicy> {
    config: GrpoConfig,
    /// The env as this run configures it (its id, and a text task's scoring).
    env: EnvSpec,
    horizon: usize,
    trainee: Trainee<P>,
    reference: P,
    /// Draws the initial state of each group.
    starts: Box<dyn Env>,
    rng: Rng,
    total_steps: u64,
    /// Optimiser steps taken (TRL's `global_step`), which `ref_model_sync_steps` counts.
    optimizer_steps: usize,
    /// Environment steps another run took before this one started from its policy (see
    /// [`Grpo::start_from`]; 0: from scratch).
    warm_start_env_steps: u64,
    /// Where the update's shards may run besides this worker (see [`crate::shards`]).
    pool: Option<Arc<dyn Pool>>,
    pub last_batch: Option<GrpoBatch>,
}

impl Grpo<Policy> {
    /// A run of `config` learning on `device` (an autodiff device) and acting on
    /// `acting_device`; its policy is drawn first from the seed, as PPO's is, so both start
    /// from identical weights.
    pub fn new(config: &ExperimentConfig, device: &Device, acting_device: &Device) -> Self {
        let (run, c) = (&config.run, config.grpo.clone());
        let make = |device: &Device, rng: &mut Rng| Policy::for_run(run, device, rng);
        let (trainee, rng) = Trainee::new(make, run.seed, ADAM_EPS, c.max_grad_norm, device, acting_device);
        let mut starts = run.env.make();
        starts.reset(Some(run.seed));
        Self {
            horizon: config.grpo_horizon(),
            config: c,
            env: run.env_spec(),
            reference: trainee.model.clone(),
            trainee,
            starts,
            rng,
            total_steps: run.total_steps,
            optimizer_steps: 0,
            warm_start_env_steps: 0,
            pool: None,
            last_batch: None,
        }
    }
}

impl<P: StochasticPolicy> Grpo<P> {
    /// Run the update's shards on `pool`'s helpers as well as here (the results are the same
    /// without).
    pub fn set_pool(&mut self, pool: Arc<dyn Pool>) {
        self.pool = Some(pool);
    }

    /// The reference policy of the KL penalty.
    pub fn reference(&self) -> &P {
        &self.reference
    }

    /// Start from `policy` (a strong baseline another run trained for `env_steps` environment
    /// steps, reported apart) instead of the initial weights: the policy and its reference
    /// become it. Before the first update only.
    pub fn start_from(&mut self, policy: P, env_steps: u64) {
        assert_eq!(self.trainee.updates, 0, "a run starts from a policy before its first update");
        self.reference = policy.clone();
        self.trainee.model = policy;
        self.warm_start_env_steps = env_steps;
    }

    /// G trajectories from each of `groups_per_update` initial states, with the current policy.
    async fn collect_groups(&mut self) -> Result<Vec<Trajectory>, DeviceError> {
        let c = &self.config;
        let (actor, device) = self.trainee.acting().await?;
        let mut trajectories = Vec::new();
        for _ in 0..c.groups_per_update {
            self.starts.reset(None);
            let start = self.starts.state();
            let (g, horizon) = (c.num_generations, self.horizon);
            trajectories.extend(collect_group(&actor, self.env, &start, g, horizon, &mut self.rng, &device).await?);
        }
        Ok(trajectories)
    }

    /// The padded batch and its advantages on the learner's device, with the loss mask.
    fn upload(&self, padded: &Padded, trajectories: &[Trajectory], advantages: &[f32]) -> DeviceBatch {
        let (steps, g, d) = (padded.steps, padded.width, self.trainee.device());
        let to_3d = |data: &[f32], k: usize| host::matrix(data.to_vec(), steps * g, k, d).reshape([steps, g, k]);
        let mask = loss_mask(padded, trajectories, self.config.mask_truncated_completions);
        DeviceBatch {
            observations: to_3d(&padded.observations, padded.obs_dim),
            actions: to_3d(&padded.actions, padded.action_width),
            log_probs: host::matrix(padded.log_probs.clone(), steps, g, d),
            advantages: host::matrix(advantages.to_vec(), steps, g, d),
            valid_steps: mask.iter().filter(|&&m| m > 0.0).count(),
            mask: host::matrix(mask.clone(), steps, g, d),
            host_mask: mask,
        }
    }

    /// The batch's log-probabilities under the reference, once per generation batch (`None`
    /// when `beta = 0`): on the device, and on the host where it was scored in shards (a batch
    /// wider than one shard).
    ///
    /// The reference is scored through the same (autodiff) path as the policy, then detached:
    /// while the policy is still the reference, both give the same bits and the KL's gradient
    /// is exactly zero. Scored on the plain device, they differed by float rounding, and when
    /// no group had a signal Adam scaled that ~1e-8 gradient into full learning-rate steps,
    /// the KL growing to tens within the update (tests/lm.rs).
    async fn score_reference(
        &self,
        b: &DeviceBatch,
        padded: &Padded,
    ) -> Result<Option<(Tensor<2>, Option<Vec<f32>>)>, DeviceError> {
        if self.config.beta <= 0.0 {
            return Ok(None);
        }
        if padded.width <= SHARD {
            let scored = self.reference.evaluate_padded(b.observations.clone(), b.actions.clone()).0;
            return Ok(Some((scored.detach().inner(), None)));
        }
        let d = self.trainee.device();
        let host_ref = shards::log_probs(&self.reference, padded, self.pool.as_deref(), &self.config, d).await?;
        let on_device = host::matrix(host_ref.clone(), padded.steps, padded.width, &d.clone().inner());
        Ok(Some((on_device, Some(host_ref))))
    }

    /// One optimiser step on a minibatch wider than a shard, its gradient summed over its shards
    /// (which the pool may run elsewhere); the gradient's norm, and the shards' statistics and
    /// cells.
    async fn sharded_step(
        &mut self,
        mb: &[usize],
        b: &DeviceBatch,
        host: &HostBatch<'_>,
        lr: f64,
    ) -> Result<(Tensor<1>, ShardGradient), TrainError> {
        let norm = Norm {
            trajectories: mb.len(),
            valid_steps: shards::pick(host.mask, host.padded.width, 1, mb).iter().filter(|&&m| m > 0.0).count(),
            batch_valid_steps: b.valid_steps,
            horizon: self.horizon,
        };
        let d = self.trainee.device().clone();
        let pool = self.pool.as_deref();
        let mut total = shards::gradient(&self.trainee.model, host, mb, norm, pool, &self.config, &d).await?;
        let grads = host::grads_from_host(&self.trainee.model, std::mem::take(&mut total.grads), &d);
        Ok((self.trainee.step_with(grads, lr), total))
    }

    /// `num_iterations` passes of minibatch steps (whole trajectories) on the policy alone; the
    /// steps' mean statistics and what the last pass saw.
    async fn optimise(
        &mut self,
        b: &DeviceBatch,
        host: &HostBatch<'_>,
        ref_log_probs: Option<Tensor<2>>,
        lr: f64,
    ) -> Result<(Means, Vec<MinibatchView>), TrainError> {
        let c = self.config.clone();
        let [_, g] = b.log_probs.dims();
        let d = self.trainee.device().clone();
        let mut stats = learner::StepStats::default();
        let mut last_pass = Vec::new();
        for iteration in 0..c.num_iterations {
            for mb in learner::minibatches(g, c.num_minibatches, &mut self.rng) {
                let (scalars, cells) = if mb.len() > SHARD {
                    let (grad_norm, total) = self.sharded_step(&mb, b, host, lr).await?;
                    let plain = d.clone().inner();
                    let mut scalars: Vec<Tensor<1>> =
                        total.stats.iter().map(|&x| host::vector(vec![x], &plain)).collect();
                    scalars.push(grad_norm.inner());
                    (scalars, PassCells::Host(total.ratios, total.kl))
                } else {
                    let idx = host::indices(&mb, &d);
                    let pick = |x: &Tensor<2>| x.clone().select(1, idx.clone());
                    let minibatch = GrpoMinibatch {
                        observations: b.observations.clone().select(1, idx.clone()),
                        actions: b.actions.clone().select(1, idx.clone()),
                        log_probs: pick(&b.log_probs),
                        ref_log_probs: ref_log_probs.as_ref().map(pick),
                        advantages: pick(&b.advantages),
                        mask: pick(&b.mask),
                    };
                    let l = grpo_loss(&self.trainee.model, minibatch, &c, self.horizon, b.valid_steps);
                    let grad_norm = self.trainee.step(l.loss.clone(), lr);
                    let [low, high, region] = l.clip_ratio;
                    let scalars = vec![
                        l.loss.inner(),
                        l.entropy,
                        l.approx_kl,
                        l.clip_fraction,
                        low,
                        high,
                        region,
                        l.kl,
                        grad_norm.inner(),
                    ];
                    (scalars, PassCells::Device(l.ratio, l.kl_per_cell))
                };
                self.optimizer_steps += 1;
                // TRL's SyncRefModelCallback, at the end of every `ref_model_sync_steps`-th
                // optimiser step. This batch's reference log-probs were computed before its
                // first step (as TRL computes them at generation), so a refresh acts from the
                // next generation batch on.
                if c.sync_ref_model && self.optimizer_steps.is_multiple_of(c.ref_model_sync_steps) {
                    self.sync_reference().await?;
                }
                // What each optimiser step logs: a shard's statistics, and the gradient's norm.
                let mut scalars = scalars.into_iter();
                stats.add(std::array::from_fn::<_, { STATS.len() + 1 }, _>(|i| {
                    (STATS.get(i).copied().unwrap_or("grad_norm"), scalars.next().expect("one scalar per name"))
                }));
                if iteration + 1 == c.num_iterations {
                    last_pass.push((mb, cells));
                }
            }
        }
        // One read for the statistics and the last pass's cells.
        let mut reads = Reads::new();
        reads.push(stats.means());
        for (_, cells) in &last_pass {
            if let PassCells::Device(ratio, kl) = cells {
                reads.push(ratio.clone());
                if let Some(kl) = kl {
                    reads.push(kl.clone());
                }
            }
        }
        let mut read = reads.execute().await?.into_iter();
        let means = stats.named(read.next().expect("stats were queued"));
        let views = last_pass
            .into_iter()
            .map(|(columns, cells)| match cells {
                PassCells::Device(_, kl) => MinibatchView {
                    columns,
                    ratios: read.next().expect("ratios were queued"),
                    kl: kl.map(|_| read.next().expect("KL was queued")),
                },
                PassCells::Host(ratios, kl) => MinibatchView { columns, ratios, kl },
            })
            .collect();
        Ok((means, views))
    }

    /// TRL's `sync_ref_model`: `ref ← α·π + (1−α)·ref`.
    async fn sync_reference(&mut self) -> Result<(), TrainError> {
        let alpha = self.config.ref_model_mixup_alpha;
        let policy = &self.trainee.model;
        if alpha == 1.0 {
            self.reference = policy.clone();
            return Ok(());
        }
        // The frozen weights (a LoRA model's base) are the same in both: only the trainable mix.
        let only = host::trainable(policy);
        let current = host::read_params(policy, only.as_deref()).await?;
        let previous = host::read_params(&self.reference, only.as_deref()).await?;
        let mixed = current
            .into_iter()
            .zip(previous)
            .map(|(p, r)| {
                p.iter()
                    .zip(&r)
                    .map(|(&p, &r)| (alpha * p as f64 + (1.0 - alpha) * r as f64) as f32)
                    .collect()
            })
            .collect();
        let device = self.trainee.device();
        self.reference = host::load_params(self.reference.clone(), mixed, device, only.as_deref());
        Ok(())
    }
}

impl<P: StochasticPolicy> Algorithm for Grpo<P> {
    type Policy = P;

    fn name(&self) -> &'static str {
        "grpo"
    }

    fn env_steps(&self) -> u64 {
        self.trainee.env_steps
    }

    fn policy(&self) -> &P {
        &self.trainee.model
    }

    async fn acting_policy(&self) -> Result<(P, Device), DeviceError> {
        self.trainee.acting().await
    }

    async fn copy_to_cpu(&self) -> Result<Self, DeviceError> {
        Ok(Self {
            config: self.config.clone(),
            env: self.env,
            horizon: self.horizon,
            trainee: self.trainee.copy_to_cpu().await?,
            reference: self.trainee.copy_of(&self.reference).await?,
            starts: self.starts.clone(),
            rng: self.rng.clone(),
            total_steps: self.total_steps,
            optimizer_steps: self.optimizer_steps,
            warm_start_env_steps: self.warm_start_env_steps,
            pool: self.pool.clone(),
            last_batch: None,
        })
    }

    fn max_steps_per_update(&self) -> u64 {
        (self.config.num_generations * self.config.groups_per_update * self.horizon) as u64
    }

    /// The seed's GRPO: G trajectories per initial state, stacked and padded to `(T, G)` with a
    /// mask, rewards normalised within each group over valid steps, then clipped-surrogate
    /// steps with a k3 KL penalty to the reference, on the policy alone.
    async fn update(&mut self) -> Result<UpdateMetrics, TrainError> {
        let mut clock = Clock::start();
        let c = self.config.clone();
        // TRL (via transformers) decays the learning rate linearly by default. Updates here
        // consume a varying number of steps, so the decay follows the budget spent.
        let progress = self.trainee.env_steps as f64 / self.total_steps as f64;
        let lr = learner::learning_rate(c.learning_rate, true, progress);

        let trajectories = self.collect_groups().await?;
        let (obs_dim, width) = (self.env.id.observation_dim(), self.trainee.model.action_width());
        let padded = stack_and_pad(&trajectories, obs_dim, width);
        clock.lap();
        let (advantages, stats) = group_advantages(&padded, c.num_generations, c.reward_mode, c.scale_rewards);
        clock.lap();
        let batch = self.upload(&padded, &trajectories, &advantages);
        let (ref_log_probs, host_ref) = self.score_reference(&batch, &padded).await?.unzip();
        let host_ref = host_ref.flatten();
        let host_ref = host_ref.as_deref();
        let host = HostBatch { padded: &padded, advantages: &advantages, mask: &batch.host_mask, ref_log_probs: host_ref };
        let (means, last_pass) = self.optimise(&batch, &host, ref_log_probs, lr).await?;
        clock.lap();

        let returns: Vec<f64> = trajectories.iter().map(Trajectory::episode_return).collect();
        let valid = padded.valid_steps();
        let metrics = UpdateMetrics {
            // Logged only when the penalty is on (TRL does the same).
            kl: (c.beta > 0.0).then_some(means["kl"] as f64),
            clip_ratio_low_mean: Some(means["clip_ratio_low"] as f64),
            clip_ratio_high_mean: Some(means["clip_ratio_high"] as f64),
            clip_ratio_region_mean: Some(means["clip_ratio_region"] as f64),
            warm_start_env_steps: (self.warm_start_env_steps > 0).then_some(self.warm_start_env_steps),
            reward_mean: mean(returns.iter().copied()),
            reward_std: mean(stats.return_std.iter().copied()),
            zero_std_fraction: Some(stats.zero_std_groups as f64 / stats.return_std.len() as f64),
            mean_valid_length: Some(valid as f64 / trajectories.len() as f64),
            ..self.trainee.report(clock, valid as u64, lr, &returns, &means)
        };
        self.last_batch = Some(GrpoBatch { padded, advantages, trajectories, last_pass });
        check_finite(metrics)
    }
}
