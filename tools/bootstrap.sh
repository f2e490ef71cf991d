#!/usr/bin/env bash
# The README's two commands:
#   tools/bootstrap.sh demo   installs what is missing, builds, runs `ctv demo`
#   tools/bootstrap.sh test   installs what is missing, builds if needed, runs every test:
#                             the Release build (with CUDA when nvcc is found), then an
#                             AddressSanitizer + UndefinedBehaviorSanitizer build (CPU only)
# With CI=true (continuous integration) the CUDA backend is compiled for sm_90 only, to
# stay within CI's time; everywhere else for the default architectures (sm_80, sm_90, PTX).
set -euo pipefail

usage() { echo "usage: tools/bootstrap.sh demo|test|build [args for ctv demo...]" >&2; }
(($# >= 1)) || { usage; exit 2; }
mode=$1
shift
case "$mode" in demo | test | build) ;; *) usage; exit 2 ;; esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
start=$(date +%s)
jobs=$(nproc)

if [[ "$mode" == test ]]; then tools/install-deps.sh --test; else tools/install-deps.sh; fi

# nvcc lives outside PATH on some machines; the CUDA backend is optional either way.
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
cuda_args=()
if [[ "${CI:-}" == "true" ]]; then cuda_args+=(-DCTV_CUDA_ARCHS=90); fi

configure_and_build() {  # folder, cmake args...
  local dir=$1
  shift
  if [[ ! -f "$dir/build.ninja" ]]; then
    mkdir -p "$dir"
    cmake -S . -B "$dir" -G Ninja "$@" >"$dir/configure.log" 2>&1 || {
      cat "$dir/configure.log" >&2
      echo "bootstrap: configuring $dir failed (log above)" >&2
      exit 1
    }
  fi
  cmake --build "$dir" --parallel "$jobs"
}

configure_and_build build -DCMAKE_BUILD_TYPE=Release "${cuda_args[@]}"
echo "bootstrap: set-up and build took $(($(date +%s) - start)) s"

case "$mode" in
  build) ;;
  demo) exec build/ctv demo "$@" ;;
  test)
    ctest --test-dir build --output-on-failure --parallel "$jobs"
    configure_and_build build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCTV_SANITIZE=ON -DCTV_CUDA=OFF
    ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions="$root/tools/lsan.supp" UBSAN_OPTIONS=print_stacktrace=1 \
      ctest --test-dir build-asan --output-on-failure --parallel "$jobs"
    echo "bootstrap: all tests passed in the Release and sanitizer builds ($(($(date +%s) - start)) s in all)"
    ;;
esac
