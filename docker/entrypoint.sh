#!/bin/sh
# The images' entry point: `docker run IMAGE worker --job-types T` runs
# `shoal worker --job-types T`. A command that names a program instead runs as
# given, so task definitions that spell out `shoal worker ...` or `sh -c "..."`
# (the AWS deployment does both) work unchanged.
set -e
case "${1:-}" in
  shoal | sh | bash | python | python3 | pip | /*) exec "$@" ;;
  *) exec shoal "$@" ;;
esac
