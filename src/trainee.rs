//! What a run of either algorithm holds alike, so that each algorithm's file holds only what
//! differs (its experience, advantages and loss): the model it trains (PPO's actor-critic,
//! GRPO's policy), its optimiser, the copy its rollouts act with, the learner's device, and its
//! counters and clock.

use burn::module::Module;
use burn::prelude::*;
use rand::SeedableRng;
use web_time::Instant;

use crate::Rng;
use crate::host::{ActingCopy, DeviceError};
use crate::learner::{Means, Optimizer};
use crate::metrics::{UpdateMetrics, mean};

/// A model in training.
pub struct Trainee<M> {
    /// What the optimiser steps.
    pub model: M,
    optimizer: Optimizer,
    acting: ActingCopy<M>,
    device: Device,
    /// Updates taken.
    pub updates: usize,
    /// Environment steps consumed by those updates.
    pub env_steps: u64,
    /// Seconds spent in this run's own updates (not in another run's, nor idle).
    pub training_s: f64,
}

impl<M: Module> Trainee<M> {
    /// A model drawn by `make` from a generator seeded with `seed`, learning on `device` (an
    /// autodiff device) with Adam (`adam_eps`, global gradient-norm clipping at
    /// `max_grad_norm`) and acting on `acting_device`; and that generator, to go on with.
    ///
    /// The model is the first thing drawn, so that PPO and GRPO, whose models begin with the
    /// same policy, start from identical policy weights. The acting copy's template is drawn
    /// from a generator of its own: its trainable weights are overwritten at every snapshot.
    pub fn new(
        make: impl Fn(&Device, &mut Rng) -> M,
        seed: u64,
        adam_eps: f64,
        max_grad_norm: f64,
        device: &Device,
        acting_device: &Device,
    ) -> (Self, Rng) {
        let mut rng = Rng::seed_from_u64(seed);
        let model = make(device, &mut rng);
        let trainee = Self {
            model,
            optimizer: Optimizer::new(adam_eps, max_grad_norm),
            acting: ActingCopy::new(device, acting_device, |d| make(d, &mut Rng::seed_from_u64(0))),
            device: device.clone(),
            updates: 0,
            env_steps: 0,
            training_s: 0.0,
        };
        (trainee, rng)
    }

    /// The learner's (autodiff) device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The model as trained so far, on the device rollouts act on, and that device.
    pub async fn acting(&self) -> Result<(M, Device), DeviceError> {
        Ok((self.acting.snapshot(&self.model).await?, self.acting.device().clone()))
    }

    /// One optimiser step on `loss` at learning rate `lr`; the gradient's global norm before
    /// clipping.
    pub fn step(&mut self, loss: Tensor<1>, lr: f64) -> Tensor<1> {
        let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &self.model);
        self.step_with(grads, lr)
    }

    /// One optimiser step with `grads` (computed apart: see [`crate::shards`]); the gradient's
    /// global norm before clipping.
    pub fn step_with(&mut self, grads: burn::optim::GradientsParams, lr: f64) -> Tensor<1> {
        let (model, grad_norm) = self.optimizer.apply(self.model.clone(), grads, lr);
        self.model = model;
        grad_norm
    }

    /// A copy of `module` (a model of this trainee's architecture, as GRPO's reference) on the
    /// device rollouts act on, learning there.
    pub async fn copy_of(&self, module: &M) -> Result<M, DeviceError> {
        Ok(self.acting.learner_copy(module).await?.0)
    }

    /// This trainee learning on the CPU (the device rollouts act on): its weights and Adam's
    /// moments read back, its counters and clock as they are.
    pub async fn copy_to_cpu(&self) -> Result<Self, DeviceError> {
        let (model, device) = self.acting.learner_copy(&self.model).await?;
        Ok(Self {
            optimizer: self.optimizer.copy_to(&self.model, &model, &device).await?,
            model,
            acting: ActingCopy::same(&device),
            device,
            updates: self.updates,
            env_steps: self.env_steps,
            training_s: self.training_s,
        })
    }

    /// Count an update that consumed `env_steps` environment steps and whose phases `clock`
    /// timed, and fill the metrics both algorithms report alike: the episodes' (or
    /// trajectories') `returns`, the learning rate, and the per-step means of the optimiser's
    /// steps (`policy_loss`, `entropy`, `approx_kl`, `clip_fraction`, `grad_norm`).
    pub fn report(
        &mut self,
        clock: Clock,
        env_steps: u64,
        lr: f64,
        returns: &[f64],
        means: &Means,
    ) -> UpdateMetrics {
        let [rollout_s, advantage_s, update_s] = clock.phases();
        self.updates += 1;
        self.env_steps += env_steps;
        self.training_s += rollout_s + advantage_s + update_s;
        UpdateMetrics {
            update: self.updates,
            env_steps: self.env_steps,
            wall_s: self.training_s,
            mean_return: mean(returns.iter().copied()),
            episodes: returns.len(),
            learning_rate: lr,
            policy_loss: means["policy_loss"] as f64,
            entropy: means["entropy"] as f64,
            approx_kl: means["approx_kl"] as f64,
            clip_fraction: means["clip_fraction"] as f64,
            grad_norm: means["grad_norm"] as f64,
            sps: self.env_steps as f64 / self.training_s,
            rollout_s,
            advantage_s,
            update_s,
            ..UpdateMetrics::default()
        }
    }
}

/// The three phases of an update, timed: collecting experience, computing advantages,
/// optimising (`lap` at the end of each).
pub struct Clock {
    start: Instant,
    laps: Vec<Instant>,
}

impl Clock {
    pub fn start() -> Self {
        Self { start: Instant::now(), laps: Vec::with_capacity(3) }
    }

    /// The current phase ends now.
    pub fn lap(&mut self) {
        self.laps.push(Instant::now());
    }

    /// Seconds of each phase.
    fn phases(&self) -> [f64; 3] {
        let [collected, advantaged, optimised] = self.laps[..] else { panic!("an update has three phases") };
        [
            (collected - self.start).as_secs_f64(),
            (advantaged - collected).as_secs_f64(),
            (optimised - advantaged).as_secs_f64(),
        ]
    }
}
