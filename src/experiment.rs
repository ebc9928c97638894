//! PPO and GRPO side by side on one environment, advanced one update at a time: the state
//! machine behind the page's Step / Run / Reset and the CLI's `compare`.

use burn::prelude::*;
use serde::Serialize;

use crate::config::ExperimentConfig;
use crate::grpo::Grpo;
use crate::metrics::UpdateMetrics;
use crate::policy::Policy;
use crate::ppo::Ppo;
use crate::train::Algorithm;

/// One algorithm's progress: its history, and why it stopped if it failed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Track {
    pub history: Vec<UpdateMetrics>,
    /// Set when an update failed (NaN, device error); the run takes no more updates.
    pub error: Option<String>,
    /// The step budget leaves no room for another update.
    pub finished: bool,
}

impl Track {
    fn active(&self) -> bool {
        self.error.is_none() && !self.finished
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

/// Both algorithms with identical policy networks and seed on the same environment.
pub struct Experiment {
    pub config: ExperimentConfig,
    pub ppo: Ppo<Policy>,
    pub grpo: Grpo<Policy>,
    pub ppo_track: Track,
    pub grpo_track: Track,
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
        }
    }

    /// Neither algorithm can take another update.
    pub fn done(&self) -> bool {
        !self.ppo_track.active() && !self.grpo_track.active()
    }

    /// One update of each algorithm that still has budget and has not failed.
    pub async fn step(&mut self) -> StepReport {
        let total = self.config.run.total_steps;
        let (ppo, ppo_error) = advance(&mut self.ppo, &mut self.ppo_track, total).await;
        let (grpo, grpo_error) = advance(&mut self.grpo, &mut self.grpo_track, total).await;
        StepReport { ppo, grpo, ppo_error, grpo_error }
    }
}

async fn advance<A: Algorithm>(
    alg: &mut A,
    track: &mut Track,
    total_steps: u64,
) -> (Option<UpdateMetrics>, Option<String>) {
    if !track.active() {
        return (None, None);
    }
    if !alg.fits(total_steps) {
        track.finished = true;
        return (None, None);
    }
    match alg.update().await {
        Ok(m) => {
            track.history.push(m.clone());
            track.finished = !alg.fits(total_steps);
            (Some(m), None)
        }
        Err(e) => {
            track.error = Some(e.to_string());
            (None, Some(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::EnvId;
    use crate::train::TrainError;
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
    }

    #[test]
    fn a_failed_update_stops_the_run_and_keeps_its_history() {
        let env = EnvId::CartPole;
        let policy =
            Policy::new(4, &env.action_space(), 4, 1, &Device::flex(), &mut crate::Rng::seed_from_u64(0));
        let mut alg = Flaky { policy, updates: 0 };
        let mut track = Track::default();
        let mut errors = Vec::new();
        for _ in 0..5 {
            let (_, error) = pollster::block_on(advance(&mut alg, &mut track, 1000));
            errors.extend(error);
        }
        assert_eq!(track.history.len(), 2);
        assert_eq!(alg.updates, 3, "no update after the failure");
        assert_eq!(errors.len(), 1);
        assert!(track.error.as_deref().unwrap().contains("policy_loss became NaN or infinite at update 3"));
    }

    #[test]
    fn a_run_stops_where_its_budget_leaves_no_room() {
        let env = EnvId::CartPole;
        let policy =
            Policy::new(4, &env.action_space(), 4, 1, &Device::flex(), &mut crate::Rng::seed_from_u64(0));
        let mut alg = Flaky { policy, updates: 0 };
        let mut track = Track::default();
        pollster::block_on(advance(&mut alg, &mut track, 25));
        pollster::block_on(advance(&mut alg, &mut track, 25));
        assert!(track.finished && track.error.is_none());
        assert_eq!(track.history.len(), 2, "a third update would pass 25 steps");
    }
}
