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
pub mod lm;

pub use categorical::CategoricalMlp;
pub use gaussian::GaussianMlp;
pub use lm::TinyGpt;

use burn::module::{Module, ModuleDisplay};
use burn::prelude::*;

use crate::Rng;
use crate::config::RunConfig;
use crate::env::{ActionSpace, Task};
use crate::host::{self, DeviceError};

/// How `get_action` picks actions.
pub enum Sampling<'a> {
    /// Draw from the distribution (rollouts).
    Sample(&'a mut Rng),
    /// Draw with exploration noise held across steps (gSDE, see [`SdeNoise`]); a policy
    /// without such noise samples as `Sample` does.
    Explore(&'a mut Rng, &'a mut SdeNoise),
    /// Take the most likely action: argmax, or the Gaussian mean (deterministic evaluation).
    Mode,
}

/// Generalized State-Dependent Exploration's noise over one rollout (Raffin et al. 2021; SB3's
/// `use_sde`): each row (a PPO environment, a GRPO group member) has its own noise matrix `Z`
/// with standard normal entries, drawn from the run's RNG when first needed and again every
/// `sample_freq` steps (0: once per rollout, SB3's `sde_sample_freq = -1`). The policy scales it
/// by its noise std and applies it to its latent features, so exploration is smooth in time.
pub struct SdeNoise {
    sample_freq: usize,
    steps: usize,
    /// The rows of the batch the current step acts for.
    rows: Vec<usize>,
    matrices: std::collections::HashMap<usize, Vec<f64>>,
}

impl SdeNoise {
    pub fn new(sample_freq: usize) -> Self {
        Self { sample_freq, steps: 0, rows: Vec::new(), matrices: Default::default() }
    }

    /// The next step acts for `rows` (in batch order); new matrices are due every `sample_freq`
    /// steps (SB3's `reset_noise` at a rollout's start and when `n_steps % sde_sample_freq == 0`).
    pub fn step(&mut self, rows: &[usize]) {
        if self.sample_freq > 0 && self.steps.is_multiple_of(self.sample_freq) {
            self.matrices.clear();
        }
        self.steps += 1;
        self.rows = rows.to_vec();
    }

    /// The noise matrix (`len` standard normal draws) of the batch's row `b`.
    pub fn matrix(&mut self, b: usize, len: usize, rng: &mut Rng) -> &[f64] {
        use rand_distr::Distribution;
        let row = self.rows[b];
        let z = self.matrices.entry(row).or_insert_with(|| (0..len).map(|_| rand_distr::StandardNormal.sample(rng)).collect());
        assert_eq!(z.len(), len, "one matrix shape per policy");
        z
    }
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

    /// What the distribution's head (and PPO's critic) reads, `(batch, feature_dim)`: the
    /// observation itself for an MLP policy, whose critic is a network of its own (CleanRL);
    /// the hidden state at the last token for the language model, whose value head shares it.
    fn features(&self, observations: Tensor<2>) -> Tensor<2> {
        observations
    }

    /// Width of [`features`](Self::features) for observations of width `obs_dim`.
    fn feature_dim(&self, obs_dim: usize) -> usize {
        obs_dim
    }

    /// Hidden layers of PPO's critic on these features, for a run asking for `depth`: an MLP
    /// policy's critic is a network as deep as the run's; a policy whose features are already
    /// a learned representation takes a linear value head on them (0).
    fn critic_depth(&self, depth: usize) -> usize {
        depth
    }

    /// The distribution's parameters from features, on the device: log-probabilities
    /// `(batch, n)` for a categorical policy, mean and log-std `(batch, 2·dim)` for a Gaussian
    /// one.
    fn head(&self, features: Tensor<2>) -> Tensor<2>;

    /// The distribution's parameters for a batch of observations `(batch, obs_dim)`.
    fn dist_params(&self, observations: Tensor<2>) -> Tensor<2> {
        self.head(self.features(observations))
    }

    /// On the host: pick actions from the parameters `dist_params` produced (read back to a
    /// row-major slice), returning them with their log-probabilities.
    fn pick(&self, params: &[f32], batch: usize, sampling: &mut Sampling) -> Actions;

    /// Log-probabilities `(batch,)` of the given actions `(batch, width)` and the entropy
    /// `(batch,)` of the distribution, from features, differentiable.
    fn evaluate_features(&self, features: Tensor<2>, actions: Tensor<2>) -> (Tensor<1>, Tensor<1>);

    /// Log-probabilities `(batch,)` of the given actions `(batch, width)` and the entropy
    /// `(batch,)` of the distribution at each observation, differentiable.
    fn evaluate_actions(&self, observations: Tensor<2>, actions: Tensor<2>) -> (Tensor<1>, Tensor<1>) {
        self.evaluate_features(self.features(observations), actions)
    }

