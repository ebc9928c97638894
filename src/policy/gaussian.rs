//! A diagonal Gaussian policy: an MLP for the mean and a state-independent log-std parameter
//! (CleanRL's `ppo_continuous_action.py`: `actor_mean` with a 0.01-gain output, `actor_logstd`
//! initialised to zero). Log-probabilities are summed over action dimensions. Samples are not
//! squashed: the environment clips out-of-range actions, as Gymnasium's `ClipAction` would.

use burn::module::{Module, Param};
use burn::prelude::*;
use rand_distr::{Distribution, StandardNormal};

use super::{Actions, Sampling, StochasticPolicy};
use crate::Rng;
use crate::nn::{Mlp, layer_sizes};

/// ½·ln(2π).
const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;

#[derive(Module, Debug)]
pub struct GaussianMlp {
    mean: Mlp,
    log_std: Param<Tensor<2>>,
}

impl GaussianMlp {
    pub fn new(
        obs_dim: usize,
        dim: usize,
        width: usize,
        depth: usize,
        device: &Device,
        rng: &mut Rng,
    ) -> Self {
        Self {
            mean: Mlp::new(&layer_sizes(obs_dim, width, depth, dim), 0.01, device, rng),
            log_std: Param::from_data(TensorData::new(vec![0f32; dim], [1, dim]), device),
        }
    }

    fn dim(&self) -> usize {
        self.log_std.lazy_shape().dims::<2>()[1]
    }
}

impl StochasticPolicy for GaussianMlp {
    fn action_width(&self) -> usize {
        self.dim()
    }

    fn head(&self, features: Tensor<2>) -> Tensor<2> {
        let mean = self.mean.forward(features);
        let log_std = self.log_std.val().expand(mean.shape());
        Tensor::cat(vec![mean, log_std], 1)
    }

    fn pick(&self, params: &[f32], batch: usize, sampling: &mut Sampling) -> Actions {
        let dim = params.len() / batch / 2;
        let mut actions = Vec::with_capacity(batch * dim);
        let mut log_probs = Vec::with_capacity(batch);
        for row in params.chunks_exact(2 * dim) {
            let (mean, log_std) = row.split_at(dim);
            let mut log_prob = 0.0;
            for d in 0..dim {
                let std = (log_std[d] as f64).exp();
                let a = match sampling {
                    Sampling::Mode => mean[d],
                    Sampling::Sample(rng) => {
                        let z: f64 = StandardNormal.sample(*rng);
                        (mean[d] as f64 + std * z) as f32
                    }
                };
                // Score the action as stored (f32), as `evaluate_actions` will.
                let z = (a as f64 - mean[d] as f64) / std;
                log_prob += -0.5 * z * z - log_std[d] as f64 - HALF_LN_2PI;
                actions.push(a);
            }
            log_probs.push(log_prob as f32);
        }
        Actions { actions, log_probs }
    }

    fn evaluate_features(&self, features: Tensor<2>, actions: Tensor<2>) -> (Tensor<1>, Tensor<1>) {
        let batch = features.dims()[0];
        let mean = self.mean.forward(features);
        let log_std = self.log_std.val();
        let z = (actions - mean) / log_std.clone().exp();
        let log_prob = (z.powi_scalar(2) * -0.5 - log_std.clone() - HALF_LN_2PI).sum_dim(1).reshape([batch]);
        let entropy = (log_std + (0.5 + HALF_LN_2PI)).sum_dim(1).reshape([1]).expand([batch]);
        (log_prob, entropy)
    }
}
