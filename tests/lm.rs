//! The language-model policy: a frozen base with LoRA adapters, trained by the unchanged PPO
//! and GRPO loops on the text tasks.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use playground::Rng;
use playground::config::ExperimentConfig;
use playground::env::EnvId;
use playground::env::text::{CONTEXT, PAD, Task, VOCAB};
use playground::grpo::Grpo;
use playground::host;
use playground::metrics::UpdateMetrics;
use playground::policy::lm::TinyGpt;
use playground::policy::{Policy, StochasticPolicy, base_weights};
use playground::ppo::Ppo;
use playground::train::Algorithm;
use rand::SeedableRng;

/// Every float parameter, split into the base's (outside any LoRA adapter) and the adapters',
/// with its id and values.
#[derive(Default)]
struct Parts {
    in_lora: bool,
    base: Vec<(ParamId, Vec<f32>)>,
    adapters: Vec<(ParamId, Vec<f32>)>,
}

impl ModuleVisitor for Parts {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        if container_type == "Reparameterization" && name == "lora" {
            self.in_lora = true;
        }
    }
    fn exit_module(&mut self, name: &str, container_type: &str) {
        if container_type == "Reparameterization" && name == "lora" {
            self.in_lora = false;
        }
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let values = pollster::block_on(host::read(param.val())).unwrap();
        let part = if self.in_lora { &mut self.adapters } else { &mut self.base };
        part.push((param.id, values));
    }
}

fn parts<M: Module>(module: &M) -> Parts {
    let mut parts = Parts::default();
    module.visit(&mut parts);
    parts
}

fn config(env: EnvId) -> ExperimentConfig {
    let mut c = ExperimentConfig::for_env(env);
    c.grpo.num_generations = 4;
    c.grpo.groups_per_update = 2;
    c.ppo.num_envs = 4;
    c.ppo.num_steps = 16;
    c.ppo.num_minibatches = 2;
    c.ppo.update_epochs = 2;
    c
}

fn lm(policy: &Policy) -> &TinyGpt {
    match policy {
        Policy::Lm(m) => m,
        _ => panic!("a text task's policy is the language model"),
    }
}

/// A batch of contexts a rollout would see: a prompt and a few generated tokens, right-padded.
fn contexts(device: &Device) -> Tensor<2> {
    let mut rows = Vec::new();
    for (problem, generated) in [("abc", "c"), ("hgfed", ""), ("ab", "ba")] {
        let mut t = Task::prompt_tokens(problem);
        t.extend(generated.chars().map(playground::env::text::token));
        t.resize(CONTEXT, PAD);
        rows.extend(t.iter().map(|&x| x as f32));
    }
    // A padded cell of a (T, G) batch: all padding.
    rows.extend(std::iter::repeat_n(PAD as f32, CONTEXT));
    host::matrix(rows, 4, CONTEXT, device)
}

#[test]
fn lora_starts_as_the_base_and_only_adapters_receive_gradients() {
    let device = Device::flex().autodiff();
    let base = TinyGpt::load_base(base_weights(Task::Reverse), &device).unwrap();
    let adapted = base.clone().with_lora(8, 16.0, &mut Rng::seed_from_u64(3));
    // B = 0: the adapted model computes what the base does.
    let (a, b) = (base.dist_params(contexts(&device)), adapted.dist_params(contexts(&device)));
    let (a, b) = (pollster::block_on(host::read(a)).unwrap(), pollster::block_on(host::read(b)).unwrap());
    assert_eq!(a, b);
    assert!(a.iter().all(|v| v.is_finite()), "the all-padding row is finite too");

    let p = parts(&adapted);
    // Four projections per block, two blocks, two factors each.
    assert_eq!(p.adapters.len(), 16);
    let actions = host::matrix(vec![3.0, 5.0, 2.0, 0.0], 4, 1, &device);
    let (log_probs, entropy) = adapted.evaluate_actions(contexts(&device), actions);
    let grads = GradientsParams::from_grads((log_probs.sum() + entropy.sum()).backward(), &adapted);
    for (id, _) in &p.base {
        assert!(
            grads.get::<2>(*id).is_none() && grads.get::<1>(*id).is_none(),
            "a base parameter got a gradient"
        );
    }
    // B = 0 gives A no gradient at the first step; every B gets one.
    let with_grad = p.adapters.iter().filter(|(id, _)| grads.get::<2>(*id).is_some()).count();
    assert_eq!(with_grad, 16, "every adapter factor receives a gradient");
}

