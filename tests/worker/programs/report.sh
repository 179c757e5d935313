#!/bin/sh
# A registered type's program in shell: logs on both streams, progress, a file in a
# folder of its own and result.json (the input it read, as metadata: keys with "_").
# With $GATE set it waits, half way, until that file exists.
set -eu
echo "job $SHOAL_JOB_ID attempt $SHOAL_ATTEMPT of $SHOAL_JOB_TYPE"
echo "threads: ${MODEL_THREADS:-unset}" >&2
echo "::progress 0.5 half way"
if [ -n "${GATE:-}" ]; then
  while [ ! -e "$GATE" ]; do sleep 0.05; done
fi
mkdir -p "$SHOAL_OUTPUT_DIR/tables"
printf 'x,y\n1,2\n' > "$SHOAL_OUTPUT_DIR/tables/points.csv"
printf '{"_input": %s, "_cwd": "%s"}\n' "$(cat "$SHOAL_INPUT")" "$(pwd)" \
  > "$SHOAL_OUTPUT_DIR/result.json"
echo "::progress 1"
echo "done"
