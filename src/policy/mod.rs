//! One interface for every policy, so that PPO and GRPO train any of them unchanged.
//!
//! A policy maps a batch of observations to a distribution over actions. `get_action` samples
//! (for rollouts) and `evaluate_actions` scores given actions (for the update). Actions travel
//! as a `(batch, width)` float matrix: a discrete action is its index as one float, a continuous
//! action its vector.
//!
//! Sampling happens on the host with the run's seeded RNG, from distribution parameters read back
//! in one sync: actions are needed on the CPU at every env step anyway, and drawing them there
//! makes a seeded run reproducible on every backend.

mod categorical;
mod gaussian;

pub use categorical::CategoricalMlp;
pub use gaussian::GaussianMlp;

use burn::module::{Module, ModuleDisplay};
use burn::prelude::*;

use crate::Rng;
use crate::env::ActionSpace;
use crate::host::{self, DeviceError};

/// How `get_action` picks actions.
pub enum Sampling<'a> {
    /// Draw from the distribution (rollouts).
    Sample(&'a mut Rng),
    /// Take the most likely action: argmax, or the Gaussian mean (deterministic evaluation).
    Mode,
}

/// Actions picked for a batch, with their log-probabilities under the policy that picked them.
#[derive(Clone, Debug, PartialEq)]
pub struct Actions {
    /// `(batch, width)`, row-major.
    pub actions: Vec<f32>,
    pub log_probs: Vec<f32>,
}

#[allow(async_fn_in_trait)] // single-threaded callers (a web worker, pollster): no Send bound needed
pub trait StochasticPolicy: Module + ModuleDisplay + Clone {
    /// Numbers per action row: 1 for a discrete action, the dimension of a continuous one.
    fn action_width(&self) -> usize;

    /// The distribution's parameters for a batch of observations `(batch, obs_dim)`, on the
    /// device: log-probabilities `(batch, n)` for a categorical policy, mean and log-std
    /// `(batch, 2·dim)` for a Gaussian one.
    fn dist_params(&self, observations: Tensor<2>) -> Tensor<2>;

    /// On the host: pick actions from the parameters `dist_params` produced (read back to a
    /// row-major slice), returning them with their log-probabilities.
    fn pick(&self, params: &[f32], batch: usize, sampling: &mut Sampling) -> Actions;

    /// Log-probabilities `(batch,)` of the given actions `(batch, width)` and the entropy
    /// `(batch,)` of the distribution at each observation, differentiable.
    fn evaluate_actions(&self, observations: Tensor<2>, actions: Tensor<2>) -> (Tensor<1>, Tensor<1>);

    /// Sample (or take the mode of) actions for a batch of observations: one device sync.
    async fn get_action(
        &self,
        observations: Tensor<2>,
        sampling: &mut Sampling<'_>,
    ) -> Result<Actions, DeviceError> {
        let batch = observations.dims()[0];
        let params = host::read(self.dist_params(observations)).await?;
        Ok(self.pick(&params, batch, sampling))
    }
}

/// The policies of the playground, chosen by the environment's action space.
#[derive(Module, Debug)]
pub enum Policy {
    Categorical(CategoricalMlp),
    Gaussian(GaussianMlp),
}

impl Policy {
    /// A categorical MLP for a discrete action space, a Gaussian MLP for a continuous one, with
    /// `depth` hidden layers of `width` tanh units.
    pub fn new(
        obs_dim: usize,
        action_space: &ActionSpace,
        width: usize,
        depth: usize,
        device: &Device,
        rng: &mut Rng,
    ) -> Self {
        match action_space {
            ActionSpace::Discrete(n) => {
                Policy::Categorical(CategoricalMlp::new(obs_dim, *n, width, depth, device, rng))
            }
            ActionSpace::Continuous { low, .. } => {
                Policy::Gaussian(GaussianMlp::new(obs_dim, low.len(), width, depth, device, rng))
            }
        }
    }
}

macro_rules! delegate {
    ($self:ident, $p:ident => $e:expr) => {
        match $self {
            Policy::Categorical($p) => $e,
            Policy::Gaussian($p) => $e,
        }
    };
}

impl StochasticPolicy for Policy {
    fn action_width(&self) -> usize {
        delegate!(self, p => p.action_width())
    }
    fn dist_params(&self, observations: Tensor<2>) -> Tensor<2> {
        delegate!(self, p => p.dist_params(observations))
    }
    fn pick(&self, params: &[f32], batch: usize, sampling: &mut Sampling) -> Actions {
        delegate!(self, p => p.pick(params, batch, sampling))
    }
    fn evaluate_actions(&self, observations: Tensor<2>, actions: Tensor<2>) -> (Tensor<1>, Tensor<1>) {
        delegate!(self, p => p.evaluate_actions(observations, actions))
    }
}
