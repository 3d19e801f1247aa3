#!/usr/bin/python3
"""The plain-PyTorch twin of `confml_fl_bench speed`: what a user would otherwise run.

A FedAvg loop written the usual way with Debian's python3-torch: the same
small CNN as confml's small_cnn (conv 32@3x3 pad 1 + relu + 2x2 max pool,
conv 64@3x3 pad 1 + relu + 2x2 max pool, fc 128 + relu + dropout 0.25, fc 10),
the same data (Fashion-MNIST train set normalised with its mean and standard
deviation), the same IID split into CLIENTS clients, CLIENTS_PER_ROUND clients
sampled per round, each trained for EPOCHS local epochs with batch BATCH and
SGD (lr, momentum) from the global model (load_state_dict), then the weighted
average of the state dicts. Prints one JSON object with client-updates/s and
the pure local-training time (forward/backward/step only), so the framework
overhead of this loop can be reported the same way as confml's.

Usage: fl_bench_torch.py [--rounds 5] [--clients 100] [--per-round 10]
                         [--epochs 1] [--batch 32] [--lr 0.01] [--momentum 0.9]
                         [--threads 2] [--data-dir DIR]
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from torch_reference import SmallCnn, read_idx


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--per-round", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)

    images = read_idx(os.path.join(a.data_dir, "train-images-idx3-ubyte.gz"), 0x00000803)
    labels = read_idx(os.path.join(a.data_dir, "train-labels-idx1-ubyte.gz"), 0x00000801)
    x = images.astype(np.float32) / 255.0
    x = ((x - np.float32(x.mean(dtype=np.float64))) / np.float32(x.std(dtype=np.float64)))
    x = torch.from_numpy(x.astype(np.float32)).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    parts = np.array_split(rng.permutation(len(y)), a.clients)  # IID, sizes differ by <= 1
    parts = [torch.from_numpy(np.sort(p)) for p in parts]

    global_model = SmallCnn()
    model = SmallCnn()
    global_state = {k: v.clone() for k, v in global_model.state_dict().items()}
    train_seconds = 0.0
    t0 = time.perf_counter()
    for _ in range(a.rounds):
        sampled = sorted(rng.choice(a.clients, a.per_round, replace=False).tolist())
        states, weights = [], []
        for c in sampled:
            model.load_state_dict(global_state)
            model.train()
            opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
            idx = parts[c]
            n = len(idx)
            t_train = time.perf_counter()
            for _ in range(a.epochs):
                order = idx[torch.randperm(n)]
                for s in range(0, n, a.batch):
                    b = order[s:s + a.batch]
                    xb, yb = x.index_select(0, b), y.index_select(0, b)
                    opt.zero_grad()
                    loss = F.cross_entropy(model(xb), yb)
                    loss.item()  # confml reads every loss too (NaN check, metrics)
                    loss.backward()
                    opt.step()
            train_seconds += time.perf_counter() - t_train
            states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
            weights.append(float(n))
        total = sum(weights)
        global_state = {k: sum(w / total * s[k] for w, s in zip(weights, states))
                        for k in global_state}
    wall = time.perf_counter() - t0
    updates = a.rounds * a.per_round
    print(json.dumps({
        "impl": "python3-torch " + torch.__version__,
        "rounds": a.rounds, "per_round": a.per_round, "clients": a.clients,
        "threads": a.threads, "wall_seconds": wall, "train_seconds": train_seconds,
        "client_updates_per_s": updates / wall,
        "framework_overhead": (wall - train_seconds) / wall,
    }))


if __name__ == "__main__":
    main()
