//! Acrobot-v1, ported from Gymnasium 1.4.0 `gymnasium/envs/classic_control/acrobot.py`
//! (`AcrobotEnv` with `book_or_nips = "book"`, no torque noise, one RK4 step of `dt`).

use std::f64::consts::PI;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Env, EnvId, Transition, check_state_len, discrete_action, pow2};

/// `dt`, seconds per step (integrated by a single RK4 step)
const DT: f64 = 0.2;
/// `LINK_LENGTH_1` [m]
const L1: f64 = 1.0;
/// `LINK_MASS_1` [kg]
const M1: f64 = 1.0;
/// `LINK_MASS_2` [kg]
const M2: f64 = 1.0;
/// `LINK_COM_POS_1` [m]
const LC1: f64 = 0.5;
/// `LINK_COM_POS_2` [m]
const LC2: f64 = 0.5;
/// `LINK_MOI`, moment of inertia of each link
const I1: f64 = 1.0;
/// `LINK_MOI`
const I2: f64 = 1.0;
/// `g` in `_dsdt`
const G: f64 = 9.8;
/// `MAX_VEL_1`
const MAX_VEL_1: f64 = 4.0 * PI;
/// `MAX_VEL_2`
const MAX_VEL_2: f64 = 9.0 * PI;
/// `AVAIL_TORQUE`, indexed by the action
const AVAIL_TORQUE: [f64; 3] = [-1.0, 0.0, 1.0];
/// Default reset bounds of `reset` (`utils.maybe_parse_reset_bounds(options, -0.1, 0.1)`).
const RESET_BOUND: f64 = 0.1;

/// State: the two joint angles and their angular velocities. The observation is
/// `[cos θ1, sin θ1, cos θ2, sin θ2, θ1', θ2']`.
#[derive(Clone)]
pub struct Acrobot {
    state: [f64; 4],
    rng: ChaCha8Rng,
}

impl Acrobot {
    /// A fresh instance with state zero and its RNG seeded with 0 (call `reset` before `step`).
    pub fn new() -> Self {
        Acrobot { state: [0.0; 4], rng: ChaCha8Rng::seed_from_u64(0) }
    }

    fn observation(&self) -> Vec<f32> {
        let [theta1, theta2, dtheta1, dtheta2] = self.state;
        [theta1.cos(), theta1.sin(), theta2.cos(), theta2.sin(), dtheta1, dtheta2]
            .iter()
            .map(|&v| v as f32)
            .collect()
    }

    /// The tip of the second link is above the bar: height `-cos θ1 - cos(θ1 + θ2) > 1`.
    fn terminal(&self) -> bool {
        let [theta1, theta2, ..] = self.state;
        -theta1.cos() - (theta2 + theta1).cos() > 1.0
    }
}

impl Default for Acrobot {
    fn default() -> Self {
        Self::new()
    }
}

/// `_dsdt`: time derivative of `(θ1, θ2, θ1', θ2')` under `torque` (the "book" dynamics).
fn dsdt(s: [f64; 4], torque: f64) -> [f64; 4] {
    let [theta1, theta2, dtheta1, dtheta2] = s;
    let d1 = M1 * pow2(LC1) + M2 * (pow2(L1) + pow2(LC2) + 2.0 * L1 * LC2 * theta2.cos()) + I1 + I2;
    let d2 = M2 * (pow2(LC2) + L1 * LC2 * theta2.cos()) + I2;
    let phi2 = M2 * LC2 * G * (theta1 + theta2 - PI / 2.0).cos();
    let phi1 = -M2 * L1 * LC2 * pow2(dtheta2) * theta2.sin()
        - 2.0 * M2 * L1 * LC2 * dtheta2 * dtheta1 * theta2.sin()
        + (M1 * LC1 + M2 * L1) * G * (theta1 - PI / 2.0).cos()
        + phi2;
    let ddtheta2 = (torque + d2 / d1 * phi1 - M2 * L1 * LC2 * pow2(dtheta1) * theta2.sin() - phi2)
        / (M2 * pow2(LC2) + I2 - pow2(d2) / d1);
    let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
    [dtheta1, dtheta2, ddtheta1, ddtheta2]
}

