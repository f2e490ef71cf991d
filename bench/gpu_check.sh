#!/usr/bin/env bash
# The GPU check (shared/GPU.md): needs only a build folder made on a build machine.
# usage: bench/gpu_check.sh BUILD_DIR LOG_DIR
# Prints the card and driver, runs what the build holds for the GPU, writes each result to
# LOG_DIR as soon as it has it (a run cut short still returns what it measured), and prints
# a short table last.
set -u
build=${1:?usage: bench/gpu_check.sh BUILD_DIR LOG_DIR}
logs=${2:?usage: bench/gpu_check.sh BUILD_DIR LOG_DIR}
mkdir -p "$logs"
table="$logs/table.txt"
: >"$table"
row() { printf '%-34s %s\n' "$1" "$2" | tee -a "$table"; }

echo "== card and driver" | tee "$logs/card.txt"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv | tee -a "$logs/card.txt"
else
  echo "nvidia-smi not found" | tee -a "$logs/card.txt"
fi
command -v nvcc >/dev/null && nvcc --version | tail -1 | tee -a "$logs/card.txt"

echo "== ctv --version (run-time backend selection)"
if "$build/ctv" --version >"$logs/ctv-version.txt" 2>&1; then
  cat "$logs/ctv-version.txt"
  if grep -q "^GPU found: yes" "$logs/ctv-version.txt"; then
    row "ctv --version: GPU found" "yes"
  else
    row "ctv --version: GPU found" "NO ($(grep '^GPU found' "$logs/ctv-version.txt"))"
  fi
else
  cat "$logs/ctv-version.txt"
  row "ctv --version" "FAILED to run"
fi

echo "== CUDA kernel tests against the CPU reference"
if [[ -x "$build/ctv_gpu_tests" ]]; then
  "$build/ctv_gpu_tests" >"$logs/gpu-tests.txt" 2>&1
  rc=$?
  if grep -q "skipped: no GPU" "$logs/gpu-tests.txt"; then
    row "CUDA kernels vs CPU reference" "not run: no GPU (every case skipped)"
  else
    row "CUDA kernels vs CPU reference" "$([[ $rc -eq 0 ]] && echo pass || echo FAIL) ($(tail -1 "$logs/gpu-tests.txt"))"
  fi
else
  row "CUDA kernels vs CPU reference" "not run: this build has no CUDA kernels yet"
fi

echo "== compute-sanitizer"
if [[ -x "$build/ctv_gpu_tests" ]] && command -v compute-sanitizer >/dev/null; then
  for tool in memcheck racecheck; do
    # The test shapes are small (at most a few thousand output pixels): all of them.
    compute-sanitizer --tool "$tool" --error-exitcode 1 "$build/ctv_gpu_tests" \
      >"$logs/sanitizer-$tool.txt" 2>&1
    row "compute-sanitizer $tool" "$([[ $? -eq 0 ]] && echo clean || echo "FAIL or refused: see sanitizer-$tool.txt")"
  done
elif [[ -x "$build/ctv_gpu_tests" ]]; then
  row "compute-sanitizer" "not run: compute-sanitizer not found"
else
  row "compute-sanitizer" "not run: this build has no CUDA kernels"
fi

