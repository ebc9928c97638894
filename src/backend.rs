//! The page's `backend=auto`: the learner's backend chosen by timing a few updates of the
//! actual experiment on each backend the browser offers, not by whether a GPU adapter exists.
//! A 64-unit MLP often trains faster on the CPU (a GPU pays a dispatch per op and an async read
//! per phase); the language model's wider matrices can favour the GPU. The timing runs here;
//! the page's workers call it through `web.rs` and hand every worker's figures back to
//! [`choose_for_lanes`].

use burn::prelude::Device;
use serde::Serialize;

use crate::config::ExperimentConfig;
use crate::experiment::{Algos, Experiment};

/// WebGPU must be at least this much faster to be chosen: the CPU is the backend every visitor
/// has, so a link replayed elsewhere is likelier to replay on the same one.
pub const MARGIN: f64 = 1.1;

/// WebGPU's timing stops once its updates have taken this many times the CPU's (warm-up
/// included), and not before [`MIN_LIMIT_MS`]: a software adapter can take seconds per update.
pub const SLOWER_LIMIT: f64 = 10.0;
pub const MIN_LIMIT_MS: f64 = 1000.0;

/// The CPU's timing takes no update after its updates have taken this long (a text task's CPU
/// update takes about a second in a tab: one or two are timed instead of three).
pub const CPU_BUDGET_MS: f64 = 3000.0;
/// WebGPU's timing, from starting its worker to its last figure, never runs past this: the page
/// times WebGPU in workers of their own and stops them at this deadline, mid-update if need be
/// (an update cannot be cut short from inside: a slow adapter's one update can take minutes).
/// No update starts once the updates have taken [`webgpu_limit_ms`].
pub const WEBGPU_BUDGET_MS: f64 = 6000.0;

/// When WebGPU's timing takes no more updates: after [`SLOWER_LIMIT`] times the CPU's whole
/// measurement (`cpu_total_ms`), not before [`MIN_LIMIT_MS`], and within half the budget (the
/// other half is the worker's start, the device and the kernels' first compilation).
pub fn webgpu_limit_ms(cpu_total_ms: f64) -> f64 {
    (SLOWER_LIMIT * cpu_total_ms).max(MIN_LIMIT_MS).min(WEBGPU_BUDGET_MS / 2.0)
}

/// The budgets the page reads (`describe`).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Budgets {
    pub cpu_ms: f64,
    pub webgpu_ms: f64,
}

pub const BUDGETS: Budgets = Budgets { cpu_ms: CPU_BUDGET_MS, webgpu_ms: WEBGPU_BUDGET_MS };

/// Updates run and discarded before timing (shader compilation, first allocations).
pub const WARMUP_UPDATES: usize = 1;
/// Updates timed after the warm-up.
pub const MEASURED_UPDATES: usize = 2;

/// What `auto` chose and why, with both figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Choice {
    /// `"cpu"` or `"webgpu"`.
    pub backend: &'static str,
    /// Median milliseconds of an experiment update (PPO's and GRPO's summed) on each backend;
    /// `None` where it was not measured.
    pub cpu_ms: Option<f64>,
    pub webgpu_ms: Option<f64>,
    pub reason: String,
}

fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.len() != values.len() || v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// Choose from per-update milliseconds measured on each backend after the warm-up (an
/// experiment's update: the algorithms' own times summed). `webgpu` is `None` when WebGPU is
/// unavailable, and a measurement that failed is passed as `Err` with its message.
pub fn choose(cpu: &[f64], webgpu: Option<Result<&[f64], &str>>) -> Choice {
    let cpu_ms = median(cpu);
    let (webgpu_ms, failure) = match webgpu {
        None => (None, Some("WebGPU is unavailable".to_string())),
        Some(Err(e)) => (None, Some(format!("WebGPU failed while being timed ({e})"))),
        Some(Ok(ms)) => match median(ms) {
            Some(m) => (Some(m), None),
            None => (None, Some("WebGPU's timings were missing or not finite".to_string())),
        },
    };
    let cpu_choice = |reason: String| Choice { backend: "cpu", cpu_ms, webgpu_ms, reason };
    match (cpu_ms, webgpu_ms, failure) {
        (_, _, Some(why)) => cpu_choice(format!("{why}: the CPU")),
        (Some(c), Some(g), None) if c > g * MARGIN => Choice {
            backend: "webgpu",
            cpu_ms,
            webgpu_ms,
            reason: format!(
                "WebGPU, {:.1}× faster per update ({g:.1} ms against {c:.1} ms on the CPU)",
                c / g
            ),
        },
        (Some(c), Some(g), None) if c > g => cpu_choice(format!(
            "the CPU: WebGPU was faster by less than {:.0}% ({g:.1} ms against {c:.1} ms), not enough to leave the backend every visitor has",
            (MARGIN - 1.0) * 100.0
        )),
        (Some(c), Some(g), None) => cpu_choice(format!(
            "the CPU, {:.1}× faster per update ({c:.1} ms against {g:.1} ms on WebGPU)",
            g / c
        )),
        (None, Some(g), None) => Choice {
            backend: "webgpu",
            cpu_ms,
            webgpu_ms,
            reason: format!("WebGPU: the CPU's timings were missing or not finite ({g:.1} ms on WebGPU)"),
        },
        (_, None, None) => cpu_choice("the CPU: nothing was measured".into()),
    }
}

/// What timing one backend gave one worker (`backend=auto`).
#[derive(Debug, Default, Serialize, serde::Deserialize)]
pub struct Timing {
    /// Whether the backend exists here (WebGPU may not).
    pub available: bool,
    /// Milliseconds of each update timed after the warm-up, or of the warm-up where timing
    /// stopped before any (see `note`).
    pub figures: Vec<f64>,
    /// Milliseconds of all the updates run, warm-up included.
    pub total_ms: f64,
    /// Why fewer updates were timed: the backend was too slow to wait for.
    pub note: Option<String>,
    /// Why it could not be timed: an update failed.
    pub error: Option<String>,
}

/// The experiment of `url`, advancing `algos`, timed for a few updates on the learner `device`
/// (an update's time: the algorithms' own, summed); timing stops early once the updates have
/// taken more than `limit_ms` in all.
pub async fn time_updates(config: ExperimentConfig, device: &Device, algos: Algos, limit_ms: f64) -> Timing {
    let mut e = Experiment::new(config, device, &Device::flex()).with_algos(algos);
    let (mut warmup, mut timed, mut note) = (Vec::new(), Vec::new(), None);
    for i in 0..WARMUP_UPDATES + MEASURED_UPDATES {
        let total: f64 = warmup.iter().chain(&timed).sum();
        if total > limit_ms {
            note = Some(format!(
                "timed on {i} update(s) only: they took {total:.0} ms, over the {limit_ms:.0} ms allowed"
            ));
            break;
        }
        if e.done() {
            break;
        }
        let r = e.step().await;
        if let Some(error) = r.ppo_error.or(r.grpo_error) {
            return Timing { available: true, error: Some(error), ..Timing::default() };
        }
        let own =
            [r.ppo, r.grpo].iter().flatten().map(|m| (m.rollout_s + m.advantage_s + m.update_s) * 1e3).sum();
        if i < WARMUP_UPDATES { &mut warmup } else { &mut timed }.push(own);
    }
    let total_ms = warmup.iter().chain(&timed).sum();
    let figures = if timed.is_empty() { warmup } else { timed };
    Timing { available: true, figures, total_ms, note, error: None }
}

/// One worker's timings of both backends.
#[derive(serde::Deserialize)]
pub struct LaneTimings {
    pub cpu: Timing,
    pub webgpu: Timing,
}

/// The CPU, nothing timed, where no GPU is worth timing (`why`: there is none, or its adapter is
/// a software renderer, whose one update of a text task took 433 s against the CPU's 1.2 s in
/// headless Chromium here): a first visit never waits on it.
pub fn without_gpu(why: &str) -> Choice {
    cpu_unmeasured(format!("the CPU at once, nothing timed: {why}"))
}

/// The CPU, with no figure of either backend to show.
fn cpu_unmeasured(reason: String) -> Choice {
    Choice { backend: "cpu", cpu_ms: None, webgpu_ms: None, reason }
}

