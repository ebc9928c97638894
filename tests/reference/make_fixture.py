#!/usr/bin/env python3
"""Reference numbers for `tests/reference.rs`, computed with PyTorch (float64).

Run by hand from the repository root, then commit the JSON it writes:

    python3 tests/reference/make_fixture.py

It writes tests/reference/fixture.json (byte-identical on every run with the same torch and
numpy). Needs `torch` (any recent CPU or CUDA build; nothing runs on a GPU) and `numpy`.

What it builds is the Rust learner's network, in PyTorch:

- a categorical MLP policy (src/policy/categorical.rs): Linear → tanh → … → Linear → logits,
  log-probabilities and entropy as `torch.distributions.Categorical`;
- an MLP critic (src/value.rs) of the same shape with one output;
- weights and inputs drawn once here from a fixed numpy seed, rounded to float32 (what the Rust
  side computes in) and written into the JSON, so the Rust test loads the very same numbers.
  Weights are stored in PyTorch's layout, `weight[out][in]`; burn's `Linear` stores `[in, out]`,
  so the Rust test transposes them (and every gradient and updated weight compared).

and it records:

- PPO (CleanRL's ppo.py) on one minibatch: new log-probs, entropies and values; the policy loss
  (with per-minibatch advantage normalisation, unbiased std + 1e-8, and without it), the value
  loss clipped and unclipped, the entropy, approx-KL, clip fraction and total loss; every
  parameter's gradient and the global gradient norm before clipping; every parameter after one
  and after two steps of `torch.optim.Adam(lr, eps=1e-5)` with
  `torch.nn.utils.clip_grad_norm_(…, max_grad_norm)` (the second step recomputes the loss on
  the same minibatch, as a second epoch would).
- GRPO (TRL's GRPOTrainer._compute_loss, on a padded (T, G) batch with ragged lengths) for each
  loss_type grpo, bnpo, dr_grpo, dapo: the loss, every gradient, the gradient norm, and every
  parameter after one Adam step (eps 1e-8, as src/grpo.rs builds its optimiser), with a k3 KL
  penalty (beta > 0) to a reference policy of other weights and DAPO's clip-higher
  (epsilon_high > epsilon). Padded cells hold a zero observation and action 0, old log-prob 0
  and advantage 0, as src/rollout.rs's stack_and_pad and src/grpo.rs's group_advantages leave
  them. The masked diagnostics (entropy, approx-KL, clip fraction, KL) are recorded too.

The inputs are chosen so that every branch is taken: ratios below 1-ε and above 1+ε with
advantages of both signs (the clipped term wins in some cells, the unclipped in others), ratios
between 1+ε and 1+ε_high for GRPO, value predictions moved past ±clip_coef both ways with the
clipped and the unclipped value error each the larger somewhere. The script asserts all of this,
and that the recorded numbers are far (≫ the Rust test's 1e-5 tolerance) from what the usual
mistakes would give, before writing anything.
"""

import json
import math
import os
import sys

import numpy as np
import torch
from torch.distributions import Categorical

torch.set_default_dtype(torch.float64)

SEED = 20240611
OBS_DIM, WIDTH, DEPTH, ACTIONS = 4, 8, 2, 3

PPO = dict(
    batch=12,
    clip_coef=0.2,
    ent_coef=0.05,
    vf_coef=0.5,
    max_grad_norm=0.5,
    learning_rate=1e-2,
    adam_eps=1e-5,
)
GRPO = dict(
    lengths=[5, 2, 4, 3],  # T = 5, G = 4, 14 valid steps
    horizon=6,  # max_completion_length (Dr. GRPO's constant), > T on purpose
    batch_valid_steps=20,  # DAPO's normaliser: the valid steps of the whole generation batch
    beta=0.1,
    epsilon=0.2,
    epsilon_high=0.28,
    max_grad_norm=0.2,  # below the gradient norms, so that the clipping acts
    learning_rate=1e-2,
    adam_eps=1e-8,
)
LOSS_TYPES = ["grpo", "bnpo", "dr_grpo", "dapo"]
# TRL's newer objectives, each a case with the settings it changes (the others as GRPO above).
VARIANTS = {
    "cispo": dict(loss_type="cispo", epsilon_high=1.3),
    "sapo": dict(loss_type="sapo", sapo_temperature_pos=1.0, sapo_temperature_neg=1.05),
    "gspo": dict(loss_type="grpo", importance_sampling_level="sequence"),
    "delta": dict(loss_type="dapo", delta=1.3),
    "entropy_coef": dict(loss_type="bnpo", entropy_coef=0.05),
}

