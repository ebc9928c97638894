"""This project (burn, flex backend) against PyTorch on the CPU: the gradient phase of one PPO
update of CartPole-v1's default shape (256 transitions, 20 epochs, 1 minibatch, 4-64-64 tanh
actor and critic), measured in one run on the same machine. Medians over runs.

    python bench/compare_torch.py [path/to/pvg]     # needs torch importable
"""
import os

# Torch's OpenMP threads spin while waiting; on a busy 2-core machine that costs ~40x.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import statistics  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import ppo_update_torch as peer  # noqa: E402

RUNS, WARMUP, UPDATES = 5, 3, 10


def torch_update_ms(threads):
    torch.set_num_threads(threads)
    args = SimpleNamespace(epochs=20, minibatches=1, batch=256, width=64, warmup=WARMUP, updates=UPDATES)
    batch = peer.make_batch(args.batch, args.width)
    medians = []
    for run in range(RUNS):
        agent = peer.make_agent(args.width, run)
        gen = torch.Generator().manual_seed(run)
        peer.timed_updates(agent, batch, args, WARMUP, gen)
        medians.append(statistics.median(peer.timed_updates(agent, batch, args, UPDATES, gen)))
    return statistics.median(medians)


def main():
    pvg = sys.argv[1] if len(sys.argv) > 1 else "target/release/pvg"
    out = subprocess.check_output([pvg, "bench", "--env", "CartPole-v1", "--runs", str(RUNS), "--warmup", str(WARMUP),
                                   "--updates", str(UPDATES), "--json"])
    ours = next(r for r in json.loads(out) if r["algorithm"] == "ppo")["gradient_ms"]
    t1, t2 = torch_update_ms(1), torch_update_ms(2)
    print(f"PPO update, gradient phase only (CartPole-v1 defaults), medians of {RUNS} runs x {UPDATES} updates, ms:")
    print("| burn flex (this project, 2 threads) | PyTorch CPU, 1 thread | PyTorch CPU, 2 threads | burn / PyTorch-1 | burn / PyTorch-2 |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| {ours:.1f} | {t1:.1f} | {t2:.1f} | {ours / t1:.2f}x | {ours / t2:.2f}x |")
    print(f"(PyTorch {torch.__version__}, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']})")


if __name__ == "__main__":
    main()
