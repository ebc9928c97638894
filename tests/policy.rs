//! The policy interface: sampled actions score the same under `evaluate_actions`, and GRPO's
//! padded cells carry no gradient.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Gradients;
use playground::Rng;
use playground::config::{GrpoConfig, LossType};
use playground::env::ActionSpace;
use playground::grpo::{GrpoMinibatch, grpo_loss};
use playground::host;
use playground::policy::{Policy, Sampling, StochasticPolicy};
use rand::{Rng as _, SeedableRng};

fn spaces() -> Vec<ActionSpace> {
    vec![ActionSpace::Discrete(3), ActionSpace::Continuous { low: vec![-2.0, -1.0], high: vec![2.0, 1.0] }]
}

fn random_obs(rng: &mut Rng, n: usize, d: usize) -> Vec<f32> {
    (0..n * d).map(|_| rng.random_range(-2.0..2.0)).collect()
}

#[test]
fn evaluate_actions_returns_the_log_probs_get_action_returned() {
    let device = Device::flex();
    for space in spaces() {
        let mut rng = Rng::seed_from_u64(7);
        let policy = Policy::new(4, &space, 16, 2, &device, &mut rng);
        let (n, width) = (256, space.width());
        let obs = host::matrix(random_obs(&mut rng, n, 4), n, 4, &device);
        for mut sampling in [Sampling::Sample(&mut rng.clone()), Sampling::Mode] {
            let picked = pollster::block_on(policy.get_action(obs.clone(), &mut sampling)).unwrap();
            assert_eq!(picked.actions.len(), n * width);
            let actions = host::matrix(picked.actions.clone(), n, width, &device);
            let (log_probs, entropy) = policy.evaluate_actions(obs.clone(), actions);
            let log_probs = pollster::block_on(host::read(log_probs)).unwrap();
            for (i, (&a, &b)) in picked.log_probs.iter().zip(&log_probs).enumerate() {
                assert!((a - b).abs() < 1e-5, "{space:?} row {i}: get_action {a}, evaluate_actions {b}");
            }
            let entropy = pollster::block_on(host::read(entropy)).unwrap();
            assert!(entropy.iter().all(|e| e.is_finite()));
        }
    }
}

#[test]
fn a_fresh_policy_is_near_uniform_and_its_samples_cover_the_actions() {
    // CleanRL's 0.01-gain head: logits near zero, so every action gets drawn.
    let device = Device::flex();
    let mut rng = Rng::seed_from_u64(1);
    let policy = Policy::new(4, &ActionSpace::Discrete(3), 64, 2, &device, &mut rng);
    let obs = host::matrix(random_obs(&mut rng, 300, 4), 300, 4, &device);
    let picked = pollster::block_on(policy.get_action(obs, &mut Sampling::Sample(&mut rng))).unwrap();
    for a in 0..3 {
        let count = picked.actions.iter().filter(|&&x| x == a as f32).count();
        assert!((60..140).contains(&count), "action {a} drawn {count} times of 300");
    }
    for &lp in &picked.log_probs {
        assert!((lp + 3f32.ln()).abs() < 0.05, "log-prob {lp} far from ln(1/3)");
    }
}

/// Every parameter gradient of `module`, read to the host, in visiting order.
fn gradients<M: Module>(module: &M, grads: &Gradients) -> Vec<Vec<f32>> {
    struct Collect<'a>(&'a Gradients, Vec<Vec<f32>>);
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let g = param.val().grad(self.0).expect("every parameter gets a gradient");
            self.1.push(pollster::block_on(host::read(g)).unwrap());
        }
    }
    let mut c = Collect(grads, Vec::new());
    module.visit(&mut c);
    c.1
}

#[test]
fn padded_cells_contribute_no_gradient() {
    let device = Device::flex().autodiff();
    let (steps, g, d) = (4, 3, 4);
    let lengths = [4, 1, 2];
    let mask: Vec<f32> = (0..steps * g).map(|i| f32::from(i / g < lengths[i % g])).collect();
    for space in spaces() {
        let width = space.width();
        let mut rng = Rng::seed_from_u64(3);
        // No hidden layer: the logits are linear in the observation, so extreme padded
        // observations give extreme log-probs (tanh would saturate them).
        let policy = Policy::new(d, &space, 8, 0, &device, &mut rng);
        let valid_obs = random_obs(&mut rng, steps * g, d);
        // Padded cells hold `junk` in every buffer, observations `obs_junk` (actions stay valid
        // indices); valid cells are the same in each call.
        let grads_with_padding = |junk: f32, obs_junk: f32| {
            let fill = |values: Vec<f32>, k: usize, junk: f32| -> Vec<f32> {
                values.iter().enumerate().map(|(i, &v)| if mask[i / k] > 0.0 { v } else { junk }).collect()
            };
            let obs = fill(valid_obs.clone(), d, obs_junk);
            let action_junk = if space.is_discrete() { 1.0 } else { junk };
            let actions = fill((0..steps * g * width).map(|i| (i % 2) as f32).collect(), width, action_junk);
            let cells = |v: Vec<f32>| host::matrix(fill(v, 1, junk), steps, g, &device);
            let mb = GrpoMinibatch {
                observations: host::matrix(obs, steps * g, d, &device).reshape([steps, g, d]),
                actions: host::matrix(actions, steps * g, width, &device).reshape([steps, g, width]),
                log_probs: cells(vec![-1.0; steps * g]),
                ref_log_probs: Some(cells(vec![-1.2; steps * g])),
                advantages: cells((0..steps * g).map(|i| i as f32 / 5.0 - 1.0).collect()),
                mask: host::matrix(mask.clone(), steps, g, &device),
            };
            let config = GrpoConfig { beta: 0.1, loss_type: LossType::Bnpo, ..GrpoConfig::default() };
            if obs_junk.abs() > 1e3 {
                // The policy's own log-prob on padded cells is extreme: exp(ref − logp) there
                // overflows f32, which a product with the mask would turn into NaN.
                let (lp, _) = policy.evaluate_actions(
                    mb.observations.clone().reshape([steps * g, d]),
                    mb.actions.clone().reshape([steps * g, width]),
                );
                let lp = pollster::block_on(host::read(lp.inner())).unwrap();
                let extreme = (0..steps * g).filter(|&i| mask[i] == 0.0).map(|i| lp[i]).fold(0f32, f32::min);
                assert!(extreme < -100.0, "{space:?}: padded log-probs are not extreme ({extreme})");
            }
            let loss = grpo_loss(&policy, mb, &config, steps, 7).loss;
            let value = pollster::block_on(host::read(loss.clone().inner())).unwrap()[0];
            assert!(value.is_finite(), "{space:?}: loss {value} with padding {junk}, {obs_junk}");
            gradients(&policy, &loss.backward())
        };
        let a = grads_with_padding(0.0, 0.0);
        assert!(a.iter().flatten().any(|&x| x != 0.0), "the valid cells must produce a gradient");
        for (junk, obs_junk) in [(1.0, 1.0), (-1e4, 1e5), (1e4, -1e5)] {
            let b = grads_with_padding(junk, obs_junk);
            assert_eq!(a, b, "{space:?}: padded cells ({junk}, {obs_junk}) changed the gradient");
        }
    }
}
