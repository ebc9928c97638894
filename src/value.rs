//! PPO's critic: an MLP estimating the state value, with a 1.0-gain output layer (CleanRL).

use burn::module::Module;
use burn::prelude::*;

use crate::Rng;
use crate::nn::{Mlp, layer_sizes};

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
