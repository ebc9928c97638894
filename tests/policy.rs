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
use playground::policy::{GaussianMlp, Policy, Sampling, StochasticPolicy};
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

/// A Gaussian MLP with gSDE (SB3's `use_sde`), built without hidden layers so that its latent
/// features are the observation itself: the action's variance is then `Σ_i o_i²·σ²` (+1e-6).
fn sde_policy(sample_freq: usize, device: &Device) -> GaussianMlp {
    GaussianMlp::new(3, 2, 16, 0, device, &mut Rng::seed_from_u64(4)).with_exploration(0.5f64.ln(), Some(sample_freq))
}

/// gSDE's distribution, checked by hand: with σ = 0.5 on every weight of the noise matrix and
/// the observation `o` as the latent, each action dimension has variance `0.25·Σ o²` + 1e-6,
/// and the mean's log-prob is `-½·ln(2π·var)` per dimension, in `evaluate_actions` and in the
/// sampled log-probs alike; the entropy depends on the state.
#[test]
fn gsde_scores_actions_with_the_state_dependent_variance() {
    let device = Device::flex();
    let policy = sde_policy(0, &device);
    let obs = [0.1f32, -0.2, 0.3, 1.0, 0.5, -2.0];
    let observations = host::matrix(obs.to_vec(), 2, 3, &device);
    let mode = pollster::block_on(policy.get_action(observations.clone(), &mut Sampling::Mode)).unwrap();
    let actions = host::matrix(mode.actions.clone(), 2, 2, &device);
    let (log_probs, entropy) = policy.evaluate_actions(observations.clone(), actions);
    let (log_probs, entropy) =
        (pollster::block_on(host::read(log_probs)).unwrap(), pollster::block_on(host::read(entropy)).unwrap());
    for (row, o) in obs.chunks(3).enumerate() {
        let var = 0.25 * o.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() + 1e-6;
        let expected = -(2.0 * std::f64::consts::PI * var).ln(); // two dimensions, each −½·ln(2π·var)
        assert!((log_probs[row] as f64 - expected).abs() < 1e-4, "row {row}: {} vs {expected}", log_probs[row]);
        assert!((mode.log_probs[row] as f64 - expected).abs() < 1e-4, "row {row}: picked {}", mode.log_probs[row]);
        let h = 2.0 * (0.5 * var.ln() + 0.5 + 0.5 * (2.0 * std::f64::consts::PI).ln());
        assert!((entropy[row] as f64 - h).abs() < 1e-4, "row {row}: entropy {} vs {h}", entropy[row]);
    }
    // Sampled with held noise, the log-probs are still the distribution's.
    let mut rng = Rng::seed_from_u64(5);
    let mut noise = policy.noise().expect("gSDE holds noise");
    noise.step(&[0, 1]);
    let picked = pollster::block_on(policy.get_action(observations.clone(), &mut Sampling::Explore(&mut rng, &mut noise))).unwrap();
    let actions = host::matrix(picked.actions.clone(), 2, 2, &device);
    let scored = pollster::block_on(host::read(policy.evaluate_actions(observations, actions).0)).unwrap();
    for (a, b) in picked.log_probs.iter().zip(&scored) {
        assert!((a - b).abs() < 1e-5, "picked {a}, scored {b}");
    }
}

/// gSDE's noise is held: the same state gives the same action until the noise is redrawn,
/// every `sample_freq` steps (0: never within a rollout), each row with its own matrix; and
/// over many matrices the actions spread with the distribution's variance.
#[test]
fn gsde_holds_its_noise_for_sample_freq_steps() {
    let device = Device::flex();
    let obs = host::matrix(vec![0.1, -0.2, 0.3, 0.1, -0.2, 0.3], 2, 3, &device);
    let act = |policy: &GaussianMlp, noise: &mut playground::policy::SdeNoise, rng: &mut Rng, rows: &[usize]| {
        noise.step(rows);
        let picked = pollster::block_on(policy.get_action(obs.clone(), &mut Sampling::Explore(rng, noise))).unwrap();
        picked.actions
    };
    let mut rng = Rng::seed_from_u64(6);
    let held = sde_policy(0, &device);
    let mut noise = held.noise().unwrap();
    let first = act(&held, &mut noise, &mut rng, &[0, 1]);
    assert_ne!(first[..2], first[2..], "two rows, two matrices (same state)");
    for _ in 0..3 {
        assert_eq!(act(&held, &mut noise, &mut rng, &[0, 1]), first, "held for the whole rollout");
    }
    let every_two = sde_policy(2, &device);
    let mut noise = every_two.noise().unwrap();
    let steps: Vec<Vec<f32>> = (0..3).map(|_| act(&every_two, &mut noise, &mut rng, &[0, 1])).collect();
    assert_eq!(steps[0], steps[1]);
    assert_ne!(steps[1], steps[2], "redrawn at step 2");
    // Step 3 holds step 2's matrices: row 1 alone (a GRPO member whose sibling finished) keeps its own.
    noise.step(&[1]);
    let one = host::matrix(vec![0.1, -0.2, 0.3], 1, 3, &device);
    let alone = pollster::block_on(every_two.get_action(one, &mut Sampling::Explore(&mut rng, &mut noise))).unwrap();
    assert_eq!(alone.actions, steps[2][2..].to_vec());

    let mut samples = Vec::new();
    for _ in 0..4000 {
        let mut noise = held.noise().unwrap();
        samples.push(act(&held, &mut noise, &mut rng, &[0, 1])[0] as f64);
    }
    let mean = samples.iter().sum::<f64>() / samples.len() as f64;
    let var = samples.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / samples.len() as f64;
    let expected = 0.25 * (0.01 + 0.04 + 0.09);
    assert!((var / expected - 1.0).abs() < 0.1, "variance {var} against {expected}");
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
