//! Gymnasium's `NormalizeReward` and `NormalizeObservation` wrappers, which CleanRL's
//! continuous-action PPO applies: rewards are divided by the running standard deviation of a
//! discounted return, observations standardised by their running mean and variance, each then
//! clipped to ±10 (`TransformReward`, `TransformObservation`). Only what PPO learns from is
//! scaled; the returns it reports are the environment's own.

/// Running mean and variance of a stream (`gymnasium.wrappers.utils.RunningMeanStd`: parallel
/// update, initial count 1e-4).
#[derive(Clone, Debug, PartialEq)]
pub struct RunningMeanStd {
    pub mean: f64,
    pub var: f64,
    pub count: f64,
}

impl Default for RunningMeanStd {
    fn default() -> Self {
        Self { mean: 0.0, var: 1.0, count: 1e-4 }
    }
}

impl RunningMeanStd {
    /// Fold in one sample (a batch of size 1, whose own variance is 0).
    pub fn update(&mut self, x: f64) {
        self.update_from_moments(x, 0.0, 1.0);
    }

    /// Fold in a batch given by its mean, (population) variance and size: Chan et al.'s
    /// parallel update, as Gymnasium's `update_mean_var_count_from_moments`.
    pub fn update_from_moments(&mut self, batch_mean: f64, batch_var: f64, batch_count: f64) {
        let delta = batch_mean - self.mean;
        let total = self.count + batch_count;
        self.mean += delta * batch_count / total;
        let m2 = self.var * self.count
            + batch_var * batch_count
            + delta * delta * self.count * batch_count / total;
        self.var = m2 / total;
        self.count = total;
    }
}

/// Gymnasium's vector `NormalizeObservation` (one running mean and variance per observation
/// dimension, over every env's observations, updated with each batch before it is normalised;
/// ε = 1e-8), then CleanRL's clip to ±10. [`ObservationNormalizer::normalize`] alone leaves the
/// statistics frozen, as an evaluation uses them.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservationNormalizer {
    stats: Vec<RunningMeanStd>,
}

impl ObservationNormalizer {
    pub fn new(obs_dim: usize) -> Self {
        Self { stats: vec![RunningMeanStd::default(); obs_dim] }
    }

    /// Fold in a batch of rows `(n, obs_dim)`, then normalise it in place.
    pub fn update_and_normalize(&mut self, batch: &mut [f32]) {
        let d = self.stats.len();
        let n = (batch.len() / d) as f64;
        for (j, stats) in self.stats.iter_mut().enumerate() {
            let column = || batch.iter().skip(j).step_by(d).map(|&x| x as f64);
            let mean = column().sum::<f64>() / n;
            let var = column().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
            stats.update_from_moments(mean, var, n);
        }
        self.normalize(batch);
    }

    /// Normalise rows `(n, obs_dim)` in place with the statistics as they are.
    pub fn normalize(&self, batch: &mut [f32]) {
        let d = self.stats.len();
        for (i, x) in batch.iter_mut().enumerate() {
            let s = &self.stats[i % d];
            *x = ((*x as f64 - s.mean) / (s.var + 1e-8).sqrt()).clamp(-10.0, 10.0) as f32;
        }
    }
}

/// One environment's reward scaler.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RewardScaler {
    discounted: f64,
    stats: RunningMeanStd,
}

impl RewardScaler {
    /// Scale one reward, in Gymnasium 1.x's order: `G ← γ·G·(1 − terminated) + r`, where
    /// `terminated` is this step's flag (so the terminal step's `G` is its reward alone and the
    /// next episode's first step still sees it discounted; truncation does not restart `G`),
    /// then the running variance takes `G`, and `r / √(var + 1e-8)` is clipped to ±10.
    pub fn scale(&mut self, reward: f64, terminated: bool, gamma: f64) -> f64 {
        let keep = if terminated { 0.0 } else { 1.0 };
        self.discounted = self.discounted * gamma * keep + reward;
        self.stats.update(self.discounted);
        (reward / (self.stats.var + 1e-8).sqrt()).clamp(-10.0, 10.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_stats_match_the_two_pass_formulas() {
        let xs = [1.0, 4.0, -2.0, 7.5, 3.0];
        let mut rms = RunningMeanStd::default();
        xs.iter().for_each(|&x| rms.update(x));
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        // The 1e-4 prior count (mean 0, var 1) shifts the result by about that much.
        assert!((rms.mean - mean).abs() < 1e-3, "{} vs {mean}", rms.mean);
        assert!((rms.var - var).abs() < 1e-2, "{} vs {var}", rms.var);
    }

    /// Gymnasium 1.4's `NormalizeReward` then CleanRL's ±10 clip, computed by hand (the
    /// running-variance update written out in Python floats) for γ = 0.5 and rewards
    /// 1, 2, 3 (terminated), 4: the returns it tracks are 1, 2.5, 3 (not 4.25: the terminal
    /// step starts afresh) and 5.5 (not 4: the next episode still sees it).
    #[test]
    fn the_order_at_a_termination_is_gymnasiums() {
        let mut s = RewardScaler::default();
        let steps = [(1.0, false), (2.0, false), (3.0, true), (4.0, false)];
        let expected =
            [(1.0, 10.0), (2.5, 2.6662519637921394), (3.0, 3.5296854487502594), (5.5, 2.4687669002835317)];
        for ((reward, terminated), (discounted, scaled)) in steps.into_iter().zip(expected) {
            let out = s.scale(reward, terminated, 0.5);
            assert_eq!(s.discounted, discounted);
            assert!((out - scaled).abs() < 1e-12, "{out} vs {scaled}");
        }
        assert!((s.stats.var - 2.6251843647660222).abs() < 1e-12);
    }

    /// Two batches of two 2-d observations, standardised by hand: after [[1, 10], [3, 30]] the
    /// statistics are the batch's own (to the 1e-4 prior count), mean (2, 20) and variance
    /// (1, 100), so the batch becomes [[−1, −1], [1, 1]]; 100 in the second dimension is then
    /// 8σ away and -1000 past the ±10 clip.
    #[test]
    fn observations_are_standardised_by_running_statistics_and_clipped() {
        let mut n = ObservationNormalizer::new(2);
        let mut first = [1.0f32, 10.0, 3.0, 30.0];
        n.update_and_normalize(&mut first);
        for (got, want) in first.iter().zip([-1.0, -1.0, 1.0, 1.0]) {
            assert!((got - want).abs() < 1e-3, "{first:?}");
        }
        let mut frozen = [2.0f32, 100.0, 2.0, -1000.0];
        let before = n.clone();
        n.normalize(&mut frozen);
        assert_eq!(n, before, "normalize alone does not update");
        assert!((frozen[1] - 8.0).abs() < 1e-2 && frozen[3] == -10.0 && frozen[0].abs() < 1e-3, "{frozen:?}");
    }

    #[test]
    fn rewards_are_scaled_by_the_return_std_and_clipped() {
        let mut s = RewardScaler::default();
        let scaled: Vec<f64> = (0..200).map(|_| s.scale(-5.0, false, 0.9)).collect();
        // The discounted return runs from −5 towards −50: its running std ends near 12, so a
        // reward of −5 ends near −0.4.
        assert!(scaled.iter().all(|r| r.abs() <= 10.0));
        assert!(scaled[199].abs() < 1.0, "{}", scaled[199]);
    }
}
