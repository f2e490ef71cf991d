#!/usr/bin/env bash
# The command line as a user meets it: --help, --version, every subcommand's --help, usage
# errors, and subcommands that are not built yet saying so with a non-zero exit.
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

# Not built yet: says so, exit 3, one line.
for cmd in "train --cohort c --out $tmp/never"; do
  # shellcheck disable=SC2086
  check "$cmd" 3 "$ctv" $cmd
  has "$cmd says not built" "$err" "not built yet"
  lines "$cmd" "$err" 1
done
[[ ! -e "$tmp/never" ]] || { echo "FAIL: an unbuilt command created its output"; fail=1; }

# Usage errors: exit 2, one line naming the problem.
check "unknown subcommand" 2 "$ctv" frobnicate
lines "unknown subcommand" "$err" 1
check "missing required option" 2 "$ctv" train --out r
has "missing option named" "$err" "--cohort"
lines "missing required option" "$err" 1
check "bad choice" 2 "$ctv" train --cohort c --out r --device tpu
lines "bad choice" "$err" 1

exit $fail
