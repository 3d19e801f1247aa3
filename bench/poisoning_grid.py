#!/usr/bin/python3
"""The poisoning acceptance grid of issues 8 and 5 (docs/attacks/poisoning.md).

For every seed, one clean FedAvg run (experiments/attacks/poison_clean.yaml)
trains the start model; then every attack config
experiments/attacks/poison_<attack>.yaml (plus `none`, the clean config
continued) runs against every aggregator for a few rounds from that model
(federated.initial_model), with the attack active from the first of them.
Each cell is one ordinary `confml run`; its numbers come only from that run.
Prints a Markdown table of test error (mean +- standard deviation over the
seeds) and writes grid.csv and grid.md in --out.

  /usr/bin/python3 bench/poisoning_grid.py --confml build/release/experiments/confml \\
      --out /tmp/poison_grid --train-limit 6000 --test-limit 2000

--eval-rounds 10,30 runs each cell 30 rounds and tabulates the error after 10
and after 30 as well; --paired adds each cell's shift from the clean cell of
the same rule and seed (the start models differ by seed, so small effects
show only in the paired difference).
"""
import argparse
import csv
import math
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "experiments", "attacks")

ATTACKS = ["label_flip", "targeted_injection", "backdoor", "sign_flip", "gaussian_noise",
           "scaling", "alie", "fang_krum", "fang_trimmed_mean", "min_max", "min_sum"]
# n = 100 updates a round, c = 20 malicious: the rules that take the number of
# Byzantine clients get f = c (as Fang et al. do); trimmed mean trims c/n.
AGGREGATORS = {
    "fedavg": {"name": "fedavg"},
    "median": {"name": "median"},
    "trimmed_mean": {"name": "trimmed_mean", "beta": 0.2},
    "krum": {"name": "krum", "f": 20},
    "multi_krum": {"name": "multi_krum", "f": 20},
    "bulyan": {"name": "bulyan", "f": 20},
    "geometric_median": {"name": "geometric_median"},
    "norm_clipping": {"name": "norm_clipping"},
    "centered_clipping": {"name": "centered_clipping"},
    "fltrust": {"name": "fltrust"},
    "flame": {"name": "flame"},
}
MAIN = ["fedavg", "median", "trimmed_mean", "krum"]
DIAGNOSTICS = ["mean_lambda", "mean_gamma", "trimmed_mean_shift_ratio", "median_shift_ratio",
               "trimmed_mean_reversed_fraction", "median_reversed_fraction",
               "trimmed_mean_progress_ratio", "median_progress_ratio"]
EXTRA = ["multi_krum", "bulyan", "geometric_median", "norm_clipping", "centered_clipping",
         "fltrust", "flame"]


class NotRun(Exception):
    pass


