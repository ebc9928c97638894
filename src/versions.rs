//! Releases, and what each one changed: the defaults a shared link resolves against, and
//! whether the code that runs it has changed since.
//!
//! A link holds only the keys that differ from its version's defaults, so those defaults must
//! never move under it. Version 1's defaults are [`ExperimentConfig::base`], frozen; every later
//! version is an entry of [`VERSIONS`] that lists only what it changed. The defaults of version
//! `k` are the base with the changes of versions 2 … k applied in order, so an old link keeps
//! naming exactly the experiment it named the day it was made.
//!
//! Changing a default: add a version (or extend the newest unreleased one) instead of editing
//! `ExperimentConfig::base`. Adding a key: give it, in its `params!` declaration, the value that
//! reproduces the behaviour before the key existed, and set the new default in a version entry.

use serde::Serialize;

use crate::config::{ExperimentConfig, GrpoConfig, PpoConfig, RewardMode, RunConfig};
use crate::env::EnvId;

impl Default for ExperimentConfig {
    fn default() -> Self {
        Self::for_env(EnvId::CartPole)
    }
}

impl ExperimentConfig {
    /// Today's defaults for an environment (this build's version of them).
    pub fn for_env(env: EnvId) -> Self {
        defaults(env, CURRENT)
    }

    /// Version 1's defaults, frozen: shared links of version 1 resolve against these forever.
    /// Later versions change defaults in [`VERSIONS`], never here.
    ///
    /// CleanRL's for PPO, adjusted per env where a tuned setting (RL Baselines3 Zoo) learns
    /// within the playground's budgets.
    pub fn base(env: EnvId) -> Self {
        let run = RunConfig { env, ..RunConfig::default() };
        let mut ppo = PpoConfig::default();
        let mut grpo = GrpoConfig::default();
        match env {
            EnvId::CartPole => {
                ppo = PpoConfig {
                    num_envs: 8,
                    num_steps: 32,
                    learning_rate: 1e-3,
                    gamma: 0.98,
                    gae_lambda: 0.8,
                    num_minibatches: 1,
                    update_epochs: 20,
                    ent_coef: 0.0,
                    ..ppo
                };
            }
            EnvId::Acrobot | EnvId::MountainCar => {}
            // The text tasks came in version 3, which sets their defaults.
            EnvId::LmReverse | EnvId::LmAdd | EnvId::LmSort => {}
            EnvId::Pendulum | EnvId::MountainCarContinuous => {
                ppo = PpoConfig {
                    num_envs: 4,
                    num_steps: 1024,
                    learning_rate: 1e-3,
                    gamma: 0.9,
                    num_minibatches: 64,
                    update_epochs: 10,
                    ent_coef: 0.0,
                    norm_reward: true,
                    ..ppo
                };
                grpo.reward_mode = RewardMode::Process;
            }
        }
        Self { run, ppo, grpo }
    }
}

/// One default changed by a version: `key` takes `value` for `env` (`None`: every environment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    pub env: Option<EnvId>,
    pub key: &'static str,
    pub value: &'static str,
}

/// A released version after the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version {
    pub number: u32,
    /// The defaults it changed.
    pub defaults: &'static [Change],
    /// What changed in the code that runs an experiment (algorithms, fixes), in a line; empty
    /// when a run of the same settings gives the same results as in the version before.
    pub code: &'static str,
}

/// Default changes per environment: `changes![EnvId::Acrobot => [("total_steps", "500000"), ...], ...]`.
macro_rules! changes {
    ($($env:expr => [$(($key:literal, $value:literal)),* $(,)?]),* $(,)?) => {
        [$($(Change { env: Some($env), key: $key, value: $value },)*)*]
    };
}

/// The same default changes for every text task.
macro_rules! for_text_tasks {
    ($(($key:literal, $value:literal)),* $(,)?) => {
        [$(
            Change { env: Some(EnvId::LmReverse), key: $key, value: $value },
            Change { env: Some(EnvId::LmAdd), key: $key, value: $value },
            Change { env: Some(EnvId::LmSort), key: $key, value: $value },
        )*]
    };
}

