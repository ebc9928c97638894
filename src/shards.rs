//! A GRPO update's work split into shards that other workers can run: the reference's pass over
//! the batch, and each minibatch's gradient, in shards of at most [`SHARD`] trajectories.
//!
//! A shard's loss and statistics are its share of its minibatch's (its sums divided by the whole
//! minibatch's counts, [`Divisors::Minibatch`]), so the minibatch's gradient is the sum of its
//! shards' gradients, taken in shard order. Every shard, wherever it runs, is computed by
//! [`run`] on a model rebuilt from the same host copy of the trainable weights, so a result does
//! not depend on how many workers ran the shards, nor on which ran which. Where shards go is
//! the [`Pool`]'s business: the page's are Web Workers (`www/js/worker.js`); without one, this
//! worker runs them all.
//!
//! How a minibatch splits depends on its size alone: one of at most [`SHARD`] trajectories is a
//! single shard, computed as before shards existed (the gradient of the minibatch's loss, bit
//! for bit); a larger one's gradient is the sum of its shards', which differs from the
//! minibatch's own in the last bits of the float sums.

use std::future::Future;
use std::pin::Pin;

use burn::optim::GradientsParams;
use burn::prelude::*;
use rand::SeedableRng;

use crate::config::{ExperimentConfig, GrpoConfig};
use crate::grpo::{Divisors, GrpoMinibatch, Norm, grpo_loss_by};
use crate::host::{self, DeviceError, HostVec, Reads};
use crate::policy::{Policy, StochasticPolicy};
use crate::rollout::Padded;

/// Trajectories per shard, at most.
pub const SHARD: usize = 16;

/// The statistics a gradient shard returns, its share of its minibatch's means (the names the
/// update logs them under).
pub const STATS: [&str; 8] = [
    "policy_loss",
    "entropy",
    "approx_kl",
    "clip_fraction",
    "clip_ratio_low",
    "clip_ratio_high",
    "clip_ratio_region",
    "kl",
];

/// Some columns of a padded batch: their observations and actions, `(T, S, ·)` row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Cells {
    pub steps: usize,
    pub width: usize,
    pub obs_dim: usize,
    pub action_width: usize,
    pub observations: Vec<f32>,
    pub actions: Vec<f32>,
}

impl Cells {
    /// Columns `cols` of `p`.
    pub fn of(p: &Padded, cols: &[usize]) -> Self {
        Self {
            steps: p.steps,
            width: cols.len(),
            obs_dim: p.obs_dim,
            action_width: p.action_width,
            observations: pick(&p.observations, p.width, p.obs_dim, cols),
            actions: pick(&p.actions, p.width, p.action_width, cols),
        }
    }

    fn tensors(&self, device: &Device) -> (Tensor<3>, Tensor<3>) {
        let (t, s) = (self.steps, self.width);
        let to_3d = |data: &[f32], k: usize| host::matrix(data.to_vec(), t * s, k, device).reshape([t, s, k]);
        (to_3d(&self.observations, self.obs_dim), to_3d(&self.actions, self.action_width))
    }
}

/// Columns `cols` of a row-major `(T, width, k)` array.
pub fn pick(data: &[f32], width: usize, k: usize, cols: &[usize]) -> Vec<f32> {
    let steps = data.len() / (width * k).max(1);
    let mut out = Vec::with_capacity(steps * cols.len() * k);
    for t in 0..steps {
        for &g in cols {
            out.extend_from_slice(&data[(t * width + g) * k..(t * width + g + 1) * k]);
        }
    }
    out
}

/// One shard's gradient of its minibatch's loss: its cells (each `(T, S)`) and the minibatch's
/// counts.
#[derive(Clone, Debug, PartialEq)]
pub struct GradientJob {
    pub cells: Cells,
    /// Under the policy that generated the batch.
    pub log_probs: Vec<f32>,
    /// Under the reference (absent when `beta = 0`).
    pub ref_log_probs: Option<Vec<f32>>,
    pub advantages: Vec<f32>,
    /// The loss mask.
    pub mask: Vec<f32>,
    pub norm: Norm,
}

