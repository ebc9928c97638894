//! Classic-control environments with Gymnasium's semantics and Gymnasium's exact dynamics.
//!
//! Dynamics run in `f64`, observations are handed out as `f32`, exactly as Gymnasium does.
//! Episodes end by `terminated` (the MDP reached a terminal state) or `truncated` (the
//! time limit of the registered env id was reached); the two are kept apart because PPO
//! bootstraps from the value at truncation but not at termination.

use std::fmt;

use dyn_clone::DynClone;
use std::str::FromStr;

/// What `Env::step` returns: Gymnasium's `(obs, reward, terminated, truncated)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub observation: Vec<f32>,
    pub reward: f64,
    pub terminated: bool,
    pub truncated: bool,
}

impl Transition {
    /// The episode is over, for either reason.
    pub fn done(&self) -> bool {
        self.terminated || self.truncated
    }
}

/// The action space of an environment.
#[derive(Clone, Debug, PartialEq)]
pub enum ActionSpace {
    /// `n` discrete actions `0..n`.
    Discrete(usize),
    /// A box of continuous actions with per-dimension bounds.
    Continuous { low: Vec<f32>, high: Vec<f32> },
}

impl ActionSpace {
    /// Number of numbers that encode one action: 1 for a discrete action (its index, as `f32`),
    /// the dimension of the box for a continuous one.
    pub fn width(&self) -> usize {
        match self {
            ActionSpace::Discrete(_) => 1,
            ActionSpace::Continuous { low, .. } => low.len(),
        }
    }

    pub fn is_discrete(&self) -> bool {
        matches!(self, ActionSpace::Discrete(_))
    }
}

/// One environment instance. Actions are passed as `&[f32]`: a discrete action is its index
/// as a single `f32` (`[2.0]`), a continuous action is its vector (out-of-range values are
/// clipped by the env, as Gymnasium does).
/// Cloneable as a trait object (`dyn_clone`): a run copied to another device carries on with
/// its environments exactly where they are.
pub trait Env: DynClone + Send {
    fn id(&self) -> EnvId;
    /// Reset to a random initial state drawn from the env's own RNG. `Some(seed)` reseeds that
    /// RNG first (Gymnasium's `reset(seed=...)`), `None` continues its stream.
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32>;
    /// The internal state (f64), which is not always the observation (Acrobot, Pendulum).
    fn state(&self) -> Vec<f64>;
    /// Set the internal state and restart the episode; returns the observation.
    /// GRPO uses this to start every member of a group from the same initial condition.
    fn reset_to(&mut self, state: &[f64]) -> Vec<f32>;
    /// Advance one step. The dynamics set `terminated`; [`TimeLimit`] sets `truncated`.
    fn step(&mut self, action: &[f32]) -> Transition;
    /// Whether a truncated episode would have gone on (a time limit: its final state has a
    /// value to bootstrap from), or truncation is its end (a text completion cut at its length
    /// limit, or stopped without EOS: nothing comes after its last token, as in TRL's PPO).
    fn continues_past_truncation(&self) -> bool {
        true
    }
    /// The reward owed when an episode that has not ended is cut here (GRPO's
    /// `max_completion_length`): a text completion is scored as it stands, as TRL scores what
    /// was generated; a control task owes nothing.
    fn reward_if_cut(&self) -> f64 {
        0.0
    }
}

dyn_clone::clone_trait_object!(Env);

/// Gymnasium's `TimeLimit` wrapper: truncates an episode once it reaches `max_episode_steps`
/// (the registered id's limit), counting from every `reset` or `reset_to`.
#[derive(Clone)]
pub struct TimeLimit<E> {
    env: E,
    max_episode_steps: usize,
    elapsed_steps: usize,
}

impl<E: Env> TimeLimit<E> {
    pub fn new(env: E, max_episode_steps: usize) -> Self {
        Self { env, max_episode_steps, elapsed_steps: 0 }
    }
}

