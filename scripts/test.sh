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
# The security-critical, LibTorch-free suites (token codec, verifier, policy,
# channel, realm simulator, cca backend, datasets, configs' core) once more under
# AddressSanitizer and UndefinedBehaviorSanitizer.
if [ -z "$*" ]; then
  asan_targets=(confml_core_quick_tests confml_defenses_quick_tests confml_defenses_slow_tests
                confml_tee_sim_quick_tests confml_tee_sim_verify_tests confml_cca_backend_quick_tests)
  cmake --preset asan -DCONFML_BUILD_PYTHON=OFF >/dev/null
  cmake --build --preset asan --target "${asan_targets[@]}"
  for t in "${asan_targets[@]}"; do
    exe=$(find build/asan/tests -name "$t" -type f -executable | head -1)
    log="build/asan/$t.log"
    if ! UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
        "$exe" --gtest_brief=1 >"$log" 2>&1; then
      cat "$log"
      echo "asan+ubsan: $t FAILED" >&2
      exit 1
    fi
    echo "asan+ubsan: $t: $(tail -n 1 "$log")"
  done
fi
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
