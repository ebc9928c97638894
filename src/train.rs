//! What both algorithms' runs share: their error type and the interface the CLI and the page
//! drive them through.

use burn::prelude::Device;

use crate::config::RunConfig;
use crate::env::EnvId;
use rand::{RngCore, SeedableRng};

use crate::env::text::Task;
use crate::eval::{self, Start};
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
/// last one too when `at_end` (the page's curves; the CLI evaluates its final policy apart).
/// Its episodes start where [`Evaluation::starts`] says; none of it draws from the run's RNG,
/// so evaluating more or less often changes no training result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    pub env: EnvId,
    pub episodes: usize,
    pub every: usize,
    pub at_end: bool,
    /// The seed of the run evaluated.
    pub run_seed: u64,
}

/// The stream of a run's generator that evaluation starts come from: a ChaCha stream of its own,
/// so no run's training resets (seeds `seed + i`) or other run's evaluations share them.
const EVAL_STREAM: u64 = 0xE7A1;
/// Evaluation seeds are drawn at or above this, far from any training reset's `seed + i`.
const EVAL_SEEDS_FROM: u64 = 1 << 54;

impl Evaluation {
    /// `episodes` every `every` updates of a run of `run`.
    pub fn of(run: &RunConfig, episodes: usize, every: usize) -> Self {
        Self { env: run.env, episodes, every, at_end: false, run_seed: run.seed }
    }

    /// Where each episode starts. A control task: a seeded reset, the seeds drawn from the
    /// run's seed on a stream of their own, so that runs of different seeds are evaluated from
    /// different starts (independent samples) and a run from the same ones every time. A text
    /// task: the same distinct held-out prompts for every run ([`Task::held_out_problems`]).
    ///
    /// [`Task::held_out_problems`]: crate::env::text::Task::held_out_problems
    pub fn starts(&self) -> Vec<Start> {
        match self.env.task() {
            Some(task) => task
                .held_out_problems(self.episodes)
                .iter()
                .map(|p| Start::State(Task::prompt_tokens(p).iter().map(|&t| t as f64).collect()))
                .collect(),
            None => {
                let mut rng = crate::Rng::seed_from_u64(self.run_seed);
                rng.set_stream(EVAL_STREAM);
                (0..self.episodes).map(|_| Start::Seed(EVAL_SEEDS_FROM | rng.next_u64())).collect()
            }
        }
    }

    /// Play the policy of `alg` as it is now; the returns of the episodes.
    pub async fn run<A: Algorithm>(&self, alg: &A) -> Result<Vec<f64>, DeviceError> {
        let (policy, device) = alg.acting_policy().await?;
        eval::evaluate(&policy, self.env, &self.starts(), alg.observation_normalizer(), &device).await
    }

    /// Whether an evaluation follows `update` (the last of the run when `last`); `every` 0: none
    /// along the way.
    pub fn due(&self, update: usize, last: bool) -> bool {
        self.episodes > 0 && (last && self.at_end || self.every > 0 && update.is_multiple_of(self.every))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::config::ExperimentConfig;
    use crate::env::text::{EVAL_PROMPTS, is_held_out};

    fn seeds_of(e: &Evaluation) -> Vec<u64> {
        e.starts()
            .into_iter()
            .map(|s| match s {
                Start::Seed(seed) => seed,
                Start::State(_) => panic!("a control task starts from seeds"),
            })
            .collect()
    }

    #[test]
    fn control_evaluations_start_from_streams_disjoint_across_run_seeds_and_from_training() {
        let mut all = HashSet::new();
        for seed in 0..32u64 {
            let run = RunConfig { env: EnvId::Pendulum, seed, ..RunConfig::default() };
            let e = Evaluation::of(&run, 1000, 0);
            let starts = seeds_of(&e);
            assert_eq!(starts, seeds_of(&e), "the same starts every time");
            assert_eq!(seeds_of(&Evaluation::of(&run, 20, 5))[..], starts[..20], "more episodes extend, not reshuffle");
            for s in starts {
                // Training resets env i from `seed + i` (at most 256 envs, seeds below 2^53).
                assert!(s >= 1 << 54, "seed {seed}: an evaluation start {s} could be a training seed");
                assert!(all.insert(s), "seed {seed}: start {s} is another run's too");
            }
        }
    }

    #[test]
    fn text_evaluations_play_one_fixed_set_of_distinct_held_out_prompts() {
        for env in [EnvId::LmReverse, EnvId::LmAdd, EnvId::LmSort] {
            let task = env.task().unwrap();
            let problems = task.held_out_problems(EVAL_PROMPTS);
            assert_eq!(problems.len(), EVAL_PROMPTS, "{env}");
            assert!(problems.iter().all(|p| is_held_out(p)), "{env}: only held-out prompts");
            assert_eq!(problems.iter().collect::<HashSet<_>>().len(), EVAL_PROMPTS, "{env}: no repeats");
            let two_letters = problems.iter().filter(|p| p.len() == 2).count();
            assert!(two_letters <= 10, "{env}: {two_letters} two-letter prompts");
            // Every run seed plays the same prompts, the first n of the set.
            for seed in [1, 2, 77] {
                let run = ExperimentConfig::for_env(env).run;
                let e = Evaluation::of(&RunConfig { seed, ..run }, 64, 0);
                let expected: Vec<Start> = problems[..64]
                    .iter()
                    .map(|p| Start::State(Task::prompt_tokens(p).iter().map(|&t| t as f64).collect()))
                    .collect();
                assert_eq!(e.starts(), expected, "{env}, seed {seed}");
            }
        }
    }
}
