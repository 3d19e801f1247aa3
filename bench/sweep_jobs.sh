#!/usr/bin/env bash
# Wall time of one sweep run sequentially in one process (`confml sweep`,
# --jobs 1) and as parallel child processes (--jobs JOBS), in one script run:
# prints both wall times, the ratio jobs1/jobsN (the speedup) and the load
# average before and after, since the machine may be shared. Both sweeps use
# OMP_NUM_THREADS=1 and experiment.threads=1, so JOBS runs at once need JOBS
# cores; the numbers of the two sweeps are compared too (they must be equal).
#
# Usage: bench/sweep_jobs.sh [BUILD_DIR] [SWEEP.yaml]
#   BUILD_DIR  default: build/release, then build/dev, then build/lead
#   SWEEP.yaml default: experiments/sweeps/sign_flip_aggregators.yaml
# Environment: JOBS (default 2), ROUNDS (default 3: the order 1, N, 1, N, ...
#              alternates so that load from others hits both alike; medians),
#              OVERRIDES (extra key=value words for every run of both sweeps,
#              e.g. "federated.rounds=50" for longer runs).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
jobs="${JOBS:-2}"
rounds="${ROUNDS:-3}"
sweep_file="${2:-$repo/experiments/sweeps/sign_flip_aggregators.yaml}"
export OMP_NUM_THREADS=1

confml=""
for dir in "${1:-}" "$repo/build/release" "$repo/build/dev" "$repo/build/lead"; do
  if [[ -n "$dir" && -x "$dir/experiments/confml" ]]; then
    confml="$dir/experiments/confml"
    break
  fi
done
if [[ -z "$confml" ]]; then
  echo "sweep_jobs.sh: experiments/confml not found; build the target confml and pass its" \
       "build directory" >&2
  exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# One sweep into its own output folder; prints its wall seconds.
run_sweep() {
  local n="$1" out="$2"
  local start end
  start="$(date +%s.%N)"
  # shellcheck disable=SC2086  # OVERRIDES is a list of words
  "$confml" sweep "$sweep_file" experiment.threads=1 ${OVERRIDES:-} "experiment.output_dir=$out" \
      --jobs "$n" >"$out.stdout" 2>"$out.stderr" || {
    echo "sweep_jobs.sh: the --jobs $n sweep failed:" >&2
    cat "$out.stderr" >&2
    exit 3
  }
  end="$(date +%s.%N)"
  echo "$end - $start" | bc -l
}

# The numbers of a sweep, without the columns that may differ (run_dir,
# wall_seconds).
numbers() {
  /usr/bin/python3 - "$1"/*/sweep.csv <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
drop = {rows[0].index("run_dir"), rows[0].index("wall_seconds")}
for r in rows:
    print(",".join(v for i, v in enumerate(r) if i not in drop))
PY
}

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
seq_times=()
par_times=()
for ((r = 1; r <= rounds; r++)); do
  seq_times+=("$(run_sweep 1 "$work/seq$r")")
  par_times+=("$(run_sweep "$jobs" "$work/par$r")")
  if [[ "$(numbers "$work/seq$r")" != "$(numbers "$work/par$r")" ]]; then
    echo "sweep_jobs.sh: round $r: sweep.csv of --jobs $jobs differs from --jobs 1" >&2
    exit 3
  fi
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

/usr/bin/python3 - "$jobs" "$rounds" "$(getconf _NPROCESSORS_ONLN)" "$load_before" "$load_after" \
    "$(head -1 "$work/seq1.stderr")" "${seq_times[@]}" "${par_times[@]}" <<'PY'
import os, statistics, sys
jobs, rounds, cores = sys.argv[1], int(sys.argv[2]), sys.argv[3]
before, after, plan = sys.argv[4], sys.argv[5], sys.argv[6]
seq = [float(x) for x in sys.argv[7:7 + rounds]]
par = [float(x) for x in sys.argv[7 + rounds:7 + 2 * rounds]]
s, p = statistics.median(seq), statistics.median(par)
fmt = lambda xs: ", ".join(f"{x:.2f}" for x in xs)
extra = os.environ.get("OVERRIDES", "")
print(f"{plan}; {cores} cores; OMP_NUM_THREADS=1, experiment.threads=1 {extra}".rstrip())
print(f"--jobs 1:    median {s:.2f} s  ({fmt(seq)})")
print(f"--jobs {jobs}:    median {p:.2f} s  ({fmt(par)})")
print(f"speedup (jobs 1 / jobs {jobs}): {s / p:.2f}x; sweep.csv numbers equal in every round")
print(f"load average (1, 5, 15 min) before: {before}; after: {after}")
PY
