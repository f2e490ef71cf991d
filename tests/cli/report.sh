#!/usr/bin/env bash
# `ctv report` as a user runs it, on a small cohort made from the toy patient (the model's
# predictions and the 5 mm and 8 mm expansions): every file of the report with its sidecar,
# Table 1's rows and columns, per-patient numbers equal to `ctv eval --cohort`'s, figures that
# are PNG files, a page that refers to nothing outside itself, and the faults: a non-empty
# report folder, a missing prediction (named, and nothing written), bad options.
# usage: report.sh <path-to-ctv> <tests/data>
set -u
ctv=$1
source "$(dirname "${BASH_SOURCE[0]}")/lib/checks.bash"
source "$(dirname "${BASH_SOURCE[0]}")/lib/toy_cohort.bash"
c=$tmp/cohort
make_toy_cohort "$c"
r=$tmp/report

check "report" 0 "$ctv" report --cohort "$c" --out "$r"
for f in table1.md table1.csv per_patient.csv report.html figures/boxplot_overlap.png \
  figures/boxplot_distance.png figures/boxplot_oar.png figures/overlay_pa.png figures/overlay_pb.png; do
  [[ -s $r/$f ]] || { echo "FAIL: $f not written"; fail=1; }
  has "$f sidecar" "$r/$f.json" '"sha256"'
done
[[ -e $r/figures/overlay_pc.png ]] && { echo "FAIL: a training patient got an overlay"; fail=1; }
for f in "$r"/figures/*.png; do
  [[ $(head -c 8 "$f" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] ||
    { echo "FAIL: $f is not a PNG file"; fail=1; }
done
has "Table 1 printed" "$out" "^\| DSC \| — \| [0-9.]+ ± [0-9.]+ \| [0-9.]+ ± [0-9.]+ \| [0-9.]+ ± [0-9.]+ \|$"
has "Table 1: columns" "$r/table1.md" "^\| \| Reference \| Model \(U-Net\) \| 5 mm expansion \| 8 mm expansion \|$"
for row in "DSC" "Precision" "Recall" "Median surface distance \(mm\)" "Hausdorff distance \(mm\)" \
  "95% Hausdorff distance \(mm\)" "OV esophagus \(cm³\)" "OV heart \(cm³\)" "CTV volume \(cm³\)" \
  "Contouring time \(s\)"; do
  has "Table 1: $row" "$r/table1.md" "^\| $row \|"
done
has "Table 1: median [min, max]" "$r/table1.md" "^\| DSC \| — \| [0-9.]+ \[[0-9.]+, [0-9.]+\] \|"
has "paired tests: columns" "$r/table1.md" "^\| \| 5 mm expansion \| 8 mm expansion \|$"
has "paired tests: a p-value" "$r/table1.md" "^\| DSC \| (< 0\.001|[01]\.[0-9]{3})( \(n = [0-9]+\))? \| "
has "Table 1 CSV header" "$r/table1.csv" "^metric,method,n,nan_skipped,mean,sd,median,min,max$"
lines "Table 1 CSV: 11 metrics x 4 columns" "$r/table1.csv" 45
has "Table 1 CSV: the reference's volume" "$r/table1.csv" "^pred_volume_cm3,reference,2,0,"
lines "per-patient CSV: 2 test patients x (reference + 3 methods)" "$r/per_patient.csv" 9
has "contouring time of a computed expansion recorded" "$r/per_patient.csv" "^pa,expand5,.*,[0-9.e-]+$"
has "report line" "$out" "wrote $r/report.html"
grep -Eq '(src|href)="(https?:|//)' "$r/report.html" && { echo "FAIL: the page refers outside itself"; fail=1; }
has "page: Table 1" "$r/report.html" '<table id="table1">'
has "page: paired tests" "$r/report.html" '<table id="paired">'
n=$(grep -o 'src="data:image/png;base64,' "$r/report.html" | wc -l)
[[ $n -eq 5 ]] || { echo "FAIL: the page embeds $n images, expected 5"; fail=1; }

# The same numbers as ctv eval --cohort (one code path scores both).
check "eval expand5" 0 "$ctv" eval --cohort "$c" --method expand5
for p in pa pb; do
  a=$(grep "^$p,expand5," "$r/per_patient.csv" | cut -d, -f1-17)
  b=$(grep "^$p,expand5," "$c/eval_expand5.csv" | cut -d, -f1-17)
  [[ -n $a && $a == "$b" ]] || { echo "FAIL: $p: report and eval differ:"; echo "$a"; echo "$b"; fail=1; }
done

# Faults: the existing report is kept; a missing file is named and nothing is written.
cp "$r/table1.md" "$tmp/table1.before"
check "non-empty report folder" 1 "$ctv" report --cohort "$c" --out "$r"
has "non-empty: message" "$err" "^ctv report: error: $r: exists and is not empty.*--force"
cmp -s "$r/table1.md" "$tmp/table1.before" || { echo "FAIL: the report was changed"; fail=1; }
check "--force" 0 "$ctv" report --cohort "$c" --out "$r" --force --overlays 0 --window mediastinal
check "missing prediction" 1 "$ctv" report --cohort "$c" --out "$tmp/r2" --method model --method other
has "missing prediction: named" "$err" "^ctv report: error: $c/pa/pred_other.nii.gz: does not exist"
lines "missing prediction: one line" "$err" 1
[[ -e $tmp/r2 ]] && { echo "FAIL: a report folder was made for a failed report"; fail=1; }
rm "$c/pb/ct.nii.gz"
check "missing CT" 1 "$ctv" report --cohort "$c" --out "$tmp/r3"
has "missing CT: named" "$err" "pb/ct.nii.gz: does not exist"
[[ -e $tmp/r3 ]] && { echo "FAIL: a report folder was made for a failed report"; fail=1; }
check "bad window" 2 "$ctv" report --cohort "$c" --out "$tmp/r4" --window bone
check "bad method name" 1 "$ctv" report --cohort "$c" --out "$tmp/r4" --method "../x"
check "no test patient" 1 "$ctv" report --cohort "$tmp/demo" --out "$tmp/r4"
exit $fail
