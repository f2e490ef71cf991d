#!/usr/bin/env bash
# The command line as a user meets it: --help, --version, every subcommand's --help, usage
# errors, and a fault in the inputs giving one line and exit 1.
# usage: ctv.sh <path-to-ctv> <tests/data>
set -u
ctv=$1
source "$(dirname "${BASH_SOURCE[0]}")/lib/checks.bash"

check "--help" 0 "$ctv" --help
has "--help lists subcommands" "$out" "predict"
check "--version" 0 "$ctv" --version
for field in "^ctv \(ctvnet\) [0-9]+\.[0-9]+\.[0-9]+" "^commit: " "^build type: " "^CUDA built: (yes|no)" "^GPU found: (yes|no)"; do
  has "--version field" "$out" "$field"
done

for sub in phantom expand eval train predict report demo bench info; do
  check "$sub --help" 0 "$ctv" "$sub" --help
  has "$sub --help" "$out" "Usage: ctv $sub"
done

# Every subcommand is built: a fault in the inputs is exit 1, one line, and nothing written.
check "train on a missing cohort" 1 "$ctv" train --cohort "$tmp/none" --out "$tmp/never"
has "names the manifest" "$err" "none/cohort.json"
lines "one error line" "$err" 1
[[ ! -e "$tmp/never" ]] || { echo "FAIL: a failed command created its output"; fail=1; }

# Usage errors: exit 2, one line naming the problem.
check "unknown subcommand" 2 "$ctv" frobnicate
lines "unknown subcommand" "$err" 1
check "missing required option" 2 "$ctv" train --out r
has "missing option named" "$err" "--cohort"
lines "missing required option" "$err" 1
check "bad choice" 2 "$ctv" train --cohort c --out r --device tpu
lines "bad choice" "$err" 1

exit $fail
