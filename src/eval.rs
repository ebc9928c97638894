//! Deterministic evaluation of a policy: its most likely action at every step.

use burn::prelude::*;

use crate::env::EnvId;
use crate::host::{self, DeviceError};
use crate::normalize::ObservationNormalizer;
use crate::policy::{Sampling, StochasticPolicy};

/// Where an episode starts: a seeded reset, or a given state (a text task's prompt).
#[derive(Clone, Debug, PartialEq)]
pub enum Start {
    Seed(u64),
    State(Vec<f64>),
}

/// Returns of one episode per start, played in parallel with the policy's mode (argmax or
/// mean). `device` must hold the policy's tensors; the policy sees observations through
/// `normalizer` when it was trained so, its statistics frozen.
pub async fn evaluate<P: StochasticPolicy>(
    policy: &P,
    env: EnvId,
    starts: &[Start],
    normalizer: Option<&ObservationNormalizer>,
    device: &Device,
) -> Result<Vec<f64>, DeviceError> {
    play(policy, env, starts, normalizer, device, &mut Sampling::Mode).await
}

/// [`evaluate`], picking actions by `sampling`: the mode, or samples (what a rollout sees).
pub async fn play<P: StochasticPolicy>(
    policy: &P,
    env: EnvId,
    starts: &[Start],
    normalizer: Option<&ObservationNormalizer>,
    device: &Device,
    sampling: &mut Sampling<'_>,
) -> Result<Vec<f64>, DeviceError> {
    let (d, width, episodes) = (env.observation_dim(), policy.action_width(), starts.len());
    let mut envs: Vec<_> = (0..episodes).map(|_| env.make_for_eval()).collect();
    let mut obs: Vec<Vec<f32>> = envs
        .iter_mut()
        .zip(starts)
        .map(|(e, start)| match start {
            Start::Seed(seed) => e.reset(Some(*seed)),
            Start::State(state) => e.reset_to(state),
        })
        .collect();
    let mut returns = vec![0.0; episodes];
    let mut running: Vec<usize> = (0..episodes).collect();
    while !running.is_empty() {
        let mut batch: Vec<f32> = running.iter().flat_map(|&i| obs[i].iter().copied()).collect();
        if let Some(norm) = normalizer {
            norm.normalize(&mut batch);
        }
        let picked = policy.get_action(host::matrix(batch, running.len(), d, device), sampling).await?;
        let mut still = Vec::with_capacity(running.len());
        for (row, &i) in running.iter().enumerate() {
            let t = envs[i].step(&picked.actions[row * width..(row + 1) * width]);
            returns[i] += t.reward;
            obs[i] = t.observation.clone();
            if !t.done() {
                still.push(i);
            }
        }
        running = still;
    }
    Ok(returns)
}