rng = np.random.default_rng(SEED)


def f32(x):
    """Round to float32 (what the fixture stores and Rust computes with), back as float64."""
    return np.asarray(x, dtype=np.float32).astype(np.float64)


def tolist(x):
    if isinstance(x, torch.Tensor):
        x = x.detach().numpy()
    return np.asarray(x, dtype=np.float64).tolist()


# ---------------------------------------------------------------------------------------------
# Networks


def layer_sizes(inp, out):
    return [inp] + [WIDTH] * DEPTH + [out]


def draw_layers(sizes, head_scale):
    """Weights (out, in) and biases, float32-exact. Hidden layers ~ N(0, 1/in); the head scaled
    by `head_scale`; biases ~ N(0, 0.1²) (non-zero, unlike CleanRL's init, so that they count)."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        scale = (head_scale if i == len(sizes) - 2 else 1.0) / math.sqrt(a)
        layers.append(
            dict(weight=f32(rng.normal(0.0, scale, (b, a))), bias=f32(rng.normal(0.0, 0.1, b)))
        )
    return layers


class Mlp(torch.nn.Module):
    """src/nn.rs's Mlp: Linear layers with tanh between them, none after the last."""

    def __init__(self, layers):
        super().__init__()
        self.layers = torch.nn.ModuleList()
        for layer in layers:
            out, inp = layer["weight"].shape
            lin = torch.nn.Linear(inp, out)
            with torch.no_grad():
                lin.weight.copy_(torch.tensor(layer["weight"]))
                lin.bias.copy_(torch.tensor(layer["bias"]))
            self.layers.append(lin)

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.tanh(x)
        return x


class Agent(torch.nn.Module):
    """CleanRL's Agent: actor (logits) and critic; parameters in the Rust visiting order."""

    def __init__(self, actor, critic=None):
        super().__init__()
        self.actor = Mlp(actor)
        self.critic = Mlp(critic) if critic is not None else None

    def get_value(self, x):
        return self.critic(x).squeeze(-1)

    def evaluate(self, x, action):
        dist = Categorical(logits=self.actor(x))
        return dist.log_prob(action), dist.entropy()


def layers_of(mlp):
    return [dict(weight=tolist(l.weight), bias=tolist(l.bias)) for l in mlp.layers]


def grads_of(mlp):
    return [dict(weight=tolist(l.weight.grad), bias=tolist(l.bias.grad)) for l in mlp.layers]


def flat_params(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def flat_grads(model):
    return torch.cat([p.grad.detach().reshape(-1) for p in model.parameters()])


def adam_step(model, loss, lr, eps, max_grad_norm, optimizer=None):
    """CleanRL's step: backward, clip the global norm, Adam. Returns (pre-clip norm, optimizer)."""
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, eps=eps)
    optimizer.zero_grad()
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    return float(norm), optimizer


def away_from(values, edges, margin, what):
    for v in np.asarray(values).reshape(-1):
        for e in edges:
            assert abs(v - e) > margin, f"{what}: {v} is within {margin} of {e}"


# Differences from the recorded numbers that the Rust test must be able to see.
SEE = 1e-3


def differs(a, b, what):
    d = float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))
    assert d > SEE, f"the fixture cannot tell {what} (max difference {d:.2e})"


# ---------------------------------------------------------------------------------------------
# PPO: one minibatch, CleanRL's ppo.py


