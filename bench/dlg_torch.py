"""DLG (Zhu et al. 2019) in plain python3-torch, as their released code runs it:
DLG's sigmoid LeNet (weights and biases uniform in [-0.5, 0.5]), dummy image
and label from N(0, 1), soft-label cross-entropy, squared L2 distance of
gradients summed layer by layer, torch.optim.LBFGS(lr=1) with its default 20
inner iterations per step. Prints one JSON line with objective evaluations/s,
the counterpart of bench/dlg_bench.cc (bench/compare_dlg.sh runs both)."""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference import read_idx  # noqa: E402


class LeNetDlg(nn.Module):
    """confml's lenet_dlg (attacks/src/inversion_model.cc) on 1x28x28 inputs."""

    def __init__(self, classes=10, channels=12):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 5, stride=2, padding=2)
        self.conv2 = nn.Conv2d(channels, channels, 5, stride=2, padding=2)
        self.conv3 = nn.Conv2d(channels, channels, 5, stride=1, padding=2)
        self.fc = nn.Linear(channels * 7 * 7, classes)
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-0.5, 0.5)

    def forward(self, x):
        x = torch.sigmoid(self.conv1(x))
        x = torch.sigmoid(self.conv2(x))
        x = torch.sigmoid(self.conv3(x))
        return self.fc(x.flatten(1))


def soft_cross_entropy(pred, target):
    return torch.mean(torch.sum(-target * F.log_softmax(pred, dim=-1), 1))


def run_dlg(net, origin_grad, shape, classes, steps, seed):
    g = torch.Generator().manual_seed(seed)
    dummy_data = torch.randn(shape, generator=g).requires_grad_(True)
    dummy_label = torch.randn((shape[0], classes), generator=g).requires_grad_(True)
    optimizer = torch.optim.LBFGS([dummy_data, dummy_label])
    evaluations = 0

    def closure():
        nonlocal evaluations
        evaluations += 1
        optimizer.zero_grad()
        dummy_loss = soft_cross_entropy(net(dummy_data), F.softmax(dummy_label, dim=-1))
        dummy_grad = torch.autograd.grad(dummy_loss, net.parameters(), create_graph=True)
        grad_diff = 0
        for gx, gy in zip(dummy_grad, origin_grad):
            grad_diff += ((gx - gy) ** 2).sum()
        grad_diff.backward()
        return grad_diff

    for _ in range(steps):
        optimizer.step(closure)
    return evaluations


def profile(net, origin_grad, shape, classes, evaluations):
    """The phases of one objective evaluation, timed (as confml_dlg_bench --profile)."""
    x = torch.randn(shape).requires_grad_(True)
    label = torch.randn((shape[0], classes)).requires_grad_(True)
    t = [0.0] * 4
    for _ in range(evaluations):
        t0 = time.perf_counter()
        loss = soft_cross_entropy(net(x), F.softmax(label, dim=-1))
        t1 = time.perf_counter()
        g = torch.autograd.grad(loss, net.parameters(), create_graph=True)
        t2 = time.perf_counter()
        d = 0
        for gx, gy in zip(g, origin_grad):
            d += ((gx - gy) ** 2).sum()
        t3 = time.perf_counter()
        d.backward()
        x.grad = None
        label.grad = None
        t4 = time.perf_counter()
        for i, dt in enumerate((t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            t[i] += dt
    total = sum(t)
    print(json.dumps({"impl": "python3-torch", "ms_per_evaluation": round(1e3 * total / evaluations, 3),
                      "forward": round(t[0] / total, 3), "grad_create_graph": round(t[1] / total, 3),
                      "distance": round(t[2] / total, 3), "double_backward": round(t[3] / total, 3)}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--image", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--profile", type=int, default=0, help="time the phases of N evaluations")
    ap.add_argument("--fashion_dir", default=os.environ.get("CONFML_FASHION_DIR",
                                                             "/usr/share/datasets/fashion-mnist"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    images = read_idx(os.path.join(a.fashion_dir, "train-images-idx3-ubyte.gz"), 0x803)
    labels = read_idx(os.path.join(a.fashion_dir, "train-labels-idx1-ubyte.gz"), 0x801)
    x = torch.tensor(images[a.image:a.image + 1] / 255.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor([int(labels[a.image])])
    torch.manual_seed(0)
    net = LeNetDlg()
    origin_grad = [g.detach() for g in
                   torch.autograd.grad(F.cross_entropy(net(x), y), net.parameters())]
    if a.profile > 0:
        profile(net, origin_grad, x.shape, 10, a.profile)
        return
    run_dlg(net, origin_grad, x.shape, 10, 1, seed=1)  # warm-up, as the C++ side
    best, evaluations = 0.0, 0
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        evaluations = run_dlg(net, origin_grad, x.shape, 10, a.steps, seed=1)
        best = max(best, evaluations / (time.perf_counter() - t0))
    print(json.dumps({"impl": f"python3-torch {torch.__version__}", "steps": a.steps,
                      "evaluations": evaluations, "threads": a.threads,
                      "evaluations_per_second": round(best, 3)}))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
