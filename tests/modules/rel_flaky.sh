#!/bin/sh
# Flaky: counts its attempts in the file $REL_STATE.  Attempt 1 prints "try 1" on stdout,
# writes a success status and exits 1; attempt 2 prints nothing, writes no status and exits 0;
# attempt 3 and later print "try N" on stderr and succeed.  Each attempt appends "stale" to
# $REL_STATE.stale if a status file already existed when it started.
status=$(sed -n 's/^ *"statusFile": "\(.*\)",$/\1/p' "$1")
[ -e "$status" ] && echo stale >> "$REL_STATE.stale"
n=$(( $(cat "$REL_STATE" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$REL_STATE"
case "$n" in
1)
    echo "try 1"
    printf '{"status": "success"}\n' > "$status"
    exit 1
    ;;
2)
    exit 0
    ;;
esac
echo "try $n" >&2
printf '{"status": "success"}\n' > "$status"