def ppo_loss(agent, mb, c, norm_adv=True, clip_vloss=True, sign=1.0, ent_sign=1.0, maxf=torch.max):
    """CleanRL ppo.py's minibatch loss. The keyword arguments other than norm_adv and
    clip_vloss only exist to check that the fixture detects those mistakes."""
    newlogprob, entropy = agent.evaluate(mb["obs"], mb["actions"])
    newvalue = agent.get_value(mb["obs"])
    logratio = newlogprob - mb["logprobs"]
    ratio = logratio.exp()
    with torch.no_grad():
        approx_kl = ((ratio - 1) - logratio).mean()
        clipfrac = ((ratio - 1.0).abs() > c["clip_coef"]).double().mean()
    mb_advantages = mb["advantages"]
    if norm_adv:
        mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)
    pg_loss1 = -mb_advantages * ratio
    pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - c["clip_coef"], 1 + c["clip_coef"])
    pg_loss = sign * maxf(pg_loss1, pg_loss2).mean()
    if clip_vloss:
        v_loss_unclipped = (newvalue - mb["returns"]) ** 2
        v_clipped = mb["values"] + torch.clamp(
            newvalue - mb["values"], -c["clip_coef"], c["clip_coef"]
        )
        v_loss_clipped = (v_clipped - mb["returns"]) ** 2
        v_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
    else:
        v_loss = 0.5 * ((newvalue - mb["returns"]) ** 2).mean()
    entropy_loss = entropy.mean()
    loss = pg_loss - ent_sign * c["ent_coef"] * entropy_loss + v_loss * c["vf_coef"]
    return dict(
        loss=loss,
        policy_loss=pg_loss,
        value_loss=v_loss,
        entropy=entropy_loss,
        approx_kl=approx_kl,
        clip_fraction=clipfrac,
        new_log_probs=newlogprob,
        entropies=entropy,
        new_values=newvalue,
        ratio=ratio,
    )