impl<E: Env + Clone> Env for TimeLimit<E> {
    fn id(&self) -> EnvId {
        self.env.id()
    }

    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        self.elapsed_steps = 0;
        self.env.reset(seed)
    }

    fn state(&self) -> Vec<f64> {
        self.env.state()
    }

    fn reset_to(&mut self, state: &[f64]) -> Vec<f32> {
        self.elapsed_steps = 0;
        self.env.reset_to(state)
    }

    fn step(&mut self, action: &[f32]) -> Transition {
        let mut t = self.env.step(action);
        self.elapsed_steps += 1;
        t.truncated = self.elapsed_steps >= self.max_episode_steps;
        t
    }

    fn continues_past_truncation(&self) -> bool {
        self.env.continues_past_truncation()
    }

    fn reward_if_cut(&self) -> f64 {
        self.env.reward_if_cut()
    }
}

/// Gymnasium's `ClipAction` wrapper, as CleanRL's continuous-action PPO wraps its envs: the env
/// sees the action clipped to the box, while the learner keeps the unclipped sample (whose
/// log-prob it computed). It matters where an env uses the raw action: MountainCarContinuous
/// charges `0.1·a²` on it. Discrete actions pass through.
#[derive(Clone)]
pub struct ClipAction<E> {
    env: E,
    bounds: Option<(Vec<f32>, Vec<f32>)>,
}

impl<E: Env> ClipAction<E> {
    pub fn new(env: E, space: &ActionSpace) -> Self {
        let bounds = match space {
            ActionSpace::Discrete(_) => None,
            ActionSpace::Continuous { low, high } => Some((low.clone(), high.clone())),
        };
        Self { env, bounds }
    }
}

impl<E: Env + Clone> Env for ClipAction<E> {
    fn id(&self) -> EnvId {
        self.env.id()
    }

    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        self.env.reset(seed)
    }

    fn state(&self) -> Vec<f64> {
        self.env.state()
    }

    fn reset_to(&mut self, state: &[f64]) -> Vec<f32> {
        self.env.reset_to(state)
    }

    fn step(&mut self, action: &[f32]) -> Transition {
        match &self.bounds {
            None => self.env.step(action),
            Some((low, high)) => {
                let clipped: Vec<f32> =
                    action.iter().zip(low.iter().zip(high)).map(|(&a, (&l, &h))| a.clamp(l, h)).collect();
                self.env.step(&clipped)
            }
        }
    }

    fn continues_past_truncation(&self) -> bool {
        self.env.continues_past_truncation()
    }

    fn reward_if_cut(&self) -> f64 {
        self.env.reward_if_cut()
    }
}

impl Env for Box<dyn Env> {
    fn id(&self) -> EnvId {
        (**self).id()
    }
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        (**self).reset(seed)
    }
    fn state(&self) -> Vec<f64> {
        (**self).state()
    }
    fn reset_to(&mut self, state: &[f64]) -> Vec<f32> {
        (**self).reset_to(state)
    }
    fn step(&mut self, action: &[f32]) -> Transition {
        (**self).step(action)
    }
    fn continues_past_truncation(&self) -> bool {
        (**self).continues_past_truncation()
    }
    fn reward_if_cut(&self) -> f64 {
        (**self).reward_if_cut()
    }
}

/// The environments of the playground, by their Gymnasium ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum EnvId {
    #[serde(rename = "CartPole-v1")]
    CartPole,
    #[serde(rename = "Acrobot-v1")]
    Acrobot,
    #[serde(rename = "Pendulum-v1")]
    Pendulum,
    #[serde(rename = "MountainCarContinuous-v0")]
    MountainCarContinuous,
    #[serde(rename = "MountainCar-v0")]
    MountainCar,
    #[serde(rename = "lm-reverse")]
    LmReverse,
    #[serde(rename = "lm-add")]
    LmAdd,
    #[serde(rename = "lm-sort")]
    LmSort,
}

impl EnvId {
    /// Gymnasium's classic-control tasks.
    pub const CONTROL: [EnvId; 5] =
        [EnvId::CartPole, EnvId::Acrobot, EnvId::Pendulum, EnvId::MountainCarContinuous, EnvId::MountainCar];
    /// The text tasks of the language-model policy.
    pub const TEXT: [EnvId; 3] = [EnvId::LmReverse, EnvId::LmAdd, EnvId::LmSort];
    pub const ALL: [EnvId; 8] = [
        EnvId::CartPole,
        EnvId::Acrobot,
        EnvId::Pendulum,
        EnvId::MountainCarContinuous,
        EnvId::MountainCar,
        EnvId::LmReverse,
        EnvId::LmAdd,
        EnvId::LmSort,
    ];

