#!/bin/sh
# Prints 25 numbered lines, then fails with exit code 3.
i=1
while [ "$i" -le 25 ]; do
  echo "line $i"
  i=$((i + 1))
done
exit 3