def make_ppo():
    c = PPO
    n = c["batch"]
    actor = draw_layers(layer_sizes(OBS_DIM, ACTIONS), head_scale=1.0)
    critic = draw_layers(layer_sizes(OBS_DIM, 1), head_scale=1.0)
    agent = Agent(actor, critic)
    obs = f32(rng.normal(0.0, 1.0, (n, OBS_DIM)))
    actions = rng.integers(0, ACTIONS, n)
    with torch.no_grad():
        new_lp, _ = agent.evaluate(torch.tensor(obs), torch.tensor(actions))
        new_v = agent.get_value(torch.tensor(obs)).numpy()
    new_lp = new_lp.numpy()
    # Old log-probs placing the ratios where we want them: both sides of [1-ε, 1+ε] and inside.
    ratios = np.array([0.55, 0.7, 1.45, 1.3, 0.9, 1.1, 0.62, 1.6, 0.75, 1.25, 1.0, 0.97])
    logprobs = f32(new_lp - np.log(ratios))
    # Advantages with both signs at both clipped ends (the mean is near zero, so normalising
    # keeps the signs).
    signs = np.array([1, -1, 1, -1, 1, -1, -1, 1, 1, -1, -1, 1])
    advantages = f32(signs * rng.uniform(0.3, 2.0, n))
    # Old values such that the new ones moved past ±clip_coef both ways, and inside.
    moved = np.array([0.5, -0.45, 0.3, -0.35, 0.1, -0.05, 0.6, -0.7, 0.15, -0.12, 0.4, -0.25])
    values = f32(new_v - moved)
    # Returns well below: where the value moved away from its return by more than clip_coef the
    # unclipped error is the larger, where it moved towards it the clipped one. The errors add
    # up to a gradient norm well above max_grad_norm.
    returns = f32(values - rng.uniform(2.0, 6.0, n))
    mb = dict(
        obs=torch.tensor(obs),
        actions=torch.tensor(actions),
        logprobs=torch.tensor(logprobs),
        advantages=torch.tensor(advantages),
        returns=torch.tensor(returns),
        values=torch.tensor(values),
    )

    out = ppo_loss(agent, mb, c)
    # Every branch is taken.
    r = out["ratio"].detach().numpy()
    away_from(r, [1 - c["clip_coef"], 1 + c["clip_coef"]], 1e-3, "PPO ratio")
    adv_n = (advantages - advantages.mean()) / (advantages.std(ddof=1) + 1e-8)
    assert (np.sign(adv_n) == signs).all(), "normalising flipped an advantage's sign"
    lo, hi = r < 1 - c["clip_coef"], r > 1 + c["clip_coef"]
    for side in (lo, hi):
        assert (side & (adv_n > 0)).any() and (side & (adv_n < 0)).any()
    nv = out["new_values"].detach().numpy()
    away_from(nv - values, [-c["clip_coef"], c["clip_coef"]], 1e-3, "PPO value move")
    v_clipped = values + np.clip(nv - values, -c["clip_coef"], c["clip_coef"])
    moved_far = np.abs(nv - values) > c["clip_coef"]
    uncl, cl = (nv - returns) ** 2, (v_clipped - returns) ** 2
    assert (moved_far & (cl > uncl + 1e-3)).any() and (moved_far & (uncl > cl + 1e-3)).any()

    # Without normalisation, without value clipping (the loss parts only).
    raw = ppo_loss(agent, mb, c, norm_adv=False)
    unclipped = ppo_loss(agent, mb, c, clip_vloss=False)

    # Mistakes the fixture must see (each through at least one recorded number).
    differs(raw["policy_loss"].item(), out["policy_loss"].item(), "dropping norm_adv")
    differs(unclipped["value_loss"].item(), out["value_loss"].item(), "dropping value clipping")
    differs(
        ppo_loss(agent, mb, c, maxf=torch.min)["policy_loss"].item(),
        out["policy_loss"].item(),
        "min instead of max",
    )
    differs(
        ppo_loss(agent, mb, c, ent_sign=-1.0)["loss"].item(), out["loss"].item(), "entropy sign"
    )

    loss = out["loss"]
    agent.zero_grad()
    loss.backward(retain_graph=True)
    grads = dict(actor=grads_of(agent.actor), critic=grads_of(agent.critic))
    g = flat_grads(agent).numpy()
    assert np.abs(g).min() > 1e-5, f"a gradient element is tiny ({np.abs(g).min():.1e})"

    # Adam without clipping: does the fixture see it? (Adam is scale-invariant but for eps.)
    probe = Agent(actor, critic)
    probe_norm, _ = adam_step(
        probe, ppo_loss(probe, mb, c)["loss"], c["learning_rate"], c["adam_eps"], math.inf
    )

    grad_norm, opt = adam_step(agent, loss, c["learning_rate"], c["adam_eps"], c["max_grad_norm"])
    assert grad_norm > 2 * c["max_grad_norm"], f"grad norm {grad_norm} barely clipped"
    differs(flat_params(probe), flat_params(agent), "Adam without gradient clipping")
    differs(flat_params(agent), flat_params(Agent(actor, critic)), "no Adam step")
    after_one = dict(actor=layers_of(agent.actor), critic=layers_of(agent.critic))
    second = ppo_loss(agent, mb, c)
    grad_norm_2, _ = adam_step(
        agent, second["loss"], c["learning_rate"], c["adam_eps"], c["max_grad_norm"], opt
    )
    after_two = dict(actor=layers_of(agent.actor), critic=layers_of(agent.critic))

    return dict(
        config={k: v for k, v in c.items() if k != "batch"} | dict(norm_adv=True, clip_vloss=True),
        actor=[dict(weight=tolist(l["weight"]), bias=tolist(l["bias"])) for l in actor],
        critic=[dict(weight=tolist(l["weight"]), bias=tolist(l["bias"])) for l in critic],
        batch=dict(
            observations=tolist(obs),
            actions=[int(a) for a in actions],
            log_probs=tolist(logprobs),
            advantages=tolist(advantages),
            returns=tolist(returns),
            values=tolist(values),
        ),
        expected=dict(
            new_log_probs=tolist(out["new_log_probs"]),
            entropies=tolist(out["entropies"]),
            new_values=tolist(out["new_values"]),
            ratios=tolist(out["ratio"]),
            policy_loss=out["policy_loss"].item(),
            policy_loss_without_norm_adv=raw["policy_loss"].item(),
            value_loss=out["value_loss"].item(),
            value_loss_unclipped=unclipped["value_loss"].item(),
            loss_unclipped_value=unclipped["loss"].item(),
            entropy=out["entropy"].item(),
            approx_kl=out["approx_kl"].item(),
            clip_fraction=out["clip_fraction"].item(),
            loss=out["loss"].item(),
            gradients=grads,
            grad_norm=grad_norm,
            after_one_step=after_one,
            second_loss=second["loss"].item(),
            grad_norm_second_step=grad_norm_2,
            after_two_steps=after_two,
        ),
    )


