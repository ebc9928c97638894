//! What one update reports, under stable names (CleanRL's and TRL's where they have one).

use serde::{Deserialize, Serialize};

/// One update's metrics: the common part, then each algorithm's own (absent for the other).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateMetrics {
    /// 1-based update counter.
    pub update: usize,
    /// Environment steps consumed so far.
    pub env_steps: u64,
    /// This algorithm's own training time so far: the sum of its updates' durations (rollout,
    /// advantages, gradient steps), not the other algorithm's updates nor idle time between two
    /// steps on the page; evaluation excluded.
    pub wall_s: f64,
    /// Mean undiscounted return of the episodes that ended during this update's rollout
    /// (`None` when none ended).
    pub mean_return: Option<f64>,
    /// Episodes that ended during this update's rollout.
    pub episodes: usize,
    pub learning_rate: f64,
    /// Clipped-surrogate loss (PPO: mean over minibatches; GRPO: including the KL term).
    pub policy_loss: f64,
    pub entropy: f64,
    /// Mean of `(r - 1) - log r` (k3 estimate of KL(old ‖ new)).
    pub approx_kl: f64,
    /// Fraction of ratios outside the clipping range.
    pub clip_fraction: f64,
    /// Global gradient norm before clipping, mean over optimiser steps.
    pub grad_norm: f64,
    /// Environment steps per second of this algorithm's own training time (CleanRL's `charts/SPS`).
    pub sps: f64,
    /// Seconds of this update spent collecting experience.
    pub rollout_s: f64,
    /// Seconds spent computing advantages (GAE or group normalisation).
    pub advantage_s: f64,
    /// Seconds spent in the gradient steps, including reading the metrics back.
    pub update_s: f64,

    // PPO
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explained_variance: Option<f64>,

    // GRPO
    /// Mean k3 KL to the reference policy over valid steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kl: Option<f64>,
    /// Mean trajectory return in the generation batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward_mean: Option<f64>,
    /// Std of returns within a group, averaged over groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward_std: Option<f64>,
    /// Fraction of groups whose rewards were all equal (zero advantage, no signal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zero_std_fraction: Option<f64>,
    /// Mean trajectory length (valid steps per trajectory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_valid_length: Option<f64>,
    /// TRL's `clip_ratio/low_mean`: valid steps clipped below (`r < 1 − ε`) with `A < 0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_ratio_low_mean: Option<f64>,
    /// TRL's `clip_ratio/high_mean`: valid steps clipped above (`r > 1 + ε_high`) with `A > 0`
    /// (with cispo: `r > ε_high`, TRL's `cispo_clip_ratio`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_ratio_high_mean: Option<f64>,
    /// TRL's `clip_ratio/region_mean`: either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_ratio_region_mean: Option<f64>,
    /// Environment steps of PPO that GRPO's policy started from (`grpo.warm_start_ppo_steps`),
    /// not counted in `env_steps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_start_env_steps: Option<u64>,

    /// Mean return of a deterministic evaluation of the policy after this update (for a text
    /// task: exact-match accuracy, greedy, on held-out prompts), where one was due; its time is
    /// not in `wall_s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_mean_return: Option<f64>,
    /// Seconds spent after this update copying the run to the CPU (its trainable weights and
    /// optimiser moments read back, its environments and RNG cloned), to carry on from if its
    /// GPU is lost: runs on WebGPU only. Not in `wall_s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_copy_s: Option<f64>,
}

impl UpdateMetrics {
    /// The metrics with every timing zeroed: what must be bit-identical across two runs of the
    /// same seed on the same backend.
    pub fn without_timings(&self) -> Self {
        Self {
            wall_s: 0.0,
            sps: 0.0,
            rollout_s: 0.0,
            advantage_s: 0.0,
            update_s: 0.0,
            cpu_copy_s: None,
            ..self.clone()
        }
    }

    /// The first metric that is NaN or infinite, by name.
    pub fn first_non_finite(&self) -> Option<&'static str> {
        let values = [
            ("policy_loss", Some(self.policy_loss)),
            ("entropy", Some(self.entropy)),
            ("approx_kl", Some(self.approx_kl)),
            ("grad_norm", Some(self.grad_norm)),
            ("value_loss", self.value_loss),
            ("kl", self.kl),
            ("mean_return", self.mean_return),
        ];
        values.into_iter().find(|(_, v)| v.is_some_and(|v| !v.is_finite())).map(|(name, _)| name)
    }
}

/// Mean of a slice, `None` when empty.
pub fn mean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.into_iter().fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}
