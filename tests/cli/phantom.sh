#!/usr/bin/env bash
# ctv phantom as a user runs it: a small cohort on a coarse grid in seconds (every file with its
# sidecar, int16 CT and uint8 masks in LPS, the manifest's split), --check's report, the check
# of a cohort on disk (--cohort: the same numbers byte for byte, edited or missing files
# refused), snapshots, the same seed giving byte-identical images whatever the thread count,
# refusal to write into a non-empty folder (and --force), usage errors, and ctv eval --method
# expand5 on the cohort.
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

# The check of the cohort on disk: every patient re-made from the manifest's seed gives the
# numbers of the check made while writing, byte for byte; existing check files are kept.
for f in phantom_check.md phantom_check.csv phantom_hu.csv; do cp "$c/$f" "$tmp/written_$f"; done
check "re-check over existing files" 1 "$ctv" phantom --cohort "$c" --check
lines "re-check refused: one line" "$err" 1
has "re-check refused: message" "$err" "^ctv phantom: error: $c/phantom_check.md: exists; nothing written \(use --force"
check "re-check" 0 "$ctv" phantom --cohort "$c" --check --force --snapshots 1 --threads 2
has "re-check: summary" "$out" "^ctv phantom: $c: 4 patients re-made from seed 3 match their iGTV and reference CTV files"
has "re-check: check line" "$out" "^ctv phantom: check: rule without variation vs reference, mean Dice 0\.9[5-9][0-9] \(>= 0.95: pass\)"
for f in phantom_check.md phantom_check.csv phantom_hu.csv; do
  cmp -s "$c/$f" "$tmp/written_$f" ||
    { echo "FAIL: re-check: $f differs from the check made while writing"; diff "$c/$f" "$tmp/written_$f" | head; fail=1; }
done
has "re-check: sidecar names the manifest" "$c/phantom_check.csv.json" "cohort.json"
# Snapshots: the first test patient (p003 for seed 3), a PNG of at most 900 px wide.
snap=$c/phantom_snapshot_p003.png
has "re-check: snapshot line" "$out" "^ctv phantom: snapshots of 1 test patient: $snap$"
[[ -s $snap && -s $snap.json ]] || { echo "FAIL: snapshot or its sidecar missing"; fail=1; }
[[ $(head -c 4 "$snap" | tail -c 3) == PNG ]] || { echo "FAIL: the snapshot is not a PNG"; fail=1; }
width=$(od -An -tu1 -j16 -N4 "$snap" | awk '{print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4}')
[[ $width -gt 500 && $width -le 900 ]] || { echo "FAIL: snapshot $width px wide"; fail=1; }
check "snapshots kept without --force" 1 "$ctv" phantom --cohort "$c" --snapshots 1
has "snapshots kept: message" "$err" "^ctv phantom: error: $snap: exists; nothing written"

# A cohort whose files are not what the generator makes is refused, naming the file.
faulty() {  # a copy of the cohort, then the fault (a command run in the copy)
  rm -rf "$tmp/faulty" && cp -r "$c" "$tmp/faulty" && (cd "$tmp/faulty" && eval "$1")
}
refused() {  # description, pattern the one error line must match
  check "$1" 1 "$ctv" phantom --cohort "$tmp/faulty" --check --force --threads 1
  [[ $(grep -c "error" "$err") -eq 1 ]] || { echo "FAIL: $1: not one error line"; cat "$err"; fail=1; }
  has "$1: message" "$err" "^ctv phantom: error: $2"
  cmp -s "$tmp/faulty/phantom_check.csv" "$c/phantom_check.csv" ||
    { echo "FAIL: $1: the check files were rewritten"; fail=1; }
}
faulty "cp p002/igtv.nii.gz p002/ctv.nii.gz"
refused "edited reference CTV" "$tmp/faulty/p002/ctv.nii.gz: differs from the reference CTV that seed 3 makes for p002 in [0-9]+ voxels: the cohort was made by another version of ctv phantom or edited; nothing checked$"
faulty "cp p001/igtv.nii.gz p002/igtv.nii.gz"
refused "edited iGTV" "$tmp/faulty/p002/igtv.nii.gz: differs from the iGTV that seed 3 makes for p002"
faulty "sed -i 's/\"seed\": 3/\"seed\": 5/' cohort.json"
refused "manifest with another seed" "$tmp/faulty/(cohort.json|p00[0-9]/[a-z]+.nii.gz): .*made by another version of ctv phantom or edited"
faulty "rm p004/heart.nii.gz"
refused "missing OAR file" "$tmp/faulty/p004/heart.nii.gz: "
faulty "head -c 2000 p004/ct.nii.gz >x && mv x p004/ct.nii.gz"
refused "truncated CT" "$tmp/faulty/p004/ct.nii.gz: "
faulty "rm cohort.json"
refused "no manifest" "$tmp/faulty/cohort.json: "
check "not a phantom cohort" 1 "$ctv" phantom --cohort "$tmp/nothing" --check
has "not a phantom cohort: message" "$err" "^ctv phantom: error: $tmp/nothing/cohort.json: "

# Same seed, one thread: byte-identical images; snapshots while writing equal those of --cohort.
check "same seed again" 0 "$ctv" phantom --out "$tmp/again" --n 4 --seed 3 "${grid[@]}" --threads 1 --snapshots 1
cmp -s "$snap" "$tmp/again/phantom_snapshot_p003.png" || { echo "FAIL: snapshots differ"; fail=1; }
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
ls "$tmp/again"/phantom_snapshot_* 2>/dev/null && { echo "FAIL: --force left a stale snapshot"; fail=1; }

# Usage errors.
check "bad size" 2 "$ctv" phantom --out "$tmp/x" --size 96,80
has "bad size: says why" "$err" "--size \"96,80\": expected 3 numbers"
check "bad spacing" 2 "$ctv" phantom --out "$tmp/x" --spacing 1,0,2
check "no --out" 2 "$ctv" phantom
has "no --out: says why" "$err" "give --out DIR to write a cohort or --cohort DIR"
check "--cohort with --seed" 2 "$ctv" phantom --cohort "$c" --check --seed 4
check "--cohort and --out" 2 "$ctv" phantom --cohort "$c" --out "$tmp/x" --check
check "--cohort alone" 2 "$ctv" phantom --cohort "$c"
has "--cohort alone: says why" "$err" "--cohort DIR needs --check or --snapshots N"
[[ -e $tmp/x ]] && { echo "FAIL: a usage error created the folder"; fail=1; }

# The cohort feeds ctv eval: the 5 mm cropped expansion is computed and scored.
check "eval expand5" 0 "$ctv" eval --cohort "$c" --method expand5
lines "eval CSV: header and the test patient" "$c/eval_expand5.csv" 2
has "eval: dice" "$out" "^  dice +0\.[0-9]+"
exit $fail
