#!/bin/sh
# Resident, writes a success status for each call but answers "DONE: /elsewhere/<config path>"
# instead of naming the config path it was sent; appends its PID to $RES_LOG (if set) per call.
while IFS= read -r config; do
    [ -n "$RES_LOG" ] && echo $$ >> "$RES_LOG"
    status=$(sed -n 's/^  "statusFile": "\(.*\)",$/\1/p' "$config")
    printf '{"status": "success"}\n' > "$status"
    echo "DONE: /elsewhere$config"
done
