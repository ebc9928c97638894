//! PPO and GRPO side by side on one environment, advanced one update at a time: the state
//! machine behind the page's Step / Run / Reset. Its [`Track`] (one algorithm's history, budget
//! and failure) also drives the CLI's `train` and `compare`.

use burn::prelude::*;
use serde::Serialize;

use crate::config::ExperimentConfig;
use crate::grpo::Grpo;
use crate::host::DeviceError;
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
    /// When the learner's device was lost: the run carried on on the CPU (see [`Track::advance`]).
    pub device_lost: Option<DeviceLoss>,
    /// A failure the next update reports (tests of the page's error paths).
    #[serde(skip)]
    pub injected_fault: Option<Fault>,
    /// Evaluate the policy after some updates (`eval_mean_return` of their metrics).
    #[serde(skip)]
    pub evaluation: Option<Evaluation>,
}

/// A failure injected into the next update (for tests of the error paths).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// A metric reads NaN, as when the weights diverge: the run stops.
    NonFinite(&'static str),
    /// The device is lost once the update has run (its state moved on and cannot be read).
    DeviceLost,
}

/// Where a run's device was lost and it carried on on the CPU.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeviceLoss {
    /// The update that failed on the device and was taken again on the CPU.
    pub update: usize,
    /// The device's error.
    pub error: String,
    /// Seconds the failed attempt took, which its own time (`wall_s`) does not count.
    pub lost_s: f64,
}

impl Track {
    /// Neither failed nor out of budget.
    pub fn active(&self) -> bool {
        self.error.is_none() && !self.finished
    }