# ---------------------------------------------------------------------------------------------
# GRPO: one padded (T, G) minibatch, TRL's GRPOTrainer._compute_loss


def grpo_loss(policy, b, c, loss_type, eps_high=None, kl_sign=1.0, variant=None):
    """TRL's per-token loss in its (G, T) layout (rows are trajectories), masked; `variant`
    holds the settings of TRL's newer objectives (importance_sampling_level, delta, cispo, sapo,
    entropy_coef)."""
    v = variant or {}
    eps_high = v.get("epsilon_high", c["epsilon_high"]) if eps_high is None else eps_high
    steps, g = b["mask"].shape
    logp, ent = policy.evaluate(b["obs"].reshape(steps * g, OBS_DIM), b["actions"].reshape(-1))
    logp, ent = logp.reshape(steps, g).T, ent.reshape(steps, g).T
    old, ref, adv, mask = b["logprobs"].T, b["ref_logprobs"].T, b["advantages"].T, b["mask"].T
    log_ratio = logp - old
    if v.get("importance_sampling_level", "token") == "sequence":
        # GSPO: one weight per trajectory, the masked mean of its log-ratios.
        log_weights = ((log_ratio * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).unsqueeze(-1)
    else:
        log_weights = log_ratio
    coef_1 = torch.exp(log_weights)
    if loss_type == "cispo":
        per_token_loss = -torch.clamp(coef_1, max=eps_high).detach() * adv * logp
    elif loss_type == "sapo":
        tau = torch.where(adv > 0, v["sapo_temperature_pos"], v["sapo_temperature_neg"])
        per_token_loss = -torch.sigmoid(tau * (coef_1 - 1)) * 4 / tau * adv
    else:
        coef_2 = torch.clamp(coef_1, 1 - c["epsilon"], 1 + eps_high)
        capped = torch.clamp(coef_1, max=v["delta"]) if "delta" in v else coef_1
        per_token_loss = -torch.min(capped * adv, coef_2 * adv)
    per_token_kl = torch.exp(ref - logp) - (ref - logp) - 1
    per_token_loss = per_token_loss + kl_sign * c["beta"] * per_token_kl
    masked = per_token_loss * mask
    if loss_type in ("grpo", "sapo"):
        loss = (masked.sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    elif loss_type == "bnpo":
        loss = masked.sum() / mask.sum().clamp(min=1.0)
    elif loss_type == "dr_grpo":
        loss = masked.sum() / (per_token_loss.size(0) * c["horizon"])
    elif loss_type in ("dapo", "cispo"):
        loss = masked.sum() / c["batch_valid_steps"]
    else:
        raise ValueError(loss_type)
    if v.get("entropy_coef", 0.0) > 0:
        # TRL's bonus: the mean entropy per valid step (a global token count for dapo/cispo).
        count = c["batch_valid_steps"] if loss_type in ("dapo", "cispo") else mask.sum().clamp(min=1.0)
        loss = loss - v["entropy_coef"] * (ent * mask).sum() / count

    def masked_mean(x):
        return ((x * mask).sum() / mask.sum()).item()

    with torch.no_grad():
        log_ratio = logp - old
        r = torch.exp(log_ratio)  # per step, whatever the importance-sampling level
        clipped = ((r < 1 - c["epsilon"]) | (r > 1 + eps_high)).double()
        diagnostics = dict(
            entropy=masked_mean(ent),
            approx_kl=masked_mean((log_ratio.exp() - 1) - log_ratio),
            clip_fraction=masked_mean(clipped),
            kl=masked_mean(per_token_kl),
        )
    return loss, diagnostics, torch.exp(log_ratio).T, logp.T


def grpo_case(model, loss, diagnostics, c, **extra):
    """One GRPO case as recorded: the loss, every gradient, the norm before clipping and the
    parameters after one Adam step; with the flat gradient, for checks."""
    model.zero_grad()
    loss.backward(retain_graph=True)
    grads = grads_of(model.actor)
    flat = flat_grads(model).numpy()
    grad_norm, _ = adam_step(model, loss, c["learning_rate"], c["adam_eps"], c["max_grad_norm"])
    case = dict(loss=loss.item(), gradients=grads, grad_norm=grad_norm, after_one_step=layers_of(model.actor))
    return dict(case, **extra, **diagnostics), flat


def make_grpo():
    c = GRPO
    lengths = c["lengths"]
    steps, g = max(lengths), len(lengths)
    mask = np.array([[1.0 if t < lengths[j] else 0.0 for j in range(g)] for t in range(steps)])
    valid = mask > 0
    policy_layers = draw_layers(layer_sizes(OBS_DIM, ACTIONS), head_scale=1.0)
    reference_layers = draw_layers(layer_sizes(OBS_DIM, ACTIONS), head_scale=1.0)
    policy, reference = Agent(policy_layers), Agent(reference_layers)

    # Padded cells: zero observation, action 0 (stack_and_pad).
    obs = f32(rng.normal(0.0, 1.0, (steps, g, OBS_DIM))) * valid[:, :, None]
    actions = rng.integers(0, ACTIONS, (steps, g)) * valid
    obs_t, act_t = torch.tensor(obs), torch.tensor(actions)
    with torch.no_grad():
        new_lp, _ = policy.evaluate(obs_t.reshape(-1, OBS_DIM), act_t.reshape(-1))
        # The reference scores the whole padded batch, as Grpo::update does.
        ref_lp, _ = reference.evaluate(obs_t.reshape(-1, OBS_DIM), act_t.reshape(-1))
    new_lp, ref_lp = new_lp.numpy().reshape(steps, g), f32(ref_lp.numpy().reshape(steps, g))
    # Ratios below 1-ε, inside, between 1+ε and 1+ε_high, above 1+ε_high (column-major over
    # the valid cells).
    targets = iter([0.6, 1.4, 1.24, 0.9, 1.1, 0.7, 1.35, 1.22, 1.05, 0.76, 1.5, 0.95, 1.26, 0.65])
    ratios = np.ones((steps, g))
    for j in range(g):
        for t in range(lengths[j]):
            ratios[t, j] = next(targets)
    logprobs = f32(np.where(valid, new_lp - np.log(ratios), 0.0))
    # Per-step advantages of both signs (process-reward style), 0 in padding.
    signs = np.array(
        [[1, -1, -1, 1], [-1, 1, 1, -1], [1, 0, -1, 1], [-1, 0, 1, 0], [1, 0, 0, 0]]
    )
    advantages = f32(signs * rng.uniform(0.3, 1.5, (steps, g))) * valid
    b = dict(
        obs=obs_t,
        actions=act_t,
        logprobs=torch.tensor(logprobs),
        ref_logprobs=torch.tensor(ref_lp),
        advantages=torch.tensor(advantages),
        mask=torch.tensor(mask),
    )

    r = ratios[valid]
    # Away from every edge, ε_high's mirror 1-ε_high included (so that swapping the two is seen).
    edges = [1 - c["epsilon_high"], 1 - c["epsilon"], 1 + c["epsilon"], 1 + c["epsilon_high"]]
    away_from(r, edges, 1e-3, "GRPO ratio")
    assert ((r < 1 - c["epsilon"]) & (r > 1 - c["epsilon_high"])).any()
    for side in (r < 1 - c["epsilon"], r > 1 + c["epsilon_high"]):
        assert (side & (advantages[valid] > 0)).any() and (side & (advantages[valid] < 0)).any()
    assert ((r > 1 + c["epsilon"]) & (r < 1 + c["epsilon_high"]) & (advantages[valid] > 0)).any()

    cases = {}
    for loss_type in LOSS_TYPES:
        model = Agent(policy_layers)
        loss, diagnostics, ratio, logp = grpo_loss(model, b, c, loss_type)
        assert np.allclose(ratio.detach().numpy()[valid], r, rtol=1e-6)
        differs(
            grpo_loss(Agent(policy_layers), b, c, loss_type, eps_high=c["epsilon"])[0].item(),
            loss.item(),
            f"{loss_type}: epsilon_high ignored",
        )
        differs(
            grpo_loss(Agent(policy_layers), b, c, loss_type, kl_sign=-1.0)[0].item(),
            loss.item(),
            f"{loss_type}: KL sign",
        )
        cases[loss_type], gr = grpo_case(model, loss, diagnostics, c)
        assert np.abs(gr).min() > 1e-5, f"{loss_type}: tiny gradient ({np.abs(gr).min():.1e})"
    losses = [cases[k]["loss"] for k in LOSS_TYPES]
    for i in range(len(losses)):
        for j in range(i):
            differs(losses[i], losses[j], f"{LOSS_TYPES[i]} from {LOSS_TYPES[j]}")
    for name, variant in VARIANTS.items():
        model = Agent(policy_layers)
        loss, diagnostics, _, _ = grpo_loss(model, b, c, variant["loss_type"], variant=variant)
        plain = cases.get(variant["loss_type"], {}).get("loss")
        if plain is not None:
            differs(loss.item(), plain, f"{name} from plain {variant['loss_type']}")
        cases[name], _ = grpo_case(model, loss, diagnostics, c, config=variant)

    return dict(
        config={k: v for k, v in c.items() if k not in ("lengths", "horizon", "batch_valid_steps")},
        horizon=c["horizon"],
        batch_valid_steps=c["batch_valid_steps"],
        lengths=lengths,
        policy=[dict(weight=tolist(l["weight"]), bias=tolist(l["bias"])) for l in policy_layers],
        reference=[dict(weight=tolist(l["weight"]), bias=tolist(l["bias"])) for l in reference_layers],
        batch=dict(
            observations=tolist(obs),
            actions=[[int(a) for a in row] for row in actions],
            log_probs=tolist(logprobs),
            advantages=tolist(advantages),
            mask=tolist(mask),
        ),
        expected=dict(
            log_probs=tolist(logp),
            ref_log_probs=tolist(ref_lp),
            ratios=tolist(ratio),
            cases=cases,
        ),
    )


def main():
    fixture = dict(
        about="PyTorch reference for tests/reference.rs; regenerate with "
        "`python3 tests/reference/make_fixture.py` (see tests/reference/README.md). "
        "Weights and gradients are PyTorch-shaped: weight[out][in].",
        torch=torch.__version__.split("+")[0],
        numpy=np.__version__,
        seed=SEED,
        sizes=dict(obs_dim=OBS_DIM, width=WIDTH, depth=DEPTH, actions=ACTIONS),
    )
    fixture["ppo"] = make_ppo()
    fixture["grpo"] = make_grpo()
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixture.json")
    with open(path, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.relpath(path)}", file=sys.stderr)


if __name__ == "__main__":
    main()