#[test]
fn fifty_updates_leave_the_base_bit_identical_and_move_the_adapters() {
    for env in [EnvId::LmReverse, EnvId::LmAdd] {
        let c = config(env);
        let (learner, acting) = (Device::flex().autodiff(), Device::flex());
        let mut grpo = Grpo::new(&c, &learner, &acting);
        let before = parts(grpo.policy());
        let reference_before = parts(grpo.reference());
        for _ in 0..50 {
            let m = pollster::block_on(grpo.update()).unwrap();
            assert!(m.first_non_finite().is_none(), "{env}: {m:?}");
        }
        let after = parts(grpo.policy());
        assert_eq!(before.base, after.base, "{env}: the base moved");
        assert_ne!(before.adapters, after.adapters, "{env}: the adapters did not move");
        // The reference is the base: it shares the base's tensors, and its adapters are not the
        // policy's.
        assert_eq!(parts(grpo.reference()).base, after.base);
        // After training, the reference's adapters are still the ones it started with (B = 0),
        // and it computes exactly what the shipped base computes, bit for bit.
        assert_eq!(parts(grpo.reference()).adapters, reference_before.adapters, "{env}: the reference moved");
        let task = env.task().unwrap();
        let base = TinyGpt::load_base(base_weights(task), &learner).unwrap();
        let read = |x: Tensor<2>| pollster::block_on(host::read(x)).unwrap();
        let (ours, shipped) = (read(lm(grpo.reference()).dist_params(contexts(&learner))), read(base.dist_params(contexts(&learner))));
        assert_eq!(ours.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), shipped.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{env}");
    }
}

#[test]
fn ppo_trains_the_language_model_with_the_same_loop() {
    let c = config(EnvId::LmSort);
    let mut ppo = Ppo::new(&c, &Device::flex().autodiff(), &Device::flex());
    let before = parts(lm(ppo.policy()));
    for _ in 0..3 {
        let m = pollster::block_on(ppo.update()).unwrap();
        assert!(m.first_non_finite().is_none() && m.value_loss.is_some(), "{m:?}");
    }
    let after = parts(lm(ppo.policy()));
    assert_eq!(before.base, after.base);
    assert_ne!(before.adapters, after.adapters);
}

#[test]
fn a_seeded_lm_run_is_reproducible() {
    let run = || {
        let c = config(EnvId::LmReverse);
        let mut grpo = Grpo::new(&c, &Device::flex().autodiff(), &Device::flex());
        (0..3).map(|_| pollster::block_on(grpo.update()).unwrap()).collect::<Vec<_>>()
    };
    let (a, b) = (run(), run());
    let strip = |ms: Vec<playground::metrics::UpdateMetrics>| {
        ms.into_iter().map(|m| m.without_timings()).collect::<Vec<_>>()
    };
    assert_eq!(strip(a), strip(b));
}

#[test]
fn bad_weights_are_refused_with_a_message() {
    let device = Device::flex();
    let err = TinyGpt::load_base(b"not a weights file", &device).unwrap_err();
    assert!(err.contains("cannot be read"), "{err}");
    let other = TinyGpt::new(
        playground::policy::lm::LmShape { d_model: 32, heads: 2, layers: 1, d_mlp: 64 },
        &device,
        &mut Rng::seed_from_u64(0),
    );
    let err = TinyGpt::load_base(&other.to_bytes(), &device).unwrap_err();
    assert!(err.contains("do not fit"), "{err}");
    assert_eq!(VOCAB, 23);
}