    /// One update of `alg` if it is active and another update fits in `total_steps`; a failure
    /// is recorded and ends the run (the history stays).
    ///
    /// With `cpu_copy`, the run survives the loss of its device: a copy of it on the CPU
    /// ([`Algorithm::copy_to_cpu`]) is kept from before its first update and after each one. When
    /// an update fails with a device error, `alg` becomes that copy, the failed update is taken
    /// again there and the run carries on on the CPU: no update of its history is lost, and the
    /// loss is recorded in `device_lost`.
    pub async fn advance<A: Algorithm>(
        &mut self,
        alg: &mut A,
        cpu_copy: Option<&mut Option<A>>,
        total_steps: u64,
    ) -> Option<UpdateMetrics> {
        if !self.active() {
            return None;
        }
        if !alg.fits(total_steps) {
            self.finished = true;
            return None;
        }
        let Some(copy) = cpu_copy.filter(|_| self.device_lost.is_none()) else {
            let result = self.attempt(alg, total_steps).await;
            return self.record(result);
        };
        if copy.is_none() {
            *copy = alg.copy_to_cpu().await.ok();
        }
        let t0 = web_time::Instant::now();
        let result = match self.attempt(alg, total_steps).await {
            Ok(done) => {
                let t1 = web_time::Instant::now();
                alg.copy_to_cpu().await.map(|c| (done, c, t1.elapsed())).map_err(TrainError::from)
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(((mut m, finished), c, copying)) => {
                *copy = Some(c);
                m.cpu_copy_s = Some(copying.as_secs_f64());
                self.record(Ok((m, finished)))
            }
            Err(TrainError::Device(e)) if copy.is_some() => {
                *alg = copy.take().expect("checked");
                let (update, lost_s) = (self.history.len() + 1, t0.elapsed().as_secs_f64());
                self.device_lost = Some(DeviceLoss { update, error: e.to_string(), lost_s });
                let retaken = self.attempt(alg, total_steps).await;
                self.record(retaken)
            }
            Err(e) => self.record(Err(e)),
        }
    }

    /// One update of `alg` and its evaluation, if one is due; the metrics, and whether the
    /// budget is spent. Nothing is recorded.
    async fn attempt<A: Algorithm>(&mut self, alg: &mut A, total_steps: u64) -> Result<(UpdateMetrics, bool), TrainError> {
        let mut m = match self.injected_fault.take() {
            Some(Fault::NonFinite(metric)) => {
                return Err(TrainError::NonFinite { update: self.history.len() + 1, metric });
            }
            Some(Fault::DeviceLost) => {
                alg.update().await?;
                return Err(DeviceError("the device was lost (injected)".into()).into());
            }
            None => alg.update().await?,
        };
        let finished = !alg.fits(total_steps);
        if let Some(e) = self.evaluation.filter(|e| e.due(m.update, finished)) {
            m.eval_mean_return = mean(e.run(alg).await?);
        }
        Ok((m, finished))
    }

    fn record(&mut self, result: Result<(UpdateMetrics, bool), TrainError>) -> Option<UpdateMetrics> {
        match result {
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
    /// The algorithm's device was lost in this step: it carries on on the CPU.
    pub ppo_device_lost: Option<DeviceLoss>,
    pub grpo_device_lost: Option<DeviceLoss>,
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
/// Episodes of a control task's evaluation once its budget is spent on the page (as `pvg train`).
pub const PAGE_FINAL_EPISODES: usize = 20;
/// Evaluations over a run's budget on the page (see `Experiment::with_evaluations`).
const PAGE_EVALS: u64 = 20;

/// Where the page counts a run solved: a text task on its held-out evaluations (taken during
/// training), a control task on its training return (the page evaluates it only at the end).
pub fn page_threshold(env: crate::env::EnvId) -> Option<crate::stats::Threshold> {
    crate::stats::threshold(env, env.task().is_some())
}

/// GRPO as an experiment runs it: from scratch, or from a strong baseline when
/// `grpo.warm_start_ppo_steps` asks for one. Then this experiment's PPO (same config, same seed:
/// the very run PPO makes beside GRPO) runs for that many environment steps, or the whole
/// updates that fit in them, before GRPO's first update, and GRPO starts from its policy
/// ([`Grpo::start_from`]). Those steps and that time are PPO's: reported apart, outside GRPO's
/// budget and wall time. It reads as the GRPO run it holds.
pub struct GrpoRun {
    grpo: Grpo<Policy>,
    /// The PPO run of the warm start and its steps, until GRPO's first update takes it.
    warm_up: Option<(Box<Ppo<Policy>>, u64)>,
}

impl GrpoRun {
    /// `learner`: an autodiff device; `acting`: where rollouts run (see `ActingCopy`).
    pub fn new(config: &ExperimentConfig, learner: &Device, acting: &Device) -> Self {
        let steps = config.grpo.warm_start_ppo_steps;
        let warm_up = (steps > 0).then(|| (Box::new(Ppo::new(config, learner, acting)), steps));
        Self { grpo: Grpo::new(config, learner, acting), warm_up }
    }
}

impl std::ops::Deref for GrpoRun {
    type Target = Grpo<Policy>;
    fn deref(&self) -> &Grpo<Policy> {
        &self.grpo
    }
}

impl Algorithm for GrpoRun {
    type Policy = Policy;

    fn name(&self) -> &'static str {
        self.grpo.name()
    }

    fn env_steps(&self) -> u64 {
        self.grpo.env_steps()
    }

    fn max_steps_per_update(&self) -> u64 {
        self.grpo.max_steps_per_update()
    }

    fn policy(&self) -> &Policy {
        self.grpo.policy()
    }

    async fn acting_policy(&self) -> Result<(Policy, Device), DeviceError> {
        self.grpo.acting_policy().await
    }

    async fn copy_to_cpu(&self) -> Result<Self, DeviceError> {
        let warm_up = match &self.warm_up {
            Some((ppo, steps)) => Some((Box::new(ppo.copy_to_cpu().await?), *steps)),
            None => None,
        };
        Ok(Self { grpo: self.grpo.copy_to_cpu().await?, warm_up })
    }

    async fn update(&mut self) -> Result<UpdateMetrics, TrainError> {
        if let Some((mut ppo, steps)) = self.warm_up.take() {
            while ppo.fits(steps) {
                ppo.update().await?;
            }
            self.grpo.start_from(ppo.policy().clone(), ppo.env_steps());
        }
        self.grpo.update().await
    }
}

/// Both algorithms with identical policy networks and seed on the same environment.
pub struct Experiment {
    pub config: ExperimentConfig,
    pub ppo: Ppo<Policy>,
    pub grpo: GrpoRun,
    pub ppo_track: Track,
    pub grpo_track: Track,
    /// The algorithms `step` advances.
    pub algos: Algos,
    /// Each run's copy on the CPU, kept after every update when the runs survive the loss of
    /// their device ([`Experiment::surviving_device_loss`]).
    survival: Option<CpuCopies>,
    /// What every update showed, when kept ([`Experiment::with_history`]).
    pub history: Option<crate::history::History>,
}

/// The copies a run carries on from when its device is lost (`None` until the first update).
#[derive(Default)]
struct CpuCopies {
    ppo: Option<Ppo<Policy>>,
    grpo: Option<GrpoRun>,
}

impl Experiment {
    /// `learner`: an autodiff device; `acting`: where rollouts run (see `ActingCopy`).
    pub fn new(config: ExperimentConfig, learner: &Device, acting: &Device) -> Self {
        Self {
            ppo: Ppo::new(&config, learner, acting),
            grpo: GrpoRun::new(&config, learner, acting),
            config,
            ppo_track: Track::default(),
            grpo_track: Track::default(),
            algos: Algos::Both,
            survival: None,
            history: None,
        }
    }

    /// Let GRPO's update run its shards on `pool`'s helpers too (see [`crate::shards`]); a run
    /// learning on the CPU only, where the helpers compute. Its results are the same without.
    pub fn with_shard_pool(mut self, pool: std::sync::Arc<dyn crate::shards::Pool>) -> Self {
        self.grpo.grpo.set_pool(pool);
        self
    }

    /// Keep what every update shows (the page's scrubber), within [`crate::history`]'s budget.
    pub fn with_history(mut self) -> Self {
        self.history = Some(crate::history::History::default());
        self
    }

    /// Keep a copy of each run on the CPU after every update, from which it carries on if its
    /// device is lost (see [`Track::advance`]): for runs learning on a GPU.
    pub fn surviving_device_loss(mut self) -> Self {
        self.survival = Some(CpuCopies::default());
        self
    }

    /// Make the next update of `algo` lose its device once it has run (see [`Fault`]).
    pub fn inject_device_loss(&mut self, algo: &str) -> bool {
        self.inject(algo, Fault::DeviceLost)
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

    /// Evaluate each algorithm on `PAGE_FINAL_EPISODES` episodes after its last update only:
    /// a control task's final return on the page (`eval_mean_return` of that update).
    pub fn with_final_evaluation(mut self) -> Self {
        let e = Some(Evaluation { at_end: true, ..Evaluation::of(&self.config.run, PAGE_FINAL_EPISODES, 0) });
        self.ppo_track.evaluation = e;
        self.grpo_track.evaluation = e;
        self
    }

    /// The run of `algo` (`Ppo` or `Grpo`) scored so far, if this experiment advances it: its
    /// final evaluation where one was taken, steps to the env's threshold as the page measures
    /// them (a text task on its held-out evaluations, a control task on its training return).
    pub fn scores(&self, algo: Algos) -> Option<crate::stats::RunScores> {
        let track = self.advanced(algo)?;
        let threshold = page_threshold(self.config.run.env);
        let final_eval = track.history.last().filter(|_| track.finished).and_then(|m| m.eval_mean_return);
        Some(crate::stats::RunScores::of(self.config.run.seed, &track.history, final_eval, threshold))
    }

    /// The known failure modes in the run of `algo` so far ([`crate::flags`]), if this experiment
    /// advances it.
    pub fn flags(&self, algo: Algos) -> Option<Vec<crate::flags::Flag>> {
        let discrete = self.config.run.env.action_space().is_discrete();
        Some(crate::flags::scan(&self.advanced(algo)?.history, discrete))
    }

    /// The policies of the algorithms this experiment advances, by name (`ppo`, `grpo`).
    pub fn trained_policies(&self) -> Vec<(&'static str, &Policy)> {
        let mut out = Vec::new();
        if self.algos.ppo() {
            out.push(("ppo", self.ppo.policy()));
        }
        if self.algos.grpo() {
            out.push(("grpo", self.grpo.policy()));
        }
        out
    }

    /// The track of `algo` (`Ppo` or `Grpo`), if this experiment advances it.
    fn advanced(&self, algo: Algos) -> Option<&Track> {
        match algo {
            Algos::Ppo if self.algos.ppo() => Some(&self.ppo_track),
            Algos::Grpo if self.algos.grpo() => Some(&self.grpo_track),
            _ => None,
        }
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
        !(self.algos.ppo() && self.ppo_track.active() || self.algos.grpo() && self.grpo_track.active())
    }

    /// Make the next update of `algo` (`ppo` or `grpo`) fail as a NaN in `metric` would: for
    /// testing what the page does with a failed run. Returns false for an unknown algorithm.
    pub fn inject_fault(&mut self, algo: &str, metric: &'static str) -> bool {
        self.inject(algo, Fault::NonFinite(metric))
    }

    fn inject(&mut self, algo: &str, fault: Fault) -> bool {
        let track = match algo {
            "ppo" => &mut self.ppo_track,
            "grpo" => &mut self.grpo_track,
            _ => return false,
        };
        track.injected_fault = Some(fault);
        true
    }

    /// One update of each algorithm it advances that still has budget and has not failed.
    pub async fn step(&mut self) -> StepReport {
        let total = self.config.run.total_steps;
        let failed = |t: &Track| t.error.clone();
        let (ppo_before, grpo_before) = (failed(&self.ppo_track), failed(&self.grpo_track));
        let lost = |t: &Track| t.device_lost.clone();
        let (ppo_lost, grpo_lost) = (lost(&self.ppo_track), lost(&self.grpo_track));
        let ppo = match self.algos.ppo() {
            true => {
                let copy = self.survival.as_mut().map(|c| &mut c.ppo);
                self.ppo_track.advance(&mut self.ppo, copy, total).await
            }
            false => None,
        };
        let grpo = match self.algos.grpo() {
            true => {
                let copy = self.survival.as_mut().map(|c| &mut c.grpo);
                self.grpo_track.advance(&mut self.grpo, copy, total).await
            }
            false => None,
        };
        if self.history.is_some() {
            let text = self.config.run.env.task().is_some();
            let ppo_part = ppo.is_some().then(|| crate::inspect::ppo_part(self));
            let grpo_part = grpo.is_some().then(|| crate::inspect::grpo_part(self));
            if let Some(history) = &mut self.history {
                ppo_part.into_iter().for_each(|part| history.ppo.record(part, text));
                grpo_part.into_iter().for_each(|part| history.grpo.record(part, text));
            }
        }
        // Report an error, or a lost device, once: in the step where it happened.
        fn fresh<T>(before: Option<T>, now: Option<T>) -> Option<T> {
            if before.is_none() { now } else { None }
        }
        StepReport {
            ppo,
            grpo,
            ppo_error: fresh(ppo_before, failed(&self.ppo_track)),
            grpo_error: fresh(grpo_before, failed(&self.grpo_track)),
            ppo_device_lost: fresh(ppo_lost, lost(&self.ppo_track)),
            grpo_device_lost: fresh(grpo_lost, lost(&self.grpo_track)),
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
        async fn copy_to_cpu(&self) -> Result<Self, crate::host::DeviceError> {
            Ok(Flaky { policy: self.policy.clone(), updates: self.updates })
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
            pollster::block_on(track.advance(&mut alg, None, 1000));
        }
        assert_eq!(track.history.len(), 2);
        assert_eq!(alg.updates, 3, "no update after the failure");
        assert!(track.error.as_deref().unwrap().contains("policy_loss became NaN or infinite at update 3"));
    }

    #[test]
    fn a_run_stops_where_its_budget_leaves_no_room() {
        let mut alg = flaky();
        let mut track = Track::default();
        pollster::block_on(track.advance(&mut alg, None, 25));
        pollster::block_on(track.advance(&mut alg, None, 25));
        assert!(track.finished && track.error.is_none());
        assert_eq!(track.history.len(), 2, "a third update would pass 25 steps");
    }
}
