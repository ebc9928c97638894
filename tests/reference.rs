//! The learner's numbers against PyTorch: one PPO minibatch (CleanRL's `ppo.py`) and one GRPO
//! minibatch per `loss_type` (TRL's `GRPOTrainer`), on a small categorical actor-critic whose
//! weights, inputs and expected results `tests/reference/make_fixture.py` wrote into
//! `tests/reference/fixture.json` (see `tests/reference/README.md`).
//!
//! PyTorch computed in float64 from float32 inputs; the learner computes in float32. Every
//! number must agree within 1e-5, relative where its magnitude exceeds 1. Each test checks one
//! group of quantities and lists every mismatch it finds, not only the first.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Gradients;
use playground::Rng;
use playground::config::{GrpoConfig, LossType, Params, PpoConfig};
use playground::env::ActionSpace;
use playground::grpo::{GrpoLoss, GrpoMinibatch, grpo_loss};
use playground::host;
use playground::learner::Optimizer;
use playground::policy::{Policy, StochasticPolicy};
use playground::ppo::{PpoMinibatch, ppo_loss};
use playground::value::ActorCritic;
use playground::value::Critic;
use rand::SeedableRng;
use serde::Deserialize;

const TOLERANCE: f64 = 1e-5;

// ---------------------------------------------------------------------------------------------
// The fixture

#[derive(Deserialize)]
struct Fixture {
    torch: String,
    sizes: Sizes,
    ppo: PpoFixture,
    grpo: GrpoFixture,
}

#[derive(Deserialize)]
struct Sizes {
    obs_dim: usize,
    width: usize,
    depth: usize,
    actions: usize,
}

/// A linear layer as PyTorch stores it: `weight[out][in]`.
#[derive(Deserialize)]
struct Layer {
    weight: Vec<Vec<f64>>,
    bias: Vec<f64>,
}

#[derive(Deserialize)]
struct PpoFixture {
    config: PpoSettings,
    actor: Vec<Layer>,
    critic: Vec<Layer>,
    batch: PpoBatch,
    expected: PpoExpected,
}

#[derive(Deserialize)]
struct PpoSettings {
    clip_coef: f64,
    ent_coef: f64,
    vf_coef: f64,
    max_grad_norm: f64,
    learning_rate: f64,
    adam_eps: f64,
    norm_adv: bool,
    clip_vloss: bool,
}

#[derive(Deserialize)]
struct PpoBatch {
    observations: Vec<Vec<f64>>,
    actions: Vec<usize>,
    log_probs: Vec<f64>,
    advantages: Vec<f64>,
    returns: Vec<f64>,
    values: Vec<f64>,
}

#[derive(Deserialize)]
struct PpoExpected {
    new_log_probs: Vec<f64>,
    entropies: Vec<f64>,
    new_values: Vec<f64>,
    ratios: Vec<f64>,
    policy_loss: f64,
    policy_loss_without_norm_adv: f64,
    value_loss: f64,
    value_loss_unclipped: f64,
    loss_unclipped_value: f64,
    entropy: f64,
    approx_kl: f64,
    clip_fraction: f64,
    loss: f64,
    gradients: AgentLayers,
    grad_norm: f64,
    after_one_step: AgentLayers,
    second_loss: f64,
    grad_norm_second_step: f64,
    after_two_steps: AgentLayers,
}

#[derive(Deserialize)]
struct AgentLayers {
    actor: Vec<Layer>,
    critic: Vec<Layer>,
}

#[derive(Deserialize)]
struct GrpoFixture {
    config: GrpoSettings,
    horizon: usize,
    batch_valid_steps: usize,
    policy: Vec<Layer>,
    reference: Vec<Layer>,
    batch: GrpoBatch,
    expected: GrpoExpected,
}

#[derive(Deserialize)]
struct GrpoSettings {
    beta: f64,
    epsilon: f64,
    epsilon_high: f64,
    max_grad_norm: f64,
    learning_rate: f64,
    adam_eps: f64,
}

/// `(T, G, ...)` arrays, padded.
#[derive(Deserialize)]
struct GrpoBatch {
    observations: Vec<Vec<Vec<f64>>>,
    actions: Vec<Vec<usize>>,
    log_probs: Vec<Vec<f64>>,
    advantages: Vec<Vec<f64>>,
    mask: Vec<Vec<f64>>,
}

