#!/usr/bin/env bash
# The whole test suite: sets up (packages, configure, build), then runs every
# CTest suite (quick and slow labels; slow ones run at small sizes) and, once
# the Python bindings are built, pytest with Debian's /usr/bin/python3.
#
#   scripts/test.sh            # everything
#   scripts/test.sh -L quick   # extra arguments go to ctest
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${CONFML_PRESET:-release}"
scripts/setup.sh "$preset"
ctest --preset "$preset" -j "$(nproc)" --timeout 900 "$@"
# The token decoder/verifier fuzz target: a bounded libFuzzer run, built with
# clang in its own tree (only the attestation sources are compiled).
if [ -z "$*" ] && command -v clang++ >/dev/null; then
  CC=clang CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCONFML_BUILD_FUZZ=ON -DCONFML_BUILD_BENCH=OFF -DCONFML_BUILD_PYTHON=OFF >/dev/null
  cmake --build build/fuzz --target confml_token_fuzz
  ctest --test-dir build/fuzz -L fuzz --output-on-failure
fi
if [ -d python/tests ] && [ -f "build/$preset/python/confml_path.txt" ]; then
  PYTHONPATH="$(cat "build/$preset/python/confml_path.txt")" /usr/bin/python3 -m pytest -q python/tests
fi
