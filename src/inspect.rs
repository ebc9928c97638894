//! The last update's tensors, as the page draws them: PPO's `(T, N)` rollout buffers and
//! GRPO's padded `(T, G)` batch with its mask, plus GRPO's trajectories for replay.

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

/// Completions of the last update's batch: GRPO's last group (the G completions of one prompt,
/// its columns of the padded batch), or the first completions PPO's rollout holds whole.
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

#[derive(Clone, Debug, Default, Serialize)]
pub struct Snapshot {
    pub ppo: Vec<Heatmap>,
    pub grpo: Vec<Heatmap>,
    pub trajectories: Vec<TrajectoryView>,
    /// Trajectories per group (columns `k·G .. (k+1)·G` share an initial state).
    pub group_size: usize,
    /// For a text task.
    pub ppo_completions: Option<Completions>,
    pub grpo_completions: Option<Completions>,
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
        if e.config.run.env.task().is_some() {
            s.ppo_completions = Some(ppo_completions(r, advantages));
        }
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
        if let Some(kl) = &b.kl {
            s.grpo.push(masked("kl", kl.clone()));
        }
        if e.config.run.env.task().is_some() {
            s.grpo_completions = Some(grpo_completions(b, s.group_size));
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

fn tokens(actions: impl IntoIterator<Item = f32>) -> Vec<String> {
    actions.into_iter().map(|a| text::token_text(a as usize)).collect()
}

/// The last group of GRPO's batch: its trajectories are the padded batch's last `g` columns.
fn grpo_completions(b: &GrpoBatch, g: usize) -> Completions {
    let p = &b.padded;
    let first = p.width.saturating_sub(g);
    let column = |values: &[f32], j: usize, len: usize| (0..len).map(|t| values[t * p.width + j]).collect();
    let rows = (first..p.width)
        .map(|j| {
            let tr = &b.trajectories[j];
            let len = tr.len();
            CompletionView {
                prompt: text::split_context(tr.states[0].iter().map(|&t| t as usize)).0,
                tokens: tokens(tr.actions.iter().copied()),
                advantages: column(&b.advantages, j, len),
                ratios: Some(column(&b.ratios, j, len)),
                kl: b.kl.as_ref().map(|kl| column(kl, j, len)),
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
