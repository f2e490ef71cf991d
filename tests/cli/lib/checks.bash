# Sourced by the command-line tests (tests/cli/*.sh): a temporary folder removed on exit,
# the files commands write to ($out, $err), and checks that record a failure in $fail.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/stdout
err=$tmp/stderr
fail=0

check() {  # description, expected exit code, command...
  local what=$1 want=$2
  shift 2
  "$@" >"$out" 2>"$err"
  local got=$?
  if [[ $got -ne $want ]]; then
    echo "FAIL: $what: exit $got, expected $want"
    cat "$out" "$err"
    fail=1
  fi
}

has() {  # description, file, pattern
  grep -qE -- "$3" "$2" || { echo "FAIL: $1: no '$3' in"; cat "$2"; fail=1; }
}

lines() {  # description, file, expected line count
  local n
  n=$(wc -l <"$2")
  [[ $n -eq $3 ]] || { echo "FAIL: $1: $n lines, expected $3"; cat "$2"; fail=1; }
}