    /// [`evaluate_actions`](Self::evaluate_actions) over a padded `(T, G)` batch of
    /// trajectories (observations `(T, G, obs_dim)`, actions `(T, G, width)`), returning
    /// `(T, G)` log-probabilities and entropies; padded cells get finite values the caller
    /// masks. By default every cell is scored on its own; a sequence model scores each
    /// trajectory in one causal pass instead of one pass per prefix.
    fn evaluate_padded(&self, observations: Tensor<3>, actions: Tensor<3>) -> (Tensor<2>, Tensor<2>) {
        let [t, g, d] = observations.dims();
        let width = actions.dims()[2];
        let (log_probs, entropy) =
            self.evaluate_actions(observations.reshape([t * g, d]), actions.reshape([t * g, width]));
        (log_probs.reshape([t, g]), entropy.reshape([t, g]))
    }

    /// The sampler of one group's rollout (G members from the same initial state). By default
    /// each step is scored from its observations alone; a policy that can reuse work between
    /// steps keeps state across them (the language model's key/value cache).
    fn group_sampler(&self) -> Box<dyn GroupSampler + '_> {
        Box::new(Stateless(self))
    }

    /// A fresh noise state for one rollout, for a policy whose exploration noise is held across
    /// steps (the Gaussian MLP with gSDE); `None`: each step samples on its own.
    fn noise(&self) -> Option<SdeNoise> {
        None
    }

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

/// Distribution parameters for the steps of one group, reusing what earlier steps computed.
pub trait GroupSampler {
    /// The parameters for the members `rows` (indices in `0..G`, ascending) still running,
    /// whose observations are `observations` (row-major, one row per member of `rows`). The
    /// first call has every member, at the initial state; each later call's members have taken
    /// one step since the call before.
    fn dist_params(&mut self, observations: &[f32], rows: &[usize], device: &Device) -> Tensor<2>;
}

/// The default [`GroupSampler`]: each step's parameters from its observations alone.
struct Stateless<'a, P>(&'a P);

impl<P: StochasticPolicy> GroupSampler for Stateless<'_, P> {
    fn dist_params(&mut self, observations: &[f32], rows: &[usize], device: &Device) -> Tensor<2> {
        let obs_dim = observations.len() / rows.len();
        self.0.dist_params(host::matrix(observations.to_vec(), rows.len(), obs_dim, device))
    }
}

/// An observation of `env` for tests: for a text task, BOS and three tokens, padded to the context;
/// otherwise a small state vector.
#[cfg(test)]
pub(crate) fn test_observation(env: crate::env::EnvId) -> Vec<f32> {
    match env.task() {
        Some(_) => [1.0, 3.0, 4.0, 22.0].into_iter().chain([0.0; 12]).collect(),
        None => vec![0.1, -0.2, 0.03, 0.4, 0.2, -0.1][..env.observation_dim()].to_vec(),
    }
}

/// The policies of the playground, chosen by the environment's action space.
// One policy per run, moved rarely: the language model's larger variant costs nothing to box away.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Policy {
    Categorical(CategoricalMlp),
    Gaussian(GaussianMlp),
    Lm(TinyGpt),
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

/// The shipped base model of a text task (burnpack bytes), made by `pvg pretrain` with the
/// command in `www/models/README.md`. Native builds compile them in; the page fetches the one
/// it needs (`www/models/`, served beside the wasm) and hands it over with [`register_base`],
/// so a visitor who never opens a text task does not download them.
#[cfg(not(target_arch = "wasm32"))]
pub fn base_weights(task: Task) -> &'static [u8] {
    match task {
        Task::Reverse => include_bytes!("../../www/models/lm-reverse.bpk"),
        Task::Add => include_bytes!("../../www/models/lm-add.bpk"),
        Task::Sort => include_bytes!("../../www/models/lm-sort.bpk"),
    }
}