/// GRPO scores a padded `(T, G)` batch of completions in one causal pass per completion; it
/// gives what scoring every step's context on its own gives in every valid cell, and finite
/// values (which the loss masks) in padding.
#[test]
fn one_causal_pass_scores_a_ragged_group_as_step_by_step_scoring_does() {
    let device = Device::flex();
    let mut rng = Rng::seed_from_u64(4);
    let policy =
        TinyGpt::load_base(base_weights(Task::Reverse), &device).unwrap().with_lora(4, 8.0, &mut rng);
    cached_sampling_and_one_pass_scoring_agree(&policy, &device, &mut rng);
}

/// The same with adapters that add something (B ≠ 0, as after training) and a temperature
/// below 1: a cache that dropped the adapters, or a temperature applied on one path only, would
/// show here (at B = 0 and temperature 1 the adapters add nothing).
#[test]
fn cached_sampling_and_one_pass_scoring_agree_with_trained_adapters_at_temperature_0_7() {
    struct Shift(Rng);
    impl burn::module::ModuleMapper for Shift {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            if !param.is_require_grad() {
                return param; // the frozen base
            }
            let noise = rand::Rng::random_range(&mut self.0, 0.05..0.2);
            param.map(move |t| t.add_scalar(noise).detach().require_grad())
        }
    }
    let device = Device::flex().autodiff();
    let mut rng = Rng::seed_from_u64(4);
    let plain = TinyGpt::load_base(base_weights(Task::Reverse), &device).unwrap().with_lora(4, 8.0, &mut rng);
    let trained = plain.clone().map(&mut Shift(Rng::seed_from_u64(5))).with_temperature(0.7);
    let read = |m: &TinyGpt| pollster::block_on(host::read(m.dist_params(contexts(&device)))).unwrap();
    assert_ne!(read(&trained), read(&plain.clone().with_temperature(0.7)), "the adapters add something");
    cached_sampling_and_one_pass_scoring_agree(&trained, &device, &mut rng);
}

/// Scoring a ragged group's padded `(T, G)` batch in one causal pass gives, in every valid cell,
/// what scoring each cell alone gives, and the log-probs its sampling (with the key/value cache)
/// recorded.
fn cached_sampling_and_one_pass_scoring_agree(policy: &TinyGpt, device: &Device, rng: &mut Rng) {
    use playground::env::Env as _;
    use playground::rollout::{collect_group, stack_and_pad};
    let (device, mut rng) = (device.clone(), rng);
    // The first of a few prompts whose completions come out of different lengths.
    let mut start = EnvId::LmReverse.make();
    let padded = (0..20)
        .map(|seed| {
            start.reset(Some(seed));
            let state = start.state();
            let group = collect_group(policy, EnvId::LmReverse, &state, 12, 8, &mut rng, &device);
            stack_and_pad(&pollster::block_on(group).unwrap(), CONTEXT, 1)
        })
        .find(|p| p.lengths.iter().min() < p.lengths.iter().max())
        .expect("a ragged group");
    let (t, g) = (padded.steps, padded.width);
    let obs = host::matrix(padded.observations.clone(), t * g, CONTEXT, &device);
    let actions = host::matrix(padded.actions.clone(), t * g, 1, &device);
    let (each_lp, each_ent) = policy.evaluate_actions(obs.clone(), actions.clone());
    let (one_lp, one_ent) = policy.evaluate_padded(obs.reshape([t, g, CONTEXT]), actions.reshape([t, g, 1]));
    let read = |x: Tensor<1>| pollster::block_on(host::read(x)).unwrap();
    for (a, b) in
        [(read(each_lp), read(one_lp.reshape([t * g]))), (read(each_ent), read(one_ent.reshape([t * g])))]
    {
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            if padded.mask[i] > 0.0 {
                assert!((x - y).abs() < 1e-4, "cell {i} (t {}, g {}): {x} vs {y}", i / g, i % g);
            }
            assert!(y.is_finite(), "cell {i}");
        }
    }
    // The log-probs the rollout recorded, sampling with the key/value cache, are the policy's.
    let recorded: Vec<f32> = padded.log_probs.clone();
    let scored = read(
        policy
            .evaluate_padded(
                host::matrix(padded.observations.clone(), t * g, CONTEXT, &device).reshape([t, g, CONTEXT]),
                host::matrix(padded.actions.clone(), t * g, 1, &device).reshape([t, g, 1]),
            )
            .0
            .reshape([t * g]),
    );
    for i in 0..t * g {
        if padded.mask[i] > 0.0 {
            assert!((recorded[i] - scored[i]).abs() < 1e-4, "cell {i}: {} vs {}", recorded[i], scored[i]);
        }
    }
}

