//! Collecting experience: PPO's `(T, N)` rollouts over vectorized environments, and GRPO's
//! groups of trajectories from one initial state, stacked and padded to `(T, G)` with a mask.
//!
//! Each time step makes one batched forward for all environments and one read-back
//! (PPO reads the action distribution and the value in the same sync).

use burn::prelude::*;

use crate::Rng;
use crate::env::{Env, EnvSpec, Transition};
use crate::host::{self, DeviceError, Reads};
use crate::normalize::{ObservationNormalizer, RewardScaler};
use crate::policy::{Sampling, SdeNoise, StochasticPolicy};
use crate::value::ActorCritic;

/// A finished episode: its undiscounted return and length.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Episode {
    pub episode_return: f64,
    pub length: usize,
}

/// `N` environments stepped in lockstep. An environment that finishes an episode is reset at
/// once (same-step autoreset): the observation it hands on starts the next episode.
#[derive(Clone)]
pub struct VecEnv {
    envs: Vec<Box<dyn Env>>,
    obs_dim: usize,
    /// `(N, obs_dim)`: the observations the next step acts on.
    observations: Vec<f32>,
    returns: Vec<f64>,
    lengths: Vec<usize>,
    /// Per-env reward scaling with its discount, when enabled.
    scalers: Option<(Vec<RewardScaler>, f64)>,
    /// Observation normalisation over all envs, when enabled: `observations` are normalised.
    obs_norm: Option<ObservationNormalizer>,
}

impl VecEnv {
    /// Environment `i` is first reset with seed `seed + i` (as Gymnasium's vector envs do).
    pub fn new(env: impl Into<EnvSpec>, n: usize, seed: u64) -> Self {
        let env: EnvSpec = env.into();
        let mut envs: Vec<Box<dyn Env>> = (0..n).map(|_| env.make_for_agent()).collect();
        let observations =
            envs.iter_mut().enumerate().flat_map(|(i, e)| e.reset(Some(seed + i as u64))).collect();
        Self {
            envs,
            obs_dim: env.id.observation_dim(),
            observations,
            returns: vec![0.0; n],
            lengths: vec![0; n],
            scalers: None,
            obs_norm: None,
        }
    }

    /// Normalise the observations the learner sees (Gymnasium's vector `NormalizeObservation`,
    /// then ±10), starting with the first ones.
    pub fn with_observation_normalization(mut self) -> Self {
        let mut norm = ObservationNormalizer::new(self.obs_dim);
        norm.update_and_normalize(&mut self.observations);
        self.obs_norm = Some(norm);
        self
    }

    /// The observation statistics, when normalising (for evaluation, frozen).
    pub fn observation_normalizer(&self) -> Option<&ObservationNormalizer> {
        self.obs_norm.as_ref()
    }

    /// Scale the rewards handed to the learner (Gymnasium's `NormalizeReward(gamma)` on each env).
    pub fn with_reward_scaling(mut self, gamma: f64) -> Self {
        self.scalers = Some((vec![RewardScaler::default(); self.envs.len()], gamma));
        self
    }

    pub fn len(&self) -> usize {
        self.envs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.envs.is_empty()
    }

    pub fn observations(&self) -> &[f32] {
        &self.observations
    }

    /// Step every env with its row of `actions`; returns the transitions and the episodes that
    /// ended. A transition's `observation` is the episode's last one (for bootstrapping); the
    /// env itself has moved on to a fresh episode. Its `reward` is the learner's (scaled when
    /// scaling is on); episode returns are the env's own.
    /// Whether env `i`'s truncated episodes would have gone on (see `Env::continues_past_truncation`).
    fn continues_past_truncation(&self, i: usize) -> bool {
        self.envs[i].continues_past_truncation()
    }

