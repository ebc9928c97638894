//! PPO vs GRPO playground: the training core shared by the native CLI and the web page.

pub mod ask;
pub mod backend;
pub mod config;
pub mod env;
pub mod eval;
pub mod experiment;
pub mod flags;
pub mod grpo;
pub mod history;
pub mod host;
pub mod inspect;
pub mod learner;
pub mod metrics;
pub mod nn;
pub mod normalize;
pub mod policy;
pub mod ppo;
pub mod pretrain;
pub mod replay;
pub mod rollout;
pub mod shards;
pub mod share;
pub mod stats;
pub mod train;
pub mod trainee;
pub mod value;
pub mod versions;

/// The one seeded generator type of a run (env resets, action sampling, minibatch shuffles,
/// weight initialisation).
pub type Rng = rand_chacha::ChaCha8Rng;

#[cfg(target_arch = "wasm32")]
pub mod web;
