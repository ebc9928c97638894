//! CartPole-v1, ported from Gymnasium 1.4.0 `gymnasium/envs/classic_control/cartpole.py`
//! (`CartPoleEnv`, default `sutton_barto_reward=False`, Euler integrator).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Env, EnvId, Transition, check_state_len, discrete_action};

/// `self.gravity`
const GRAVITY: f64 = 9.8;
/// `self.masscart`
const MASS_CART: f64 = 1.0;
/// `self.masspole`
const MASS_POLE: f64 = 0.1;
/// `self.total_mass`
const TOTAL_MASS: f64 = MASS_POLE + MASS_CART;
/// `self.length` (half the pole's length)
const LENGTH: f64 = 0.5;
/// `self.polemass_length`
const POLE_MASS_LENGTH: f64 = MASS_POLE * LENGTH;
/// `self.force_mag`
const FORCE_MAG: f64 = 10.0;
/// `self.tau`, seconds per step
const TAU: f64 = 0.02;
/// `self.theta_threshold_radians` (12 degrees)
const THETA_THRESHOLD: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
/// `self.x_threshold`
const X_THRESHOLD: f64 = 2.4;
/// Default reset bounds of `reset` (`utils.maybe_parse_reset_bounds(options, -0.05, 0.05)`).
const RESET_BOUND: f64 = 0.05;

/// Cart position, cart velocity, pole angle, pole angular velocity; the observation is the state.
#[derive(Clone)]
pub struct CartPole {
    state: [f64; 4],
    /// Gymnasium's `steps_beyond_terminated is not None`: stepping past termination gives reward 0.
    terminated_before: bool,
    rng: ChaCha8Rng,
}

impl CartPole {
    /// A fresh instance with state zero and its RNG seeded with 0 (call `reset` before `step`).
    pub fn new() -> Self {
        CartPole { state: [0.0; 4], terminated_before: false, rng: ChaCha8Rng::seed_from_u64(0) }
    }

    fn observation(&self) -> Vec<f32> {
        self.state.iter().map(|&v| v as f32).collect()
    }
}

impl Default for CartPole {
    fn default() -> Self {
        Self::new()
    }
}

impl Env for CartPole {
    fn id(&self) -> EnvId {
        EnvId::CartPole
    }

    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        if let Some(seed) = seed {
            self.rng = ChaCha8Rng::seed_from_u64(seed);
        }
        let state: [f64; 4] = std::array::from_fn(|_| self.rng.random_range(-RESET_BOUND..RESET_BOUND));
        self.reset_to(&state)
    }

    fn state(&self) -> Vec<f64> {
        self.state.to_vec()
    }

    fn reset_to(&mut self, state: &[f64]) -> Vec<f32> {
        check_state_len(self.id(), state, 4);
        self.state.copy_from_slice(state);
        self.terminated_before = false;
        self.observation()
    }

    fn step(&mut self, action: &[f32]) -> Transition {
        let action = discrete_action(self.id(), action, 2);
        let [x, x_dot, theta, theta_dot] = self.state;
        let force = if action == 1 { FORCE_MAG } else { -FORCE_MAG };
        let costheta = theta.cos();
        let sintheta = theta.sin();

        let temp = (force + POLE_MASS_LENGTH * (theta_dot * theta_dot) * sintheta) / TOTAL_MASS;
        let thetaacc = (GRAVITY * sintheta - costheta * temp)
            / (LENGTH * (4.0 / 3.0 - MASS_POLE * (costheta * costheta) / TOTAL_MASS));
        let xacc = temp - POLE_MASS_LENGTH * thetaacc * costheta / TOTAL_MASS;

        // Euler integration: positions advance with the old velocities.
        self.state =
            [x + TAU * x_dot, x_dot + TAU * xacc, theta + TAU * theta_dot, theta_dot + TAU * thetaacc];
        let [x, _, theta, _] = self.state;

        // Same as Gymnasium's four comparisons, NaN included (never terminates).
        let terminated = x.abs() > X_THRESHOLD || theta.abs() > THETA_THRESHOLD;
        let reward = if terminated && self.terminated_before { 0.0 } else { 1.0 };
        self.terminated_before |= terminated;

        Transition { observation: self.observation(), reward, terminated, truncated: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminates_when_cart_leaves_the_track() {
        let mut env = CartPole::new();
        env.reset_to(&[2.39, 1.0, 0.0, 0.0]);
        let t = env.step(&[1.0]);
        assert!(env.state()[0] > X_THRESHOLD);
        assert!(t.terminated && !t.truncated);
        assert_eq!(t.reward, 1.0, "the terminating step still pays 1");
        assert_eq!(env.step(&[1.0]).reward, 0.0, "steps past termination pay 0");

        env.reset_to(&[-2.39, -1.0, 0.0, 0.0]);
        assert!(env.step(&[0.0]).terminated);
    }

    #[test]
    fn terminates_when_pole_falls() {
        let mut env = CartPole::new();
        env.reset_to(&[0.0, 0.0, 0.2, 1.0]);
        assert!(env.step(&[0.0]).terminated);
    }

    #[test]
    fn reset_draws_within_bounds() {
        let mut env = CartPole::new();
        for seed in 0..100 {
            assert!(env.reset(Some(seed)).iter().all(|v| v.abs() <= RESET_BOUND as f32));
        }
    }

    #[test]
    #[should_panic(expected = "invalid discrete action")]
    fn rejects_invalid_action() {
        let mut env = CartPole::new();
        env.reset(Some(0));
        env.step(&[2.0]);
    }
}
