#!/bin/sh
# Succeeds; at tick $HOG_TICK (after writing its status) it fills the disk that holds the file
# $HOG_BALLAST, so that SIMBA's own next writes find no space.  Usage: disk_hog.sh CONFIG
status=$(sed -n 's/^ *"statusFile": "\(.*\)",$/\1/p' "$1")
printf '{"status": "success"}\n' > "$status"
tick=$(sed -n 's/^ *"currentTick": \([0-9]*\),$/\1/p' "$1")
if [ "$tick" = "$HOG_TICK" ]; then
    dd if=/dev/zero of="$HOG_BALLAST" bs=4096 2>/dev/null
fi
exit 0