    fn step(&mut self, actions: &[f32], width: usize) -> (Vec<Transition>, Vec<Episode>) {
        let mut transitions = Vec::with_capacity(self.envs.len());
        let mut finished = Vec::new();
        for (i, env) in self.envs.iter_mut().enumerate() {
            let mut t = env.step(&actions[i * width..(i + 1) * width]);
            self.returns[i] += t.reward;
            if let Some((scalers, gamma)) = &mut self.scalers {
                t.reward = scalers[i].scale(t.reward, t.terminated, *gamma);
            }
            self.lengths[i] += 1;
            let row = &mut self.observations[i * self.obs_dim..(i + 1) * self.obs_dim];
            if t.done() {
                finished.push(Episode { episode_return: self.returns[i], length: self.lengths[i] });
                self.returns[i] = 0.0;
                self.lengths[i] = 0;
                row.copy_from_slice(&env.reset(None));
            } else {
                row.copy_from_slice(&t.observation);
            }
            transitions.push(t);
        }
        if let Some(norm) = &mut self.obs_norm {
            // The batch the envs handed on updates the statistics; an episode's final observation
            // (for bootstrapping) is normalised with them, as the step's own.
            norm.update_and_normalize(&mut self.observations);
            for t in &mut transitions {
                norm.normalize(&mut t.observation);
            }
        }
        (transitions, finished)
    }
}

/// PPO's rollout buffers, each `(T, N)` in time-major order (`[t * N + n]`), plus the values
/// GAE needs to bootstrap.
#[derive(Clone, Debug)]
pub struct Rollout {
    pub num_steps: usize,
    pub num_envs: usize,
    pub obs_dim: usize,
    pub action_width: usize,
    /// `(T, N, obs_dim)`
    pub observations: Vec<f32>,
    /// `(T, N, action_width)`
    pub actions: Vec<f32>,
    pub log_probs: Vec<f32>,
    pub rewards: Vec<f32>,
    pub values: Vec<f32>,
    pub terminated: Vec<bool>,
    pub truncated: Vec<bool>,
    /// `V(s_final)` where the episode was truncated at `(t, n)`, else 0.
    pub truncation_values: Vec<f32>,
    /// `V(s_T)` of the observation after the last step, per env.
    pub next_values: Vec<f32>,
    pub episodes: Vec<Episode>,
}

/// How a rollout's step samples `rows`: with the policy's held noise where it has some (gSDE),
/// advanced by a step, else freshly.
fn sampling<'a>(rng: &'a mut Rng, noise: Option<&'a mut SdeNoise>, rows: &[usize]) -> Sampling<'a> {
    match noise {
        Some(noise) => {
            noise.step(rows);
            Sampling::Explore(rng, noise)
        }
        None => Sampling::Sample(rng),
    }
}

/// Run `policy` for `num_steps` steps in every env, recording what PPO learns from.
pub async fn collect_rollout<P: StochasticPolicy>(
    agent: &ActorCritic<P>,
    envs: &mut VecEnv,
    num_steps: usize,
    rng: &mut Rng,
    device: &Device,
) -> Result<Rollout, DeviceError> {
    let policy = &agent.actor;
    let (n, d, width) = (envs.len(), envs.obs_dim, policy.action_width());
    let mut r = Rollout {
        num_steps,
        num_envs: n,
        obs_dim: d,
        action_width: width,
        observations: Vec::with_capacity(num_steps * n * d),
        actions: Vec::with_capacity(num_steps * n * width),
        log_probs: Vec::with_capacity(num_steps * n),
        rewards: Vec::with_capacity(num_steps * n),
        values: Vec::with_capacity(num_steps * n),
        terminated: Vec::with_capacity(num_steps * n),
        truncated: Vec::with_capacity(num_steps * n),
        truncation_values: vec![0.0; num_steps * n],
        next_values: Vec::new(),
        episodes: Vec::new(),
    };
    // Final observations of truncated episodes, valued in one batch at the end.
    let mut truncated_at = Vec::new();
    let mut final_observations = Vec::new();
    let mut noise = policy.noise();
    let rows: Vec<usize> = (0..n).collect();
    for t in 0..num_steps {
        let obs = host::matrix(envs.observations.clone(), n, d, device);
        let mut reads = Reads::new();
        let (params, values) = agent.act(obs);
        reads.push(params);
        reads.push(values);
        let mut read = reads.execute().await?.into_iter();
        let (params, values) = (read.next().unwrap(), read.next().unwrap());
        let picked = policy.pick(&params, n, &mut sampling(rng, noise.as_mut(), &rows));

        r.observations.extend_from_slice(&envs.observations);
        let (transitions, finished) = envs.step(&picked.actions, width);
        for (i, tr) in transitions.into_iter().enumerate() {
            r.rewards.push(tr.reward as f32);
            r.terminated.push(tr.terminated);
            r.truncated.push(tr.truncated && !tr.terminated);
            // A time limit's final state is valued to bootstrap from; a truncated text
            // completion has nothing after it (its value stays 0).
            if tr.truncated && !tr.terminated && envs.continues_past_truncation(i) {
                truncated_at.push(t * n + i);
                final_observations.extend_from_slice(&tr.observation);
            }
        }
        r.actions.extend_from_slice(&picked.actions);
        r.log_probs.extend_from_slice(&picked.log_probs);
        r.values.extend_from_slice(&values);
        r.episodes.extend(finished);
    }
    // One forward for V(s_T) of every env and V(s_final) of every truncated episode.
    let k = truncated_at.len();
    let mut all = envs.observations.clone();
    all.extend_from_slice(&final_observations);
    let values = host::read(agent.value(host::matrix(all, n + k, d, device))).await?;
    r.next_values = values[..n].to_vec();
    for (&at, &v) in truncated_at.iter().zip(&values[n..]) {
        r.truncation_values[at] = v;
    }
    Ok(r)
}