/// A shard of work: the reference's log-probabilities of some columns, or a gradient.
#[derive(Clone, Debug, PartialEq)]
pub enum Job {
    Score(Cells),
    Gradient(GradientJob),
}

/// What a gradient shard gives back.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardGradient {
    /// Per trainable parameter in visiting order (`None`: the loss did not reach it).
    pub grads: Vec<Option<HostVec>>,
    /// [`STATS`], its share of the minibatch's.
    pub stats: Vec<f32>,
    /// The importance weights per cell, `(T, S)`.
    pub ratios: Vec<f32>,
    /// The k3 KL to the reference per cell, `(T, S)` (absent when `beta = 0`).
    pub kl: Option<Vec<f32>>,
}

/// What a job gives back.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Log-probabilities, `(T, S)`.
    Score(Vec<f32>),
    Gradient(ShardGradient),
}

impl Outcome {
    /// A score job's log-probabilities.
    pub fn log_probs(&self) -> &[f32] {
        match self {
            Outcome::Score(log_probs) => log_probs,
            Outcome::Gradient(_) => panic!("a gradient job's outcome has no log-probabilities"),
        }
    }

    /// A gradient job's gradient.
    pub fn gradient(self) -> ShardGradient {
        match self {
            Outcome::Gradient(g) => g,
            Outcome::Score(_) => panic!("a score job's outcome has no gradient"),
        }
    }
}

/// Run `job` with `model` (on `device`, an autodiff device).
pub async fn run<P: StochasticPolicy>(
    job: &Job,
    model: &P,
    c: &GrpoConfig,
    device: &Device,
) -> Result<Outcome, DeviceError> {
    match job {
        Job::Score(cells) => {
            // Scored through the autodiff path, as the reference always is (see
            // `Grpo::score_reference`), then detached.
            let (observations, actions) = cells.tensors(device);
            let log_probs = model.evaluate_padded(observations, actions).0.detach().inner();
            Ok(Outcome::Score(host::read(log_probs).await?))
        }
        Job::Gradient(j) => {
            let (t, s) = (j.cells.steps, j.cells.width);
            let (observations, actions) = j.cells.tensors(device);
            let cells = |data: &[f32]| host::matrix(data.to_vec(), t, s, device);
            let mb = GrpoMinibatch {
                observations,
                actions,
                log_probs: cells(&j.log_probs),
                ref_log_probs: j.ref_log_probs.as_deref().map(cells),
                advantages: cells(&j.advantages),
                mask: cells(&j.mask),
            };
            let l = grpo_loss_by(model, mb, c, &Divisors::Minibatch(j.norm));
            let [low, high, region] = l.clip_ratio;
            let mut reads = Reads::new();
            let scalars =
                [l.loss.clone().inner(), l.entropy, l.approx_kl, l.clip_fraction, low, high, region, l.kl];
            reads.push(Tensor::cat(scalars.to_vec(), 0));
            reads.push(l.ratio);
            if let Some(kl) = l.kl_per_cell {
                reads.push(kl);
            }
            let grads = GradientsParams::from_grads(l.loss.backward(), model);
            let grads = host::read_grads(model, &grads).await?;
            let mut read = reads.execute().await?.into_iter();
            let mut next = || read.next().expect("queued");
            Ok(Outcome::Gradient(ShardGradient { grads, stats: next(), ratios: next(), kl: read.next() }))
        }
    }
}

