//! An update's tensors, as the page draws them: PPO's `(T, N)` rollout buffers and GRPO's padded
//! `(T, G)` batch with its mask, GRPO's trajectories for replay and its groups' summaries. Taken
//! from each algorithm's last update ([`snapshot`]); [`crate::history`] keeps them for earlier ones.

use serde::Serialize;

use crate::env::text;
use crate::experiment::Experiment;
use crate::grpo::GrpoBatch;
use crate::rollout::Rollout;

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

/// One completion of a text task, token by token, for the completions view.
#[derive(Clone, Debug, Serialize)]
pub struct CompletionView {
    /// The prompt after BOS, `=` included (`abc=`).
    pub prompt: String,
    /// The sampled tokens as text, `<eos>` for the end.
    pub tokens: Vec<String>,
    pub advantages: Vec<f32>,
    /// GRPO: each token's ratio `π/π_old` in the last pass.
    pub ratios: Option<Vec<f32>>,
    /// GRPO with `beta > 0`: each token's k3 KL to the reference.
    pub kl: Option<Vec<f32>>,
    /// PPO: the critic's value before each token.
    pub values: Option<Vec<f32>>,
    pub reward: f64,
    /// Cut at the task's length limit, without EOS.
    pub truncated: bool,
}

/// Completions of an update's batch: GRPO's, every group's (group `k`'s G completions of one
/// prompt are rows `k·G .. (k+1)·G`, its columns of the padded batch), or the first completions
/// PPO's rollout holds whole.
#[derive(Clone, Debug, Serialize)]
pub struct Completions {
    /// Cells a row spans: GRPO's padded `T` (a shorter row is padding after its end), or PPO's
    /// longest row.
    pub steps: usize,
    /// Whether the cells after a row's end are padding of a batch (GRPO's), or nothing (PPO's
    /// rollout is `(T, N)` over tokens, without padding).
    pub padded: bool,
    pub rows: Vec<CompletionView>,
}

/// PPO's rows in the completions view, at most as many as GRPO's group.
const PPO_COMPLETIONS: usize = 16;

/// One GRPO group: G trajectories from one initial state (a text task's G completions of one
/// prompt), and the spread of their returns that its advantages normalise.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupSummary {
    /// A text task's prompt (`abc=`).
    pub prompt: Option<String>,
    pub mean: f32,
    pub std: f32,
    pub min: f32,
    pub max: f32,
    pub mean_length: f32,
}