/// Every version after the first, oldest first; their numbers are 2, 3, … in order.
pub const VERSIONS: &[Version] = &[
    Version {
        number: 2,
        // RL Baselines3 Zoo's tuned PPO (its `normalize: true` is observation and reward
        // normalisation; SB3's PPO keeps its learning rate constant and takes minibatches of 64),
        // with budgets in which the playground's PPO reaches the README's thresholds.
        defaults: &changes![
            EnvId::Acrobot => [
                ("total_steps", "500000"),
                ("ppo.norm_obs", "true"),
                ("ppo.norm_reward", "true"),
                ("ppo.num_envs", "16"),
                ("ppo.num_steps", "256"),
                ("ppo.gae_lambda", "0.94"),
                ("ppo.num_minibatches", "64"),
                ("ppo.ent_coef", "0"),
                ("ppo.learning_rate", "3e-4"),
                ("ppo.anneal_lr", "false"),
            ],
            EnvId::MountainCar => [
                ("total_steps", "1000000"),
                ("ppo.norm_obs", "true"),
                ("ppo.norm_reward", "true"),
                ("ppo.num_envs", "16"),
                ("ppo.num_steps", "16"),
                ("ppo.gae_lambda", "0.98"),
                ("ppo.num_minibatches", "4"),
                ("ppo.ent_coef", "0"),
                ("ppo.learning_rate", "3e-4"),
                ("ppo.anneal_lr", "false"),
            ],
        ],
        code: "fixes to reward scaling at terminations, padded GRPO cells, the reference refresh \
           and continuous action clipping (the README's version table has them)",
    },
    Version {
        number: 3,
        // The text tasks (new in this version): groups of 16 completions of 16 prompts per GRPO
        // update in 4 optimiser steps, the KL to the frozen base (no reference refresh); PPO over 16
        // parallel completions with undiscounted returns (the reward comes at the last token) and 4
        // optimiser steps per update, since each of its cells is a whole context to score.
        defaults: &for_text_tasks![
            ("total_steps", "500000"),
            ("grpo.num_generations", "16"),
            ("grpo.groups_per_update", "16"),
            ("grpo.num_minibatches", "4"),
            ("grpo.learning_rate", "2e-3"),
            ("grpo.sync_ref_model", "false"),
            ("ppo.num_envs", "16"),
            ("ppo.num_steps", "32"),
            ("ppo.update_epochs", "2"),
            ("ppo.num_minibatches", "2"),
            ("ppo.gamma", "1"),
            ("ppo.learning_rate", "2e-3"),
            ("ppo.ent_coef", "0"),
        ],
        code: "",
    },
    Version {
        number: 4,
        defaults: &[],
        code: "GRPO scores its reference policy through the same path as the policy, so that a policy \
           still at its reference has exactly zero KL gradient (before, float rounding between the \
           two passes, scaled by Adam, moved the policy in updates where no group had a signal)",
    },
    Version {
        number: 5,
        // The continuous tasks explore with gSDE (new in this version), as RL Baselines3 Zoo's tuned
        // PPO does. MountainCarContinuous takes Zoo's settings whole (SB3's value loss has no ½,
        // so its vf_coef 0.19 is 0.38 here; SB3 clips no value loss), with Zoo's budget. Pendulum
        // takes Zoo's gSDE, observation normalisation and unclipped value loss, with γ = 0.99, a
        // constant learning rate of 3e-4 and a clipping ε of 0.1, which learned more steadily here
        // than Zoo's γ = 0.9, 1e-3 and 0.2 (the README has the runs).
        defaults: &changes![
            EnvId::Pendulum => [
                ("sde", "true"),
                ("sde_sample_freq", "4"),
                ("ppo.norm_obs", "true"),
                ("ppo.clip_vloss", "false"),
                ("ppo.vf_coef", "1"),
                ("ppo.gamma", "0.99"),
                ("ppo.learning_rate", "3e-4"),
                ("ppo.anneal_lr", "false"),
                ("ppo.clip_coef", "0.1"),
            ],
            EnvId::MountainCarContinuous => [
                ("total_steps", "20000"),
                ("sde", "true"),
                ("log_std_init", "-3.29"),
                ("ppo.num_envs", "1"),
                ("ppo.num_steps", "8"),
                ("ppo.num_minibatches", "1"),
                ("ppo.update_epochs", "10"),
                ("ppo.gamma", "0.9999"),
                ("ppo.gae_lambda", "0.9"),
                ("ppo.learning_rate", "7.77e-5"),
                ("ppo.anneal_lr", "false"),
                ("ppo.ent_coef", "0.00429"),
                ("ppo.clip_coef", "0.1"),
                ("ppo.max_grad_norm", "5"),
                ("ppo.vf_coef", "0.38"),
                ("ppo.clip_vloss", "false"),
                ("ppo.norm_obs", "true"),
            ],
        ],
        code: "",
    },
    Version {
        number: 6,
        defaults: &[],
        code: "text tasks: a completion ends at EOS or is truncated (at the length limit, by PAD or BOS, \
               or by GRPO's max_completion_length, which now scores the cut text instead of giving 0); \
               PPO bootstraps no value past a truncated completion; an empty completion breaks the format",
    },
    Version {
        number: 7,
        defaults: &[],
        code: "GRPO's gradient over a minibatch of more than 16 trajectories is the sum of its shards' of 16 \
               (which helper workers may compute), equal to the minibatch's own up to float rounding: \
               the text tasks' GRPO runs differ in the last bits, and from there on",
    },
];

