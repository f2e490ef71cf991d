# Sourced after checks.bash: make_toy_cohort DIR writes a three-patient cohort (pa, pb test;
# pc train) from the demo's toy patient: CT, iGTV, reference CTV and a model prediction, with
# the iGTV standing in for the four crop masks (heart, esophagus, great_vessels, vertebrae) so
# that the expansions can be computed. The toy's files come from `ctv demo --toy --steps 1`.
make_toy_cohort() {  # folder
  local c=$1 toy=$tmp/demo/toy p o
  if [[ ! -f $toy/ct.nii.gz ]]; then
    "$ctv" demo --toy --steps 1 --out "$tmp/demo" >"$tmp/demo.log" 2>&1 || {
      echo "FAIL: ctv demo could not make the toy files"
      cat "$tmp/demo.log"
      exit 1
    }
  fi
  mkdir -p "$c/pa" "$c/pb" "$c/pc"
  cat >"$c/cohort.json" <<'JSON'
{"patients": [{"id": "pa", "side": "right", "split": "test"},
              {"id": "pb", "side": "left", "split": "test"},
              {"id": "pc", "side": "right", "split": "train"}]}
JSON
  for p in pa pb pc; do
    for o in ct igtv ctv pred_model; do ln -s "$toy/$o.nii.gz" "$c/$p/$o.nii.gz"; done
    for o in heart esophagus great_vessels vertebrae; do ln -s "$toy/igtv.nii.gz" "$c/$p/$o.nii.gz"; done
  done
}
