//! Reporting over seeds, as "Deep RL at the Edge of the Statistical Precipice" (Agarwal et al.,
//! NeurIPS 2021; the `rliable` library) recommends: the interquartile mean of the runs' scores,
//! a 95% percentile-bootstrap confidence interval over runs (stratified: resampled within each
//! algorithm), and the probability of improvement P(X > Y). Accuracies measured on n prompts get
//! a Wilson score interval. The bootstrap is seeded, so a report is reproducible.
//!
//! One home for these numbers: `pvg compare` and `pvg report` print [`Report`]s, and the page
//! asks its statistics worker for the same (see `src/web.rs`).

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::env::EnvId;
use crate::metrics::UpdateMetrics;

/// Resamples of every bootstrap (rliable's default is 2,000 too).
pub const RESAMPLES: usize = 2_000;
/// Seed of the bootstrap's generator: a report is the same every time it is printed.
pub const BOOTSTRAP_SEED: u64 = 0x5EED_B007;
/// From this many runs on, the aggregate is the interquartile mean; below, with one or two runs
/// in each quartile at most, the plain mean.
pub const IQM_FROM: usize = 4;
/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// The plain mean (NaN for no values).
pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// The interquartile mean: the mean of the middle half of the sorted values, each value weighted
/// by how much of its 1/n share of the distribution lies between the 25th and 75th percentiles
/// (so 5 values weigh 0.3, 0.4, 0.3 on the middle three). NaN for no values.
pub fn iqm(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    sorted
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let (lo, hi) = (i as f64 / n, (i + 1) as f64 / n);
            x * (hi.min(0.75) - lo.max(0.25)).max(0.0)
        })
        .sum::<f64>()
        / 0.5
}

/// How several runs' scores are summarised: the IQM from [`IQM_FROM`] runs on, else the mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregate {
    Iqm,
    Mean,
}

impl Aggregate {
    pub fn for_runs(n: usize) -> Self {
        if n >= IQM_FROM { Aggregate::Iqm } else { Aggregate::Mean }
    }

    pub fn of(self, xs: &[f64]) -> f64 {
        match self {
            Aggregate::Iqm => iqm(xs),
            Aggregate::Mean => mean(xs),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Aggregate::Iqm => "IQM",
            Aggregate::Mean => "mean",
        }
    }
}

/// A value with its 95% interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// The `q`-quantile (0..=1) of sorted values, interpolated linearly (numpy's default).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    match sorted.get(i + 1) {
        Some(next) => sorted[i] + frac * (next - sorted[i]),
        None => sorted[i],
    }
}

/// A stratified percentile bootstrap: `statistic` of the strata as given, and the 2.5th and
/// 97.5th percentiles of it over `resamples` resamplings, each stratum resampled with
/// replacement on its own (runs of one algorithm, or of one task). Seeded by `seed`.
pub fn bootstrap(strata: &[&[f64]], statistic: impl Fn(&[Vec<f64>]) -> f64, resamples: usize, seed: u64) -> Estimate {
    let original: Vec<Vec<f64>> = strata.iter().map(|s| s.to_vec()).collect();
    let value = statistic(&original);
    let mut rng = crate::Rng::seed_from_u64(seed);
    let mut draws = original.clone();
    let mut stats: Vec<f64> = (0..resamples)
        .map(|_| {
            for (draw, stratum) in draws.iter_mut().zip(strata) {
                for x in draw.iter_mut() {
                    *x = stratum[rng.random_range(0..stratum.len())];
                }
            }
            statistic(&draws)
        })
        .collect();
    stats.sort_by(f64::total_cmp);
    Estimate { value, low: quantile(&stats, 0.025), high: quantile(&stats, 0.975) }
}

/// `aggregate` of the runs' scores with its 95% bootstrap interval (`None` for no runs).
pub fn interval(scores: &[f64], aggregate: Aggregate) -> Option<Estimate> {
    (!scores.is_empty())
        .then(|| bootstrap(&[scores], |s| aggregate.of(&s[0]), RESAMPLES, BOOTSTRAP_SEED))
}

