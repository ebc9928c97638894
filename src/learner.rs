//! What PPO and GRPO share in their updates: the clipped surrogate, the optimiser step with
//! global gradient-norm clipping, minibatch shuffling and the learning-rate schedule.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::seq::SliceRandom;

use crate::Rng;

/// The PPO-clip objective per element, as a loss to minimise (Schulman et al. 2017, eq. 7):
/// `max(-A·r, -A·clip(r, 1-ε_low, 1+ε_high))` with `r = exp(log_ratio)`. PPO uses
/// `ε_low = ε_high`; GRPO may clip higher (DAPO) and cap the unclipped ratio at `delta`
/// (two-sided clipping, INTELLECT-2: `-A·min(r, δ)` in the first term). Returns the loss and `r`.
pub fn clipped_surrogate<const D: usize>(
    log_ratio: Tensor<D>,
    advantages: Tensor<D>,
    eps_low: f64,
    eps_high: f64,
    delta: Option<f64>,
) -> (Tensor<D>, Tensor<D>) {
    let ratio = log_ratio.exp();
    let clipped = -advantages.clone() * ratio.clone().clamp(1.0 - eps_low, 1.0 + eps_high);
    let capped = match delta {
        Some(delta) => ratio.clone().clamp_max(delta),
        None => ratio.clone(),
    };
    let unclipped = -advantages * capped;
    (unclipped.max_pair(clipped), ratio)
}

/// 1 where the ratio lies outside the clipping range, else 0 (CleanRL's `clipfracs` term,
/// before averaging).
pub fn clipped<const D: usize>(ratio: Tensor<D>, eps_low: f64, eps_high: f64) -> Tensor<D> {
    ratio.clone().lower_elem(1.0 - eps_low).bool_or(ratio.greater_elem(1.0 + eps_high)).float()
}

/// CleanRL's `approx_kl`: the mean of `(r - 1) - log r`, an unbiased, non-negative estimate
/// of KL(old ‖ new) (Schulman's k3).
pub fn approx_kl<const D: usize>(log_ratio: Tensor<D>) -> Tensor<D> {
    (log_ratio.clone().exp() - 1.0) - log_ratio
}

/// Adam with PyTorch's update rule and global gradient-norm clipping
/// (`torch.nn.utils.clip_grad_norm_` over all parameters together).
pub struct Optimizer {
    adam: ModuleOptimizer,
    max_grad_norm: f64,
}

impl Optimizer {
    /// `epsilon`: Adam's ε (CleanRL sets 1e-5).
    pub fn new(epsilon: f64, max_grad_norm: f64) -> Self {
        Self { adam: AdamConfig::new().with_epsilon(epsilon as f32).init(), max_grad_norm }
    }

    /// Backpropagate `loss`, clip the gradients' global norm and take one Adam step.
    /// Returns the updated module and the gradient norm before clipping (on the device).
    pub fn step<M: Module>(&mut self, module: M, loss: Tensor<1>, lr: f64) -> (M, Tensor<1>) {
        let mut grads = GradientsParams::from_grads(loss.backward(), &module);
        let norm = clip_grad_norm(&module, &mut grads, self.max_grad_norm);
        (self.adam.step(lr, module, grads), norm)
    }
}

/// Scale every gradient by `min(1, max_norm / (‖g‖ + 1e-6))`, where `‖g‖` is the norm of all
/// gradients concatenated; returns `‖g‖`. The scale stays on the device: no sync.
fn clip_grad_norm<M: Module>(module: &M, grads: &mut GradientsParams, max_norm: f64) -> Tensor<1> {
    struct SquaredNorm<'a> {
        grads: &'a GradientsParams,
        total: Option<Tensor<1>>,
    }
    impl ModuleVisitor for SquaredNorm<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                let s = g.square().sum();
                self.total = Some(match self.total.take() {
                    Some(t) => t + s,
                    None => s,
                });
            }
        }
    }
    struct Scale<'a> {
        grads: &'a mut GradientsParams,
        scale: Tensor<1>,
    }
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.remove::<D>(param.id) {
                let scale = self.scale.clone().reshape([1; D]);
                self.grads.register(param.id, g * scale);
            }
        }
    }
    let mut sq = SquaredNorm { grads, total: None };
    module.visit(&mut sq);
    let norm = sq.total.expect("the loss depends on at least one parameter").sqrt();
    let scale = (norm.clone() + 1e-6).recip().mul_scalar(max_norm).clamp_max(1.0);
    module.visit(&mut Scale { grads, scale });
    norm
}

