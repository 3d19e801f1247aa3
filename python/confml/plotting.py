"""PNG figures of confml runs and sweeps (matplotlib, headless)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _normalised_rows(success, blind, higher):
    """Each row scaled to [0, 1] between its blind guess (0) and its best
    value over the columns (1), so rows with different metrics compare.
    Rows without a blind guess (poisoning) use their worst value as 0."""
    import numpy as np

    out = np.full(success.shape, np.nan)
    for i in range(success.shape[0]):
        row = success[i]
        finite = row[np.isfinite(row)]
        if finite.size == 0:
            continue
        sign = 1.0 if higher[i] else -1.0
        b = blind[i][np.isfinite(blind[i])]
        low = sign * b[0] if b.size else np.min(sign * finite)
        best = np.max(sign * finite)
        span = best - low
        out[i] = (sign * row - low) / span if span > 0 else 0.0
    return np.clip(out, 0.0, 1.0)


def plot_matrix(run_dir: str, out_dir: str | None = None) -> list[str]:
    """Heat map of matrix.h5 (experiment kind matrix): attacks down, protections
    across, colour = success normalised per row, text = the raw number."""
    import h5py
    import numpy as np

    with h5py.File(os.path.join(run_dir, "matrix.h5"), "r") as f:
        rows = [x.decode() if isinstance(x, bytes) else x for x in f["rows"][()]]
        cols = [x.decode() if isinstance(x, bytes) else x for x in f["columns"][()]]
        metric = [x.decode() if isinstance(x, bytes) else x for x in f["success_metric"][()]]
        success = np.asarray(f["success"][()], dtype=float)
        blind = np.asarray(f["blind_guess"][()], dtype=float)
        utility = np.asarray(f["utility"][()], dtype=float)
        higher = np.asarray(f["higher_is_better"][()], dtype=float)[:, 0] > 0.5
    norm = _normalised_rows(success, blind, higher)
    out_dir = out_dir or run_dir
    os.makedirs(out_dir, exist_ok=True)
    fig, ax = plt.subplots(figsize=(2.0 + 1.9 * len(cols), 1.0 + 0.62 * len(rows)))
    ax.imshow(np.nan_to_num(norm, nan=0.0), cmap="Reds", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels(cols, rotation=20, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(
        [f"{r} ({metric[i * len(cols)]})" for i, r in enumerate(rows)], fontsize=8
    )
    for i in range(len(rows)):
        for j in range(len(cols)):
            v, u = success[i, j], utility[i, j]
            text = ("n/a" if not np.isfinite(v) else f"{v:.3g}") + (
                f"\n({u:.2f})" if np.isfinite(u) else ""
            )
            dark = np.isfinite(norm[i, j]) and norm[i, j] > 0.6
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")
    ax.set_title("attack success (utility); colour: 0 = blind guess, 1 = row's best", fontsize=9)
    fig.tight_layout()
    path = os.path.join(out_dir, "matrix.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


def _image_psnr(a, b) -> float:
    """PSNR in dB of two images in [0, 1] (peak 1), as the inversion attacks score them."""
    import numpy as np

    mse = float(np.mean((np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) ** 2))
    return float("inf") if mse == 0.0 else 10.0 * np.log10(1.0 / mse)


def has_reconstructions(run_dir: str) -> bool:
    """True when the run's outcome.h5 holds /arrays/reconstruction and /arrays/original."""
    path = os.path.join(run_dir, "outcome.h5")
    if not os.path.exists(path):
        return False
    import h5py

    with h5py.File(path, "r") as f:
        return "arrays" in f and "reconstruction" in f["arrays"] and "original" in f["arrays"]


def reconstruction_grid(originals, reconstructions, titles=("original", "reconstructed"),
                        labels=None, max_images: int = 8):
    """A figure with each original (top row) above its reconstruction (bottom
    row) and the PSNR under each pair. Arrays are {n, C, H, W} in [0, 1]."""
    import numpy as np

    originals = np.asarray(originals, dtype=np.float64)
    reconstructions = np.asarray(reconstructions, dtype=np.float64)
    n = min(len(originals), len(reconstructions), max_images)
    if n == 0:
        raise ValueError("no images to plot")
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n + 0.6, 3.6), squeeze=False)
    for i in range(n):
        for row, img in enumerate((originals[i], reconstructions[i])):
            ax = axes[row][i]
            img = np.clip(img, 0.0, 1.0)
            if img.ndim == 3 and img.shape[0] in (1, 3):
                img = img[0] if img.shape[0] == 1 else np.transpose(img, (1, 2, 0))
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_ylabel(titles[row])
        psnr = _image_psnr(originals[i], reconstructions[i])
        text = f"PSNR {psnr:.1f} dB"
        if labels is not None:
            text += f"\nlabel {int(labels[0][i])} -> {int(labels[1][i])}"
        axes[1][i].set_xlabel(text, fontsize=8)
    fig.tight_layout()
    return fig


