#!/usr/bin/env bash
# The main job on its embedded defaults: sets up (packages, configure,
# build), then runs the default experiment and prints its result.
#
#   scripts/run-main.sh [key.sub=value ...]    # overrides go to `confml run`
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${CONFML_PRESET:-release}"
scripts/setup.sh "$preset"
exec "build/$preset/experiments/confml" run experiments/fashion_mnist_cnn.yaml "$@"