#[test]
fn the_shipped_shape_counts_its_parameters() {
    let model =
        TinyGpt::new(playground::policy::lm::LmShape::BASE, &Device::flex(), &mut Rng::seed_from_u64(0));
    assert_eq!(model.num_params(), playground::policy::lm::LmShape::BASE.parameters());
    assert!(base_weights(Task::Sort).len() <= 2 << 20, "a shipped base is at most 2 MB");
}

/// Partial credit gives the same completions graded rewards: fewer groups are all-equal than
/// under exact match, which leaves those groups without an advantage.
#[test]
fn partial_credit_leaves_fewer_groups_all_equal() {
    let zero_std = |reward: &str| {
        let mut c = config(EnvId::LmSort);
        c.grpo.groups_per_update = 8;
        c.set("text_reward", reward).unwrap();
        let mut grpo = Grpo::new(&c, &Device::flex().autodiff(), &Device::flex());
        let m = pollster::block_on(grpo.update()).unwrap();
        (m.zero_std_fraction.unwrap(), m.env_steps)
    };
    let (exact, lcs) = (zero_std("exact"), zero_std("lcs"));
    assert_eq!(exact.1, lcs.1, "the same completions either way");
    assert!(lcs.0 < exact.0, "all-equal groups: {} with partial credit, {} with exact match", lcs.0, exact.0);
}

/// `pvg pretrain` is deterministic from its seed: the same weights twice (the files differ in
/// burn's parameter ids, which are random and not part of the model), and they survive a
/// round trip through the file format.
#[test]
fn pretraining_is_deterministic_from_its_seed() {
    use playground::pretrain::{PretrainConfig, pretrain};
    let config = PretrainConfig {
        max_steps: 6,
        eval_every: 3,
        eval_prompts: 8,
        batch: 8,
        ..PretrainConfig::default()
    };
    let make = || {
        let (model, last) =
            pollster::block_on(pretrain(Task::Add, &config, &Device::flex().autodiff(), |_| {})).unwrap();
        assert_eq!(last.step, 6);
        assert!(last.loss.is_finite());
        let weights = pollster::block_on(host::read_params(&model, None)).unwrap();
        let reloaded = TinyGpt::load_base(&model.to_bytes(), &Device::flex()).unwrap();
        assert_eq!(pollster::block_on(host::read_params(&reloaded, None)).unwrap(), weights);
        weights
    };
    assert_eq!(make(), make());
}

