//! GRPO without a critic (Shao et al. 2024, DeepSeekMath), with TRL's `GRPOConfig` choices:
//! roll out G trajectories from one initial state, stack and pad them to `(T, G)` with a mask,
//! normalise rewards within the group over valid steps only, then take clipped-surrogate steps
//! with a k3 KL penalty to a reference policy, updating the policy alone.

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use rand::SeedableRng;
use web_time::Instant;

use crate::Rng;
use crate::config::{
    ExperimentConfig, GrpoConfig, ImportanceSamplingLevel, LossType, RewardMode, ScaleRewards,
};
use crate::env::{Env, EnvSpec};
use crate::host::{self, ActingCopy, Reads};
use crate::learner::{self, Optimizer};
use crate::metrics::{UpdateMetrics, mean};
use crate::policy::{Policy, StochasticPolicy};
use crate::ppo::Ppo;
use crate::rollout::{Padded, Trajectory, collect_group, stack_and_pad};
use crate::train::{Algorithm, TrainError, check_finite};

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
    let masked = zero_padding(per_step, &mask);
    match loss_type {
        LossType::Grpo | LossType::Sapo => per_trajectory_mean(masked, &mask).mean(),
        LossType::Bnpo => masked.sum() / mask.sum().clamp_min(1.0),
        LossType::DrGrpo => masked.sum() / (g * horizon) as f64,
        LossType::Dapo | LossType::Cispo => masked.sum() / batch_valid_steps.max(1) as f64,
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
fn clip_ratios(weights: Tensor<2>, advantages: Tensor<2>, mask: Tensor<2>, c: &GrpoConfig) -> [Tensor<1>; 3] {
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
        ImportanceSamplingLevel::Token => masked_mean(x.float(), mask.clone()),
        ImportanceSamplingLevel::Sequence => per_trajectory_mean(x.float(), &mask).mean(),
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
            (masked_mean(kl.clone().inner(), plain_mask.clone()), Some(kl.inner()))
        }
        None => (Tensor::zeros([1], &plain_mask.device()), None),
    };
    let entropy = zero_padding(entropy, &mask);
    let mut loss = aggregate(per_step, mask.clone(), c.loss_type, horizon, batch_valid_steps);
    if c.entropy_coef > 0.0 {
        // TRL's bonus is the mean entropy per valid step whatever the loss type; for the
        // token-count losses its sum is divided by the same batch-wide count.
        let bonus = match c.loss_type {
            LossType::Dapo | LossType::Cispo => entropy.clone().sum() / batch_valid_steps.max(1) as f64,
            _ => entropy.clone().sum() / mask.clone().sum().clamp_min(1.0),
        };
        loss = loss - bonus * c.entropy_coef;
    }
    let ratio = log_ratio.clone().exp().inner();
    GrpoLoss {
        loss,
        entropy: masked_mean(entropy.inner(), plain_mask.clone()),
        approx_kl: masked_mean(learner::approx_kl(log_ratio).inner(), plain_mask.clone()),
        clip_fraction: masked_mean(learner::clipped(ratio, c.epsilon, c.epsilon_high), plain_mask.clone()),
        clip_ratio: clip_ratios(weights.clone().inner(), mb.advantages.inner(), plain_mask, c),
        kl,
        ratio: weights.inner(),
        kl_per_cell,
    }
}

/// The last update's batch, for inspection: the padded tensors, the advantages, and the
/// importance weights and KL the last pass saw (each minibatch's, before its optimiser step).
#[derive(Clone, Debug)]
pub struct GrpoBatch {
    pub padded: Padded,
    pub advantages: Vec<f32>,
    pub ratios: Vec<f32>,
    /// Each cell's k3 KL to the reference in the last pass, 0 in padding (`None` when `beta = 0`).
    pub kl: Option<Vec<f32>>,
    pub trajectories: Vec<Trajectory>,
}

/// A GRPO run: the policy, its frozen reference (kept on the learner's autodiff device, to be
/// scored as the policy is; never differentiated), its optimiser and its RNG.
pub struct Grpo<P: StochasticPolicy> {
    config: GrpoConfig,
    /// The env as this run configures it (its id, and a text task's scoring).
    env: EnvSpec,
    horizon: usize,
    policy: P,
    reference: P,
    acting: ActingCopy<P>,
    optimizer: Optimizer,
    /// Draws the initial state of each group.
    starts: Box<dyn Env>,
    rng: Rng,
    device: Device,
    total_steps: u64,
    updates: usize,
    /// Optimiser steps taken (TRL's `global_step`), which `ref_model_sync_steps` counts.
    optimizer_steps: usize,
    env_steps: u64,
    /// Seconds spent in this algorithm's own updates (not in the other's, nor idle).
    training_s: f64,
    /// `grpo.warm_start_ppo_steps`: the PPO run whose policy GRPO starts from, and its steps;
    /// taken before the first update.
    warm_start: Option<(Box<Ppo<P>>, u64)>,
    /// Environment steps PPO took before GRPO started from its policy (0: from scratch).
    warm_start_env_steps: u64,
    pub last_batch: Option<GrpoBatch>,
}

