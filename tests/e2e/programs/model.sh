#!/bin/sh
# A registered type's program in shell, run by shoal dev's workers: logs on both streams
# (naming the type's revision, from $MODEL_REV), progress, a file in a folder of its own
# and result.json. Half way it waits until the file $GATE exists.
set -eu
echo "revision $MODEL_REV: job $SHOAL_JOB_ID attempt $SHOAL_ATTEMPT"
echo "warming up" >&2
echo "::progress 0.5 half way"
while [ ! -e "$GATE" ]; do sleep 0.05; done
mkdir -p "$SHOAL_OUTPUT_DIR/tables"
printf 'x,y\n1,2\n' > "$SHOAL_OUTPUT_DIR/tables/points.csv"
printf '{"rows": 1, "revision": "%s"}\n' "$MODEL_REV" > "$SHOAL_OUTPUT_DIR/result.json"
echo "::progress 1"
echo "done"
