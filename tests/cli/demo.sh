#!/usr/bin/env bash
# ctv demo, shortened. The cohort demo on 6 patients with the weights of
# tools/write_weights_h5py.py (the shipped model is not needed here): every step runs, the
# predictions, report and Table 1 appear, a second run replaces the demo's own files, a missing
# model is one error line. The toy demo (--toy): every stage runs, every file and sidecar
# appears, a second run replaces the demo's own files and says so; a bad option is a usage error.
# usage: demo.sh <path-to-ctv> <tests/data>
set -u
ctv=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail=0

"$ctv" demo --out "$out/c" --n 6 --weights "$2/weights_h5py.h5" >"$out/clog" 2>&1 ||
  { echo "FAIL: cohort demo exited $?"; cat "$out/clog"; exit 1; }
for stage in "\[1/3\]" "\[2/3\]" "\[3/3\]" "\\$ ctv phantom" "\\$ ctv predict" "\\$ ctv report" \
  "| DSC |" "8 mm expansion" "ctv demo: done in"; do
  grep -q "$stage" "$out/clog" || { echo "FAIL: no '$stage' in the cohort demo's output"; fail=1; }
done
n_pred=$(ls "$out"/c/cohort/*/pred_model.nii.gz 2>/dev/null | wc -l)
[[ $n_pred -eq 2 ]] || { echo "FAIL: $n_pred predictions, expected 2 (the test patients)"; fail=1; }
[[ -s $out/c/report/report.html && -s $out/c/report/table1.csv ]] || { echo "FAIL: no report"; fail=1; }
"$ctv" demo --out "$out/c" --n 6 --weights "$2/weights_h5py.h5" >"$out/clog2" 2>&1 ||
  { echo "FAIL: second cohort demo exited $?"; cat "$out/clog2"; fail=1; }
grep -q "replacing" "$out/clog2" || { echo "FAIL: the second run did not say it replaces files"; fail=1; }
"$ctv" demo --out "$out/d" --weights "$out/none.h5" >"$out/dlog" 2>&1
[[ $? -eq 1 ]] || { echo "FAIL: a missing model is not exit 1"; fail=1; }
grep -q "none.h5: missing" "$out/dlog" || { echo "FAIL: no message naming the missing model"; cat "$out/dlog"; fail=1; }
[[ ! -e $out/d/cohort ]] || { echo "FAIL: work done despite the missing model"; fail=1; }

# The shipped model loads, with the checksum its model card gives.
shipped=$(dirname "${BASH_SOURCE[0]}")/../../weights/ctvnet_default.h5
"$ctv" info --weights "$shipped" >"$out/winfo" 2>&1 || { echo "FAIL: the shipped model does not load"; cat "$out/winfo"; fail=1; }
grep -q "checksum sha256 a6e4473757e8066d3d286cfa668d2191cd679b9afe7d37e274850a0e884795ac" "$out/winfo" ||
  { echo "FAIL: the shipped model's checksum is not the model card's"; cat "$out/winfo"; fail=1; }
grep -q "$(sed -n 's/.*checksum (FORMAT.md.*| `\([0-9a-f]*\)` |$/\1/p' "$(dirname "$shipped")/README.md")" "$out/winfo" ||
  { echo "FAIL: weights/README.md gives another checksum"; fail=1; }

"$ctv" demo --toy --out "$out" --steps 2 >"$out/log" 2>&1 || { echo "FAIL: demo exited $?"; cat "$out/log"; exit 1; }
for stage in "\[1/5\]" "\[2/5\]" "\[3/5\]" "\[4/5\]" "\[5/5\]" "RAS -> LPS" "U-Net" "DSC"; do
  grep -q "$stage" "$out/log" || { echo "FAIL: no '$stage' in the demo's output"; fail=1; }
done
for f in ct igtv ctv pred_model; do
  [[ -s "$out/toy/$f.nii.gz" ]] || { echo "FAIL: $f.nii.gz missing"; fail=1; }
  grep -q '"sha256"\|"inputs"' "$out/toy/$f.nii.gz.json" 2>/dev/null || { echo "FAIL: $f sidecar missing"; fail=1; }
done
grep -q '"sha256"' "$out/toy/pred_model.nii.gz.json" || { echo "FAIL: prediction sidecar lists no input checksums"; fail=1; }
"$ctv" info "$out/toy/pred_model.nii.gz" >"$out/info" 2>&1 || { echo "FAIL: ctv info cannot read the prediction"; fail=1; }
ls -a "$out/toy" | grep -q "\.tmp-" && { echo "FAIL: a temporary file was left behind"; fail=1; }

"$ctv" demo --toy --out "$out" --steps 1 >"$out/log2" 2>&1 || { echo "FAIL: second demo run exited $?"; cat "$out/log2"; fail=1; }
grep -q "replacing" "$out/log2" || { echo "FAIL: the second run did not say it replaces files"; fail=1; }

"$ctv" demo --toy --steps 0 >/dev/null 2>&1
[[ $? -eq 2 ]] || { echo "FAIL: --steps 0 is not a usage error"; fail=1; }
exit $fail
