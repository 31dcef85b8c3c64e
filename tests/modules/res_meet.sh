#!/bin/sh
# One-shot helper for the concurrency tests (named res_* only to share the new-file prefix).
# "res_meet.sh meet DIR NAME OTHER... CONFIG": creates DIR/NAME, then waits up to 20 s for
# DIR/OTHER of every other name; succeeds only if all met, so it passes only when the calls
# run at the same time.  "res_meet.sh alone DIR CONFIG": fails if another call holds DIR/busy
# (made with mkdir, which is atomic), else holds it for 50 ms; it passes only when no two
# calls overlap.
mode=$1
dir=$2
shift 2
eval "config=\${$#}"
status=$(sed -n 's/^  "statusFile": "\(.*\)",$/\1/p' "$config")
if [ "$mode" = meet ]; then
    : > "$dir/$1"
    shift
    tries=0
    while [ "$#" -gt 1 ]; do
        if [ -e "$dir/$1" ]; then
            shift
        elif [ "$tries" -ge 2000 ]; then
            printf '{"status": "fail", "message": "never met %s"}\n' "$1" > "$status"
            exit 0
        else
            tries=$((tries + 1))
            sleep 0.01
        fi
    done
else
    if ! mkdir "$dir/busy" 2>/dev/null; then
        printf '{"status": "fail", "message": "another call was running"}\n' > "$status"
        exit 0
    fi
    sleep 0.05
    rmdir "$dir/busy"
fi
printf '{"status": "success"}\n' > "$status"