def plot_reconstructions(run_dir: str, out_dir: str | None = None) -> list[str]:
    """reconstructions.png from outcome.h5: originals beside the attack's
    reconstructions, PSNR under each."""
    import h5py

    with h5py.File(os.path.join(run_dir, "outcome.h5"), "r") as f:
        a = f["arrays"]
        orig, rec = a["original"][()], a["reconstruction"][()]
        labels = None
        if "original_labels" in a and "reconstruction_labels" in a:
            labels = (a["original_labels"][()], a["reconstruction_labels"][()])
        attack = f.attrs.get("attack", "attack")
        if isinstance(attack, bytes):
            attack = attack.decode()
    fig = reconstruction_grid(orig, rec, labels=labels)
    fig.suptitle(f"{attack}: original (top) and reconstruction (bottom)", fontsize=9)
    fig.tight_layout()
    out_dir = out_dir or run_dir
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "reconstructions.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


def plot_rounds(run_dir: str, out_dir: str | None = None) -> list[str]:
    """rounds.png from fl_rounds.h5 (federated runs): test accuracy and mean
    train loss per round."""
    import h5py
    import numpy as np

    with h5py.File(os.path.join(run_dir, "fl_rounds.h5"), "r") as f:
        cols = {k: np.asarray(f[k][()]) for k in f.keys()}
    rounds = cols["round"]
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(9, 3.5))
    acc = cols["test_accuracy"].astype(float)
    ok = np.isfinite(acc)
    ax_acc.plot(rounds[ok], acc[ok], marker="o")
    ax_acc.set_xlabel("round")
    ax_acc.set_ylabel("test accuracy")
    ax_acc.grid(alpha=0.3)
    ax_loss.plot(rounds, cols["mean_train_loss"], marker="o")
    ax_loss.set_xlabel("round")
    ax_loss.set_ylabel("mean train loss")
    ax_loss.grid(alpha=0.3)
    fig.suptitle(os.path.basename(os.path.normpath(run_dir)))
    fig.tight_layout()
    out_dir = out_dir or run_dir
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "rounds.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


def plot_run(run_dir: str, out_dir: str | None = None) -> list[str]:
    if os.path.exists(os.path.join(run_dir, "matrix.h5")):
        return plot_matrix(run_dir, out_dir)
    extra = plot_reconstructions(run_dir, out_dir) if has_reconstructions(run_dir) else []
    if not os.path.exists(os.path.join(run_dir, "results.h5")):
        # Federated runs keep their per-round metrics in fl_rounds.h5.
        if os.path.exists(os.path.join(run_dir, "fl_rounds.h5")):
            return plot_rounds(run_dir, out_dir) + extra
        if extra:
            return extra
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
    return [path] + extra


def _as_number(text: str):
    """A grid value's number, or None for text (or nan/inf, which cannot sit on an axis)."""
    import math

    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _varies(result, metric: str) -> bool:
    """Whether the sweep's finite values of `metric` are not all equal."""
    import math

    values = {r.outcome.get(metric, math.nan) for r in result.rows}
    return len({v for v in values if not math.isnan(v)}) > 1


def _sweep_metrics(result, metric) -> list[str]:
    """The metrics to draw: `metric` (a name or a list), or by default
    final_test_accuracy and every outcome metric whose finite values are not
    all equal (a constant, such as the number of malicious clients, has
    nothing to show)."""
    available = result.metrics() + ["wall_seconds"]
    if metric is None:
        return ["final_test_accuracy"] + [m for m in result.metrics()[2:] if _varies(result, m)]
    names = [metric] if isinstance(metric, str) else list(metric)
    if not names:
        raise ValueError("metric: an empty list")
    for m in names:
        if m not in available:
            raise ValueError(f"sweep {result.dir} has no metric '{m}'; it has "
                             f"{', '.join(available)}")
    return names


