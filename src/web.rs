//! The page's entry points, called from its Web Worker (`www/js/worker.js`).
//!
//! The worker owns the sessions (one experiment each, advancing PPO, GRPO or both) and calls
//! these functions one at a time. Results cross as JSON text parsed into plain values, except a
//! snapshot's numeric arrays (typed arrays, see [`snapshot`]); a base model's bytes come in as a
//! `Uint8Array`. All device reads are async, as WebGPU requires.

use std::cell::RefCell;
use std::collections::HashMap;

use burn::prelude::*;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::backend::{LaneTimings, Timing, time_updates};
use crate::config::{BackendChoice, ExperimentConfig};
use crate::env::EnvId;
use crate::experiment::{Algos, Experiment, StepReport};
use crate::{inspect, share};

/// What the worker knows about WebGPU: probed once, since a wgpu device can be initialised
/// only once per worker.
#[derive(Clone, Debug, Serialize)]
struct WebGpu {
    available: bool,
    adapter: String,
    error: Option<String>,
    /// Why the adapter is a software renderer (wgpu reports a CPU device), which `backend=auto`
    /// treats as no GPU; the worker adds the browser's own view (`isFallbackAdapter`).
    software: Option<String>,
    #[serde(skip)]
    device: Option<Device>,
    /// The device was lost (a run on it carried on on the CPU); later runs here use the CPU.
    #[serde(skip)]
    lost: bool,
}

#[derive(Default)]
struct Worker {
    webgpu: Option<WebGpu>,
    /// The JS function that runs shard messages on this worker's helper workers (see
    /// [`set_helpers`]), and how many there are.
    helpers: Option<(js_sys::Function, usize)>,
    /// This worker as a helper: a model per run it helps, by the run's key.
    helping: HashMap<u32, std::rc::Rc<crate::shards::Helper>>,
    /// `None` while the session is stepping (taken out across the await).
    sessions: HashMap<u32, Option<Experiment>>,
    next_id: u32,
}

thread_local! {
    static WORKER: RefCell<Worker> = RefCell::new(Worker::default());
}

/// Results cross as JSON text parsed by the browser: for the snapshot's thousands of numbers
/// this is two orders of magnitude faster than building the JS objects value by value.
fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    let text =
        serde_json::to_string(value).map_err(|e| JsError::new(&format!("serialising a result: {e}")))?;
    js_sys::JSON::parse(&text).map_err(|_| JsError::new("parsing a result"))
}

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// WebGPU's device and adapter, or why there is none.
#[cfg(feature = "webgpu")]
async fn init_webgpu() -> WebGpu {
    match Device::wgpu_options().init_with_setup_async().await {
        Ok((device, setup)) => {
            // Browsers often leave the adapter's name empty; the worker adds the browser's own
            // description (GPUAdapter.info) when it has one.
            let info = setup.adapter.get_info();
            let adapter = if info.name.is_empty() { format!("{:?}", info.backend) } else { info.name };
            // wgpu's `DeviceType::Cpu`: SwiftShader, llvmpipe and their kind.
            let software = (format!("{:?}", info.device_type) == "Cpu")
                .then(|| format!("wgpu reports its adapter ({adapter}) as a CPU device"));
            WebGpu { available: true, adapter, error: None, software, device: Some(device.autodiff()), lost: false }
        }
        Err(e) => WebGpu::none(e.to_string()),
    }
}

/// The CPU core (built without the `webgpu` feature, the page's download where the browser
/// offers no WebGPU adapter) has no WebGPU backend.
#[cfg(not(feature = "webgpu"))]
async fn init_webgpu() -> WebGpu {
    WebGpu::none("this is the page's CPU core, without a WebGPU backend: the browser offered no WebGPU adapter".into())
}

impl WebGpu {
    fn none(error: String) -> Self {
        WebGpu { available: false, adapter: String::new(), error: Some(error), software: None, device: None, lost: false }
    }
}