/// `rk4(self._dsdt, s_augmented, [0, dt])`: one classic Runge-Kutta step of length `DT`.
/// (The torque rides along as a fifth state component with derivative 0, i.e. stays constant.)
fn rk4(y0: [f64; 4], torque: f64) -> [f64; 4] {
    let dt2 = DT / 2.0;
    let shifted = |k: [f64; 4], h: f64| -> [f64; 4] { std::array::from_fn(|i| y0[i] + h * k[i]) };
    let k1 = dsdt(y0, torque);
    let k2 = dsdt(shifted(k1, dt2), torque);
    let k3 = dsdt(shifted(k2, dt2), torque);
    let k4 = dsdt(shifted(k3, DT), torque);
    std::array::from_fn(|i| y0[i] + DT / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))
}

/// `wrap`: shifts `x` by multiples of `hi - lo` into `[lo, hi]`.
fn wrap(mut x: f64, lo: f64, hi: f64) -> f64 {
    let diff = hi - lo;
    while x > hi {
        x -= diff;
    }
    while x < lo {
        x += diff;
    }
    x
}

/// `bound`: Python's `min(max(x, lo), hi)`.
fn bound(x: f64, lo: f64, hi: f64) -> f64 {
    let x = if lo > x { lo } else { x };
    if hi < x { hi } else { x }
}

impl Env for Acrobot {
    fn id(&self) -> EnvId {
        EnvId::Acrobot
    }

    /// Gymnasium draws the state uniformly in `[-0.1, 0.1)^4` and stores it as float32.
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        if let Some(seed) = seed {
            self.rng = ChaCha8Rng::seed_from_u64(seed);
        }
        let state: [f64; 4] =
            std::array::from_fn(|_| self.rng.random_range(-RESET_BOUND..RESET_BOUND) as f32 as f64);
        self.reset_to(&state)
    }

    fn state(&self) -> Vec<f64> {
        self.state.to_vec()
    }

    fn reset_to(&mut self, state: &[f64]) -> Vec<f32> {
        check_state_len(self.id(), state, 4);
        self.state.copy_from_slice(state);
        self.observation()
    }

    fn step(&mut self, action: &[f32]) -> Transition {
        let torque = AVAIL_TORQUE[discrete_action(self.id(), action, AVAIL_TORQUE.len())];
        let [theta1, theta2, dtheta1, dtheta2] = rk4(self.state, torque);
        self.state = [
            wrap(theta1, -PI, PI),
            wrap(theta2, -PI, PI),
            bound(dtheta1, -MAX_VEL_1, MAX_VEL_1),
            bound(dtheta2, -MAX_VEL_2, MAX_VEL_2),
        ];
        let terminated = self.terminal();

        Transition {
            observation: self.observation(),
            reward: if terminated { 0.0 } else { -1.0 },
            terminated,
            truncated: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swinging_up_terminates_with_reward_zero() {
        let mut env = Acrobot::new();
        // Both links almost straight up: the tip is at height ~2.
        env.reset_to(&[PI - 0.01, 0.0, 0.0, 0.0]);
        let t = env.step(&[1.0]);
        assert!(t.terminated);
        assert_eq!(t.reward, 0.0);
    }

    #[test]
    fn angles_wrap_and_velocities_are_bounded() {
        let mut env = Acrobot::new();
        env.reset_to(&[3.1, -3.1, 100.0, -100.0]);
        env.step(&[2.0]);
        let s = env.state();
        assert!(s[0].abs() <= PI && s[1].abs() <= PI);
        assert!(s[2].abs() <= MAX_VEL_1 && s[3].abs() <= MAX_VEL_2);
    }

    #[test]
    fn seeded_reset_is_reproducible_and_float32() {
        let mut env = Acrobot::new();
        let a = env.reset(Some(5));
        let state = env.state();
        assert!(state.iter().all(|&v| v.abs() <= RESET_BOUND && v == v as f32 as f64));
        assert_ne!(env.reset(None), a);
        assert_eq!(env.reset(Some(5)), a);
        assert_eq!(a.len(), 6);
    }
}
