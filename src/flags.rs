//! Known failure modes, read off a run's metrics: each flag names the update where it starts,
//! what it means and what to try. One pure function of the history ([`scan`]), so the page and
//! the tests read the same flags from the same numbers.
//!
//! A flag is raised at the first update of a stretch where its condition holds, and raised again
//! only after the condition has been off for [`REARM_UPDATES`] updates: one line where a problem
//! starts, not one per update while it lasts.

use serde::Serialize;

use crate::metrics::UpdateMetrics;

/// GRPO: a group whose G rewards are all equal has zero advantage and adds no gradient. From
/// half of the groups on, most of the batch is spent for nothing (DAPO's dynamic sampling drops
/// such groups for this reason; TRL logs the share as `frac_reward_zero_std`).
pub const NO_SIGNAL_SHARE: f64 = 0.5;
/// Entropy below this share of the run's first update's: the policy has become nearly
/// deterministic, so exploration (and, for GRPO, the spread within groups) is gone. Only for a
/// discrete policy (categorical, the language model), whose entropy is positive; a Gaussian's
/// differential entropy falls below zero as it rightly narrows.
pub const ENTROPY_COLLAPSE_SHARE: f64 = 0.1;
/// A KL (GRPO's to the reference, or the approx-KL between the acting and the updated policy) at
/// this many times the median of the last [`RECENT_UPDATES`] updates' (GRPO's KL to the
/// reference at the first update: 0, for policy and reference agree before it)...
pub const KL_JUMP_FACTOR: f64 = 10.0;
/// ...and above this (nats per step): SB3 suggests a `target_kl` of 0.01 to 0.05 and Spinning Up
/// stops PPO's epochs at 1.5 × 0.01; beyond 0.05 an update has left the trust region.
pub const APPROX_KL_JUMP_FLOOR: f64 = 0.05;
/// ...and, for GRPO's KL to the reference, above one nat per step: more, at every step, than the
/// whole entropy of a fair coin (ln 2 ≈ 0.69). The text tasks' defaults stay under it after their
/// first update (lm-reverse 0.18, lm-sort 0.77), but for lm-add's (14.6: Adam's first step moves
/// every entry of LoRA's zero-initialised B by about the learning rate at once).
pub const REFERENCE_KL_JUMP_FLOOR: f64 = 1.0;
/// Updates whose median is a KL's baseline.
pub const RECENT_UPDATES: usize = 5;
/// The share of ratios clipped above which the clipped surrogate gives most steps no gradient:
/// PPO's clipping (ε = 0.2) is tuned for 0.1–0.2 of them (CleanRL's runs; the PPO paper's ε).
pub const CLIP_FRACTION_HIGH: f64 = 0.3;
/// PPO's critic explains less of the returns than their mean would (explained variance < 0) for
/// this many updates in a row, after the first [`WARMUP_UPDATES`], where a fresh critic is
/// expected to: its advantages are noise.
pub const NEGATIVE_EV_UPDATES: usize = 5;
/// Updates a fresh critic gets before its explained variance is judged.
pub const WARMUP_UPDATES: usize = 10;
/// The gradient's norm below this share of the run's first update's (or exactly zero): the
/// update no longer moves the policy.
pub const VANISHED_GRAD_SHARE: f64 = 1e-4;
/// Updates a condition must be off before its flag is raised again.
pub const REARM_UPDATES: usize = 10;

/// A known failure mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    NoSignal,
    EntropyCollapse,
    KlJump,
    ClipFractionHigh,
    NegativeExplainedVariance,
    SignalVanished,
}

/// One flag: where it starts and one line saying what it means and what to try.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Flag {
    pub kind: FlagKind,
    /// The update where the condition starts to hold (1-based, as `UpdateMetrics::update`).
    pub update: usize,
    pub message: String,
}

