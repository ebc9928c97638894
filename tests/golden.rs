//! The Rust environments reproduce traces recorded from Gymnasium 1.4.0.

use std::path::{Path, PathBuf};

use playground::replay::{TraceReport, replay_file, replay_traces};
use serde_json::Value;

/// Observations and rewards must match the recording this closely; flags exactly.
const TOLERANCE: f64 = 1e-5;

fn golden_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/golden/classic_control.json")
}

fn golden_json() -> Value {
    let text = std::fs::read_to_string(golden_path()).expect("golden trace file is readable");
    serde_json::from_str(&text).expect("golden trace file is JSON")
}

fn replay(json: &Value) -> Vec<TraceReport> {
    replay_traces(&json.to_string()).expect("traces replay")
}

#[test]
fn all_golden_traces_are_reproduced() {
    let reports = replay_file(&golden_path()).expect("golden traces replay");
    for report in &reports {
        println!("{report}");
    }
    assert_eq!(reports.len(), 20);
    let failed: Vec<_> = reports.iter().filter(|r| !r.ok(TOLERANCE)).collect();
    assert!(failed.is_empty(), "traces off by more than {TOLERANCE}: {failed:#?}");
}

#[test]
fn a_corrupted_observation_is_detected() {
    let mut json = golden_json();
    let trace = 5;
    let value = &mut json["traces"][trace]["observations"][10][2];
    *value = Value::from(value.as_f64().unwrap() + 1e-3);

    let reports = replay(&json);
    assert!(!reports[trace].ok(TOLERANCE));
    assert!(reports[trace].flags_match());
    assert!((reports[trace].max_observation_error - 1e-3).abs() < 1e-6);
    assert!(reports.iter().enumerate().all(|(i, r)| i == trace || r.ok(TOLERANCE)));
}

#[test]
fn a_corrupted_initial_observation_or_reward_is_detected() {
    let mut json = golden_json();
    let value = &mut json["traces"][9]["initial_observation"][0];
    *value = Value::from(value.as_f64().unwrap() - 1e-3);
    let value = &mut json["traces"][13]["rewards"][7];
    *value = Value::from(value.as_f64().unwrap() + 1e-3);

    let reports = replay(&json);
    assert!(!reports[9].ok(TOLERANCE) && reports[9].max_observation_error > 9e-4);
    assert!(!reports[13].ok(TOLERANCE) && reports[13].max_reward_error > 9e-4);
}

#[test]
fn a_flipped_flag_is_detected() {
    let mut json = golden_json();
    for (trace, flags, step) in [(1, "terminated", 3), (17, "truncated", 199)] {
        let flag = &mut json["traces"][trace][flags][step];
        *flag = Value::from(!flag.as_bool().unwrap());
    }

    let reports = replay(&json);
    assert_eq!(reports[1].first_flag_mismatch, Some(3));
    assert_eq!(reports[17].first_flag_mismatch, Some(199));
    assert!(!reports[1].ok(TOLERANCE) && !reports[17].ok(TOLERANCE));
    assert!(reports[1].max_observation_error <= TOLERANCE, "only the flag was changed");
}

#[test]
fn malformed_traces_are_errors() {
    let mut json = golden_json();
    json["traces"][2]["env"] = Value::from("CartPole-v9");
    let err = replay_traces(&json.to_string()).unwrap_err();
    assert!(err.contains("CartPole-v9"), "{err}");

    let mut json = golden_json();
    json["traces"][4]["rewards"].as_array_mut().unwrap().pop();
    let err = replay_traces(&json.to_string()).unwrap_err();
    assert!(err.contains("rewards"), "{err}");

    let mut json = golden_json();
    json["traces"][0]["actions"][0] = Value::from(2);
    let err = replay_traces(&json.to_string()).unwrap_err();
    assert!(err.contains("step 0"), "{err}");

    let err = replay_file(Path::new("/nonexistent/traces.json")).unwrap_err();
    assert!(err.contains("/nonexistent/traces.json"), "{err}");
}