/// Try to initialise WebGPU (once); `{available, adapter, error}`.
#[wasm_bindgen(js_name = probeWebGpu)]
pub async fn probe_webgpu() -> Result<JsValue, JsError> {
    if let Some(known) = WORKER.with_borrow(|w| w.webgpu.clone()) {
        return to_js(&known);
    }
    let probed = init_webgpu().await;
    WORKER.with_borrow_mut(|w| w.webgpu = Some(probed.clone()));
    to_js(&probed)
}

#[derive(Serialize)]
struct EnvDescription {
    id: &'static str,
    discrete: bool,
    /// A text task (its policy is the language model).
    text: bool,
    max_episode_steps: usize,
    /// The defaults of every key for this environment.
    defaults: Vec<(String, String)>,
    /// The keys that do not change a run on it (the form hides them).
    ignored: Vec<String>,
}

#[derive(Serialize)]
struct Description {
    keys: Vec<crate::config::ParamSpec>,
    page_keys: Vec<(&'static str, &'static str)>,
    figures: Vec<&'static str>,
    envs: Vec<EnvDescription>,
    max_url_len: usize,
    /// The version links are written in, and the commit of this build.
    build: crate::versions::Build,
    /// How long `backend=auto` may time each backend.
    timing_budgets: crate::backend::Budgets,
}

/// Every config key with its doc and range, and every environment's defaults: the page builds
/// its form from this, so names, defaults and limits have one source.
#[wasm_bindgen]
pub fn describe() -> Result<JsValue, JsError> {
    let keys = ExperimentConfig::specs();
    let envs = EnvId::ALL
        .iter()
        .map(|&env| {
            let c = ExperimentConfig::for_env(env);
            EnvDescription {
                id: env.name(),
                discrete: env.action_space().is_discrete(),
                text: env.task().is_some(),
                max_episode_steps: env.max_episode_steps(),
                defaults: keys.iter().map(|k| (k.key.clone(), c.get(&k.key).unwrap_or_default())).collect(),
                ignored: keys.iter().filter(|k| !k.scope.includes(env)).map(|k| k.key.clone()).collect(),
            }
        })
        .collect();
    to_js(&Description {
        keys,
        page_keys: share::PAGE_KEYS.to_vec(),
        figures: share::FIGURES.to_vec(),
        envs,
        max_url_len: share::MAX_URL_LEN,
        build: crate::versions::BUILD,
        timing_budgets: crate::backend::BUDGETS,
    })
}

#[derive(Serialize)]
struct ParsedUrl {
    #[serde(flatten)]
    parsed: share::Parsed,
    /// The canonical fragment of the config that was used.
    fragment: String,
}

/// Validate a URL fragment: the config used, the problems found, and the canonical fragment.
#[wasm_bindgen(js_name = parseUrl)]
pub fn parse_url(url: &str) -> Result<JsValue, JsError> {
    let parsed = share::parse(url);
    let fragment = share::to_fragment(&parsed.config, &[]);
    to_js(&ParsedUrl { parsed, fragment })
}

/// The shipped base model a link's run needs and this worker lacks: its path under the site
/// (`models/lm-reverse.bpk`), to fetch and hand to [`register_base`]; `None` for a control task
/// or a base already registered.
#[wasm_bindgen(js_name = baseNeeded)]
pub fn base_needed(url: &str) -> Option<String> {
    let env = share::parse(url).config.run.env;
    let task = env.task()?;
    crate::policy::base_weights(task).is_empty().then(|| format!("models/{env}.bpk"))
}

/// Give the core the base model of a link's text task, fetched from [`base_needed`]'s path.
#[wasm_bindgen(js_name = registerBase)]
pub fn register_base(url: &str, bytes: Vec<u8>) -> Result<(), JsError> {
    let env = share::parse(url).config.run.env;
    let task = env.task().ok_or_else(|| JsError::new(&format!("{env} is not a text task")))?;
    crate::policy::TinyGpt::load_base(&bytes, &Device::flex())
        .map_err(|e| JsError::new(&format!("{env}: {e}")))?;
    crate::policy::register_base(task, bytes);
    Ok(())
}

