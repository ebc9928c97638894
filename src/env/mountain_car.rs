//! MountainCar-v0 and MountainCarContinuous-v0, ported from Gymnasium 1.4.0
//! `gymnasium/envs/classic_control/mountain_car.py` (`MountainCarEnv`) and
//! `gymnasium/envs/classic_control/continuous_mountain_car.py` (`Continuous_MountainCarEnv`),
//! both with the default `goal_velocity=0`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Env, EnvId, Transition, check_state_len, continuous_action, discrete_action, pow2};

/// `self.min_position` (both envs)
const MIN_POSITION: f64 = -1.2;
/// `self.max_position` (both envs)
const MAX_POSITION: f64 = 0.6;
/// `self.max_speed` (both envs)
const MAX_SPEED: f64 = 0.07;
/// `self.goal_velocity` (both envs)
const GOAL_VELOCITY: f64 = 0.0;
/// `self.gravity` of `MountainCarEnv` (also the hard-coded `0.0025` of the continuous env)
const GRAVITY: f64 = 0.0025;
/// `self.goal_position` of `MountainCarEnv`
const GOAL_POSITION: f64 = 0.5;
/// `self.force` of `MountainCarEnv`
const FORCE: f64 = 0.001;
/// `self.goal_position` of `Continuous_MountainCarEnv`
const CONTINUOUS_GOAL_POSITION: f64 = 0.45;
/// `self.power` of `Continuous_MountainCarEnv`
const POWER: f64 = 0.0015;
/// `self.min_action`, `self.max_action` of `Continuous_MountainCarEnv`
const MAX_ACTION: f64 = 1.0;
/// Reset draws the position uniformly in `[-0.6, -0.4)`, the velocity is 0 (both envs).
const RESET_POSITION: std::ops::Range<f64> = -0.6..-0.4;

/// Position and velocity of the car, shared by both variants.
#[derive(Clone)]
struct Car {
    state: [f64; 2],
    rng: ChaCha8Rng,
}

impl Car {
    fn new() -> Self {
        Car { state: [0.0; 2], rng: ChaCha8Rng::seed_from_u64(0) }
    }

    fn random_state(&mut self, seed: Option<u64>) -> [f64; 2] {
        if let Some(seed) = seed {
            self.rng = ChaCha8Rng::seed_from_u64(seed);
        }
        [self.rng.random_range(RESET_POSITION), 0.0]
    }

    fn reset_to(&mut self, id: EnvId, state: &[f64]) -> Vec<f32> {
        check_state_len(id, state, 2);
        self.state.copy_from_slice(state);
        self.observation()
    }

    fn observation(&self) -> Vec<f32> {
        self.state.iter().map(|&v| v as f32).collect()
    }
}

/// MountainCar-v0: actions 0 (push left), 1 (no push), 2 (push right); reward -1 per step.
#[derive(Clone)]
pub struct MountainCar {
    car: Car,
}

impl MountainCar {
    /// A fresh instance with state zero and its RNG seeded with 0 (call `reset` before `step`).
    pub fn new() -> Self {
        MountainCar { car: Car::new() }
    }
}

impl Default for MountainCar {
    fn default() -> Self {
        Self::new()
    }
}

impl Env for MountainCar {
    fn id(&self) -> EnvId {
        EnvId::MountainCar
    }

    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        let state = self.car.random_state(seed);
        self.reset_to(&state)
    }

    fn state(&self) -> Vec<f64> {
        self.car.state.to_vec()
    }

    fn reset_to(&mut self, state: &[f64]) -> Vec<f32> {
        self.car.reset_to(self.id(), state)
    }

    fn step(&mut self, action: &[f32]) -> Transition {
        let action = discrete_action(self.id(), action, 3);
        let [position, velocity] = self.car.state;
        let velocity = velocity + ((action as f64 - 1.0) * FORCE + (3.0 * position).cos() * (-GRAVITY));
        let mut velocity = velocity.clamp(-MAX_SPEED, MAX_SPEED);
        let position = (position + velocity).clamp(MIN_POSITION, MAX_POSITION);
        if position == MIN_POSITION && velocity < 0.0 {
            velocity = 0.0;
        }
        let terminated = position >= GOAL_POSITION && velocity >= GOAL_VELOCITY;
        self.car.state = [position, velocity];

        Transition { observation: self.car.observation(), reward: -1.0, terminated, truncated: false }
    }
}

/// MountainCarContinuous-v0: a force in `[-1, 1]`; reward `-0.1 a²` per step (on the unclipped
/// action), plus 100 on reaching the goal.
///
/// NumPy's dtypes shape the numbers here, and are reproduced: Gymnasium stores the state as
/// float32 after every step (but float64 right after reset), an in-range action stays a float32
/// scalar so the velocity increment is computed in float32, and under NumPy 2's promotion rules
/// every operation of a float32 scalar with a Python float (including comparisons with the
/// bounds and the goal) rounds the Python float to float32 first.
#[derive(Clone)]
pub struct MountainCarContinuous {
    car: Car,
    /// Whether `car.state` has NumPy dtype float32 (after a step) rather than float64.
    state_is_f32: bool,
}

impl MountainCarContinuous {
    /// A fresh instance with state zero and its RNG seeded with 0 (call `reset` before `step`).
    pub fn new() -> Self {
        MountainCarContinuous { car: Car::new(), state_is_f32: false }
    }
}

