//! What both algorithms' runs share: their error type and the interface the CLI and the page
//! drive them through.

use burn::prelude::Device;

use crate::config::RunConfig;
use crate::env::EnvId;
use crate::eval;
use crate::host::DeviceError;
use crate::metrics::UpdateMetrics;
use crate::normalize::ObservationNormalizer;
use crate::policy::StochasticPolicy;

/// Why an update could not complete. A failed run keeps its history; it takes no more updates.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainError {
    /// The device failed to run or read back.
    Device(DeviceError),
    /// A metric became NaN or infinite: the weights can no longer be trusted.
    NonFinite { update: usize, metric: &'static str },
}

impl std::fmt::Display for TrainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrainError::Device(e) => e.fmt(f),
            TrainError::NonFinite { update, metric } => write!(
                f,
                "{metric} became NaN or infinite at update {update}: the run was stopped \
                 (try a smaller learning rate or a tighter max_grad_norm)"
            ),
        }
    }
}

impl std::error::Error for TrainError {}

impl From<DeviceError> for TrainError {
    fn from(e: DeviceError) -> Self {
        TrainError::Device(e)
    }
}

/// Reject metrics with a NaN or infinity.
pub fn check_finite(metrics: UpdateMetrics) -> Result<UpdateMetrics, TrainError> {
    match metrics.first_non_finite() {
        Some(metric) => Err(TrainError::NonFinite { update: metrics.update, metric }),
        None => Ok(metrics),
    }
}

/// One algorithm's run, advanced one update at a time.
#[allow(async_fn_in_trait)]
pub trait Algorithm {
    /// `"ppo"` or `"grpo"`.
    fn name(&self) -> &'static str;
    /// Collect experience and take one update's gradient steps.
    async fn update(&mut self) -> Result<UpdateMetrics, TrainError>;
    fn env_steps(&self) -> u64;
    /// The most environment steps the next update can consume.
    fn max_steps_per_update(&self) -> u64;
    /// Whether another update fits in a budget of `total_steps` environment steps, so that a
    /// run never exceeds its budget (PPO: CleanRL's `total_timesteps // batch_size` updates).
    fn fits(&self, total_steps: u64) -> bool {
        self.env_steps() + self.max_steps_per_update() <= total_steps
    }
    type Policy: StochasticPolicy;
    /// The policy as trained so far.
    fn policy(&self) -> &Self::Policy;
    /// The observation statistics the policy sees its inputs through (`ppo.norm_obs`), to be
    /// applied frozen when it is evaluated.
    fn observation_normalizer(&self) -> Option<&ObservationNormalizer> {
        None
    }
    /// The policy as trained so far on the device rollouts act on (a copy when that is not the
    /// learner's), and that device: what an evaluation plays.
    async fn acting_policy(&self) -> Result<(Self::Policy, Device), DeviceError>;
    /// This run as it stands, learning on the CPU (the device rollouts act on): its weights and
    /// optimiser moments read back, its environments, normalisers, RNG and counters cloned. It
    /// continues exactly as this run would; a run whose GPU is lost carries on from it.
    async fn copy_to_cpu(&self) -> Result<Self, DeviceError>
    where
        Self: Sized;
}

/// A deterministic evaluation ([`eval::evaluate`]) due every `every` updates, and after the
/// last one too when `at_end` (the page's curves; the CLI evaluates its final policy apart):
/// episode `i` starts from `reset(seed + i)` (a text task's held-out prompts).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    pub env: EnvId,
    pub episodes: usize,
    pub every: usize,
    pub at_end: bool,
    pub seed: u64,
}

impl Evaluation {
    /// `episodes` every `every` updates of a run of `run`, from seeds past any it trains on.
    pub fn of(run: &RunConfig, episodes: usize, every: usize) -> Self {
        Self { env: run.env, episodes, every, at_end: false, seed: run.seed + 1_000_000 }
    }

    /// Play the policy of `alg` as it is now; the returns of the episodes.
    pub async fn run<A: Algorithm>(&self, alg: &A) -> Result<Vec<f64>, DeviceError> {
        let (policy, device) = alg.acting_policy().await?;
        eval::evaluate(&policy, self.env, self.episodes, self.seed, alg.observation_normalizer(), &device)
            .await
    }

    /// Whether an evaluation follows `update` (the last of the run when `last`).
    pub fn due(&self, update: usize, last: bool) -> bool {
        self.every > 0 && self.episodes > 0 && (last && self.at_end || update.is_multiple_of(self.every))
    }
}
