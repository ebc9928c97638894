//! What PPO and GRPO share in their updates: the clipped surrogate, the optimiser step with
//! global gradient-norm clipping, minibatch shuffling and the learning-rate schedule.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use rand::seq::SliceRandom;

use crate::Rng;
use crate::host::{self, DeviceError, Reads};

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
///
/// The update is burn's `Adam` to the bit (a test steps both side by side), written out here so
/// that its moments are ours to read: [`Optimizer::copy_to`] carries them to another device,
/// asynchronously (burn's optimiser record reads them synchronously, which WebGPU forbids).
pub struct Optimizer {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    max_grad_norm: f64,
    moments: HashMap<ParamId, Moments>,
}

/// Adam's state for one parameter: its step count and running moments (flattened).
#[derive(Clone)]
struct Moments {
    time: i32,
    first: Tensor<1>,
    second: Tensor<1>,
}

impl Optimizer {
    /// `epsilon`: Adam's ε (CleanRL sets 1e-5); β = (0.9, 0.999), PyTorch's defaults.
    pub fn new(epsilon: f64, max_grad_norm: f64) -> Self {
        Self { beta_1: 0.9, beta_2: 0.999, epsilon: epsilon as f32, max_grad_norm, moments: HashMap::new() }
    }

    /// Backpropagate `loss`, clip the gradients' global norm and take one Adam step.
    /// Returns the updated module and the gradient norm before clipping (on the device).
    pub fn step<M: Module>(&mut self, module: M, loss: Tensor<1>, lr: f64) -> (M, Tensor<1>) {
        let grads = GradientsParams::from_grads(loss.backward(), &module);
        self.apply(module, grads, lr)
    }

    /// [`Optimizer::step`] with the gradients given (a sum over shards: see [`crate::shards`]).
    pub fn apply<M: Module>(&mut self, module: M, mut grads: GradientsParams, lr: f64) -> (M, Tensor<1>) {
        let norm = clip_grad_norm(&module, &mut grads, self.max_grad_norm);
        let module = module.map(&mut AdamStep { adam: self, grads: &mut grads, lr });
        (module, norm)
    }

    /// This optimiser for `to`, a copy of `from` (the module it steps) on `device`: the
    /// moments are read back in one sync and follow their parameters by position.
    pub async fn copy_to<M: Module>(&self, from: &M, to: &M, device: &Device) -> Result<Self, DeviceError> {
        let mut reads = Reads::new();
        let mut moved = Vec::new();
        for (old, new) in param_ids(from).into_iter().zip(param_ids(to)) {
            if let Some(m) = self.moments.get(&old) {
                reads.push(m.first.clone());
                reads.push(m.second.clone());
                moved.push((new, m.time));
            }
        }
        let mut data = reads.execute().await?.into_iter();
        let device = device.clone().inner();
        let mut next = || host::vector(data.next().expect("two moments per parameter"), &device);
        let moments = moved.into_iter().map(|(id, time)| (id, Moments { time, first: next(), second: next() }));
        Ok(Self { moments: moments.collect(), ..*self })
    }
}

/// The ids of a module's float parameters, in visiting order.
fn param_ids<M: Module>(module: &M) -> Vec<ParamId> {
    struct Ids(Vec<ParamId>);
    impl ModuleVisitor for Ids {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.id);
        }
    }
    let mut ids = Ids(Vec::new());
    module.visit(&mut ids);
    ids.0
}

/// One Adam step over a module's parameters, in burn's order of operations.
struct AdamStep<'a> {
    adam: &'a mut Optimizer,
    grads: &'a mut GradientsParams,
    lr: f64,
}

