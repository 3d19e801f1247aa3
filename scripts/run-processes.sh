#!/usr/bin/env bash
# Runs a federated scenario as separate processes on loopback, talking gRPC
# over TLS bound to attestation (docs/scaleout.md, "Roles as processes (gRPC)"):
#   - the Islet word scenario (flow fl_words): 1 verifier + 1 runtime +
#     1 model-provider + N devices;
#   - any `kind: federated` experiment (the flagship FL flow): 1 verifier +
#     1 runtime (the federated engine, writing its run folder as `confml run`
#     does) + 1 model-provider (builds the initial model, from the seed or
#     federated.initial_model, and releases it to the runtime) + N devices
#     training the clients with id % N == their index.
#
#   scripts/run-processes.sh experiments/islet/fl_words.yaml [N]
#   scripts/run-processes.sh experiments/fl_processes.yaml [N]
#
# Environment: CONFML (the binary; default build/dev/experiments/confml),
# OUT (folder for logs, certificates and results; default a fresh temp dir),
# RUNTIME_FLAGS (extra `confml serve runtime` flags, e.g. "--min-clients 2"),
# SET (config overrides given to every process, e.g.
# "federated.rounds=2 experiment.output_dir=/tmp/runs").
# Every process is stopped when the script exits, whatever happened.
set -euo pipefail

config=${1:?usage: scripts/run-processes.sh CONFIG [N]}
n=${2:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
confml=${CONFML:-$root/build/dev/experiments/confml}
out=${OUT:-$(mktemp -d /tmp/confml-processes.XXXXXX)}
mkdir -p "$out"
rm -f "$out/runtime.ckpt" "$out/results.json"  # a fresh run, not a resume
[[ -x $confml ]] || { echo "no confml binary at $confml (build with -DCONFML_WITH_GRPC=ON, or set CONFML)" >&2; exit 2; }

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

wait_file() {  # wait_file FILE SECONDS
  for _ in $(seq 1 $(( $2 * 10 ))); do
    [[ -s $1 ]] && return 0
    sleep 0.1
  done
  echo "timed out waiting for $1" >&2
  return 1
}

federated=0
grep -Eq 'kind:[[:space:]]*federated' "$config" && federated=1
overrides=()
for o in ${SET:-}; do overrides+=(--set "$o"); done

export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
"$confml" serve verifier --config "$config" ${overrides[@]+"${overrides[@]}"} --listen 127.0.0.1:0 --cert-out "$out/verifier.pem" \
  --ready-file "$out/verifier.addr" --log "$out/verifier.log" 2>/dev/null &
pids+=($!)
wait_file "$out/verifier.addr" 60
verifier=$(cat "$out/verifier.addr")
link=(--config "$config" --verifier "$verifier" --verifier-cert "$out/verifier.pem"
      ${overrides[@]+"${overrides[@]}"})
runtime_extra=(--checkpoint "$out/runtime.ckpt")  # the word flow's own checkpoint
(( federated )) && runtime_extra=()  # the engine checkpoints into its run folder

# shellcheck disable=SC2086
"$confml" serve runtime "${link[@]}" --listen 127.0.0.1:0 --ready-file "$out/runtime.addr" \
  --devices "$n" --results "$out/results.json" ${runtime_extra[@]+"${runtime_extra[@]}"} \
  --log "$out/runtime.log" ${RUNTIME_FLAGS:-} 2>"$out/runtime.err" &
runtime_pid=$!
pids+=("$runtime_pid")
wait_file "$out/runtime.addr" 60
runtime=$(cat "$out/runtime.addr")

# Both flows: the model-provider owns the initial model and releases it to
# the attested runtime (the federated runtime waits for it before round 1).
"$confml" serve model-provider "${link[@]}" --runtime "$runtime" \
  --log "$out/model-provider.log" 2>/dev/null &
provider_pid=$!
pids+=("$provider_pid")
device_pids=()
for i in $(seq 0 $(( n - 1 ))); do
  "$confml" device "${link[@]}" --runtime "$runtime" --index "$i" --of "$n" \
    --name "device-$(( i + 1 ))" --log "$out/device-$(( i + 1 )).log" \
    > "$out/device-$(( i + 1 )).out" 2>/dev/null &
  device_pids+=($!)
  pids+=($!)
done

status=0
for i in "${!device_pids[@]}"; do
  if wait "${device_pids[$i]}"; then
    if (( federated )); then echo "device-$(( i + 1 )):"; else
    echo "device-$(( i + 1 )) completes the other devices' words:"; fi
    sed 's/^/  /' "$out/device-$(( i + 1 )).out"
  else
    echo "device-$(( i + 1 )) failed; see $out/device-$(( i + 1 )).log" >&2
    status=1
  fi
done
if ! wait "$provider_pid"; then
  echo "the model-provider failed; see $out/model-provider.log" >&2
  status=1
fi
wait "$runtime_pid" || status=1
echo "runtime record: $out/results.json"
cat "$out/results.json" 2>/dev/null || true
echo "logs: $out"
exit $status
