//! Ask the model: a reader's prompt of a text task completed by the shipped base, PPO's and
//! GRPO's policies side by side — each model's greedy answer and a few sampled ones with their
//! probabilities, marked right or wrong against the task's answer — and the trained adapters
//! as a file (`pvg train --save-adapters`, the page's download) that `pvg complete` and the page
//! load back.
//!
//! Completions are played in the task's own environment, so a completion ends exactly where
//! training's does (EOS, the length limit, or PAD/BOS, see [`crate::env::text`]). Samples are
//! drawn at the run's temperature from a generator of their own, seeded with [`SAMPLE_SEED`]:
//! the same model and prompt give the same samples on the page and in the CLI.

use std::collections::BTreeMap;

use burn::prelude::*;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::Rng;
use crate::config::ExperimentConfig;
use crate::env::EnvId;
use crate::env::text::{self, Task};
use crate::host::{self, DeviceError};
use crate::policy::{Policy, Sampling, StochasticPolicy};

/// Completions sampled from each model.
pub const SAMPLES: usize = 16;
/// The samples' own generator's seed (no run's seed: asking does not disturb a run).
pub const SAMPLE_SEED: u64 = 0;

/// One completion of the prompt.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Completion {
    /// The completion's characters (without its EOS).
    pub text: String,
    /// Its tokens as text, `<eos>` for the end.
    pub tokens: Vec<String>,
    /// Ended with EOS (not truncated).
    pub ended: bool,
    /// Exactly the task's answer, then EOS.
    pub right: bool,
    /// Its probability under the model (at the run's temperature): the product of its tokens'.
    pub probability: f64,
    /// Of the samples, how many were this completion (1 for the greedy one).
    pub count: usize,
}

/// One model's answers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelAnswers {
    /// `base`, `ppo` or `grpo`.
    pub model: String,
    pub greedy: Completion,
    /// The distinct completions of [`SAMPLES`] samples, the most probable first.
    pub samples: Vec<Completion>,
}

/// What asking gives.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Answers {
    /// The prompt as the model sees it after BOS (`dcba=`).
    pub prompt: String,
    /// The task's answer.
    pub answer: String,
    pub temperature: f64,
    pub samples: usize,
    pub models: Vec<ModelAnswers>,
}

/// The problem of a reader's `prompt` (`dcba=`, or `dcba`), or what is wrong with it: it must be
/// one of `env`'s prompts — its alphabet, its lengths — so that it fits the model's context.
pub fn problem_of(env: EnvId, prompt: &str) -> Result<String, String> {
    let task = env.task().ok_or_else(|| format!("{env} is not a text task: there is no model to ask"))?;
    let problem = prompt.trim();
    let problem = problem.strip_suffix('=').unwrap_or(problem);
    if problem.is_empty() {
        return Err("type a prompt, such as dcba= (the task's answer follows the =)".into());
    }
    match task {
        Task::Reverse | Task::Sort => {
            if let Some(c) = problem.chars().find(|c| !('a'..='h').contains(c)) {
                return Err(format!(
                    "{c:?} is not in {env}'s alphabet: its prompts are 2 to 5 letters a–h, then ="
                ));
            }
            let n = problem.chars().count();
            if !(2..=5).contains(&n) {
                return Err(format!("{env}'s prompts hold 2 to 5 letters; {problem:?} has {n}"));
            }
        }
        Task::Add => {
            let valid = problem.split_once('+').is_some_and(|(a, b)| {
                let number = |s: &str| !s.is_empty() && s.len() <= 2 && s.chars().all(|c| c.is_ascii_digit());
                number(a) && number(b)
            });
            if !valid {
                return Err(format!(
                    "{env}'s prompts are two numbers below 100 and a +, then = (47+8=); not {problem:?}"
                ));
            }
        }
    }
    Ok(problem.to_string())
}

/// `problem` completed by each of `models` (name, policy), on `device` (where their tensors are).
pub async fn ask(
    env: EnvId,
    problem: &str,
    temperature: f64,
    models: &[(&str, &Policy)],
    device: &Device,
) -> Result<Answers, DeviceError> {
    let task = env.task().expect("problem_of checked the task");
    let answer = task.answer(problem);
    let mut out = Vec::new();
    for (name, policy) in models {
        let greedy = play(policy, env, problem, &answer, 1, &mut Sampling::Mode, device).await?.remove(0);
        let mut rng = Rng::seed_from_u64(SAMPLE_SEED);
        let drawn =
            play(policy, env, problem, &answer, SAMPLES, &mut Sampling::Sample(&mut rng), device).await?;
        let mut distinct: BTreeMap<Vec<String>, Completion> = BTreeMap::new();
        for c in drawn {
            distinct.entry(c.tokens.clone()).and_modify(|d| d.count += 1).or_insert(c);
        }
        let mut samples: Vec<Completion> = distinct.into_values().collect();
        samples.sort_by(|a, b| b.probability.total_cmp(&a.probability).then(b.count.cmp(&a.count)));
        out.push(ModelAnswers { model: name.to_string(), greedy, samples });
    }
    let prompt = format!("{problem}=");
    Ok(Answers { prompt, answer, temperature, samples: SAMPLES, models: out })
}