/// The newest version of a release table: 1 plus its entries.
pub const fn current_in(versions: &[Version]) -> u32 {
    1 + versions.len() as u32
}

/// The version this build writes into links.
pub const CURRENT: u32 = current_in(VERSIONS);

/// The commit this build was made from (`git describe --always --dirty`; `unknown` outside a
/// git checkout). Set by `build.rs`.
pub const COMMIT: &str = env!("PVG_COMMIT");

/// What a figure was made with: the version and the commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Build {
    pub version: u32,
    pub commit: &'static str,
}

/// This build.
pub const BUILD: Build = Build { version: CURRENT, commit: COMMIT };

/// The defaults of `env` at `version` under the release table `versions`.
///
/// # Panics
/// When `version` is not in `1 ..= current_in(versions)`.
pub fn defaults_in(versions: &[Version], env: EnvId, version: u32) -> ExperimentConfig {
    let current = current_in(versions);
    assert!((1..=current).contains(&version), "version {version} is not in 1 … {current}");
    let mut config = ExperimentConfig::base(env);
    for v in &versions[..version as usize - 1] {
        for change in v.defaults.iter().filter(|c| c.env.is_none_or(|e| e == env)) {
            config
                .set(change.key, change.value)
                .unwrap_or_else(|e| panic!("version {}: {} = {}: {e}", v.number, change.key, change.value));
        }
    }
    config
}

/// The defaults of `env` at `version` of this build's release table.
pub fn defaults(env: EnvId, version: u32) -> ExperimentConfig {
    defaults_in(VERSIONS, env, version)
}

/// Read a link's `v` against the release table `versions`: its version, or why it cannot be used.
pub fn parse_version_in(versions: &[Version], text: &str) -> Result<u32, String> {
    let current = current_in(versions);
    match text.trim().parse::<u32>() {
        Ok(v) if (1..=current).contains(&v) => Ok(v),
        Ok(v) if v > current => Err(format!(
            "this link was made with version {v} of the playground, newer than this page \
             (version {current}): open it where it was made"
        )),
        _ => Err(format!("{text:?} is not a version of the playground (1 … {current})")),
    }
}

/// The one-line notice for a link of `version` opened on this build: `None` when the code
/// that runs it has not changed since.
pub fn notice_in(versions: &[Version], version: u32) -> Option<String> {
    let current = current_in(versions);
    let changed: Vec<&str> =
        versions.iter().filter(|v| v.number > version && !v.code.is_empty()).map(|v| v.code).collect();
    (!changed.is_empty()).then(|| {
        format!(
            "made with version {version}; this page is version {current}: settings are the same, \
             results may differ in detail ({})",
            changed.join("; ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_numbered_in_order_and_every_change_applies() {
        for (i, v) in VERSIONS.iter().enumerate() {
            assert_eq!(v.number, i as u32 + 2);
        }
        for env in EnvId::ALL {
            for version in 1..=CURRENT {
                assert!(defaults(env, version).check().is_empty(), "{env} at version {version}");
            }
        }
    }
}