impl Grpo<Policy> {
    /// A run of `config` learning on `device` (an autodiff device) and acting on
    /// `acting_device`; its policy starts from the same weights as PPO's.
    pub fn new(config: &ExperimentConfig, device: &Device, acting_device: &Device) -> Self {
        let run = &config.run;
        let env = run.env;
        let make = |device: &Device, rng: &mut Rng| Policy::for_run(run, device, rng);
        let mut rng = Rng::seed_from_u64(run.seed);
        let policy = make(device, &mut rng);
        let mut starts = env.make();
        starts.reset(Some(run.seed));
        let cfg = config.grpo.clone();
        let cfg_warm = cfg.warm_start_ppo_steps;
        let horizon = config.grpo_horizon();
        Self {
            total_steps: run.total_steps,
            optimizer: Optimizer::new(ADAM_EPS, cfg.max_grad_norm),
            reference: policy.clone(),
            acting: ActingCopy::new(device, acting_device, |d| make(d, &mut Rng::seed_from_u64(0))),
            policy,
            config: cfg,
            env: run.env_spec(),
            horizon,
            starts,
            rng,
            device: device.clone(),
            updates: 0,
            optimizer_steps: 0,
            env_steps: 0,
            training_s: 0.0,
            warm_start: (cfg_warm > 0).then(|| (Box::new(Ppo::new(config, device, acting_device)), cfg_warm)),
            warm_start_env_steps: 0,
            last_batch: None,
        }
    }
}

impl<P: StochasticPolicy> Grpo<P> {
    /// The reference policy of the KL penalty.
    pub fn reference(&self) -> &P {
        &self.reference
    }

    /// GRPO from a strong baseline: run this experiment's PPO (same config, same seed: the very
    /// run PPO makes beside GRPO) for `warm_start_ppo_steps` environment steps, or the whole
    /// updates that fit in them, then take its policy as GRPO's policy and reference. Those steps
    /// and that time are PPO's: reported apart, outside GRPO's budget and wall time.
    async fn take_warm_start(&mut self) -> Result<(), TrainError> {
        let Some((mut ppo, steps)) = self.warm_start.take() else {
            return Ok(());
        };
        while ppo.fits(steps) {
            ppo.update().await?;
        }
        self.warm_start_env_steps = ppo.env_steps();
        self.policy = ppo.policy().clone();
        self.reference = self.policy.clone();
        Ok(())
    }

    /// TRL's `sync_ref_model`: `ref ← α·π + (1−α)·ref`.
    async fn sync_reference(&mut self) -> Result<(), TrainError> {
        let alpha = self.config.ref_model_mixup_alpha;
        if alpha == 1.0 {
            self.reference = self.policy.clone();
            return Ok(());
        }
        // The frozen weights (a LoRA model's base) are the same in both: only the trainable mix.
        let only = host::trainable(&self.policy);
        let current = host::read_params(&self.policy, only.as_deref()).await?;
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
        self.reference = host::load_params(self.reference.clone(), mixed, &self.device, only.as_deref());
        Ok(())
    }
}

impl<P: StochasticPolicy> Algorithm for Grpo<P> {
    type Policy = P;