/// The probability of improvement P(X > Y): over every pair of a run of X and a run of Y, the
/// fraction where X scores higher, a tie counting one half (the Mann–Whitney U statistic over
/// the number of pairs).
pub fn probability_of_improvement(x: &[f64], y: &[f64]) -> f64 {
    let wins: f64 = x
        .iter()
        .flat_map(|a| {
            y.iter().map(move |b| match a.total_cmp(b) {
                std::cmp::Ordering::Greater => 1.0,
                std::cmp::Ordering::Equal => 0.5,
                std::cmp::Ordering::Less => 0.0,
            })
        })
        .sum();
    wins / (x.len() * y.len()) as f64
}

/// P(X > Y) with its 95% interval, X's and Y's runs each resampled on their own.
pub fn improvement(x: &[f64], y: &[f64]) -> Option<Estimate> {
    (!x.is_empty() && !y.is_empty()).then(|| {
        bootstrap(&[x, y], |s| probability_of_improvement(&s[0], &s[1]), RESAMPLES, BOOTSTRAP_SEED)
    })
}

/// The Wilson score interval of a proportion: `successes` of `n` (95%).
pub fn wilson(successes: usize, n: usize) -> Estimate {
    if n == 0 {
        return Estimate { value: f64::NAN, low: 0.0, high: 1.0 };
    }
    let (k, n) = (successes as f64, n as f64);
    let p = k / n;
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Estimate { value: p, low: (centre - half).max(0.0), high: (centre + half).min(1.0) }
}

// ---------------------------------------------------------------------------------------------
// One run's scores

/// Where a run counts as solved, and on what it is measured.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Threshold {
    pub value: f64,
    /// `eval`: a deterministic evaluation taken during training (a text task's held-out
    /// accuracy, or `pvg train --eval-every`); `train`: the return of the episodes the run
    /// trained on.
    pub on: &'static str,
}

/// The score at which an environment counts as solved: Gymnasium's `reward_threshold` for the
/// control tasks that have one (Pendulum-v1 has none), 0.85 held-out accuracy for a text task
/// (the mark the README's text-task tables and issue 21 measure against).
pub fn solved_at(env: EnvId) -> Option<f64> {
    match env {
        EnvId::CartPole => Some(475.0),
        EnvId::Acrobot => Some(-100.0),
        EnvId::MountainCar => Some(-110.0),
        EnvId::MountainCarContinuous => Some(90.0),
        EnvId::Pendulum => None,
        EnvId::LmReverse | EnvId::LmAdd | EnvId::LmSort => Some(0.85),
    }
}

/// An env's threshold ([`solved_at`]), measured on evaluations taken during training where
/// `on_evaluations`, else on the training return.
pub fn threshold(env: EnvId, on_evaluations: bool) -> Option<Threshold> {
    let on = if on_evaluations { "eval" } else { "train" };
    solved_at(env).map(|value| Threshold { value, on })
}

/// What one run scored, on each of the metrics a report compares.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)] // a run not yet scored is its seed alone (the page, before a run's first update)
pub struct RunScores {
    pub seed: u64,
    /// The deterministic evaluation after the last update (mean return, or held-out accuracy),
    /// where one was taken.
    pub final_eval: Option<f64>,
    /// The training return over the run's own environment steps: the area under its curve of
    /// episode returns, over the steps it covers (each update's mean return weighs its env
    /// steps; an update where no episode ended carries the last mean on).
    pub train_auc: Option<f64>,
    /// The environment steps after which the threshold's metric first reached it (`None`: not
    /// reached in `env_steps`).
    pub steps_to_threshold: Option<u64>,
    /// Environment steps the run took.
    pub env_steps: u64,
    /// Its own training time (seconds).
    pub wall_s: f64,
    pub updates: usize,
}

