//! The algorithms' maths against hand-computed numbers: GAE, group normalisation with masks,
//! the k3 KL, and each GRPO loss aggregation.

use burn::prelude::*;
use playground::config::{GrpoConfig, ImportanceSamplingLevel, LossType, RewardMode, ScaleRewards};
use playground::grpo::{aggregate, group_advantages, kl_k3, policy_objective};
use playground::host;
use playground::ppo::compute_gae;
use playground::rollout::{Padded, Rollout};

fn close(a: &[f32], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        assert!((x as f64 - y).abs() <= tol, "[{i}]: {x} vs {y} (all: {a:?})");
    }
}

fn read<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    pollster::block_on(host::read(t)).unwrap()
}

/// Two envs, five steps. Env 0 terminates at t=1 and is truncated at t=3 (final-observation
/// value 10); env 1 never ends. γ = 0.9, λ = 0.8 (γλ = 0.72).
#[test]
fn gae_cuts_at_termination_and_bootstraps_at_truncation() {
    let interleave =
        |a: [f32; 5], b: [f32; 5]| a.iter().zip(&b).flat_map(|(&x, &y)| [x, y]).collect::<Vec<_>>();
    let flags = |a: [bool; 5]| a.iter().flat_map(|&x| [x, false]).collect::<Vec<_>>();
    let r = Rollout {
        num_steps: 5,
        num_envs: 2,
        obs_dim: 1,
        action_width: 1,
        observations: vec![0.0; 10],
        actions: vec![0.0; 10],
        log_probs: vec![0.0; 10],
        rewards: interleave([1.0, 2.0, 3.0, 4.0, 5.0], [1.0; 5]),
        values: interleave([0.5, 1.0, 1.5, 2.0, 2.5], [0.0; 5]),
        terminated: flags([false, true, false, false, false]),
        truncated: flags([false, false, false, true, false]),
        truncation_values: interleave([0.0, 0.0, 0.0, 10.0, 0.0], [0.0; 5]),
        next_values: vec![3.0, 0.0],
        episodes: vec![],
    };
    let (adv, ret) = compute_gae(&r, 0.9, 0.8);
    // Env 0, by hand, from the end:
    //   t=4: δ = 5 + 0.9·3 − 2.5 = 5.2                      (bootstrap from next_values)
    //   t=3: δ = 4 + 0.9·10 − 2 = 11                         (truncated: V(final obs), cut)
    //   t=2: δ = 3 + 0.9·2 − 1.5 = 3.3;  A = 3.3 + 0.72·11 = 11.22
    //   t=1: δ = 2 + 0 − 1 = 1                               (terminated: no bootstrap, cut)
    //   t=0: δ = 1 + 0.9·1 − 0.5 = 1.4;  A = 1.4 + 0.72·1 = 2.12
    // Env 1: δ = 1 everywhere, A_t = 1 + 0.72·A_{t+1}.
    let env0 = [2.12, 1.0, 11.22, 11.0, 5.2];
    let env1 = [2.880_386_56, 2.611_648, 2.2384, 1.72, 1.0];
    let want: Vec<f64> = env0.iter().zip(&env1).flat_map(|(&a, &b)| [a, b]).collect();
    close(&adv, &want, 1e-5);
    let want_ret: Vec<f64> = want.iter().zip(&r.values).map(|(a, &v)| a + v as f64).collect();
    close(&ret, &want_ret, 1e-5);
}

/// A padded batch from per-trajectory rewards (ragged), one column per trajectory.
fn padded(rewards: &[&[f32]]) -> Padded {
    let g = rewards.len();
    let steps = rewards.iter().map(|r| r.len()).max().unwrap();
    let mut p = Padded {
        steps,
        width: g,
        obs_dim: 1,
        action_width: 1,
        observations: vec![0.0; steps * g],
        actions: vec![0.0; steps * g],
        log_probs: vec![0.0; steps * g],
        rewards: vec![0.0; steps * g],
        mask: vec![0.0; steps * g],
        lengths: rewards.iter().map(|r| r.len()).collect(),
    };
    for (j, r) in rewards.iter().enumerate() {
        for (t, &x) in r.iter().enumerate() {
            p.rewards[t * g + j] = x;
            p.mask[t * g + j] = 1.0;
        }
    }
    p
}

