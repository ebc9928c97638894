//! Every update of a run, for the page's scrubber: what each update showed, within a stated
//! memory budget.
//!
//! Every update keeps its light part: a text task's completions (each token, its advantage and
//! PPO's value; not the per-token ratios and KL) and GRPO's group summaries. The full tensors
//! (heatmaps, trajectories for the replay, ratios and KL) are kept for at most
//! `RECENT + SPREAD + 1` updates: the last [`RECENT`], the first, and up to [`SPREAD`] spread
//! over the run (the multiples of the least power of two that leaves at most `SPREAD` of them).
//! As a run grows the stride doubles, and an update it drops is never needed again, so the
//! rule holds at every length without re-reading anything.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::inspect::{CompletionView, Completions, GroupSummary, Heatmap, Snapshot, TrajectoryView};

/// The last updates whose full tensors are kept.
pub const RECENT: usize = 8;
/// Earlier updates whose full tensors are kept, spread over the run.
pub const SPREAD: usize = 8;

/// Whether update `m`'s full tensors are kept once the run has `latest` updates.
pub fn keeps(latest: usize, m: usize) -> bool {
    let mut stride = 1;
    while latest / stride > SPREAD {
        stride *= 2;
    }
    m == 1 || m + RECENT > latest || m.is_multiple_of(stride)
}

/// Both algorithms' histories.
#[derive(Clone, Debug, Default)]
pub struct History {
    pub ppo: AlgoHistory,
    pub grpo: AlgoHistory,
}

/// What one algorithm's updates showed: each update's light part, and the full parts
/// [`keeps`] keeps. A part is a [`Snapshot`] holding that algorithm's fields only.
#[derive(Clone, Debug, Default)]
pub struct AlgoHistory {
    light: Vec<Light>,
    full: BTreeMap<usize, Snapshot>,
}

/// How much a history holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Held {
    pub updates: usize,
    /// Updates whose full tensors are kept.
    pub full_updates: Vec<usize>,
    /// Bytes of the kept data (its numbers, text and per-allocation bookkeeping), counted.
    pub bytes: usize,
}

impl AlgoHistory {
    /// Record update `n` (the next one), given as its part of a snapshot. A text task's
    /// trajectories (its contexts) are not kept: the page draws its completions instead.
    pub fn record(&mut self, part: Snapshot, text: bool) {
        let n = self.light.len() + 1;
        self.light.push(Light::of(&part));
        let part = if text { Snapshot { trajectories: Vec::new(), ..part } } else { part };
        self.full.insert(n, part);
        self.full.retain(|&m, _| keeps(n, m));
    }

    pub fn len(&self) -> usize {
        self.light.len()
    }

    pub fn is_empty(&self) -> bool {
        self.light.is_empty()
    }

    /// Update `n`'s part: its full tensors where they were kept, else its light part.
    pub fn part(&self, n: usize) -> Option<Snapshot> {
        if let Some(full) = self.full.get(&n) {
            return Some(full.clone());
        }
        self.light.get(n.checked_sub(1)?).map(Light::part)
    }

    pub fn held(&self) -> Held {
        let light: usize = self.light.iter().map(Light::bytes).sum();
        let full: usize = self.full.values().map(snapshot_bytes).sum();
        Held { updates: self.len(), full_updates: self.full.keys().copied().collect(), bytes: light + full }
    }
}

impl History {
    /// Update `n` of each algorithm (the last one of an algorithm that took fewer), or why not.
    pub fn snapshot(&self, n: usize) -> Result<Snapshot, String> {
        let (p, g) = (self.ppo.len(), self.grpo.len());
        if n == 0 || n > p.max(g) {
            return Err(format!("there is no update {n}: PPO has taken {p} updates, GRPO {g}"));
        }
        let part = |h: &AlgoHistory| h.part(n.min(h.len())).unwrap_or_default();
        Ok(Snapshot::merge(part(&self.ppo), part(&self.grpo)))
    }
}

/// What every update keeps: its completions packed (about 11 kB for lm-reverse's 256 in the
/// page, measured: see the README), and its groups.
#[derive(Clone, Debug, Default)]
struct Light {
    group_size: usize,
    ppo: Option<PackedCompletions>,
    grpo: Option<PackedCompletions>,
    groups: Vec<GroupSummary>,
    ppo_update: Option<usize>,
    grpo_update: Option<usize>,
}

impl Light {
    fn of(s: &Snapshot) -> Self {
        Light {
            group_size: s.group_size,
            ppo: s.ppo_completions.as_ref().map(PackedCompletions::of),
            grpo: s.grpo_completions.as_ref().map(PackedCompletions::of),
            groups: s.groups.clone(),
            ppo_update: s.ppo_update,
            grpo_update: s.grpo_update,
        }
    }