    /// The text task behind a language-model environment.
    pub fn task(self) -> Option<Task> {
        match self {
            EnvId::LmReverse => Some(Task::Reverse),
            EnvId::LmAdd => Some(Task::Add),
            EnvId::LmSort => Some(Task::Sort),
            _ => None,
        }
    }

    /// The Gymnasium id, e.g. `"CartPole-v1"`.
    pub fn name(self) -> &'static str {
        match self {
            EnvId::CartPole => "CartPole-v1",
            EnvId::Acrobot => "Acrobot-v1",
            EnvId::Pendulum => "Pendulum-v1",
            EnvId::MountainCarContinuous => "MountainCarContinuous-v0",
            EnvId::MountainCar => "MountainCar-v0",
            EnvId::LmReverse => "lm-reverse",
            EnvId::LmAdd => "lm-add",
            EnvId::LmSort => "lm-sort",
        }
    }

    /// The time limit of the registered id (Gymnasium's `max_episode_steps`).
    pub fn max_episode_steps(self) -> usize {
        match self {
            EnvId::CartPole | EnvId::Acrobot => 500,
            EnvId::Pendulum | EnvId::MountainCar => 200,
            EnvId::MountainCarContinuous => 999,
            EnvId::LmReverse | EnvId::LmAdd | EnvId::LmSort => self.task().unwrap().max_completion_len(),
        }
    }

    pub fn observation_dim(self) -> usize {
        match self {
            EnvId::CartPole => 4,
            EnvId::Acrobot => 6,
            EnvId::Pendulum => 3,
            EnvId::MountainCarContinuous | EnvId::MountainCar => 2,
            EnvId::LmReverse | EnvId::LmAdd | EnvId::LmSort => text::CONTEXT,
        }
    }

    pub fn action_space(self) -> ActionSpace {
        match self {
            EnvId::CartPole => ActionSpace::Discrete(2),
            EnvId::Acrobot | EnvId::MountainCar => ActionSpace::Discrete(3),
            EnvId::Pendulum => ActionSpace::Continuous { low: vec![-2.0], high: vec![2.0] },
            EnvId::MountainCarContinuous => ActionSpace::Continuous { low: vec![-1.0], high: vec![1.0] },
            EnvId::LmReverse | EnvId::LmAdd | EnvId::LmSort => ActionSpace::Discrete(text::VOCAB),
        }
    }

    /// A fresh instance with its time limit, as `gymnasium.make` gives it (call `reset` or
    /// `reset_to` before `step`).
    pub fn make(self) -> Box<dyn Env> {
        let limit = self.max_episode_steps();
        match self {
            EnvId::CartPole => Box::new(TimeLimit::new(cartpole::CartPole::new(), limit)),
            EnvId::Acrobot => Box::new(TimeLimit::new(acrobot::Acrobot::new(), limit)),
            EnvId::Pendulum => Box::new(TimeLimit::new(pendulum::Pendulum::new(), limit)),
            EnvId::MountainCarContinuous => {
                Box::new(TimeLimit::new(mountain_car::MountainCarContinuous::new(), limit))
            }
            EnvId::MountainCar => Box::new(TimeLimit::new(mountain_car::MountainCar::new(), limit)),
            // A completion's length limit is the task's own truncation.
            EnvId::LmReverse | EnvId::LmAdd | EnvId::LmSort => {
                Box::new(TextTask::new(self.task().unwrap(), false))
            }
        }
    }

    /// What deterministic evaluation plays: [`EnvId::make_for_agent`], except that a text task
    /// draws its held-out prompts.
    pub fn make_for_eval(self) -> Box<dyn Env> {
        match self.task() {
            Some(task) => Box::new(TextTask::new(task, true)),
            None => self.make_for_agent(),
        }
    }

    /// What an agent acts in, training or evaluating: [`EnvId::make`] behind [`ClipAction`].
    pub fn make_for_agent(self) -> Box<dyn Env> {
        Box::new(ClipAction::new(self.make(), &self.action_space()))
    }
}

/// An environment as a run configures it: its id and, for a text task, how completions are
/// scored in training (evaluation always measures exact match).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EnvSpec {
    pub id: EnvId,
    pub scoring: Scoring,
}