def run_confml(confml, config_path, log_path, cached_only=False, progress="none"):
    # A finished cell of an interrupted grid (same --out) is read back, not rerun.
    stdout = None
    if os.path.exists(log_path):
        with open(log_path) as f:
            text = f.read()
        if "final test accuracy:" in text and "run folder:" in text:
            stdout, seconds = text, float("nan")
    if stdout is None and cached_only:
        raise NotRun(config_path)
    if stdout is None:
        env = dict(os.environ, OMP_NUM_THREADS="1")
        t0 = time.time()
        p = subprocess.run([confml, "run", config_path, "--progress=" + progress],
                           capture_output=True, text=True, env=env)
        with open(log_path, "w") as f:
            f.write(p.stdout + p.stderr)
        if p.returncode != 0:
            raise RuntimeError(f"confml run {config_path} failed: {p.stderr.strip()}")
        # Progress lines go to stderr; parse what the cache will hold.
        stdout, seconds = p.stdout + p.stderr, time.time() - t0
    out = {"seconds": seconds, "accuracy_by_round": {}}
    for line in stdout.splitlines():
        # Progress lines ("confml: round 10/30 ... acc 0.8430 ...") give the
        # evaluated rounds of a longer run (--eval-rounds).
        m = re.match(r"^confml: round (\d+)/\d+ .* acc (\S+) ", line)
        if m:
            out["accuracy_by_round"][int(m.group(1))] = float(m.group(2))
        m = re.match(r"^(attack\.[a-z_]+|final test accuracy): (\S+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
        m = re.match(r"^run folder: (.+)$", line)
        if m:
            out["run_dir"] = m.group(1)
    return out


def cell_config(base, seed, args, out_dir, initial_model=None, aggregator=None, rounds=None,
                eval_every=0):
    with open(os.path.join(CONFIGS, base)) as f:
        c = yaml.safe_load(f)
    if aggregator:  # one run folder name per cell, so parallel cells never collide
        c["experiment"]["name"] += "-" + aggregator
    c["experiment"]["seed"] = seed
    c["experiment"]["output_dir"] = os.path.join(out_dir, "runs")
    c["dataset"]["train_limit"] = args.train_limit
    c["dataset"]["test_limit"] = args.test_limit
    if rounds is not None:
        c["federated"]["rounds"] = rounds
    c["federated"]["eval_every"] = eval_every
    if initial_model:
        c["federated"]["initial_model"] = initial_model
    if aggregator:
        c["aggregator"] = dict(AGGREGATORS[aggregator])
    if "attack" in c:
        c["attack"]["start_round"] = 1
        if c["attack"]["name"] == "backdoor":
            c["attack"]["attack_rounds"] = [1]
    # --set SECTION.KEY=VALUE, applied where the section exists and, for the
    # attack section, only to the attack that declares the key (--set
    # attack.fang_trimmed_mean.diagnostics=true).
    for item in args.set or []:
        key, value = item.split("=", 1)
        parts = key.split(".")
        if parts[0] == "attack" and len(parts) == 3:
            if "attack" in c and c["attack"]["name"] == parts[1]:
                c["attack"][parts[2]] = yaml.safe_load(value)
        elif len(parts) == 2 and parts[0] in c and parts[0] != "attack":
            c[parts[0]][parts[1]] = yaml.safe_load(value)
    return c


def stats(values):
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return float("nan"), float("nan")
    m = sum(values) / len(values)
    if len(values) < 2:
        return m, float("nan")
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def fmt(values):
    m, s = stats(values)
    if math.isnan(m):
        return "-"
    return f"{m:.3f}" if math.isnan(s) else f"{m:.3f} ± {s:.3f}"


def paired_shift(rows, sel, key):
    # Attacked minus clean of the same aggregator and seed: the seed-to-seed
    # spread of the start models cancels, so small effects become visible.
    clean = {(r["aggregator"], r["seed"]): r[key] for r in rows if r["attack"] == "none"}
    return [r[key] - clean[(r["aggregator"], r["seed"])] for r in sel
            if (r["aggregator"], r["seed"]) in clean]


def fmt_signed(values):
    text = fmt(values)
    return text if text.startswith("-") else "+" + text


def table(rows, attacks, aggs, key="test_error", paired=False):
    lines = ["| attack | " + " | ".join(aggs) + " |", "|---" * (len(aggs) + 1) + "|"]
    for a in attacks:
        cells = []
        for g in aggs:
            sel = [r for r in rows if r["attack"] == a and r["aggregator"] == g]
            text = fmt([r[key] for r in sel])
            if paired and a != "none" and paired_shift(rows, sel, key):
                text += f" (shift {fmt_signed(paired_shift(rows, sel, key))})"
            if a == "label_flip" and key == "test_error":
                text += f" (flip {fmt([r.get('flip_success_rate', float('nan')) for r in sel])})"
            if a == "targeted_injection":
                text += f" (success {fmt([r['success_rate'] for r in sel])})"
            if a == "backdoor":
                text += (f" (backdoor {fmt([r['success_rate_after_attack'] for r in sel])}, "
                         f"main acc {fmt([r['test_accuracy_after_attack'] for r in sel])} "
                         "right after)")
            cells.append(text)
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render(rows, attacks, main_aggs, extra_aggs, eval_rounds=(), paired=False):
    def seeds_of(aggs):
        return ",".join(str(int(s)) for s in sorted({r["seed"] for r in rows
                                                      if r["aggregator"] in aggs}))
    md = []
    for k in eval_rounds:
        md += [f"Test error after {k} rounds; mean ± standard deviation over seeds " +
               seeds_of(main_aggs + extra_aggs) + ".", "",
               table(rows, attacks, main_aggs + extra_aggs, f"test_error_r{k}", paired), ""]
    if main_aggs:
        md += ["Test error of the final model; mean ± standard deviation over seeds " +
               seeds_of(main_aggs) + ".", "", table(rows, attacks, main_aggs, paired=paired), ""]
    if extra_aggs:
        extra_attacks = [a for a in attacks
                         if any(r["attack"] == a and r["aggregator"] in extra_aggs for r in rows)]
        md += ["Other robust aggregators, seeds " + seeds_of(extra_aggs) + ":", "",
               table(rows, extra_attacks, extra_aggs, paired=paired), ""]
    return "\n".join(md)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--confml", default=os.path.join(ROOT, "build", "experiments", "confml"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--extra-seeds", default="1", help="seeds of the other robust aggregators")
    ap.add_argument("--train-limit", type=int, default=6000, help="0: the full training set")
    ap.add_argument("--test-limit", type=int, default=2000, help="0: the full test set")
    ap.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                    help="config override for every run (attack.NAME.KEY=VALUE: only that attack)")
    ap.add_argument("--warmup-rounds", type=int, default=30, help="rounds of the clean run")
    ap.add_argument("--attack-rounds", type=int, default=3, help="attacked rounds per cell")
    ap.add_argument("--eval-rounds", default="",
                    help="also tabulate the test error after these rounds of each cell (e.g. "
                    "10,30; the cells then run max(...) rounds, evaluated every gcd(...))")
    ap.add_argument("--paired", action="store_true",
                    help="add each cell's shift from `none` of the same aggregator and seed")
    ap.add_argument("--attacks", default=",".join(ATTACKS))
    ap.add_argument("--aggregators", default=",".join(MAIN))
    ap.add_argument("--extra-aggregators", default=",".join(EXTRA))
    ap.add_argument("--jobs", type=int, default=1, help="cells run at once (each one thread)")
    ap.add_argument("--cached-only", action="store_true",
                    help="tabulate the finished cells of --out; run nothing, skip the rest")
    ap.add_argument("--render", nargs="+", metavar="CSV",
                    help="only print the tables of finished grid.csv files (no runs)")
    args = ap.parse_args()
    if args.render:
        rows = []
        for path in args.render:
            with open(path) as f:
                for r in csv.DictReader(f):
                    for k in r:
                        if k not in ("attack", "aggregator"):
                            r[k] = float(r[k])
                    rows.append(r)
        present = {r["attack"] for r in rows}
        aggs = [a for a in AGGREGATORS if any(r["aggregator"] == a for r in rows)]
        eval_rounds = sorted(int(k[len("test_error_r"):]) for k in rows[0]
                             if k.startswith("test_error_r")) if rows else []
        print(render(rows, [a for a in ["none"] + ATTACKS if a in present],
                     [a for a in MAIN if a in aggs], [a for a in EXTRA if a in aggs],
                     eval_rounds, args.paired))
        return 0
    eval_rounds = sorted(int(k) for k in args.eval_rounds.split(",") if k)
    if eval_rounds:
        args.attack_rounds = eval_rounds[-1]
    eval_every = math.gcd(*eval_rounds) if eval_rounds else 0
    seeds = [int(s) for s in args.seeds.split(",") if s]
    extra_seeds = [int(s) for s in args.extra_seeds.split(",") if s]
    attacks = ["none"] + [a for a in args.attacks.split(",") if a]
    main_aggs = [a for a in args.aggregators.split(",") if a]
    extra_aggs = [a for a in args.extra_aggregators.split(",") if a]
    os.makedirs(os.path.join(args.out, "cells"), exist_ok=True)

    clean = {}
    for seed in sorted(set(seeds) | set(extra_seeds)):
        path = os.path.join(args.out, "cells", f"clean-s{seed}.yaml")
        with open(path, "w") as f:
            yaml.safe_dump(cell_config("poison_clean.yaml", seed, args, args.out,
                                       rounds=args.warmup_rounds), f)
        r = run_confml(args.confml, path, path[:-5] + ".log", args.cached_only)
        clean[seed] = r
        print(f"clean seed {seed}: accuracy {r['final test accuracy']:.4f} "
              f"({r['seconds']:.0f} s) -> {r['run_dir']}", flush=True)

    plan = [(a, g, s) for a in attacks for g in main_aggs for s in seeds]
    plan += [(a, g, s) for a in attacks for g in extra_aggs for s in extra_seeds]

    def run_cell(item):
        attack, agg, seed = item
        base = "poison_clean.yaml" if attack == "none" else f"poison_{attack}.yaml"
        path = os.path.join(args.out, "cells", f"{attack}-{agg}-s{seed}.yaml")
        with open(path, "w") as f:
            yaml.safe_dump(cell_config(base, seed, args, args.out, clean[seed]["run_dir"], agg,
                                       args.attack_rounds, eval_every), f)
        try:
            r = run_confml(args.confml, path, path[:-5] + ".log", args.cached_only,
                           "lines" if eval_rounds else "none")
        except NotRun:
            return None
        return {"attack": attack, "aggregator": agg, "seed": seed,
                "test_error": 1.0 - r["final test accuracy"],
                "clean_start_error": 1.0 - clean[seed]["final test accuracy"],
                "success_rate": r.get("attack.success_rate", float("nan")),
                "success_rate_after_attack": r.get("attack.success_rate_after_attack",
                                                   float("nan")),
                "test_accuracy_after_attack": r.get("attack.test_accuracy_after_attack",
                                                    float("nan")),
                "flip_success_rate": r.get("attack.flip_success_rate", float("nan")),
                **{f"test_error_r{k}": 1.0 - r["accuracy_by_round"].get(k, float("nan"))
                   for k in eval_rounds},
                # The colluding attacks' step sizes and Fang's diagnostics (NaN when absent).
                **{k: r.get("attack." + k, float("nan")) for k in DIAGNOSTICS},
                "seconds": r["seconds"]}

    rows = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for i, row in enumerate(pool.map(run_cell, plan)):
            if row is None:
                continue
            rows.append(row)
            print(f"[{i + 1}/{len(plan)}] {row['attack']} x {row['aggregator']} seed "
                  f"{row['seed']}: error {row['test_error']:.4f} ({row['seconds']:.0f} s)",
                  flush=True)
            with open(os.path.join(args.out, "grid.csv"), "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(row.keys()))
                w.writeheader()
                w.writerows(rows)

    text = render(rows, attacks, main_aggs, extra_aggs, eval_rounds, args.paired)
    md = [text, "Clean start models (FedAvg, %d rounds): test error %s" %
          (args.warmup_rounds, fmt([1.0 - clean[s]["final test accuracy"] for s in seeds]))]
    text = "\n".join(md) + "\n"
    with open(os.path.join(args.out, "grid.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
