#!/usr/bin/env bash
# Installs what ctvnet needs to build and test from Debian's packages, and nothing else.
# Idempotent: asks dpkg what is missing; when nothing is, it touches no network at all;
# otherwise one `apt-get update`, then only the missing packages.
# The CUDA toolkit (nvcc, cuDNN, cuBLAS) is not a Debian package here: when nvcc is found
# the CUDA backend is built, otherwise the build is CPU-only.
set -euo pipefail

packages=(
  g++ cmake ninja-build git pkg-config    # toolchain
  libeigen3-dev                           # small dense linear algebra (geometry)
  libniftiio-dev libnifti2-dev zlib1g-dev # NIfTI images and masks
  libhdf5-dev                             # weights, checkpoints, golden files
  doctest-dev                             # the test framework
  libcli11-dev                            # command-line parsing
  nlohmann-json3-dev                      # manifests, provenance sidecars
  libssl-dev                              # SHA-256 of inputs for provenance
  libcairo2-dev                           # PNG plots and overlays for the report
)

# With --test, also what only the tests use: Chromium renders the report page headless
# (tests/cli/report_html.sh); without it that test is reported as skipped.
if [[ "${1:-}" == "--test" ]]; then
  packages+=(chromium)
elif (($# > 0)); then
  echo "usage: tools/install-deps.sh [--test]" >&2
  exit 2
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then
    sudo=(sudo)
  else
    echo "install-deps: missing packages and not root (no sudo): ${missing[*]}" >&2
    exit 1
  fi
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