#[test]
fn the_completions_view_shows_every_group_as_the_padded_batch_holds_it() {
    use playground::experiment::Experiment;
    let device = Device::flex();
    let mut e = Experiment::new(config(EnvId::LmReverse), &device.clone().autodiff(), &device);
    pollster::block_on(e.step());
    let s = playground::inspect::snapshot(&e);
    let group = s.grpo_completions.expect("a text task has completions");
    let mask = s.grpo.iter().find(|h| h.name == "mask").unwrap();
    let (g, width) = (4, mask.cols);
    assert_eq!((group.rows.len(), group.steps, group.padded), (width, mask.rows, true));
    assert_eq!(s.groups.len(), width / g);
    let batch = e.grpo.last_batch.as_ref().unwrap();
    for (j, row) in group.rows.iter().enumerate() {
        // Row j is column j of the batch; its group's summary holds its prompt and reward.
        let summary = &s.groups[j / g];
        assert_eq!(summary.prompt.as_deref(), Some(row.prompt.as_str()));
        assert!(summary.min as f64 <= row.reward && row.reward <= summary.max as f64);
        let trajectory = &batch.trajectories[j];
        // The prompt is the env's, the tokens are the actions, as many as the column's valid cells.
        let problem: String = trajectory.states[0][1..].iter().map(|&t| text_of(t)).collect();
        assert_eq!(row.prompt, problem);
        let valid = (0..mask.rows).filter(|&t| mask.values[t * width + j] > 0.0).count();
        assert_eq!(row.tokens.len(), valid);
        assert_eq!(row.reward, trajectory.episode_return());
        for (t, token) in row.tokens.iter().enumerate() {
            assert_eq!(*token, playground::env::text::token_text(trajectory.actions[t] as usize));
            assert_eq!(row.advantages[t], batch.advantages[t * width + j]);
            assert!(row.kl.as_ref().unwrap()[t] >= 0.0, "k3 is never negative");
        }
    }
    let ppo = s.ppo_completions.expect("PPO's completions");
    assert!(!ppo.rows.is_empty() && !ppo.padded, "PPO's token rollout has no padding");
    for row in &ppo.rows {
        assert!(row.prompt.ends_with('=') && row.values.as_ref().unwrap().len() == row.tokens.len());
        // A whole completion ends where the episode did: at EOS (scored) or at the length limit.
        assert!(
            row.tokens.last().unwrap() == "<eos>"
                || row.truncated
                || row.tokens.last().unwrap().starts_with('<')
        );
    }
}

fn text_of(token: f64) -> String {
    playground::env::text::token_text(token as usize)
}

#[test]
fn evaluating_on_the_page_does_not_change_the_run() {
    use playground::experiment::Experiment;
    let device = Device::flex();
    let run = |evaluate: bool| {
        let mut c = config(EnvId::LmReverse);
        c.run.total_steps = 400;
        let mut e = Experiment::new(c, &device.clone().autodiff(), &device);
        if evaluate {
            e = e.with_evaluations();
        }
        let start = pollster::block_on(e.evaluate_start()).unwrap();
        pollster::block_on(e.step());
        pollster::block_on(e.step());
        (start, e.ppo_track.history, e.grpo_track.history)
    };
    let (start, ppo, grpo) = run(true);
    let (none, ppo_plain, grpo_plain) = run(false);
    assert!(start.is_some_and(|a| (0.0..=1.0).contains(&a)) && none.is_none());
    for (with, without) in [(&ppo, &ppo_plain), (&grpo, &grpo_plain)] {
        assert!(with.iter().all(|m| m.eval_mean_return.is_some()), "400 steps: every update is evaluated");
        let strip = |h: &Vec<playground::metrics::UpdateMetrics>| {
            h.iter()
                .map(|m| UpdateMetrics { eval_mean_return: None, ..m.without_timings() })
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(with), strip(without), "an evaluation draws nothing from the run's RNG");
    }
}

