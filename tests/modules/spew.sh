#!/bin/sh
# Succeeds after writing SPEW_BYTES (default 50 MiB) zero bytes, without newlines, on stdout.
head -c "${SPEW_BYTES:-52428800}" /dev/zero
status=$(sed -n 's/^ *"statusFile": "\(.*\)",$/\1/p' "$1")
printf '{"status": "success"}\n' > "$status"