impl From<EnvId> for EnvSpec {
    fn from(id: EnvId) -> Self {
        EnvSpec { id, scoring: Scoring::EXACT }
    }
}

impl EnvSpec {
    /// [`EnvId::make_for_agent`], a text task scored as configured.
    pub fn make_for_agent(self) -> Box<dyn Env> {
        match self.id.task() {
            Some(task) => Box::new(TextTask::new(task, false).with_scoring(self.scoring)),
            None => self.id.make_for_agent(),
        }
    }
}

impl fmt::Display for EnvId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EnvId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EnvId::ALL.into_iter().find(|id| id.name() == s).ok_or_else(|| {
            let known: Vec<_> = EnvId::ALL.iter().map(|id| id.name()).collect();
            format!("unknown environment '{s}' (known: {})", known.join(", "))
        })
    }
}

/// Decodes a discrete action (its index as a single `f32`) for an env with `n` actions.
/// Panics on anything else: callers validate actions before stepping.
pub(crate) fn discrete_action(id: EnvId, action: &[f32], n: usize) -> usize {
    match action {
        [a] if a.fract() == 0.0 && *a >= 0.0 && (*a as usize) < n => *a as usize,
        _ => panic!("{id}: invalid discrete action {action:?}, expected [i] with i in 0..{n}"),
    }
}

/// Decodes a one-dimensional continuous action (not clipped yet: the env clips it).
/// Panics on a wrong width: callers validate actions before stepping.
pub(crate) fn continuous_action(id: EnvId, action: &[f32]) -> f32 {
    match action {
        [a] => *a,
        _ => panic!("{id}: invalid continuous action {action:?}, expected one number"),
    }
}

/// Python's and NumPy's scalar `x ** 2` on a float64: C's `pow(x, 2.0)`, which now and then
/// differs by one ulp from the correctly rounded `x * x`. `black_box` keeps the optimizer from
/// rewriting the call as `x * x`. (`np.square` is `x * x`.)
pub(crate) fn pow2(x: f64) -> f64 {
    x.powf(std::hint::black_box(2.0))
}

/// NumPy's `x ** 2` on a float32 scalar: C's `powf(x, 2.0f)`, see [`pow2`].
pub(crate) fn pow2_f32(x: f32) -> f32 {
    x.powf(std::hint::black_box(2.0))
}

/// Panics unless `state` has the length of the env's internal state.
pub(crate) fn check_state_len(id: EnvId, state: &[f64], len: usize) {
    assert!(state.len() == len, "{id}: reset_to got a state of length {}, expected {len}", state.len());
}

pub mod acrobot;
pub mod cartpole;
pub mod mountain_car;
pub mod pendulum;
pub mod text;

pub use text::{Scoring, Task, TextTask};

#[cfg(test)]
mod tests {
    use super::*;

    /// An action that keeps each env's episode alive: CartPole pushes towards the side the pole
    /// leans to; the others get a harmless constant.
    fn survive(id: EnvId, state: &[f64]) -> Vec<f32> {
        match id {
            EnvId::CartPole => vec![if state[2] + 0.5 * state[3] > 0.0 { 1.0 } else { 0.0 }],
            EnvId::MountainCarContinuous => vec![0.0],
            _ => vec![1.0],
        }
    }

    #[test]
    fn every_env_truncates_at_its_registered_time_limit() {
        for id in EnvId::CONTROL {
            let mut env = id.make();
            env.reset(Some(3));
            let limit = id.max_episode_steps();
            for round in 0..2 {
                for step in 1..=limit {
                    let t = env.step(&survive(id, &env.state()));
                    assert!(!t.terminated, "{id}: terminated at step {step}");
                    assert_eq!(t.truncated, step == limit, "{id}: step {step}");
                }
                // reset_to restarts the clock as reset does.
                if round == 0 {
                    let start = env.state();
                    env.reset_to(&start);
                }
            }
        }
    }

    #[test]
    fn a_seeded_reset_is_reproducible_and_an_unseeded_one_moves_on() {
        for id in EnvId::ALL {
            let mut env = id.make();
            let a = env.reset(Some(7));
            let b = env.reset(None);
            let c = env.reset(Some(7));
            assert_eq!(a, c, "{id}");
            assert_ne!(a, b, "{id}");
            assert!(a.iter().all(|v| v.is_finite()), "{id}");
        }
    }
}
