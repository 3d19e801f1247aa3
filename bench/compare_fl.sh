#!/usr/bin/env bash
# Runs the same FedAvg workload (small_cnn, Fashion-MNIST, IID split into
# CLIENTS clients, PER_ROUND sampled per round, EPOCHS local epochs, batch 32,
# SGD lr 0.01 momentum 0.9, no evaluation) with confml's engine
# (bench/fl_bench.cc, WORKERS worker threads, one replica each, single-threaded
# ops) and with a plain python3-torch loop (bench/fl_bench_torch.py, THREADS
# intra-op threads), one after the other, and prints client-updates/s of each,
# the ratio confml/python (target >= 2) and confml's framework overhead
# (target <= 0.10): 1 - (pure local-training seconds / workers) / round seconds.
# Also prints the ratio against the Python loop on 1 intra-op thread.
#
# Usage: bench/compare_fl.sh [BUILD_DIR]          (default: build/release, then build/dev)
# Environment: ROUNDS (5), CLIENTS (100), PER_ROUND (10), EPOCHS (1), WORKERS (2), THREADS (2)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
rounds="${ROUNDS:-5}" clients="${CLIENTS:-100}" per_round="${PER_ROUND:-10}"
epochs="${EPOCHS:-1}" workers="${WORKERS:-2}" threads="${THREADS:-2}"

bench=""
for dir in "${1:-}" "$repo/build/release" "$repo/build/dev"; do
  if [[ -n "$dir" && -x "$dir/bench/confml_fl_bench" ]]; then
    bench="$dir/bench/confml_fl_bench"
    break
  fi
done
if [[ -z "$bench" ]]; then
  echo "compare_fl.sh: confml_fl_bench not found; build the target confml_fl_bench and pass" \
       "its build directory" >&2
  exit 2
fi

common=(--rounds "$rounds" --clients "$clients" --per-round "$per_round" --epochs "$epochs")
cpp_json="$("$bench" speed "${common[@]}" --workers "$workers" | tail -n 1)"
echo "confml: $cpp_json"
py_json="$(/usr/bin/python3 "$here/fl_bench_torch.py" "${common[@]}" --threads "$threads")"
echo "python: $py_json"
# A second reference: the same loop on one intra-op thread (per core, both
# sides then run the same LibTorch kernels).
py1_json="$(/usr/bin/python3 "$here/fl_bench_torch.py" "${common[@]}" --threads 1)"
echo "python1: $py1_json"

/usr/bin/python3 - "$cpp_json" "$py_json" "$py1_json" <<'PY'
import json, sys
cpp, py, py1 = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
ratio = cpp["client_updates_per_s"] / py["client_updates_per_s"]
print(f"workload: {cpp['rounds']} rounds x {cpp['per_round']} clients of {cpp['clients']}, "
      f"{cpp['local_epochs']} local epoch(s), batch {cpp['batch']}, small_cnn")
print(f"confml  ({cpp['workers']} workers): {cpp['client_updates_per_s']:.3f} client-updates/s, "
      f"wall {cpp['wall_seconds']:.1f} s, framework overhead {100 * cpp['framework_overhead']:.1f} %, "
      f"peak RSS {cpp['peak_rss_mib']:.0f} MiB")
print(f"python  ({py['threads']} threads): {py['client_updates_per_s']:.3f} client-updates/s, "
      f"wall {py['wall_seconds']:.1f} s, loop overhead {100 * py['framework_overhead']:.1f} %")
print(f"python  (1 thread):  {py1['client_updates_per_s']:.3f} client-updates/s, "
      f"wall {py1['wall_seconds']:.1f} s; ratio confml/python-1-thread: "
      f"{cpp['client_updates_per_s'] / py1['client_updates_per_s']:.2f}x")
print(f"ratio confml/python: {ratio:.2f}x (target >= 2x); "
      f"overhead {'OK' if cpp['framework_overhead'] <= 0.10 else 'ABOVE'} the 10 % target")
PY
