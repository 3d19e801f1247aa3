#!/usr/bin/env bash
# Runs the Islet federated word scenario as separate processes on loopback:
# 1 verifier + 1 runtime + 1 model-provider + N devices, talking gRPC over
# TLS bound to attestation (docs/scaleout.md, "Roles as processes (gRPC)").
#
#   scripts/run-processes.sh experiments/islet/fl_words.yaml [N]
#
# Environment: CONFML (the binary; default build/dev/experiments/confml),
# OUT (folder for logs, certificates and results; default a fresh temp dir),
# RUNTIME_FLAGS (extra `confml serve runtime` flags, e.g. "--min-clients 2").
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

export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
"$confml" serve verifier --config "$config" --listen 127.0.0.1:0 --cert-out "$out/verifier.pem" \
  --ready-file "$out/verifier.addr" --log "$out/verifier.log" 2>/dev/null &
pids+=($!)
wait_file "$out/verifier.addr" 60
verifier=$(cat "$out/verifier.addr")
link=(--config "$config" --verifier "$verifier" --verifier-cert "$out/verifier.pem")

# shellcheck disable=SC2086
"$confml" serve runtime "${link[@]}" --listen 127.0.0.1:0 --ready-file "$out/runtime.addr" \
  --devices "$n" --results "$out/results.json" --checkpoint "$out/runtime.ckpt" \
  --log "$out/runtime.log" ${RUNTIME_FLAGS:-} 2>/dev/null &
runtime_pid=$!
pids+=("$runtime_pid")
wait_file "$out/runtime.addr" 60
runtime=$(cat "$out/runtime.addr")

"$confml" serve model-provider "${link[@]}" --runtime "$runtime" --log "$out/model-provider.log" \
  2>/dev/null &
pids+=($!)
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
    echo "device-$(( i + 1 )) completes the other devices' words:"
    sed 's/^/  /' "$out/device-$(( i + 1 )).out"
  else
    echo "device-$(( i + 1 )) failed; see $out/device-$(( i + 1 )).log" >&2
    status=1
  fi
done
wait "$runtime_pid" || status=1
echo "runtime record: $out/results.json"
cat "$out/results.json" 2>/dev/null || true
echo "logs: $out"
exit $status
