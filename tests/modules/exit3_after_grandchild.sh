#!/bin/sh
# Exits 3, but only once hang_with_grandchild.sh (run beside it) has written grandchild.pid
# (at most 10 s), so a test can be sure there is a grandchild to stop.
dir=$(dirname "$1")
i=0
while [ ! -s "$dir/grandchild.pid" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done
echo "exit3: failing" >&2
exit 3
