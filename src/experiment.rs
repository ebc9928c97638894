//! PPO and GRPO side by side on one environment, advanced one update at a time: the state
//! machine behind the page's Step / Run / Reset. Its [`Track`] (one algorithm's history, budget
//! and failure) also drives the CLI's `train` and `compare`.

use burn::prelude::*;
use serde::Serialize;

use crate::config::ExperimentConfig;
use crate::grpo::Grpo;
use crate::metrics::{UpdateMetrics, mean};
use crate::policy::Policy;
use crate::ppo::Ppo;
use crate::train::{Algorithm, Evaluation, TrainError};

/// One algorithm's progress: its history, and why it stopped if it failed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Track {
    pub history: Vec<UpdateMetrics>,
    /// Set when an update failed (NaN, device error); the run takes no more updates.
    pub error: Option<String>,
    /// The step budget leaves no room for another update.
    pub finished: bool,
    /// A failure the next update reports instead of running (tests of the page's error path).
    #[serde(skip)]
    pub injected_fault: Option<&'static str>,
    /// Evaluate the policy after some updates (`eval_mean_return` of their metrics).
    #[serde(skip)]
    pub evaluation: Option<Evaluation>,
}

impl Track {
    /// Neither failed nor out of budget.
    pub fn active(&self) -> bool {
        self.error.is_none() && !self.finished
    }

    /// One update of `alg` if it is active and another update fits in `total_steps`; a failure
    /// is recorded and ends the run (the history stays).
    pub async fn advance<A: Algorithm>(&mut self, alg: &mut A, total_steps: u64) -> Option<UpdateMetrics> {
        if !self.active() {
            return None;
        }
        if !alg.fits(total_steps) {
            self.finished = true;
            return None;
        }
        let result = match self.injected_fault.take() {
            Some(metric) => Err(TrainError::NonFinite { update: self.history.len() + 1, metric }),
            None => alg.update().await,
        };
        let evaluated = match result {
            Ok(mut m) => {
                let finished = !alg.fits(total_steps);
                match self.evaluation.filter(|e| e.due(m.update, finished)) {
                    Some(e) => e.run(alg).await.map(|returns| {
                        m.eval_mean_return = mean(returns);
                        (m, finished)
                    }),
                    None => Ok((m, finished)),
                }
                .map_err(TrainError::from)
            }
            Err(e) => Err(e),
        };
        match evaluated {
            Ok((m, finished)) => {
                self.history.push(m.clone());
                self.finished = finished;
                Some(m)
            }
            Err(e) => {
                self.error = Some(e.to_string());
                None
            }
        }
    }
}

/// What one `step` produced for each algorithm (`None`: it was finished or had failed).
#[derive(Clone, Debug, Default, Serialize)]
pub struct StepReport {
    pub ppo: Option<UpdateMetrics>,
    pub grpo: Option<UpdateMetrics>,
    pub ppo_error: Option<String>,
    pub grpo_error: Option<String>,
}

/// Which algorithms an experiment advances: both, or one of them (the page gives each its own
/// Web Worker, so that they train in parallel on a machine with several cores). Each run has its
/// own RNG, so a run is the same whichever way it is advanced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algos {
    Both,
    Ppo,
    Grpo,
}

impl Algos {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "both" => Ok(Algos::Both),
            "ppo" => Ok(Algos::Ppo),
            "grpo" => Ok(Algos::Grpo),
            _ => Err(format!("{text:?} is not ppo, grpo or both")),
        }
    }

    fn ppo(self) -> bool {
        self != Algos::Grpo
    }

    fn grpo(self) -> bool {
        self != Algos::Ppo
    }
}

/// Episodes of each evaluation on the page (held-out prompts: accuracy moves in steps of 1/64).
pub const PAGE_EVAL_EPISODES: usize = 64;
/// Evaluations over a run's budget on the page (see `Experiment::with_evaluations`).
const PAGE_EVALS: u64 = 20;

/// Both algorithms with identical policy networks and seed on the same environment.
pub struct Experiment {
    pub config: ExperimentConfig,
    pub ppo: Ppo<Policy>,
    pub grpo: Grpo<Policy>,
    pub ppo_track: Track,
    pub grpo_track: Track,
    /// The algorithms `step` advances.
    pub algos: Algos,
}

impl Experiment {
    /// `learner`: an autodiff device; `acting`: where rollouts run (see `ActingCopy`).
    pub fn new(config: ExperimentConfig, learner: &Device, acting: &Device) -> Self {
        Self {
            ppo: Ppo::new(&config, learner, acting),
            grpo: Grpo::new(&config, learner, acting),
            config,
            ppo_track: Track::default(),
            grpo_track: Track::default(),
            algos: Algos::Both,
        }
    }

