#!/usr/bin/env bash
# The paper's protocol (Xie et al. 2021; SPEC section 3) on the synthetic cohort, as one command:
#
#   tools/paper_protocol.sh OUT [--quick] [--threads N]
#
#   1. ctv phantom: 84 patients (56 right, 28 left; 50 train, 10 val, 24 test) with --check,
#      at 2 x 2 x 5 mm on 208 x 144 x 64 voxels (the default field of view, coarser: the CPU
#      configuration; the paper's 1 x 1 x 2.5 mm on 416 x 288 x 128 is for the GPU);
#   2. ctv train, four models, each from weights/ctvnet_default.json with one change:
#        model           AM-GM loss, elastic augmentation   (the paper's model)
#        unet_bce        BCE, no elastic                    (standard U-Net)
#        amgm_noelastic  AM-GM, no elastic
#        bce_elastic     BCE, elastic
#   3. ctv predict on the 24 test patients with each model's best.h5 (pred_<name>.nii.gz);
#   4. ctv report: Table 1 (model against the 5 mm and 8 mm cropped expansions) in
#      OUT/table1/, and the ablation table (all four models) in OUT/ablation/;
#   5. OUT/summary.md (tools/protocol_summary.py): per model its epochs, selected epoch and
#      epoch time, then both tables.
#
# Every step can be interrupted and the command run again: a finished step is skipped, and
# training continues from its latest checkpoint (ctv train --resume), bit for bit.
# --quick: a small cohort, grid and schedule that runs every step in about a minute (a check
# of the pipeline, not a result). Needs build/ctv (tools/bootstrap.sh build) or CTV=path.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ctv=${CTV:-$root/build/ctv}
usage() { echo "usage: tools/paper_protocol.sh OUT [--quick] [--threads N]" >&2; exit 2; }
(($# >= 1)) || usage
out=$1
shift
quick=0
threads=0
while (($#)); do
  case $1 in
    --quick) quick=1 ;;
    --threads) shift; threads=${1:?}; [[ $threads =~ ^[0-9]+$ ]] || usage ;;
    *) usage ;;
  esac
  shift
done
[[ -x $ctv ]] || { echo "paper_protocol: $ctv not found; run tools/bootstrap.sh build" >&2; exit 1; }
config=$root/weights/ctvnet_default.json
[[ -f $config ]] || { echo "paper_protocol: $config: missing" >&2; exit 1; }

mkdir -p "$out"
cohort=$out/cohort
if ((quick)); then
  phantom_args=(--n 8 --spacing 4,4,10 --size 104,72,32)
  train_args=(--grid 32,32,16 --spacing 8,8,10 --levels 3 --base-filters 4 --copies 1 --epochs 2)
else
  phantom_args=(--n 84 --spacing 2,2,5 --size 208,144,64)
  train_args=()
fi
step() { echo; echo "== $*"; }
start=$(date +%s)

step "1/5 synthetic cohort: $cohort"
if [[ -f $cohort/cohort.json ]]; then
  echo "(exists; kept)"
else
  "$ctv" phantom --out "$cohort" "${phantom_args[@]}" --check --threads "$threads"
fi

models=(model unet_bce amgm_noelastic bce_elastic)
declare -A variant=(
  [model]="--loss amgm --elastic on"
  [unet_bce]="--loss bce --elastic off"
  [amgm_noelastic]="--loss amgm --elastic off"
  [bce_elastic]="--loss bce --elastic on"
)
for m in "${models[@]}"; do
  run=$out/runs/$m
  step "2/5 train $m (${variant[$m]}): $run"
  # shellcheck disable=SC2086
  args=(--cohort "$cohort" --config "$config" ${variant[$m]} "${train_args[@]}" --threads "$threads")
  if [[ -f $run/done ]]; then
    echo "(finished; kept)"
    continue
  elif [[ -f $run/latest.h5 ]]; then
    "$ctv" train "${args[@]}" --out "$run" --resume
  else
    "$ctv" train "${args[@]}" --out "$run" --force
  fi
  date -u +%FT%TZ >"$run/done"
done

for m in "${models[@]}"; do
  step "3/5 predict the test patients with $m"
  "$ctv" predict --model "$out/runs/$m/best.h5" --cohort "$cohort" --split test --name "$m" \
    --threads "$threads" --force
done

step "4/5 Table 1 and the ablation table"
"$ctv" report --cohort "$cohort" --out "$out/table1" --method model --method expand5 \
  --method expand8 --force
"$ctv" report --cohort "$cohort" --out "$out/ablation" --method model --method unet_bce \
  --method amgm_noelastic --method bce_elastic --overlays 0 --force

step "5/5 summary: $out/summary.md"
if command -v python3 >/dev/null; then
  python3 "$root/tools/protocol_summary.py" "$out" >"$out/summary.md.tmp"
  mv "$out/summary.md.tmp" "$out/summary.md"
else
  echo "(python3 not found: no summary.md; the tables are complete without it)"
fi
echo
echo "paper_protocol: done in $(( $(date +%s) - start )) s: $out/summary.md, $out/table1/table1.md, $out/ablation/table1.md"
