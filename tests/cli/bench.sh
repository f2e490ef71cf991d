#!/usr/bin/env bash
# `ctv bench` as a user runs it, on tiny cases (a few seconds): `bench conv` on a small shape and
# `bench cpu` on the smallest grids the default network accepts; the JSON report has the fields
# bench/README.md documents; an existing report is refused without --force, before any timing;
# usage errors exit 2. Timings are printed, never judged.
# usage: bench.sh <path-to-ctv> <tests/data>
set -u
ctv=$1
source "$(dirname "${BASH_SOURCE[0]}")/lib/checks.bash"
command -v python3 >/dev/null || { echo "python3 not found: skipped"; exit 77; }

validate() {  # report, expected command, expected case names (comma list)
  python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
path, command, cases = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
j = json.load(open(path))
assert j["schema"] == "ctvnet-bench-cpu" and j["version"] == 1, "schema/version"
assert j["command"] == command, j["command"]
for k in ("cpu_model", "logical_cpus", "isa", "kernels", "load_average_start", "load_average_end"):
    assert k in j["machine"], "machine." + k
assert j["machine"]["kernels"] in ("fast", "reference")
for k in ("threads", "repeat", "warmup", "precision", "flop_formula"):
    assert k in j["settings"], "settings." + k
assert j["settings"]["threads"] == 1
names = [r["case"] for r in j["records"]]
assert names == cases, names
for r in j["records"]:
    for k in ("case", "kind", "op", "shape", "precision", "threads", "repeats", "times_ms",
              "median_ms", "gflop", "gflops", "check"):
        assert k in r, r["case"] + ": " + k
    assert r["precision"] == "fp32" and r["threads"] == 1
    assert r["repeats"] == 2 and len(r["times_ms"]) == 2, r["case"]
    assert r["median_ms"] > 0 and r["gflop"] > 0 and r["gflops"] > 0, r["case"]
    assert r["check"] is not None and r["check"]["ok"] is True, r["case"]
    if r["kind"] == "conv":
        assert r["layers"] and r["layer"] in r["layers"], r["case"]
    if r["case"] == "unet_infer":
        assert r["peak_rss_mib"] > 0 and r["tensor_peak_mib"] > 0
EOF
}

# conv: D,H,W,C,K with the default 3x3x3 pad 1; 2 x 2 x 10 x 12 x 16 MACs... tiny.
check "bench conv" 0 "$ctv" bench conv --shape 6,10,12,5,7 --threads 1 --repeat 2 --json "$tmp/conv.json"
has "conv: header names the CPU and kernels" "$out" "^ctv bench \| .* \| kernels (fast|reference), level "
for op in fprop dgrad wgrad; do
  has "conv: $op row" "$out" "^conv/$op +1x6x10x12x5 k3 s1 p1 K7 .*vs reference: max err"
done
validate "$tmp/conv.json" conv conv/fprop,conv/dgrad,conv/wgrad || fail=1
[[ -f "$tmp/conv.json.json" ]] || { echo "FAIL: conv: no provenance sidecar"; fail=1; }

check "bench conv refuses to overwrite" 1 "$ctv" bench conv --shape 6,10,12,5,7 --json "$tmp/conv.json"
has "overwrite: message" "$err" "conv.json: exists; nothing run \(use --force"
lines "overwrite: nothing on stdout" "$out" 0
check "bench conv --force" 0 "$ctv" bench conv --shape 4,4,4,3,2,1,0 --ops fprop --threads 1 \
  --repeat 2 --json "$tmp/conv.json" --force
validate "$tmp/conv.json" conv conv/fprop || fail=1

# cpu: the default network on its smallest grids (every size a multiple of 16).
check "bench cpu" 0 "$ctv" bench cpu --threads 1 --repeat 2 --grid 32,16,16 --step-grid 32,16,16 \
  --cases infer,step,enc.0.conv2,up.0 --json "$tmp/cpu.json"
