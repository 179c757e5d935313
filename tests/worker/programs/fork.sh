#!/bin/sh
# Starts a grandchild in the background, writes "<its pid> <the grandchild's pid>" to
# $PIDS_FILE, then with "leave" exits 0 at once, and with "wait" waits for it.
sleep 1000 &
echo "$$ $!" > "$PIDS_FILE.tmp" && mv "$PIDS_FILE.tmp" "$PIDS_FILE"
echo "started $!"
if [ "${1:-}" = "wait" ]; then
  wait
fi
