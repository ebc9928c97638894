//! Replays golden traces recorded from Gymnasium (format: `shared/golden/README.md`) through the
//! Rust environments and measures how far they drift from the recording.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::env::{ActionSpace, EnvId};

/// A trace file: the Gymnasium version that recorded it and its traces.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TraceFile {
    pub gymnasium: String,
    pub traces: Vec<Trace>,
}

/// One recorded episode: `observations[i]`, `rewards[i]`, `terminated[i]`, `truncated[i]` are
/// what `step(actions[i])` returned.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Trace {
    /// Gymnasium id, e.g. `"CartPole-v1"`.
    pub env: String,
    pub seed: u64,
    /// The env's internal state right after reset.
    pub initial_state: Vec<f64>,
    /// What reset returned.
    pub initial_observation: Vec<f64>,
    pub actions: Vec<TraceAction>,
    pub observations: Vec<Vec<f64>>,
    pub rewards: Vec<f64>,
    pub terminated: Vec<bool>,
    pub truncated: Vec<bool>,
}

/// An action as stored in a trace: an index for discrete envs, a vector for continuous ones.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TraceAction {
    Discrete(i64),
    Continuous(Vec<f64>),
}

/// How closely one trace was reproduced.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceReport {
    pub env: String,
    pub seed: u64,
    pub steps: usize,
    /// Largest absolute difference over all observations, the initial one included
    /// (infinite where either side is NaN).
    pub max_observation_error: f64,
    /// Largest absolute difference over all rewards (infinite where either side is NaN).
    pub max_reward_error: f64,
    /// The first step whose `terminated` or `truncated` flag differs from the recording.
    pub first_flag_mismatch: Option<usize>,
}

impl TraceReport {
    /// Every `terminated` and `truncated` flag matched the recording.
    pub fn flags_match(&self) -> bool {
        self.first_flag_mismatch.is_none()
    }

    /// Flags identical, observations and rewards within `tolerance`.
    pub fn ok(&self, tolerance: f64) -> bool {
        self.flags_match() && self.max_observation_error <= tolerance && self.max_reward_error <= tolerance
    }
}

impl fmt::Display for TraceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<25} seed {:<4} {:>4} steps  max |obs err| {:.3e}  max |reward err| {:.3e}  flags {}",
            self.env,
            self.seed,
            self.steps,
            self.max_observation_error,
            self.max_reward_error,
            match self.first_flag_mismatch {
                None => "match".to_string(),
                Some(step) => format!("differ first at step {step}"),
            }
        )
    }
}

/// Replays every trace of a trace file given as JSON text.
pub fn replay_traces(json: &str) -> Result<Vec<TraceReport>, String> {
    let file: TraceFile = serde_json::from_str(json).map_err(|e| format!("invalid trace file: {e}"))?;
    file.traces
        .iter()
        .enumerate()
        .map(|(i, trace)| {
            replay_trace(trace).map_err(|e| format!("trace {i} ({}, seed {}): {e}", trace.env, trace.seed))
        })
        .collect()
}

/// Reads a trace file and replays every trace.
pub fn replay_file(path: &Path) -> Result<Vec<TraceReport>, String> {
    let json = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read trace file {}: {e}", path.display()))?;
    replay_traces(&json)
}

/// Sets the env to the trace's initial state, feeds its actions and compares what comes back.
pub fn replay_trace(trace: &Trace) -> Result<TraceReport, String> {
    let id: EnvId = trace.env.parse()?;
    let steps = trace.actions.len();
    for (name, len) in [
        ("observations", trace.observations.len()),
        ("rewards", trace.rewards.len()),
        ("terminated", trace.terminated.len()),
        ("truncated", trace.truncated.len()),
    ] {
        if len != steps {
            return Err(format!("{steps} actions but {len} {name}"));
        }
    }

    let mut env = id.make();
    let state_len = env.state().len();
    if trace.initial_state.len() != state_len {
        return Err(format!(
            "initial_state has {} numbers, {id} has a state of {state_len}",
            trace.initial_state.len()
        ));
    }
    let actions = trace
        .actions
        .iter()
        .enumerate()
        .map(|(step, action)| {
            decode_action(&id.action_space(), action).map_err(|e| format!("step {step}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let observation = env.reset_to(&trace.initial_state);
    let mut max_observation_error = observation_error(&observation, &trace.initial_observation)
        .map_err(|e| format!("initial observation: {e}"))?;
    let mut max_reward_error: f64 = 0.0;
    let mut first_flag_mismatch = None;
    for (step, action) in actions.iter().enumerate() {
        let t = env.step(action);
        let error = observation_error(&t.observation, &trace.observations[step])
            .map_err(|e| format!("step {step}: {e}"))?;
        max_observation_error = max_observation_error.max(error);
        max_reward_error = max_reward_error.max(abs_error(t.reward, trace.rewards[step]));
        if first_flag_mismatch.is_none()
            && (t.terminated != trace.terminated[step] || t.truncated != trace.truncated[step])
        {
            first_flag_mismatch = Some(step);
        }
    }

    Ok(TraceReport {
        env: trace.env.clone(),
        seed: trace.seed,
        steps,
        max_observation_error,
        max_reward_error,
        first_flag_mismatch,
    })
}

/// The action as the env takes it, or why it does not fit the action space.
fn decode_action(space: &ActionSpace, action: &TraceAction) -> Result<Vec<f32>, String> {
    match (space, action) {
        (ActionSpace::Discrete(n), TraceAction::Discrete(i)) if (0..*n as i64).contains(i) => {
            Ok(vec![*i as f32])
        }
        (ActionSpace::Continuous { low, .. }, TraceAction::Continuous(a)) if a.len() == low.len() => {
            // Recorded as the float32 values the env received.
            Ok(a.iter().map(|&v| v as f32).collect())
        }
        _ => Err(format!("action {action:?} does not fit the action space {space:?}")),
    }
}

/// Largest absolute difference between an observation and its recording.
fn observation_error(observation: &[f32], recorded: &[f64]) -> Result<f64, String> {
    if observation.len() != recorded.len() {
        return Err(format!(
            "observation has {} numbers, the recording {}",
            observation.len(),
            recorded.len()
        ));
    }
    Ok(observation.iter().zip(recorded).map(|(&o, &r)| abs_error(o as f64, r)).fold(0.0, f64::max))
}

/// `|a - b|`, infinite when either is NaN so that it can never pass a tolerance.
fn abs_error(a: f64, b: f64) -> f64 {
    let error = (a - b).abs();
    if error.is_nan() { f64::INFINITY } else { error }
}
