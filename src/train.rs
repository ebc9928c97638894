//! What both algorithms' runs share: their error type and the interface the CLI and the page
//! drive them through.

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
}
