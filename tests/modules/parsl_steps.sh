#!/bin/sh
# For the Parsl runner's tests: attempt n (counted in the file $COUNTER) fails in the n-th way:
# 1 exits 3, 2 writes no status, 3 sleeps past its timeout, 4 touches $COUNTER.waiting and
# sleeps until the test kills its worker pool; every later attempt succeeds.
n=$(( $(cat "$COUNTER" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$COUNTER"
status=$(sed -n 's/^ *"statusFile": "\(.*\)",$/\1/p' "$1")
echo "INFO: attempt $n"
case $n in
1) echo "parsl_steps: failing with code 3" >&2; exit 3 ;;
2) exit 0 ;;
3) sleep 60 ;;
4) touch "$COUNTER.waiting"; sleep 60 ;;
*) printf '{"status": "success"}\n' > "$status" ;;
esac
