#!/usr/bin/python3
"""The PyTorch twin of bench/train_bench.cc: what a user would otherwise run.

Trains the same small CNN (conv 32@3x3 + relu + 2x2 max pool, conv 64@3x3 +
relu + 2x2 max pool, fc 128 + relu + dropout 0.25, fc 10) on the same data (the
first STEPS*BATCH Fashion-MNIST training images, normalised with the training
set's mean and standard deviation) with the same optimizer (Adam, lr 1e-3) for
the same number of steps, gathering each batch with index_select from a
shuffled permutation and reading the loss and the batch accuracy every step,
as the C++ Trainer does. Reads the IDX gz files with numpy and gzip, no
downloads. Prints one JSON object.

Usage: train_bench_torch.py [--data-dir DIR] [--steps 200] [--batch 64]
                            [--threads 2] [--warmup 20] [--repeats 1]
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from torch_reference import SmallCnn, read_idx


def load_train(data_dir):
    images = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte.gz"), 0x00000803)
    labels = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte.gz"), 0x00000801)
    x = images.astype(np.float32) / 255.0
    # Same statistics as confml's ComputeNormalization: population mean and
    # standard deviation over every training pixel, in double.
    mean = x.mean(dtype=np.float64)
    std = x.std(dtype=np.float64)
    x = ((x - np.float32(mean)) / np.float32(std)).astype(np.float32)
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def train_steps(model, x, y, batch, generator):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    n = x.shape[0]
    perm = torch.randperm(n, generator=generator)
    loss_sum, correct = 0.0, 0
    for start in range(0, n, batch):
        idx = perm[start:start + batch]
        xb = x.index_select(0, idx)
        yb = y.index_select(0, idx)
        opt.zero_grad()
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        loss_value = loss.item()
        if not np.isfinite(loss_value):
            sys.exit("loss became non-finite")
        loss.backward()
        opt.step()
        loss_sum += loss_value * idx.numel()
        correct += logits.detach().argmax(1).eq(yb).sum().item()
    return loss_sum / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=os.environ.get("CONFML_FASHION_DIR",
                                                         "/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    x_all, y_all = load_train(args.data_dir)
    n = args.steps * args.batch
    x, y = x_all[:n].contiguous(), y_all[:n].contiguous()

    if args.warmup > 0:
        torch.manual_seed(99)
        w = args.warmup * args.batch
        train_steps(SmallCnn(), x_all[:w].contiguous(), y_all[:w].contiguous(), args.batch,
                    torch.Generator().manual_seed(99))

    seconds, loss = 0.0, float("nan")
    for r in range(args.repeats):
        torch.manual_seed(1)
        model = SmallCnn()  # Not timed, as in the C++ benchmark.
        t0 = time.perf_counter()
        loss = train_steps(model, x, y, args.batch, torch.Generator().manual_seed(r + 1))
        seconds += time.perf_counter() - t0
    print(json.dumps({
        "impl": "python3-torch " + torch.__version__,
        "threads": args.threads,
        "steps": args.steps,
        "batch": args.batch,
        "repeats": args.repeats,
        "seconds": seconds,
        "samples_per_second": n * args.repeats / seconds,
        "train_loss": loss,
    }))


if __name__ == "__main__":
    main()
