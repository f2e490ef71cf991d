#!/usr/bin/env bash
# `ctv train --resume` continues exactly: a small run on a small synthetic cohort, trained once
# without interruption and once killed with SIGKILL at random steps (once while a checkpoint
# is being written: CTV_TEST_PAUSE_BEFORE_PUBLISH_MS holds the finished temporary file before
# its rename, and the kill comes when the temporary appears) and resumed each time, with
# other thread counts; the final checkpoint and the selected weights must be the same bytes.
# Also: the run folder is not overwritten without --force, a resume with another
# configuration is refused, the log has one row per epoch, a NaN loss stops the run and keeps
# the last good checkpoint, fine-tuning with --init, and one error line for a missing file,
# weights of another network and an unknown config key.
# usage: train_resume.sh <path-to-ctv> <tests/data>
set -u
ctv=$1
source "$(dirname "${BASH_SOURCE[0]}")/lib/checks.bash"

"$ctv" phantom --out "$tmp/c" --n 6 --size 96,80,40 --spacing 4,4,8 >"$tmp/phantom.log" 2>&1 ||
  { echo "FAIL: ctv phantom"; cat "$tmp/phantom.log"; exit 1; }
base=(--cohort "$tmp/c" --grid 32,32,16 --spacing 8,8,8 --levels 2 --base-filters 4 --copies 1
  --checkpoint-every 1)
args=("${base[@]}" --lr 1e-2 --epochs 4)

t0=$(date +%s%N)
check "uninterrupted run" 0 "$ctv" train "${args[@]}" --out "$tmp/a" --threads 2
run_ms=$((($(date +%s%N) - t0) / 1000000))  # kills come within half the time a run takes
has "final line" "$out" "4 epochs, 24 steps; selected epoch [1-4]"
lines "log has a header and 4 rows" "$tmp/a/log.csv" 5

# Killed at random moments, resumed each time, until the run finishes.
RANDOM=$$
mid_write=0
kills=0
finished=0
for attempt in $(seq 1 40); do
  resume=()
  [[ -d $tmp/b ]] && resume=(--force)  # killed before its first checkpoint: start again
  [[ -f $tmp/b/latest.h5 ]] && resume=(--resume)
  threads=$((attempt % 3 + 1))
  if ((attempt == 1)); then
    # Kill while a checkpoint is being written: the temporary exists, not yet renamed.
    CTV_TEST_PAUSE_BEFORE_PUBLISH_MS=1000 "$ctv" train "${args[@]}" --out "$tmp/b" "${resume[@]}" \
      --threads $threads >>"$tmp/b.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 1500); do
      compgen -G "$tmp/b/.latest.tmp-*" >/dev/null && break
      sleep 0.01
    done
    if compgen -G "$tmp/b/.latest.tmp-*" >/dev/null; then mid_write=1; fi
  else
    "$ctv" train "${args[@]}" --out "$tmp/b" "${resume[@]}" --threads $threads >>"$tmp/b.log" 2>&1 &
    pid=$!
    ms=$((RANDOM % (run_ms / 2 + 1) + 1))
    sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
  fi
  if kill -9 $pid 2>/dev/null; then
    wait $pid 2>/dev/null
    kills=$((kills + 1))
  else
    wait $pid
    rc=$?
    [[ $rc -eq 0 ]] || { echo "FAIL: attempt $attempt exited $rc"; tail -5 "$tmp/b.log"; fail=1; break; }
    finished=1
    break
  fi
done
if ((!finished)); then
  check "final resume" 0 "$ctv" train "${args[@]}" --out "$tmp/b" --resume --threads 2
fi
echo "killed $kills times (one while writing a checkpoint: $mid_write)"
((mid_write)) || { echo "FAIL: no kill landed while a checkpoint was being written"; fail=1; }
((kills >= 2)) || { echo "FAIL: only $kills kills"; fail=1; }
cmp -s "$tmp/a/latest.h5" "$tmp/b/latest.h5" ||
  { echo "FAIL: resumed checkpoint differs from the uninterrupted run's"; fail=1; }
cmp -s "$tmp/a/best.h5" "$tmp/b/best.h5" ||
  { echo "FAIL: resumed best weights differ from the uninterrupted run's"; fail=1; }
diff <(cut -d, -f1-7 "$tmp/a/log.csv") <(cut -d, -f1-7 "$tmp/b/log.csv") >"$out" ||
  { echo "FAIL: logs differ"; cat "$out"; fail=1; }
if compgen -G "$tmp/b/.*.tmp-*" >/dev/null; then
  echo "FAIL: temporary files left in the run folder"
  fail=1
fi

check "refuses a run folder in use" 1 "$ctv" train "${args[@]}" --out "$tmp/a"
has "message" "$err" "exists and is not empty; not overwritten"
lines "one error line" "$err" 1
check "refuses to resume another configuration" 1 "$ctv" train "${base[@]}" --out "$tmp/a" \
  --resume --lr 2e-2 --epochs 4
