//! PPO's critic: an MLP estimating the state value, with a 1.0-gain output layer (CleanRL), and
//! the actor-critic pair PPO trains and its rollouts act with.

use burn::module::Module;
use burn::prelude::*;

use crate::Rng;
use crate::nn::{Mlp, layer_sizes};
use crate::policy::StochasticPolicy;

#[derive(Module, Debug)]
pub struct Critic {
    value: Mlp,
}

impl Critic {
    pub fn new(obs_dim: usize, width: usize, depth: usize, device: &Device, rng: &mut Rng) -> Self {
        Self { value: Mlp::new(&layer_sizes(obs_dim, width, depth, 1), 1.0, device, rng) }
    }

    /// `V(s)` for a batch of observations `(batch, obs_dim)`: `(batch,)`.
    pub fn forward(&self, observations: Tensor<2>) -> Tensor<1> {
        let batch = observations.dims()[0];
        self.value.forward(observations).reshape([batch])
    }
}

/// CleanRL's `Agent`: the policy and its critic, optimised together by one Adam. The critic
/// reads the policy's features: the observation for an MLP policy (a critic network of its
/// own), the last hidden state for the language model (a value head on its trunk).
#[derive(Module, Debug)]
pub struct ActorCritic<P> {
    pub actor: P,
    pub critic: Critic,
}

impl<P: StochasticPolicy> ActorCritic<P> {
    /// `actor` with a fresh critic of `width` units on its features, as deep as it asks for a
    /// run of `depth` ([`StochasticPolicy::critic_depth`]).
    pub fn new(actor: P, obs_dim: usize, width: usize, depth: usize, device: &Device, rng: &mut Rng) -> Self {
        let critic = Critic::new(actor.feature_dim(obs_dim), width, actor.critic_depth(depth), device, rng);
        Self { actor, critic }
    }

    /// The distribution's parameters and `V(s)` for a batch of observations, the features
    /// computed once.
    pub fn act(&self, observations: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let features = self.actor.features(observations);
        (self.actor.head(features.clone()), self.critic.forward(features))
    }

    /// `V(s)` for a batch of observations.
    pub fn value(&self, observations: Tensor<2>) -> Tensor<1> {
        self.critic.forward(self.actor.features(observations))
    }

    /// Log-probabilities and entropies of `actions`, and `V(s)`, the features computed once.
    pub fn evaluate(&self, observations: Tensor<2>, actions: Tensor<2>) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
        let features = self.actor.features(observations);
        let (log_probs, entropy) = self.actor.evaluate_features(features.clone(), actions);
        (log_probs, entropy, self.critic.forward(features))
    }
}