impl RunScores {
    /// Score a run from its history; `final_eval`: its evaluation after training, if taken.
    pub fn of(seed: u64, history: &[UpdateMetrics], final_eval: Option<f64>, threshold: Option<Threshold>) -> Self {
        let last = history.last();
        let (mut area, mut covered, mut held, mut before) = (0.0, 0.0, None, 0u64);
        for m in history {
            held = m.mean_return.or(held);
            if let Some(r) = held {
                let steps = (m.env_steps - before) as f64;
                area += r * steps;
                covered += steps;
            }
            before = m.env_steps;
        }
        let steps_to_threshold = threshold.and_then(|t| {
            let metric = |m: &UpdateMetrics| if t.on == "eval" { m.eval_mean_return } else { m.mean_return };
            history.iter().find(|m| metric(m).is_some_and(|v| v >= t.value)).map(|m| m.env_steps)
        });
        Self {
            seed,
            final_eval,
            train_auc: (covered > 0.0).then(|| area / covered),
            steps_to_threshold,
            env_steps: last.map_or(0, |m| m.env_steps),
            wall_s: last.map_or(0.0, |m| m.wall_s),
            updates: history.len(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A report: both algorithms' runs, metric by metric

/// One algorithm's runs on one metric.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cell {
    /// Runs with a value.
    pub n: usize,
    /// The aggregate (IQM or mean) with its 95% interval.
    pub estimate: Option<Estimate>,
    pub mean: Option<f64>,
    /// Steps to a threshold: how many runs reached it.
    pub reached: Option<usize>,
    /// The cell as the table prints it.
    pub text: String,
}

/// One metric compared.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    pub metric: String,
    pub ppo: Cell,
    pub grpo: Cell,
    /// P(PPO > GRPO) on this metric (for steps to a threshold: P(PPO gets there in fewer)).
    pub ppo_better: Option<Estimate>,
    pub ppo_better_text: String,
}

/// Both algorithms' runs of one experiment, compared on every metric (what `pvg compare`,
/// `pvg report` and the page's summary table show).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub env: String,
    pub seeds: Vec<u64>,
    pub aggregate: Aggregate,
    pub rows: Vec<Row>,
    /// What the table measures and how, in a line or two.
    pub legend: String,
}

/// A number as the tables print it: four significant figures, no exponent for the usual ranges.
pub fn fmt(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let a = x.abs();
    let digits = if a >= 1000.0 { 0 } else if a >= 100.0 { 1 } else if a >= 1.0 { 2 } else { 3 };
    format!("{x:.digits$}")
}

fn estimate_text(e: &Estimate) -> String {
    format!("{} [{}, {}]", fmt(e.value), fmt(e.low), fmt(e.high))
}

/// An estimate from `runs` runs as the table prints it: one run has no spread to resample, so
/// no interval.
fn cell_text(e: &Estimate, runs: usize) -> String {
    if runs < 2 { format!("{} (one run: no interval)", fmt(e.value)) } else { estimate_text(e) }
}

impl Report {
    /// Compare `ppo` and `grpo` runs of `env`; `eval_label` says what their final evaluation is
    /// ("deterministic, 20 episodes"), `threshold` where the env has one.
    pub fn new(
        env: EnvId,
        ppo: &[RunScores],
        grpo: &[RunScores],
        eval_label: &str,
        threshold: Option<Threshold>,
    ) -> Self {
        let mut seeds: Vec<u64> = ppo.iter().chain(grpo).map(|r| r.seed).collect();
        seeds.sort_unstable();
        seeds.dedup();
        // The fewer runs of the two decides (a report of one algorithm alone: its runs).
        let counts = [ppo.len(), grpo.len()];
        let aggregate = Aggregate::for_runs(counts.into_iter().filter(|&n| n > 0).min().unwrap_or(1));
        let agg = aggregate.name();
        let text = env.task().is_some();
        let mut rows = Vec::new();
        let pick = |runs: &[RunScores], f: &dyn Fn(&RunScores) -> Option<f64>| -> Vec<f64> {
            runs.iter().filter_map(f).collect()
        };
        let mut compare = |metric: String, f: &dyn Fn(&RunScores) -> Option<f64>, higher_is_better: bool| {
            let (x, y) = (pick(ppo, f), pick(grpo, f));
            let cell = |v: &[f64]| {
                let estimate = interval(v, aggregate);
                Cell {
                    n: v.len(),
                    mean: (!v.is_empty()).then(|| mean(v)),
                    reached: None,
                    text: estimate.as_ref().map_or("–".into(), |e| cell_text(e, v.len())),
                    estimate,
                }
            };
            let better = if higher_is_better { improvement(&x, &y) } else { improvement(&y, &x) };
            rows.push(Row {
                metric,
                ppo: cell(&x),
                grpo: cell(&y),
                ppo_better_text: better.as_ref().map_or("–".into(), |e| cell_text(e, x.len().min(y.len()))),
                ppo_better: better,
            });
        };
        let what = if text { "held-out accuracy" } else { "return" };
        compare(format!("final evaluation: {what} ({}; {agg} [95% CI])", eval_label), &|r| r.final_eval, true);
        compare(
            format!("training return over the run's steps (normalised AUC; {agg} [95% CI])"),
            &|r| r.train_auc,
            true,
        );
        if let Some(t) = threshold {
            let on = if t.on == "eval" { "evaluation during training" } else { "training return" };
            let metric = format!(
                "env steps until {on} ≥ {} (runs that got there; their IQM, or mean below {IQM_FROM} [95% CI])",
                fmt(t.value)
            );
            // Steps to a threshold: the runs that reached it; P(improvement) counts a run that
            // never did as slower than any that did (its steps as infinite).
            let reached = |runs: &[RunScores]| -> Vec<f64> {
                runs.iter().filter_map(|r| r.steps_to_threshold).map(|s| s as f64).collect()
            };
            let censored = |runs: &[RunScores]| -> Vec<f64> {
                runs.iter().map(|r| r.steps_to_threshold.map_or(f64::INFINITY, |s| s as f64)).collect()
            };
            let cell = |runs: &[RunScores]| {
                let v = reached(runs);
                let agg = Aggregate::for_runs(v.len());
                let estimate = interval(&v, agg);
                let got = format!("{}/{} reached", v.len(), runs.len());
                Cell {
                    n: runs.len(),
                    mean: (!v.is_empty()).then(|| mean(&v)),
                    reached: Some(v.len()),
                    text: estimate.as_ref().map_or(got.clone(), |e| format!("{got}; {}", cell_text(e, v.len()))),
                    estimate,
                }
            };
            let better = improvement(&censored(grpo), &censored(ppo));
            rows.push(Row {
                metric,
                ppo: cell(ppo),
                grpo: cell(grpo),
                ppo_better_text: better.as_ref().map_or("–".into(), |e| cell_text(e, ppo.len().min(grpo.len()))),
                ppo_better: better,
            });
        }
        let wall = |runs: &[RunScores]| {
            let mut w: Vec<f64> = runs.iter().map(|r| r.wall_s).collect();
            w.sort_by(f64::total_cmp);
            Cell {
                n: w.len(),
                estimate: None,
                mean: (!w.is_empty()).then(|| mean(&w)),
                reached: None,
                text: if w.is_empty() { "–".into() } else { fmt(quantile(&w, 0.5)) },
            }
        };
        rows.push(Row {
            metric: "own training time, s (median)".into(),
            ppo: wall(ppo),
            grpo: wall(grpo),
            ppo_better: None,
            ppo_better_text: "–".into(),
        });
        let legend = format!(
            "{} run(s) of PPO and {} of GRPO on {env} (seeds {}). Each cell: the {agg} over runs (the \
             interquartile mean from {IQM_FROM} runs on, else the mean) and its 95% confidence \
             interval, a percentile bootstrap over runs ({RESAMPLES} resamples, seeded); P(PPO > GRPO): \
             the probability that a PPO run beats a GRPO run, with its bootstrap interval.",
            ppo.len(),
            grpo.len(),
            seed_list(&seeds),
        );
        Report { env: env.name().into(), seeds, aggregate, rows, legend }
    }