def _sweep_x(result, x):
    """The grid key on the x axis and whether its values are all numbers."""
    keys = result.grid_keys
    values = {k: [r.values[k] for r in result.rows] for k in keys}
    numeric = {k: all(_as_number(v) is not None for v in values[k]) for k in keys}
    if x is not None:
        if x not in keys:
            raise ValueError(f"x: '{x}' is not a grid key of sweep {result.dir}; its grid keys: "
                             f"{', '.join(keys) if keys else '(none: a seeds-only sweep)'}")
        return x, numeric[x]
    if not keys:
        return None, False
    for k in keys:
        if numeric[k]:
            return k, True
    return keys[0], False


def plot_sweep(sweep_dir: str, out_dir: str | None = None, metric=None, x: str | None = None) -> list[str]:
    """One PNG per metric of a sweep folder (sweep.csv): the metric's mean over
    the seeds against one grid key `x` (default: the first numeric grid key,
    else the first key, as categorical ticks), one line per combination of the
    other grid keys, ± sample sd as error bars, n (finite values per point) in
    the legend. `metric`: a name or a list (default: final_test_accuracy and
    every outcome metric whose values vary). Writes sweep_<metric>.png into
    `out_dir` (default: the sweep folder), each file atomically; returns the paths.
    NotFoundError for a folder that is not a sweep, ValueError for an unknown
    metric or x key, or a sweep without finished runs."""
    import numpy as np

    from .sweeps import read_sweep

    result = read_sweep(sweep_dir)
    if not result.rows:
        raise ValueError(f"sweep {sweep_dir} has no finished run in sweep.csv")
    metrics = _sweep_metrics(result, metric)
    xkey, numeric = _sweep_x(result, x)
    others = [k for k in result.grid_keys if k != xkey]
    # x positions: numbers as themselves, text as categories in grid order.
    xs_text = []
    for r in result.rows:
        t = r.values[xkey] if xkey else "(base)"
        if t not in xs_text:
            xs_text.append(t)
    if numeric:
        xs_text.sort(key=lambda t: _as_number(t))
    position = {t: (_as_number(t) if numeric else float(i)) for i, t in enumerate(xs_text)}
    lines = []
    for r in result.rows:
        label = tuple(r.values[k] for k in others)
        if label not in lines:
            lines.append(label)
    out_dir = out_dir or sweep_dir
    os.makedirs(out_dir, exist_ok=True)
    name = os.path.basename(os.path.normpath(sweep_dir))
    paths = []
    for m in metrics:
        # One point per grid cell: its x value and its line's values name it.
        points = {((c.values[xkey] if xkey else "(base)"), tuple(c.values[k] for k in others)): c
                  for c in result.summary(m)}
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        drawn = 0
        for i, line in enumerate(lines):
            # Categorical x: lines side by side, so their error bars do not hide each other.
            dodge = 0.0 if numeric else 0.08 * (i - (len(lines) - 1) / 2)
            px, mean, sd, ns = [], [], [], []
            for t in xs_text:
                c = points.get((t, line))
                if c is None or c.n == 0:
                    continue
                px.append(position[t] + dodge)
                mean.append(c.mean)
                sd.append(c.sd if c.n > 1 else 0.0)
                ns.append(c.n)
            if not px:
                continue
            n_text = f"n={min(ns)}" if min(ns) == max(ns) else f"n={min(ns)}-{max(ns)}"
            label = ", ".join(f"{k}={v}" for k, v in zip(others, line))
            label = f"{label} ({n_text})" if label else n_text
            ax.errorbar(px, mean, yerr=sd, marker="o", capsize=3, label=label)
            drawn += 1
        if drawn == 0:
            plt.close(fig)
            if metric is None:
                continue
            raise ValueError(f"sweep {sweep_dir}: no run reported a finite {m}")
        if not numeric:
            ax.set_xticks([position[t] for t in xs_text])
            ax.set_xticklabels(xs_text, rotation=15 if len(xs_text) > 4 else 0)
            ax.margins(x=0.15)
        elif len(xs_text) <= 12:
            ax.set_xticks([position[t] for t in xs_text])  # the grid's own values
        ax.set_xlabel(xkey or "(seeds only)")
        ax.set_ylabel(f"{m} (mean ± sd over seeds)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title(f"{name}\n{m}", fontsize=9)
        fig.tight_layout()
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in m)
        path = os.path.join(out_dir, f"sweep_{safe}.png")
        # A killed plot leaves no half-written PNG under the final name.
        tmp = path + ".tmp.png"
        fig.savefig(tmp, dpi=110)
        plt.close(fig)
        os.replace(tmp, path)
        paths.append(path)
    return paths