/// Choose from every worker's timings of both backends (summed update by update: an
/// experiment's update is every worker's algorithms'), or the CPU where timing itself `failed`
/// (a worker crashed).
pub fn choose_for_lanes(lanes: &[LaneTimings], failed: Option<String>) -> Choice {
    let sum = |per_lane: Vec<&[f64]>| -> Vec<f64> {
        let n = per_lane.iter().map(|t| t.len()).min().unwrap_or(0);
        (0..n).map(|i| per_lane.iter().map(|t| t[i]).sum()).collect()
    };
    if let Some(why) = failed {
        return cpu_unmeasured(format!("the CPU: timing failed ({why})"));
    }
    if let Some(e) = lanes.iter().find_map(|l| l.cpu.error.clone()) {
        return cpu_unmeasured(format!("the CPU: an update failed while it was being timed ({e})"));
    }
    let cpu = sum(lanes.iter().map(|l| l.cpu.figures.as_slice()).collect());
    let webgpu = if lanes.iter().any(|l| !l.webgpu.available) {
        None
    } else if let Some(e) = lanes.iter().find_map(|l| l.webgpu.error.as_deref()) {
        Some(Err(e))
    } else {
        Some(Ok(sum(lanes.iter().map(|l| l.webgpu.figures.as_slice()).collect())))
    };
    let mut choice = choose(&cpu, webgpu.as_ref().map(|w| w.as_ref().map(Vec::as_slice).map_err(|e| *e)));
    if let Some(note) = lanes.iter().find_map(|l| l.webgpu.note.clone()) {
        choice.reason = format!("{}; WebGPU was {note}", choice.reason);
    }
    choice
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_faster_backend_wins_with_both_figures_and_a_reason() {
        let gpu_wins = choose(&[40.0, 44.0], Some(Ok(&[10.0, 12.0])));
        assert_eq!(
            (gpu_wins.backend, gpu_wins.cpu_ms, gpu_wins.webgpu_ms),
            ("webgpu", Some(42.0), Some(11.0))
        );
        assert!(gpu_wins.reason.contains("3.8× faster"), "{}", gpu_wins.reason);
        let cpu_wins = choose(&[3.0, 5.0, 4.0], Some(Ok(&[30.0, 50.0, 40.0])));
        assert_eq!((cpu_wins.backend, cpu_wins.cpu_ms, cpu_wins.webgpu_ms), ("cpu", Some(4.0), Some(40.0)));
        assert!(cpu_wins.reason.contains("10.0× faster"), "{}", cpu_wins.reason);
    }

    #[test]
    fn webgpu_takes_no_update_past_half_its_budget() {
        assert_eq!(webgpu_limit_ms(10.0), MIN_LIMIT_MS);
        assert_eq!(webgpu_limit_ms(200.0), 2000.0);
        assert_eq!(webgpu_limit_ms(1200.0), WEBGPU_BUDGET_MS / 2.0, "a text task's CPU update");
    }

    #[test]
    fn webgpu_must_beat_the_cpu_by_the_margin() {
        let close = choose(&[10.5], Some(Ok(&[10.0])));
        assert_eq!(close.backend, "cpu");
        assert!(close.reason.contains("less than 10%"), "{}", close.reason);
        assert_eq!(choose(&[11.5], Some(Ok(&[10.0]))).backend, "webgpu");
    }

    #[test]
    fn without_a_usable_webgpu_measurement_the_cpu_is_chosen_and_the_reason_says_why() {
        let none = choose(&[5.0], None);
        assert_eq!((none.backend, none.webgpu_ms), ("cpu", None));
        assert!(none.reason.contains("unavailable"));
        let failed = choose(&[5.0], Some(Err("device lost")));
        assert!(
            failed.backend == "cpu" && failed.reason.contains("being timed (device lost)"),
            "{}",
            failed.reason
        );
        let nan = choose(&[5.0], Some(Ok(&[f64::NAN, 3.0])));
        assert!(nan.backend == "cpu" && nan.reason.contains("not finite"), "{}", nan.reason);
        assert_eq!(choose(&[], Some(Ok(&[3.0]))).backend, "webgpu", "the CPU's timings missing");
    }
}