#[derive(Serialize)]
struct Created {
    id: u32,
    backend: &'static str,
    adapter: String,
    /// Why WebGPU was not used although asked for (wgpu's error; the worker adds the browser's view).
    note: Option<String>,
    fragment: String,
    /// The evaluation of the starting policy where the page evaluates (a text task: the base's
    /// accuracy on held-out prompts).
    start_eval: Option<f64>,
    /// This worker's WebGPU device was lost earlier (`note` says when): the run is on the CPU.
    device_lost: bool,
    /// GRPO's update has shards that helper workers can run: the worker starts them (keyed by
    /// `id`, see [`create_helper`]) and hands them over with [`set_helpers`].
    shards: bool,
    /// Which updates keep their full tensors for the scrubber (the page says so where one did not).
    kept: Kept,
}

/// The updates whose full tensors a run keeps ([`crate::history`]): its first, its last
/// `recent`, and up to `spread` spread over it.
#[derive(Serialize)]
struct Kept {
    recent: usize,
    spread: usize,
}

/// Start an experiment from a fragment (validated as by `parseUrl`) on the backend its
/// `backend` key asks for; WebGPU falls back to the CPU, saying why. `algos` (`ppo`, `grpo` or
/// `both`) are the algorithms its `step` advances.
#[wasm_bindgen(js_name = createSession)]
pub async fn create_session(url: String, algos: String) -> Result<JsValue, JsError> {
    let algos = Algos::parse(&algos).map_err(|e| JsError::new(&e))?;
    let config = share::parse(&url).config;
    if let Some(path) = base_needed(&url) {
        return Err(JsError::new(&format!("{}: its base model ({path}) was not loaded", config.run.env)));
    }
    let id = WORKER.with_borrow_mut(|w| {
        w.next_id += 1;
        w.next_id
    });
    let webgpu = match config.run.backend {
        BackendChoice::Cpu => None,
        BackendChoice::Auto | BackendChoice::WebGpu => {
            probe_webgpu().await?;
            WORKER.with_borrow(|w| w.webgpu.clone())
        }
    };
    let cpu = || {
        let adapter = if cfg!(target_feature = "simd128") {
            "flex (WebAssembly SIMD128)"
        } else {
            "flex (WebAssembly)"
        };
        (Device::flex().autodiff(), "cpu", adapter.to_string())
    };
    let device_lost = webgpu.as_ref().is_some_and(|w| w.lost);
    let ((learner, backend, adapter), note) = match webgpu {
        Some(WebGpu { device: Some(device), adapter, .. }) => ((device, "webgpu", adapter), None),
        Some(WebGpu { error, .. }) => (cpu(), Some(error.unwrap_or_else(|| "WebGPU unavailable".into()))),
        None => (cpu(), None),
    };
    let fragment = share::to_fragment(&config, &[]);
    // GRPO's shards may run in helper workers where the run learns on the CPU (as they do) and
    // its batch is wider than a shard.
    let shards = backend == "cpu" && algos != Algos::Ppo && config.grpo_batch_width() > crate::shards::SHARD;
    // Rollouts act on a CPU copy of the weights: one tiny forward per env step is faster on
    // the CPU than a GPU round trip (see `ActingCopy`).
    let text = config.run.env.task().is_some();
    // Every update is kept for the scrubber, within `history`'s budget.
    let mut experiment = Experiment::new(config, &learner, &Device::flex()).with_algos(algos).with_history();
    if shards {
        experiment = experiment.with_shard_pool(std::sync::Arc::new(PageHelpers { key: id }));
    }
    // On a GPU, each run keeps a copy of itself on the CPU to carry on from if the device is lost.
    if backend == "webgpu" {
        experiment = experiment.surviving_device_loss();
    }
    // A text task's accuracy on held-out prompts joins the curves, from the base's on; a control
    // task's policy is evaluated once its budget is spent (the summary table's final return).
    experiment = if text { experiment.with_evaluations() } else { experiment.with_final_evaluation() };
    // Both algorithms start from the same policy: one worker (GRPO's, or the only one) evaluates it.
    let start_eval = match algos {
        Algos::Ppo => None,
        _ => experiment.evaluate_start().await.map_err(|e| JsError::new(&e.to_string()))?,
    };
    WORKER.with_borrow_mut(|w| w.sessions.insert(id, Some(experiment)));
    let kept = Kept { recent: crate::history::RECENT, spread: crate::history::SPREAD };
    to_js(&Created { id, backend, adapter, note, fragment, start_eval, device_lost, shards, kept })
}

