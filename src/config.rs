//! Every knob of an experiment, declared once.
//!
//! Each section (`run`, `ppo`, `grpo`) is one `params!` declaration: field, type, default, range
//! and a one-line doc, as in CleanRL's `Args`. From that single declaration come the serde
//! struct, the `key=value` setter used by the CLI's `--set`, the page's form and shared URLs,
//! and the key table in the README (`pvg keys`). This file only declares: the released defaults
//! of every environment (version 1's and each later version's changes) live in `versions.rs`.

use serde::{Deserialize, Serialize};

use crate::env::EnvId;

/// The type and allowed values of one parameter.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ParamKind {
    Int { min: f64, max: f64 },
    Float { min: f64, max: f64 },
    Bool,
    Choice { options: Vec<&'static str> },
}

/// One parameter's declaration: its key, meaning, allowed values and the environments it
/// changes a run on.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ParamSpec {
    pub key: String,
    pub doc: &'static str,
    #[serde(flatten)]
    pub kind: ParamKind,
    #[serde(skip)]
    pub scope: Scope,
}

/// The environments a key changes a run on; the page hides it elsewhere. Declared with the key
/// (`, for text` in its `params!` entry), and stated at the start of its doc.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scope {
    #[default]
    All,
    /// Text tasks only (the language model's keys; their docs begin "text tasks:").
    Text,
    /// Control tasks only: their model is the shipped base's architecture, and their
    /// observations are token ids, which are not standardised.
    Control,
    /// Continuous actions only (the Gaussian policy's keys; their docs begin "continuous
    /// actions").
    Continuous,
}

impl Scope {
    /// Whether a key of this scope changes a run on `env`.
    pub fn includes(self, env: EnvId) -> bool {
        match self {
            Scope::All => true,
            Scope::Text => env.task().is_some(),
            Scope::Control => env.task().is_none(),
            Scope::Continuous => !env.action_space().is_discrete(),
        }
    }
}

/// A value a parameter can hold: parsed from and written to the text of a URL or CLI flag.
pub trait ParamValue: Sized {
    fn parse(text: &str) -> Result<Self, String>;
    fn render(&self) -> String;
    /// The kind, given the declared range (numbers only).
    fn kind(range: Option<(f64, f64)>) -> ParamKind;
    /// The value as a number, for range checks.
    fn as_number(&self) -> Option<f64> {
        None
    }
}

fn parse_number(text: &str) -> Result<f64, String> {
    let v: f64 = text.trim().parse().map_err(|_| format!("'{text}' is not a number"))?;
    if v.is_finite() { Ok(v) } else { Err(format!("'{text}' is not a finite number")) }
}

macro_rules! int_param {
    ($($t:ty),*) => {$(
        impl ParamValue for $t {
            fn parse(text: &str) -> Result<Self, String> {
                let v = parse_number(text)?;
                if v.fract() != 0.0 {
                    return Err(format!("'{text}' is not a whole number"));
                }
                if v < <$t>::MIN as f64 || v > <$t>::MAX as f64 {
                    return Err(format!("'{text}' is out of range"));
                }
                Ok(v as $t)
            }
            fn render(&self) -> String {
                self.to_string()
            }
            fn kind(range: Option<(f64, f64)>) -> ParamKind {
                let (min, max) = range.unwrap_or((<$t>::MIN as f64, <$t>::MAX as f64));
                ParamKind::Int { min, max }
            }
            fn as_number(&self) -> Option<f64> {
                Some(*self as f64)
            }
        }
    )*};
}
int_param!(usize, u64);

impl ParamValue for f64 {
    fn parse(text: &str) -> Result<Self, String> {
        parse_number(text)
    }
    fn render(&self) -> String {
        // The shortest text that parses back to the same f64 (both of Rust's forms guarantee the
        // round trip): `3e-4` rather than `0.0003`, `0.2` rather than `2e-1`.
        let (plain, scientific) = (format!("{self}"), format!("{self:e}"));
        if scientific.len() < plain.len() { scientific } else { plain }
    }
    fn kind(range: Option<(f64, f64)>) -> ParamKind {
        let (min, max) = range.unwrap_or((f64::MIN, f64::MAX));
        ParamKind::Float { min, max }
    }
    fn as_number(&self) -> Option<f64> {
        Some(*self)
    }
}