#[derive(Deserialize)]
struct GrpoExpected {
    log_probs: Vec<Vec<f64>>,
    ref_log_probs: Vec<Vec<f64>>,
    ratios: Vec<Vec<f64>>,
    cases: std::collections::BTreeMap<String, GrpoCase>,
}

#[derive(Deserialize)]
struct GrpoCase {
    /// The settings a case of TRL's newer objectives changes (absent: the plain loss type).
    #[serde(default)]
    config: Option<serde_json::Map<String, serde_json::Value>>,
    loss: f64,
    gradients: Vec<Layer>,
    grad_norm: f64,
    after_one_step: Vec<Layer>,
    entropy: f64,
    approx_kl: f64,
    clip_fraction: f64,
    kl: f64,
}

fn fixture() -> Fixture {
    serde_json::from_str(include_str!("reference/fixture.json")).expect("tests/reference/fixture.json parses")
}

// ---------------------------------------------------------------------------------------------
// Comparing

/// Collects every mismatch, and panics with all of them at the end.
#[derive(Default)]
struct Check(Vec<String>);

impl Check {
    fn close(&mut self, what: &str, got: f64, want: f64) {
        let tolerance = TOLERANCE * want.abs().max(1.0);
        // NaN fails too.
        if (got - want).abs().is_nan() || (got - want).abs() > tolerance {
            self.0.push(format!("{what}: burn {got}, torch {want} (|diff| {:.2e})", (got - want).abs()));
        }
    }

    fn all_close(&mut self, what: &str, got: &[f32], want: &[f64]) {
        if got.len() != want.len() {
            self.0.push(format!("{what}: burn has {} numbers, torch {}", got.len(), want.len()));
            return;
        }
        let before = self.0.len();
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            self.close(&format!("{what}[{i}]"), g as f64, w);
        }
        // Keep a long vector's report readable: its first three mismatches and a count.
        let found = self.0.len() - before;
        if found > 3 {
            self.0.truncate(before + 3);
            self.0.push(format!("{what}: … {} more mismatches", found - 3));
        }
    }

    /// Parameters (or gradients) read in burn's visiting order against PyTorch-shaped layers.
    fn layers(&mut self, what: &str, got: &[Vec<f32>], want: &[Layer]) {
        let want = host_params(want);
        if got.len() != want.len() {
            self.0.push(format!("{what}: burn has {} tensors, torch {}", got.len(), want.len()));
            return;
        }
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let kind = if i % 2 == 0 { "weight" } else { "bias" };
            let w: Vec<f64> = w.iter().map(|&x| x as f64).collect();
            self.all_close(&format!("{what} layer {} {kind}", i / 2), g, &w);
        }
    }

    fn finish(self, test: &str, torch: &str) {
        assert!(
            self.0.is_empty(),
            "{test}: {} mismatches with PyTorch {torch} (tolerance {TOLERANCE}, relative above 1):\n  {}",
            self.0.len(),
            self.0.join("\n  ")
        );
    }
}

fn read<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    pollster::block_on(host::read(t)).expect("read")
}

fn scalar(t: Tensor<1>) -> f64 {
    read(t)[0] as f64
}

// ---------------------------------------------------------------------------------------------
// Modules with the fixture's weights

/// Layers as burn's visiting order has them: per layer its weight `[in, out]` (row-major, the
/// transpose of PyTorch's) then its bias, as `(shape, data)`.
fn burn_params(layers: &[Layer]) -> Vec<(Vec<usize>, Vec<f32>)> {
    let mut out = Vec::new();
    for l in layers {
        let (d_out, d_in) = (l.weight.len(), l.weight[0].len());
        let mut w = vec![0f32; d_in * d_out];
        for (o, row) in l.weight.iter().enumerate() {
            assert_eq!(row.len(), d_in);
            for (i, &x) in row.iter().enumerate() {
                w[i * d_out + o] = x as f32;
            }
        }
        out.push((vec![d_in, d_out], w));
        assert_eq!(l.bias.len(), d_out);
        out.push((vec![d_out], l.bias.iter().map(|&x| x as f32).collect()));
    }
    out
}

fn host_params(layers: &[Layer]) -> Vec<Vec<f32>> {
    burn_params(layers).into_iter().map(|(_, data)| data).collect()
}

