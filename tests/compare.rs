//! `pvg compare` and `pvg report`: each run of a comparison is exactly `pvg train` with its seed,
//! whatever `--jobs`, and a report over the runs' files prints the comparison's table.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const PVG: &str = env!("CARGO_BIN_EXE_pvg");
const EXPERIMENT: [&str; 4] = ["--env", "CartPole-v1", "--total-steps", "8192"];

fn pvg(args: &[&str]) -> String {
    let out = Command::new(PVG).args(args).output().expect("pvg runs");
    assert!(out.status.success(), "pvg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A run's JSON lines without what depends on the clock.
fn lines(path: &Path) -> Vec<Value> {
    let timed = ["wall_s", "sps", "rollout_s", "advantage_s", "update_s", "cpu_copy_s"];
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            for k in timed {
                v.as_object_mut().unwrap().remove(k);
            }
            v
        })
        .collect()
}

#[test]
fn each_run_of_a_comparison_is_pvg_train_with_its_seed_whatever_the_jobs_and_report_reprints_its_table() {
    let (one, two) = (dir("compare-jobs-1"), dir("compare-jobs-2"));
    let run = |d: &Path, jobs: &str| {
        let mut args = vec!["compare", "--seeds", "3-4", "--jobs", jobs, "--out-dir", d.to_str().unwrap()];
        args.extend(EXPERIMENT);
        pvg(&args)
    };
    let table = run(&one, "1");
    run(&two, "2");
    let alone = dir("train-alone");
    std::fs::create_dir_all(&alone).unwrap();
    for algo in ["ppo", "grpo"] {
        let file = format!("{algo}-seed4.jsonl");
        let path = alone.join(&file);
        let mut args = vec!["train", "--algo", algo, "--seed", "4", "--out", path.to_str().unwrap()];
        args.extend(EXPERIMENT);
        pvg(&args);
        let expected = lines(&path);
        assert!(expected.len() > 2, "{algo}: updates and a final line");
        assert_eq!(lines(&one.join(&file)), expected, "{algo}: --jobs 1 against pvg train");
        assert_eq!(lines(&two.join(&file)), expected, "{algo}: --jobs 2 against pvg train");
        let last = expected.last().unwrap();
        assert_eq!((last["algo"].as_str(), last["seed"].as_u64()), (Some(algo), Some(4)));
        assert_eq!(last["env"], "CartPole-v1");
        assert!(last["experiment"].as_str().unwrap().contains("total_steps=8192"), "{last}");
        assert!(last["version"].is_u64() && last["commit"].is_string());
    }
    // The same table from the files, and from the other --jobs.
    let files: Vec<String> = ["ppo-seed3", "grpo-seed3", "ppo-seed4", "grpo-seed4"]
        .iter()
        .map(|f| one.join(format!("{f}.jsonl")).to_str().unwrap().to_string())
        .collect();
    let mut args = vec!["report"];
    args.extend(files.iter().map(String::as_str));
    assert_eq!(pvg(&args).trim(), table.trim(), "report over the runs' files prints compare's table");
    assert!(table.contains("| metric | PPO | GRPO | P(PPO > GRPO) |"), "{table}");
    assert!(table.contains("seeds 3–4"), "{table}");
}

#[test]
fn report_refuses_runs_of_different_experiments_and_files_that_are_not_runs() {
    let d = dir("report-mixed");
    std::fs::create_dir_all(&d).unwrap();
    let a = d.join("a.jsonl");
    let b = d.join("b.jsonl");
    pvg(&["train", "--algo", "grpo", "--env", "CartPole-v1", "--total-steps", "600", "--out", a.to_str().unwrap()]);
    pvg(&["train", "--algo", "ppo", "--env", "CartPole-v1", "--total-steps", "700", "--out", b.to_str().unwrap()]);
    let out = Command::new(PVG).args(["report", a.to_str().unwrap(), b.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("different experiments"), "{out:?}");
    let junk = d.join("junk.jsonl");
    std::fs::write(&junk, "not json\n").unwrap();
    let out = Command::new(PVG).args(["report", junk.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("junk.jsonl: line 1"), "{out:?}");
    let out = Command::new(PVG).args(["compare", "--seeds", "5-2"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a list of seeds"), "{out:?}");
}

#[test]
fn a_run_without_a_final_evaluation_says_so_and_reports_no_mean() {
    let d = dir("no-final-evaluation");
    std::fs::create_dir_all(&d).unwrap();
    let path = d.join("grpo.jsonl");
    let mut args = vec!["train", "--algo", "grpo", "--eval-episodes", "0", "--out", path.to_str().unwrap()];
    args.extend(EXPERIMENT);
    let out = Command::new(PVG).args(&args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no final evaluation (--eval-episodes 0)"), "{stderr}");
    assert!(!stderr.contains("-0.0"), "{stderr}");
    let last = lines(&path).pop().unwrap();
    assert!(last["eval_mean_return"].is_null() && last["eval_std_return"].is_null(), "{last}");
    assert_eq!(last["eval_episodes"], 0);
}
