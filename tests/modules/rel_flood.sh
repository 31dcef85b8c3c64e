#!/bin/sh
# Floods stdout: a pipeline (yes | head) writes 200 MB of 1000-byte lines, then it succeeds.
yes "$(printf '%0999d' 0)" | head -c "${REL_FLOOD_BYTES:-200000000}"
status=$(sed -n 's/^ *"statusFile": "\(.*\)",$/\1/p' "$1")
printf '{"status": "success"}\n' > "$status"
