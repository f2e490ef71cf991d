#!/usr/bin/env bash
# `ctv predict` as a user runs it, with the weights written by tools/write_weights_h5py.py
# (tests/data/weights_h5py.h5: a small network, arbitrary values) on the toy cohort: one patient
# (mask in the CT's geometry containing the iGTV, sidecar with the model checksum, the
# probability map), a cohort split, determinism, refusal to overwrite and --force, and one
# error line for a missing model, a missing input and a geometry mismatch.
# usage: predict.sh <path-to-ctv> <tests/data>
set -u
ctv=$1
data=$2
weights=$data/weights_h5py.h5
source "$(dirname "${BASH_SOURCE[0]}")/lib/checks.bash"
source "$(dirname "${BASH_SOURCE[0]}")/lib/toy_cohort.bash"
voxels() {  # file -> voxels > 0.5, from ctv info
  "$ctv" info "$1" | sed -nE 's/^  voxels > 0.5 +([0-9]+) .*/\1/p'
}

make_toy_cohort "$tmp/c"
toy=$tmp/demo/toy

check "one patient" 0 "$ctv" predict --model "$weights" --ct "$toy/ct.nii.gz" \
  --igtv "$toy/igtv.nii.gz" --out "$tmp/p.nii.gz" --prob-map --threads 1
has "summary line" "$out" "p.nii.gz: ct.nii.gz: CTV [0-9.]+ cm3, raw output covered [0-9.]+% of the iGTV"
has "model line on stderr" "$err" "weights_h5py.h5 \(weights, sha256 [0-9a-f]{12}"
"$ctv" info "$tmp/p.nii.gz" >"$out"
has "uint8 mask" "$out" "^  datatype +uint8$"
has "the CT's orientation" "$out" "^  orientation +RAS$"
has "the CT's dims" "$out" "^  dims +64 x 48 x 24$"
n_igtv=$(voxels "$toy/igtv.nii.gz")
n_pred=$(voxels "$tmp/p.nii.gz")
[[ $n_pred -ge $n_igtv && $n_igtv -gt 0 ]] ||
  { echo "FAIL: prediction has $n_pred voxels, the iGTV $n_igtv"; fail=1; }
has "sidecar records the model checksum" "$tmp/p.nii.gz.json" '"model_checksum": "[0-9a-f]{64}"'
has "sidecar records the time" "$tmp/p.nii.gz.json" '"elapsed_s"'
"$ctv" info "$tmp/p_prob.nii.gz" >"$out"
has "float32 probability map" "$out" "^  datatype +float32$"

check "same again, 2 threads, no union" 0 "$ctv" predict --model "$weights" \
  --ct "$toy/ct.nii.gz" --igtv "$toy/igtv.nii.gz" --out "$tmp/q.nii.gz" --prob-map --threads 2 \
  --no-igtv-union
cmp -s "$tmp/p_prob.nii.gz" "$tmp/q_prob.nii.gz" ||
  { echo "FAIL: probability maps differ between 1 and 2 threads"; fail=1; }
n_raw=$(voxels "$tmp/q.nii.gz")
[[ $n_raw -le $n_pred ]] || { echo "FAIL: no-union output $n_raw > union $n_pred"; fail=1; }

check "refuses to overwrite" 1 "$ctv" predict --model "$weights" --ct "$toy/ct.nii.gz" \
  --igtv "$toy/igtv.nii.gz" --out "$tmp/p.nii.gz"
has "overwrite message" "$err" "p.nii.gz: exists; not overwritten \(use --force"
lines "one error line" "$err" 1
check "--force replaces" 0 "$ctv" predict --model "$weights" --ct "$toy/ct.nii.gz" \
  --igtv "$toy/igtv.nii.gz" --out "$tmp/p.nii.gz" --force

check "cohort, test split" 0 "$ctv" predict --model "$weights" --cohort "$tmp/c" --split test \
  --name net
for p in pa pb; do
  [[ -f $tmp/c/$p/pred_net.nii.gz && -f $tmp/c/$p/pred_net.nii.gz.json ]] ||
    { echo "FAIL: no pred_net for $p"; fail=1; }
done
[[ ! -e $tmp/c/pc/pred_net.nii.gz ]] || { echo "FAIL: predicted a training patient"; fail=1; }
has "cohort summary" "$out" "2 patients of .* -> pred_net.nii.gz"
check "cohort outputs are not overwritten" 1 "$ctv" predict --model "$weights" --cohort "$tmp/c" \
  --split test --name net
has "cohort overwrite message" "$err" "pa/pred_net.nii.gz: exists; not overwritten"
check "a method name must be plain" 1 "$ctv" predict --model "$weights" --cohort "$tmp/c" \
  --name ../x
has "name message" "$err" "--name '../x'"

check "missing model" 1 "$ctv" predict --model "$tmp/none.h5" --ct "$toy/ct.nii.gz" \
  --igtv "$toy/igtv.nii.gz" --out "$tmp/m.nii.gz"
has "missing model names it" "$err" "none.h5"
lines "one error line" "$err" 1
[[ ! -e $tmp/m.nii.gz ]] || { echo "FAIL: output written despite the missing model"; fail=1; }
check "missing CT" 1 "$ctv" predict --model "$weights" --ct "$tmp/no_ct.nii.gz" \
  --igtv "$toy/igtv.nii.gz" --out "$tmp/m.nii.gz"
has "missing CT names it" "$err" "no_ct.nii.gz: missing"
check "geometry mismatch" 1 "$ctv" predict --model "$weights" --ct "$toy/ct.nii.gz" \
  --igtv "$data/nifti/mask_ras.nii.gz" --out "$tmp/m.nii.gz"
has "mismatch names both files" "$err" "ct.nii.gz.*mask_ras.nii.gz|mask_ras.nii.gz.*ct.nii.gz"
[[ ! -e $tmp/m.nii.gz ]] || { echo "FAIL: output written for bad input"; fail=1; }
check "--cohort with --ct" 2 "$ctv" predict --model "$weights" --cohort "$tmp/c" --ct x
# --device cuda: on a machine without a GPU (or a build without CUDA), one line and no output;
# with one, it predicts.
if "$ctv" --version 2>/dev/null | grep -q "^GPU found: yes"; then
  check "--device cuda" 0 "$ctv" predict --model "$weights" --ct "$toy/ct.nii.gz" \
    --igtv "$toy/igtv.nii.gz" --out "$tmp/gpu.nii.gz" --device cuda
else
  check "--device cuda without a GPU" 1 "$ctv" predict --model "$weights" --ct "$toy/ct.nii.gz" \
    --igtv "$toy/igtv.nii.gz" --out "$tmp/gpu.nii.gz" --device cuda
  has "names the reason" "$err" "--device cuda: (no GPU: .+|this ctv was built without the CUDA backend)"
  [[ ! -e $tmp/gpu.nii.gz ]] || { echo "FAIL: output written without a GPU"; fail=1; }
fi
check "--precision tf32 on the CPU" 1 "$ctv" predict --model "$weights" --ct "$toy/ct.nii.gz" \
  --igtv "$toy/igtv.nii.gz" --out "$tmp/tf32.nii.gz" --precision tf32
has "TF32 message" "$err" "^ctv predict: error: --precision tf32: runs on the GPU's tensor cores only"
[[ ! -e $tmp/tf32.nii.gz ]] || { echo "FAIL: output written for a refused --precision"; fail=1; }
exit $fail
