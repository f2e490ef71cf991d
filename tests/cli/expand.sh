#!/usr/bin/env bash
# `ctv expand` as a user runs it, on the NIfTI fixtures: output mask and sidecar, a summary
# line, refusal to overwrite (and --force), crops and body, and one error line for a geometry
# mismatch (naming both files), a missing file and bad margins.
# usage: expand.sh <path-to-ctv> <tests/data>
set -u
ctv=$1
data=$2/nifti
source "$(dirname "${BASH_SOURCE[0]}")/lib/checks.bash"
voxels() {  # file -> voxels > 0.5, from ctv info
  "$ctv" info "$1" | sed -nE 's/^  voxels > 0.5 +([0-9]+) .*/\1/p'
}

igtv=$data/mask_ras.nii.gz  # 7x6x5, 1 mm, RAS, 20 voxels set

check "expand by 1 mm" 0 "$ctv" expand --igtv "$igtv" --margin 1 --out "$tmp/ctv1.nii.gz"
has "summary names the output" "$out" "ctv1.nii.gz: iGTV 0.02 cm3, CTV 0\.[0-9]+ cm3, margins 1,1,1,1,1,1 mm"
lines "one summary line" "$out" 1
lines "nothing on stderr" "$err" 0
[[ -f $tmp/ctv1.nii.gz.json ]] || { echo "FAIL: no provenance sidecar"; fail=1; }
has "sidecar lists the iGTV" "$tmp/ctv1.nii.gz.json" "mask_ras.nii.gz"
"$ctv" info "$tmp/ctv1.nii.gz" >"$out"
has "uint8 output" "$out" "^  datatype +uint8$"
has "iGTV's orientation" "$out" "^  orientation +RAS$"
n1=$(voxels "$tmp/ctv1.nii.gz")
[[ $n1 -gt 20 ]] || { echo "FAIL: 1 mm expansion has $n1 voxels, expected more than 20"; fail=1; }

check "refuses to overwrite" 1 "$ctv" expand --igtv "$igtv" --margin 2 --out "$tmp/ctv1.nii.gz"
has "overwrite message" "$err" "ctv1.nii.gz: exists; not overwritten \(use --force"
lines "one error line" "$err" 1
[[ $(voxels "$tmp/ctv1.nii.gz") -eq $n1 ]] || { echo "FAIL: refused output was changed"; fail=1; }
check "--force replaces" 0 "$ctv" expand --igtv "$igtv" --margin 2 --out "$tmp/ctv1.nii.gz" --force
n2=$(voxels "$tmp/ctv1.nii.gz")
[[ $n2 -gt $n1 ]] || { echo "FAIL: 2 mm ($n2 voxels) not larger than 1 mm ($n1)"; fail=1; }

# Zero margins: the iGTV itself. Body = the iGTV: nothing grows either.
check "zero margins" 0 "$ctv" expand --igtv "$igtv" --margins 0,0,0,0,0,0 --out "$tmp/zero.nii.gz"
[[ $(voxels "$tmp/zero.nii.gz") -eq 20 ]] || { echo "FAIL: zero margins changed the iGTV"; fail=1; }
check "body limits" 0 "$ctv" expand --igtv "$igtv" --margin 3 --body "$igtv" --out "$tmp/body.nii.gz"
has "body in summary" "$out" "outside body [1-9][0-9]* voxels"
[[ $(voxels "$tmp/body.nii.gz") -eq 20 ]] || { echo "FAIL: body did not limit"; fail=1; }

# A crop (the 1 mm expansion's ring) removes voxels but never the iGTV.
check "crop" 0 "$ctv" expand --igtv "$igtv" --margin 3 --crop "$tmp/ctv1.nii.gz" --out "$tmp/crop.nii.gz"
has "crop in summary" "$out" "ctv1.nii.gz removed [1-9][0-9]* voxels"
has "sidecar lists the crop" "$tmp/crop.nii.gz.json" "ctv1.nii.gz"
check "crop uncropped" 0 "$ctv" expand --igtv "$igtv" --margin 3 --out "$tmp/nocrop.nii.gz"
nc=$(voxels "$tmp/crop.nii.gz")
nn=$(voxels "$tmp/nocrop.nii.gz")
[[ $nc -lt $nn && $nc -ge 20 ]] || { echo "FAIL: cropped $nc, uncropped $nn voxels"; fail=1; }

# A cohort patient folder: igtv, body and the default crops read from it.
mkdir "$tmp/p1"
cp "$igtv" "$tmp/p1/igtv.nii.gz"
cp "$tmp/nocrop.nii.gz" "$tmp/p1/body.nii.gz"
for oar in heart esophagus great_vessels vertebrae; do cp "$tmp/ctv1.nii.gz" "$tmp/p1/$oar.nii.gz"; done
check "--patient" 0 "$ctv" expand --patient "$tmp/p1" --margin 3 --out "$tmp/p1/pred_expand3.nii.gz"
for oar in heart esophagus great_vessels vertebrae; do
  has "--patient crops at $oar" "$out" "$oar.nii.gz removed [1-9][0-9]* voxels"
  has "--patient sidecar lists $oar" "$tmp/p1/pred_expand3.nii.gz.json" "$oar.nii.gz"
done
[[ $(voxels "$tmp/p1/pred_expand3.nii.gz") -eq $nc ]] || { echo "FAIL: --patient differs from the same crop by hand"; fail=1; }
rm "$tmp/p1/vertebrae.nii.gz"
check "--patient, a crop missing" 1 "$ctv" expand --patient "$tmp/p1" --margin 3 --out "$tmp/p1/bad.nii.gz"
has "names the missing crop" "$err" "vertebrae.nii.gz.*does not exist"
check "--patient and --igtv" 2 "$ctv" expand --patient "$tmp/p1" --igtv "$igtv" --out "$tmp/bad.nii.gz"

# Faults: one line, naming what is wrong; no output left behind.
check "geometry mismatch" 1 "$ctv" expand --igtv "$igtv" --margin 3 --crop "$data/mask_las.nii.gz" --out "$tmp/bad.nii.gz"
has "names the iGTV" "$err" "mask_ras.nii.gz"
has "names the crop" "$err" "mask_las.nii.gz"
lines "one line" "$err" 1
[[ ! -e $tmp/bad.nii.gz ]] || { echo "FAIL: output written despite the mismatch"; fail=1; }
check "missing file" 1 "$ctv" expand --igtv "$tmp/none.nii.gz" --out "$tmp/bad.nii.gz"
has "names the missing file" "$err" "none.nii.gz.*does not exist"
lines "one line" "$err" 1
for bad in 5,5,5 5,5,5,5,5,5,5 5,5,x,5,5,5 5,5,5,5,5,; do
  check "--margins $bad" 2 "$ctv" expand --igtv "$igtv" --margins "$bad" --out "$tmp/bad.nii.gz"
  has "--margins $bad: message" "$err" "--margins \"$bad\": expected 6 numbers"
  lines "--margins $bad: one line" "$err" 1
done
check "negative margin" 2 "$ctv" expand --igtv "$igtv" --margins 5,5,5,5,-1,5 --out "$tmp/bad.nii.gz"
has "names the direction" "$err" "RIGHT margin -1 mm is negative"
check "margin too large" 2 "$ctv" expand --igtv "$igtv" --margin 60 --out "$tmp/bad.nii.gz"
has "names the limit" "$err" "larger than 50 mm"
check "no iGTV" 2 "$ctv" expand --out "$tmp/bad.nii.gz"
[[ ! -e $tmp/bad.nii.gz ]] || { echo "FAIL: an output was left after a fault"; fail=1; }

exit $fail