impl ModuleMapper for AdamStep<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let Optimizer { beta_1, beta_2, epsilon, .. } = *self.adam;
        let shape = tensor.shape();
        let grad: Tensor<1> = grad.reshape([shape.num_elements()]);
        let m = match self.adam.moments.remove(&id) {
            Some(m) => Moments {
                time: m.time + 1,
                first: m.first.mul_scalar(beta_1).add(grad.clone().mul_scalar(1.0 - beta_1)),
                second: m.second.mul_scalar(beta_2).add(grad.square().mul_scalar(1.0 - beta_2)),
            },
            None => Moments {
                time: 1,
                first: grad.clone().mul_scalar(1.0 - beta_1),
                second: grad.square().mul_scalar(1.0 - beta_2),
            },
        };
        let bias_correction_2 = (1.0 - beta_2.powi(m.time)).sqrt();
        let factor = bias_correction_2 / (1.0 - beta_1.powi(m.time));
        let step = m.first.clone().mul_scalar(factor).div(m.second.clone().sqrt().add_scalar(epsilon * bias_correction_2));
        let require_grad = tensor.is_require_grad();
        let mut updated = Tensor::from_inner(tensor.inner() - step.mul_scalar(self.lr).reshape(shape));
        if require_grad {
            updated = updated.require_grad();
        }
        self.adam.moments.insert(id, m);
        Param::from_mapped_value(id, updated, mapper)
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
    use crate::config::ExperimentConfig;
    use crate::env::EnvId;
    use crate::host::{matrix, read_params};
    use crate::policy::{Policy, StochasticPolicy};
    use rand::SeedableRng;

    /// A loss with a gradient on every trainable weight of `policy`, for observations `obs`.
    fn loss(policy: &Policy, obs: &[f32], device: &Device) -> Tensor<1> {
        let d = obs.len();
        policy.dist_params(matrix(obs.to_vec(), 1, d, device)).sin().powi_scalar(2).mean()
    }

    fn weights<M: Module>(module: &M) -> Vec<Vec<f32>> {
        pollster::block_on(read_params(module, None)).unwrap()
    }

    /// Our Adam is burn's (`AdamConfig`, after the same clipping) to the bit, for an MLP and
    /// for the LoRA model (whose frozen base must stay as it is); and a copy of it on another
    /// module of the same shape (other parameter ids) steps that module exactly as it steps its own.
    #[test]
    fn adam_is_burns_to_the_bit_and_its_copy_carries_on() {
        let device = Device::flex().autodiff();
        for env in [EnvId::CartPole, EnvId::Pendulum, EnvId::LmReverse] {
            let run = ExperimentConfig::for_env(env).run;
            let obs = crate::policy::test_observation(env);
            let start = Policy::for_run(&run, &device, &mut Rng::seed_from_u64(1));
            let (mut ours, mut theirs) = (start.clone(), start.clone());
            let mut adam = Optimizer::new(1e-5, 0.5);
            let mut burns = burn::optim::AdamConfig::new().with_epsilon(1e-5).init();
            for _ in 0..3 {
                let l = loss(&ours, &obs, &device);
                ours = adam.step(ours, l, 3e-3).0;
                let mut grads = GradientsParams::from_grads(loss(&theirs, &obs, &device).backward(), &theirs);
                clip_grad_norm(&theirs, &mut grads, 0.5);
                theirs = burns.step(3e-3, theirs, grads);
            }
            assert_eq!(weights(&ours), weights(&theirs), "{env}: burn's Adam");
            assert_ne!(weights(&ours), weights(&start), "{env}: the steps moved the weights");

            // The copy: the same weights in a module built apart (its own parameter ids).
            let only = host::trainable(&ours);
            let trained = pollster::block_on(read_params(&ours, only.as_deref())).unwrap();
            let plain = device.clone().inner();
            let other = Policy::for_run(&run, &plain, &mut Rng::seed_from_u64(2));
            let mut copy = host::load_params(other, trained, &plain, only.as_deref()).train();
            assert_eq!(host::trainable(&copy), only, "{env}: the copy trains what the original does");
            let mut copied = pollster::block_on(adam.copy_to(&ours, &copy, &device)).unwrap();
            for _ in 0..2 {
                let l = loss(&ours, &obs, &device);
                ours = adam.step(ours, l, 3e-3).0;
                let l = loss(&copy, &obs, &device);
                copy = copied.step(copy, l, 3e-3).0;
            }
            assert_eq!(weights(&copy), weights(&ours), "{env}: the copied optimiser");
        }
    }

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