/// `prompt` asked of the base and of every model of `adapters`, on the CPU: what the page's
/// "Ask the model" and `pvg complete` show, from the same file format.
pub async fn ask_with(adapters: &Adapters, prompt: &str) -> Result<Answers, String> {
    let config = adapters.config();
    let problem = problem_of(config.run.env, prompt)?;
    let device = Device::flex().autodiff();
    let policies = adapters.policies(&device)?;
    let models: Vec<(&str, &Policy)> = policies.iter().map(|(n, p)| (n.as_str(), p)).collect();
    ask(config.run.env, &problem, config.run.temperature, &models, &device).await.map_err(|e| e.to_string())
}

/// `rows` completions of `problem`, played together in the task's environment.
async fn play(
    policy: &Policy,
    env: EnvId,
    problem: &str,
    answer: &str,
    rows: usize,
    sampling: &mut Sampling<'_>,
    device: &Device,
) -> Result<Vec<Completion>, DeviceError> {
    let start: Vec<f64> = Task::prompt_tokens(problem).iter().map(|&t| t as f64).collect();
    let mut envs: Vec<_> = (0..rows).map(|_| env.make_for_eval()).collect();
    let mut obs: Vec<Vec<f32>> = envs.iter_mut().map(|e| e.reset_to(&start)).collect();
    let mut tokens = vec![Vec::new(); rows];
    let mut log_p = vec![0f64; rows];
    let mut ended = vec![false; rows];
    let mut running: Vec<usize> = (0..rows).collect();
    while !running.is_empty() {
        let batch: Vec<f32> = running.iter().flat_map(|&i| obs[i].iter().copied()).collect();
        let picked =
            policy.get_action(host::matrix(batch, running.len(), text::CONTEXT, device), sampling).await?;
        let mut still = Vec::with_capacity(running.len());
        for (row, &i) in running.iter().enumerate() {
            let t = envs[i].step(&picked.actions[row..row + 1]);
            tokens[i].push(picked.actions[row] as usize);
            log_p[i] += picked.log_probs[row] as f64;
            ended[i] = t.terminated;
            if !t.done() {
                still.push(i);
            }
            obs[i] = t.observation;
        }
        running = still;
    }
    Ok((0..rows)
        .map(|i| {
            let text: String = tokens[i].iter().filter(|&&t| t >= 3).map(|&t| text::token_text(t)).collect();
            Completion {
                right: ended[i] && text == answer,
                text,
                tokens: tokens[i].iter().map(|&t| text::token_text(t)).collect(),
                ended: ended[i],
                probability: log_p[i].exp(),
                count: 1,
            }
        })
        .collect())
}

/// The file's first bytes.
const MAGIC: &[u8; 8] = b"PVGLORA1";

/// A run's trained LoRA adapters: each model's trainable parameters (in the policy's visiting
/// order), and the run they belong to (its link's fragment: the task, LoRA's rank and alpha,
/// the temperature). As a file: [`MAGIC`], the header's length (`u32`, little-endian), the
/// header as JSON, then every parameter's `f32`s, little-endian, in the header's order.
#[derive(Clone, Debug, PartialEq)]
pub struct Adapters {
    pub fragment: String,
    /// `(model, parameters)`: `ppo`, `grpo`.
    pub models: Vec<(String, Vec<Vec<f32>>)>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    fragment: String,
    /// Each model's name and its parameters' lengths.
    models: Vec<(String, Vec<usize>)>,
}