impl Default for MountainCarContinuous {
    fn default() -> Self {
        Self::new()
    }
}

/// `x` as NumPy sees it in an operation with a scalar of dtype float32 (`is_f32`) or float64.
/// A float32 operation on float32 values equals the float64 operation rounded to float32.
fn as_dtype(x: f64, is_f32: bool) -> f64 {
    if is_f32 { x as f32 as f64 } else { x }
}

impl Env for MountainCarContinuous {
    fn id(&self) -> EnvId {
        EnvId::MountainCarContinuous
    }

    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        let state = self.car.random_state(seed);
        self.reset_to(&state)
    }

    fn state(&self) -> Vec<f64> {
        self.car.state.to_vec()
    }

    fn reset_to(&mut self, state: &[f64]) -> Vec<f32> {
        self.state_is_f32 = false;
        self.car.reset_to(self.id(), state)
    }

    fn step(&mut self, action: &[f32]) -> Transition {
        let action = continuous_action(self.id(), action);
        let f32_state = self.state_is_f32;
        let [position, velocity] = self.car.state;

        // The clipped force is a Python float; an in-range one stays float32 and so does the
        // whole increment (float32 minus Python float).
        let hill = GRAVITY * as_dtype(3.0 * position, f32_state).cos();
        let increment = if action < -MAX_ACTION as f32 {
            -MAX_ACTION * POWER - hill
        } else if action > MAX_ACTION as f32 {
            MAX_ACTION * POWER - hill
        } else {
            (action * POWER as f32 - hill as f32) as f64
        };
        let velocity = as_dtype(velocity + as_dtype(increment, f32_state), f32_state);

        // A clipped value becomes a Python float, compared in float64 from then on.
        let mut velocity = if velocity > as_dtype(MAX_SPEED, f32_state) {
            MAX_SPEED
        } else if velocity < as_dtype(-MAX_SPEED, f32_state) {
            -MAX_SPEED
        } else {
            velocity
        };
        let position = as_dtype(position + as_dtype(velocity, f32_state), f32_state);
        let (position, position_is_f32) = if position > as_dtype(MAX_POSITION, f32_state) {
            (MAX_POSITION, false)
        } else if position < as_dtype(MIN_POSITION, f32_state) {
            (MIN_POSITION, false)
        } else {
            (position, f32_state)
        };
        if position == as_dtype(MIN_POSITION, position_is_f32) && velocity < 0.0 {
            velocity = 0.0;
        }
        let terminated =
            position >= as_dtype(CONTINUOUS_GOAL_POSITION, position_is_f32) && velocity >= GOAL_VELOCITY;

        let goal_reward = if terminated { 100.0 } else { 0.0 };
        let reward = goal_reward - pow2(action as f64) * 0.1;

        self.car.state = [position as f32 as f64, velocity as f32 as f64];
        self.state_is_f32 = true;
        Transition { observation: self.car.observation(), reward, terminated, truncated: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discrete_reaches_goal() {
        let mut env = MountainCar::new();
        env.reset_to(&[0.49, 0.02]);
        let t = env.step(&[2.0]);
        assert!(t.terminated);
        assert_eq!(t.reward, -1.0);
    }

    #[test]
    fn continuous_goal_pays_100_minus_action_cost() {
        let mut env = MountainCarContinuous::new();
        env.reset_to(&[0.44, 0.02]);
        let t = env.step(&[0.5]);
        assert!(t.terminated);
        assert_eq!(t.reward, 100.0 - 0.025);
    }

    #[test]
    fn left_wall_stops_the_car() {
        let mut env = MountainCar::new();
        env.reset_to(&[-1.19, -0.05]);
        let t = env.step(&[0.0]);
        assert_eq!(t.observation, vec![MIN_POSITION as f32, 0.0]);

        let mut env = MountainCarContinuous::new();
        env.reset_to(&[-1.19, -0.05]);
        let t = env.step(&[-1.0]);
        assert_eq!(t.observation, vec![MIN_POSITION as f32, 0.0]);
    }

    #[test]
    fn continuous_force_is_clipped_but_cost_is_not() {
        let mut a = MountainCarContinuous::new();
        let mut b = MountainCarContinuous::new();
        a.reset_to(&[-0.5, 0.01]);
        b.reset_to(&[-0.5, 0.01]);
        let ta = a.step(&[1.5]);
        let tb = b.step(&[1.0]);
        // Not bit-identical: the clipped force is a Python float, 1.0 stays float32.
        for (x, y) in a.state().into_iter().zip(b.state()) {
            assert!((x - y).abs() < 1e-7, "{x} vs {y}");
        }
        assert_eq!(ta.reward, -(2.25 * 0.1));
        assert_eq!(tb.reward, -0.1);
    }

    #[test]
    fn continuous_state_is_float32_after_a_step() {
        let mut env = MountainCarContinuous::new();
        env.reset(Some(9));
        env.step(&[0.3]);
        assert!(env.state().iter().all(|&v| v == v as f32 as f64));
    }

    #[test]
    fn reset_draws_within_bounds() {
        for id in [EnvId::MountainCar, EnvId::MountainCarContinuous] {
            let mut env = id.make();
            env.reset(Some(21));
            let s = env.state();
            assert!(RESET_POSITION.contains(&s[0]) && s[1] == 0.0, "{id}: {s:?}");
        }
    }
}