/// Named scalars logged at each optimiser step, summed on the device and read back once per
/// update as means. They are read by name, so two curves can never swap places.
#[derive(Default)]
pub struct StepStats {
    names: Vec<&'static str>,
    sum: Option<Tensor<1>>,
    steps: usize,
}

impl StepStats {
    /// One step's scalars (each a `[1]` tensor); every step names the same ones in one order.
    pub fn add<const N: usize>(&mut self, scalars: [(&'static str, Tensor<1>); N]) {
        let (names, values): (Vec<_>, Vec<_>) = scalars.into_iter().unzip();
        if self.steps == 0 {
            self.names = names;
        } else {
            assert_eq!(self.names, names, "every step logs the same scalars");
        }
        let values = Tensor::cat(values, 0);
        self.sum = Some(match self.sum.take() {
            Some(s) => s + values,
            None => values,
        });
        self.steps += 1;
    }

    /// The means over the steps so far, on the device: queue them with the update's reads.
    pub fn means(&self) -> Tensor<1> {
        self.sum.clone().expect("at least one step") / self.steps as f64
    }

    /// The means read back (`values`, from [`StepStats::means`]), by name.
    pub fn named(&self, values: Vec<f32>) -> Means {
        assert_eq!(values.len(), self.names.len());
        Means(self.names.iter().copied().zip(values).collect())
    }
}

/// Per-update means of named scalars; `means["grad_norm"]`.
pub struct Means(Vec<(&'static str, f32)>);

impl std::ops::Index<&str> for Means {
    type Output = f32;
    fn index(&self, name: &str) -> &f32 {
        let found = self.0.iter().find(|(n, _)| *n == name);
        &found.unwrap_or_else(|| panic!("no statistic named {name}")).1
    }
}

/// A random split of `0..n` into `k` minibatches of near-equal size (CleanRL shuffles
/// `b_inds` each epoch; its minibatches are equal because it requires `k | n`).
pub fn minibatches(n: usize, k: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    let (base, extra) = (n / k, n % k);
    let mut out = Vec::with_capacity(k);
    let mut start = 0;
    for i in 0..k {
        let size = base + usize::from(i < extra);
        out.push(order[start..start + size].to_vec());
        start += size;
    }
    out
}

/// The learning rate after a fraction `progress` of the run: linear decay to zero when
/// `anneal` (CleanRL's `frac = 1 - (iteration - 1) / num_iterations`), else constant.
pub fn learning_rate(base: f64, anneal: bool, progress: f64) -> f64 {
    if anneal { base * (1.0 - progress).clamp(0.0, 1.0) } else { base }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn minibatches_partition_the_indices() {
        let mut rng = Rng::seed_from_u64(3);
        let mbs = minibatches(10, 3, &mut rng);
        assert_eq!(mbs.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 3, 3]);
        let mut all: Vec<usize> = mbs.concat();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn learning_rate_anneals_linearly_from_the_base() {
        assert_eq!(learning_rate(1e-3, true, 0.0), 1e-3);
        assert_eq!(learning_rate(1e-3, true, 0.5), 5e-4);
        assert_eq!(learning_rate(1e-3, true, 1.5), 0.0);
        assert_eq!(learning_rate(1e-3, false, 0.75), 1e-3);
    }
}