/// Replace every float parameter of `module`, in visiting order, checking its shape; on an
/// autodiff device the new parameters require gradients.
fn load<M: Module>(module: M, params: Vec<(Vec<usize>, Vec<f32>)>, device: &Device, autodiff: bool) -> M {
    struct Load<'a> {
        params: std::vec::IntoIter<(Vec<usize>, Vec<f32>)>,
        device: &'a Device,
        autodiff: bool,
    }
    impl ModuleMapper for Load<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (shape, data) = self.params.next().expect("the fixture has as many tensors as the module");
            assert_eq!(
                param.shape().as_slice(),
                shape.as_slice(),
                "a parameter's shape differs from the fixture's"
            );
            let (device, autodiff) = (self.device.clone(), self.autodiff);
            param.map(move |_| {
                let t = Tensor::from_data(TensorData::new(data, shape), &device);
                if autodiff { t.require_grad() } else { t }
            })
        }
    }
    let mut mapper = Load { params: params.into_iter(), device, autodiff };
    let module = module.map(&mut mapper);
    assert!(mapper.params.next().is_none(), "the fixture has more tensors than the module");
    module
}

fn policy(f: &Fixture, layers: &[Layer], device: &Device, autodiff: bool) -> Policy {
    let s = &f.sizes;
    let mut rng = Rng::seed_from_u64(0);
    let p = Policy::new(s.obs_dim, &ActionSpace::Discrete(s.actions), s.width, s.depth, device, &mut rng);
    load(p, burn_params(layers), device, autodiff)
}

fn agent(f: &Fixture, device: &Device) -> ActorCritic<Policy> {
    let s = &f.sizes;
    let mut rng = Rng::seed_from_u64(0);
    let critic = Critic::new(s.obs_dim, s.width, s.depth, device, &mut rng);
    ActorCritic {
        actor: policy(f, &f.ppo.actor, device, true),
        critic: load(critic, burn_params(&f.ppo.critic), device, true),
    }
}

/// Every parameter gradient of `module`, in visiting order.
fn gradients<M: Module>(module: &M, grads: &Gradients) -> Vec<Vec<f32>> {
    struct Collect<'a>(&'a Gradients, Vec<Vec<f32>>);
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let g = param.val().grad(self.0).expect("every parameter gets a gradient");
            self.1.push(read(g));
        }
    }
    let mut c = Collect(grads, Vec::new());
    module.visit(&mut c);
    c.1
}

fn params<M: Module>(module: &M) -> Vec<Vec<f32>> {
    pollster::block_on(host::read_params(module, None)).expect("read parameters")
}

// ---------------------------------------------------------------------------------------------
// PPO

fn device() -> Device {
    Device::flex().autodiff()
}

fn ppo_config(f: &Fixture) -> PpoConfig {
    let c = &f.ppo.config;
    PpoConfig {
        clip_coef: c.clip_coef,
        ent_coef: c.ent_coef,
        vf_coef: c.vf_coef,
        max_grad_norm: c.max_grad_norm,
        learning_rate: c.learning_rate,
        norm_adv: c.norm_adv,
        clip_vloss: c.clip_vloss,
        ..PpoConfig::default()
    }
}

fn ppo_minibatch(f: &Fixture, device: &Device) -> PpoMinibatch {
    let b = &f.ppo.batch;
    let n = b.actions.len();
    let v = |x: &[f64]| host::vector(x.iter().map(|&x| x as f32).collect(), device);
    let obs: Vec<f32> = b.observations.iter().flatten().map(|&x| x as f32).collect();
    PpoMinibatch {
        observations: host::matrix(obs, n, f.sizes.obs_dim, device),
        actions: host::matrix(b.actions.iter().map(|&a| a as f32).collect(), n, 1, device),
        log_probs: v(&b.log_probs),
        advantages: v(&b.advantages),
        returns: v(&b.returns),
        values: v(&b.values),
    }
}

#[test]
fn ppo_forward_pass_matches_torch() {
    let (f, d) = (fixture(), device());
    let (agent, mb, e) = (agent(&f, &d), ppo_minibatch(&f, &d), &f.ppo.expected);
    let mut check = Check::default();
    let (log_probs, entropies) = agent.actor.evaluate_actions(mb.observations.clone(), mb.actions.clone());
    check.all_close("log-probs", &read(log_probs.clone().inner()), &e.new_log_probs);
    check.all_close("entropies", &read(entropies.inner()), &e.entropies);
    check.all_close("values", &read(agent.critic.forward(mb.observations).inner()), &e.new_values);
    check.all_close("ratios", &read((log_probs - mb.log_probs).exp().inner()), &e.ratios);
    check.finish("PPO forward pass", &f.torch);
}

