//! PPO with a learned critic, after CleanRL's `ppo.py` (Huang et al., "The 37 Implementation
//! Details of PPO"): roll out `(T, N)`, bootstrap, GAE, then epochs of minibatch steps on the
//! clipped surrogate + clipped value loss − entropy bonus, updating policy and critic together.

use burn::module::Module;
use burn::prelude::*;
use rand::SeedableRng;
use web_time::Instant;

use crate::Rng;
use crate::config::{ExperimentConfig, PpoConfig, RunConfig};
use crate::host::{self, ActingCopy, Reads};
use crate::learner::{self, Optimizer};
use crate::metrics::{UpdateMetrics, mean};
use crate::normalize::ObservationNormalizer;
use crate::policy::{Policy, StochasticPolicy};
use crate::rollout::{Rollout, VecEnv, collect_rollout};
use crate::train::{Algorithm, TrainError, check_finite};
use crate::value::Critic;

/// Adam's ε: CleanRL's 1e-5 (PyTorch's default is 1e-8).
pub const ADAM_EPS: f64 = 1e-5;

/// CleanRL's `Agent`: the policy and its critic, optimised together by one Adam. The critic
/// reads the policy's features: the observation for an MLP policy (a critic network of its
/// own), the last hidden state for the language model (a value head on its trunk).
#[derive(Module, Debug)]
pub struct ActorCritic<P> {
    pub actor: P,
    pub critic: Critic,
}

impl<P: StochasticPolicy> ActorCritic<P> {
    /// The distribution's parameters and `V(s)` for a batch of observations, the features
    /// computed once.
    pub fn act(&self, observations: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let features = self.actor.features(observations);
        (self.actor.head(features.clone()), self.critic.forward(features))
    }

    /// `V(s)` for a batch of observations.
    pub fn value(&self, observations: Tensor<2>) -> Tensor<1> {
        self.critic.forward(self.actor.features(observations))
    }

    /// Log-probabilities and entropies of `actions`, and `V(s)`, the features computed once.
    pub fn evaluate(&self, observations: Tensor<2>, actions: Tensor<2>) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
        let features = self.actor.features(observations);
        let (log_probs, entropy) = self.actor.evaluate_features(features.clone(), actions);
        (log_probs, entropy, self.critic.forward(features))
    }
}

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

/// A PPO run: the agent, its optimiser, its environments and its RNG.
pub struct Ppo<P: StochasticPolicy> {
    config: PpoConfig,
    agent: ActorCritic<P>,
    acting: ActingCopy<ActorCritic<P>>,
    optimizer: Optimizer,
    envs: VecEnv,
    rng: Rng,
    device: Device,
    num_updates: usize,
    updates: usize,
    env_steps: u64,
    /// Seconds spent in this algorithm's own updates (not in the other's, nor idle).
    training_s: f64,
    /// The last update's rollout and advantages, for inspection.
    pub last_batch: Option<(Rollout, Vec<f32>)>,
}

impl Ppo<Policy> {
    /// A run of `config` learning on `device` (an autodiff device) and acting on
    /// `acting_device`. The policy is initialised first from the seed, as GRPO's is, so both
    /// start from identical weights.
    pub fn new(config: &ExperimentConfig, device: &Device, acting_device: &Device) -> Self {
        let run = &config.run;
        let env = run.env;
        let make = |device: &Device, rng: &mut Rng| {
            let actor = Policy::for_run(run, device, rng);
            // A language model's critic is a linear value head on its hidden state.
            let depth = if env.task().is_some() { 0 } else { run.depth };
            let critic = Critic::new(actor.feature_dim(env.observation_dim()), run.width, depth, device, rng);
            ActorCritic { actor, critic }
        };
        let mut rng = Rng::seed_from_u64(run.seed);
        let agent = make(device, &mut rng);
        let acting = ActingCopy::new(device, acting_device, |d| make(d, &mut Rng::seed_from_u64(0)));
        let cfg = config.ppo.clone();
        let batch = (cfg.num_envs * cfg.num_steps) as u64;
        Self {
            num_updates: (run.total_steps / batch).max(1) as usize,
            optimizer: Optimizer::new(ADAM_EPS, cfg.max_grad_norm),
            envs: {
                let envs = VecEnv::new(run.env_spec(), cfg.num_envs, run.seed);
                // Not for a text task: its observations are token ids (`RunConfig::CONTROL_KEYS`).
                let norm_obs = cfg.norm_obs && RunConfig::applies("ppo.norm_obs", run.env);
                let envs = if norm_obs { envs.with_observation_normalization() } else { envs };
                if cfg.norm_reward { envs.with_reward_scaling(cfg.gamma) } else { envs }
            },
            config: cfg,
            agent,
            acting,
            rng,
            device: device.clone(),
            updates: 0,
            env_steps: 0,
            training_s: 0.0,
            last_batch: None,
        }
    }
}

