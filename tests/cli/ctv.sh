#!/usr/bin/env bash
# The command line as a user meets it: --help, --version, every subcommand's --help, usage
# errors, and subcommands that are not built yet saying so with a non-zero exit.
# usage: ctv.sh <path-to-ctv> <tests/data>
set -u
ctv=$1
fail=0
check() {  # description, expected exit code, command...
  local what=$1 want=$2
  shift 2
  "$@" >/tmp/ctv-cli-out.$$ 2>/tmp/ctv-cli-err.$$
  local got=$?
  if [[ $got -ne $want ]]; then
    echo "FAIL: $what: exit $got, expected $want"
    cat /tmp/ctv-cli-out.$$ /tmp/ctv-cli-err.$$
    fail=1
  fi
}
has() {  # description, file, pattern
  grep -qE -- "$3" "$2" || { echo "FAIL: $1: no '$3' in output"; cat "$2"; fail=1; }
}
one_line() {  # description, file
  local n
  n=$(wc -l <"$2")
  [[ $n -eq 1 ]] || { echo "FAIL: $1: $n lines on stderr, expected one"; cat "$2"; fail=1; }
}

check "--help" 0 "$ctv" --help
has "--help lists subcommands" /tmp/ctv-cli-out.$$ "predict"
check "--version" 0 "$ctv" --version
for field in "^ctv \(ctvnet\) [0-9]+\.[0-9]+\.[0-9]+" "^commit: " "^build type: " "^CUDA built: (yes|no)" "^GPU found: (yes|no)"; do
  has "--version field" /tmp/ctv-cli-out.$$ "$field"
done

for sub in phantom expand eval train predict report demo bench info; do
  check "$sub --help" 0 "$ctv" "$sub" --help
  has "$sub --help" /tmp/ctv-cli-out.$$ "Usage: ctv $sub"
done

# Not built yet: says so, exit 3, one line.
for cmd in "phantom --out /tmp/ctv-cli-never" "train --cohort c --out r" "report --cohort c --out r"; do
  # shellcheck disable=SC2086
  check "$cmd" 3 "$ctv" $cmd
  has "$cmd says not built" /tmp/ctv-cli-err.$$ "not built yet"
  one_line "$cmd" /tmp/ctv-cli-err.$$
done
[[ ! -e /tmp/ctv-cli-never ]] || { echo "FAIL: an unbuilt command created its output"; fail=1; }

# Usage errors: exit 2, one line naming the problem.
check "unknown subcommand" 2 "$ctv" frobnicate
one_line "unknown subcommand" /tmp/ctv-cli-err.$$
check "missing required option" 2 "$ctv" train --out r
has "missing option named" /tmp/ctv-cli-err.$$ "--cohort"
one_line "missing required option" /tmp/ctv-cli-err.$$
check "bad choice" 2 "$ctv" train --cohort c --out r --device tpu
one_line "bad choice" /tmp/ctv-cli-err.$$

rm -f /tmp/ctv-cli-out.$$ /tmp/ctv-cli-err.$$
exit $fail
