#!/usr/bin/env bash
# Installs the Debian 12 packages confml needs, then configures and builds it.
#
#   scripts/setup.sh [PRESET]      (PRESET defaults to "release")
#
# Idempotent: when every package is present it skips apt entirely, and the
# build step is an incremental ninja build. Safe to run from CI as root.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  # libFuzzer for the token fuzz target (clang only)
  clang libclang-rt-14-dev
  # engine
  libtorch-dev libopenblas0-openmp libeigen3-dev libomp-dev
  libssl-dev libcbor-dev libyaml-cpp-dev libhdf5-dev zlib1g-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # the robust-aggregation bench compares with a BLAS SGEMM (libblas.so link)
  libblas-dev
  # python bindings and notebooks (Debian's interpreter, /usr/bin/python3)
  python3 python3-dev pybind11-dev python3-pybind11 python3-numpy python3-h5py
  python3-matplotlib python3-pytest python3-torch python3-yaml
  jupyter-nbconvert python3-nbconvert python3-ipykernel python3-nbformat
  # data
  dataset-fashion-mnist wamerican
  # scale-out: the MPI simulation backend (CONFML_WITH_MPI, on in the release preset)
  libopenmpi-dev openmpi-bin
  # scale-out: roles as processes over gRPC (CONFML_WITH_GRPC, on in the release preset)
  libgrpc++-dev protobuf-compiler protobuf-compiler-grpc libprotobuf-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's libtorch links the generic BLAS alternative; point it at the
# OpenMP build of OpenBLAS, otherwise training runs about 4x slower.
for alt in libblas.so.3-x86_64-linux-gnu liblapack.so.3-x86_64-linux-gnu; do
  target=$(update-alternatives --list "$alt" 2>/dev/null | grep openblas-openmp || true)
  if [ -n "$target" ] && [ "$(readlink -f /etc/alternatives/$alt)" != "$(readlink -f "$target")" ]; then
    ${SUDO:-} update-alternatives --set "$alt" "$target" >/dev/null
  fi
done

[ "${CONFML_SETUP_ONLY:-0}" = "1" ] && exit 0

cd "$(dirname "$0")/.."
preset="${1:-release}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
