//! A categorical policy over `n` discrete actions: an MLP producing logits (CleanRL's
//! `actor` with a 0.01-gain output layer).

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use rand::Rng as _;

use super::{Actions, Sampling, StochasticPolicy};
use crate::Rng;
use crate::nn::{Mlp, layer_sizes};

#[derive(Module, Debug)]
pub struct CategoricalMlp {
    logits: Mlp,
}

impl CategoricalMlp {
    pub fn new(obs_dim: usize, n: usize, width: usize, depth: usize, device: &Device, rng: &mut Rng) -> Self {
        Self { logits: Mlp::new(&layer_sizes(obs_dim, width, depth, n), 0.01, device, rng) }
    }
}

impl StochasticPolicy for CategoricalMlp {
    fn action_width(&self) -> usize {
        1
    }

    fn head(&self, features: Tensor<2>) -> Tensor<2> {
        log_softmax(self.logits.forward(features), 1)
    }

    fn pick(&self, log_probs: &[f32], batch: usize, sampling: &mut Sampling) -> Actions {
        pick_categorical(log_probs, batch, sampling)
    }

    fn evaluate_features(&self, features: Tensor<2>, actions: Tensor<2>) -> (Tensor<1>, Tensor<1>) {
        evaluate_categorical(self.head(features), actions)
    }
}

/// Sample (or take the argmax of) one action per row of log-probabilities `(batch, n)`.
pub(crate) fn pick_categorical(log_probs: &[f32], batch: usize, sampling: &mut Sampling) -> Actions {
    let n = log_probs.len() / batch;
    let mut actions = Vec::with_capacity(batch);
    let mut picked = Vec::with_capacity(batch);
    for row in log_probs.chunks_exact(n) {
        let a = match sampling {
            Sampling::Mode => argmax(row),
            Sampling::Sample(rng) | Sampling::Explore(rng, _) => inverse_cdf(row, rng.random::<f64>()),
        };
        actions.push(a as f32);
        picked.push(row[a]);
    }
    Actions { actions, log_probs: picked }
}

/// The log-probabilities of the chosen actions `(batch, 1)` under `log_p` `(batch, n)`, and
/// each row's entropy.
pub(crate) fn evaluate_categorical(log_p: Tensor<2>, actions: Tensor<2>) -> (Tensor<1>, Tensor<1>) {
    let batch = log_p.dims()[0];
    let chosen = log_p.clone().gather(1, actions.int()).reshape([batch]);
    let entropy = -(log_p.clone().exp() * log_p).sum_dim(1).reshape([batch]);
    (chosen, entropy)
}

/// First index of the largest value (NumPy's and PyTorch's tie-break).
fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// The action whose cumulative probability first exceeds `u ∈ [0, 1)`.
fn inverse_cdf(log_probs: &[f32], u: f64) -> usize {
    let mut cumulative = 0.0;
    for (i, &lp) in log_probs.iter().enumerate() {
        cumulative += (lp as f64).exp();
        if u < cumulative {
            return i;
        }
    }
    // Rounding left the total a hair under 1 and `u` above it: the last action with mass.
    log_probs.iter().rposition(|lp| lp.is_finite()).unwrap_or(log_probs.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_cdf_splits_the_unit_interval_by_probability() {
        let lp: Vec<f32> = [0.2f32, 0.5, 0.3].iter().map(|p| p.ln()).collect();
        assert_eq!(inverse_cdf(&lp, 0.0), 0);
        assert_eq!(inverse_cdf(&lp, 0.19), 0);
        assert_eq!(inverse_cdf(&lp, 0.21), 1);
        assert_eq!(inverse_cdf(&lp, 0.69), 1);
        assert_eq!(inverse_cdf(&lp, 0.71), 2);
        assert_eq!(inverse_cdf(&lp, 0.999_999_9), 2);
    }

    #[test]
    fn argmax_breaks_ties_to_the_first() {
        assert_eq!(argmax(&[0.1, 0.7, 0.7]), 1);
    }
}
