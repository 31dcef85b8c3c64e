#!/bin/sh
# Deterministic model for the serial-vs-concurrent tests; one-shot, or resident when
# SIMBA_MODULE_MODE=resident.  Usage: res_hash.sh NAME [CONFIG].  Per call, h = the CRC of the
# whole config document (the commonData it was given, its moduleData, mode and ticks); it
# sleeps h % 3 centiseconds (so concurrent calls finish in varying order), then returns
# moduleData {"h": h} and commonData {NAME: h, "shared": "NAME:h"}.  A call seeing other
# updates, or in another order, changes every later value.
name=$1
handle() {
    set -- $(cksum < "$1") "$1"
    [ $(($1 % 3)) -ne 0 ] && sleep "0.0$(($1 % 3))"
    status=$(sed -n 's/^  "statusFile": "\(.*\)",$/\1/p' "$3")
    printf '{"status": "success", "moduleData": {"h": %s}, "commonData": {"%s": %s, "shared": "%s:%s"}}\n' \
        "$1" "$name" "$1" "$name" "$1" > "$status"
}
if [ "$SIMBA_MODULE_MODE" = resident ]; then
    while IFS= read -r config; do
        handle "$config"
        echo "DONE: $config"
    done
else
    handle "$2"
fi