/// Every flag of a run's history, in order of update. `discrete`: the policy's actions are
/// categorical (a control task with discrete actions, or a text task).
pub fn scan(history: &[UpdateMetrics], discrete: bool) -> Vec<Flag> {
    let mut flags = Vec::new();
    // Per kind: the last update where its condition held.
    let mut last_held: Vec<(FlagKind, usize)> = Vec::new();
    for (i, m) in history.iter().enumerate() {
        for (kind, message) in conditions(&history[..i], m, history.first(), discrete) {
            let previous = last_held.iter_mut().find(|(k, _)| *k == kind);
            let rearmed = previous.as_ref().is_none_or(|(_, at)| m.update > at + REARM_UPDATES);
            if rearmed {
                flags.push(Flag { kind, update: m.update, message });
            }
            match previous {
                Some((_, at)) => *at = m.update,
                None => last_held.push((kind, m.update)),
            }
        }
    }
    flags
}

/// The conditions that hold at update `m`, after `before`, with their lines.
fn conditions(
    before: &[UpdateMetrics],
    m: &UpdateMetrics,
    first: Option<&UpdateMetrics>,
    discrete: bool,
) -> Vec<(FlagKind, String)> {
    let mut held = Vec::new();
    if let Some(share) = m.zero_std_fraction.filter(|&s| s >= NO_SIGNAL_SHARE) {
        held.push((
            FlagKind::NoSignal,
            format!(
                "{:.0}% of GRPO's groups had all their rewards equal: zero advantage, no gradient from them. \
                 Try more generations per group, a graded reward (a text task's text_reward=lcs), or a task the policy sometimes solves.",
                100.0 * share
            ),
        ));
    }
    if let Some(first) =
        first.filter(|f| discrete && f.entropy > 0.0 && m.entropy < ENTROPY_COLLAPSE_SHARE * f.entropy)
    {
        held.push((
            FlagKind::EntropyCollapse,
            format!(
                "entropy {:.3} is under {:.0}% of its start ({:.3}): the policy is nearly deterministic and stops exploring. \
                 Try a lower learning rate, an entropy bonus (ppo.ent_coef), or a higher temperature.",
                m.entropy,
                100.0 * ENTROPY_COLLAPSE_SHARE,
                first.entropy
            ),
        ));
    }
    let recent = |value: fn(&UpdateMetrics) -> Option<f64>| {
        median(before.iter().rev().take(RECENT_UPDATES).filter_map(value))
    };
    // No baseline before the first update: the median of nothing.
    let approx_kl_jump = recent(|u| Some(u.approx_kl))
        .filter(|&baseline| m.approx_kl > APPROX_KL_JUMP_FLOOR && m.approx_kl > KL_JUMP_FACTOR * baseline);
    // GRPO's reference KL is 0 before the first update: the policy starts as the reference.
    let reference_kl_jump = m.kl.filter(|&kl| kl > REFERENCE_KL_JUMP_FLOOR).filter(|&kl| {
        let baseline = if before.is_empty() { Some(0.0) } else { recent(|u| u.kl) };
        baseline.is_some_and(|b| kl > KL_JUMP_FACTOR * b)
    });
    if let Some(kl) = reference_kl_jump {
        held.push((
            FlagKind::KlJump,
            format!(
                "the KL to the reference jumped to {kl:.3} nats per step (over {KL_JUMP_FACTOR}× its recent median): the policy is leaving the reference fast. \
                 Try a lower learning rate or a larger β (grpo.beta)."
            ),
        ));
    } else if let Some(baseline) = approx_kl_jump {
        held.push((
            FlagKind::KlJump,
            format!(
                "approx-KL jumped to {:.3} (recent median {baseline:.4}): one update moved the policy far from the one that acted. \
                 Try a lower learning rate, fewer epochs, or a target KL.",
                m.approx_kl
            ),
        ));
    }
    if m.clip_fraction > CLIP_FRACTION_HIGH {
        held.push((
            FlagKind::ClipFractionHigh,
            format!(
                "{:.0}% of the probability ratios were clipped (the clip range is tuned for 10–20%): most steps give the surrogate no gradient. \
                 Try a lower learning rate or fewer epochs per batch.",
                100.0 * m.clip_fraction
            ),
        ));
    }
    let negative_ev = |u: &UpdateMetrics| u.explained_variance.is_some_and(|ev| ev < 0.0);
    let streak = before.iter().rev().take_while(|u| negative_ev(u)).count() + 1;
    if negative_ev(m) && m.update > WARMUP_UPDATES && streak >= NEGATIVE_EV_UPDATES {
        held.push((
            FlagKind::NegativeExplainedVariance,
            format!(
                "the critic's explained variance has been below zero for {streak} updates: its values predict the returns worse than their mean, so the advantages are noise. \
                 Try a larger value coefficient (ppo.vf_coef), normalised rewards, or a lower γ."
            ),
        ));
    }
    let vanished = |f: &&UpdateMetrics| {
        f.grad_norm > 0.0 && !before.is_empty() && m.grad_norm < VANISHED_GRAD_SHARE * f.grad_norm
    };
    if let Some(first) = first.filter(vanished) {
        held.push((
            FlagKind::SignalVanished,
            format!(
                "the gradient's norm fell to {:.2e} (from {:.2e} at the first update): the update no longer changes the policy. \
                 Look at the groups' rewards (all equal?) and the entropy.",
                m.grad_norm, first.grad_norm
            ),
        ));
    }
    held
}

fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A quiet run: entropy, KL, clipping and the critic as a healthy PPO or GRPO run has them.
    fn quiet(update: usize) -> UpdateMetrics {
        UpdateMetrics {
            update,
            entropy: 0.69 - 0.002 * update as f64,
            approx_kl: 0.004,
            clip_fraction: 0.12,
            grad_norm: 0.5,
            explained_variance: Some(if update < 4 { -0.3 } else { 0.6 }),
            kl: Some(0.01),
            zero_std_fraction: Some(0.1),
            ..Default::default()
        }
    }

    fn history(n: usize, change: impl Fn(&mut UpdateMetrics)) -> Vec<UpdateMetrics> {
        (1..=n)
            .map(|u| {
                let mut m = quiet(u);
                change(&mut m);
                m
            })
            .collect()
    }

    fn kinds(flags: &[Flag]) -> Vec<(FlagKind, usize)> {
        flags.iter().map(|f| (f.kind, f.update)).collect()
    }

    #[test]
    fn a_quiet_run_raises_nothing() {
        assert_eq!(scan(&history(200, |_| {}), true), vec![]);
    }

    #[test]
    fn groups_without_signal() {
        let h = history(30, |m| {
            if (5..=8).contains(&m.update) || m.update == 12 || m.update >= 25 {
                m.zero_std_fraction = Some(if m.update == 12 { 0.5 } else { 1.0 });
            }
        });
        let flags = scan(&h, true);
        // 5–8 and 12 are one problem (off for 3 updates only); 25 is a new one.
        assert_eq!(kinds(&flags), vec![(FlagKind::NoSignal, 5), (FlagKind::NoSignal, 25)]);
        assert!(
            flags[0].message.starts_with("100% of GRPO's groups had all their rewards equal"),
            "{}",
            flags[0].message
        );
        // Below the share: nothing.
        assert_eq!(scan(&history(30, |m| m.zero_std_fraction = Some(0.49)), true), vec![]);
    }

    #[test]
    fn entropy_collapse_on_discrete_policies_only() {
        let h = history(40, |m| {
            if m.update >= 20 {
                m.entropy = 0.06;
            }
        });
        assert_eq!(kinds(&scan(&h, true)), vec![(FlagKind::EntropyCollapse, 20)]);
        // A Gaussian's differential entropy may fall below zero as it rightly narrows.
        assert_eq!(scan(&h, false), vec![]);
    }

    #[test]
    fn approx_kl_jump() {
        let h = history(20, |m| {
            if m.update == 12 {
                m.approx_kl = 0.3;
            }
        });
        let flags = scan(&h, true);
        assert_eq!(kinds(&flags), vec![(FlagKind::KlJump, 12)]);
        assert!(flags[0].message.starts_with("approx-KL jumped to 0.300"), "{}", flags[0].message);
        // High but steady (a run tuned that way) is no jump; nor is a jump below the floor.
        assert_eq!(scan(&history(20, |m| m.approx_kl = 0.3), true), vec![]);
        assert_eq!(
            scan(&history(20, |m| m.approx_kl = if m.update == 12 { 0.04 } else { 0.001 }), true),
            vec![]
        );
    }

    #[test]
    fn reference_kl_jump_counts_from_zero_at_the_start() {
        // The first update: policy and reference agreed before it, so any KL over the floor jumped.
        let h = history(20, |m| m.kl = Some(if m.update == 1 { 14.6 } else { 0.01 }));
        let flags = scan(&h, true);
        assert_eq!(kinds(&flags), vec![(FlagKind::KlJump, 1)]);
        assert!(
            flags[0].message.starts_with("the KL to the reference jumped to 14.600"),
            "{}",
            flags[0].message
        );
        let later = history(20, |m| m.kl = Some(if m.update == 9 { 1.5 } else { 0.02 }));
        // Under the floor: a level, not a jump (lm-reverse's defaults hold 0.12–0.18 from the start).
        assert_eq!(
            scan(&history(20, |m| m.kl = Some(if m.update == 1 { 0.18 } else { 0.15 })), true),
            vec![]
        );
        assert_eq!(kinds(&scan(&later, true)), vec![(FlagKind::KlJump, 9)]);
    }

    #[test]
    fn clipping_too_much() {
        let h = history(20, |m| m.clip_fraction = if m.update >= 7 { 0.45 } else { 0.1 });
        assert_eq!(kinds(&scan(&h, true)), vec![(FlagKind::ClipFractionHigh, 7)]);
        assert_eq!(scan(&history(20, |m| m.clip_fraction = 0.3), true), vec![], "at the threshold");
    }

    #[test]
    fn a_critic_that_explains_nothing() {
        // Negative from the start: judged after the warm-up, once five updates in a row say so.
        let h = history(30, |m| m.explained_variance = Some(-0.2));
        let flags = scan(&h, true);
        assert_eq!(kinds(&flags), vec![(FlagKind::NegativeExplainedVariance, WARMUP_UPDATES + 1)]);
        assert!(flags[0].message.contains("below zero for 11 updates"), "{}", flags[0].message);
        // Four negative updates after the warm-up are not yet a streak.
        let short = history(30, |m| {
            m.explained_variance = Some(if (15..=18).contains(&m.update) { -0.2 } else { 0.5 })
        });
        assert_eq!(scan(&short, true), vec![]);
        // GRPO has no critic.
        assert_eq!(scan(&history(30, |m| m.explained_variance = None), true), vec![]);
    }

    #[test]
    fn a_gradient_that_vanished() {
        let h = history(20, |m| m.grad_norm = if m.update >= 15 { 0.0 } else { 0.5 });
        assert_eq!(kinds(&scan(&h, true)), vec![(FlagKind::SignalVanished, 15)]);
        let small = history(20, |m| m.grad_norm = if m.update >= 15 { 4e-5 } else { 0.5 });
        assert_eq!(kinds(&scan(&small, true)), vec![(FlagKind::SignalVanished, 15)]);
        // Zero from the first update: nothing vanished (no-signal groups say why, when they are).
        assert_eq!(scan(&history(20, |m| m.grad_norm = 0.0), true), vec![]);
    }

    #[test]
    fn a_flag_comes_back_after_it_was_off_long_enough() {
        let h = history(40, |m| {
            m.clip_fraction = if m.update == 5 || m.update == 14 || m.update == 30 { 0.5 } else { 0.1 }
        });
        // 14 is 9 updates after 5 (still the same problem); 30 is 16 after 14.
        assert_eq!(
            kinds(&scan(&h, true)),
            vec![(FlagKind::ClipFractionHigh, 5), (FlagKind::ClipFractionHigh, 30)]
        );
    }
}