#[test]
fn ppo_loss_parts_match_torch() {
    let (f, d) = (fixture(), device());
    let (agent, e) = (agent(&f, &d), &f.ppo.expected);
    let config = ppo_config(&f);
    let mut check = Check::default();
    let l = ppo_loss(&agent, ppo_minibatch(&f, &d), &config);
    check.close("policy loss", scalar(l.policy_loss), e.policy_loss);
    check.close("value loss (clipped)", scalar(l.value_loss), e.value_loss);
    check.close("entropy", scalar(l.entropy), e.entropy);
    check.close("approx-KL", scalar(l.approx_kl), e.approx_kl);
    check.close("clip fraction", scalar(l.clip_fraction), e.clip_fraction);
    check.close("loss", scalar(l.loss.inner()), e.loss);

    let unclipped = PpoConfig { clip_vloss: false, ..config.clone() };
    let l = ppo_loss(&agent, ppo_minibatch(&f, &d), &unclipped);
    check.close("value loss (clip_vloss = false)", scalar(l.value_loss), e.value_loss_unclipped);
    check.close("loss (clip_vloss = false)", scalar(l.loss.inner()), e.loss_unclipped_value);

    let raw = PpoConfig { norm_adv: false, ..config };
    let l = ppo_loss(&agent, ppo_minibatch(&f, &d), &raw);
    check.close("policy loss (norm_adv = false)", scalar(l.policy_loss), e.policy_loss_without_norm_adv);
    check.finish("PPO loss parts", &f.torch);
}

#[test]
fn ppo_gradients_match_torch() {
    let (f, d) = (fixture(), device());
    let (agent, e) = (agent(&f, &d), &f.ppo.expected);
    let mut check = Check::default();
    let loss = ppo_loss(&agent, ppo_minibatch(&f, &d), &ppo_config(&f)).loss;
    let grads = loss.backward();
    check.layers("actor gradient", &gradients(&agent.actor, &grads), &e.gradients.actor);
    check.layers("critic gradient", &gradients(&agent.critic, &grads), &e.gradients.critic);
    // The norm the optimiser reports: before clipping.
    let loss = ppo_loss(&agent, ppo_minibatch(&f, &d), &ppo_config(&f)).loss;
    let mut optimizer = Optimizer::new(f.ppo.config.adam_eps, f.ppo.config.max_grad_norm);
    let (_, norm) = optimizer.step(agent, loss, f.ppo.config.learning_rate);
    check.close("gradient norm", scalar(norm.inner()), e.grad_norm);
    check.finish("PPO gradients", &f.torch);
}

#[test]
fn ppo_adam_steps_match_torch() {
    let (f, d) = (fixture(), device());
    let (mut agent, e, c) = (agent(&f, &d), &f.ppo.expected, &f.ppo.config);
    let config = ppo_config(&f);
    let mut check = Check::default();
    let mut optimizer = Optimizer::new(c.adam_eps, c.max_grad_norm);
    let loss = ppo_loss(&agent, ppo_minibatch(&f, &d), &config).loss;
    (agent, _) = optimizer.step(agent, loss, c.learning_rate);
    check.layers("actor after one step", &params(&agent.actor), &e.after_one_step.actor);
    check.layers("critic after one step", &params(&agent.critic), &e.after_one_step.critic);
    // A second step on the same minibatch, as a second epoch takes: Adam's moments carry over.
    let loss = ppo_loss(&agent, ppo_minibatch(&f, &d), &config).loss;
    check.close("loss before the second step", scalar(loss.clone().inner()), e.second_loss);
    let norm;
    (agent, norm) = optimizer.step(agent, loss, c.learning_rate);
    check.close("gradient norm of the second step", scalar(norm.inner()), e.grad_norm_second_step);
    check.layers("actor after two steps", &params(&agent.actor), &e.after_two_steps.actor);
    check.layers("critic after two steps", &params(&agent.critic), &e.after_two_steps.critic);
    check.finish("PPO Adam steps", &f.torch);
}

// ---------------------------------------------------------------------------------------------
// GRPO