impl ParamValue for bool {
    fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(format!("'{text}' is not true or false")),
        }
    }
    fn render(&self) -> String {
        self.to_string()
    }
    fn kind(_: Option<(f64, f64)>) -> ParamKind {
        ParamKind::Bool
    }
}

/// A string-valued enum usable as a parameter.
macro_rules! choice {
    ($(#[doc = $doc:literal])* $name:ident { $($(#[doc = $vdoc:literal])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[doc = $doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
        pub enum $name { $($(#[doc = $vdoc])* #[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const OPTIONS: &'static [&'static str] = &[$($text),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl ParamValue for $name {
            fn parse(text: &str) -> Result<Self, String> {
                match text.trim() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!("'{text}' is not one of {}", Self::OPTIONS.join(", "))),
                }
            }
            fn render(&self) -> String {
                self.as_str().to_string()
            }
            fn kind(_: Option<(f64, f64)>) -> ParamKind {
                ParamKind::Choice { options: Self::OPTIONS.to_vec() }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

impl ParamValue for EnvId {
    fn parse(text: &str) -> Result<Self, String> {
        text.trim().parse()
    }
    fn render(&self) -> String {
        self.name().to_string()
    }
    fn kind(_: Option<(f64, f64)>) -> ParamKind {
        ParamKind::Choice { options: EnvId::ALL.iter().map(|e| e.name()).collect() }
    }
}

/// A section of parameters: introspection and `key=value` access generated by `params!`.
pub trait Params {
    fn specs() -> Vec<ParamSpec>;
    /// The value of `key` as text, `None` for an unknown key.
    fn get(&self, key: &str) -> Option<String>;
    /// Parse, range-check and set `key`; the value is unchanged on error.
    fn set(&mut self, key: &str, text: &str) -> Result<(), String>;
}

/// Declares one section of keys: the serde struct, its `Default`, and [`Params`].
///
/// One entry,
///
/// ```text
/// /// text tasks: LoRA's α (the adapters' output is scaled by α / rank)
/// lora_alpha: f64 = 16.0, [1e-3, 1e4], for text;
/// ```
///
/// becomes a field `pub lora_alpha: f64` with that doc, the default `16.0`, a [`ParamSpec`]
/// (key `lora_alpha`, the doc as one trimmed line, [`ParamKind::Float`] with that range,
/// [`Scope::Text`]), and the arms of `get` and `set` for `"lora_alpha"` (`set` parses the text
/// as the field's type and refuses a value outside the range). The range and the scope are
/// optional: without them a key takes any value of its type and applies to every environment.
macro_rules! params {
    (
        $(#[doc = $sdoc:literal])*
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $field:ident : $ty:ty = $default:expr $(, [$lo:expr, $hi:expr])? $(, for $scope:ident)? ;
            )*
        }
    ) => {
        $(#[doc = $sdoc])*
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct $name {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                Self { $( $field: $default, )* }
            }
        }

        impl Params for $name {
            fn specs() -> Vec<ParamSpec> {
                vec![$(
                    ParamSpec {
                        key: stringify!($field).to_string(),
                        doc: concat!($($doc),*).trim_ascii(),
                        kind: <$ty as ParamValue>::kind(params!(@range $([$lo, $hi])?)),
                        scope: params!(@scope $($scope)?),
                    },
                )*]
            }

            fn get(&self, key: &str) -> Option<String> {
                match key {
                    $( stringify!($field) => Some(self.$field.render()), )*
                    _ => None,
                }
            }

            fn set(&mut self, key: &str, text: &str) -> Result<(), String> {
                match key {
                    $(
                        stringify!($field) => {
                            let value = <$ty as ParamValue>::parse(text)?;
                            check_range(&value, <$ty as ParamValue>::kind(params!(@range $([$lo, $hi])?)))?;
                            self.$field = value;
                            Ok(())
                        }
                    )*
                    _ => Err(format!("unknown key '{key}'")),
                }
            }
        }
    };
    (@range [$lo:expr, $hi:expr]) => { Some(($lo as f64, $hi as f64)) };
    (@range) => { None };
    (@scope text) => { Scope::Text };
    (@scope control) => { Scope::Control };
    (@scope continuous) => { Scope::Continuous };
    (@scope) => { Scope::All };
}

fn check_range<T: ParamValue>(value: &T, kind: ParamKind) -> Result<(), String> {
    let (ParamKind::Int { min, max } | ParamKind::Float { min, max }) = kind else {
        return Ok(());
    };
    let v = value.as_number().expect("numeric kinds have numbers");
    if v < min || v > max {
        return Err(format!("{} is outside [{}, {}]", value.render(), min, max));
    }
    Ok(())
}

choice! {
    /// Where the learner's tensors live (the page; the CLI runs on the CPU).
    BackendChoice { Auto = "auto", WebGpu = "webgpu", Cpu = "cpu" }
}

choice! {
    /// GRPO's reward: outcome (each trajectory's return, broadcast to its valid steps) or
    /// process (per-step rewards normalised across the group, summed from each step on), as in
    /// DeepSeekMath §4.1.2 and §4.1.3.
    RewardMode { Outcome = "outcome", Process = "process" }
}

choice! {
    /// TRL's `scale_rewards`: divide by the group's std (GRPO), by the batch's std, or not at all
    /// (Dr. GRPO, Liu et al. 2025).
    ScaleRewards { Group = "group", Batch = "batch", None = "none" }
}

choice! {
    /// TRL's `loss_type`: how per-step losses are averaged over the padded `(T, G)` batch.
    LossType {
        /// Mean over each sequence's valid steps, then over sequences (DeepSeekMath).
        Grpo = "grpo",
        /// Mean over all valid steps of the minibatch.
        Bnpo = "bnpo",
        /// Sum over valid steps divided by sequences × `max_completion_length` (Dr. GRPO).
        DrGrpo = "dr_grpo",
        /// Sum over valid steps divided by the valid steps of the whole update batch (DAPO).
        Dapo = "dapo",
        /// Clipped IS-weight policy optimisation (MiniMax-M1, as TRL writes it): a detached
        /// weight `min(r, epsilon_high)` times `A·log π`, aggregated as `dapo`.
        Cispo = "cispo",
        /// Soft adaptive policy optimisation: a sigmoid gate `σ(τ(r − 1))·4/τ` instead of the
        /// clip, with `τ` by the advantage's sign, aggregated as `grpo`.
        Sapo = "sapo",
    }
}

choice! {
    /// TRL's `importance_sampling_level`: one ratio per step, or per trajectory (GSPO: the
    /// masked mean of its steps' log-ratios, exponentiated).
    ImportanceSamplingLevel { Token = "token", Sequence = "sequence" }
}

choice! {
    /// How a text task rewards a completion in training.
    TextReward { Exact = "exact", Lcs = "lcs" }
}

impl RunConfig {
    /// Whether `key` (any experiment key) changes a run on `env` (its declared [`Scope`]); the
    /// page hides the others.
    pub fn applies(key: &str, env: EnvId) -> bool {
        ExperimentConfig::specs().iter().find(|s| s.key == key).is_none_or(|s| s.scope.includes(env))
    }

    /// The environment with this run's scoring of text completions.
    pub fn env_spec(&self) -> crate::env::EnvSpec {
        crate::env::EnvSpec {
            id: self.env,
            scoring: crate::env::Scoring {
                partial_credit: self.text_reward == TextReward::Lcs,
                format_penalty: self.format_penalty,
            },
        }
    }
}

params! {
    /// The experiment shared by both algorithms.
    pub struct RunConfig {
        /// environment: a Gymnasium id, or a text task (lm-reverse, lm-add, lm-sort)
        env: EnvId = EnvId::CartPole;
        /// seed of the run's RNG: weights, env resets, action sampling, minibatch order
        seed: u64 = 1, [0, 9_007_199_254_740_991u64];
        /// runs of each algorithm on the page, on seeds seed, seed+1, …: each trains on its own (a worker pool spreads them over the cores), the curves show their aggregate with a 95% bootstrap band and the summary table intervals; a CLI run trains one seed (pvg compare --seeds for several)
        seeds: usize = 1, [1, 16];
        /// environment steps each algorithm may use
        total_steps: u64 = 100_000, [1, 10_000_000];
        /// units per hidden layer, policy and critic alike
        width: usize = 64, [1, 512], for control;
        /// hidden layers, policy and critic alike
        depth: usize = 2, [0, 6], for control;
        /// where the learner runs on the page (auto: the faster for this experiment, timed over a few updates on each; the shared link records the choice)
        backend: BackendChoice = BackendChoice::Auto;
        /// text tasks: rank of the LoRA adapters on the language model's attention and MLP projections
        lora_rank: usize = 8, [1, 64], for text;
        /// text tasks: LoRA's α (the adapters' output is scaled by α / rank)
        lora_alpha: f64 = 16.0, [1e-3, 1e4], for text;
        /// text tasks: sampling temperature of the language model (TRL's temperature): its logits are divided by it when sampling and when scoring, policy and reference alike; greedy evaluation is unaffected
        temperature: f64 = 1.0, [0.05, 10.0], for text;
        /// text tasks: reward in training, exact match (1/0) or partial credit (longest common subsequence over the longer of completion and answer); evaluation measures exact match
        text_reward: TextReward = TextReward::Exact, for text;
        /// text tasks: subtracted from the reward of a completion without EOS or with a character no answer has
        format_penalty: f64 = 0.0, [0.0, 10.0], for text;
        /// continuous actions: initial log standard deviation of the Gaussian policy (SB3's log_std_init; with sde, of each weight of the noise matrix)
        log_std_init: f64 = 0.0, [-10.0, 2.0], for continuous;
        /// continuous actions: generalized State-Dependent Exploration (SB3's use_sde): the action's noise is the policy's last hidden layer times a random matrix held for sde_sample_freq steps, so exploration is smooth in time
        sde: bool = false, for continuous;
        /// continuous actions, with sde: steps between new noise matrices (0: one per rollout, SB3's -1)
        sde_sample_freq: usize = 0, [0, 100_000], for continuous;
    }
}

params! {
    /// PPO (CleanRL's `ppo.py` / `ppo_continuous_action.py` names).
    pub struct PpoConfig {
        /// parallel environments N
        num_envs: usize = 4, [1, 256];
        /// steps per environment per rollout T
        num_steps: usize = 128, [1, 4096];
        /// Adam learning rate
        learning_rate: f64 = 2.5e-4, [1e-7, 1e-2];
        /// anneal the learning rate linearly to 0 over the run
        anneal_lr: bool = true;
        /// discount factor γ
        gamma: f64 = 0.99, [0.0, 1.0];
        /// GAE λ
        gae_lambda: f64 = 0.95, [0.0, 1.0];
        /// minibatches per epoch
        num_minibatches: usize = 4, [1, 4096];
        /// epochs over each rollout
        update_epochs: usize = 4, [1, 100];
        /// normalise advantages per minibatch
        norm_adv: bool = true;
        /// surrogate clipping ε
        clip_coef: f64 = 0.2, [0.0, 10.0];
        /// clip the value loss around the rollout's values
        clip_vloss: bool = true;
        /// entropy bonus coefficient
        ent_coef: f64 = 0.01, [0.0, 1.0];
        /// value loss coefficient
        vf_coef: f64 = 0.5, [0.0, 100.0];
        /// global gradient-norm clipping threshold
        max_grad_norm: f64 = 0.5, [1e-6, 1e6];
        /// scale rewards by a running std of the discounted return (Gymnasium's NormalizeReward)
        norm_reward: bool = false;
        /// standardise observations by a running mean and std over all envs, then clip to ±10 (Gymnasium's NormalizeObservation); frozen at evaluation
        norm_obs: bool = false, for control;
        /// stop the epochs early when approx-KL exceeds this (0: never)
        target_kl: f64 = 0.0, [0.0, 100.0];
    }
}

params! {
    /// GRPO (TRL's `GRPOConfig` names).
    pub struct GrpoConfig {
        /// trajectories per group G, all from the same initial state
        num_generations: usize = 8, [2, 256];
        /// groups (distinct initial states) per update
        groups_per_update: usize = 1, [1, 64];
        /// longest trajectory T; longer ones are cut (truncated) there (0: the env's time limit)
        max_completion_length: usize = 0, [0, 1000];
        /// leave truncated trajectories out of the loss (they still count in their group's reward statistics)
        mask_truncated_completions: bool = false;
        /// outcome or process rewards
        reward_mode: RewardMode = RewardMode::Outcome;
        /// how advantages are scaled after subtracting the group mean
        scale_rewards: ScaleRewards = ScaleRewards::Group;
        /// how per-step losses are aggregated
        loss_type: LossType = LossType::Dapo;
        /// Adam learning rate
        learning_rate: f64 = 1e-3, [1e-7, 1e-2];
        /// weight of the k3 KL penalty to the reference policy (DeepSeekMath: 0.04; 0 turns it off)
        beta: f64 = 0.04, [0.0, 100.0];
        /// lower clipping ε of the ratio
        epsilon: f64 = 0.2, [0.0, 10.0];
        /// upper clipping ε of the ratio (DAPO's clip-higher); with cispo, the cap of the ratio itself (ScaleRL: 5)
        epsilon_high: f64 = 0.2, [0.0, 10.0];
        /// two-sided clipping: the unclipped ratio is capped at δ (INTELLECT-2; 0: off; use > 1 + ε)
        delta: f64 = 0.0, [0.0, 100.0];
        /// one importance ratio per step, or per trajectory (GSPO)
        importance_sampling_level: ImportanceSamplingLevel = ImportanceSamplingLevel::Token;
        /// sapo's temperature for steps with a positive advantage
        sapo_temperature_pos: f64 = 1.0, [1e-3, 100.0];
        /// sapo's temperature for steps with a non-positive advantage
        sapo_temperature_neg: f64 = 1.05, [1e-3, 100.0];
        /// entropy bonus coefficient (TRL's entropy_coef: minus coef × mean entropy per valid step)
        entropy_coef: f64 = 0.0, [0.0, 1.0];
        /// start from the policy PPO had after this many env steps of the same run (0: from scratch); not in GRPO's budget
        warm_start_ppo_steps: u64 = 0, [0, 10_000_000];
        /// optimisation passes over each generation batch μ
        num_iterations: usize = 1, [1, 100];
        /// minibatches (of whole trajectories) per pass
        num_minibatches: usize = 1, [1, 1024];
        /// global gradient-norm clipping threshold
        max_grad_norm: f64 = 1.0, [1e-6, 1e6];
        /// refresh the reference policy from the current one
        sync_ref_model: bool = true;
        /// optimiser steps between reference refreshes (TRL's global steps: μ × minibatches per update)
        ref_model_sync_steps: usize = 10, [1, 100_000];
        /// ref ← α·policy + (1−α)·ref at each refresh
        ref_model_mixup_alpha: f64 = 1.0, [0.0, 1.0];
    }
}

/// Two keys, each valid alone, that cannot hold together.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Conflict {
    /// The key at fault.
    pub key: &'static str,
    pub message: String,
    /// The nearest value of `key` that resolves the conflict.
    pub fix: String,
}

/// A whole experiment: the shared run settings and both algorithms' hyperparameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExperimentConfig {
    #[serde(flatten)]
    pub run: RunConfig,
    pub ppo: PpoConfig,
    pub grpo: GrpoConfig,
}

impl ExperimentConfig {
    /// Every key, with its section prefix (`seed`, `ppo.gamma`, `grpo.beta`, ...).
    pub fn specs() -> Vec<ParamSpec> {
        let prefixed = |prefix: &'static str, specs: Vec<ParamSpec>| {
            specs.into_iter().map(move |mut s| {
                s.key = format!("{prefix}.{}", s.key);
                s
            })
        };
        RunConfig::specs()
            .into_iter()
            .chain(prefixed("ppo", PpoConfig::specs()))
            .chain(prefixed("grpo", GrpoConfig::specs()))
            .collect()
    }

    pub fn get(&self, key: &str) -> Option<String> {
        match key.split_once('.') {
            Some(("ppo", k)) => self.ppo.get(k),
            Some(("grpo", k)) => self.grpo.get(k),
            Some(_) => None,
            None => self.run.get(key),
        }
    }

    /// Set one `key=value`. Setting `env` does not reset the other keys: use
    /// [`ExperimentConfig::for_env`] first for that env's defaults.
    pub fn set(&mut self, key: &str, text: &str) -> Result<(), String> {
        match key.split_once('.') {
            Some(("ppo", k)) => self.ppo.set(k, text),
            Some(("grpo", k)) => self.grpo.set(k, text),
            Some(_) => Err(format!("unknown key '{key}'")),
            None => self.run.set(key, text),
        }
        .map_err(|e| if e.starts_with("unknown key") { format!("unknown key '{key}'") } else { e })
    }

    /// Problems between keys that each are in range on their own: the key at fault, why, and
    /// the nearest value that resolves it.
    pub fn check(&self) -> Vec<Conflict> {
        let mut problems = Vec::new();
        let batch = self.ppo.num_envs * self.ppo.num_steps;
        if self.ppo.num_minibatches > batch {
            problems.push(Conflict {
                key: "ppo.num_minibatches",
                message: format!(
                    "{} minibatches exceed the rollout batch num_envs × num_steps = {batch}",
                    self.ppo.num_minibatches
                ),
                fix: batch.to_string(),
            });
        }
        let trajectories = self.grpo.num_generations * self.grpo.groups_per_update;
        if self.grpo.num_minibatches > trajectories {
            problems.push(Conflict {
                key: "grpo.num_minibatches",
                message: format!(
                    "{} minibatches exceed the {trajectories} trajectories of an update \
                     (num_generations × groups_per_update)",
                    self.grpo.num_minibatches
                ),
                fix: trajectories.to_string(),
            });
        }
        if self.grpo.loss_type == LossType::Cispo && self.grpo.epsilon_high < 1.0 {
            problems.push(Conflict {
                key: "grpo.epsilon_high",
                message: format!(
                    "with loss_type = cispo, epsilon_high caps the ratio itself: {} would cap every \
                     ratio below 1 (ScaleRL recommends 5)",
                    self.grpo.epsilon_high.render()
                ),
                fix: "5".into(),
            });
        }
        // The page runs seeds seed, seed + 1, …, seed + seeds − 1: the last must be a seed too.
        const MAX_SEED: u64 = 9_007_199_254_740_991;
        if self.run.seed > MAX_SEED + 1 - self.run.seeds as u64 {
            problems.push(Conflict {
                key: "seeds",
                message: format!(
                    "seeds {}…{} pass the largest seed, {MAX_SEED}",
                    self.run.seed,
                    self.run.seed as u128 + self.run.seeds as u128 - 1
                ),
                fix: (MAX_SEED + 1 - self.run.seed).to_string(),
            });
        }
        let limit = self.run.env.max_episode_steps();
        if self.grpo.max_completion_length > limit {
            problems.push(Conflict {
                key: "grpo.max_completion_length",
                message: format!(
                    "{} exceeds {}'s time limit of {limit} steps",
                    self.grpo.max_completion_length, self.run.env
                ),
                fix: limit.to_string(),
            });
        }
        problems
    }

    /// Trajectories in one GRPO generation batch (its `G` axis).
    pub fn grpo_batch_width(&self) -> usize {
        self.grpo.num_generations * self.grpo.groups_per_update
    }

    /// GRPO's cap on trajectory length, in steps.
    pub fn grpo_horizon(&self) -> usize {
        match self.grpo.max_completion_length {
            0 => self.run.env.max_episode_steps(),
            n => n.min(self.run.env.max_episode_steps()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_keys_are_run_keys_and_exactly_those_documented_for_text_tasks() {
        let documented = |prefix: &str| -> Vec<String> {
            RunConfig::specs().into_iter().filter(|s| s.doc.starts_with(prefix)).map(|s| s.key).collect()
        };
        let scoped = |scope: Scope| -> Vec<String> {
            ExperimentConfig::specs().into_iter().filter(|s| s.scope == scope).map(|s| s.key).collect()
        };
        assert_eq!(documented("text tasks:"), scoped(Scope::Text));
        assert_eq!(documented("continuous actions"), scoped(Scope::Continuous));
        assert_eq!(scoped(Scope::Control), ["width", "depth", "ppo.norm_obs"]);
        for key in scoped(Scope::Control) {
            assert!(RunConfig::applies(&key, EnvId::CartPole) && !RunConfig::applies(&key, EnvId::LmAdd));
        }
        for key in scoped(Scope::Continuous) {
            let key = key.as_str();
            assert!(RunConfig::applies(key, EnvId::Pendulum) && !RunConfig::applies(key, EnvId::CartPole));
            assert!(!RunConfig::applies(key, EnvId::LmReverse));
        }
    }

    #[test]
    fn every_key_round_trips_through_get_and_set() {
        let config = ExperimentConfig::for_env(EnvId::Pendulum);
        let mut other = ExperimentConfig::for_env(EnvId::CartPole);
        for spec in ExperimentConfig::specs() {
            let text = config.get(&spec.key).expect(&spec.key);
            other.set(&spec.key, &text).unwrap_or_else(|e| panic!("{}: {e}", spec.key));
        }
        assert_eq!(config, other);
    }

    #[test]
    fn bad_values_are_rejected_with_a_message_and_leave_the_value() {
        let mut c = ExperimentConfig::default();
        let before = c.clone();
        for (key, text, needle) in [
            ("ppo.gamma", "1.5", "outside"),
            ("ppo.gamma", "abc", "not a number"),
            ("ppo.num_envs", "2.5", "whole number"),
            ("ppo.num_envs", "1e30", "out"),
            ("grpo.loss_type", "sum", "not one of"),
            ("env", "Breakout", "unknown environment"),
            ("ppo.nonsense", "1", "unknown key 'ppo.nonsense'"),
            ("seed", "nan", "not a finite number"),
            ("ppo.norm_adv", "yes", "true or false"),
        ] {
            let err = c.set(key, text).unwrap_err();
            assert!(err.contains(needle), "{key}={text}: {err}");
        }
        assert_eq!(c, before);
    }

    #[test]
    fn seeds_must_stay_seeds_to_the_last() {
        let mut c = ExperimentConfig::default();
        c.set("seeds", "16").unwrap();
        c.set("seed", "9007199254740976").unwrap();
        assert_eq!(c.check(), vec![], "seeds …976 to …991 are all seeds");
        c.set("seed", "9007199254740977").unwrap();
        let problems = c.check();
        assert_eq!(problems.len(), 1);
        assert_eq!((problems[0].key, problems[0].fix.as_str()), ("seeds", "15"), "{:?}", problems[0]);
        assert!(c.set("seeds", "17").unwrap_err().contains("outside"), "at most 16 runs per algorithm");
        assert!(c.set("seeds", "0").is_err());
    }

    #[test]
    fn every_spec_has_a_doc() {
        for spec in ExperimentConfig::specs() {
            assert!(!spec.doc.is_empty(), "{} has no doc", spec.key);
        }
    }
}
