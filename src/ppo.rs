//! PPO with a learned critic, after CleanRL's `ppo.py` (Huang et al., "The 37 Implementation
//! Details of PPO"): roll out `(T, N)`, bootstrap, GAE, then epochs of minibatch steps on the
//! clipped surrogate + clipped value loss − entropy bonus, updating policy and critic together.

use burn::prelude::*;

use crate::Rng;
use crate::config::{ExperimentConfig, PpoConfig, Scope};
use crate::host::{self, DeviceError, Reads};
use crate::learner::{self, Means};
use crate::metrics::UpdateMetrics;
use crate::normalize::ObservationNormalizer;
use crate::policy::{Policy, StochasticPolicy};
use crate::rollout::{Rollout, VecEnv, collect_rollout};
use crate::train::{Algorithm, TrainError, check_finite};
use crate::trainee::{Clock, Trainee};
use crate::value::ActorCritic;

/// Adam's ε: CleanRL's 1e-5 (PyTorch's default is 1e-8).
pub const ADAM_EPS: f64 = 1e-5;

/// GAE(γ, λ) over a `(T, N)` rollout (Schulman et al. 2016), returning `(advantages, returns)`.
///
/// An episode that terminated contributes no value after its last step; one that was truncated
/// by the time limit bootstraps from the value of its final observation
/// (`truncation_values`). The trace of advantages is cut at both.
pub fn compute_gae(r: &Rollout, gamma: f64, lambda: f64) -> (Vec<f32>, Vec<f32>) {
    let n = r.num_envs;
    let mut advantages = vec![0f32; r.num_steps * n];
    let mut returns = vec![0f32; r.num_steps * n];
    for env in 0..n {
        let mut last = 0f64;
        for t in (0..r.num_steps).rev() {
            let i = t * n + env;
            let (next_value, cut) = if r.terminated[i] {
                (0.0, true)
            } else if r.truncated[i] {
                (r.truncation_values[i] as f64, true)
            } else if t + 1 == r.num_steps {
                (r.next_values[env] as f64, false)
            } else {
                (r.values[i + n] as f64, false)
            };
            let delta = r.rewards[i] as f64 + gamma * next_value - r.values[i] as f64;
            last = delta + if cut { 0.0 } else { gamma * lambda * last };
            advantages[i] = last as f32;
            returns[i] = (last + r.values[i] as f64) as f32;
        }
    }
    (advantages, returns)
}

/// `1 - Var(y - ŷ) / Var(y)` (CleanRL's `explained_var`; NaN-free: `None` when `Var(y) = 0`).
pub fn explained_variance(predicted: &[f32], target: &[f32]) -> Option<f64> {
    let var = |xs: &mut dyn Iterator<Item = f64>| {
        let v: Vec<f64> = xs.collect();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64
    };
    let var_y = var(&mut target.iter().map(|&y| y as f64));
    let var_res = var(&mut target.iter().zip(predicted).map(|(&y, &p)| y as f64 - p as f64));
    (var_y > 0.0).then(|| 1.0 - var_res / var_y)
}

/// One minibatch of a PPO update, on the learner's device.
pub struct PpoMinibatch {
    pub observations: Tensor<2>,
    pub actions: Tensor<2>,
    /// Log-probabilities under the policy that collected the rollout.
    pub log_probs: Tensor<1>,
    pub advantages: Tensor<1>,
    pub returns: Tensor<1>,
    /// Values predicted during the rollout (for value clipping).
    pub values: Tensor<1>,
}

/// PPO's loss on a minibatch, with the diagnostics CleanRL logs (scalars, detached).
pub struct PpoLoss {
    /// `policy_loss − ent_coef·entropy + vf_coef·value_loss`, differentiable.
    pub loss: Tensor<1>,
    pub policy_loss: Tensor<1>,
    pub value_loss: Tensor<1>,
    pub entropy: Tensor<1>,
    pub approx_kl: Tensor<1>,
    pub clip_fraction: Tensor<1>,
}