fn loss_type(name: &str) -> LossType {
    match name {
        "grpo" => LossType::Grpo,
        "bnpo" => LossType::Bnpo,
        "dr_grpo" => LossType::DrGrpo,
        "dapo" => LossType::Dapo,
        "cispo" => LossType::Cispo,
        "sapo" => LossType::Sapo,
        other => panic!("unknown loss_type {other} in the fixture"),
    }
}

fn grpo_config(f: &Fixture, case: &str) -> GrpoConfig {
    let c = &f.grpo.config;
    let variant = f.grpo.expected.cases[case].config.as_ref();
    let mut config = GrpoConfig {
        loss_type: loss_type(variant.map_or(case, |v| v["loss_type"].as_str().expect("a loss_type"))),
        beta: c.beta,
        epsilon: c.epsilon,
        epsilon_high: c.epsilon_high,
        max_grad_norm: c.max_grad_norm,
        learning_rate: c.learning_rate,
        ..GrpoConfig::default()
    };
    // The variant's own settings, through the same `key=value` setter as URLs and the CLI.
    for (key, value) in variant.into_iter().flatten().filter(|(k, _)| *k != "loss_type") {
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        config.set(key, &text).unwrap_or_else(|e| panic!("{case}: {key} = {text}: {e}"));
    }
    config
}

/// The padded batch as `Grpo::update` builds it: uploaded to the learner's device, scored once
/// by the reference policy (on the inner device, without autodiff).
fn grpo_minibatch(f: &Fixture, device: &Device) -> GrpoMinibatch {
    let b = &f.grpo.batch;
    let (steps, g, obs_dim) = (b.mask.len(), b.mask[0].len(), f.sizes.obs_dim);
    let cells =
        |x: &[Vec<f64>]| host::matrix(x.iter().flatten().map(|&x| x as f32).collect(), steps, g, device);
    let obs: Vec<f32> = b.observations.iter().flatten().flatten().map(|&x| x as f32).collect();
    let obs = host::matrix(obs, steps * g, obs_dim, device).reshape([steps, g, obs_dim]);
    let actions: Vec<f32> = b.actions.iter().flatten().map(|&a| a as f32).collect();
    let actions = host::matrix(actions, steps * g, 1, device).reshape([steps, g, 1]);
    let inner = device.clone().inner();
    let reference = policy(f, &f.grpo.reference, &inner, false);
    let (ref_log_probs, _) = reference.evaluate_actions(
        obs.clone().inner().reshape([steps * g, obs_dim]),
        actions.clone().inner().reshape([steps * g, 1]),
    );
    GrpoMinibatch {
        observations: obs,
        actions,
        log_probs: cells(&b.log_probs),
        ref_log_probs: Some(ref_log_probs.reshape([steps, g])),
        advantages: cells(&b.advantages),
        mask: cells(&b.mask),
    }
}

/// `grpo_loss` on the fixture's batch with its horizon and batch size.
fn run_grpo(f: &Fixture, policy: &Policy, device: &Device, loss: &str) -> GrpoLoss {
    let c = grpo_config(f, loss);
    grpo_loss(policy, grpo_minibatch(f, device), &c, f.grpo.horizon, f.grpo.batch_valid_steps)
}

fn flat(x: &[Vec<f64>]) -> Vec<f64> {
    x.iter().flatten().copied().collect()
}

#[test]
fn grpo_forward_pass_matches_torch() {
    let (f, d) = (fixture(), device());
    let e = &f.grpo.expected;
    let mut check = Check::default();
    let policy = policy(&f, &f.grpo.policy, &d, true);
    let mb = grpo_minibatch(&f, &d);
    let [steps, g, obs_dim] = mb.observations.dims();
    let (log_probs, _) = policy
        .evaluate_actions(mb.observations.reshape([steps * g, obs_dim]), mb.actions.reshape([steps * g, 1]));
    check.all_close("policy log-probs (T, G)", &read(log_probs.inner()), &flat(&e.log_probs));
    let ref_log_probs = mb.ref_log_probs.expect("beta > 0");
    check.all_close("reference log-probs (T, G)", &read(ref_log_probs), &flat(&e.ref_log_probs));
    // The ratios grpo_loss returns: 1 exactly in padding.
    let l = run_grpo(&f, &policy, &d, "bnpo");
    let mask = flat(&f.grpo.batch.mask);
    let want: Vec<f64> =
        flat(&e.ratios).iter().zip(&mask).map(|(&r, &m)| if m > 0.0 { r } else { 1.0 }).collect();
    check.all_close("ratios (T, G)", &read(l.ratio), &want);
    check.finish("GRPO forward pass", &f.torch);
}