/// One trajectory of a GRPO group.
#[derive(Clone, Debug, PartialEq)]
pub struct Trajectory {
    /// `(len, obs_dim)`
    pub observations: Vec<f32>,
    /// `(len, action_width)`
    pub actions: Vec<f32>,
    pub log_probs: Vec<f32>,
    pub rewards: Vec<f32>,
    /// The env's internal state before each step and after the last: `(len + 1, state_dim)`,
    /// for replaying the trajectory on a canvas.
    pub states: Vec<Vec<f64>>,
    pub terminated: bool,
    /// Cut by the env's time limit or by `max_completion_length`.
    pub truncated: bool,
}

impl Trajectory {
    pub fn len(&self) -> usize {
        self.log_probs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.log_probs.is_empty()
    }

    pub fn episode_return(&self) -> f64 {
        self.rewards.iter().map(|&r| r as f64).sum()
    }
}

/// Roll out `g` trajectories from the same initial state (`reset_to`), for at most `horizon`
/// steps each; they diverge only through sampling. Members still running are batched into one
/// forward per step.
pub async fn collect_group<P: StochasticPolicy>(
    policy: &P,
    env: impl Into<EnvSpec>,
    initial_state: &[f64],
    g: usize,
    horizon: usize,
    rng: &mut Rng,
    device: &Device,
) -> Result<Vec<Trajectory>, DeviceError> {
    let env: EnvSpec = env.into();
    let width = policy.action_width();
    let mut envs: Vec<Box<dyn Env>> = (0..g).map(|_| env.make_for_agent()).collect();
    let mut current: Vec<Vec<f32>> = envs.iter_mut().map(|e| e.reset_to(initial_state)).collect();
    let mut trajectories: Vec<Trajectory> = envs
        .iter()
        .map(|e| Trajectory {
            observations: Vec::new(),
            actions: Vec::new(),
            log_probs: Vec::new(),
            rewards: Vec::new(),
            states: vec![e.state()],
            terminated: false,
            truncated: false,
        })
        .collect();
    let mut running: Vec<usize> = (0..g).collect();
    let mut noise = policy.noise();
    // A language model reuses its key/value cache from step to step.
    let mut sampler = policy.group_sampler();
    while !running.is_empty() {
        let obs: Vec<f32> = running.iter().flat_map(|&i| current[i].iter().copied()).collect();
        let params = sampler.dist_params(&obs, &running, device);
        let mut sampling = sampling(rng, noise.as_mut(), &running);
        let picked = policy.pick(&host::read(params).await?, running.len(), &mut sampling);
        for (row, &i) in running.iter().enumerate() {
            let action = &picked.actions[row * width..(row + 1) * width];
            let tr = envs[i].step(action);
            let traj = &mut trajectories[i];
            traj.observations.extend_from_slice(&current[i]);
            traj.actions.extend_from_slice(action);
            traj.log_probs.push(picked.log_probs[row]);
            traj.rewards.push(tr.reward as f32);
            traj.states.push(envs[i].state());
            traj.terminated = tr.terminated;
            traj.truncated = !tr.terminated && (tr.truncated || traj.len() >= horizon);
            // Cut by the horizon before the env ended it: what is owed for it as it stands (a
            // text completion's score; nothing for a control task, whose rewards stay untouched).
            let owed = if traj.truncated && !tr.truncated { envs[i].reward_if_cut() } else { 0.0 };
            if owed != 0.0 {
                *traj.rewards.last_mut().expect("a step was taken") += owed as f32;
            }
            current[i] = tr.observation;
        }
        running.retain(|&i| !(trajectories[i].terminated || trajectories[i].truncated));
    }
    Ok(trajectories)
}