has "cpu: infer row" "$out" "^unet_infer +1x16x16x32x2 .*vs reference kernels"
has "cpu: peak RSS" "$out" "peak RSS [0-9]+ MiB"
has "cpu: step row" "$out" "^unet_step +1x16x16x32x2 .*loss finite"
has "cpu: transposed layer" "$out" "^up.0/wgrad +1x8x8x16x32 transposed k2 s2 p0 K16 "
validate "$tmp/cpu.json" cpu \
  unet_infer,unet_step,enc.0.conv2/fprop,enc.0.conv2/dgrad,enc.0.conv2/wgrad,up.0/fprop,up.0/dgrad,up.0/wgrad \
  || fail=1

# --profile: the step's time by kernel, in the table and the JSON, conv3d among them.
check "bench cpu --profile" 0 "$ctv" bench cpu --threads 1 --repeat 2 --grid 32,16,16 \
  --step-grid 32,16,16 --cases step --profile --no-check --json "$tmp/profile.json"
has "profile: header" "$out" "time per run by kernel +ms +share +calls"
has "profile: conv3d_fprop row" "$out" "^ +conv3d_fprop +[0-9.]+ +[0-9.]+% +19$"
has "profile: adam row" "$out" "^ +adam_step +[0-9.]+ +[0-9.]+% +[0-9]+$"
has "profile: remainder" "$out" "^ +outside the kernels +-?[0-9.]+ +-?[0-9.]+%$"
python3 - "$tmp/profile.json" <<'PY' || { echo "FAIL: profile: JSON"; fail=1; }
import json, sys
r = json.load(open(sys.argv[1]))["records"][0]
p = {row["kernel"]: row for row in r["profile"]}
assert p["conv3d_fprop"]["calls"] == 19 and p["conv3d_wgrad"]["calls"] == 19, p
assert p["conv3d_dgrad"]["calls"] == 18 and p["sigmoid_fwd"]["calls"] == 1, p
assert all(row["ms"] >= 0 for row in r["profile"])
assert sum(row["ms"] for row in r["profile"]) <= max(r["times_ms"]) * 1.01
ms = [row["ms"] for row in r["profile"]]
assert ms == sorted(ms, reverse=True), ms
PY

# bench gpu: without a GPU (or without the CUDA backend), one line saying so and exit 1; with
# one, the table on the smallest grid.
if "$ctv" --version 2>/dev/null | grep -q "^GPU found: yes"; then
  check "bench gpu" 0 "$ctv" bench gpu --grid 32,16,16 --repeat 2
  has "gpu: header" "$out" "^ctv bench gpu \| .* \(sm_[0-9]+\) \| fp32 NDHWC/KTRSC"
  has "gpu: a layer row" "$out" "^enc.0.conv2/wgrad +1x16x16x32x16 k3 s1 p1 K16 "
else
  check "bench gpu without a GPU" 1 "$ctv" bench gpu --grid 32,16,16
  has "gpu: one line" "$err" "^ctv bench: error: (no GPU: .+|this ctv was built without the CUDA backend.*)$"
  lines "gpu: nothing on stdout" "$out" 0
fi

# Usage errors: exit 2 or 1 with one line naming the option.
check "bad grid" 1 "$ctv" bench cpu --grid 30,16,16
has "bad grid: message" "$err" "--grid '30,16,16': every size must be a multiple of 16"
check "bad case" 1 "$ctv" bench cpu --cases enc.9.conv1 --grid 16,16,16
has "bad case: message" "$err" "--cases: 'enc.9.conv1' is not infer, step, conv or a conv layer"
check "bad shape" 1 "$ctv" bench conv --shape 4,4
has "bad shape: message" "$err" "--shape '4,4': give D,H,W,C,K"
check "no shape" 2 "$ctv" bench conv
check "no subcommand" 2 "$ctv" bench
exit $fail