#[test]
fn grpo_losses_match_torch() {
    let (f, d) = (fixture(), device());
    let policy = policy(&f, &f.grpo.policy, &d, true);
    let mut check = Check::default();
    for (name, e) in &f.grpo.expected.cases {
        let l = run_grpo(&f, &policy, &d, name);
        check.close(&format!("{name}: loss"), scalar(l.loss.inner()), e.loss);
        check.close(&format!("{name}: entropy"), scalar(l.entropy), e.entropy);
        check.close(&format!("{name}: approx-KL"), scalar(l.approx_kl), e.approx_kl);
        check.close(&format!("{name}: clip fraction"), scalar(l.clip_fraction), e.clip_fraction);
        check.close(&format!("{name}: k3 KL to the reference"), scalar(l.kl), e.kl);
    }
    check.finish("GRPO losses", &f.torch);
}

/// One Adam step (with the fixture's ε and clipping) on a fresh policy, for each loss type:
/// `(name, expected, policy after the step, gradient norm before clipping)`.
fn grpo_steps<'f>(f: &'f Fixture, d: &Device) -> Vec<(String, &'f GrpoCase, Policy, Tensor<1>)> {
    let c = &f.grpo.config;
    let cases = f.grpo.expected.cases.iter().map(|(name, e)| {
        let policy = policy(f, &f.grpo.policy, d, true);
        let loss = run_grpo(f, &policy, d, name).loss;
        let (policy, norm) = Optimizer::new(c.adam_eps, c.max_grad_norm).step(policy, loss, c.learning_rate);
        (name.clone(), e, policy, norm)
    });
    cases.collect()
}

#[test]
fn grpo_gradients_match_torch() {
    let (f, d) = (fixture(), device());
    let mut check = Check::default();
    for (name, e) in &f.grpo.expected.cases {
        let policy = policy(&f, &f.grpo.policy, &d, true);
        let loss = run_grpo(&f, &policy, &d, name).loss;
        check.layers(&format!("{name}: gradient"), &gradients(&policy, &loss.backward()), &e.gradients);
    }
    // The norm the optimiser reports: before clipping.
    for (name, e, _, norm) in grpo_steps(&f, &d) {
        check.close(&format!("{name}: gradient norm"), scalar(norm.inner()), e.grad_norm);
    }
    check.finish("GRPO gradients", &f.torch);
}

#[test]
fn grpo_adam_steps_match_torch() {
    let (f, d) = (fixture(), device());
    let mut check = Check::default();
    for (name, e, policy, _) in grpo_steps(&f, &d) {
        check.layers(&format!("{name}: policy after one step"), &params(&policy), &e.after_one_step);
    }
    check.finish("GRPO Adam steps", &f.torch);
}

#[test]
fn the_fixture_covers_every_loss_type_and_trls_newer_objectives() {
    let f = fixture();
    let names: Vec<&str> = f.grpo.expected.cases.keys().map(String::as_str).collect();
    assert_eq!(names, ["bnpo", "cispo", "dapo", "delta", "dr_grpo", "entropy_coef", "grpo", "gspo", "sapo"]);
    let configs: Vec<GrpoConfig> = names.iter().map(|n| grpo_config(&f, n)).collect();
    for option in LossType::OPTIONS {
        assert!(configs.iter().any(|c| c.loss_type.as_str() == *option), "no case of loss_type {option}");
    }
    assert!(configs.iter().any(|c| c.importance_sampling_level.as_str() == "sequence"));
    assert!(configs.iter().any(|c| c.delta > 0.0) && configs.iter().any(|c| c.entropy_coef > 0.0));
}

/// The Adam ε the fixture was computed with is the one each trainer uses (CleanRL's 1e-5 for
/// PPO, PyTorch's 1e-8 for GRPO): the optimiser tests above build their own `Optimizer`.
#[test]
fn the_trainers_use_the_fixtures_adam_eps() {
    let f = fixture();
    assert_eq!(playground::ppo::ADAM_EPS, f.ppo.config.adam_eps);
    assert_eq!(playground::grpo::ADAM_EPS, f.grpo.config.adam_eps);
}
