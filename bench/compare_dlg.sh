#!/usr/bin/env bash
# Runs DLG for the same number of L-BFGS steps (20 inner iterations each) on the
# same model (DLG's sigmoid LeNet), image and thread count in confml
# (bench/dlg_bench.cc) and in plain python3-torch (bench/dlg_torch.py), and
# prints objective evaluations/s of each and the ratio confml/python.
#
# Usage: bench/compare_dlg.sh [BUILD_DIR]   (default: build/release, then build/dev)
# Environment: THREADS (default 1), STEPS (default 10), ROUNDS (default 3),
#              CONFML_FASHION_DIR.
# The two sides alternate ROUNDS times and the medians are compared, so that
# load from other processes on a shared machine hits both alike.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
threads="${THREADS:-1}"
steps="${STEPS:-10}"
rounds="${ROUNDS:-3}"
fashion="${CONFML_FASHION_DIR:-/usr/share/datasets/fashion-mnist}"
export OMP_NUM_THREADS="$threads"

bench=""
for dir in "${1:-}" "$repo/build/release" "$repo/build/dev"; do
  if [[ -n "$dir" && -x "$dir/bench/confml_dlg_bench" ]]; then
    bench="$dir/bench/confml_dlg_bench"
    break
  fi
done
if [[ -z "$bench" ]]; then
  echo "compare_dlg.sh: confml_dlg_bench not found; build the target confml_dlg_bench" \
       "and pass its build directory" >&2
  exit 2
fi

cpp_runs=()
py_runs=()
for ((r = 1; r <= rounds; r++)); do
  cpp_runs+=("$("$bench" --steps "$steps" --threads "$threads" --fashion_dir "$fashion")")
  py_runs+=("$(/usr/bin/python3 "$here/dlg_torch.py" --steps "$steps" --threads "$threads" \
                 --fashion_dir "$fashion")")
done

/usr/bin/python3 - "$threads" "$steps" "$rounds" "${cpp_runs[@]}" "${py_runs[@]}" <<'PY'
import json, statistics, sys
threads, steps, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
cpp = [json.loads(s) for s in sys.argv[4:4 + rounds]]
py = [json.loads(s) for s in sys.argv[4 + rounds:4 + 2 * rounds]]
c = statistics.median(r["evaluations_per_second"] for r in cpp)
p = statistics.median(r["evaluations_per_second"] for r in py)
fmt = lambda rs: ", ".join(f"{r['evaluations_per_second']:.1f}" for r in rs)
print(f"DLG, lenet_dlg (sigmoid), 1 Fashion-MNIST image, {steps} L-BFGS steps x 20 inner"
      f" iterations, {threads} thread(s), median of {rounds} alternating rounds")
print(f"  confml:        {c:9.1f} evaluations/s  ({cpp[0]['evaluations']} evaluations;"
      f" runs: {fmt(cpp)}; {cpp[0]['impl']})")
print(f"  python3-torch: {p:9.1f} evaluations/s  ({py[0]['evaluations']} evaluations;"
      f" runs: {fmt(py)}; {py[0]['impl']})")
print(f"  ratio confml/python: {c / p:.3f}")
PY
