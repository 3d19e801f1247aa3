#!/usr/bin/env bash
# The main job: sets up (packages, configure, build), then runs the flagship
# attacks x protections matrix (experiments/confidential_matrix.yaml, docs/matrix.md)
# at its small size, prints the table, and draws the heat map (matrix.png).
#
#   scripts/run-main.sh [key.sub=value ...]    # overrides go to `confml run`
#   scripts/run-main.sh matrix.size=full       # the paper-scale run (hours)
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${CONFML_PRESET:-release}"
scripts/setup.sh "$preset"
confml="build/$preset/experiments/confml"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
"$confml" run experiments/confidential_matrix.yaml --progress=lines "$@" | tee "$log"
run_dir="$(sed -n 's/^run folder: //p' "$log" | tail -n 1)"
if [[ -n "$run_dir" ]]; then
  # The heat map needs matplotlib and h5py; the table above does not.
  "$confml" plot "$run_dir" || echo "run-main: no heat map (confml plot failed)" >&2
fi
