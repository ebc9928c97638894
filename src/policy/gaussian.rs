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

/// gSDE's floor on the action variance (SB3's `StateDependentNoiseDistribution.epsilon`).
const SDE_EPSILON: f64 = 1e-6;

#[derive(Module, Debug)]
pub struct GaussianMlp {
    mean: Mlp,
    /// The log-std of each action dimension, `(1, dim)`; with gSDE, of each weight of the noise
    /// matrix, `(latent, dim)` (SB3's `full_std`).
    log_std: Param<Tensor<2>>,
    /// With gSDE: steps between new noise matrices (0: one per rollout). `None`: plain Gaussian.
    sde_sample_freq: Option<usize>,
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
            sde_sample_freq: None,
        }
    }

    /// The log-stds start at `log_std_init` (SB3's `log_std_init`); with `sde_sample_freq`,
    /// exploration is gSDE's (Raffin et al. 2021, SB3's `use_sde` with `full_std` and features
    /// not learned through the noise): the action is `μ(s) + φ(s)·(σ ⊙ Z)`, where `φ(s)` is the
    /// mean network's last hidden layer (detached), `σ = exp(log_std)` a `(latent, dim)` matrix
    /// and `Z` a standard normal matrix held for `sde_sample_freq` steps ([`super::SdeNoise`]).
    /// At one step that is a Gaussian of mean `μ(s)` and variance `φ(s)²·σ²` (+1e-6), which
    /// scores the actions. No draw from the RNG: the weights stay those of `new`.
    pub fn with_exploration(self, log_std_init: f64, sde_sample_freq: Option<usize>) -> Self {
        let device = self.log_std.lazy_device();
        let dim = self.dim();
        let rows = if sde_sample_freq.is_some() { self.mean.latent_dim() } else { 1 };
        let log_std = TensorData::new(vec![log_std_init as f32; rows * dim], [rows, dim]);
        Self { log_std: Param::from_data(log_std, &device), sde_sample_freq, ..self }
    }

    fn dim(&self) -> usize {
        self.log_std.lazy_shape().dims::<2>()[1]
    }

    /// The mean `(batch, dim)` and the log of each action's std `(batch, dim)`; with gSDE also
    /// the latent features `(batch, latent)`, detached.
    fn distribution(&self, features: Tensor<2>) -> (Tensor<2>, Tensor<2>, Option<Tensor<2>>) {
        match self.sde_sample_freq {
            None => {
                let mean = self.mean.forward(features);
                let log_std = self.log_std.val().expand(mean.shape());
                (mean, log_std, None)
            }
            Some(_) => {
                let (latent, mean) = self.mean.forward_latent(features);
                let latent = latent.detach();
                let variance = latent.clone().powi_scalar(2).matmul(self.log_std.val().mul_scalar(2.0).exp());
                let log_std = (variance + SDE_EPSILON).log() * 0.5;
                (mean, log_std, Some(latent))
            }
        }
    }
}

impl StochasticPolicy for GaussianMlp {
    fn action_width(&self) -> usize {
        self.dim()
    }

    /// Per row: the mean, the log-std, and with gSDE the latent times the noise std,
    /// `φ_i·σ_ij` (`latent × dim`), which a noise matrix turns into the action's noise.
    fn head(&self, features: Tensor<2>) -> Tensor<2> {
        let (mean, log_std, latent) = self.distribution(features);
        match latent {
            None => Tensor::cat(vec![mean, log_std], 1),
            Some(latent) => {
                let [batch, l] = latent.dims();
                let std = self.log_std.val().exp().unsqueeze_dim::<3>(0);
                let scaled = (latent.unsqueeze_dim::<3>(2) * std).reshape([batch, l * self.dim()]);
                Tensor::cat(vec![mean, log_std, scaled], 1)
            }
        }
    }

    fn pick(&self, params: &[f32], batch: usize, sampling: &mut Sampling) -> Actions {
        let dim = self.dim();
        let row_len = params.len() / batch;
        let mut actions = Vec::with_capacity(batch * dim);
        let mut log_probs = Vec::with_capacity(batch);
        for (b, row) in params.chunks_exact(row_len).enumerate() {
            let (mean, rest) = row.split_at(dim);
            let (log_std, scaled) = rest.split_at(dim);
            let mut log_prob = 0.0;
            // gSDE's noise for this row: `Σ_i φ_i·σ_ij·Z_ij` for each action dimension j.
            let held: Option<Vec<f64>> = match sampling {
                Sampling::Explore(rng, noise) if !scaled.is_empty() => {
                    let z = noise.matrix(b, scaled.len(), rng);
                    let mut eps = vec![0.0; dim];
                    for (k, (&w, &z)) in scaled.iter().zip(z).enumerate() {
                        eps[k % dim] += w as f64 * z;
                    }
                    Some(eps)
                }
                _ => None,
            };
            for d in 0..dim {
                let std = (log_std[d] as f64).exp();
                let a = match (sampling as &mut Sampling, &held) {
                    (Sampling::Mode, _) => mean[d],
                    (_, Some(eps)) => (mean[d] as f64 + eps[d]) as f32,
                    (Sampling::Sample(rng) | Sampling::Explore(rng, _), None) => {
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
        // Without gSDE the log-std is one row, broadcast (and its entropy computed once).
        let (mean, log_std, rows) = match self.sde_sample_freq {
            None => (self.mean.forward(features), self.log_std.val(), 1),
            Some(_) => {
                let (mean, log_std, _) = self.distribution(features);
                (mean, log_std, batch)
            }
        };
        let z = (actions - mean) / log_std.clone().exp();
        let log_prob = (z.powi_scalar(2) * -0.5 - log_std.clone() - HALF_LN_2PI).sum_dim(1).reshape([batch]);
        let entropy = (log_std + (0.5 + HALF_LN_2PI)).sum_dim(1).reshape([rows]).expand([batch]);
        (log_prob, entropy)
    }

    fn noise(&self) -> Option<super::SdeNoise> {
        self.sde_sample_freq.map(super::SdeNoise::new)
    }
}
