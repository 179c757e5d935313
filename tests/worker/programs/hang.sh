#!/bin/sh
# Ignores SIGTERM, and so does the child it starts (an ignored signal stays ignored
# across exec); writes "<its pid> <the child's pid>" to $PIDS_FILE, then waits for ever.
trap '' TERM
sleep 1000 &
echo "$$ $!" > "$PIDS_FILE.tmp" && mv "$PIDS_FILE.tmp" "$PIDS_FILE"
echo "hanging"
wait
