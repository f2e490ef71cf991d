#!/usr/bin/env bash
# The report page as a reader sees it: rendered in headless Chromium by
# tools/check_report_html.sh (Table 1 present, every image loaded, nothing fetched from
# outside). Exit 77 (skipped) where chromium is not installed.
# usage: report_html.sh <path-to-ctv> <tests/data>
set -u
ctv=$1
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib/checks.bash"
source "$here/lib/toy_cohort.bash"
make_toy_cohort "$tmp/cohort"
check "report" 0 "$ctv" report --cohort "$tmp/cohort" --out "$tmp/report"
((fail == 0)) || exit 1
"$here/../../tools/check_report_html.sh" "$tmp/report/report.html"