#[test]
fn outcome_advantages_normalise_returns_over_valid_steps_only() {
    // Lengths 3, 1, 2, 2 with reward 1 per step: returns 3, 1, 2, 2; mean 2; unbiased std
    // √(2/3); A = (R − 2) / (√(2/3) + 1e-4) = ±1.2245948897605123 or 0.
    let p = padded(&[&[1.0; 3], &[1.0], &[1.0; 2], &[1.0; 2]]);
    let (adv, stats) = group_advantages(&p, 4, RewardMode::Outcome, ScaleRewards::Group);
    let a = 1.224_594_889_760_512_3;
    #[rustfmt::skip]
    close(&adv, &[
        a, -a, 0.0, 0.0,
        a, 0.0, 0.0, 0.0,
        a, 0.0, 0.0, 0.0,
    ], 1e-6);
    // Padded cells are exactly zero, not merely small.
    for (i, (&x, &m)) in adv.iter().zip(&p.mask).enumerate() {
        if m == 0.0 {
            assert_eq!(x.to_bits(), 0f32.to_bits(), "padded cell {i}");
        }
    }
    assert_eq!(stats.zero_std_groups, 0);
    assert!((stats.return_std[0] - (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
}

#[test]
fn unscaled_advantages_only_subtract_the_group_mean() {
    let p = padded(&[&[1.0; 3], &[1.0], &[1.0; 2], &[1.0; 2]]);
    let (adv, _) = group_advantages(&p, 4, RewardMode::Outcome, ScaleRewards::None);
    close(&adv[..4], &[1.0, -1.0, 0.0, 0.0], 0.0);
}

#[test]
fn process_advantages_sum_normalised_rewards_to_go() {
    // Valid step rewards [1, 3] and [2]: mean 2, unbiased std 1. Normalised: [−k, k] and [0]
    // with k = 1 / 1.0001; rewards-to-go: [0, k] and [0].
    let p = padded(&[&[1.0, 3.0], &[2.0]]);
    let (adv, _) = group_advantages(&p, 2, RewardMode::Process, ScaleRewards::Group);
    let k = 0.999_900_009_999_000_1;
    close(&adv, &[0.0, 0.0, k, 0.0], 1e-6);
}

#[test]
fn a_group_of_equal_rewards_gets_zero_advantage_not_nan() {
    // Two groups of two: the first all equal (returns 2, 2), the second not (1, 3).
    let p = padded(&[&[1.0, 1.0], &[2.0], &[1.0], &[1.0, 2.0]]);
    for mode in [RewardMode::Outcome, RewardMode::Process] {
        for scale in [ScaleRewards::Group, ScaleRewards::Batch, ScaleRewards::None] {
            let (adv, stats) = group_advantages(&p, 2, mode, scale);
            assert!(adv.iter().all(|a| a.is_finite()), "{mode:?} {scale:?}: {adv:?}");
            if mode == RewardMode::Outcome {
                assert_eq!(stats.zero_std_groups, 1);
                for t in 0..p.steps {
                    assert_eq!(adv[t * 4], 0.0);
                    assert_eq!(adv[t * 4 + 1], 0.0);
                }
                assert!(adv[2] < 0.0 && adv[3] > 0.0, "{adv:?}");
            }
        }
    }
    // Process mode: the second group's step rewards [1] and [1, 2] are not all equal.
    let all_equal = padded(&[&[1.0, 1.0], &[1.0]]);
    let (adv, stats) = group_advantages(&all_equal, 2, RewardMode::Process, ScaleRewards::Group);
    assert_eq!(stats.zero_std_groups, 1);
    assert!(adv.iter().all(|&a| a == 0.0));
}

#[test]
fn k3_kl_is_zero_at_the_reference_and_positive_elsewhere() {
    let device = Device::flex();
    let lp = host::vector(vec![-0.1, -1.0, -2.5, -0.7], &device);
    assert!(read(kl_k3(lp.clone(), lp.clone())).iter().all(|&k| k == 0.0));
    let other = host::vector(vec![-0.3, -0.2, -2.5, -3.0], &device);
    let kl = read(kl_k3(lp, other));
    assert!(kl.iter().all(|&k| k >= 0.0), "{kl:?}");
    assert!(kl[0] > 0.0 && kl[3] > 0.0 && kl[2] == 0.0, "{kl:?}");
    // By hand: log r = −0.3 − (−0.1) = −0.2; e^(−0.2) + 0.2 − 1 = 0.018730753.
    assert!((kl[0] as f64 - 0.018_730_753_077_981_9).abs() < 1e-6, "{kl:?}");
}

#[test]
fn each_loss_type_aggregates_valid_cells_as_trl_does() {
    let device = Device::flex();
    // Per-step losses (T=2, G=2) and mask; the padded cell (t=1, g=1) holds 4 and must not count.
    let per_step = host::matrix(vec![1.0, 2.0, 5.0, 4.0], 2, 2, &device);
    let mask = host::matrix(vec![1.0, 1.0, 1.0, 0.0], 2, 2, &device);
    let loss = |t| read(aggregate(per_step.clone(), mask.clone(), t, 4, 6))[0] as f64;
    // grpo: per sequence mean, then mean: ((1+5)/2 + 2/1) / 2 = 2.5
    assert!((loss(LossType::Grpo) - 2.5).abs() < 1e-6);
    // bnpo: all valid cells: (1+2+5)/3
    assert!((loss(LossType::Bnpo) - 8.0 / 3.0).abs() < 1e-6);
    // dr_grpo: sum / (G · max_completion_length) = 8 / (2·4)
    assert!((loss(LossType::DrGrpo) - 1.0).abs() < 1e-6);
    // dapo: sum / valid steps of the whole batch = 8 / 6
    assert!((loss(LossType::Dapo) - 8.0 / 6.0).abs() < 1e-6);
}

/// TRL's policy objectives by hand, on `(T, G) = (2, 2)` with the cell (1, 1) padded:
/// log π = [[−0.5, −1], [−0.2, ·]], log π_old = [[−0.7, −0.9], [−0.2, ·]], so the token-level
/// ratios are r = [[e^0.2, e^−0.1], [1, ·]] = [[1.2214028, 0.9048374], [1, ·]], and
/// A = [[1, −2], [1, ·]].
fn objective(c: &GrpoConfig) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let device = Device::flex().autodiff();
    let log_probs = host::matrix(vec![-0.5, -1.0, -0.2, 0.0], 2, 2, &device).require_grad();
    let old = host::matrix(vec![-0.7, -0.9, -0.2, 0.0], 2, 2, &device);
    let advantages = host::matrix(vec![1.0, -2.0, 1.0, 0.0], 2, 2, &device);
    let mask = host::matrix(vec![1.0, 1.0, 1.0, 0.0], 2, 2, &device);
    let log_ratio = log_probs.clone() - old;
    let (per_step, weights) = policy_objective(log_probs.clone(), log_ratio, advantages, &mask, c);
    let grads = (per_step.clone() * mask).sum().backward();
    let grad = log_probs.grad(&grads).expect("log π gets a gradient");
    (read(per_step.inner()), read(weights.inner()), read(grad))
}

fn near(got: &[f32], want: &[f64], tol: f64, what: &str) {
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!((g as f64 - w).abs() <= tol, "{what}[{i}]: {g} vs {w} (all: {got:?})");
    }
}

#[test]
fn the_clipped_objective_and_two_sided_clipping_by_hand() {
    let c =
        GrpoConfig { loss_type: LossType::Grpo, epsilon: 0.2, epsilon_high: 0.2, ..GrpoConfig::default() };
    let (loss, weights, _) = objective(&c);
    near(&weights[..3], &[1.2214028, 0.9048374, 1.0], 1e-6, "r");
    // (0,0): max(−1.2214, −clip 1.2) = −1.2; (0,1): A < 0, r inside: 2·0.9048; (1,0): −1.
    near(&loss[..3], &[-1.2, 1.8096748, -1.0], 1e-6, "grpo");
    // δ = 1.1 caps the unclipped ratio: (0,0) becomes max(−1.1, −1.2) = −1.1.
    let (loss, _, _) = objective(&GrpoConfig { delta: 1.1, ..c.clone() });
    near(&loss[..3], &[-1.1, 1.8096748, -1.0], 1e-6, "delta");
}

#[test]
fn gspo_uses_one_ratio_per_trajectory_by_hand() {
    let c = GrpoConfig {
        loss_type: LossType::Grpo,
        importance_sampling_level: ImportanceSamplingLevel::Sequence,
        epsilon: 0.2,
        epsilon_high: 0.2,
        ..GrpoConfig::default()
    };
    let (loss, weights, _) = objective(&c);
    // Trajectory 0: mean log-ratio (0.2 + 0)/2 = 0.1 → e^0.1 on both steps; trajectory 1: e^−0.1.
    near(&weights[..3], &[1.1051709, 0.9048374, 1.1051709], 1e-6, "w");
    near(&loss[..3], &[-1.1051709, 1.8096748, -1.1051709], 1e-6, "gspo");
}

#[test]
fn cispo_weights_log_pi_by_a_detached_capped_ratio_by_hand() {
    let c = GrpoConfig { loss_type: LossType::Cispo, epsilon_high: 5.0, ..GrpoConfig::default() };
    let (loss, _, grad) = objective(&c);
    // −min(r, 5)·A·log π: −1.2214·1·(−0.5), −0.9048·(−2)·(−1), −1·1·(−0.2).
    near(&loss[..3], &[0.6107014, -1.8096748, 0.2], 1e-6, "cispo");
    // The weight is a constant: ∂/∂log π = −min(r, 5)·A, nothing through r.
    near(&grad[..3], &[-1.2214028, 1.8096748, -1.0], 1e-6, "cispo gradient");
    assert_eq!(grad[3], 0.0, "the padded cell");
    let (loss, _, grad) = objective(&GrpoConfig { epsilon_high: 1.1, ..c });
    near(&loss[..1], &[0.55], 1e-6, "cispo capped");
    near(&grad[..1], &[-1.1], 1e-6, "cispo capped gradient");
}

#[test]
fn sapo_gates_the_ratio_softly_by_hand() {
    let c = GrpoConfig {
        loss_type: LossType::Sapo,
        sapo_temperature_pos: 1.0,
        sapo_temperature_neg: 1.05,
        ..GrpoConfig::default()
    };
    let (loss, _, _) = objective(&c);
    // −σ(τ(r − 1))·(4/τ)·A with τ = 1 where A > 0, 1.05 where A ≤ 0:
    // (0,0): −σ(0.2214028)·4 = −2.2205028; (0,1): −σ(1.05·(−0.0951626))·(4/1.05)·(−2) = 3.6193568;
    // (1,0): r = 1: −σ(0)·4 = −2.
    near(&loss[..3], &[-2.2205028, 3.6193568, -2.0], 1e-5, "sapo");
}

#[test]
fn cispo_and_sapo_aggregate_as_dapo_and_grpo() {
    let device = Device::flex();
    let per_step = host::matrix(vec![1.0, 2.0, 5.0, 4.0], 2, 2, &device);
    let mask = host::matrix(vec![1.0, 1.0, 1.0, 0.0], 2, 2, &device);
    let loss = |t| read(aggregate(per_step.clone(), mask.clone(), t, 4, 6))[0] as f64;
    assert_eq!(loss(LossType::Cispo), loss(LossType::Dapo));
    assert_eq!(loss(LossType::Sapo), loss(LossType::Grpo));
}

/// TRL's clip-ratio metrics by hand, on the cells of `objective` (r = [[1.2214, 0.9048], [1, ·]],
/// A = [[1, −2], [1, ·]]): a cell counts as clipped low when r < 1 − ε with A < 0, high when
/// r > 1 + ε_high with A > 0 (CISPO: r > ε_high with A > 0), out of the 3 valid cells.
#[test]
fn trl_clip_ratios_by_hand() {
    let device = Device::flex().autodiff();
    let policy = playground::policy::Policy::new(
        4,
        &playground::env::ActionSpace::Discrete(2),
        4,
        0,
        &device,
        &mut <playground::Rng as rand::SeedableRng>::seed_from_u64(0),
    );
    // A minibatch whose policy log-probs are whatever the policy says: the ratios come from the
    // old log-probs chosen relative to them, so build the batch from the policy's own values.
    let obs = host::matrix(vec![0.0; 4 * 4], 4, 4, &device);
    let actions = host::matrix(vec![0.0; 4], 4, 1, &device);
    let (lp, _) =
        playground::policy::StochasticPolicy::evaluate_actions(&policy, obs.clone(), actions.clone());
    let lp = read(lp.inner());
    // Old log-probs so that r = [[e^0.2, e^−0.1], [1, ·]] (the padded cell (1,1) is ignored).
    let old = vec![lp[0] - 0.2, lp[1] + 0.1, lp[2], lp[3]];
    let run = |c: GrpoConfig| {
        let mb = playground::grpo::GrpoMinibatch {
            observations: obs.clone().reshape([2, 2, 4]),
            actions: actions.clone().reshape([2, 2, 1]),
            log_probs: host::matrix(old.clone(), 2, 2, &device),
            ref_log_probs: None,
            advantages: host::matrix(vec![1.0, -2.0, 1.0, 0.0], 2, 2, &device),
            mask: host::matrix(vec![1.0, 1.0, 1.0, 0.0], 2, 2, &device),
        };
        let l = playground::grpo::grpo_loss(&policy, mb, &c, 2, 3);
        l.clip_ratio.map(|t| read(t)[0] as f64)
    };
    // ε = 0.1: (0,0) high-clipped (1 of 3 valid cells); (0,1): r = 0.9048 > 0.9, not low.
    let [low, high, region] = run(GrpoConfig { epsilon: 0.1, epsilon_high: 0.1, ..GrpoConfig::default() });
    assert!((low - 0.0).abs() < 1e-6 && (high - 1.0 / 3.0).abs() < 1e-6 && (region - 1.0 / 3.0).abs() < 1e-6);
    // ε = 0.05: (0,1) is now below 0.95 with A < 0: low-clipped too.
    let [low, high, region] = run(GrpoConfig { epsilon: 0.05, epsilon_high: 0.1, ..GrpoConfig::default() });
    assert!(
        (low - 1.0 / 3.0).abs() < 1e-6
            && (high - 1.0 / 3.0).abs() < 1e-6
            && (region - 2.0 / 3.0).abs() < 1e-6
    );
    // CISPO caps at ε_high itself: only (0,0) (r = 1.22 > 1.1, A > 0) counts, and nothing is low.
    let cispo =
        GrpoConfig { loss_type: LossType::Cispo, epsilon: 0.05, epsilon_high: 1.1, ..GrpoConfig::default() };
    let [low, high, _] = run(cispo);
    assert!(low == 0.0 && (high - 1.0 / 3.0).abs() < 1e-6);
}

/// `scale_rewards`: `group` divides by each group's own std, `batch` by the std of every return
/// in the batch; on a batch of several groups with different spreads they differ, and each
/// matches advantages computed by hand.
#[test]
fn group_scaling_uses_each_groups_std_and_batch_scaling_the_whole_batchs() {
    // One-step trajectories: group A returns 0, 2 (mean 1, std √2); group B 10, 16 (mean 13,
    // std √18). The whole batch 0, 2, 10, 16: mean 7, unbiased std √((49 + 25 + 9 + 81) / 3).
    let p = padded(&[&[0.0], &[2.0], &[10.0], &[16.0]]);
    let eps = 1e-4;
    let (group, _) = group_advantages(&p, 2, RewardMode::Outcome, ScaleRewards::Group);
    let (a, b) = (1.0 / (2f64.sqrt() + eps), 3.0 / (18f64.sqrt() + eps));
    close(&group, &[-a, a, -b, b], 1e-6);
    let (batch, _) = group_advantages(&p, 2, RewardMode::Outcome, ScaleRewards::Batch);
    let s = (164f64 / 3.0).sqrt() + eps;
    close(&batch, &[-1.0 / s, 1.0 / s, -3.0 / s, 3.0 / s], 1e-6);
    // The two disagree here (they agree on a batch of one group, as the other tests use).
    assert!((group[0] - batch[0]).abs() > 0.5, "{group:?} against {batch:?}");
}
