#!/usr/bin/env bash
# Client-updates/s of the MPI simulation backend for 1 and 2 ranks, and the
# parallel efficiency throughput_2 / (2 * throughput_1).
#
#   bench/mpi_bench.sh [BUILD_DIR] [ROUNDS] [MODEL]
#     BUILD_DIR  a build configured with -DCONFML_WITH_MPI=ON (build/release)
#     ROUNDS     federated rounds per run (4); the last one, which evaluates,
#                is left out of the throughput
#     MODEL      small_cnn (default) or mlp
#
# The workload: experiments/fedavg_fashion_mnist.yaml (Fashion-MNIST, 100
# Dirichlet(0.5) clients, 10 a round, 2 local epochs), one worker thread per
# rank and one LibTorch thread, evaluation only after the last round. A
# round's wall time (fl_rounds.h5 `seconds`) covers dealing, training,
# gathering and aggregating, so throughput = 10 * rounds / sum of seconds.
# Both runs must end with the same final-model hash; the script checks it.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/release}"
rounds="${2:-4}"
model="${3:-small_cnn}"
confml="$build/experiments/confml"
[ -x "$confml" ] || { echo "mpi_bench: no $confml (build the confml target)" >&2; exit 2; }
command -v mpirun >/dev/null || { echo "mpi_bench: mpirun not found (openmpi-bin)" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

declare -A tput hash
for np in 1 2; do
  mpirun --oversubscribe -np "$np" "$confml" run experiments/fedavg_fashion_mnist.yaml \
    "experiment.output_dir=$tmp/np$np" experiment.threads=1 federated.workers=1 \
    "federated.rounds=$rounds" federated.eval_every=0 federated.clients_per_round=10 \
    "model.name=$model" --progress=none >"$tmp/np$np.log" 2>&1 ||
    { cat "$tmp/np$np.log" >&2; exit 1; }
  h5="$(ls -d "$tmp/np$np"/*/)fl_rounds.h5"
  read -r t h < <(/usr/bin/python3 - "$h5" <<'EOF'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    secs = list(f["seconds"][:-1])          # the last round also evaluates
    per_round = list(f["clients_admitted"][:-1])
    print(sum(per_round) / sum(secs), f.attrs["final_state_hash"].decode())
EOF
)
  tput[$np]=$t
  hash[$np]=$h
  printf "ranks %d: %.3f client-updates/s (final model %s)\n" "$np" "$t" "$h"
done
[ "${hash[1]}" = "${hash[2]}" ] || { echo "mpi_bench: final models differ" >&2; exit 1; }
/usr/bin/python3 -c "import sys; t1, t2 = map(float, sys.argv[1:]); \
print(f'parallel efficiency: {t2 / (2 * t1):.3f} (speed-up {t2 / t1:.2f}x on $(getconf _NPROCESSORS_ONLN) cores, load average $(cut -d" " -f1 /proc/loadavg))')" \
  "${tput[1]}" "${tput[2]}"