/// Shards' gradients combined in order: gradients and statistics summed, cells placed side by
/// side into the minibatch's `(T, columns)`.
pub fn combine(shards: Vec<ShardGradient>, steps: usize) -> ShardGradient {
    let ratios = side_by_side(shards.iter().map(|s| s.ratios.as_slice()).collect(), steps);
    let kl =
        shards.iter().map(|s| s.kl.as_deref()).collect::<Option<Vec<_>>>().map(|kl| side_by_side(kl, steps));
    let mut parts = shards.into_iter();
    let first = parts.next().expect("at least one shard");
    let (mut grads, mut stats) = (first.grads, first.stats);
    for shard in parts {
        add(&mut stats, &shard.stats);
        for (sum, g) in grads.iter_mut().zip(shard.grads) {
            match (sum.as_mut(), g) {
                (Some(sum), Some(g)) => add(sum, &g),
                (None, Some(g)) => *sum = Some(g),
                (_, None) => {}
            }
        }
    }
    ShardGradient { grads, stats, ratios, kl }
}

/// Row-major `(T, S_i)` parts placed side by side into one `(T, Σ S_i)`.
pub fn side_by_side(parts: Vec<&[f32]>, steps: usize) -> Vec<f32> {
    let widths: Vec<usize> = parts.iter().map(|p| p.len() / steps.max(1)).collect();
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for t in 0..steps {
        for (p, &w) in parts.iter().zip(&widths) {
            out.extend_from_slice(&p[t * w..(t + 1) * w]);
        }
    }
    out
}

fn add(sum: &mut [f32], x: &[f32]) {
    sum.iter_mut().zip(x).for_each(|(s, x)| *s += x);
}

/// A generation batch on the host, as shards are cut from it: the padded batch, its advantages,
/// its loss mask and the reference's log-probabilities (absent when `beta = 0`), each `(T, G)`.
pub struct HostBatch<'a> {
    pub padded: &'a Padded,
    pub advantages: &'a [f32],
    pub mask: &'a [f32],
    pub ref_log_probs: Option<&'a [f32]>,
}

/// `model`'s log-probabilities of every cell of `padded`, `(T, G)`, scored in shards of [`SHARD`]
/// columns (GRPO's reference pass).
pub async fn log_probs<P: StochasticPolicy>(
    model: &P,
    padded: &Padded,
    pool: Option<&dyn Pool>,
    c: &GrpoConfig,
    device: &Device,
) -> Result<Vec<f32>, DeviceError> {
    let columns: Vec<usize> = (0..padded.width).collect();
    let jobs: Vec<Job> = columns.chunks(SHARD).map(|cols| Job::Score(Cells::of(padded, cols))).collect();
    let outcomes = dispatch(&jobs, model, pool, c, device).await?;
    Ok(side_by_side(outcomes.iter().map(Outcome::log_probs).collect(), padded.steps))
}

/// The gradient of the loss of minibatch `mb` (columns of `batch`, with its counts `norm`) for
/// `model`, summed over its shards of [`SHARD`] columns, with their statistics and cells.
pub async fn gradient<P: StochasticPolicy>(
    model: &P,
    batch: &HostBatch<'_>,
    mb: &[usize],
    norm: Norm,
    pool: Option<&dyn Pool>,
    c: &GrpoConfig,
    device: &Device,
) -> Result<ShardGradient, DeviceError> {
    let p = batch.padded;
    let one = |data: &[f32], cols: &[usize]| pick(data, p.width, 1, cols);
    let jobs: Vec<Job> = mb
        .chunks(SHARD)
        .map(|cols| {
            Job::Gradient(GradientJob {
                cells: Cells::of(p, cols),
                log_probs: one(&p.log_probs, cols),
                ref_log_probs: batch.ref_log_probs.map(|r| one(r, cols)),
                advantages: one(batch.advantages, cols),
                mask: one(batch.mask, cols),
                norm,
            })
        })
        .collect();
    let outcomes = dispatch(&jobs, model, pool, c, device).await?;
    Ok(combine(outcomes.into_iter().map(Outcome::gradient).collect(), p.steps))
}