    fn part(&self) -> Snapshot {
        Snapshot {
            ppo_update: self.ppo_update,
            grpo_update: self.grpo_update,
            group_size: self.group_size,
            ppo_completions: self.ppo.as_ref().map(PackedCompletions::unpack),
            grpo_completions: self.grpo.as_ref().map(PackedCompletions::unpack),
            groups: self.groups.clone(),
            ..Snapshot::default()
        }
    }

    fn bytes(&self) -> usize {
        let packed = |p: &Option<PackedCompletions>| p.as_ref().map_or(0, PackedCompletions::bytes);
        size_of::<Self>() + packed(&self.ppo) + packed(&self.grpo) + groups_bytes(&self.groups)
    }
}

/// Completions in a few flat arrays: each token an index into the update's own vocabulary of
/// token texts, each row's tokens a range of `tokens` (and of the per-token floats).
#[derive(Clone, Debug, Default)]
struct PackedCompletions {
    steps: usize,
    padded: bool,
    texts: Vec<String>,
    /// Row `i`'s tokens are `tokens[ends[i - 1]..ends[i]]`.
    ends: Vec<u32>,
    tokens: Vec<u8>,
    prompts: Vec<u16>,
    advantages: Vec<f32>,
    /// PPO's values (empty for GRPO).
    values: Vec<f32>,
    rewards: Vec<f64>,
    truncated: Vec<bool>,
}

impl PackedCompletions {
    fn of(c: &Completions) -> Self {
        let mut p = PackedCompletions { steps: c.steps, padded: c.padded, ..Self::default() };
        let index = |p: &mut Self, text: &str| match p.texts.iter().position(|t| t == text) {
            Some(i) => i,
            None => {
                p.texts.push(text.to_string());
                p.texts.len() - 1
            }
        };
        for row in &c.rows {
            let prompt = index(&mut p, &row.prompt) as u16;
            p.prompts.push(prompt);
            for t in &row.tokens {
                let i = index(&mut p, t) as u8;
                p.tokens.push(i);
            }
            p.ends.push(p.tokens.len() as u32);
            p.advantages.extend(&row.advantages);
            p.values.extend(row.values.iter().flatten());
            p.rewards.push(row.reward);
            p.truncated.push(row.truncated);
        }
        p
    }

    fn unpack(&self) -> Completions {
        let rows = (0..self.ends.len())
            .map(|i| {
                let (start, end) =
                    (if i == 0 { 0 } else { self.ends[i - 1] as usize }, self.ends[i] as usize);
                CompletionView {
                    prompt: self.texts[self.prompts[i] as usize].clone(),
                    tokens: self.tokens[start..end].iter().map(|&t| self.texts[t as usize].clone()).collect(),
                    advantages: self.advantages[start..end].to_vec(),
                    ratios: None,
                    kl: None,
                    values: (!self.values.is_empty()).then(|| self.values[start..end].to_vec()),
                    reward: self.rewards[i],
                    truncated: self.truncated[i],
                }
            })
            .collect();
        Completions { steps: self.steps, padded: self.padded, rows }
    }

    fn bytes(&self) -> usize {
        size_of::<Self>()
            + self.texts.iter().map(|t| size_of::<String>() + t.len()).sum::<usize>()
            + self.ends.len() * 4
            + self.tokens.len()
            + self.prompts.len() * 2
            + (self.advantages.len() + self.values.len()) * 4
            + self.rewards.len() * 8
            + self.truncated.len()
    }
}

/// Bytes a full part holds, counted as [`AlgoHistory::held`] does.
fn snapshot_bytes(s: &Snapshot) -> usize {
    let vec = size_of::<Vec<f32>>();
    let map = |m: &Heatmap| size_of::<Heatmap>() + 4 * (m.values.len() + m.mask.as_ref().map_or(0, Vec::len));
    let trajectory = |t: &TrajectoryView| {
        size_of::<TrajectoryView>()
            + t.states.iter().map(|s| vec + 8 * s.len()).sum::<usize>()
            + 4 * t.actions.len()
    };
    let row = |r: &CompletionView| {
        let floats = |v: &Option<Vec<f32>>| v.as_ref().map_or(0, |v| 4 * v.len());
        size_of::<CompletionView>()
            + r.prompt.len()
            + r.tokens.iter().map(|t| size_of::<String>() + t.len()).sum::<usize>()
            + 4 * r.advantages.len()
            + floats(&r.ratios)
            + floats(&r.kl)
            + floats(&r.values)
    };
    let completions = |c: &Option<Completions>| c.as_ref().map_or(0, |c| c.rows.iter().map(row).sum());
    size_of::<Snapshot>()
        + s.ppo.iter().chain(&s.grpo).map(map).sum::<usize>()
        + s.trajectories.iter().map(trajectory).sum::<usize>()
        + completions(&s.ppo_completions)
        + completions(&s.grpo_completions)
        + groups_bytes(&s.groups)
}