def _main_sweep(sweep_dir, out_dir, metrics, x, fail) -> int:
    try:
        paths = plot_sweep(sweep_dir, out_dir, metric=metrics or None, x=x)
    except Exception as e:  # read_sweep's NotFound/DataLoss, ValueError from the checks
        # Their messages name the folder already; anything else gets it here.
        return fail(str(e) if sweep_dir in str(e) else f"{sweep_dir}: {type(e).__name__}: {e}")
    for p in paths:
        print(p)
    return 0


def main(argv: list[str]) -> int:
    """`confml plot RUN_DIR [OUT_DIR]` and `confml plot SWEEP_DIR [OUT_DIR]
    [--metric NAME ...] [--x GRID_KEY]` (which run `python3 -m confml.plotting`).

    Every failure is one line naming the file at fault and exit 2, not a
    traceback: the folder's HDF5 files are opened one by one first, so a
    truncated one is named, and a run that failed or was killed
    (complete = 0) is plotted with a warning rather than passed off as a
    finished run."""
    import sys

    def fail(message) -> int:
        print("confml: plot: " + " ".join(str(message).split()), file=sys.stderr)
        return 2

    usage = ("usage: python3 -m confml.plotting RUN_DIR [OUT_DIR]\n"
             "       python3 -m confml.plotting SWEEP_DIR [OUT_DIR] [--metric NAME ...] [--x GRID_KEY]")
    positional, metrics, x = [], [], None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--metric", "--x"):
            if i + 1 >= len(argv) or not argv[i + 1]:
                return fail(f"{arg} needs a value")
            if arg == "--metric":
                metrics.append(argv[i + 1])
            elif x is not None:
                return fail("--x given twice")
            else:
                x = argv[i + 1]
            i += 2
            continue
        if arg.startswith("--"):
            return fail(f"unknown option '{arg}' (--metric NAME, --x GRID_KEY)")
        positional.append(arg)
        i += 1
    if len(positional) not in (1, 2):
        print(usage, file=sys.stderr)
        return 2
    run_dir = positional[0]
    out_dir = positional[1] if len(positional) == 2 else None
    if out_dir is not None and os.path.exists(out_dir) and not os.path.isdir(out_dir):
        return fail(f"output folder {out_dir} exists and is not a directory")
    # A sweep folder (confml sweep) holds sweep.csv and sweep.yaml; one
    # without the other is a damaged sweep, not a run folder.
    has = [f for f in ("sweep.csv", "sweep.yaml") if os.path.isfile(os.path.join(run_dir, f))]
    if len(has) == 1:
        missing = "sweep.yaml" if has == ["sweep.csv"] else "sweep.csv"
        return fail(f"{run_dir} holds {has[0]} but no {missing}: not a complete sweep folder")
    if has:
        return _main_sweep(run_dir, out_dir, metrics, x, fail)
    if metrics or x is not None:
        return fail(f"--metric and --x apply to a sweep folder; {run_dir} holds no sweep.csv")
    import h5py

    found = []
    for name in ("results.h5", "fl_rounds.h5", "matrix.h5", "outcome.h5"):
        path = os.path.join(run_dir, name)
        if not os.path.exists(path):
            continue
        try:
            with h5py.File(path, "r") as f:
                complete = int(f.attrs["complete"]) if "complete" in f.attrs else 1
        except Exception as e:  # h5py raises OSError, KeyError, ... by cause
            return fail(f"{path} is not a readable HDF5 file (truncated or not written by "
                        f"confml?): {e}")
        found.append(name)
        if not complete:
            print(f"confml: plot: warning: {path} is incomplete (complete = 0: its run failed "
                  "or was killed); plotting what it holds", file=sys.stderr)
    if not found:
        return fail(f"{run_dir} holds no results.h5, fl_rounds.h5, matrix.h5 or outcome.h5: "
                    "not a run folder, or its run failed before it recorded a result")
    try:
        for p in plot_run(run_dir, out_dir):
            print(p)
    except Exception as e:
        return fail(f"{run_dir}: {type(e).__name__}: {e}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