/// Where shards run besides this worker: the page's helper workers.
pub trait Pool: Send + Sync {
    /// Helpers (workers besides this one).
    fn helpers(&self) -> usize;
    /// Start `messages` (each an [`encode`]d job with the helper it goes to, `0 .. helpers()`)
    /// at once; their [`encode_outcome`]d outcomes, in order.
    fn start(
        &self,
        messages: Vec<(usize, Vec<f32>)>,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Vec<f32>>, String>> + '_>>;
}

/// Run `jobs` with `model` (its trainable weights copied once through the host, and every job run
/// on a model rebuilt from that copy): job `i` on executor `i mod (helpers + 1)`, executor 0
/// being this worker, which runs its own while the helpers run theirs, and any a helper failed to
/// answer. Outcomes in job order.
pub async fn dispatch<P: StochasticPolicy>(
    jobs: &[Job],
    model: &P,
    pool: Option<&dyn Pool>,
    c: &GrpoConfig,
    device: &Device,
) -> Result<Vec<Outcome>, DeviceError> {
    let only = host::trainable(model);
    let params = host::read_params(model, only.as_deref()).await?;
    let executors = pool.map_or(0, |p| p.helpers()) + 1;
    let remote: Vec<usize> = (0..jobs.len()).filter(|i| i % executors != 0).collect();
    let pending = pool.filter(|_| !remote.is_empty()).map(|pool| {
        pool.start(remote.iter().map(|&i| (i % executors - 1, encode(&jobs[i], &params))).collect())
    });
    let local = host::load_params(model.clone(), params, device, only.as_deref()).train();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; jobs.len()];
    for i in (0..jobs.len()).step_by(executors) {
        outcomes[i] = Some(run(&jobs[i], &local, c, device).await?);
    }
    if let Some(pending) = pending {
        // A helper that failed or did not answer in time (the pool's business) leaves its jobs to
        // this worker: the same results, later.
        if let Ok(answers) = pending.await {
            for (i, answer) in remote.into_iter().zip(answers) {
                outcomes[i] = decode_outcome(&answer).ok();
            }
        }
    }
    for (i, outcome) in outcomes.iter_mut().enumerate().filter(|(_, o)| o.is_none()) {
        *outcome = Some(run(&jobs[i], &local, c, device).await?);
    }
    Ok(outcomes.into_iter().map(|o| o.expect("every job ran")).collect())
}

/// Runs jobs sent by another worker's [`dispatch`]: a model of the run's architecture (its
/// frozen weights, a language model's base, are the run's; the trainable ones come with each
/// job).
pub struct Helper {
    config: GrpoConfig,
    template: Policy,
    only: Option<Vec<bool>>,
    device: Device,
    /// The model of the latest weights: the jobs of one dispatch all come with the same ones.
    loaded: std::sync::Mutex<Option<(Vec<HostVec>, Policy)>>,
}

impl Helper {
    pub fn new(config: &ExperimentConfig) -> Self {
        let device = Device::flex().autodiff();
        let template = Policy::for_run(&config.run, &device, &mut crate::Rng::seed_from_u64(0));
        let only = host::trainable(&template);
        Self { config: config.grpo.clone(), only, template, device, loaded: Default::default() }
    }

    /// The [`encode_outcome`]d outcome of an [`encode`]d job.
    pub async fn run(&self, message: &[f32]) -> Result<Vec<f32>, String> {
        let (job, params) = decode(message)?;
        let model = {
            let mut loaded = self.loaded.lock().expect("a helper runs one job at a time");
            match loaded.as_ref() {
                Some((weights, model)) if *weights == params => model.clone(),
                _ => {
                    let only = self.only.as_deref();
                    let model =
                        host::load_params(self.template.clone(), params.clone(), &self.device, only).train();
                    *loaded = Some((params, model.clone()));
                    model
                }
            }
        };
        let outcome = run(&job, &model, &self.config, &self.device).await.map_err(|e| e.to_string())?;
        Ok(encode_outcome(&outcome))
    }
}