/// `backend=auto`: time a few updates of the link's experiment (the `algos` this worker
/// advances) on `backend` (`cpu` or `webgpu`), in a run dropped afterwards. The CPU takes no
/// update past [`crate::backend::CPU_BUDGET_MS`]; WebGPU none past
/// [`crate::backend::webgpu_limit_ms`] of `cpu_total_ms` (the CPU's whole measurement), and the
/// page stops its worker at [`crate::backend::WEBGPU_BUDGET_MS`] whatever it is doing. The page
/// times the CPU in both workers first, then WebGPU in workers of its own, so that neither
/// disturbs the other's figure.
#[wasm_bindgen(js_name = timeBackend)]
pub async fn time_backend(
    url: String,
    algos: String,
    backend: String,
    cpu_total_ms: f64,
) -> Result<JsValue, JsError> {
    let algos = Algos::parse(&algos).map_err(|e| JsError::new(&e))?;
    let config = share::parse(&url).config;
    let timing = match backend.as_str() {
        "cpu" => time_updates(config, &Device::flex().autodiff(), algos, crate::backend::CPU_BUDGET_MS).await,
        "webgpu" => {
            probe_webgpu().await?;
            match WORKER.with_borrow(|w| w.webgpu.as_ref().and_then(|w| w.device.clone())) {
                None => Timing::default(),
                Some(device) => {
                    time_updates(config, &device, algos, crate::backend::webgpu_limit_ms(cpu_total_ms)).await
                }
            }
        }
        other => return Err(JsError::new(&format!("no backend {other:?}"))),
    };
    to_js(&timing)
}

#[derive(Serialize)]
struct Chosen {
    choice: crate::backend::Choice,
    /// The link with `backend` resolved, so that a replay runs where this run did.
    fragment: String,
}

/// Whether the link's run asks for `backend=auto` (the page then measures before creating it).
#[wasm_bindgen(js_name = backendIsAuto)]
pub fn backend_is_auto(url: &str) -> bool {
    share::parse(url).config.run.backend == BackendChoice::Auto
}

/// Choose the backend from every worker's [`time_backend`] figures (summed update by update: an
/// experiment's update is both algorithms'), or the CPU where timing itself `failed` (a worker
/// crashed), or the CPU at once, nothing timed, where there is `no_gpu` worth timing (none, or
/// a software adapter: why), and resolve the link to it.
#[wasm_bindgen(js_name = chooseBackend)]
pub fn choose_backend(
    url: &str,
    timings: JsValue,
    failed: Option<String>,
    no_gpu: Option<String>,
) -> Result<JsValue, JsError> {
    let choice = match no_gpu {
        Some(why) => crate::backend::without_gpu(&why),
        None => crate::backend::choose_for_lanes(&serde_wasm_bindgen::from_value::<Vec<LaneTimings>>(timings)?, failed),
    };
    let mut config = share::parse(url).config;
    config.run.backend = if choice.backend == "webgpu" { BackendChoice::WebGpu } else { BackendChoice::Cpu };
    to_js(&Chosen { fragment: share::to_fragment(&config, &[]), choice })
}