impl Adapters {
    /// The trainable parameters of `policy` (an autodiff module: its adapters).
    pub async fn read(policy: &Policy) -> Result<Vec<Vec<f32>>, DeviceError> {
        let only = host::trainable(policy);
        host::read_params(policy, only.as_deref()).await
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let header = Header {
            fragment: self.fragment.clone(),
            models: self
                .models
                .iter()
                .map(|(m, ps)| (m.clone(), ps.iter().map(Vec::len).collect()))
                .collect(),
        };
        let header = serde_json::to_vec(&header).expect("a header serialises");
        let mut out = MAGIC.to_vec();
        out.extend((header.len() as u32).to_le_bytes());
        out.extend(header);
        for x in self.models.iter().flat_map(|(_, ps)| ps.iter().flatten()) {
            out.extend(x.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let not = "not a file of trained adapters (pvg train --save-adapters, or the page's download)";
        let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or(not)?;
        let (len, rest) = rest.split_first_chunk::<4>().ok_or(not)?;
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len {
            return Err(format!("{not}: it ends inside its header"));
        }
        let header: Header = serde_json::from_slice(&rest[..len])
            .map_err(|e| format!("the adapters' header cannot be read: {e}"))?;
        let mut floats =
            rest[len..].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")));
        let want: usize = header.models.iter().flat_map(|(_, ls)| ls).sum();
        if rest[len..].len() != 4 * want {
            return Err(format!(
                "the adapters file holds {} bytes of numbers; its header says {}",
                rest[len..].len(),
                4 * want
            ));
        }
        let models = header
            .models
            .into_iter()
            .map(|(m, lengths)| (m, lengths.into_iter().map(|n| floats.by_ref().take(n).collect()).collect()))
            .collect();
        Ok(Adapters { fragment: header.fragment, models })
    }

    /// The run's config, as its fragment says.
    pub fn config(&self) -> ExperimentConfig {
        crate::share::parse(&self.fragment).config
    }

    /// The base (fresh adapters: `B = 0`) and each model of the file, on `device` (autodiff),
    /// or why the file does not fit the run's model.
    pub fn policies(&self, device: &Device) -> Result<Vec<(String, Policy)>, String> {
        let config = self.config();
        if config.run.env.task().is_none() {
            return Err(format!("the adapters' run is on {}, not a text task", config.run.env));
        }
        let fresh = || Policy::for_run(&config.run, device, &mut Rng::seed_from_u64(config.run.seed));
        let template = fresh();
        let only = host::trainable(&template);
        let lengths = param_lengths(&template, only.as_deref());
        let mut out = vec![("base".to_string(), template.clone())];
        for (model, params) in &self.models {
            let got: Vec<usize> = params.iter().map(Vec::len).collect();
            if got != lengths {
                return Err(format!(
                    "the {model} adapters do not fit this run's model: {} parameters of lengths {:?}…, the model's {} of {:?}…",
                    got.len(),
                    &got[..got.len().min(4)],
                    lengths.len(),
                    &lengths[..lengths.len().min(4)]
                ));
            }
            out.push((model.clone(), host::load_params(fresh(), params.clone(), device, only.as_deref())));
        }
        Ok(out)
    }
}

/// The number of values of each float parameter `only` marks, from their shapes (no read).
fn param_lengths(policy: &Policy, only: Option<&[bool]>) -> Vec<usize> {
    use burn::module::{ModuleVisitor, Param};
    struct Lengths<'a> {
        only: Option<&'a [bool]>,
        index: usize,
        out: Vec<usize>,
    }
    impl ModuleVisitor for Lengths<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if self.only.is_none_or(|only| only[self.index]) {
                self.out.push(param.lazy_shape().num_elements());
            }
            self.index += 1;
        }
    }
    let mut v = Lengths { only, index: 0, out: Vec::new() };
    policy.visit(&mut v);
    v.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_is_checked_against_the_task() {
        assert_eq!(problem_of(EnvId::LmReverse, " dcba= "), Ok("dcba".into()));
        assert_eq!(problem_of(EnvId::LmReverse, "dcba"), Ok("dcba".into()));
        assert_eq!(problem_of(EnvId::LmAdd, "47+8="), Ok("47+8".into()));
        for (env, bad, says) in [
            (EnvId::LmReverse, "", "type a prompt"),
            (EnvId::LmReverse, "dcbz=", "'z' is not in lm-reverse's alphabet"),
            (EnvId::LmReverse, "abcdefg=", "2 to 5 letters; \"abcdefg\" has 7"),
            (EnvId::LmReverse, "<script>=", "is not in"),
            (EnvId::LmSort, "a=", "has 1"),
            (EnvId::LmAdd, "123+4=", "two numbers below 100"),
            (EnvId::LmAdd, "4+=", "two numbers below 100"),
            (EnvId::CartPole, "ab=", "not a text task"),
        ] {
            let e = problem_of(env, bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    #[test]
    fn an_adapters_file_round_trips_and_a_damaged_one_is_refused() {
        let a = Adapters {
            fragment: "v=7&env=lm-reverse&seed=3".into(),
            models: vec![
                ("ppo".into(), vec![vec![1.0, -2.5], vec![3.0]]),
                ("grpo".into(), vec![vec![0.5, 0.25], vec![f32::MIN_POSITIVE]]),
            ],
        };
        let bytes = a.to_bytes();
        assert_eq!(Adapters::from_bytes(&bytes), Ok(a));
        assert!(Adapters::from_bytes(b"hello").unwrap_err().contains("not a file of trained adapters"));
        assert!(Adapters::from_bytes(&bytes[..bytes.len() - 4]).unwrap_err().contains("its header says"));
        assert!(Adapters::from_bytes(&bytes[..14]).unwrap_err().contains("inside its header"));
    }
}