impl GroupSummary {
    /// The groups of `trajectories`, `g` consecutive ones each.
    pub fn of(trajectories: &[crate::rollout::Trajectory], g: usize, text: bool) -> Vec<Self> {
        trajectories
            .chunks(g.max(1))
            .map(|group| {
                let returns: Vec<f64> = group.iter().map(|t| t.episode_return()).collect();
                let n = returns.len() as f64;
                let mean = returns.iter().sum::<f64>() / n;
                let var = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n;
                let prompt = text.then(|| text::split_context(group[0].states[0].iter().map(|&t| t as usize)).0);
                GroupSummary {
                    prompt,
                    mean: mean as f32,
                    std: var.sqrt() as f32,
                    min: returns.iter().copied().fold(f64::INFINITY, f64::min) as f32,
                    max: returns.iter().copied().fold(f64::NEG_INFINITY, f64::max) as f32,
                    mean_length: (group.iter().map(|t| t.len()).sum::<usize>() as f64 / n) as f32,
                }
            })
            .collect()
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Snapshot {
    /// The update each algorithm's part is from (`None`: no part of that algorithm).
    pub ppo_update: Option<usize>,
    pub grpo_update: Option<usize>,
    /// Whether each part holds that update's tensors (heatmaps, trajectories, each token's ratio
    /// and KL), or only what every update keeps (completions, group summaries; see
    /// [`crate::history`]).
    pub ppo_tensors: bool,
    pub grpo_tensors: bool,
    pub ppo: Vec<Heatmap>,
    pub grpo: Vec<Heatmap>,
    pub trajectories: Vec<TrajectoryView>,
    /// Trajectories per group (columns `k·G .. (k+1)·G` share an initial state).
    pub group_size: usize,
    /// For a text task.
    pub ppo_completions: Option<Completions>,
    pub grpo_completions: Option<Completions>,
    /// GRPO's groups, in the batch's order.
    pub groups: Vec<GroupSummary>,
}

impl Snapshot {
    /// PPO's part of `ppo` beside GRPO's part of `grpo`.
    pub fn merge(ppo: Snapshot, grpo: Snapshot) -> Snapshot {
        Snapshot {
            ppo_update: ppo.ppo_update,
            ppo_tensors: ppo.ppo_tensors,
            ppo: ppo.ppo,
            ppo_completions: ppo.ppo_completions,
            ..grpo
        }
    }
}

/// The tensors of each algorithm's last update (empty before the first).
pub fn snapshot(e: &Experiment) -> Snapshot {
    Snapshot::merge(ppo_part(e), grpo_part(e))
}

/// PPO's part of [`snapshot`] alone.
pub fn ppo_part(e: &Experiment) -> Snapshot {
    let mut s = Snapshot { group_size: e.config.grpo.num_generations, ..Snapshot::default() };
    if let Some((r, advantages)) = &e.ppo.last_batch {
        s.ppo_update = Some(e.ppo_track.history.len());
        s.ppo_tensors = true;
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
        if e.config.run.env.task().is_some() {
            s.ppo_completions = Some(ppo_completions(r, advantages));
        }
    }
    s
}

/// GRPO's part of [`snapshot`] alone.
pub fn grpo_part(e: &Experiment) -> Snapshot {
    let mut s = Snapshot { group_size: e.config.grpo.num_generations, ..Snapshot::default() };
    if let Some(b) = &e.grpo.last_batch {
        s.grpo_update = Some(e.grpo_track.history.len());
        s.grpo_tensors = true;
        let text = e.config.run.env.task().is_some();
        s.groups = GroupSummary::of(&b.trajectories, s.group_size, text);
        let p = &b.padded;
        let (ratios, kl) = last_pass(b);
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
            masked("ratios", ratios.clone()),
        ];
        if let Some(kl) = &kl {
            s.grpo.push(masked("kl", kl.clone()));
        }
        if text {
            s.grpo_completions = Some(grpo_completions(b, &ratios, kl.as_deref()));
        }
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

/// The snapshot's numeric arrays, packed into five flat arrays that cross to the page as typed
/// arrays (transferred, not copied): the format `transferable` in `www/js/worker.js` reads.
///
/// - `heatmap_values` (`Float32Array`): every heatmap's values then its mask, the maps in the
///   order of `ppo` then `grpo`; `heatmap_ranges` (`Uint32Array`), four numbers per map:
///   `[values_start, values_end, mask_start, mask_end]` (an empty mask range for none).
/// - `trajectory_states` (`Float64Array`): each trajectory's states, row after row, where all
///   its states have one length; `trajectory_actions` (`Float32Array`): each one's actions;
///   `trajectory_ranges` (`Uint32Array`), five numbers per trajectory: `[state_dim,
///   state_start, state_end, action_start, action_end]`, `state_dim` 0 where its states differ
///   in length (a text task's growing contexts), which then stay in the JSON part as arrays.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Packed {
    pub heatmap_values: Vec<f32>,
    pub heatmap_ranges: Vec<u32>,
    pub trajectory_states: Vec<f64>,
    pub trajectory_actions: Vec<f32>,
    pub trajectory_ranges: Vec<u32>,
}

impl Packed {
    /// Move `s`'s numeric arrays into the packed arrays; the rest of `s` stays (its heatmaps'
    /// `values` and `mask`, and its trajectories' `actions` and packed `states`, left empty).
    pub fn take(s: &mut Snapshot) -> Self {
        let mut p = Packed::default();
        for map in s.ppo.iter_mut().chain(s.grpo.iter_mut()) {
            let start = p.heatmap_values.len();
            p.heatmap_values.append(&mut map.values);
            let mask_start = p.heatmap_values.len();
            p.heatmap_values.append(&mut map.mask.take().unwrap_or_default());
            p.heatmap_ranges.extend([start, mask_start, mask_start, p.heatmap_values.len()].map(|x| x as u32));
        }
        for t in &mut s.trajectories {
            let dim = t.states.first().map_or(0, Vec::len);
            let dim = if t.states.iter().all(|s| s.len() == dim) { dim } else { 0 };
            let start = p.trajectory_states.len();
            if dim > 0 {
                p.trajectory_states.extend(std::mem::take(&mut t.states).into_iter().flatten());
            }
            let action_start = p.trajectory_actions.len();
            p.trajectory_actions.append(&mut t.actions);
            p.trajectory_ranges.extend(
                [dim, start, p.trajectory_states.len(), action_start, p.trajectory_actions.len()].map(|x| x as u32),
            );
        }
        p
    }
}

fn tokens(actions: impl IntoIterator<Item = f32>) -> Vec<String> {
    actions.into_iter().map(|a| text::token_text(a as usize)).collect()
}

/// The importance weights and KL of the last pass over GRPO's batch, each minibatch's columns
/// placed back where they stand in the batch: `(T, G)` matrices (no KL when `beta = 0`).
fn last_pass(b: &GrpoBatch) -> (Vec<f32>, Option<Vec<f32>>) {
    let (steps, g) = (b.padded.steps, b.padded.width);
    let place = |into: &mut [f32], columns: &[usize], values: &[f32]| {
        for (col, &j) in columns.iter().enumerate() {
            for t in 0..steps {
                into[t * g + j] = values[t * columns.len() + col];
            }
        }
    };
    let mut ratios = vec![0f32; steps * g];
    let mut kl = b.last_pass.iter().any(|mb| mb.kl.is_some()).then(|| vec![0f32; steps * g]);
    for mb in &b.last_pass {
        place(&mut ratios, &mb.columns, &mb.ratios);
        if let (Some(into), Some(values)) = (kl.as_mut(), &mb.kl) {
            place(into, &mb.columns, values);
        }
    }
    (ratios, kl)
}

/// Every completion of GRPO's batch, in the order of the padded batch's columns.
fn grpo_completions(b: &GrpoBatch, ratios: &[f32], kl: Option<&[f32]>) -> Completions {
    let p = &b.padded;
    let column = |values: &[f32], j: usize, len: usize| (0..len).map(|t| values[t * p.width + j]).collect();
    let rows = (0..p.width)
        .map(|j| {
            let tr = &b.trajectories[j];
            let len = tr.len();
            CompletionView {
                prompt: text::split_context(tr.states[0].iter().map(|&t| t as usize)).0,
                tokens: tokens(tr.actions.iter().copied()),
                advantages: column(&b.advantages, j, len),
                ratios: Some(column(ratios, j, len)),
                kl: kl.map(|kl| column(kl, j, len)),
                values: None,
                reward: tr.episode_return(),
                truncated: tr.truncated,
            }
        })
        .collect();
    Completions { steps: p.steps, padded: true, rows }
}

/// The completions PPO's rollout holds from their first token to their last, earliest first.
fn ppo_completions(r: &Rollout, advantages: &[f32]) -> Completions {
    let (n_envs, d) = (r.num_envs, r.obs_dim);
    let at = |t: usize, n: usize| t * n_envs + n;
    // The observation before step `t` of env `n`, split into prompt and completion length.
    let context = |t: usize, n: usize| {
        text::split_context(r.observations[at(t, n) * d..(at(t, n) + 1) * d].iter().map(|&o| o as usize))
    };
    let mut whole = Vec::new(); // (start, env, end)
    for n in 0..n_envs {
        let mut start = None;
        for t in 0..r.num_steps {
            if context(t, n).1 == 0 {
                start = Some(t);
            }
            if r.terminated[at(t, n)] || r.truncated[at(t, n)] {
                whole.extend(start.take().map(|s| (s, n, t)));
            }
        }
    }
    whole.sort_unstable();
    let rows: Vec<CompletionView> = whole
        .into_iter()
        .take(PPO_COMPLETIONS)
        .map(|(s, n, e)| {
            let pick = |values: &[f32]| (s..=e).map(|t| values[at(t, n)]).collect::<Vec<f32>>();
            CompletionView {
                prompt: context(s, n).0,
                tokens: tokens((s..=e).map(|t| r.actions[at(t, n) * r.action_width])),
                advantages: pick(advantages),
                ratios: None,
                kl: None,
                values: Some(pick(&r.values)),
                reward: pick(&r.rewards).iter().map(|&x| x as f64).sum(),
                truncated: r.truncated[at(e, n)],
            }
        })
        .collect();
    Completions { steps: rows.iter().map(|r| r.tokens.len()).max().unwrap_or(0), padded: false, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read back as `transferable` in `worker.js` does, the packed arrays give every heatmap and
    /// trajectory its own numbers: the format as its doc writes it down.
    #[test]
    fn the_packed_arrays_read_back_as_the_documented_format_says() {
        let map = |name, values: Vec<f32>, mask: Option<Vec<f32>>| Heatmap {
            name,
            rows: 1,
            cols: values.len(),
            values,
            mask,
            categories: None,
            col_label: "g",
        };
        let trajectory = |states: Vec<Vec<f64>>, actions: Vec<f32>| TrajectoryView {
            states,
            actions,
            episode_return: 0.0,
            terminated: true,
            truncated: false,
        };
        let original = Snapshot {
            ppo: vec![map("rewards", vec![1.0, 2.0], None)],
            grpo: vec![map("advantages", vec![3.0, 4.0, 5.0], Some(vec![1.0, 1.0, 0.0]))],
            trajectories: vec![
                trajectory(vec![vec![0.5, 0.25], vec![0.75, 1.0]], vec![1.0]),
                trajectory(vec![vec![1.0], vec![1.0, 2.0]], vec![7.0]), // contexts grow: stay arrays
            ],
            group_size: 2,
            ..Snapshot::default()
        };
        let mut s = original.clone();
        let p = Packed::take(&mut s);
        for (i, want) in original.ppo.iter().chain(&original.grpo).enumerate() {
            let r = &p.heatmap_ranges[4 * i..4 * i + 4];
            assert_eq!(&p.heatmap_values[r[0] as usize..r[1] as usize], &want.values[..]);
            let mask = &p.heatmap_values[r[2] as usize..r[3] as usize];
            assert_eq!(mask, want.mask.as_deref().unwrap_or(&[]));
        }
        for (i, want) in original.trajectories.iter().enumerate() {
            let r = &p.trajectory_ranges[5 * i..5 * i + 5];
            assert_eq!(&p.trajectory_actions[r[3] as usize..r[4] as usize], &want.actions[..]);
            let states = &p.trajectory_states[r[1] as usize..r[2] as usize];
            match r[0] {
                0 => assert_eq!((states.len(), &s.trajectories[i].states), (0, &want.states)),
                dim => assert_eq!(states.chunks(dim as usize).collect::<Vec<_>>(), want.states.iter().map(Vec::as_slice).collect::<Vec<_>>()),
            }
        }
        assert!(s.ppo[0].values.is_empty() && s.grpo[0].mask.is_none(), "moved, not copied");
    }
}