has "message" "$err" "latest.h5: a checkpoint of another configuration"
check "--epochs may grow on resume" 0 "$ctv" train "${base[@]}" --out "$tmp/a" --resume --lr 1e-2 \
  --epochs 5
lines "log has 5 rows" "$tmp/a/log.csv" 6
check "a bad config key" 1 "$ctv" train --cohort "$tmp/c" --out "$tmp/x" --config <(echo '{"batchsize": 2}')
has "names the key" "$err" '"batchsize" is not a known key'

check "a NaN loss stops the run" 1 "$ctv" train "${base[@]}" --out "$tmp/n" --lr 1e30 --epochs 2
has "NaN message" "$err" "step 2: the loss is NaN; stopped. The last good checkpoint is .*latest.h5 \(step 1\)"
[[ $(grep -c "error:" "$err") -eq 1 ]] || { echo "FAIL: not one error line"; fail=1; }
"$ctv" info --weights "$tmp/n/latest.h5" >"$out" 2>&1
has "the checkpoint kept is step 1's" "$out" "kind +checkpoint: step 1,"

check "fine-tune from weights" 0 "$ctv" train "${base[@]}" --out "$tmp/f" --init "$tmp/a/best.h5" \
  --epochs 1 --lr 1e-3
check "--init with another network" 1 "$ctv" train --cohort "$tmp/c" --grid 32,32,16 --spacing 8,8,8 \
  --levels 2 --base-filters 2 --out "$tmp/g" --init "$tmp/a/best.h5" --epochs 1
has "names the weights" "$err" "best.h5: weights of another network"
check "a malformed --grid: a usage error" 2 "$ctv" train --cohort "$tmp/c" --out "$tmp/u" \
  --grid 32,a,16
has "names the option" "$err" '^ctv train: --grid "32,a,16": expected 3 numbers x,y,z \(see ctv train --help\)$'
[[ ! -e $tmp/u ]] || { echo "FAIL: a usage error left $tmp/u"; fail=1; }
check "--device cuda" 1 "$ctv" train "${base[@]}" --out "$tmp/d" --device cuda
has "CUDA message" "$err" "--device cuda: (no GPU: .+|this ctv was built without the CUDA backend)"
check "--precision tf32 on the CPU" 1 "$ctv" train "${base[@]}" --out "$tmp/p" --precision tf32
has "TF32 message" "$err" "^ctv train: error: --precision tf32: runs on the GPU's tensor cores only: add --device cuda"
check "--precision bf16 on the CPU" 1 "$ctv" train "${base[@]}" --out "$tmp/p" --precision bf16
has "bf16 message" "$err" "^ctv train: error: --precision bf16: runs on the GPU's tensor cores only"
[[ ! -e $tmp/p ]] || { echo "FAIL: a refused --precision left $tmp/p"; fail=1; }

cp -r "$tmp/c" "$tmp/c2"
rm "$tmp/c2/p002/ctv.nii.gz"
check "a missing reference" 1 "$ctv" train --cohort "$tmp/c2" --out "$tmp/m" --grid 32,32,16 \
  --spacing 8,8,8 --levels 2 --base-filters 4 --epochs 1
has "names the file" "$err" "p002/ctv.nii.gz: missing"
[[ $(grep -c "error:" "$err") -eq 1 ]] || { echo "FAIL: not one error line"; fail=1; }

# A patient without an iGTV: its mask zeroed past the header (vox_offset 352).
cp -r "$tmp/c" "$tmp/c3"
python3 - "$tmp/c3/p002/igtv.nii.gz" <<'PY'
import gzip, sys
with gzip.open(sys.argv[1]) as f:
    b = f.read()
with gzip.open(sys.argv[1], "wb") as f:
    f.write(b[:352] + bytes(len(b) - 352))
PY
check "a patient without an iGTV" 1 "$ctv" train --cohort "$tmp/c3" --out "$tmp/e" --grid 32,32,16 \
  --spacing 8,8,8 --levels 2 --base-filters 4 --epochs 1
has "names the file" "$err" "p002/igtv.nii.gz: the iGTV is empty"
[[ ! -e $tmp/e ]] || { echo "FAIL: a run refused before training left $tmp/e"; fail=1; }
# Mended, the same command runs (nothing of the failed start is in its way).
cp "$tmp/c/p002/igtv.nii.gz" "$tmp/c3/p002/igtv.nii.gz"
check "the same command after the mend" 0 "$ctv" train --cohort "$tmp/c3" --out "$tmp/e" \
  --grid 32,32,16 --spacing 8,8,8 --levels 2 --base-filters 4 --epochs 1 --copies 1
exit $fail