    fn name(&self) -> &'static str {
        "grpo"
    }

    fn env_steps(&self) -> u64 {
        self.env_steps
    }

    fn policy(&self) -> &P {
        &self.policy
    }

    async fn acting_policy(&self) -> Result<(P, Device), crate::host::DeviceError> {
        Ok((self.acting.snapshot(&self.policy).await?, self.acting.device().clone()))
    }

    async fn copy_to_cpu(&self) -> Result<Self, crate::host::DeviceError> {
        let (policy, device) = self.acting.learner_copy(&self.policy).await?;
        let warm_start = match &self.warm_start {
            Some((ppo, steps)) => Some((Box::new(ppo.copy_to_cpu().await?), *steps)),
            None => None,
        };
        Ok(Self {
            config: self.config.clone(),
            env: self.env,
            horizon: self.horizon,
            optimizer: self.optimizer.copy_to(&self.policy, &policy, &device).await?,
            reference: self.acting.learner_copy(&self.reference).await?.0,
            policy,
            acting: ActingCopy::same(&device),
            starts: self.starts.clone(),
            rng: self.rng.clone(),
            device,
            total_steps: self.total_steps,
            updates: self.updates,
            optimizer_steps: self.optimizer_steps,
            env_steps: self.env_steps,
            training_s: self.training_s,
            warm_start,
            warm_start_env_steps: self.warm_start_env_steps,
            last_batch: None,
        })
    }

    fn max_steps_per_update(&self) -> u64 {
        (self.config.num_generations * self.config.groups_per_update * self.horizon) as u64
    }

    async fn update(&mut self) -> Result<UpdateMetrics, TrainError> {
        self.take_warm_start().await?;
        let c = self.config.clone();
        let t0 = Instant::now();
        // TRL (via transformers) decays the learning rate linearly by default. Updates here
        // consume a varying number of steps, so the decay follows the budget spent.
        let progress = self.env_steps as f64 / self.total_steps as f64;
        let lr = learner::learning_rate(c.learning_rate, true, progress);

        // G trajectories from each of `groups_per_update` initial states.
        let actor = self.acting.snapshot(&self.policy).await?;
        let acting_device = self.acting.device().clone();
        let mut trajectories = Vec::new();
        for _ in 0..c.groups_per_update {
            self.starts.reset(None);
            let start = self.starts.state();
            let group = collect_group(
                &actor,
                self.env,
                &start,
                c.num_generations,
                self.horizon,
                &mut self.rng,
                &acting_device,
            )
            .await?;
            trajectories.extend(group);
        }
        let (obs_dim, width) = (self.env.id.observation_dim(), self.policy.action_width());
        let padded = stack_and_pad(&trajectories, obs_dim, width);
        let t1 = Instant::now();

        let (advantages, stats) =
            group_advantages(&padded, c.num_generations, c.reward_mode, c.scale_rewards);
        let t2 = Instant::now();

        // Upload the padded batch; score it under the reference policy once.
        let (steps, g) = (padded.steps, padded.width);
        let device = self.device.clone();
        let d = &device;
        let to_3d = |data: Vec<f32>, k: usize| host::matrix(data, steps * g, k, d).reshape([steps, g, k]);
        let obs = to_3d(padded.observations.clone(), obs_dim);
        let actions = to_3d(padded.actions.clone(), width);
        let old_log_probs = host::matrix(padded.log_probs.clone(), steps, g, d);
        let adv = host::matrix(advantages.clone(), steps, g, d);
        // TRL's `mask_truncated_completions`: a truncated trajectory keeps its place in its
        // group's statistics but leaves the loss.
        let mut loss_mask = padded.mask.clone();
        if c.mask_truncated_completions {
            for (j, tr) in trajectories.iter().enumerate().filter(|(_, tr)| tr.truncated) {
                (0..tr.len()).for_each(|t| loss_mask[t * g + j] = 0.0);
            }
        }
        let batch_valid_steps = loss_mask.iter().filter(|&&m| m > 0.0).count();
        let mask = host::matrix(loss_mask, steps, g, d);
        // The reference is scored through the same (autodiff) path as the policy, then detached:
        // while the policy is still the reference, both give the same bits and the KL's gradient
        // is exactly zero. Scored on the plain device, they differed by float rounding, and when
        // no group had a signal Adam scaled that ~1e-8 gradient into full learning-rate steps,
        // the KL growing to tens within the update (tests/lm.rs).
        let ref_log_probs = (c.beta > 0.0)
            .then(|| self.reference.evaluate_padded(obs.clone(), actions.clone()).0.detach().inner());

        let mut step_stats = learner::StepStats::default();
        let mut last_ratio_reads = Vec::new();
        for iteration in 0..c.num_iterations {
            for mb in learner::minibatches(g, c.num_minibatches, &mut self.rng) {
                let idx = host::indices(&mb, d);
                let pick = |x: &Tensor<2>| x.clone().select(1, idx.clone());
                let l = grpo_loss(
                    &self.policy,
                    GrpoMinibatch {
                        observations: obs.clone().select(1, idx.clone()),
                        actions: actions.clone().select(1, idx.clone()),
                        log_probs: pick(&old_log_probs),
                        ref_log_probs: ref_log_probs.as_ref().map(pick),
                        advantages: pick(&adv),
                        mask: pick(&mask),
                    },
                    &c,
                    self.horizon,
                    batch_valid_steps,
                );
                let (policy, grad_norm) = self.optimizer.step(self.policy.clone(), l.loss.clone(), lr);
                self.policy = policy;
                self.optimizer_steps += 1;
                // TRL's SyncRefModelCallback, at the end of every `ref_model_sync_steps`-th
                // optimiser step. This batch's reference log-probs were computed before its
                // first step (as TRL computes them at generation), so a refresh acts from the
                // next generation batch on.
                if c.sync_ref_model && self.optimizer_steps.is_multiple_of(c.ref_model_sync_steps) {
                    self.sync_reference().await?;
                }
                let [low, high, region] = l.clip_ratio;
                step_stats.add([
                    ("loss", l.loss.inner()),
                    ("entropy", l.entropy),
                    ("approx_kl", l.approx_kl),
                    ("clip_fraction", l.clip_fraction),
                    ("clip_ratio_low", low),
                    ("clip_ratio_high", high),
                    ("clip_ratio_region", region),
                    ("grad_norm", grad_norm.inner()),
                    ("kl", l.kl),
                ]);
                if iteration + 1 == c.num_iterations {
                    last_ratio_reads.push((mb, l.ratio, l.kl_per_cell));
                }
            }
        }
        let mut reads = Reads::new();
        reads.push(step_stats.means());
        for (_, ratio, kl) in &last_ratio_reads {
            reads.push(ratio.clone());
            if let Some(kl) = kl {
                reads.push(kl.clone());
            }
        }
        let mut read = reads.execute().await?.into_iter();
        let means = step_stats.named(read.next().expect("stats were queued"));
        // Reassemble the last pass's minibatch columns into (T, G) matrices.
        let mut ratios = vec![0f32; steps * g];
        let mut kl = (c.beta > 0.0).then(|| vec![0f32; steps * g]);
        let place = |into: &mut [f32], mb: &[usize], values: Vec<f32>| {
            for (col, &j) in mb.iter().enumerate() {
                for t in 0..steps {
                    into[t * g + j] = values[t * mb.len() + col];
                }
            }
        };
        for (mb, _, kl_read) in &last_ratio_reads {
            place(&mut ratios, mb, read.next().expect("ratios were queued"));
            if let (Some(kl), Some(_)) = (kl.as_mut(), kl_read) {
                place(kl, mb, read.next().expect("KL was queued"));
            }
        }
        let t3 = Instant::now();

        self.updates += 1;
        let valid = padded.valid_steps();
        self.env_steps += valid as u64;
        self.training_s += (t3 - t0).as_secs_f64();
        let wall_s = self.training_s;
        let returns: Vec<f64> = trajectories.iter().map(Trajectory::episode_return).collect();
        let groups = stats.return_std.len();
        let metrics = UpdateMetrics {
            update: self.updates,
            env_steps: self.env_steps,
            wall_s,
            mean_return: mean(returns.iter().copied()),
            episodes: trajectories.len(),
            learning_rate: lr,
            policy_loss: means["loss"] as f64,
            entropy: means["entropy"] as f64,
            approx_kl: means["approx_kl"] as f64,
            clip_fraction: means["clip_fraction"] as f64,
            grad_norm: means["grad_norm"] as f64,
            // Logged only when the penalty is on (TRL does the same).
            kl: (c.beta > 0.0).then_some(means["kl"] as f64),
            clip_ratio_low_mean: Some(means["clip_ratio_low"] as f64),
            clip_ratio_high_mean: Some(means["clip_ratio_high"] as f64),
            clip_ratio_region_mean: Some(means["clip_ratio_region"] as f64),
            warm_start_env_steps: (self.warm_start_env_steps > 0).then_some(self.warm_start_env_steps),
            reward_mean: mean(returns.iter().copied()),
            reward_std: mean(stats.return_std.iter().copied()),
            zero_std_fraction: Some(stats.zero_std_groups as f64 / groups as f64),
            mean_valid_length: Some(valid as f64 / trajectories.len() as f64),
            sps: self.env_steps as f64 / wall_s,
            rollout_s: (t1 - t0).as_secs_f64(),
            advantage_s: (t2 - t1).as_secs_f64(),
            update_s: (t3 - t2).as_secs_f64(),
            ..UpdateMetrics::default()
        };
        self.last_batch = Some(GrpoBatch { padded, advantages, ratios, kl, trajectories });
        check_finite(metrics)
    }
}
