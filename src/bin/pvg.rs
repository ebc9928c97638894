//! `pvg`: the playground's native command line: train, compare, report, bench, complete, replay,
//! keys, pretrain.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::io::Write;
    use std::path::PathBuf;
    use std::process::ExitCode;

    use burn::prelude::*;
    use clap::{Parser, Subcommand, ValueEnum};
    use playground::config::{ExperimentConfig, ParamValue};
    use playground::env::EnvId;
    use playground::eval::evaluate;
    use playground::ask::Adapters;
    use playground::experiment::{GrpoRun, Track};
    use playground::metrics::UpdateMetrics;
    use playground::ppo::Ppo;
    use playground::replay::replay_file;
    use playground::stats;
    use playground::train::{Algorithm, Evaluation, TrainError};
    use web_time::Instant;

    #[derive(Parser)]
    #[command(name = "pvg", about = "PPO vs GRPO playground: the native command line")]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(clap::Args, Clone)]
    struct Experiment {
        /// Environment (Gymnasium id; default CartPole-v1)
        #[arg(long)]
        env: Option<String>,
        /// A whole experiment as the page shares it, e.g. 'env=Pendulum-v1&seed=2&ppo.gamma=0.95'
        #[arg(long)]
        url: Option<String>,
        /// Seed of the run
        #[arg(long)]
        seed: Option<u64>,
        /// Environment steps per algorithm
        #[arg(long)]
        total_steps: Option<u64>,
        /// Any key of `pvg keys`, e.g. --set ppo.learning_rate=3e-4 (repeatable)
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Train one algorithm; one JSON line per update, then a deterministic evaluation
        Train {
            #[command(flatten)]
            experiment: Experiment,
            #[arg(long, value_enum)]
            algo: Algo,
            /// Where the JSON lines go (default: standard output)
            #[arg(long)]
            out: Option<PathBuf>,
            /// Episodes of the final deterministic evaluation (default 20; 600 held-out prompts
            /// for a text task)
            #[arg(long)]
            eval_episodes: Option<usize>,
            /// Also evaluate every N updates, as at the end (`eval_mean_return`, or
            /// `eval_accuracy` for a text task, in that update's line); 0: only at the end
            #[arg(long, default_value_t = 0)]
            eval_every: usize,
            /// Where the learner runs: the CPU (flex), or burn's wgpu backend on this machine's
            /// GPU (needs a build with `--features native-wgpu`); rollouts act on the CPU either way
            #[arg(long, value_enum, default_value_t = Learner::Cpu)]
            learner: Learner,
            /// Stop after this many updates, as the page's `run=N` does (default: the budget)
            #[arg(long)]
            updates: Option<usize>,
            /// A text task: write the trained LoRA adapters here, for `pvg complete` (the page
            /// downloads and loads the same format)
            #[arg(long)]
            save_adapters: Option<PathBuf>,
        },
        /// Ask a text task's model: a prompt completed by the shipped base and by each model of
        /// an adapters file — greedy, and sampled with probabilities — as the page's "Ask the
        /// model" does
        Complete {
            /// The text task (default: the adapters' own)
            #[arg(long)]
            env: Option<String>,
            /// Trained adapters (`pvg train --save-adapters`, or the page's download);
            /// repeatable: PPO's file and GRPO's file of one experiment. None: the base alone
            #[arg(long)]
            adapters: Vec<PathBuf>,
            /// The prompt, e.g. dcba=
            #[arg(long)]
            prompt: String,
            /// Print the answers as JSON (as `window.playground.complete` returns them)
            #[arg(long)]
            json: bool,
        },
        /// Train PPO and GRPO over several seeds (one `pvg train` process per run, --jobs at a
        /// time) and compare them: IQM or mean with 95% bootstrap intervals, P(PPO > GRPO)
        Compare {
            #[command(flatten)]
            experiment: Experiment,
            /// Seeds: `1-10`, `1,4,9` or `3` (default: the experiment's seed alone)
            #[arg(long)]
            seeds: Option<String>,
            /// Runs trained at once (default: the machine's cores); results do not depend on it
            #[arg(long)]
            jobs: Option<usize>,
            /// Where each run's JSON lines go, `<algo>-seed<S>.jsonl` (default runs/<env>)
            #[arg(long)]
            out_dir: Option<PathBuf>,
            /// Episodes of the final deterministic evaluation (default 20; 600 held-out prompts
            /// for a text task)
            #[arg(long)]
            eval_episodes: Option<usize>,
            /// Also evaluate every N updates (steps to the threshold are then measured on these
            /// evaluations instead of the training return)
            #[arg(long, default_value_t = 0)]
            eval_every: usize,
        },
        /// Compare runs written by `pvg train` or `pvg compare` (JSON-line files, from any
        /// machine): the same table as `compare`
        Report {
            /// JSON-line files of finished runs (both algorithms, one experiment)
            #[arg(required = true)]
            runs: Vec<PathBuf>,
        },
        /// Per-update cost and env steps per second of both algorithms (medians)
        Bench {
            #[command(flatten)]
            experiment: Experiment,
            /// Independent runs (fresh networks) per algorithm
            #[arg(long, default_value_t = 5)]
            runs: usize,
            /// Updates per run discarded as warm-up
            #[arg(long, default_value_t = 3)]
            warmup: usize,
            /// Updates per run measured
            #[arg(long, default_value_t = 10)]
            updates: usize,
            /// Print one JSON array instead of the table
            #[arg(long)]
            json: bool,
            /// Where the learner runs: the CPU (flex), or burn's wgpu backend on this machine's
            /// GPU (needs a build with `--features native-wgpu`); rollouts act on the CPU either way
            #[arg(long, value_enum, default_value_t = Learner::Cpu)]
            learner: Learner,
        },
        /// Replay Gymnasium traces (../shared/golden format) and report the max errors
        Replay {
            file: PathBuf,
            /// Largest absolute error accepted on observations and rewards
            #[arg(long, default_value_t = 1e-5)]
            tolerance: f64,
        },
        /// Print every configuration key (Markdown table)
        Keys,
        /// Pre-train a text task's base model by next-token prediction, deterministic from its
        /// seed, stopping at the first evaluation whose held-out exact match (sampled
        /// completions) reaches --target
        Pretrain {
            /// reverse, add or sort
            #[arg(long)]
            task: String,
            #[arg(long, default_value_t = 1)]
            seed: u64,
            /// Held-out exact match of sampled completions at which to stop (the base is
            /// mediocre on purpose)
            #[arg(long, default_value_t = 0.4)]
            target: f64,
            #[arg(long, default_value_t = 1e-3)]
            learning_rate: f64,
            #[arg(long, default_value_t = 20_000)]
            max_steps: usize,
            /// Where the weights go (burnpack)
            #[arg(long)]
            out: PathBuf,
        },
    }

    #[derive(Clone, Copy, ValueEnum, PartialEq)]
    enum Learner {
        Cpu,
        Wgpu,
    }

    #[derive(Clone, Copy, ValueEnum, PartialEq)]
    enum Algo {
        Ppo,
        Grpo,
    }

    pub fn main() -> ExitCode {
        let cli = Cli::parse();
        let result = match cli.command {
            Command::Train { experiment, algo, out, eval_episodes, eval_every, learner, updates, save_adapters } => {
                config(&experiment)
                    .inspect(|c| {
                        if c.run.seeds > 1 {
                            eprintln!(
                                "note: seeds={} is the page's; pvg train trains seed {} alone \
                                 (pvg compare --seeds {}-{} trains them all)",
                                c.run.seeds,
                                c.run.seed,
                                c.run.seed,
                                c.run.seed + c.run.seeds as u64 - 1
                            )
                        }
                    })
                    .and_then(|c| learner_device(learner).map(|d| (c, d)))
                    .and_then(
                    |(c, d)| {
                        let evals = Evals { episodes: episodes(&c, eval_episodes), every: eval_every };
                        train(&c, algo, out, evals, &d, Stop { updates, save_adapters })
                    },
                )
            }
            Command::Compare { experiment, seeds, jobs, out_dir, eval_episodes, eval_every } => {
                config(&experiment).and_then(|c| {
                    let seeds = match seeds {
                        Some(text) => parse_seeds(&text)?,
                        None => vec![c.run.seed],
                    };
                    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
                    let dir = out_dir.unwrap_or_else(|| PathBuf::from("runs").join(c.run.env.name()));
                    let evals = Evals { episodes: episodes(&c, eval_episodes), every: eval_every };
                    compare(&c, &seeds, jobs.max(1), &dir, evals)
                })
            }
            Command::Report { runs } => report(&runs),
            Command::Bench { experiment, runs, warmup, updates, json, learner } => config(&experiment)
                .and_then(|c| learner_device(learner).map(|d| (c, d)))
                .and_then(|(c, d)| bench(&c, runs, warmup, updates, json, &d)),
            Command::Complete { env, adapters, prompt, json } => complete(env.as_deref(), &adapters, &prompt, json),
            Command::Replay { file, tolerance } => replay(&file, tolerance),
            Command::Keys => {
                print!("{}", playground::share::keys_markdown());
                Ok(())
            }
            Command::Pretrain { task, seed, target, learning_rate, max_steps, out } => {
                pretrain(&task, seed, target, learning_rate, max_steps, &out)
            }
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        }
    }

    fn config(e: &Experiment) -> Result<ExperimentConfig, String> {
        let mut c = match &e.url {
            Some(url) => {
                let parsed = playground::share::parse(url);
                if !parsed.problems.is_empty() {
                    let problems: Vec<String> =
                        parsed.problems.iter().map(|p| format!("{}: {}", p.key, p.message)).collect();
                    return Err(format!("the URL has problems:\n       {}", problems.join("\n       ")));
                }
                if let Some(notice) = &parsed.notice {
                    eprintln!("note: the URL was {notice}");
                }
                parsed.config
            }
            None => ExperimentConfig::default(),
        };
        if let Some(env) = &e.env {
            let env: EnvId = env.parse()?;
            if e.url.is_some() && env != c.run.env {
                return Err(format!("--env {env} contradicts the URL's env={}", c.run.env));
            }
            if e.url.is_none() {
                c = ExperimentConfig::for_env(env);
            }
        }
        if let Some(seed) = e.seed {
            c.run.seed = seed;
        }
        if let Some(steps) = e.total_steps {
            c.set("total_steps", &steps.to_string())?;
        }
        let mut problems = Vec::new();
        for kv in &e.set {
            match kv.split_once('=') {
                Some(("env", _)) => problems.push("set the environment with --env".to_string()),
                Some((k, v)) => {
                    if let Err(err) = c.set(k.trim(), v) {
                        problems.push(format!("{k}: {err}"));
                    }
                }
                None => problems.push(format!("'{kv}' is not KEY=VALUE")),
            }
        }
        problems.extend(c.check().into_iter().map(|c| format!("{}: {}", c.key, c.message)));
        if problems.is_empty() { Ok(c) } else { Err(problems.join("\n       ")) }
    }

    fn pretrain(
        task: &str,
        seed: u64,
        target: f64,
        learning_rate: f64,
        max_steps: usize,
        out: &PathBuf,
    ) -> Result<(), String> {
        use playground::pretrain::{PretrainConfig, pretrain};
        let env: EnvId = format!("lm-{task}")
            .parse()
            .map_err(|_| format!("unknown task '{task}' (known: reverse, add, sort)"))?;
        let task = env.task().expect("an lm- environment is a text task");
        if !(0.0..=1.0).contains(&target) {
            return Err(format!("--target {target} is not an accuracy in [0, 1]"));
        }
        let config = PretrainConfig {
            seed,
            target_accuracy: target,
            learning_rate,
            max_steps,
            ..PretrainConfig::default()
        };
        let t0 = Instant::now();
        let (model, last) = pollster::block_on(pretrain(task, &config, &Device::flex().autodiff(), |c| {
            eprintln!(
                "step {:>6}  loss {:.4}  held-out exact match: sampled {:.3}, greedy {:.3}",
                c.step, c.loss, c.sampled_accuracy, c.accuracy
            );
        }))
        .map_err(|e| e.to_string())?;
        let bytes = model.to_bytes();
        std::fs::write(out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
        let line = serde_json::json!({
            "task": env.name(), "seed": seed, "steps": last.step, "loss": last.loss,
            "held_out_sampled_accuracy": last.sampled_accuracy, "held_out_accuracy": last.accuracy,
            "bytes": bytes.len(),
            "parameters": model.num_params(), "wall_s": t0.elapsed().as_secs_f64(),
        });
        println!("{line}");
        Ok(())
    }

    /// The learner's autodiff device for `pvg train` and `pvg bench`.
    fn learner_device(learner: Learner) -> Result<Device, String> {
        match learner {
            Learner::Cpu => Ok(Device::flex().autodiff()),
            #[cfg(feature = "native-wgpu")]
            Learner::Wgpu => {
                let (device, setup) =
                    Device::wgpu_options().init_with_setup().map_err(|e| format!("no wgpu device: {e}"))?;
                let info = setup.adapter.get_info();
                eprintln!("wgpu: {} ({:?}, {:?})", info.name, info.backend, info.device_type);
                Ok(device.autodiff())
            }
            #[cfg(not(feature = "native-wgpu"))]
            Learner::Wgpu => {
                Err("this pvg was built without wgpu: cargo build --release --features native-wgpu".into())
            }
        }
    }

    /// What a finished run reports.
    struct Summary {
        history: Vec<UpdateMetrics>,
        eval_returns: Vec<f64>,
        error: Option<String>,
        /// A text task's trained adapters.
        adapters: Option<Vec<Vec<f32>>>,
    }

    /// Where `pvg train` stops early, and what it keeps of the trained policy.
    #[derive(Default)]
    struct Stop {
        updates: Option<usize>,
        save_adapters: Option<PathBuf>,
    }

    /// The deterministic evaluations of a run: `episodes` at the end, and every `every`
    /// updates along the way (0: never).
    #[derive(Clone, Copy)]
    struct Evals {
        episodes: usize,
        every: usize,
    }

    /// Train until the step budget is spent, calling `on_update` after each update (with the
    /// mean return of a deterministic evaluation when one was due), then evaluate the final
    /// policy deterministically.
    fn run<A: Algorithm<Policy = playground::policy::Policy>>(
        mut alg: A,
        c: &ExperimentConfig,
        evals: Evals,
        max_updates: Option<usize>,
        mut on_update: impl FnMut(&UpdateMetrics, Option<f64>),
    ) -> Result<Summary, String> {
        let periodic = Evaluation::of(&c.run, evals.episodes, evals.every);
        let mut track = Track { evaluation: Some(periodic), ..Track::default() };
        while track.active() && max_updates.is_none_or(|n| track.history.len() < n) {
            if let Some(m) = pollster::block_on(track.advance(&mut alg, None, c.run.total_steps)) {
                on_update(&m, m.eval_mean_return);
            }
        }
        let eval_returns = if track.error.is_none() && evals.episodes > 0 {
            pollster::block_on(periodic.run(&alg)).map_err(|e| e.to_string())?
        } else {
            Vec::new()
        };
        let adapters = match c.run.env.task() {
            Some(_) => Some(pollster::block_on(Adapters::read(alg.policy())).map_err(|e| e.to_string())?),
            None => None,
        };
        Ok(Summary { history: track.history, eval_returns, error: track.error, adapters })
    }

    /// Episodes of the final evaluation: as asked, else 20, or a text task's held-out prompts
    /// (`EVAL_PROMPTS` distinct ones; its accuracy moves in steps of 1/episodes).
    fn episodes(c: &ExperimentConfig, asked: Option<usize>) -> usize {
        asked.unwrap_or(if c.run.env.task().is_some() { playground::env::text::EVAL_PROMPTS } else { 20 })
    }

    fn with_algo<T>(
        algo: Algo,
        c: &ExperimentConfig,
        learner: &Device,
        max_updates: Option<usize>,
        f: impl FnOnce(
            Box<
                dyn FnOnce(&mut dyn FnMut(&UpdateMetrics, Option<f64>), Evals) -> Result<Summary, String>
                    + '_,
            >,
        ) -> T,
    ) -> T {
        let acting = Device::flex();
        match algo {
            Algo::Ppo => f(Box::new(move |cb, e| run(Ppo::new(c, learner, &acting), c, e, max_updates, cb))),
            Algo::Grpo => f(Box::new(move |cb, e| run(GrpoRun::new(c, learner, &acting), c, e, max_updates, cb))),
        }
    }

    fn name(algo: Algo) -> &'static str {
        match algo {
            Algo::Ppo => "ppo",
            Algo::Grpo => "grpo",
        }
    }

    fn mean_std(xs: &[f64]) -> (f64, f64) {
        let m = xs.iter().sum::<f64>() / xs.len().max(1) as f64;
        let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len().max(1) as f64;
        (m, v.sqrt())
    }

    /// Progress on standard error, at most about once a second.
    fn progress(algo: Algo, total: u64) -> impl FnMut(&UpdateMetrics) {
        let mut last = Instant::now();
        move |m: &UpdateMetrics| {
            if last.elapsed().as_secs_f64() >= 1.0 || m.env_steps >= total {
                last = Instant::now();
                let ret = m.mean_return.map_or("   -".to_string(), |r| format!("{r:8.1}"));
                eprintln!(
                    "{:>4}  update {:>5}  steps {:>8}/{total}  return {ret}  sps {:>7.0}",
                    name(algo),
                    m.update,
                    m.env_steps,
                    m.sps
                );
            }
        }
    }

    /// A JSON line with the run it belongs to (algorithm, environment, seed) and the version and
    /// commit that made it, so any figure can be traced and `pvg report` can group lines from
    /// anywhere.
    fn stamped(mut line: serde_json::Value, c: &ExperimentConfig, algo: Algo) -> serde_json::Value {
        let build = playground::versions::BUILD;
        if let Some(fields) = line.as_object_mut() {
            fields.insert("algo".into(), name(algo).into());
            fields.insert("env".into(), c.run.env.name().into());
            fields.insert("seed".into(), c.run.seed.into());
            fields.insert("version".into(), build.version.into());
            fields.insert("commit".into(), build.commit.into());
        }
        line
    }

    fn train(
        c: &ExperimentConfig,
        algo: Algo,
        out: Option<PathBuf>,
        evals: Evals,
        learner: &Device,
        stop: Stop,
    ) -> Result<(), String> {
        if stop.save_adapters.is_some() && c.run.env.task().is_none() {
            return Err(format!("--save-adapters: {} is not a text task (only the language model has adapters)", c.run.env));
        }
        let mut sink: Box<dyn Write> = match &out {
            Some(path) => Box::new(std::io::BufWriter::new(
                std::fs::File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?,
            )),
            None => Box::new(std::io::stdout().lock()),
        };
        let mut report = progress(algo, c.run.total_steps);
        let mut write_err = None;
        let text = c.run.env.task().is_some();
        let summary = with_algo(algo, c, learner, stop.updates, |go| {
            go(
                &mut |m, periodic| {
                    report(m);
                    let mut line = serde_json::to_value(m).expect("metrics serialise");
                    if let Some(value) = periodic {
                        line[if text { "eval_accuracy" } else { "eval_mean_return" }] = value.into();
                    }
                    if let Err(e) = writeln!(sink, "{}", stamped(line, c, algo)) {
                        write_err.get_or_insert(e.to_string());
                    }
                },
                evals,
            )
        })?;
        if let Some(e) = write_err {
            return Err(format!("writing metrics: {e}"));
        }
        if let Some(e) = &summary.error {
            let line = serde_json::json!({ "error": e.to_string(), "experiment": experiment_of(c) });
            writeln!(sink, "{}", stamped(line, c, algo))
                .map_err(|e| e.to_string())?;
            return Err(e.to_string());
        }
        if let (Some(path), Some(params)) = (&stop.save_adapters, &summary.adapters) {
            let file = Adapters { fragment: experiment_of(c), models: vec![(name(algo).to_string(), params.clone())] };
            std::fs::write(path, file.to_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            eprintln!("{}: adapters written to {}", name(algo), path.display());
        }
        // `--eval-episodes 0`: no final evaluation, so no mean (not the -0.0 of an empty sum).
        let final_eval = (!summary.eval_returns.is_empty()).then(|| mean_std(&summary.eval_returns));
        let mut last = serde_json::json!({
            "eval_mean_return": final_eval.map(|(m, _)| m),
            "eval_std_return": final_eval.map(|(_, s)| s),
            "eval_episodes": summary.eval_returns.len(),
            "eval_returns": summary.eval_returns,
            "experiment": experiment_of(c),
            "total_steps": c.run.total_steps,
        });
        if let (Some(task), Some((m, _))) = (c.run.env.task(), final_eval) {
            // A text task's reward is exact match (1 or 0): the mean return is the accuracy on
            // held-out prompts, with its Wilson interval. The shipped base answers the same prompts.
            let device = Device::flex();
            let base =
                playground::policy::TinyGpt::load_base(playground::policy::base_weights(task), &device)?;
            let starts = Evaluation::of(&c.run, summary.eval_returns.len(), 0).starts();
            let base_returns = pollster::block_on(evaluate(&base, c.run.env, &starts, None, &device))
                .map_err(|e| e.to_string())?;
            let right = summary.eval_returns.iter().filter(|&&r| r >= 1.0).count();
            let ci = stats::wilson(right, summary.eval_returns.len());
            last["eval_accuracy"] = m.into();
            last["eval_accuracy_ci"] = serde_json::json!([ci.low, ci.high]);
            last["base_accuracy"] = mean_std(&base_returns).0.into();
        }
        let last = stamped(last, c, algo);
        writeln!(sink, "{last}").map_err(|e| e.to_string())?;
        sink.flush().map_err(|e| e.to_string())?;
        let evaluation = match final_eval {
            Some((m, s)) => {
                format!("deterministic evaluation over {} episodes: {m:.1} ± {s:.1}", summary.eval_returns.len())
            }
            None => "no final evaluation (--eval-episodes 0)".to_string(),
        };
        eprintln!(
            "{}: {} updates, {} env steps; {evaluation}",
            name(algo),
            summary.history.len(),
            summary.history.last().map_or(0, |h| h.env_steps),
        );
        Ok(())
    }

    /// `pvg complete`: the base's and each adapters file's models' answers to `prompt`.
    fn complete(env: Option<&str>, files: &[PathBuf], prompt: &str, json: bool) -> Result<(), String> {
        let mut fragment: Option<String> = None;
        let mut models = Vec::new();
        for path in files {
            let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let file = Adapters::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
            match &fragment {
                Some(f) if *f != file.fragment => {
                    return Err(format!("{} is from another experiment ({}) than the first file ({f})", path.display(), file.fragment));
                }
                _ => fragment = Some(file.fragment.clone()),
            }
            models.extend(file.models);
        }
        let adapters = match fragment {
            Some(fragment) => Adapters { fragment, models },
            None => {
                let env = EnvId::parse(env.unwrap_or("")).map_err(|e| format!("--env: {e} (or give --adapters)"))?;
                Adapters { fragment: playground::share::to_fragment(&ExperimentConfig::for_env(env), &[]), models }
            }
        };
        let config = adapters.config();
        if let Some(env) = env {
            let asked = EnvId::parse(env)?;
            if asked != config.run.env {
                return Err(format!("--env {asked}, but the adapters are of {}", config.run.env));
            }
        }
        let answers = pollster::block_on(playground::ask::ask_with(&adapters, prompt))?;
        if json {
            println!("{}", serde_json::to_string(&answers).map_err(|e| e.to_string())?);
            return Ok(());
        }
        println!("{}  (right answer: {}; {} samples at temperature {})", answers.prompt, answers.answer, answers.samples, answers.temperature);
        for m in &answers.models {
            let mark = |c: &playground::ask::Completion| if c.right { "right" } else { "wrong" };
            let show = |c: &playground::ask::Completion| format!("{:<7} {} p={:.4}", format!("{:?}", c.text), mark(c), c.probability);
            println!("{:<5} greedy  {}", m.model, show(&m.greedy));
            for c in &m.samples {
                println!("{:<5} sampled {}  ×{}", "", show(c), c.count);
            }
        }
        Ok(())
    }

    /// The experiment as a link names it (its seed included): what a run's JSON lines carry so
    /// that `pvg report` can tell runs of one experiment from another's.
    fn experiment_of(c: &ExperimentConfig) -> String {
        playground::share::to_fragment(c, &[])
    }

    /// `1-10`, `1,4,9`, `3`, or a mix (`1-3,7`): at most 1,000 seeds, each once.
    fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
        let bad = || format!("--seeds '{text}' is not a list of seeds such as 1-10 or 1,4,9");
        let mut seeds = Vec::new();
        for part in text.split(',').map(str::trim) {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let (a, b): (u64, u64) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
            if b < a || b - a >= 1000 {
                return Err(bad());
            }
            seeds.extend(a..=b);
        }
        let mut unique = seeds.clone();
        unique.sort_unstable();
        unique.dedup();
        match (unique.len() == seeds.len(), seeds.len()) {
            (false, _) => Err(format!("--seeds '{text}' names a seed twice")),
            (_, n) if n > 1000 => Err(format!("--seeds '{text}': at most 1,000 seeds")),
            _ => Ok(seeds),
        }
    }

    /// Train both algorithms on every seed, `jobs` runs at a time, each one `pvg train` process
    /// of its own (so each run is exactly `pvg train` with its seed, whatever `jobs` is), its
    /// JSON lines in `dir`; then the table `pvg report` prints for those files.
    fn compare(c: &ExperimentConfig, seeds: &[u64], jobs: usize, dir: &std::path::Path, evals: Evals) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let exe = std::env::current_exe().map_err(|e| format!("cannot find pvg itself: {e}"))?;
        let runs: Vec<(Algo, u64, PathBuf)> = seeds
            .iter()
            .flat_map(|&seed| {
                [Algo::Ppo, Algo::Grpo].map(|a| (a, seed, dir.join(format!("{}-seed{seed}.jsonl", name(a)))))
            })
            .collect();
        eprintln!(
            "{} · seeds {} · {} env steps each · {} runs, {jobs} at a time · JSON lines in {}",
            c.run.env,
            stats::seed_list(seeds),
            c.run.total_steps,
            runs.len(),
            dir.display()
        );
        let url = experiment_of(c);
        let t0 = Instant::now();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let failures = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..jobs.min(runs.len()) {
                scope.spawn(|| {
                    while let Some((algo, seed, out)) = runs.get(next.fetch_add(1, std::sync::atomic::Ordering::SeqCst)) {
                        let status = std::process::Command::new(&exe)
                            .args(["train", "--url", &url, "--algo", name(*algo), "--seed", &seed.to_string()])
                            .args(["--eval-episodes", &evals.episodes.to_string()])
                            .args(["--eval-every", &evals.every.to_string(), "--out"])
                            .arg(out)
                            .stdout(std::process::Stdio::null())
                            .stderr(std::process::Stdio::null())
                            .status();
                        match status {
                            Ok(s) if s.success() => {
                                eprintln!("{:>7.1} s  {} seed {seed} done", t0.elapsed().as_secs_f64(), name(*algo))
                            }
                            other => {
                                let why = other.map_or_else(|e| e.to_string(), |s| s.to_string());
                                eprintln!("{} seed {seed} failed ({why}); its lines: {}", name(*algo), out.display());
                                failures.lock().unwrap().push(format!("{} seed {seed}", name(*algo)));
                            }
                        }
                    }
                });
            }
        });
        eprintln!("{} runs in {:.1} s of wall time", runs.len(), t0.elapsed().as_secs_f64());
        let failures = failures.into_inner().unwrap();
        let done: Vec<PathBuf> = runs.iter().map(|r| r.2.clone()).collect();
        println!();
        report(&done)?;
        if failures.is_empty() { Ok(()) } else { Err(format!("failed: {}", failures.join(", "))) }
    }

    /// One finished run, read back from its JSON lines.
    struct RunFile {
        algo: String,
        /// The experiment without its seed: what all runs of one comparison share.
        experiment: String,
        env: EnvId,
        seed: u64,
        history: Vec<UpdateMetrics>,
        final_eval: Option<f64>,
        eval_episodes: usize,
        evaluated_during: bool,
        version: u64,
        commit: String,
        failed: Option<String>,
    }

    fn read_run(path: &std::path::Path) -> Result<RunFile, String> {
        let at = |e: String| format!("{}: {e}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| at(e.to_string()))?;
        let mut history = Vec::new();
        let mut last: Option<serde_json::Value> = None;
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let value: serde_json::Value =
                serde_json::from_str(line).map_err(|e| at(format!("line {}: {e}", i + 1)))?;
            if value.get("experiment").is_some() {
                last = Some(value);
            } else {
                let m: UpdateMetrics =
                    serde_json::from_value(value).map_err(|e| at(format!("line {}: {e}", i + 1)))?;
                history.push(m);
            }
        }
        let last = last.ok_or_else(|| at("no final line: the run did not finish (or is not a pvg train file)".into()))?;
        let field = |k: &str| last.get(k).ok_or_else(|| at(format!("the final line has no {k}")));
        let env: EnvId = field("env")?.as_str().unwrap_or_default().parse().map_err(at)?;
        let seed = field("seed")?.as_u64().ok_or_else(|| at("seed is not a number".into()))?;
        let url = field("experiment")?.as_str().unwrap_or_default();
        let experiment = url.split('&').filter(|kv| !kv.starts_with("seed=")).collect::<Vec<_>>().join("&");
        let evaluated_during = history.iter().any(|m| m.eval_mean_return.is_some());
        Ok(RunFile {
            algo: field("algo")?.as_str().unwrap_or_default().to_string(),
            experiment,
            env,
            seed,
            final_eval: last.get("eval_mean_return").and_then(|v| v.as_f64()),
            history,
            eval_episodes: last.get("eval_episodes").and_then(|v| v.as_u64()).unwrap_or(0) as usize,
            evaluated_during,
            version: field("version")?.as_u64().unwrap_or(0),
            commit: field("commit")?.as_str().unwrap_or_default().to_string(),
            failed: last.get("error").and_then(|e| e.as_str()).map(String::from),
        })
    }

    /// Read finished runs of one experiment and print the comparison table.
    fn report(paths: &[PathBuf]) -> Result<(), String> {
        let runs = paths.iter().map(|p| read_run(p)).collect::<Result<Vec<_>, _>>()?;
        let first = runs.first().ok_or("no runs to report")?;
        if let Some(other) = runs.iter().find(|r| r.experiment != first.experiment) {
            return Err(format!(
                "these runs are of different experiments:\n       {}\n       {}",
                first.experiment, other.experiment
            ));
        }
        for r in runs.iter().filter(|r| r.failed.is_some()) {
            eprintln!("note: {} seed {} failed ({}); its history up to then is counted", r.algo, r.seed, r.failed.as_deref().unwrap_or(""));
        }
        let mut builds: Vec<String> = runs.iter().map(|r| format!("version {} ({})", r.version, r.commit)).collect();
        builds.sort();
        builds.dedup();
        let evaluated_during = runs.iter().all(|r| r.evaluated_during);
        let threshold = stats::threshold(first.env, evaluated_during);
        let of = |algo: &str| -> Vec<stats::RunScores> {
            runs.iter()
                .filter(|r| r.algo == algo)
                .map(|r| stats::RunScores::of(r.seed, &r.history, r.final_eval, threshold))
                .collect()
        };
        let (ppo, grpo) = (of("ppo"), of("grpo"));
        let episodes = runs.iter().map(|r| r.eval_episodes).max().unwrap_or(0);
        let label = if first.env.task().is_some() {
            format!("greedy exact match on {episodes} distinct held-out prompts")
        } else {
            format!("deterministic policy, {episodes} episodes")
        };
        let report = stats::Report::new(first.env, &ppo, &grpo, &label, threshold);
        println!("{}", first.experiment);
        print!("{}", report.markdown());
        println!("Made by {}.", builds.join(", "));
        Ok(())
    }

    fn median(mut xs: Vec<f64>) -> f64 {
        xs.sort_by(f64::total_cmp);
        let n = xs.len();
        if n == 0 {
            f64::NAN
        } else if n % 2 == 1 {
            xs[n / 2]
        } else {
            (xs[n / 2 - 1] + xs[n / 2]) / 2.0
        }
    }

    /// One algorithm's benchmark: medians over runs of per-run medians.
    #[derive(serde::Serialize)]
    struct BenchRow {
        algorithm: &'static str,
        warmup_ms: f64,
        update_ms: f64,
        rollout_ms: f64,
        advantage_ms: f64,
        gradient_ms: f64,
        env_steps_per_update: f64,
        env_steps_per_s: f64,
        /// Env steps (completion tokens, for a text task) per second of each phase alone.
        rollout_steps_per_s: f64,
        gradient_steps_per_s: f64,
    }

    fn bench(
        c: &ExperimentConfig,
        runs: usize,
        warmup: usize,
        updates: usize,
        json: bool,
        learner: &Device,
    ) -> Result<(), String> {
        let mut rows = Vec::new();
        for algo in [Algo::Ppo, Algo::Grpo] {
            // Per run: the median of each quantity over its measured updates.
            let mut per_run: Vec<[f64; 9]> = Vec::new();
            for r in 0..runs {
                let mut cfg = c.clone();
                cfg.run.seed = c.run.seed + r as u64;
                cfg.run.total_steps = 10_000_000;
                let acting = Device::flex();
                let mut update: Box<dyn FnMut() -> Result<UpdateMetrics, TrainError>> = match algo {
                    Algo::Ppo => {
                        let mut a = Ppo::new(&cfg, learner, &acting);
                        Box::new(move || pollster::block_on(a.update()))
                    }
                    Algo::Grpo => {
                        let mut a = GrpoRun::new(&cfg, learner, &acting);
                        Box::new(move || pollster::block_on(a.update()))
                    }
                };
                let mut samples: Vec<[f64; 9]> = Vec::new();
                let mut warm = Vec::new();
                let mut last_steps = 0;
                for i in 0..warmup + updates {
                    let t = Instant::now();
                    let m = update().map_err(|e| e.to_string())?;
                    let ms = t.elapsed().as_secs_f64() * 1e3;
                    let steps = (m.env_steps - last_steps) as f64;
                    last_steps = m.env_steps;
                    if i < warmup {
                        warm.push(ms);
                    } else {
                        let phases = [m.rollout_s, m.advantage_s, m.update_s].map(|s| s * 1e3);
                        let per_s = |ms: f64| steps / (ms / 1e3);
                        samples.push([
                            0.0,
                            ms,
                            phases[0],
                            phases[1],
                            phases[2],
                            steps,
                            per_s(ms),
                            per_s(phases[0]),
                            per_s(phases[2]),
                        ]);
                    }
                }
                let mut run = [median(warm), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
                for (k, slot) in run.iter_mut().enumerate().skip(1) {
                    *slot = median(samples.iter().map(|s| s[k]).collect());
                }
                per_run.push(run);
            }
            let m = |k: usize| median(per_run.iter().map(|r| r[k]).collect());
            rows.push(BenchRow {
                algorithm: name(algo),
                warmup_ms: m(0),
                update_ms: m(1),
                rollout_ms: m(2),
                advantage_ms: m(3),
                gradient_ms: m(4),
                env_steps_per_update: m(5),
                env_steps_per_s: m(6),
                rollout_steps_per_s: m(7),
                gradient_steps_per_s: m(8),
            });
        }
        if json {
            println!("{}", serde_json::to_string(&rows).expect("serialises"));
            return Ok(());
        }
        let policy = match c.run.env.task() {
            Some(_) => format!(
                "language model ({} parameters, frozen) + LoRA rank {}; an env step is a completion token",
                playground::policy::lm::LmShape::BASE.parameters(),
                c.run.lora_rank
            ),
            None => format!("policy {}×{} tanh", c.run.depth, c.run.width),
        };
        println!(
            "bench: {} · {policy} · {runs} runs × ({warmup} warm-up + {updates} measured updates) · flex (CPU), {} threads · medians",
            c.run.env,
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        println!(
            "| algorithm | warm-up update ms | update ms | rollout ms | advantages ms | gradient ms | env steps/update | env steps/s | rollout steps/s | gradient steps/s |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in rows {
            println!(
                "| {} | {:.1} | {:.1} | {:.1} | {:.2} | {:.1} | {:.0} | {:.0} | {:.0} | {:.0} |",
                r.algorithm,
                r.warmup_ms,
                r.update_ms,
                r.rollout_ms,
                r.advantage_ms,
                r.gradient_ms,
                r.env_steps_per_update,
                r.env_steps_per_s,
                r.rollout_steps_per_s,
                r.gradient_steps_per_s
            );
        }
        Ok(())
    }

    fn replay(file: &std::path::Path, tolerance: f64) -> Result<(), String> {
        let reports = replay_file(file)?;
        println!("| env | seed | steps | max obs error | max reward error | flags | ok |");
        println!("|---|---:|---:|---:|---:|---|---|");
        let mut failed = 0;
        for r in &reports {
            let ok = r.ok(tolerance);
            failed += usize::from(!ok);
            let flags = match r.first_flag_mismatch {
                None => "match".to_string(),
                Some(step) => format!("differ at step {step}"),
            };
            println!(
                "| {} | {} | {} | {:.3e} | {:.3e} | {flags} | {} |",
                r.env,
                r.seed,
                r.steps,
                r.max_observation_error,
                r.max_reward_error,
                if ok { "yes" } else { "NO" }
            );
        }
        if failed > 0 {
            return Err(format!(
                "{failed} of {} traces differ beyond {tolerance:e} or in a flag",
                reports.len()
            ));
        }
        println!("{} traces reproduced within {tolerance:e}", reports.len());
        Ok(())
    }
}
