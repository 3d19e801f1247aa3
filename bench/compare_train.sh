#!/usr/bin/env bash
# Trains small_cnn on Fashion-MNIST for the same steps with the C++ Trainer
# (bench/train_bench.cc) and with plain PyTorch (bench/train_bench_torch.py),
# one after the other, and prints samples/s of each and the ratio C++/python.
#
# Usage: bench/compare_train.sh [BUILD_DIR]      (default: build/release, then build/dev)
# Environment: THREADS (default 2), ROUNDS (default 3), CONFML_BENCH_STEPS (200),
#              CONFML_BENCH_BATCH (64), CONFML_BENCH_WARMUP (20), CONFML_FASHION_DIR.
# The two sides alternate ROUNDS times and the medians are compared, so that
# load from other processes on a shared machine hits both alike.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
threads="${THREADS:-2}"
rounds="${ROUNDS:-3}"
steps="${CONFML_BENCH_STEPS:-200}"
batch="${CONFML_BENCH_BATCH:-64}"
warmup="${CONFML_BENCH_WARMUP:-20}"
export CONFML_BENCH_STEPS="$steps" CONFML_BENCH_BATCH="$batch" CONFML_BENCH_WARMUP="$warmup"
# Both sides get the same OpenMP/OpenBLAS thread budget.
export OMP_NUM_THREADS="$threads"

bench=""
for dir in "${1:-}" "$repo/build/release" "$repo/build/dev"; do
  if [[ -n "$dir" && -x "$dir/bench/confml_train_bench" ]]; then
    bench="$dir/bench/confml_train_bench"
    break
  fi
done
if [[ -z "$bench" ]]; then
  echo "compare_train.sh: confml_train_bench not found; build the target confml_train_bench" \
       "and pass its build directory" >&2
  exit 2
fi

cpp_runs=()
py_runs=()
for ((r = 1; r <= rounds; r++)); do
  cpp_runs+=("$("$bench" --benchmark_filter="^BM_TrainSmallCnn/threads:${threads}/" \
                 --benchmark_format=json 2>/dev/null)")
  py_runs+=("$(/usr/bin/python3 "$here/train_bench_torch.py" --threads "$threads" \
                 --steps "$steps" --batch "$batch" --warmup "$warmup")")
done

/usr/bin/python3 - "$threads" "$steps" "$batch" "${#cpp_runs[@]}" "${cpp_runs[@]}" "${py_runs[@]}" <<'PY'
import json, statistics, sys
threads, steps, batch, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
cpp_out, py_out = sys.argv[5:5 + rounds], sys.argv[5 + rounds:5 + 2 * rounds]
cpp = []
for out in cpp_out:
    runs = [b for b in json.loads(out)["benchmarks"] if "samples_per_second" in b]
    if not runs:
        sys.exit("compare_train.sh: the C++ benchmark reported nothing: " + out)
    cpp.append(runs[0]["samples_per_second"])
py = [json.loads(out) for out in py_out]
c = statistics.median(cpp)
p = statistics.median(r["samples_per_second"] for r in py)
fmt = lambda xs: ", ".join(f"{x:.0f}" for x in xs)
print(f"small_cnn, Fashion-MNIST, Adam lr 1e-3, {steps} steps of batch {batch}, {threads} threads,"
      f" median of {rounds} alternating rounds")
print(f"  C++ Trainer (LibTorch):  {c:10.1f} samples/s   (runs: {fmt(cpp)})")
print(f"  python3-torch loop:      {p:10.1f} samples/s   (runs: {fmt(r['samples_per_second'] for r in py)};"
      f" {py[0]['impl']})")
print(f"  ratio C++/python:        {c / p:10.3f}")
PY