#[cfg(target_arch = "wasm32")]
thread_local! {
    /// The bases the page has fetched, kept for the life of the worker (about 400 kB each).
    static BASES: std::cell::RefCell<Vec<(Task, &'static [u8])>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The base the page registered for `task`, or nothing (which [`TinyGpt::load_base`] rejects
/// with a message).
#[cfg(target_arch = "wasm32")]
pub fn base_weights(task: Task) -> &'static [u8] {
    BASES.with_borrow(|b| b.iter().find(|(t, _)| *t == task).map_or(&[][..], |(_, bytes)| bytes))
}

/// Hand the page's fetched base of `task` to the core (a second registration is ignored).
#[cfg(target_arch = "wasm32")]
pub fn register_base(task: Task, bytes: Vec<u8>) {
    if base_weights(task).is_empty() {
        BASES.with_borrow_mut(|b| b.push((task, Vec::leak(bytes))));
    }
}

impl Policy {
    /// The policy of a run: for a text task, the task's shipped base with fresh LoRA adapters
    /// (`lora_rank`, `lora_alpha`); otherwise an MLP of `width` × `depth` for the env's spaces.
    pub fn for_run(run: &RunConfig, device: &Device, rng: &mut Rng) -> Self {
        let env = run.env;
        match env.task() {
            Some(task) => Policy::Lm(
                TinyGpt::load_base(base_weights(task), device)
                    .unwrap_or_else(|e| panic!("{env}: the shipped base: {e}"))
                    .with_lora(run.lora_rank, run.lora_alpha, rng)
                    .with_temperature(run.temperature),
            ),
            None => match Policy::new(env.observation_dim(), &env.action_space(), run.width, run.depth, device, rng) {
                Policy::Gaussian(p) => {
                    Policy::Gaussian(p.with_exploration(run.log_std_init, run.sde.then_some(run.sde_sample_freq)))
                }
                other => other,
            },
        }
    }
}

macro_rules! delegate {
    ($self:ident, $p:ident => $e:expr) => {
        match $self {
            Policy::Categorical($p) => $e,
            Policy::Gaussian($p) => $e,
            Policy::Lm($p) => $e,
        }
    };
}

impl StochasticPolicy for Policy {
    fn action_width(&self) -> usize {
        delegate!(self, p => p.action_width())
    }
    fn features(&self, observations: Tensor<2>) -> Tensor<2> {
        delegate!(self, p => p.features(observations))
    }
    fn feature_dim(&self, obs_dim: usize) -> usize {
        delegate!(self, p => p.feature_dim(obs_dim))
    }
    fn critic_depth(&self, depth: usize) -> usize {
        delegate!(self, p => p.critic_depth(depth))
    }
    fn head(&self, features: Tensor<2>) -> Tensor<2> {
        delegate!(self, p => p.head(features))
    }
    fn pick(&self, params: &[f32], batch: usize, sampling: &mut Sampling) -> Actions {
        delegate!(self, p => p.pick(params, batch, sampling))
    }
    fn evaluate_features(&self, features: Tensor<2>, actions: Tensor<2>) -> (Tensor<1>, Tensor<1>) {
        delegate!(self, p => p.evaluate_features(features, actions))
    }
    fn group_sampler(&self) -> Box<dyn GroupSampler + '_> {
        delegate!(self, p => p.group_sampler())
    }
    fn noise(&self) -> Option<SdeNoise> {
        delegate!(self, p => p.noise())
    }
    fn evaluate_padded(&self, observations: Tensor<3>, actions: Tensor<3>) -> (Tensor<2>, Tensor<2>) {
        delegate!(self, p => p.evaluate_padded(observations, actions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ExperimentConfig;
    use crate::env::EnvId;
    use crate::host::{ActingCopy, matrix, read, read_params, trainable};
    use burn::module::{ModuleMapper, Param};
    use rand::SeedableRng;

    /// Move every trainable weight of `module` by a seeded amount (as training would).
    fn perturb<M: Module>(module: M) -> M {
        struct Shift(crate::Rng);
        impl ModuleMapper for Shift {
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                if !param.is_require_grad() {
                    return param;
                }
                let noise = rand::Rng::random_range(&mut self.0, 0.01..0.1);
                // A new leaf that still trains, as after an optimiser step.
                param.map(move |t| t.add_scalar(noise).detach().require_grad())
            }
        }
        module.map(&mut Shift(crate::Rng::seed_from_u64(3)))
    }

    /// The acting copy (`host::ActingCopy`) of a learner on another device (forced here: both are the CPU) acts as
    /// the learner does, and moves only the trainable weights: a LoRA model's adapters, not its
    /// base; every weight of an MLP.
    #[test]
    fn the_acting_copy_moves_only_what_trains_and_acts_as_the_learner() {
        let device = Device::flex();
        let learner_device = device.clone().autodiff();
        for (env, moved_share) in [(EnvId::LmReverse, 0.2), (EnvId::CartPole, 1.0)] {
            let run = ExperimentConfig::for_env(env).run;
            let make = |d: &Device, seed| Policy::for_run(&run, d, &mut crate::Rng::seed_from_u64(seed));
            let learner = perturb(make(&learner_device, 1));
            // A template of other weights where they train: what the copy overwrites.
            let copy = ActingCopy::with_template(&device, make(&device, 2));
            let acting = pollster::block_on(copy.snapshot(&learner)).unwrap();
            let only = trainable(&learner).expect("an autodiff learner with trainable weights");
            let count = |only: Option<&[bool]>| {
                pollster::block_on(read_params(&learner, only)).unwrap().iter().map(Vec::len).sum::<usize>()
                    as f64
            };
            let share = count(Some(&only)) / count(None);
            assert!(share <= moved_share, "{env}: {share} of the weights moved");
            let obs = test_observation(env);
            let d = obs.len();
            let expected =
                pollster::block_on(read(learner.valid().dist_params(matrix(obs.clone(), 1, d, &device))))
                    .unwrap();
            let got = pollster::block_on(read(acting.dist_params(matrix(obs, 1, d, &device)))).unwrap();
            assert_eq!(got, expected, "{env}: the copy acts as the learner");
        }
    }
}