/// Clipped surrogate + clipped value loss − entropy bonus (CleanRL's `ppo.py`), with
/// per-minibatch advantage normalisation.
pub fn ppo_loss<P: StochasticPolicy>(agent: &ActorCritic<P>, mb: PpoMinibatch, c: &PpoConfig) -> PpoLoss {
    let (new_log_probs, entropy, new_values) = agent.evaluate(mb.observations, mb.actions);
    let log_ratio = new_log_probs - mb.log_probs;

    let mut advantages = mb.advantages;
    if c.norm_adv && advantages.dims()[0] > 1 {
        let std = advantages.clone().var(0).sqrt();
        advantages = (advantages.clone() - advantages.mean()) / (std + 1e-8);
    }
    let (surrogate, ratio) =
        learner::clipped_surrogate(log_ratio.clone(), advantages, c.clip_coef, c.clip_coef, None);
    let policy_loss = surrogate.mean();

    let unclipped = (new_values.clone() - mb.returns.clone()).powi_scalar(2);
    let value_loss = if c.clip_vloss {
        let clipped = mb.values.clone() + (new_values - mb.values).clamp(-c.clip_coef, c.clip_coef);
        unclipped.max_pair((clipped - mb.returns).powi_scalar(2)).mean() * 0.5
    } else {
        unclipped.mean() * 0.5
    };
    let entropy = entropy.mean();
    let loss = policy_loss.clone() - entropy.clone() * c.ent_coef + value_loss.clone() * c.vf_coef;
    PpoLoss {
        loss,
        policy_loss: policy_loss.inner(),
        value_loss: value_loss.inner(),
        entropy: entropy.inner(),
        approx_kl: learner::approx_kl(log_ratio).mean().inner(),
        clip_fraction: learner::clipped(ratio, c.clip_coef, c.clip_coef).mean().inner(),
    }
}

/// A PPO run: the agent in training, its environments and its RNG.
pub struct Ppo<P: StochasticPolicy> {
    config: PpoConfig,
    trainee: Trainee<ActorCritic<P>>,
    envs: VecEnv,
    rng: Rng,
    num_updates: usize,
    /// The last update's rollout and advantages, for inspection.
    pub last_batch: Option<(Rollout, Vec<f32>)>,
}

impl Ppo<Policy> {
    /// A run of `config` learning on `device` (an autodiff device) and acting on
    /// `acting_device`. The policy is drawn first from the seed, as GRPO's is, so both start
    /// from identical weights; then the critic the policy asks for.
    pub fn new(config: &ExperimentConfig, device: &Device, acting_device: &Device) -> Self {
        let (run, c) = (&config.run, config.ppo.clone());
        let make = |device: &Device, rng: &mut Rng| {
            let actor = Policy::for_run(run, device, rng);
            ActorCritic::new(actor, run.env.observation_dim(), run.width, run.depth, device, rng)
        };
        let (trainee, rng) = Trainee::new(make, run.seed, ADAM_EPS, c.max_grad_norm, device, acting_device);
        let envs = VecEnv::new(run.env_spec(), c.num_envs, run.seed);
        // A key of control tasks: a text task's observations are token ids.
        let norm_obs = c.norm_obs && Scope::Control.includes(run.env);
        let envs = if norm_obs { envs.with_observation_normalization() } else { envs };
        let envs = if c.norm_reward { envs.with_reward_scaling(c.gamma) } else { envs };
        let batch = (c.num_envs * c.num_steps) as u64;
        Self {
            num_updates: (run.total_steps / batch).max(1) as usize,
            config: c,
            trainee,
            envs,
            rng,
            last_batch: None,
        }
    }
}

impl<P: StochasticPolicy> Ppo<P> {
    /// `num_steps` steps in each of the `N` environments with the current policy, its values
    /// and the bootstrap values recorded: a `(T, N)` rollout.
    async fn collect(&mut self) -> Result<Rollout, DeviceError> {
        let (agent, device) = self.trainee.acting().await?;
        collect_rollout(&agent, &mut self.envs, self.config.num_steps, &mut self.rng, &device).await
    }

