#!/bin/sh
# Resident and well behaved: for each config path read on stdin it appends "<pid> <mode> <tick>"
# to $RES_LOG, prints an INFO: and an ERROR: line, writes a success status with commonData
# "calls" = its own call count, and answers "DONE: <path>".  When stdin closes it appends
# "<pid> eof" and exits 0.  With arguments "crash TICK [ONCE_FILE]" the step at TICK prints a
# line on stderr and exits 3 without answering (only while ONCE_FILE does not exist; the crash
# creates it, so a restarted process gets past TICK).
n=0
while IFS= read -r config; do
    n=$((n + 1))
    mode=$(sed -n 's/^  "mode": "\(.*\)",$/\1/p' "$config")
    tick=$(sed -n 's/^  "currentTick": \([0-9]*\),$/\1/p' "$config")
    status=$(sed -n 's/^  "statusFile": "\(.*\)",$/\1/p' "$config")
    echo "$$ $mode $tick" >> "$RES_LOG"
    if [ "$1" = crash ] && [ "$mode" = step ] && [ "$tick" = "$2" ]; then
        if [ -z "$3" ] || [ ! -e "$3" ]; then
            [ -n "$3" ] && : > "$3"
            echo "res_counter: crashing at tick $tick" >&2
            exit 3
        fi
    fi
    echo "INFO: call $n is $mode at tick $tick"
    echo "ERROR: nothing wrong at tick $tick, just testing"
    printf '{"status": "success", "commonData": {"calls": %d}}\n' "$n" > "$status"
    echo "DONE: $config"
done
echo "$$ eof" >> "$RES_LOG"