    /// The report as a Markdown table, its legend under it.
    pub fn markdown(&self) -> String {
        let mut s = String::from("| metric | PPO | GRPO | P(PPO > GRPO) |\n|---|---|---|---|\n");
        for r in &self.rows {
            s += &format!("| {} | {} | {} | {} |\n", r.metric, r.ppo.text, r.grpo.text, r.ppo_better_text);
        }
        s + "\n" + &self.legend + "\n"
    }
}

/// Seeds as ranges: `1–4, 7`.
pub fn seed_list(seeds: &[u64]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < seeds.len() {
        let mut j = i;
        while j + 1 < seeds.len() && seeds[j + 1] == seeds[j] + 1 {
            j += 1;
        }
        parts.push(if j > i { format!("{}–{}", seeds[i], seeds[j]) } else { seeds[i].to_string() });
        i = j + 1;
    }
    parts.join(", ")
}

// ---------------------------------------------------------------------------------------------
// Curves over seeds

/// Learning curves of several runs on one x grid: each run's curve held from its last point at
/// or before each grid x (a run counts only up to where it has got), the aggregate of the runs
/// there and its 95% bootstrap band.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Band {
    pub x: Vec<f64>,
    /// Per run, its held value at each grid x (`None` before its first point or past its last).
    pub runs: Vec<Vec<Option<f64>>>,
    pub centre: Vec<Option<f64>>,
    pub low: Vec<Option<f64>>,
    pub high: Vec<Option<f64>>,
    pub aggregate: Option<Aggregate>,
}