    /// `update_epochs` passes of minibatch steps on the clipped surrogate, the value loss and
    /// the entropy bonus over the flattened batch (stopping early past `target_kl`); the steps'
    /// mean statistics.
    async fn optimise(&mut self, r: &Rollout, advantages: &[f32], returns: &[f32], lr: f64) -> Result<Means, TrainError> {
        let c = &self.config;
        let b = r.num_steps * r.num_envs;
        let d = &self.trainee.device().clone();
        let obs = host::matrix(r.observations.clone(), b, r.obs_dim, d);
        let actions = host::matrix(r.actions.clone(), b, r.action_width, d);
        let old_log_probs = host::vector(r.log_probs.clone(), d);
        let b_advantages = host::vector(advantages.to_vec(), d);
        let b_returns = host::vector(returns.to_vec(), d);
        let b_values = host::vector(r.values.clone(), d);

        let mut stats = learner::StepStats::default();
        'epochs: for _ in 0..c.update_epochs {
            let mut last_kl = None;
            for mb in learner::minibatches(b, c.num_minibatches, &mut self.rng) {
                let idx = host::indices(&mb, d);
                let take = |x: &Tensor<1>| x.clone().select(0, idx.clone());
                let minibatch = PpoMinibatch {
                    observations: obs.clone().select(0, idx.clone()),
                    actions: actions.clone().select(0, idx.clone()),
                    log_probs: take(&old_log_probs),
                    advantages: take(&b_advantages),
                    returns: take(&b_returns),
                    values: take(&b_values),
                };
                let l = ppo_loss(&self.trainee.model, minibatch, c);
                let grad_norm = self.trainee.step(l.loss, lr);
                last_kl = Some(l.approx_kl.clone());
                stats.add([
                    ("policy_loss", l.policy_loss),
                    ("value_loss", l.value_loss),
                    ("entropy", l.entropy),
                    ("approx_kl", l.approx_kl),
                    ("clip_fraction", l.clip_fraction),
                    ("grad_norm", grad_norm.inner()),
                ]);
            }
            if c.target_kl > 0.0 {
                let kl = host::read(last_kl.expect("at least one minibatch")).await?[0];
                if kl as f64 > c.target_kl {
                    break 'epochs;
                }
            }
        }
        let mut reads = Reads::new();
        reads.push(stats.means());
        Ok(stats.named(reads.execute().await?.remove(0)))
    }
}

impl<P: StochasticPolicy> Algorithm for Ppo<P> {
    type Policy = P;

    fn name(&self) -> &'static str {
        "ppo"
    }

    fn env_steps(&self) -> u64 {
        self.trainee.env_steps
    }

    fn policy(&self) -> &P {
        &self.trainee.model.actor
    }

    async fn acting_policy(&self) -> Result<(P, Device), DeviceError> {
        let (agent, device) = self.trainee.acting().await?;
        Ok((agent.actor, device))
    }

    fn observation_normalizer(&self) -> Option<&ObservationNormalizer> {
        self.envs.observation_normalizer()
    }

    async fn copy_to_cpu(&self) -> Result<Self, DeviceError> {
        Ok(Self {
            config: self.config.clone(),
            trainee: self.trainee.copy_to_cpu().await?,
            envs: self.envs.clone(),
            rng: self.rng.clone(),
            num_updates: self.num_updates,
            last_batch: None,
        })
    }

    fn max_steps_per_update(&self) -> u64 {
        (self.config.num_envs * self.config.num_steps) as u64
    }

    /// CleanRL's loop: roll out, bootstrap and GAE, then optimise policy and critic together.
    async fn update(&mut self) -> Result<UpdateMetrics, TrainError> {
        let mut clock = Clock::start();
        let c = &self.config;
        let (gamma, lambda) = (c.gamma, c.gae_lambda);
        let progress = self.trainee.updates as f64 / self.num_updates as f64;
        let lr = learner::learning_rate(c.learning_rate, c.anneal_lr, progress);

        let rollout = self.collect().await?;
        clock.lap();
        let (advantages, returns) = compute_gae(&rollout, gamma, lambda);
        clock.lap();
        let means = self.optimise(&rollout, &advantages, &returns, lr).await?;
        clock.lap();

        let episode_returns: Vec<f64> = rollout.episodes.iter().map(|e| e.episode_return).collect();
        let steps = self.max_steps_per_update();
        let metrics = UpdateMetrics {
            value_loss: Some(means["value_loss"] as f64),
            explained_variance: explained_variance(&rollout.values, &returns),
            ..self.trainee.report(clock, steps, lr, &episode_returns, &means)
        };
        self.last_batch = Some((rollout, advantages));
        check_finite(metrics)
    }
}
