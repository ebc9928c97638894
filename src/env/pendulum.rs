//! Pendulum-v1, ported from Gymnasium 1.4.0 `gymnasium/envs/classic_control/pendulum.py`
//! (`PendulumEnv`, default `g=10.0`).
//!
//! NumPy 2 promotion rules matter here: the clipped torque `u` is a float32 scalar, so the
//! products `3.0 * u` and `0.001 * u**2` with Python floats are computed in float32 before they
//! meet the float64 state. Squares are C `pow` calls, as in NumPy ([`pow2`]).

use std::f64::consts::PI;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Env, EnvId, Transition, check_state_len, continuous_action, pow2, pow2_f32};

/// `self.max_speed`
const MAX_SPEED: f64 = 8.0;
/// `self.max_torque`
const MAX_TORQUE: f32 = 2.0;
/// `self.dt`
const DT: f64 = 0.05;
/// `self.g`
const G: f64 = 10.0;
/// `self.m`
const M: f64 = 1.0;
/// `self.l`
const L: f64 = 1.0;
/// `DEFAULT_X`, `DEFAULT_Y`: reset draws the angle in `[-π, π)` and the velocity in `[-1, 1)`.
const RESET_HIGH: [f64; 2] = [PI, 1.0];

/// State: angle θ (0 = upright) and angular velocity. The observation is `[cos θ, sin θ, θ']`.
#[derive(Clone)]
pub struct Pendulum {
    state: [f64; 2],
    rng: ChaCha8Rng,
}

impl Pendulum {
    /// A fresh instance with state zero and its RNG seeded with 0 (call `reset` before `step`).
    pub fn new() -> Self {
        Pendulum { state: [0.0; 2], rng: ChaCha8Rng::seed_from_u64(0) }
    }

    fn observation(&self) -> Vec<f32> {
        let [theta, theta_dot] = self.state;
        vec![theta.cos() as f32, theta.sin() as f32, theta_dot as f32]
    }
}

impl Default for Pendulum {
    fn default() -> Self {
        Self::new()
    }
}

/// `angle_normalize`: maps an angle into `[-π, π)` (NumPy's `%` takes the divisor's sign).
fn angle_normalize(x: f64) -> f64 {
    (x + PI).rem_euclid(2.0 * PI) - PI
}

impl Env for Pendulum {
    fn id(&self) -> EnvId {
        EnvId::Pendulum
    }

    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        if let Some(seed) = seed {
            self.rng = ChaCha8Rng::seed_from_u64(seed);
        }
        let state = RESET_HIGH.map(|high| self.rng.random_range(-high..high));
        self.reset_to(&state)
    }

    fn state(&self) -> Vec<f64> {
        self.state.to_vec()
    }

    fn reset_to(&mut self, state: &[f64]) -> Vec<f32> {
        check_state_len(self.id(), state, 2);
        self.state.copy_from_slice(state);
        self.observation()
    }

    fn step(&mut self, action: &[f32]) -> Transition {
        let [th, thdot] = self.state;
        let u = continuous_action(self.id(), action).clamp(-MAX_TORQUE, MAX_TORQUE);

        let control_cost = 0.001_f32 * pow2_f32(u);
        let costs = pow2(angle_normalize(th)) + 0.1 * pow2(thdot) + control_cost as f64;

        let gravity_term = 3.0 * G / (2.0 * L) * th.sin();
        let torque_term = (3.0 / (M * pow2(L))) as f32 * u;
        let newthdot = (thdot + (gravity_term + torque_term as f64) * DT).clamp(-MAX_SPEED, MAX_SPEED);
        let newth = th + newthdot * DT;
        self.state = [newth, newthdot];

        Transition { observation: self.observation(), reward: -costs, terminated: false, truncated: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torque_is_clipped() {
        let mut env = Pendulum::new();
        for (big, clipped) in [(10.0, 2.0), (-3.0, -2.0)] {
            env.reset_to(&[0.5, -0.3]);
            let a = env.step(&[big]);
            let state_a = env.state();
            env.reset_to(&[0.5, -0.3]);
            let b = env.step(&[clipped]);
            assert_eq!(state_a, env.state());
            assert_eq!(a, b, "the cost also uses the clipped torque");
        }
    }

    #[test]
    fn velocity_is_clipped() {
        let mut env = Pendulum::new();
        env.reset_to(&[1.0, 7.99]);
        env.step(&[2.0]);
        assert_eq!(env.state()[1], MAX_SPEED);
    }

    #[test]
    fn upright_and_still_costs_nothing() {
        let mut env = Pendulum::new();
        env.reset_to(&[2.0 * PI, 0.0]);
        let t = env.step(&[0.0]);
        assert!(t.reward.abs() < 1e-20, "reward {}", t.reward);
    }

    #[test]
    fn angle_normalize_matches_numpy_modulo() {
        assert_eq!(angle_normalize(0.0), 0.0);
        assert!((angle_normalize(3.0 * PI / 2.0) + PI / 2.0).abs() < 1e-12);
        assert!((angle_normalize(-3.0 * PI / 2.0) - PI / 2.0).abs() < 1e-12);
        assert_eq!(angle_normalize(PI), -PI);
    }

    #[test]
    fn reset_draws_within_bounds() {
        let mut env = Pendulum::new();
        for seed in 0..100 {
            env.reset(Some(seed));
            let [theta, theta_dot] = [env.state()[0], env.state()[1]];
            assert!(theta.abs() <= PI && theta_dot.abs() <= 1.0);
        }
    }
}
