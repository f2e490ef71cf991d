#!/usr/bin/env bash
# ctv eval as a user runs it: a pair of masks from the demo's toy patient (printed table, CSV
# with its columns and sidecar, no overwrite without --force), faults named in one line
# (geometry mismatch naming both files, missing file), and a small cohort made on the fly
# (per-patient CSV, summary, bad patient id refused).
# usage: eval.sh <path-to-ctv> <tests/data>
set -u
ctv=$1
data=$2/nifti
source "$(dirname "${BASH_SOURCE[0]}")/lib/checks.bash"

"$ctv" demo --toy --steps 1 --out "$tmp/demo" >"$tmp/demo.log" 2>&1 || {
  echo "FAIL: ctv demo could not make the toy files"
  cat "$tmp/demo.log"
  exit 1
}
toy=$tmp/demo/toy

# ---- pair mode -----------------------------------------------------------------------------
check "pair" 0 "$ctv" eval --pred "$toy/pred_model.nii.gz" --ref "$toy/ctv.nii.gz" \
  --oar "igtv=$toy/igtv.nii.gz" --csv "$tmp/pair.csv"
for m in dice precision recall volume_difference_cm3 volume_difference_percent hausdorff_mm \
  hausdorff95_mm mean_surface_distance_mm median_surface_distance_mm ov_igtv_cm3; do
  has "table shows $m" "$out" "^  $m +[-0-9.e+nan]+$"
done
has "CSV header" "$tmp/pair.csv" "^patient,method,dice,precision,recall,.*,hausdorff95_mm,.*,ov_igtv_cm3$"
has "CSV row: patient from the folder, method from the file name" "$tmp/pair.csv" "^toy,model,0?\.?[0-9]"
lines "CSV: header and one row" "$tmp/pair.csv" 2
has "sidecar" "$tmp/pair.csv.json" '"sha256"'
has "sidecar lists the prediction" "$tmp/pair.csv.json" "pred_model.nii.gz"
ls -a "$tmp" | grep -q "\.tmp-" && { echo "FAIL: a temporary file was left behind"; fail=1; }

# A mask against itself: DSC 1, every distance 0.
check "self" 0 "$ctv" eval --pred "$toy/ctv.nii.gz" --ref "$toy/ctv.nii.gz"
has "self: dice 1" "$out" "^  dice +1$"
has "self: HD 0" "$out" "^  hausdorff_mm +0$"

# The CSV is not overwritten without --force.
cp "$tmp/pair.csv" "$tmp/pair.before"
check "existing CSV" 1 "$ctv" eval --pred "$toy/igtv.nii.gz" --ref "$toy/ctv.nii.gz" --csv "$tmp/pair.csv"
lines "existing CSV: one line" "$err" 1
has "existing CSV: message" "$err" "^ctv eval: error: $tmp/pair.csv: exists.*--force"
cmp -s "$tmp/pair.csv" "$tmp/pair.before" || { echo "FAIL: the CSV was changed"; fail=1; }
check "--force" 0 "$ctv" eval --pred "$toy/igtv.nii.gz" --ref "$toy/ctv.nii.gz" \
  --csv "$tmp/pair.csv" --force --patient p7 --method igtv_only
has "--force replaced it" "$tmp/pair.csv" "^p7,igtv_only,"
has "iGTV inside the CTV: precision 1" "$out" "^  precision +1$"

# Faults: one line naming the file(s), exit 1; usage errors exit 2.
check "geometry mismatch" 1 "$ctv" eval --pred "$data/geometry_a.nii.gz" --ref "$data/geometry_b.nii.gz"
lines "geometry mismatch: one line" "$err" 1
has "geometry mismatch: names both" "$err" "geometry_b.nii.gz.*geometry_a.nii.gz|geometry_a.nii.gz.*geometry_b.nii.gz"
check "missing file" 1 "$ctv" eval --pred "$tmp/nothing.nii.gz" --ref "$toy/ctv.nii.gz"
has "missing file: named" "$err" "^ctv eval: error: .*nothing.nii.gz.*does not exist"
check "bad --oar" 1 "$ctv" eval --pred "$toy/ctv.nii.gz" --ref "$toy/ctv.nii.gz" --oar heart
has "bad --oar: says why" "$err" "NAME=FILE"
check "no inputs" 2 "$ctv" eval
check "cohort without method" 2 "$ctv" eval --cohort "$tmp"
check "cohort with --pred" 2 "$ctv" eval --cohort "$tmp" --method m --pred "$toy/ctv.nii.gz"

