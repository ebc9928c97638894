"""Time the gradient phase of one PPO update in PyTorch on the CPU.

A peer benchmark for the Rust/burn project: one update has the shape the project
uses for CartPole-v1 (8 envs x 32 steps = 256 transitions, 20 epochs, 1 minibatch)
and follows the recipe of CleanRL's ppo.py: per-minibatch advantage normalisation,
clipped surrogate, clipped value loss, entropy bonus, global grad-norm clipping,
one Adam over actor and critic, and approx-KL / clip-fraction metrics read with
.item() once at the end of the update.

Rollout collection and GAE are not timed; the batch is random data made once.
On a loaded machine, several torch threads can spin in OpenMP waits and run ~40x
slower; use --threads 1 or set OMP_WAIT_POLICY=PASSIVE there.

    python bench/ppo_update_torch.py                # Markdown table
    python bench/ppo_update_torch.py --threads 1 --json
"""
import argparse
import json
import math
import statistics
import time

import torch
from torch import nn

OBS_DIM, N_ACTIONS = 4, 2
LR, ADAM_EPS = 1e-3, 1e-5
CLIP, VF_COEF, ENT_COEF, MAX_GRAD_NORM = 0.2, 0.5, 0.0, 0.5


def mlp(width, out, head_gain):
    """Linear-tanh-Linear-tanh-Linear, orthogonal weights, zero biases."""
    layers = [nn.Linear(OBS_DIM, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(), nn.Linear(width, out)]
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    for i, lin in enumerate(linears):
        nn.init.orthogonal_(lin.weight, head_gain if i == len(linears) - 1 else math.sqrt(2))
        nn.init.zeros_(lin.bias)
    return nn.Sequential(*layers)


def make_agent(width, seed):
    torch.manual_seed(seed)
    actor, critic = mlp(width, N_ACTIONS, 0.01), mlp(width, 1, 1.0)
    params = list(actor.parameters()) + list(critic.parameters())
    return actor, critic, params, torch.optim.Adam(params, lr=LR, eps=ADAM_EPS)


def make_batch(n, width, seed=0):
    """Random transitions; old log-probs come from run 0's initial policy."""
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, OBS_DIM, generator=g)
    actions = torch.randint(0, N_ACTIONS, (n,), generator=g)
    advantages = torch.randn(n, generator=g)
    values = torch.randn(n, generator=g)
    actor = make_agent(width, 0)[0]
    with torch.no_grad():
        logp = torch.distributions.Categorical(logits=actor(obs)).log_prob(actions)
    return dict(obs=obs, actions=actions, logp=logp, adv=advantages, values=values, returns=advantages + values)


def ppo_update(actor, critic, params, opt, b, epochs, minibatches, gen):
    n = b["obs"].shape[0]
    mb_size = n // minibatches
    kls, clipfracs = [], []
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for start in range(0, n, mb_size):
            idx = perm[start:start + mb_size]
            dist = torch.distributions.Categorical(logits=actor(b["obs"][idx]))
            new_logp, entropy = dist.log_prob(b["actions"][idx]), dist.entropy()
            new_values = critic(b["obs"][idx]).squeeze(-1)
            log_ratio = new_logp - b["logp"][idx]
            ratio = log_ratio.exp()
            with torch.no_grad():
                kls.append(((ratio - 1) - log_ratio).mean())
                clipfracs.append(((ratio - 1).abs() > CLIP).float().mean())

            adv = b["adv"][idx]
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)  # torch.std is unbiased
            pg_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - CLIP, 1 + CLIP)).mean()

            ret, old_v = b["returns"][idx], b["values"][idx]
            v_clipped = old_v + (new_values - old_v).clamp(-CLIP, CLIP)
            v_loss = 0.5 * torch.max((new_values - ret) ** 2, (v_clipped - ret) ** 2).mean()

            loss = pg_loss - ENT_COEF * entropy.mean() + VF_COEF * v_loss
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
            opt.step()
    # A training loop logs the last approx-KL and the mean clip fraction.
    return kls[-1].item(), torch.stack(clipfracs).mean().item()


def timed_updates(agent, batch, args, count, gen):
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        ppo_update(*agent, batch, args.epochs, args.minibatches, gen)
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--minibatches", type=int, default=1)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--updates", type=int, default=10)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    batch = make_batch(args.batch, args.width)
    warm_medians, update_medians = [], []
    for run in range(args.runs):
        agent = make_agent(args.width, run)
        gen = torch.Generator().manual_seed(run)
        warm_medians.append(statistics.median(timed_updates(agent, batch, args, args.warmup, gen) or [math.nan]))
        update_medians.append(statistics.median(timed_updates(agent, batch, args, args.updates, gen)))

    update_ms = statistics.median(update_medians)
    res = dict(framework="pytorch-cpu", torch_version=torch.__version__, threads=torch.get_num_threads(),
               update_ms=update_ms, warmup_ms=statistics.median(warm_medians),
               step_ms=update_ms / (args.epochs * args.minibatches),
               epochs=args.epochs, minibatches=args.minibatches, batch=args.batch)
    if args.json:
        print(json.dumps(res))
        return
    print(f"PyTorch {res['torch_version']} CPU, {res['threads']} thread(s), batch {args.batch}, width {args.width}, "
          f"{args.epochs} epochs x {args.minibatches} minibatch(es); medians over {args.runs} runs")
    print("\n| warm-up ms/update | ms/update | ms/gradient step |\n| ---: | ---: | ---: |")
    print(f"| {res['warmup_ms']:.2f} | {update_ms:.2f} | {res['step_ms']:.3f} |")


if __name__ == "__main__":
    main()
