//! The last update's tensors, as the page draws them: PPO's `(T, N)` rollout buffers and
//! GRPO's padded `(T, G)` batch with its mask, plus GRPO's trajectories for replay.

use serde::Serialize;

use crate::experiment::Experiment;

/// One `(rows = T, cols)` matrix, time-major (`values[t * cols + c]`).
#[derive(Clone, Debug, Serialize)]
pub struct Heatmap {
    pub name: &'static str,
    pub rows: usize,
    pub cols: usize,
    pub values: Vec<f32>,
    /// 1 on valid cells, 0 on padding (GRPO only).
    pub mask: Option<Vec<f32>>,
    /// Names of the values of a categorical matrix (e.g. done flags), indexed by value.
    pub categories: Option<Vec<&'static str>>,
    /// What a column is: `"n"` (environment) or `"g"` (group member).
    pub col_label: &'static str,
}

/// One GRPO trajectory, for drawing the environment step by step.
#[derive(Clone, Debug, Serialize)]
pub struct TrajectoryView {
    /// Internal env state before each step and after the last.
    pub states: Vec<Vec<f64>>,
    pub actions: Vec<f32>,
    pub episode_return: f64,
    pub terminated: bool,
    pub truncated: bool,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Snapshot {
    pub ppo: Vec<Heatmap>,
    pub grpo: Vec<Heatmap>,
    pub trajectories: Vec<TrajectoryView>,
    /// Trajectories per group (columns `k·G .. (k+1)·G` share an initial state).
    pub group_size: usize,
}

/// The tensors of each algorithm's last update (empty before the first).
pub fn snapshot(e: &Experiment) -> Snapshot {
    let mut s = Snapshot { group_size: e.config.grpo.num_generations, ..Snapshot::default() };
    if let Some((r, advantages)) = &e.ppo.last_batch {
        let (rows, cols) = (r.num_steps, r.num_envs);
        let plain = |name, values: Vec<f32>| Heatmap {
            name,
            rows,
            cols,
            values,
            mask: None,
            categories: None,
            col_label: "n",
        };
        let dones = r
            .terminated
            .iter()
            .zip(&r.truncated)
            .map(|(&term, &trunc)| {
                if term {
                    1.0
                } else if trunc {
                    2.0
                } else {
                    0.0
                }
            })
            .collect();
        s.ppo = vec![
            plain("rewards", r.rewards.clone()),
            plain("values", r.values.clone()),
            plain("advantages", advantages.clone()),
            Heatmap { categories: Some(vec!["running", "terminated", "truncated"]), ..plain("dones", dones) },
        ];
    }
    if let Some(b) = &e.grpo.last_batch {
        let p = &b.padded;
        let masked = |name, values: Vec<f32>| Heatmap {
            name,
            rows: p.steps,
            cols: p.width,
            values,
            mask: Some(p.mask.clone()),
            categories: None,
            col_label: "g",
        };
        s.grpo = vec![
            masked("rewards", p.rewards.clone()),
            Heatmap { categories: Some(vec!["padding", "valid"]), ..masked("mask", p.mask.clone()) },
            masked("advantages", b.advantages.clone()),
            masked("ratios", b.ratios.clone()),
        ];
        s.trajectories = b
            .trajectories
            .iter()
            .map(|t| TrajectoryView {
                states: t.states.clone(),
                actions: t.actions.clone(),
                episode_return: t.episode_return(),
                terminated: t.terminated,
                truncated: t.truncated,
            })
            .collect();
    }
    s
}
