#!/bin/sh
# HEAT_STRESS: degree heating weeks of a reef site, by the C program dhw.
#
# shoal's worker runs this for each job, in a folder of its own, with the job's input in
# the file $SHOAL_INPUT and an empty folder $SHOAL_OUTPUT_DIR whose files are uploaded
# when this exits 0 (result.json there is the job's result). Everything printed is the
# job's log; a line "::progress <0..1> [message]" on stdout is its progress instead.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
dhw="$here/bin/dhw"
if [ ! -x "$dhw" ]; then
  # A checkout rather than the image: build the program once, on first use.
  if ! command -v "${CC:-cc}" >/dev/null; then
    echo "no bin/dhw and no C compiler (${CC:-cc}): run 'make -C $here' first" >&2
    exit 2
  fi
  echo "::progress 0.05 compiling dhw.c"
  mkdir -p "$here/bin"
  "${CC:-cc}" -O2 -std=c11 -Wall -o "$dhw.$$" "$here/dhw.c"
  mv "$dhw.$$" "$dhw"  # whole, even with two jobs compiling at once
fi

echo "job $SHOAL_JOB_ID (attempt $SHOAL_ATTEMPT): degree heating weeks"
echo "::progress 0.2 computing"
"$dhw" "$SHOAL_INPUT" "$SHOAL_OUTPUT_DIR/weeks.csv" > "$SHOAL_OUTPUT_DIR/result.json"

echo "::progress 0.8 listing the weeks under alert"
awk -F, 'NR > 1 && $5 ~ /^alert/ { print "week " $1 ": " $5 " (DHW " $4 ")" }' \
  "$SHOAL_OUTPUT_DIR/weeks.csv" > "$SHOAL_OUTPUT_DIR/alerts.txt"
echo "$(wc -l < "$SHOAL_OUTPUT_DIR/alerts.txt") weeks under alert"
echo "result: $(cat "$SHOAL_OUTPUT_DIR/result.json")"
echo "::progress 1 done"