#[test]
fn temperature_divides_the_logits_when_sampling_and_when_scoring() {
    let device = Device::flex();
    let base = TinyGpt::load_base(base_weights(Task::Reverse), &device).unwrap();
    let read = |m: &TinyGpt| pollster::block_on(host::read(m.dist_params(contexts(&device)))).unwrap();
    let (at_one, at_two) = (read(&base), read(&base.clone().with_temperature(2.0)));
    // log softmax(l / 2) from log softmax(l) = l − lse(l): halve, then renormalise.
    for (one, two) in at_one.chunks(VOCAB).zip(at_two.chunks(VOCAB)) {
        let lse = one.iter().map(|&x| (x as f64 / 2.0).exp()).sum::<f64>().ln();
        for (&x, &y) in one.iter().zip(two) {
            assert!((x as f64 / 2.0 - lse - y as f64).abs() < 1e-5, "{x} at T=1, {y} at T=2");
        }
    }
    // A run samples and scores at its temperature: with the policy unchanged (a learning rate of
    // 1e-7), every ratio of the sampled tokens is 1 and the KL to the reference 0.
    let mut c = config(EnvId::LmReverse);
    c.run.temperature = 0.7;
    c.grpo.learning_rate = 1e-7;
    let mut grpo = Grpo::new(&c, &device.clone().autodiff(), &device);
    let m = pollster::block_on(grpo.update()).unwrap();
    assert!(m.approx_kl.abs() < 1e-6 && m.kl.unwrap() < 1e-6 && m.clip_fraction == 0.0, "{m:?}");
}

#[test]
fn a_text_task_ignores_observation_normalisation() {
    // Its observations are token ids: standardising them would feed the model non-tokens.
    let device = Device::flex();
    let run = |norm_obs: bool| {
        let mut c = config(EnvId::LmReverse);
        c.ppo.norm_obs = norm_obs;
        let mut ppo = Ppo::new(&c, &device.clone().autodiff(), &device);
        pollster::block_on(ppo.update()).unwrap().without_timings()
    };
    assert_eq!(run(true), run(false));
    assert!(!playground::config::RunConfig::applies("ppo.norm_obs", EnvId::LmReverse));
}

/// A batch in which every group's rewards are equal carries no signal: while the policy is
/// still its reference, the update must leave it as it is. (The reference once was scored on
/// the plain device, a float rounding away from the policy's autodiff pass: Adam scaled that
/// ~1e-8 KL gradient into full steps, and the KL reached 31 within this very update.)
#[test]
fn a_batch_without_signal_leaves_a_policy_still_at_its_reference() {
    let device = Device::flex();
    for loss in ["dapo", "grpo"] {
        let mut c = config(EnvId::LmReverse);
        c.run.temperature = 0.7; // with this seed, every group of the first batch is all-equal
        c.grpo.num_minibatches = 4;
        c.set("grpo.loss_type", loss).unwrap();
        let mut grpo = Grpo::new(&c, &device.clone().autodiff(), &device);
        let before = parts(grpo.policy()).adapters;
        let m = pollster::block_on(grpo.update()).unwrap();
        assert_eq!(m.zero_std_fraction, Some(1.0), "the premise: no group has a signal");
        assert_eq!((m.grad_norm, m.kl), (0.0, Some(0.0)), "{loss}: {m:?}");
        // The sampler's key/value-cache scores against the one-pass scores: rounding only.
        assert!(m.approx_kl < 1e-6, "{loss}: {m:?}");
        assert!(parts(grpo.policy()).adapters == before, "{loss}: the adapters moved");
    }
}