impl<P: StochasticPolicy> Algorithm for Ppo<P> {
    type Policy = P;

    fn name(&self) -> &'static str {
        "ppo"
    }

    fn env_steps(&self) -> u64 {
        self.env_steps
    }

    fn policy(&self) -> &P {
        &self.agent.actor
    }

    async fn acting_policy(&self) -> Result<(P, Device), crate::host::DeviceError> {
        Ok((self.acting.snapshot(&self.agent).await?.actor, self.acting.device().clone()))
    }

    fn observation_normalizer(&self) -> Option<&ObservationNormalizer> {
        self.envs.observation_normalizer()
    }

    async fn copy_to_cpu(&self) -> Result<Self, crate::host::DeviceError> {
        let (agent, device) = self.acting.learner_copy(&self.agent).await?;
        Ok(Self {
            config: self.config.clone(),
            optimizer: self.optimizer.copy_to(&self.agent, &agent, &device).await?,
            agent,
            acting: ActingCopy::same(&device),
            envs: self.envs.clone(),
            rng: self.rng.clone(),
            device,
            num_updates: self.num_updates,
            updates: self.updates,
            env_steps: self.env_steps,
            training_s: self.training_s,
            last_batch: None,
        })
    }

    fn max_steps_per_update(&self) -> u64 {
        (self.config.num_envs * self.config.num_steps) as u64
    }

    async fn update(&mut self) -> Result<UpdateMetrics, TrainError> {
        let c = &self.config;
        let t0 = Instant::now();
        let progress = self.updates as f64 / self.num_updates as f64;
        let lr = learner::learning_rate(c.learning_rate, c.anneal_lr, progress);

        // Rollout with the current policy.
        let actor = self.acting.snapshot(&self.agent).await?;
        let acting_device = self.acting.device().clone();
        let rollout =
            collect_rollout(&actor, &mut self.envs, c.num_steps, &mut self.rng, &acting_device).await?;
        let t1 = Instant::now();

        // Bootstrap and GAE.
        let (advantages, returns) = compute_gae(&rollout, c.gamma, c.gae_lambda);
        let t2 = Instant::now();

        // Flatten the batch.
        let b = c.num_envs * c.num_steps;
        let d = &self.device;
        let obs = host::matrix(rollout.observations.clone(), b, rollout.obs_dim, d);
        let actions = host::matrix(rollout.actions.clone(), b, rollout.action_width, d);
        let old_log_probs = host::vector(rollout.log_probs.clone(), d);
        let b_advantages = host::vector(advantages.clone(), d);
        let b_returns = host::vector(returns.clone(), d);
        let b_values = host::vector(rollout.values.clone(), d);

        // Optimise the policy and the value network.
        let mut stats = learner::StepStats::default();
        'epochs: for _ in 0..c.update_epochs {
            let mut last_kl = None;
            for mb in learner::minibatches(b, c.num_minibatches, &mut self.rng) {
                let idx = host::indices(&mb, d);
                let take = |x: &Tensor<1>| x.clone().select(0, idx.clone());
                let l = ppo_loss(
                    &self.agent,
                    PpoMinibatch {
                        observations: obs.clone().select(0, idx.clone()),
                        actions: actions.clone().select(0, idx.clone()),
                        log_probs: take(&old_log_probs),
                        advantages: take(&b_advantages),
                        returns: take(&b_returns),
                        values: take(&b_values),
                    },
                    c,
                );
                let (agent, grad_norm) = self.optimizer.step(self.agent.clone(), l.loss, lr);
                self.agent = agent;
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
        let means = stats.named(reads.execute().await?.remove(0));
        let t3 = Instant::now();

        self.updates += 1;
        self.env_steps += b as u64;
        self.training_s += (t3 - t0).as_secs_f64();
        let wall_s = self.training_s;
        let episodes = &rollout.episodes;
        let metrics = UpdateMetrics {
            update: self.updates,
            env_steps: self.env_steps,
            wall_s,
            mean_return: mean(episodes.iter().map(|e| e.episode_return)),
            episodes: episodes.len(),
            learning_rate: lr,
            policy_loss: means["policy_loss"] as f64,
            value_loss: Some(means["value_loss"] as f64),
            entropy: means["entropy"] as f64,
            approx_kl: means["approx_kl"] as f64,
            clip_fraction: means["clip_fraction"] as f64,
            grad_norm: means["grad_norm"] as f64,
            explained_variance: explained_variance(&rollout.values, &returns),
            sps: self.env_steps as f64 / wall_s,
            rollout_s: (t1 - t0).as_secs_f64(),
            advantage_s: (t2 - t1).as_secs_f64(),
            update_s: (t3 - t2).as_secs_f64(),
            ..UpdateMetrics::default()
        };
        self.last_batch = Some((rollout, advantages));
        check_finite(metrics)
    }
}
