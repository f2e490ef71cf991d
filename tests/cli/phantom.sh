#!/usr/bin/env bash
# ctv phantom as a user runs it: a small cohort on a coarse grid in seconds (every file with its
# sidecar, int16 CT and uint8 masks in LPS, the manifest's split), --check's report, the same
# seed giving byte-identical images whatever the thread count, refusal to write into a
# non-empty folder (and --force), usage errors, and ctv eval --method expand5 on the cohort.
# usage: phantom.sh <path-to-ctv> <tests/data>
set -u
ctv=$1
source "$(dirname "${BASH_SOURCE[0]}")/lib/checks.bash"
grid=(--size 96,80,48 --spacing 4,4,6)
c=$tmp/cohort

check "small cohort" 0 "$ctv" phantom --out "$c" --n 4 --seed 3 "${grid[@]}" --check --threads 2
has "summary line" "$out" "^ctv phantom: $c: 4 patients \(3 right, 1 left; 3 train, 0 val, 1 test\), 96 x 80 x 48 voxels of 4 x 4 x 6 mm, seed 3"
has "check line" "$out" "^ctv phantom: check: rule without variation vs reference, mean Dice 0\.9[5-9][0-9] \(>= 0.95: pass\); best uniform cropped margin [0-9]+ mm, mean Dice 0\.[0-8][0-9]+ \(< 0.85: pass\)"
has "manifest: 4 patients" "$c/cohort.json" '"id": "p004"'
[[ $(grep -c '"side": "right"' "$c/cohort.json") -eq 3 ]] || { echo "FAIL: manifest: 3 right"; fail=1; }
[[ $(grep -c '"split": "test"' "$c/cohort.json") -eq 1 ]] || { echo "FAIL: manifest: 1 test"; fail=1; }
has "manifest sidecar" "$c/cohort.json.json" '"command_line": ".*phantom'
for p in p001 p002 p003 p004; do
  for f in ct igtv ctv heart esophagus great_vessels vertebrae lungs body spinal_canal; do
    [[ -s $c/$p/$f.nii.gz ]] || { echo "FAIL: $p/$f.nii.gz missing"; fail=1; }
    [[ -s $c/$p/$f.nii.gz.json ]] || { echo "FAIL: $p/$f.nii.gz.json missing"; fail=1; }
  done
done
"$ctv" info "$c/p001/ct.nii.gz" >"$out"
has "CT int16" "$out" "^  datatype +int16$"
has "CT in LPS" "$out" "^  orientation +LPS$"
"$ctv" info "$c/p001/ctv.nii.gz" >"$out"
has "CTV uint8" "$out" "^  datatype +uint8$"
for f in phantom_check.md phantom_check.csv phantom_hu.csv; do
  [[ -s $c/$f && -s $c/$f.json ]] || { echo "FAIL: $f or its sidecar missing"; fail=1; }
done
has "report: best margin" "$c/phantom_check.md" "^Best uniform margin: [0-9]+ mm"
has "report: HU table" "$c/phantom_check.md" "^\| lung \| [0-9]+ \| -[0-9]+ "
lines "per-patient CSV: header and 4 rows" "$c/phantom_check.csv" 5
ls -a "$c" "$c/p001" | grep -q "\.tmp-" && { echo "FAIL: a temporary file was left behind"; fail=1; }

# Same seed, one thread: byte-identical images.
check "same seed again" 0 "$ctv" phantom --out "$tmp/again" --n 4 --seed 3 "${grid[@]}" --threads 1
for f in ct igtv ctv esophagus lungs; do
  cmp -s "$c/p002/$f.nii.gz" "$tmp/again/p002/$f.nii.gz" || { echo "FAIL: p002/$f.nii.gz differs"; fail=1; }
done
cmp -s "$c/cohort.json" "$tmp/again/cohort.json" || { echo "FAIL: the manifests differ"; fail=1; }
check "another seed" 0 "$ctv" phantom --out "$tmp/other" --n 1 --seed 4 "${grid[@]}"
cmp -s "$c/p001/ct.nii.gz" "$tmp/other/p001/ct.nii.gz" && { echo "FAIL: another seed, same CT"; fail=1; }

# A non-empty folder is refused, untouched; --force writes into it.
before=$(sha256sum "$c/p001/ct.nii.gz")
check "non-empty folder" 1 "$ctv" phantom --out "$c" --n 2 --seed 9 "${grid[@]}"
lines "non-empty folder: one line" "$err" 1
has "non-empty folder: message" "$err" "^ctv phantom: error: $c: folder is not empty; nothing written \(use --force"
[[ $(sha256sum "$c/p001/ct.nii.gz") == "$before" ]] || { echo "FAIL: refused run changed a file"; fail=1; }
# --force removes what was derived from the replaced patients (a stale expansion would be scored).
check "eval before --force" 0 "$ctv" eval --cohort "$tmp/again" --method expand5
touch "$tmp/again/p001/notes.txt"
check "--force" 0 "$ctv" phantom --out "$tmp/again" --n 2 --seed 9 "${grid[@]}" --force
has "--force: new manifest" "$tmp/again/cohort.json" '"seed": 9'
ls "$tmp/again"/p00[12]/pred_expand5.nii.gz* "$tmp/again"/eval_expand5.csv* 2>/dev/null &&
  { echo "FAIL: --force left stale predictions or scores"; fail=1; }
[[ -e $tmp/again/p001/notes.txt ]] || { echo "FAIL: --force removed a file it did not derive"; fail=1; }

# Usage errors.
check "bad size" 2 "$ctv" phantom --out "$tmp/x" --size 96,80
has "bad size: says why" "$err" "--size \"96,80\": expected 3 numbers"
check "bad spacing" 2 "$ctv" phantom --out "$tmp/x" --spacing 1,0,2
check "no --out" 2 "$ctv" phantom
[[ -e $tmp/x ]] && { echo "FAIL: a usage error created the folder"; fail=1; }

# The cohort feeds ctv eval: the 5 mm cropped expansion is computed and scored.
check "eval expand5" 0 "$ctv" eval --cohort "$c" --method expand5
lines "eval CSV: header and the test patient" "$c/eval_expand5.csv" 2
has "eval: dice" "$out" "^  dice +0\.[0-9]+"
exit $fail