#[derive(Serialize)]
struct Stepped {
    #[serde(flatten)]
    report: StepReport,
    done: bool,
    /// Each advanced algorithm's run scored so far (the page's summary table over seeds).
    scores: ByAlgo<crate::stats::RunScores>,
    /// Each advanced algorithm's known failure modes so far, where each started.
    flags: ByAlgo<Vec<crate::flags::Flag>>,
}

/// Something of each algorithm the session advances (`None` for one it does not).
#[derive(Serialize)]
struct ByAlgo<T> {
    ppo: Option<T>,
    grpo: Option<T>,
}

impl<T> ByAlgo<T> {
    fn of(f: impl Fn(Algos) -> Option<T>) -> Self {
        Self { ppo: f(Algos::Ppo), grpo: f(Algos::Grpo) }
    }
}

/// One update of each algorithm of session `id`.
#[wasm_bindgen]
pub async fn step(id: u32) -> Result<JsValue, JsError> {
    let mut session = WORKER
        .with_borrow_mut(|w| match w.sessions.get_mut(&id) {
            None => Err(format!("no session {id}")),
            Some(slot) => slot.take().ok_or_else(|| format!("session {id} is already stepping")),
        })
        .map_err(|e| JsError::new(&e))?;
    let report = session.step().await;
    let done = session.done();
    let scores = ByAlgo::of(|algo| session.scores(algo));
    let flags = ByAlgo::of(|algo| session.flags(algo));
    let lost = report.ppo_device_lost.as_ref().or(report.grpo_device_lost.as_ref());
    WORKER.with_borrow_mut(|w| {
        // A lost device cannot be used again in this worker (nor initialised anew).
        if let (Some(lost), Some(gpu)) = (lost, w.webgpu.as_mut()) {
            let error = format!("the WebGPU device was lost at update {} ({})", lost.update, lost.error);
            *gpu = WebGpu { available: false, error: Some(error), device: None, lost: true, ..gpu.clone() };
        }
        if let Some(slot) = w.sessions.get_mut(&id) {
            *slot = Some(session);
        }
    });
    to_js(&Stepped { report, done, scores, flags })
}

/// The tensors of session `id`'s last update, or of update `at` (what the history kept of it:
/// see [`crate::history`]), by `transport`: `typed` (what the page uses), its
/// numeric arrays (heatmaps' values and masks, trajectories' states and actions) as typed
/// arrays, which the worker hands to the page without copying (transferred), the rest as JSON
/// text parsed; `typed-swb`, the rest built by serde-wasm-bindgen instead; `json`, all of it as
/// JSON text parsed. The last two are kept for the benchmark (`tests/browser/bench.js`).
#[wasm_bindgen]
pub fn snapshot(id: u32, transport: &str, at: Option<u32>) -> Result<JsValue, JsError> {
    WORKER.with_borrow(|w| match w.sessions.get(&id) {
        Some(Some(e)) => {
            let s = match (at, &e.history) {
                (None, _) => inspect::snapshot(e),
                (Some(n), Some(h)) => h.snapshot(n as usize).map_err(|e| JsError::new(&e))?,
                (Some(_), None) => return Err(JsError::new("this session keeps no history")),
            };
            match transport {
                "typed" => typed_snapshot(s, false),
                "typed-swb" => typed_snapshot(s, true),
                "json" => to_js(&s),
                other => Err(JsError::new(&format!("no transport {other:?}"))),
            }
        }
        Some(None) => Err(JsError::new(&format!("session {id} is stepping"))),
        None => Err(JsError::new(&format!("no session {id}"))),
    })
}

