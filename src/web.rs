//! The page's entry points, called from its Web Worker (`www/js/worker.js`).
//!
//! The worker owns the sessions (one experiment each: PPO and GRPO side by side) and calls these
//! functions one at a time. Everything crosses as plain JSON-compatible values. All device reads
//! are async, as WebGPU requires.

use std::cell::RefCell;
use std::collections::HashMap;

use burn::prelude::*;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::config::{BackendChoice, ExperimentConfig, RunConfig};
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
    #[serde(skip)]
    device: Option<Device>,
}

#[derive(Default)]
struct Worker {
    webgpu: Option<WebGpu>,
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

/// Try to initialise WebGPU (once); `{available, adapter, error}`.
#[wasm_bindgen(js_name = probeWebGpu)]
pub async fn probe_webgpu() -> Result<JsValue, JsError> {
    if let Some(known) = WORKER.with_borrow(|w| w.webgpu.clone()) {
        return to_js(&known);
    }
    let probed = match Device::wgpu_options().init_with_setup_async().await {
        Ok((device, setup)) => {
            // Browsers often leave the adapter's name empty; the worker adds the browser's own
            // description (GPUAdapter.info) when it has one.
            let info = setup.adapter.get_info();
            let adapter = if info.name.is_empty() { format!("{:?}", info.backend) } else { info.name };
            WebGpu { available: true, adapter, error: None, device: Some(device.autodiff()) }
        }
        Err(e) => {
            WebGpu { available: false, adapter: String::new(), error: Some(e.to_string()), device: None }
        }
    };
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
                ignored: keys
                    .iter()
                    .filter(|k| !RunConfig::applies(&k.key, env))
                    .map(|k| k.key.clone())
                    .collect(),
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
    let ((learner, backend, adapter), note) = match webgpu {
        Some(WebGpu { device: Some(device), adapter, .. }) => ((device, "webgpu", adapter), None),
        Some(WebGpu { error, .. }) => (cpu(), Some(error.unwrap_or_else(|| "WebGPU unavailable".into()))),
        None => (cpu(), None),
    };
    let fragment = share::to_fragment(&config, &[]);
    // Rollouts act on a CPU copy of the weights: one tiny forward per env step is faster on
    // the CPU than a GPU round trip (see `ActingCopy`).
    let text = config.run.env.task().is_some();
    let mut experiment = Experiment::new(config, &learner, &Device::flex()).with_algos(algos);
    // A text task's accuracy on held-out prompts joins the curves, from the base's on.
    if text {
        experiment = experiment.with_evaluations();
    }
    let start_eval = experiment.evaluate_start().await.map_err(|e| JsError::new(&e.to_string()))?;
    let id = WORKER.with_borrow_mut(|w| {
        w.next_id += 1;
        w.sessions.insert(w.next_id, Some(experiment));
        w.next_id
    });
    to_js(&Created { id, backend, adapter, note, fragment, start_eval })
}

#[derive(Serialize)]
struct Stepped {
    #[serde(flatten)]
    report: StepReport,
    done: bool,
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
    WORKER.with_borrow_mut(|w| {
        if let Some(slot) = w.sessions.get_mut(&id) {
            *slot = Some(session);
        }
    });
    to_js(&Stepped { report, done })
}

/// The last update's tensors of session `id`.
#[wasm_bindgen]
pub fn snapshot(id: u32) -> Result<JsValue, JsError> {
    WORKER.with_borrow(|w| match w.sessions.get(&id) {
        Some(Some(e)) => to_js(&inspect::snapshot(e)),
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

/// Forget session `id`.
#[wasm_bindgen(js_name = dropSession)]
pub fn drop_session(id: u32) {
    WORKER.with_borrow_mut(|w| w.sessions.remove(&id));
}
