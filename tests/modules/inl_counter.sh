#!/bin/sh
# Resident with the inline protocol, in POSIX sh: each line on stdin is a config document (one
# JSON line); it answers 'STATUS: {"status": "success", "commonData": {"calls": N}}' with N its
# own call count, and writes no file.  It prints an INFO: line per call.  With arguments
# "WHAT TICK" the step at TICK misbehaves: garbage (a STATUS: line that is not JSON), invalid
# (a status document without "status"), hang (no answer for 60 s), die (SIGKILL to itself),
# exit (exits 0 without answering), fail (answers status fail with a message).
n=0
while IFS= read -r line; do
    n=$((n + 1))
    mode=$(printf '%s\n' "$line" | sed -n 's/.*"mode":"\([a-z]*\)".*/\1/p')
    tick=$(printf '%s\n' "$line" | sed -n 's/.*"currentTick":\(-\{0,1\}[0-9]*\).*/\1/p')
    echo "INFO: call $n is $mode at tick $tick"
    if [ "$mode" = step ] && [ "$tick" = "$2" ]; then
        echo "inl_counter: doing '$1' at tick $tick" >&2
        case "$1" in
            garbage) echo 'STATUS: this is not json'; continue ;;
            invalid) echo 'STATUS: {"commonData": {}}'; continue ;;
            fail) echo 'STATUS: {"status": "fail", "message": "told to fail"}'; continue ;;
            hang) sleep 60 ;;
            die) kill -9 $$ ;;
            exit) exit 0 ;;
        esac
    fi
    printf 'STATUS: {"status": "success", "commonData": {"calls": %d}}\n' "$n"
done
