//! Gymnasium's `NormalizeReward` wrapper, which CleanRL's continuous-action PPO applies to each
//! environment: rewards are divided by the running standard deviation of a discounted return,
//! then clipped to ±10 (`TransformReward`). Only the rewards PPO learns from are scaled; the
//! returns it reports are the environment's own.

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
        let delta = x - self.mean;
        let total = self.count + 1.0;
        self.mean += delta / total;
        let m2 = self.var * self.count + delta * delta * self.count / total;
        self.var = m2 / total;
        self.count = total;
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
        let expected = [(1.0, 10.0), (2.5, 2.6662519637921394), (3.0, 3.5296854487502594), (5.5, 2.4687669002835317)];
        for ((reward, terminated), (discounted, scaled)) in steps.into_iter().zip(expected) {
            let out = s.scale(reward, terminated, 0.5);
            assert_eq!(s.discounted, discounted);
            assert!((out - scaled).abs() < 1e-12, "{out} vs {scaled}");
        }
        assert!((s.stats.var - 2.6251843647660222).abs() < 1e-12);
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
