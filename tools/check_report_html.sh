#!/usr/bin/env bash
# Renders a `ctv report` page in headless Chromium (Debian's chromium) and checks what a reader
# would see: Table 1 with its rows, and every image loaded (naturalWidth > 0). The page must
# stand alone: no src or href points outside it, and every host name is made unreachable
# while it renders, so anything it tried to fetch would show as a broken image.
# usage: tools/check_report_html.sh REPORT.html [SCREENSHOT.png]
# exit: 0 the page passed; 1 it failed (each fault on its own line); 2 usage;
#       77 chromium is not installed (CTest reports the test as skipped).
set -u
(($# >= 1 && $# <= 2)) || { echo "usage: $0 REPORT.html [SCREENSHOT.png]" >&2; exit 2; }
page=$1
shot=${2:-}
[[ -f "$page" ]] || { echo "check_report_html: $page: does not exist" >&2; exit 1; }
browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z "$browser" ]]; then
  echo "check_report_html: chromium is not installed (apt-get install chromium); not checked" >&2
  exit 77
fi

fail=0
if grep -Eq '(src|href)="(https?:|//|file:)' "$page"; then
  echo "FAIL: $page refers to something outside itself:" >&2
  grep -Eo '(src|href)="(https?:|//|file:)[^"]{0,60}' "$page" | head -3 >&2
  fail=1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The probe runs after the load event (its marker is split so that the script's own text
# in the dumped page does not match), when every image has either decoded or failed.
probe='<script>window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  var t = document.querySelector("table#table1");
  var rows = t && t.tBodies.length ? t.tBodies[0].rows.length : 0;
  var cols = t && t.tHead ? t.tHead.rows[0].cells.length : 0;
  var p = document.createElement("pre");
  p.id = "ctv-check";
  p.textContent = "CTV-" + "RESULT images=" + imgs.length + " broken=" + broken.length +
      " table1_rows=" + rows + " table1_columns=" + cols + " broken_alts=" +
      broken.map(function (i) { return JSON.stringify(i.alt); }).join("|");
  document.body.appendChild(p);
});</script>'
awk -v probe="$probe" '/<\/body>/ && !done { print probe; done = 1 } { print }' "$page" >"$tmp/page.html"

flags=(--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run
  --user-data-dir="$tmp/profile" --host-resolver-rules="MAP * ~NOTFOUND"
  --virtual-time-budget=15000)
if ! timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$tmp/page.html" >"$tmp/dom.html" 2>"$tmp/chromium.log"; then
  echo "FAIL: chromium could not render $page:" >&2
  tail -5 "$tmp/chromium.log" >&2
  exit 1
fi
line=$(grep -Eo 'CTV-RESULT images=[0-9]+[^<]*' "$tmp/dom.html" | head -1)
if [[ -z "$line" ]]; then
  echo "FAIL: the page did not finish loading in chromium" >&2
  exit 1
fi
echo "check_report_html: $line"
get() { sed -E "s/.* $1=([^ ]*).*/\1/" <<<"$line"; }
images=$(get images) broken=$(get broken) rows=$(get table1_rows) cols=$(get table1_columns)
((images > 0)) || { echo "FAIL: the page shows no image" >&2; fail=1; }
((broken == 0)) || { echo "FAIL: $broken of $images images did not load: $(get broken_alts)" >&2; fail=1; }
((rows >= 10)) || { echo "FAIL: Table 1 has $rows rows (expected at least 10)" >&2; fail=1; }
((cols >= 3)) || { echo "FAIL: Table 1 has $cols columns (expected a label, the reference and a method)" >&2; fail=1; }

if [[ -n "$shot" ]]; then
  timeout 120 "$browser" "${flags[@]}" --hide-scrollbars --window-size=1320,2400 \
    --screenshot="$shot" "file://$(realpath "$page")" >/dev/null 2>&1 ||
    { echo "FAIL: chromium could not take a screenshot" >&2; fail=1; }
fi
exit $fail