/// Resamples for a curve's band at each grid point (fewer than a table's: a band has many
/// points, and its edge moves by less than a line's width between 500 and 2,000).
pub const BAND_RESAMPLES: usize = 500;

/// `points` evenly spaced x from 0 to `end` (none when `end` is not positive).
pub fn grid(end: f64, points: usize) -> Vec<f64> {
    if !(end > 0.0) || points < 2 {
        return Vec::new();
    }
    (0..points).map(|i| end * i as f64 / (points - 1) as f64).collect()
}

/// The largest x of any run's curve.
pub fn last_x(runs: &[Vec<(f64, f64)>]) -> f64 {
    runs.iter().filter_map(|r| r.last()).map(|p| p.0).fold(0.0, f64::max)
}

/// [`Band`] of `runs` (each a curve of `(x, y)` points, x increasing) on the grid `x`; the
/// aggregate over the runs at each point is the IQM from [`IQM_FROM`] runs there on, else the
/// mean.
pub fn band(runs: &[Vec<(f64, f64)>], x: Vec<f64>) -> Band {
    if runs.is_empty() || x.is_empty() {
        return Band { x, ..Band::default() };
    }
    let held: Vec<Vec<Option<f64>>> = runs
        .iter()
        .map(|curve| {
            let last = curve.last().map_or(f64::NEG_INFINITY, |p| p.0);
            let mut k = 0;
            let mut value = None;
            x.iter()
                .map(|&gx| {
                    while k < curve.len() && curve[k].0 <= gx {
                        value = Some(curve[k].1);
                        k += 1;
                    }
                    if gx > last { None } else { value }
                })
                .collect()
        })
        .collect();
    let mut out = Band { x, ..Band::default() };
    out.aggregate = Some(Aggregate::for_runs(runs.len()));
    for i in 0..out.x.len() {
        let values: Vec<f64> = held.iter().filter_map(|r| r[i]).collect();
        if values.is_empty() {
            out.centre.push(None);
            out.low.push(None);
            out.high.push(None);
            continue;
        }
        let agg = Aggregate::for_runs(values.len());
        let e = bootstrap(&[&values], |s| agg.of(&s[0]), BAND_RESAMPLES, BOOTSTRAP_SEED + i as u64);
        out.centre.push(Some(e.value));
        out.low.push(Some(e.low));
        out.high.push(Some(e.high));
    }
    out.runs = held;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn iqm_weighs_the_middle_half_with_fractions_at_the_cut() {
        assert!(close(iqm(&[1.0, 2.0, 3.0, 4.0]), 2.5), "drops the lowest and the highest");
        assert!(close(iqm(&[100.0, 2.0, 3.0, -50.0]), 2.5), "order does not matter; outliers drop");
        // 5 values: weights 0, 0.3, 0.4, 0.3, 0 (each value's 0.2 share inside [0.25, 0.75]).
        assert!(close(iqm(&[0.0, 10.0, 20.0, 30.0, 1000.0]), 0.3 * 10.0 + 0.4 * 20.0 + 0.3 * 30.0));
        // 8 values: the middle four, plainly.
        assert!(close(iqm(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]), 4.5));
        // 3 values: 1/6, 2/3, 1/6.
        assert!(close(iqm(&[0.0, 6.0, 12.0]), 6.0));
        assert!(close(iqm(&[0.0, 3.0, 12.0]), 12.0 / 6.0 + 3.0 * 2.0 / 3.0));
        assert!(close(iqm(&[7.0]), 7.0));
        assert!(iqm(&[]).is_nan());
    }

    #[test]
    fn quantiles_interpolate_as_numpy_does() {
        let s = [1.0, 2.0, 3.0, 4.0];
        assert!(close(quantile(&s, 0.0), 1.0));
        assert!(close(quantile(&s, 1.0), 4.0));
        assert!(close(quantile(&s, 0.5), 2.5));
        assert!(close(quantile(&s, 0.025), 1.075));
    }

    #[test]
    fn the_bootstrap_is_seeded_and_brackets_its_statistic() {
        let xs = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        let a = interval(&xs, Aggregate::Iqm).unwrap();
        assert_eq!(Some(a), interval(&xs, Aggregate::Iqm), "the same report every time");
        assert!(a.low <= a.value && a.value <= a.high, "{a:?}");
        assert!(close(a.value, iqm(&xs)));
        // One value, or all equal: no spread to resample.
        let one = interval(&[2.0, 2.0, 2.0], Aggregate::Mean).unwrap();
        assert_eq!((one.low, one.value, one.high), (2.0, 2.0, 2.0));
        assert_eq!(interval(&[], Aggregate::Mean), None);
    }

    #[test]
    fn the_bootstrap_interval_of_a_mean_covers_the_true_mean_about_95_percent_of_the_time() {
        // 400 samples of 30 draws from N(0, 1) (Box–Muller on a seeded generator): the percentile
        // bootstrap's 95% interval should hold 0 in about 93–95% of them (it is a little narrow
        // at small n); far outside [0.89, 0.98] would be a wrong interval.
        use rand_distr::{Distribution, StandardNormal};
        let mut rng = crate::Rng::seed_from_u64(42);
        let trials = 400;
        let mut covered = 0;
        for t in 0..trials {
            let xs: Vec<f64> = (0..30).map(|_| StandardNormal.sample(&mut rng)).collect();
            let e = bootstrap(&[&xs], |s| mean(&s[0]), 1_000, t);
            covered += usize::from(e.low <= 0.0 && 0.0 <= e.high);
        }
        let coverage = covered as f64 / trials as f64;
        assert!((0.89..=0.98).contains(&coverage), "coverage {coverage}");
    }

    #[test]
    fn probability_of_improvement_counts_pairs_and_halves_ties() {
        assert!(close(probability_of_improvement(&[2.0, 3.0], &[1.0]), 1.0));
        assert!(close(probability_of_improvement(&[1.0], &[2.0, 3.0]), 0.0));
        // Pairs: (1,1) tie ½, (1,2) 0, (3,1) 1, (3,2) 1 → 2.5 / 4.
        assert!(close(probability_of_improvement(&[1.0, 3.0], &[1.0, 2.0]), 0.625));
        assert!(close(probability_of_improvement(&[5.0; 3], &[5.0; 4]), 0.5));
        let e = improvement(&[1.0, 3.0, 5.0, 7.0], &[2.0, 4.0, 6.0, 8.0]).unwrap();
        assert!(close(e.value, 6.0 / 16.0));
        assert!(e.low < e.value && e.value < e.high, "{e:?}");
        let certain = improvement(&[10.0, 11.0], &[1.0, 2.0]).unwrap();
        assert_eq!((certain.low, certain.high), (1.0, 1.0), "every resample has PPO ahead");
    }

    #[test]
    fn wilson_intervals_match_hand_computed_values() {
        // 17 of 20: p = 0.85, centre (0.85 + 1.96²/40) / (1 + 1.96²/20), half-width as below.
        let e = wilson(17, 20);
        let z = Z95;
        let centre = (0.85 + z * z / 40.0) / (1.0 + z * z / 20.0);
        let half = z / (1.0 + z * z / 20.0) * (0.85 * 0.15 / 20.0 + z * z / 1600.0).sqrt();
        assert!(close(e.low, centre - half) && close(e.high, centre + half), "{e:?}");
        assert!((e.low - 0.6396).abs() < 1e-4 && (e.high - 0.9476).abs() < 1e-4, "{e:?}");
        // Stays inside [0, 1] at the edges.
        let all = wilson(10, 10);
        assert!(all.high > 1.0 - 1e-12 && all.low > 0.69 && all.low < 0.73, "{all:?}");
        assert_eq!(wilson(0, 10).low, 0.0);
        // At p = 0.85, 600 prompts give a half-width under 0.03.
        let big = wilson(510, 600);
        assert!(big.high - big.low < 0.06, "{big:?}");
    }

    fn update(env_steps: u64, ret: Option<f64>) -> UpdateMetrics {
        UpdateMetrics { env_steps, mean_return: ret, ..Default::default() }
    }

    #[test]
    fn a_runs_area_weighs_each_update_by_its_steps_and_holds_the_last_return() {
        let history = [update(100, None), update(200, Some(10.0)), update(400, None), update(500, Some(40.0))];
        let t = Threshold { value: 30.0, on: "train" };
        let s = RunScores::of(3, &history, Some(7.0), Some(t));
        // Steps 100–200 at 10, 200–400 held at 10, 400–500 at 40; the first 100 had no return.
        assert!(close(s.train_auc.unwrap(), (10.0 * 100.0 + 10.0 * 200.0 + 40.0 * 100.0) / 400.0));
        assert_eq!(s.steps_to_threshold, Some(500));
        assert_eq!((s.final_eval, s.env_steps, s.updates, s.seed), (Some(7.0), 500, 4, 3));
        let unreached = RunScores::of(3, &history, None, Some(Threshold { value: 41.0, on: "train" }));
        assert_eq!((unreached.steps_to_threshold, unreached.final_eval), (None, None));
        // On evaluations: the first update whose evaluation reached it.
        let mut evaluated = history.to_vec();
        evaluated[1].eval_mean_return = Some(0.9);
        evaluated[3].eval_mean_return = Some(0.8);
        let s = RunScores::of(1, &evaluated, Some(0.8), Some(Threshold { value: 0.85, on: "eval" }));
        assert_eq!((s.steps_to_threshold, s.final_eval), (Some(200), Some(0.8)));
    }

    #[test]
    fn a_report_compares_the_algorithms_on_each_metric() {
        let runs = |evals: &[f64], steps: &[Option<u64>]| -> Vec<RunScores> {
            evals
                .iter()
                .zip(steps)
                .enumerate()
                .map(|(i, (&e, &s))| RunScores {
                    seed: i as u64 + 1,
                    final_eval: Some(e),
                    train_auc: Some(e / 2.0),
                    steps_to_threshold: s,
                    wall_s: 1.0 + i as f64,
                    ..Default::default()
                })
                .collect()
        };
        let ppo = runs(&[500.0, 480.0, 490.0, 100.0], &[Some(1000), Some(2000), Some(3000), None]);
        let grpo = runs(&[400.0, 300.0, 200.0, 500.0], &[None, None, None, Some(9000)]);
        let t = Threshold { value: 475.0, on: "train" };
        let r = Report::new(EnvId::CartPole, &ppo, &grpo, "deterministic, 20 episodes", Some(t));
        assert_eq!(r.aggregate, Aggregate::Iqm);
        assert_eq!(r.seeds, vec![1, 2, 3, 4]);
        let eval = &r.rows[0];
        assert!(close(eval.ppo.estimate.unwrap().value, iqm(&[500.0, 480.0, 490.0, 100.0])));
        // PPO's 500, 480, 490 beat 400, 300, 200 and tie or lose to 500; 100 beats none.
        let p = (3.0 + 3.0 + 3.0 + 0.5 + 0.0 + 0.0) / 16.0;
        assert!(close(eval.ppo_better.unwrap().value, p), "{:?}", eval.ppo_better);
        let steps = &r.rows[2];
        assert_eq!((steps.ppo.reached, steps.grpo.reached), (Some(3), Some(1)));
        assert!(steps.ppo.text.starts_with("3/4 reached; "), "{}", steps.ppo.text);
        // Fewer steps is better; a run that never got there is slower than any that did.
        // PPO 1000, 2000, 3000, ∞ against GRPO ∞, ∞, ∞, 9000: 3 × 4 wins, ∞ ties 3 and loses 1.
        assert!(close(steps.ppo_better.unwrap().value, (12.0 + 1.5) / 16.0));
        assert_eq!(r.rows[3].ppo.text, "2.50", "the median of 1, 2, 3, 4 s");
        let md = r.markdown();
        assert!(md.contains("| metric | PPO | GRPO | P(PPO > GRPO) |"), "{md}");
        assert!(md.contains("seeds 1–4"), "{md}");
    }

    #[test]
    fn one_run_gets_its_value_and_no_interval() {
        let one = [RunScores { seed: 1, final_eval: Some(500.0), train_auc: Some(3.0), ..Default::default() }];
        let r = Report::new(EnvId::CartPole, &one, &one, "x", None);
        assert_eq!(r.rows[0].ppo.text, "500.0 (one run: no interval)");
        assert_eq!(r.rows[0].ppo_better_text, "0.500 (one run: no interval)");
    }

    #[test]
    fn seeds_print_as_ranges() {
        assert_eq!(seed_list(&[1, 2, 3, 4, 7, 9, 10]), "1–4, 7, 9–10");
        assert_eq!(seed_list(&[5]), "5");
    }

    #[test]
    fn a_band_holds_each_run_and_counts_runs_only_as_far_as_they_got() {
        let a = vec![(0.0, 0.0), (10.0, 10.0)];
        let b = vec![(0.0, 2.0), (5.0, 4.0)];
        let runs = [a, b];
        let out = band(&runs, grid(last_x(&runs), 3));
        assert_eq!(out.x, vec![0.0, 5.0, 10.0]);
        assert_eq!(out.runs[0], vec![Some(0.0), Some(0.0), Some(10.0)]);
        assert_eq!(out.runs[1], vec![Some(2.0), Some(4.0), None], "b stopped at 5");
        assert_eq!(out.centre, vec![Some(1.0), Some(2.0), Some(10.0)]);
        assert_eq!((out.low[2], out.high[2]), (Some(10.0), Some(10.0)), "one run: no spread");
        assert!(out.low[1].unwrap() <= 2.0 && out.high[1].unwrap() >= 2.0);
        assert_eq!(band(&[], grid(0.0, 10)), Band::default());
    }
}
