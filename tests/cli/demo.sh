#!/usr/bin/env bash
# ctv demo, shortened: every stage runs, every file and sidecar appears, a second run replaces
# the demo's own files and says so, and a bad option is a usage error.
# usage: demo.sh <path-to-ctv> <tests/data>
set -u
ctv=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail=0

"$ctv" demo --out "$out" --steps 2 >"$out/log" 2>&1 || { echo "FAIL: demo exited $?"; cat "$out/log"; exit 1; }
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

"$ctv" demo --out "$out" --steps 1 >"$out/log2" 2>&1 || { echo "FAIL: second demo run exited $?"; cat "$out/log2"; fail=1; }
grep -q "replacing" "$out/log2" || { echo "FAIL: the second run did not say it replaces files"; fail=1; }

"$ctv" demo --steps 0 >/dev/null 2>&1
[[ $? -eq 2 ]] || { echo "FAIL: --steps 0 is not a usage error"; fail=1; }
exit $fail