/// Trajectories stacked along a new group axis and padded to the longest: every `(T, G)` buffer
/// is time-major (`[t * G + g]`), padded cells hold zeros and `mask` marks the valid ones.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Padded {
    /// Longest trajectory length `T`.
    pub steps: usize,
    /// Trajectories `G`.
    pub width: usize,
    pub obs_dim: usize,
    pub action_width: usize,
    /// `(T, G, obs_dim)`
    pub observations: Vec<f32>,
    /// `(T, G, action_width)`
    pub actions: Vec<f32>,
    pub log_probs: Vec<f32>,
    pub rewards: Vec<f32>,
    /// 1 where `t < len(g)`, else 0.
    pub mask: Vec<f32>,
    pub lengths: Vec<usize>,
}

impl Padded {
    pub fn valid_steps(&self) -> usize {
        self.lengths.iter().sum()
    }
}

/// Stack ragged trajectories into padded `(T, G, ...)` buffers with a validity mask.
pub fn stack_and_pad(trajectories: &[Trajectory], obs_dim: usize, action_width: usize) -> Padded {
    let g = trajectories.len();
    let steps = trajectories.iter().map(Trajectory::len).max().unwrap_or(0);
    let mut p = Padded {
        steps,
        width: g,
        obs_dim,
        action_width,
        observations: vec![0.0; steps * g * obs_dim],
        actions: vec![0.0; steps * g * action_width],
        log_probs: vec![0.0; steps * g],
        rewards: vec![0.0; steps * g],
        mask: vec![0.0; steps * g],
        lengths: trajectories.iter().map(Trajectory::len).collect(),
    };
    for (j, traj) in trajectories.iter().enumerate() {
        for t in 0..traj.len() {
            let cell = t * g + j;
            p.observations[cell * obs_dim..(cell + 1) * obs_dim]
                .copy_from_slice(&traj.observations[t * obs_dim..(t + 1) * obs_dim]);
            p.actions[cell * action_width..(cell + 1) * action_width]
                .copy_from_slice(&traj.actions[t * action_width..(t + 1) * action_width]);
            p.log_probs[cell] = traj.log_probs[t];
            p.rewards[cell] = traj.rewards[t];
            p.mask[cell] = 1.0;
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traj(len: usize, reward: f32) -> Trajectory {
        Trajectory {
            observations: (0..len * 2).map(|i| i as f32 + 1.0).collect(),
            actions: (0..len).map(|i| (i % 2) as f32).collect(),
            log_probs: vec![-0.5; len],
            rewards: vec![reward; len],
            states: vec![vec![0.0]; len + 1],
            terminated: true,
            truncated: false,
        }
    }

    #[test]
    fn stack_and_pad_masks_ragged_lengths() {
        let p = stack_and_pad(&[traj(3, 1.0), traj(1, 2.0), traj(2, 3.0)], 2, 1);
        assert_eq!((p.steps, p.width), (3, 3));
        assert_eq!(p.lengths, vec![3, 1, 2]);
        #[rustfmt::skip]
        assert_eq!(p.mask, vec![
            1.0, 1.0, 1.0,
            1.0, 0.0, 1.0,
            1.0, 0.0, 0.0,
        ]);
        #[rustfmt::skip]
        assert_eq!(p.rewards, vec![
            1.0, 2.0, 3.0,
            1.0, 0.0, 3.0,
            1.0, 0.0, 0.0,
        ]);
        // Cell (t=1, g=2) holds trajectory 2's second observation; padded cells are zero.
        assert_eq!(&p.observations[(3 + 2) * 2..(3 + 2) * 2 + 2], &[3.0, 4.0]);
        assert_eq!(&p.observations[(3 + 1) * 2..(3 + 1) * 2 + 2], &[0.0, 0.0]);
        assert_eq!(p.valid_steps(), 6);
    }
}