// The wire format: one f32 array (counts are exact in f32 below 2^24), each array preceded by
// its length, an optional one by 0 (absent) or 1.

struct Writer(Vec<f32>);

impl Writer {
    fn count(&mut self, n: usize) {
        assert!(n < 1 << 24, "{n} does not fit the wire format");
        self.0.push(n as f32);
    }
    fn array(&mut self, xs: &[f32]) {
        self.count(xs.len());
        self.0.extend_from_slice(xs);
    }
    fn optional(&mut self, xs: Option<&[f32]>) {
        self.count(usize::from(xs.is_some()));
        if let Some(xs) = xs {
            self.array(xs);
        }
    }
}

struct Reader<'a>(&'a [f32]);

impl Reader<'_> {
    fn count(&mut self) -> Result<usize, String> {
        let (&x, rest) = self.0.split_first().ok_or("the message ended early")?;
        self.0 = rest;
        (x >= 0.0 && x.fract() == 0.0).then_some(x as usize).ok_or_else(|| format!("{x} is not a count"))
    }
    fn array(&mut self) -> Result<Vec<f32>, String> {
        let n = self.count()?;
        if n > self.0.len() {
            return Err("the message ended early".into());
        }
        let (xs, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(xs.to_vec())
    }
    fn optional(&mut self) -> Result<Option<Vec<f32>>, String> {
        match self.count()? {
            0 => Ok(None),
            _ => self.array().map(Some),
        }
    }
    fn end(&self) -> Result<(), String> {
        self.0.is_empty().then_some(()).ok_or_else(|| "the message is longer than its contents".into())
    }
}

/// `job`, with the trainable weights of the model it runs on, as a message to a helper.
pub fn encode(job: &Job, params: &[HostVec]) -> Vec<f32> {
    let mut w = Writer(Vec::new());
    let cells = match job {
        Job::Score(cells) => cells,
        Job::Gradient(j) => &j.cells,
    };
    w.count(usize::from(matches!(job, Job::Gradient(_))));
    for n in [cells.steps, cells.width, cells.obs_dim, cells.action_width] {
        w.count(n);
    }
    w.array(&cells.observations);
    w.array(&cells.actions);
    if let Job::Gradient(j) = job {
        for n in [j.norm.trajectories, j.norm.valid_steps, j.norm.batch_valid_steps, j.norm.horizon] {
            w.count(n);
        }
        w.array(&j.log_probs);
        w.optional(j.ref_log_probs.as_deref());
        w.array(&j.advantages);
        w.array(&j.mask);
    }
    w.count(params.len());
    params.iter().for_each(|p| w.array(p));
    w.0
}

/// A message of [`encode`]: the job and the weights.
pub fn decode(message: &[f32]) -> Result<(Job, Vec<HostVec>), String> {
    let mut r = Reader(message);
    let gradient = r.count()? == 1;
    let [steps, width, obs_dim, action_width] = [r.count()?, r.count()?, r.count()?, r.count()?];
    let cells = Cells { steps, width, obs_dim, action_width, observations: r.array()?, actions: r.array()? };
    if cells.observations.len() != steps * width * obs_dim
        || cells.actions.len() != steps * width * action_width
    {
        return Err("the cells' sizes do not match their shape".into());
    }
    let job = if gradient {
        let norm = Norm {
            trajectories: r.count()?,
            valid_steps: r.count()?,
            batch_valid_steps: r.count()?,
            horizon: r.count()?,
        };
        let (log_probs, ref_log_probs, advantages, mask) =
            (r.array()?, r.optional()?, r.array()?, r.array()?);
        Job::Gradient(GradientJob { cells, log_probs, ref_log_probs, advantages, mask, norm })
    } else {
        Job::Score(cells)
    };
    let params = (0..r.count()?).map(|_| r.array()).collect::<Result<_, _>>()?;
    r.end()?;
    Ok((job, params))
}

