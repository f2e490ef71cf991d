#!/usr/bin/env bash
# tools/paper_protocol.sh --quick: every step of the paper's protocol runs on a small cohort
# (phantom, four trainings, predictions, Table 1 and the ablation table), and a second run
# skips what is finished.
# usage: protocol.sh <path-to-ctv> <tests/data>
set -u
ctv=$1
source "$(dirname "${BASH_SOURCE[0]}")/lib/checks.bash"
script=$(dirname "${BASH_SOURCE[0]}")/../../tools/paper_protocol.sh

check "quick protocol" 0 env CTV="$ctv" bash "$script" "$tmp/p" --quick --threads 2
for m in model unet_bce amgm_noelastic bce_elastic; do
  [[ -f $tmp/p/runs/$m/best.h5 && -f $tmp/p/runs/$m/log.csv ]] || { echo "FAIL: no run for $m"; fail=1; }
done
has "Table 1 has the expansions" "$tmp/p/table1/table1.md" "8 mm expansion"
has "the ablation table has every model" "$tmp/p/ablation/table1.md" "unet_bce \| amgm_noelastic \| bce_elastic"
has "done line" "$out" "paper_protocol: done in"
has "summary: a row per model" "$tmp/p/summary.md" "^\| bce_elastic \| bce \| on \(1 copy\) \| 2 \| [12] \|"
has "summary: Table 1" "$tmp/p/summary.md" "^## Table 1"
check "second run" 0 env CTV="$ctv" bash "$script" "$tmp/p" --quick --threads 2
has "cohort kept" "$out" "\(exists; kept\)"
has "training kept" "$out" "\(finished; kept\)"
check "usage" 2 env CTV="$ctv" bash "$script"
exit $fail