/// Asking the model: the page's and the CLI's answers come from an adapters file, and a file
/// written from a run gives exactly the answers of that run's live policy; the base's answers are
/// those of the shipped base; the samples are the same every time.
#[test]
fn asked_through_an_adapters_file_a_model_answers_as_the_live_policy_does() {
    use playground::ask::{self, Adapters};
    use playground::experiment::Experiment;
    let device = Device::flex();
    let learner = device.clone().autodiff();
    let c = config(EnvId::LmReverse);
    let mut e = Experiment::new(c.clone(), &learner, &device);
    for _ in 0..3 {
        pollster::block_on(e.step());
    }
    let read = |p: &Policy| pollster::block_on(Adapters::read(p)).unwrap();
    let file = Adapters {
        fragment: playground::share::to_fragment(&c, &[]),
        models: vec![("ppo".into(), read(e.ppo.policy())), ("grpo".into(), read(e.grpo.policy()))],
    };
    assert!(file.models[1].1.iter().flatten().any(|&x| x != 0.0), "trained adapters");
    let file = Adapters::from_bytes(&file.to_bytes()).unwrap();
    let from_file = pollster::block_on(ask::ask_with(&file, "dcba=")).unwrap();
    let base = Policy::for_run(&c.run, &learner, &mut Rng::seed_from_u64(99));
    let live = pollster::block_on(ask::ask(
        EnvId::LmReverse,
        "dcba",
        c.run.temperature,
        &[("base", &base), ("ppo", e.ppo.policy()), ("grpo", e.grpo.policy())],
        &learner,
    ))
    .unwrap();
    assert_eq!(from_file, live);
    assert_eq!(from_file.answer, "abcd");
    let names: Vec<&str> = from_file.models.iter().map(|m| m.model.as_str()).collect();
    assert_eq!(names, ["base", "ppo", "grpo"]);
    for m in &from_file.models {
        let drawn: usize = m.samples.iter().map(|c| c.count).sum();
        assert_eq!(drawn, ask::SAMPLES);
        assert!(m.samples.windows(2).all(|w| w[0].probability >= w[1].probability));
        for c in std::iter::once(&m.greedy).chain(&m.samples) {
            assert_eq!(c.right, c.ended && c.text == "abcd", "{c:?}");
            assert!(c.probability > 0.0 && c.probability <= 1.0);
        }
    }
    assert_eq!(pollster::block_on(ask::ask_with(&file, "dcba")).unwrap(), from_file, "the same every time");
    // A file of another shape is refused with a message.
    let mut bad = file.clone();
    bad.models[0].1.pop();
    assert!(bad.policies(&learner).unwrap_err().contains("do not fit"));
    assert!(pollster::block_on(ask::ask_with(&file, "xyz=")).unwrap_err().contains("alphabet"));
}

/// The history of a text run keeps every update's completions, and its full tensors as
/// `history::keeps` says; the kept update is exactly what the snapshot showed then.
#[test]
fn a_text_run_s_history_gives_back_each_update_as_it_was_shown() {
    use playground::experiment::Experiment;
    let device = Device::flex();
    let mut e = Experiment::new(config(EnvId::LmReverse), &device.clone().autodiff(), &device).with_history();
    let mut shown = Vec::new();
    for _ in 0..12 {
        pollster::block_on(e.step());
        shown.push(serde_json::to_value(playground::inspect::snapshot(&e)).unwrap());
    }
    let h = e.history.as_ref().unwrap();
    for n in 1..=12 {
        let s = h.snapshot(n).unwrap();
        let got = serde_json::to_value(&s).unwrap();
        let want = &shown[n - 1];
        if playground::history::keeps(12, n) {
            // A text task's contexts are not kept (the page draws completions instead).
            let mut want = want.clone();
            want["trajectories"] = serde_json::json!([]);
            assert_eq!(got, want, "update {n}");
        } else {
            assert!(!s.grpo_tensors && s.grpo.is_empty() && s.ppo.is_empty(), "update {n}");
            for part in ["grpo_completions", "ppo_completions"] {
                let rows = |v: &serde_json::Value| v[part]["rows"].as_array().unwrap().clone();
                let strip = |mut r: serde_json::Value| {
                    r["ratios"] = serde_json::Value::Null;
                    r["kl"] = serde_json::Value::Null;
                    r
                };
                let want: Vec<_> = rows(want).into_iter().map(strip).collect();
                assert_eq!(rows(&got), want, "update {n}: {part}");
            }
            assert_eq!(got["groups"], want["groups"]);
        }
    }
}