/// An outcome as a helper's answer.
pub fn encode_outcome(outcome: &Outcome) -> Vec<f32> {
    let mut w = Writer(Vec::new());
    match outcome {
        Outcome::Score(log_probs) => {
            w.count(0);
            w.array(log_probs);
        }
        Outcome::Gradient(g) => {
            w.count(1);
            w.count(g.grads.len());
            g.grads.iter().for_each(|x| w.optional(x.as_deref()));
            w.array(&g.stats);
            w.array(&g.ratios);
            w.optional(g.kl.as_deref());
        }
    }
    w.0
}

/// An answer of [`encode_outcome`].
pub fn decode_outcome(answer: &[f32]) -> Result<Outcome, String> {
    let mut r = Reader(answer);
    let outcome = match r.count()? {
        0 => Outcome::Score(r.array()?),
        _ => {
            let grads = (0..r.count()?).map(|_| r.optional()).collect::<Result<_, _>>()?;
            Outcome::Gradient(ShardGradient {
                grads,
                stats: r.array()?,
                ratios: r.array()?,
                kl: r.optional()?,
            })
        }
    };
    r.end()?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_and_outcomes_cross_the_wire_unchanged() {
        let cells = Cells {
            steps: 2,
            width: 1,
            obs_dim: 3,
            action_width: 1,
            observations: vec![0.5, -1.0, 2.0, 3.0, 4.0, 5.5],
            actions: vec![1.0, 0.0],
        };
        let norm = Norm { trajectories: 40, valid_steps: 333, batch_valid_steps: 1200, horizon: 12 };
        let params = vec![vec![0.25, -0.125], vec![]];
        for job in [
            Job::Score(cells.clone()),
            Job::Gradient(GradientJob {
                cells,
                log_probs: vec![-0.5, -1.5],
                ref_log_probs: Some(vec![-0.25, f32::MIN_POSITIVE]),
                advantages: vec![1.0, -1.0],
                mask: vec![1.0, 0.0],
                norm,
            }),
        ] {
            assert_eq!(decode(&encode(&job, &params)).unwrap(), (job, params.clone()));
        }
        let g = ShardGradient {
            grads: vec![Some(vec![1e-9, -3.0]), None],
            stats: vec![0.1; 8],
            ratios: vec![1.0; 2],
            kl: None,
        };
        for o in [Outcome::Score(vec![-0.1, -2.0]), Outcome::Gradient(g)] {
            assert_eq!(decode_outcome(&encode_outcome(&o)).unwrap(), o);
        }
        // A truncated or padded message is refused with a reason, not misread.
        let m = encode(
            &Job::Score(Cells {
                steps: 1,
                width: 1,
                obs_dim: 1,
                action_width: 1,
                observations: vec![1.0],
                actions: vec![0.0],
            }),
            &[],
        );
        assert!(decode(&m[..m.len() - 1]).is_err());
        assert!(decode(&[m.clone(), vec![0.0]].concat()).is_err());
    }

    #[test]
    fn shards_combine_in_order_side_by_side() {
        let shard = |g: f32, w: usize, r: f32| ShardGradient {
            grads: vec![Some(vec![g, 2.0 * g]), None],
            stats: vec![g; 8],
            ratios: (0..2 * w).map(|i| r + i as f32).collect(),
            kl: None,
        };
        let c = combine(vec![shard(1.0, 2, 10.0), shard(0.5, 1, 20.0)], 2);
        assert_eq!(c.grads, vec![Some(vec![1.5, 3.0]), None]);
        assert_eq!(c.stats, vec![1.5; 8]);
        // (T, 2) then (T, 1): rows [10, 11 | 20], [12, 13 | 21].
        assert_eq!(c.ratios, vec![10.0, 11.0, 20.0, 12.0, 13.0, 21.0]);
        assert_eq!(pick(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], 3, 1, &[2, 0]), vec![2.0, 0.0, 5.0, 3.0]);
    }
}
