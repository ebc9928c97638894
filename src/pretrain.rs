//! Pre-training the language model's base by next-token prediction on generated examples, and
//! stopping where it is mediocre on purpose: RL needs something left to do, and groups whose
//! completions all fail (or all succeed) give GRPO no signal.
//!
//! Mediocre is measured as a group sees it: the exact match of *sampled* completions (the
//! policy at temperature 1) on held-out prompts. Early in training the model is right by
//! argmax far more often than by sampling (its distributions are still flat), so a greedy
//! criterion would stop at a base whose samples almost never succeed.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use rand::SeedableRng;

use crate::Rng;
use crate::env::text::{CONTEXT, PAD, Task};
use crate::eval::{Start, play};
use crate::host::{self, DeviceError};
use crate::learner::Optimizer;
use crate::policy::Sampling;
use crate::policy::lm::{LmShape, TinyGpt};

/// How a pre-training run goes and where it stops.
#[derive(Clone, Debug)]
pub struct PretrainConfig {
    pub seed: u64,
    pub batch: usize,
    pub learning_rate: f64,
    /// Optimiser steps between evaluations on held-out prompts.
    pub eval_every: usize,
    /// Held-out prompts per evaluation (exact match, sampled and greedy).
    pub eval_prompts: usize,
    /// Stop at the first evaluation whose sampled exact match reaches this.
    pub target_accuracy: f64,
    /// Give up after this many optimiser steps.
    pub max_steps: usize,
}

impl Default for PretrainConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            batch: 64,
            learning_rate: 1e-3,
            eval_every: 10,
            eval_prompts: 256,
            target_accuracy: 0.4,
            max_steps: 20_000,
        }
    }
}

/// One evaluation during pre-training.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Checkpoint {
    pub step: usize,
    /// Mean next-token cross-entropy over the completion tokens of the last batch.
    pub loss: f64,
    /// Exact match on held-out prompts, completions sampled (temperature 1).
    pub sampled_accuracy: f64,
    /// Exact match on held-out prompts, greedy.
    pub accuracy: f64,
}

/// A batch of `n` training examples: contexts `(n, CONTEXT)`, next tokens `(n, CONTEXT)` and a
/// mask of the positions whose next token belongs to the completion (answer and EOS).
fn batch(task: Task, n: usize, rng: &mut Rng) -> (Vec<i64>, Vec<i64>, Vec<f32>) {
    let (mut inputs, mut targets, mut mask) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let problem = task.draw_from(false, rng);
        let prompt = Task::prompt_tokens(&problem);
        let mut seq = prompt.clone();
        seq.extend(task.answer_tokens(&problem));
        seq.resize(CONTEXT + 1, PAD);
        for i in 0..CONTEXT {
            inputs.push(seq[i] as i64);
            targets.push(seq[i + 1] as i64);
            mask.push((i + 1 >= prompt.len() && seq[i + 1] != PAD) as u8 as f32);
        }
    }
    (inputs, targets, mask)
}

/// Exact match of `model` on `prompts` held-out prompts: greedy, or sampled with `rng`.
pub async fn held_out_accuracy(
    model: &TinyGpt,
    task: Task,
    prompts: usize,
    rng: Option<&mut Rng>,
    device: &Device,
) -> Result<f64, DeviceError> {
    let mut sampling = match rng {
        Some(rng) => Sampling::Sample(rng),
        None => Sampling::Mode,
    };
    let starts: Vec<Start> = (0..prompts as u64).map(Start::Seed).collect();
    let returns = play(model, task.env_id(), &starts, None, device, &mut sampling).await?;
    Ok(returns.iter().sum::<f64>() / prompts as f64)
}

/// Pre-train a base for `task` on `device` (an autodiff device) from `config.seed`; `on_eval`
/// sees every evaluation. Returns the base (without autodiff) and its last evaluation.
pub async fn pretrain(
    task: Task,
    config: &PretrainConfig,
    device: &Device,
    mut on_eval: impl FnMut(&Checkpoint),
) -> Result<(TinyGpt, Checkpoint), DeviceError> {
    let mut rng = Rng::seed_from_u64(config.seed);
    let mut model = TinyGpt::new(LmShape::BASE, device, &mut rng);
    let mut optimizer = Optimizer::new(1e-8, 1.0);
    let eval_device = device.clone().inner();
    let n = config.batch;
    for step in 1..=config.max_steps {
        let (inputs, targets, mask) = batch(task, n, &mut rng);
        let inputs = Tensor::<2, Int>::from_data(TensorData::new(inputs, [n, CONTEXT]), device);
        let targets = Tensor::<2, Int>::from_data(TensorData::new(targets, [n, CONTEXT]), device);
        let mask = host::matrix(mask, n, CONTEXT, device);
        let log_p = log_softmax(model.logits(inputs), 2);
        let picked = log_p.gather(2, targets.reshape([n, CONTEXT, 1])).reshape([n, CONTEXT]);
        let loss = -(picked * mask.clone()).sum() / mask.sum();
        let loss_value = loss.clone();
        let lr = config.learning_rate;
        (model, _) = optimizer.step(model, loss, lr);
        if step % config.eval_every == 0 || step == config.max_steps {
            let loss = host::read(loss_value).await?[0] as f64;
            let base = model.valid();
            let accuracy = held_out_accuracy(&base, task, config.eval_prompts, None, &eval_device).await?;
            let mut sampling_rng = Rng::seed_from_u64(config.seed ^ step as u64);
            let sampled_accuracy =
                held_out_accuracy(&base, task, config.eval_prompts, Some(&mut sampling_rng), &eval_device)
                    .await?;
            let checkpoint = Checkpoint { step, loss, sampled_accuracy, accuracy };
            on_eval(&checkpoint);
            if sampled_accuracy >= config.target_accuracy || step == config.max_steps {
                return Ok((model.valid(), checkpoint));
            }
        }
    }
    unreachable!("the loop returns at max_steps")
}