/// A snapshot whose numeric arrays are typed arrays, in the format [`inspect::Packed`]
/// writes down: a few large arrays the worker hands to the page without copying (transferred).
/// The worker attaches the views (`transferable` in `worker.js`): each property set from Rust
/// cost about a millisecond in Chromium here, far more than copying a large array.
fn typed_snapshot(mut s: inspect::Snapshot, swb: bool) -> Result<JsValue, JsError> {
    use js_sys::{Float32Array, Float64Array, Reflect, Uint32Array};
    let packed = inspect::Packed::take(&mut s);
    let object = match swb {
        true => s.serialize(&serde_wasm_bindgen::Serializer::json_compatible())?,
        false => to_js(&s)?,
    };
    for (key, value) in [
        ("heatmap_values", Float32Array::from(&packed.heatmap_values[..]).into()),
        ("heatmap_ranges", Uint32Array::from(&packed.heatmap_ranges[..]).into()),
        ("trajectory_states", Float64Array::from(&packed.trajectory_states[..]).into()),
        ("trajectory_actions", Float32Array::from(&packed.trajectory_actions[..]).into()),
        ("trajectory_ranges", Uint32Array::from(&packed.trajectory_ranges[..]).into()),
    ] {
        Reflect::set(&object, &key.into(), &value).map_err(|_| JsError::new("building a snapshot"))?;
    }
    Ok(object)
}