echo "== ctv train and ctv predict with --device cuda on a tiny cohort (and train under memcheck)"
if "$build/ctv" --version 2>/dev/null | grep -q "^GPU found: yes"; then
  tiny="$logs/tiny"
  rm -rf "$tiny"
  small=(--grid 32,32,16 --spacing 8,8,10 --levels 3 --base-filters 4 --copies 1 --epochs 1)
  if "$build/ctv" phantom --out "$tiny/cohort" --n 8 --spacing 4,4,10 --size 104,72,32 \
       >"$logs/tiny-phantom.txt" 2>&1 &&
     timeout 120 "$build/ctv" train --cohort "$tiny/cohort" --out "$tiny/gpu" "${small[@]}" \
       --device cuda >"$logs/tiny-train-gpu.txt" 2>&1; then
    row "ctv train --device cuda (tiny)" "ran: $(grep -c '^epoch' "$logs/tiny-train-gpu.txt") epoch line(s)"
    "$build/ctv" predict --model "$tiny/gpu/best.h5" --cohort "$tiny/cohort" --split test \
      --name cpu >"$logs/tiny-predict.txt" 2>&1
    "$build/ctv" predict --model "$tiny/gpu/best.h5" --cohort "$tiny/cohort" --split test \
      --name gpu --device cuda >>"$logs/tiny-predict.txt" 2>&1
    row "ctv predict --device cuda (tiny)" "$([[ $? -eq 0 ]] && echo ran || echo FAILED): see tiny-predict.txt"
    p=$(ls "$tiny"/cohort/*/pred_gpu.nii.gz 2>/dev/null | head -1)
    if [[ -n $p ]]; then
      "$build/ctv" eval --pred "$p" --ref "${p%pred_gpu.nii.gz}pred_cpu.nii.gz" \
        >"$logs/tiny-gpu-vs-cpu.txt" 2>&1
      row "GPU mask vs CPU mask (one patient)" "$(grep -m1 '^  dice' "$logs/tiny-gpu-vs-cpu.txt" | tr -s ' ')"
    fi
    for prec in tf32 bf16; do
      timeout 60 "$build/ctv" train --cohort "$tiny/cohort" --out "$tiny/gpu-$prec" "${small[@]}" \
        --device cuda --precision $prec >"$logs/tiny-train-$prec.txt" 2>&1
      row "ctv train --precision $prec (tiny)" "$([[ $? -eq 0 ]] && echo "ran: $(grep -m1 '^epoch 1:' "$logs/tiny-train-$prec.txt")" || echo "FAILED: see tiny-train-$prec.txt")"
    done
    if command -v compute-sanitizer >/dev/null; then
      timeout 90 compute-sanitizer --tool memcheck --error-exitcode 1 "$build/ctv" train \
        --cohort "$tiny/cohort" --out "$tiny/memcheck" "${small[@]}" --device cuda \
        >"$logs/sanitizer-train.txt" 2>&1
      row "memcheck: a training epoch" "$([[ $? -eq 0 ]] && echo clean || echo "FAIL, refused or timed out: see sanitizer-train.txt")"
    fi
  else
    row "ctv train --device cuda (tiny)" "FAILED: see tiny-train-gpu.txt"
  fi
else
  row "ctv train/predict --device cuda" "not run: no GPU found"
fi

# bench_beside_peer PRECISION CASES SECONDS: `ctv bench gpu` in PRECISION on CASES, then
# bench/torch_gpu.py on the same records; each within SECONDS; logs named by the precision.
bench_beside_peer() {
  local prec=$1 cases=$2 limit=$3
  local name="ctv bench gpu --precision $prec" ours="$logs/bench-gpu-$prec" peer="$logs/torch-gpu-$prec"
  if ! "$build/ctv" --version 2>/dev/null | grep -q "^GPU found: yes"; then
    row "$name" "not run: no GPU found"
    return
  fi
  if ! timeout "$limit" "$build/ctv" bench gpu --precision "$prec" --cases "$cases" \
      --json "$ours.json" --force >"$ours.txt" 2>&1; then
    row "$name" "FAILED or timed out: see $(basename "$ours").txt"
    return
  fi
  cat "$ours.txt"
  row "$name" "ran ($(grep -c '/' "$ours.txt") rows)"
  if timeout "$limit" python3 "$(dirname "${BASH_SOURCE[0]}")/torch_gpu.py" --ours "$ours.json" \
      --json "$peer.json" >"$peer.txt" 2>&1; then
    grep '^|' "$peer.txt" | tee "$logs/ratios-$prec.md"
    row "cuDNN $prec beside ours" "see ratios-$prec.md (ours / cuDNN per case)"
  else
    row "cuDNN $prec beside ours" "FAILED or timed out: see $(basename "$peer").txt"
  fi
}

echo "== the default U-Net at 416x288x128, fp32 (inference, train step, every conv layer): ours, then PyTorch"
bench_beside_peer fp32 infer,step,conv 90
for prec in tf32 bf16; do
  echo "== the conv layers in $prec on the tensor cores: ours, then cuDNN in $prec"
  bench_beside_peer $prec conv 60
done

echo
echo "== summary"
cat "$table"