/// Bytes of group summaries, counted as [`AlgoHistory::held`] does.
fn groups_bytes(groups: &[GroupSummary]) -> usize {
    groups.iter().map(|g| size_of::<GroupSummary>() + g.prompt.as_ref().map_or(0, String::len)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_run_keeps_the_first_the_recent_and_a_spread_of_full_updates() {
        for latest in [1, 5, 9, 17, 100, 1000, 4097] {
            let kept: Vec<usize> = (1..=latest).filter(|&m| keeps(latest, m)).collect();
            assert!(kept.len() <= RECENT + SPREAD + 1, "{latest}: {} kept", kept.len());
            assert!(kept.contains(&1) && kept.contains(&latest));
            assert!((latest.saturating_sub(RECENT - 1).max(1)..=latest).all(|m| kept.contains(&m)));
            // What a longer run keeps, a shorter one kept too: nothing dropped comes back.
            assert!(kept.iter().all(|&m| (m..=latest).all(|shorter| keeps(shorter, m))), "{latest}");
        }
        let kept: Vec<usize> = (1..=1000).filter(|&m| keeps(1000, m)).collect();
        assert_eq!(kept, [1, 128, 256, 384, 512, 640, 768, 896, 993, 994, 995, 996, 997, 998, 999, 1000]);
    }

    fn row(prompt: &str, tokens: &[&str], advantage: f32, values: bool) -> CompletionView {
        let n = tokens.len();
        CompletionView {
            prompt: prompt.into(),
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            advantages: (0..n).map(|i| advantage + i as f32).collect(),
            ratios: (!values).then(|| vec![1.5; n]),
            kl: None,
            values: values.then(|| (0..n).map(|i| -(i as f32)).collect()),
            reward: advantage as f64,
            truncated: n > 2,
        }
    }

    /// A light update gives back its completions exactly, less the per-token ratios and KL.
    #[test]
    fn packed_completions_unpack_to_what_they_were_less_ratios_and_kl() {
        let grpo = Completions {
            steps: 3,
            padded: true,
            rows: vec![row("ab=", &["b", "a", "<eos>"], 0.5, false), row("ab=", &["<eos>"], -0.5, false)],
        };
        let ppo = Completions { steps: 2, padded: false, rows: vec![row("cd=", &["d", "c"], 1.0, true)] };
        let part = |ppo_completions, grpo_completions| Snapshot {
            ppo_update: Some(1),
            ppo_completions,
            grpo_completions,
            ..Snapshot::default()
        };
        let light = Light::of(&part(Some(ppo.clone()), Some(grpo.clone()))).part();
        let without = |mut c: Completions| {
            c.rows.iter_mut().for_each(|r| r.ratios = None);
            serde_json::to_string(&c).unwrap()
        };
        assert_eq!(without(light.grpo_completions.unwrap()), without(grpo));
        assert_eq!(without(light.ppo_completions.unwrap()), without(ppo));
        assert_eq!(light.ppo_update, Some(1));
    }

    #[test]
    fn every_update_is_there_full_or_light_and_no_other() {
        let mut h = History::default();
        for n in 1..=40 {
            let map = Heatmap {
                name: "rewards",
                rows: 1,
                cols: 1,
                values: vec![n as f32],
                mask: None,
                categories: None,
                col_label: "n",
            };
            h.ppo.record(
                Snapshot { ppo_update: Some(n), ppo_tensors: true, ppo: vec![map], ..Snapshot::default() },
                false,
            );
        }
        for n in 1..=40 {
            let s = h.snapshot(n).unwrap();
            assert_eq!(s.ppo_update, Some(n));
            assert_eq!(s.ppo_tensors, keeps(40, n), "{n}");
            if s.ppo_tensors {
                assert_eq!(s.ppo[0].values, [n as f32]);
            } else {
                assert!(s.ppo.is_empty());
            }
        }
        assert!(h.snapshot(0).is_err() && h.snapshot(41).unwrap_err().contains("PPO has taken 40 updates"));
        let held = h.ppo.held();
        assert_eq!((held.updates, held.full_updates.len()), (40, (1..=40).filter(|&m| keeps(40, m)).count()));
    }
}