# ---- cohort mode ---------------------------------------------------------------------------
c=$tmp/cohort
mkdir -p "$c/pa" "$c/pb" "$c/pc"
cat >"$c/cohort.json" <<'EOF'
{"patients": [{"id": "pa", "side": "right", "split": "test"},
              {"id": "pb", "side": "left", "split": "test"},
              {"id": "pc", "side": "right", "split": "train"}]}
EOF
for p in pa pb; do
  ln -s "$toy/ctv.nii.gz" "$c/$p/ctv.nii.gz"
  ln -s "$toy/pred_model.nii.gz" "$c/$p/pred_model.nii.gz"
done
ln -s "$toy/igtv.nii.gz" "$c/pa/heart.nii.gz"  # an OAR present for one patient only
check "cohort" 0 "$ctv" eval --cohort "$c" --method model
lines "cohort CSV: header and the two test patients" "$c/eval_model.csv" 3
has "cohort CSV: OAR column" "$c/eval_model.csv" "^patient,method,dice,.*,ov_heart_cm3$"
has "cohort CSV: patient pa" "$c/eval_model.csv" "^pa,model,"
has "cohort CSV: absent OAR is nan" "$c/eval_model.csv" "^pb,model,.*,nan$"
grep -q "^pc," "$c/eval_model.csv" && { echo "FAIL: a training patient was scored"; fail=1; }
has "cohort sidecar" "$c/eval_model.csv.json" "cohort.json"
has "summary: dice mean +- sd, median [min, max]" "$out" "^  dice +[0-9.]+ \+- [0-9.e-]+ +[0-9.]+ \[[0-9.]+, [0-9.]+\]$"
has "summary: NaN skipped and counted" "$out" "ov_heart_cm3 .*\(n 1, 1 NaN skipped\)$"
check "cohort CSV exists" 1 "$ctv" eval --cohort "$c" --method model
has "cohort CSV exists: message" "$err" "eval_model.csv: exists"
check "cohort --force" 0 "$ctv" eval --cohort "$c" --method model --force

# expand5 is computed when absent, from the iGTV and the default crops (stand-ins here).
for p in pa pb; do
  ln -s "$toy/igtv.nii.gz" "$c/$p/igtv.nii.gz"
  for o in esophagus great_vessels vertebrae; do ln -s "$toy/igtv.nii.gz" "$c/$p/$o.nii.gz"; done
done
ln -s "$toy/igtv.nii.gz" "$c/pb/heart.nii.gz"
check "expand5 on demand" 0 "$ctv" eval --cohort "$c" --method expand5
for p in pa pb; do
  [[ -s "$c/$p/pred_expand5.nii.gz" ]] || { echo "FAIL: $p/pred_expand5.nii.gz not written"; fail=1; }
  has "expand5 sidecar" "$c/$p/pred_expand5.nii.gz.json" "igtv.nii.gz"
done
lines "expand5 CSV" "$c/eval_expand5.csv" 3
rm "$c/pb/vertebrae.nii.gz"
check "expand8 without a crop" 1 "$ctv" eval --cohort "$c" --method expand8
has "expand8 without a crop: named" "$err" "pb/vertebrae.nii.gz: does not exist"

rm "$c/pb/pred_model.nii.gz"
check "missing prediction" 1 "$ctv" eval --cohort "$c" --method model --force
has "missing prediction: named" "$err" "^ctv eval: error: $c/pb/pred_model.nii.gz: does not exist"
check "bad method name" 1 "$ctv" eval --cohort "$c" --method "../x"

cat >"$c/cohort.json" <<'EOF'
{"patients": [{"id": "pa/../pb", "side": "right", "split": "test"}]}
EOF
check "bad patient id" 1 "$ctv" eval --cohort "$c" --method model --force
lines "bad patient id: one line" "$err" 1
has "bad patient id: names the manifest and the id" "$err" "cohort.json: patient id \"pa/../pb\" is not a plain name"
exit $fail
