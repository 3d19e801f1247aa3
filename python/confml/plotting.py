"""PNG figures of confml runs (matplotlib, headless)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_run(run_dir: str, out_dir: str | None = None) -> list[str]:
    from . import load

    r = load(run_dir)
    out_dir = out_dir or run_dir
    os.makedirs(out_dir, exist_ok=True)
    m = r.metrics
    name = os.path.basename(os.path.normpath(run_dir))
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax_acc.plot(m["epoch"], m["train_accuracy"], marker="o", label="train")
    ax_acc.plot(m["epoch"], m["test_accuracy"], marker="o", label="test")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.legend()
    ax_acc.grid(alpha=0.3)
    ax_loss.plot(m["epoch"], m["train_loss"], marker="o", label="train")
    ax_loss.plot(m["epoch"], m["test_loss"], marker="o", label="test")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy")
    ax_loss.legend()
    ax_loss.grid(alpha=0.3)
    fig.suptitle(f"{name}: final test accuracy {r.final_test_accuracy:.4f}")
    fig.tight_layout()
    path = os.path.join(out_dir, "curves.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


if __name__ == "__main__":
    import sys

    if len(sys.argv) not in (2, 3):
        print("usage: python3 -m confml.plotting RUN_DIR [OUT_DIR]", file=sys.stderr)
        sys.exit(2)
    for p in plot_run(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else None):
        print(p)