/// Session `id`'s config, and (copies of) the policies of the algorithms it advances, by name.
fn trained_policies(id: u32) -> Result<(ExperimentConfig, Vec<(&'static str, crate::policy::Policy)>), String> {
    WORKER.with_borrow(|w| match w.sessions.get(&id) {
        Some(Some(e)) => {
            let trained = e.trained_policies().into_iter().map(|(name, p)| (name, p.clone())).collect();
            Ok((e.config.clone(), trained))
        }
        Some(None) => Err(format!("session {id} is stepping")),
        None => Err(format!("no session {id}")),
    })
}

/// Ask the models of session `id` (`prompt`, e.g. `dcba=`): the base's answers, and those of
/// each algorithm the session advances (see [`crate::ask`]); a malformed prompt is an error
/// saying what is wrong, and nothing else changes.
#[wasm_bindgen]
pub async fn complete(id: u32, prompt: String) -> Result<JsValue, JsError> {
    let adapters = session_adapters(id).await?;
    to_js(&crate::ask::ask_with(&adapters, &prompt).await.map_err(|e| JsError::new(&e))?)
}

/// The trained adapters of session `id`'s algorithms, as a file (see [`crate::ask::Adapters`]).
#[wasm_bindgen]
pub async fn adapters(id: u32) -> Result<Vec<u8>, JsError> {
    Ok(session_adapters(id).await?.to_bytes())
}

async fn session_adapters(id: u32) -> Result<crate::ask::Adapters, JsError> {
    let (config, trained) = trained_policies(id).map_err(|e| JsError::new(&e))?;
    if config.run.env.task().is_none() {
        return Err(JsError::new(&format!("{} is not a text task: only the language model has adapters", config.run.env)));
    }
    let mut models = Vec::new();
    for (name, policy) in trained {
        let params = crate::ask::Adapters::read(&policy).await.map_err(|e| JsError::new(&e.to_string()))?;
        models.push((name.to_string(), params));
    }
    Ok(crate::ask::Adapters { fragment: share::to_fragment(&config, &[]), models })
}

/// Two adapters files of one experiment (PPO's worker's and GRPO's) as one.
#[wasm_bindgen(js_name = mergeAdapters)]
pub fn merge_adapters(a: Vec<u8>, b: Vec<u8>) -> Result<Vec<u8>, JsError> {
    let mut a = crate::ask::Adapters::from_bytes(&a).map_err(|e| JsError::new(&e))?;
    let b = crate::ask::Adapters::from_bytes(&b).map_err(|e| JsError::new(&e))?;
    if a.fragment != b.fragment {
        return Err(JsError::new("the two adapters files are of different experiments"));
    }
    a.models.extend(b.models);
    Ok(a.to_bytes())
}

/// The experiment (its link's fragment) an adapters file belongs to, or why it cannot be read.
#[wasm_bindgen(js_name = adaptersFragment)]
pub fn adapters_fragment(bytes: Vec<u8>) -> Result<String, JsError> {
    crate::ask::Adapters::from_bytes(&bytes).map(|a| a.fragment).map_err(|e| JsError::new(&e))
}

/// Ask the base and the models of an adapters file (one the page loaded), as [`complete`].
#[wasm_bindgen(js_name = completeWith)]
pub async fn complete_with(bytes: Vec<u8>, prompt: String) -> Result<JsValue, JsError> {
    let adapters = crate::ask::Adapters::from_bytes(&bytes).map_err(|e| JsError::new(&e))?;
    to_js(&crate::ask::ask_with(&adapters, &prompt).await.map_err(|e| JsError::new(&e))?)
}

/// What session `id`'s history holds, `{ppo, grpo}`, each `{updates, full_updates, bytes}`.
#[wasm_bindgen]
pub fn held(id: u32) -> Result<JsValue, JsError> {
    WORKER.with_borrow(|w| match w.sessions.get(&id) {
        Some(Some(e)) => {
            let h = e.history.as_ref();
            to_js(&ByAlgo { ppo: h.map(|h| h.ppo.held()), grpo: h.map(|h| h.grpo.held()) })
        }
        Some(None) => Err(JsError::new(&format!("session {id} is stepping"))),
        None => Err(JsError::new(&format!("no session {id}"))),
    })
}

/// For tests of the page: the next update of `algo` (`ppo` or `grpo`) in session `id` fails
/// as a NaN in its policy loss would, through the same path as a real one.
#[wasm_bindgen(js_name = injectFault)]
pub fn inject_fault(id: u32, algo: &str) -> Result<(), JsError> {
    WORKER.with_borrow_mut(|w| match w.sessions.get_mut(&id) {
        Some(Some(e)) => match e.inject_fault(algo, "policy_loss") {
            true => Ok(()),
            false => Err(JsError::new(&format!("no algorithm {algo:?}"))),
        },
        Some(None) => Err(JsError::new(&format!("session {id} is stepping"))),
        None => Err(JsError::new(&format!("no session {id}"))),
    })
}

/// The page's helper workers as a [`crate::shards::Pool`] for session `key`: the messages go
/// to the JS function [`set_helpers`] gave, which posts each to its helper at once and answers
/// when all have answered.
struct PageHelpers {
    key: u32,
}

impl crate::shards::Pool for PageHelpers {
    fn helpers(&self) -> usize {
        WORKER.with_borrow(|w| w.helpers.as_ref().map_or(0, |(_, n)| *n))
    }

    fn start(
        &self,
        messages: Vec<(usize, Vec<f32>)>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<Vec<f32>>, String>> + '_>> {
        use js_sys::{Array, Float32Array, Promise};
        let jobs = Array::new();
        for (helper, message) in &messages {
            jobs.push(&Array::of2(&(*helper as u32).into(), &Float32Array::from(&message[..])));
        }
        // Called now, so that the helpers start while this worker runs its own shards.
        let called = WORKER.with_borrow(|w| match &w.helpers {
            Some((run, _)) => run.call2(&JsValue::NULL, &self.key.into(), &jobs).map_err(|e| format!("{e:?}")),
            None => Err("this worker has no helpers".into()),
        });
        Box::pin(async move {
            let answers = wasm_bindgen_futures::JsFuture::from(Promise::from(called?))
                .await
                .map_err(|e| e.as_string().unwrap_or_else(|| format!("{e:?}")))?;
            Ok(Array::from(&answers).iter().map(|a| Float32Array::from(a).to_vec()).collect())
        })
    }
}

/// Give this worker `count` helper workers: `run(key, jobs)` posts each job (`[helper,
/// Float32Array]`) to its helper for session `key` and resolves to their answers in order (see
/// `worker.js`). `count` 0: none, every shard runs here.
#[wasm_bindgen(js_name = setHelpers)]
pub fn set_helpers(run: js_sys::Function, count: u32) {
    WORKER.with_borrow_mut(|w| w.helpers = (count > 0).then_some((run, count as usize)));
}

/// This worker as a helper of session `key` of the link `url` (its base loaded): a model of
/// the run's architecture, whose trainable weights come with each job.
#[wasm_bindgen(js_name = createHelper)]
pub fn create_helper(key: u32, url: &str) -> Result<(), JsError> {
    if let Some(path) = base_needed(url) {
        return Err(JsError::new(&format!("its base model ({path}) was not loaded")));
    }
    let helper = crate::shards::Helper::new(&share::parse(url).config);
    WORKER.with_borrow_mut(|w| w.helping.insert(key, std::rc::Rc::new(helper)));
    Ok(())
}

/// Run one shard message for session `key` (see [`crate::shards::Helper::run`]).
#[wasm_bindgen(js_name = runShard)]
pub async fn run_shard(key: u32, message: Vec<f32>) -> Result<Vec<f32>, JsError> {
    let helper = WORKER
        .with_borrow(|w| w.helping.get(&key).cloned())
        .ok_or_else(|| JsError::new(&format!("this helper has no model for session {key}")))?;
    helper.run(&message).await.map_err(|e| JsError::new(&e))
}

/// Forget the helper model of session `key`.
#[wasm_bindgen(js_name = dropHelper)]
pub fn drop_helper(key: u32) {
    WORKER.with_borrow_mut(|w| w.helping.remove(&key));
}

/// Forget session `id`.
#[wasm_bindgen(js_name = dropSession)]
pub fn drop_session(id: u32) {
    WORKER.with_borrow_mut(|w| w.sessions.remove(&id));
}

#[derive(serde::Deserialize)]
struct SummaryRequest {
    env: String,
    ppo: Vec<crate::stats::RunScores>,
    grpo: Vec<crate::stats::RunScores>,
}

/// The page's summary table over seeds: the runs' scores (each `step`'s `scores`) compared as
/// `pvg report` compares them ([`crate::stats::Report`]).
#[wasm_bindgen]
pub fn summarize(request: JsValue) -> Result<JsValue, JsError> {
    let r: SummaryRequest = serde_wasm_bindgen::from_value(request)?;
    let env: EnvId = r.env.parse().map_err(|e: String| JsError::new(&e))?;
    let report = crate::stats::Report::new(env, &r.ppo, &r.grpo, &page_eval_label(env), crate::experiment::page_threshold(env));
    to_js(&report)
}

/// What the page's final evaluation is, for the summary table.
fn page_eval_label(env: EnvId) -> String {
    match env.task() {
        Some(_) => format!("greedy exact match on {} distinct held-out prompts", crate::experiment::PAGE_EVAL_EPISODES),
        None => format!("deterministic policy, {} episodes", crate::experiment::PAGE_FINAL_EPISODES),
    }
}


#[derive(serde::Deserialize)]
struct BandRequest {
    /// Grid points of the x axis.
    points: usize,
    /// Per algorithm, per run: its curve's x and y.
    ppo: Vec<(Vec<f64>, Vec<f64>)>,
    grpo: Vec<(Vec<f64>, Vec<f64>)>,
}

#[derive(Serialize)]
struct Bands {
    ppo: crate::stats::Band,
    grpo: crate::stats::Band,
}

/// Both algorithms' curves over seeds on one x grid: each run held on it, the aggregate and its
/// 95% bootstrap band ([`crate::stats::band`]).
#[wasm_bindgen]
pub fn bands(request: JsValue) -> Result<JsValue, JsError> {
    use crate::stats::{band, grid, last_x};
    let r: BandRequest = serde_wasm_bindgen::from_value(request)?;
    let curves = |runs: Vec<(Vec<f64>, Vec<f64>)>| -> Vec<Vec<(f64, f64)>> {
        runs.into_iter().map(|(x, y)| x.into_iter().zip(y).collect()).collect()
    };
    let (ppo, grpo) = (curves(r.ppo), curves(r.grpo));
    let x = grid(last_x(&ppo).max(last_x(&grpo)), r.points.clamp(2, 1000));
    to_js(&Bands { ppo: band(&ppo, x.clone()), grpo: band(&grpo, x) })
}
