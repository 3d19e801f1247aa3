#!/usr/bin/env bash
# Runs a `kind: federated` experiment as separate processes on loopback,
# talking gRPC over TLS bound to attestation (docs/scaleout.md, "Roles as
# processes (gRPC)"): 1 verifier + 1 runtime (the federated engine, writing
# its run folder as `confml run` does) + 1 model-provider (builds the initial
# model, from the seed or federated.initial_model, and releases it to the
# runtime) + N devices training the clients with id % N == their index (with
# partition owned, as in the word scenario, device i trains client i only).
#
#   scripts/run-processes.sh experiments/islet/fl_words_federated.yaml 2
#   scripts/run-processes.sh experiments/fl_processes.yaml [N]
#
# Environment: CONFML (the binary; default build/dev/experiments/confml),
# OUT (folder for logs, certificates and results; default a fresh temp dir),
# RUNTIME_FLAGS (extra `confml serve runtime` flags, e.g. "--round-timeout 5"),
# SET (config overrides given to every process, e.g.
# "federated.rounds=2 federated.min_updates=2 experiment.output_dir=/tmp/runs").
# Every process is stopped when the script exits, whatever happened.
set -euo pipefail

config=${1:?usage: scripts/run-processes.sh CONFIG [N]}
n=${2:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
confml=${CONFML:-$root/build/dev/experiments/confml}
out=${OUT:-$(mktemp -d /tmp/confml-processes.XXXXXX)}
mkdir -p "$out"
rm -f "$out/results.json"  # this run's record only
[[ -x $confml ]] || { echo "no confml binary at $confml (build with -DCONFML_WITH_GRPC=ON, or set CONFML)" >&2; exit 2; }

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

wait_file() {  # wait_file FILE SECONDS PID ERR: until FILE exists, or PID (writing ERR) died
  for _ in $(seq 1 $(( $2 * 10 ))); do
    [[ -s $1 ]] && return 0
    if ! kill -0 "$3" 2>/dev/null; then
      tail -n 1 "$4" >&2
      exit 2
    fi
    sleep 0.1
  done
  echo "timed out waiting for $1" >&2
  return 1
}

overrides=()
for o in ${SET:-}; do overrides+=(--set "$o"); done

export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
"$confml" serve verifier --config "$config" ${overrides[@]+"${overrides[@]}"} --listen 127.0.0.1:0 --cert-out "$out/verifier.pem" \
  --ready-file "$out/verifier.addr" --log "$out/verifier.log" 2>"$out/verifier.err" &
pids+=($!)
wait_file "$out/verifier.addr" 60 $! "$out/verifier.err"
verifier=$(cat "$out/verifier.addr")
link=(--config "$config" --verifier "$verifier" --verifier-cert "$out/verifier.pem"
      ${overrides[@]+"${overrides[@]}"})

# shellcheck disable=SC2086
"$confml" serve runtime "${link[@]}" --listen 127.0.0.1:0 --ready-file "$out/runtime.addr" \
  --devices "$n" --results "$out/results.json" \
  --log "$out/runtime.log" ${RUNTIME_FLAGS:-} 2>"$out/runtime.err" &
runtime_pid=$!
pids+=("$runtime_pid")
wait_file "$out/runtime.addr" 60 "$runtime_pid" "$out/runtime.err"
runtime=$(cat "$out/runtime.addr")

# The model-provider owns the initial model and releases it to the attested
# runtime, which waits for it before round 1.
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
    echo "device-$(( i + 1 )):"
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
if ! wait "$runtime_pid"; then
  echo "the runtime failed: $(tail -n 1 "$out/runtime.err" 2>/dev/null)" >&2
  status=1
fi
echo "runtime record: $out/results.json"
cat "$out/results.json" 2>/dev/null || true
echo "logs: $out"
exit $status