    /// Evaluate each algorithm on `PAGE_EVAL_EPISODES` held-out episodes about `PAGE_EVALS`
    /// times over its budget and after its last update: the page's accuracy curves of a text
    /// task (`eval_mean_return` in the metrics).
    pub fn with_evaluations(mut self) -> Self {
        let total = self.config.run.total_steps;
        let every = |per_update: u64| (total / PAGE_EVALS / per_update).max(1) as usize;
        let of = |every| {
            Some(Evaluation { at_end: true, ..Evaluation::of(&self.config.run, PAGE_EVAL_EPISODES, every) })
        };
        self.ppo_track.evaluation = of(every(self.ppo.max_steps_per_update()));
        self.grpo_track.evaluation = of(every(self.grpo.max_steps_per_update()));
        self
    }

    /// The evaluation of the policy both algorithms start from (for a text task, the shipped
    /// base: LoRA's `B` starts at zero), on the episodes every later evaluation plays.
    pub async fn evaluate_start(&self) -> Result<Option<f64>, crate::host::DeviceError> {
        match self.grpo_track.evaluation {
            Some(e) => Ok(mean(e.run(&self.grpo).await?)),
            None => Ok(None),
        }
    }

    /// Advance only `algos` from now on.
    pub fn with_algos(mut self, algos: Algos) -> Self {
        self.algos = algos;
        self
    }

    /// No algorithm this experiment advances can take another update.
    pub fn done(&self) -> bool {
        !(self.algos.ppo() && self.ppo_track.active()) && !(self.algos.grpo() && self.grpo_track.active())
    }

    /// Make the next update of `algo` (`ppo` or `grpo`) fail as a NaN in `metric` would: for
    /// testing what the page does with a failed run. Returns false for an unknown algorithm.
    pub fn inject_fault(&mut self, algo: &str, metric: &'static str) -> bool {
        let track = match algo {
            "ppo" => &mut self.ppo_track,
            "grpo" => &mut self.grpo_track,
            _ => return false,
        };
        track.injected_fault = Some(metric);
        true
    }

    /// One update of each algorithm it advances that still has budget and has not failed.
    pub async fn step(&mut self) -> StepReport {
        let total = self.config.run.total_steps;
        let failed = |t: &Track| t.error.clone();
        let (ppo_before, grpo_before) = (failed(&self.ppo_track), failed(&self.grpo_track));
        let ppo = match self.algos.ppo() {
            true => self.ppo_track.advance(&mut self.ppo, total).await,
            false => None,
        };
        let grpo = match self.algos.grpo() {
            true => self.grpo_track.advance(&mut self.grpo, total).await,
            false => None,
        };
        // Report an error once: in the step where it happened.
        let fresh = |before: Option<String>, t: &Track| if before.is_none() { failed(t) } else { None };
        StepReport {
            ppo,
            grpo,
            ppo_error: fresh(ppo_before, &self.ppo_track),
            grpo_error: fresh(grpo_before, &self.grpo_track),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::EnvId;
    use rand::SeedableRng;

    /// Two good updates, then a NaN.
    struct Flaky {
        policy: Policy,
        updates: usize,
    }

    impl Algorithm for Flaky {
        type Policy = Policy;
        fn name(&self) -> &'static str {
            "flaky"
        }
        async fn update(&mut self) -> Result<UpdateMetrics, TrainError> {
            self.updates += 1;
            match self.updates {
                1 | 2 => Ok(UpdateMetrics {
                    update: self.updates,
                    env_steps: 10 * self.updates as u64,
                    ..Default::default()
                }),
                n => Err(TrainError::NonFinite { update: n, metric: "policy_loss" }),
            }
        }
        fn env_steps(&self) -> u64 {
            10 * self.updates as u64
        }
        fn max_steps_per_update(&self) -> u64 {
            10
        }
        fn policy(&self) -> &Policy {
            &self.policy
        }
        async fn acting_policy(&self) -> Result<(Policy, Device), crate::host::DeviceError> {
            Ok((self.policy.clone(), Device::flex()))
        }
    }

    fn flaky() -> Flaky {
        let space = EnvId::CartPole.action_space();
        let policy = Policy::new(4, &space, 4, 1, &Device::flex(), &mut crate::Rng::seed_from_u64(0));
        Flaky { policy, updates: 0 }
    }

    #[test]
    fn a_failed_update_stops_the_run_and_keeps_its_history() {
        let mut alg = flaky();
        let mut track = Track::default();
        for _ in 0..5 {
            pollster::block_on(track.advance(&mut alg, 1000));
        }
        assert_eq!(track.history.len(), 2);
        assert_eq!(alg.updates, 3, "no update after the failure");
        assert!(track.error.as_deref().unwrap().contains("policy_loss became NaN or infinite at update 3"));
    }

    #[test]
    fn a_run_stops_where_its_budget_leaves_no_room() {
        let mut alg = flaky();
        let mut track = Track::default();
        pollster::block_on(track.advance(&mut alg, 25));
        pollster::block_on(track.advance(&mut alg, 25));
        assert!(track.finished && track.error.is_none());
        assert_eq!(track.history.len(), 2, "a third update would pass 25 steps");
    }
}
