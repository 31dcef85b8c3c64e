#!/bin/sh
# Misbehaves with its own files: "config" deletes its config file then succeeds; "dir" deletes
# its whole call directory, then prints a line on stdout and on stderr and exits 0.
# Usage: rel_vandal.sh config|dir CONFIG
status=$(sed -n 's/^ *"statusFile": "\(.*\)",$/\1/p' "$2")
case "$1" in
config)
    rm -f "$2"
    printf '{"status": "success"}\n' > "$status"
    ;;
dir)
    rm -rf "$(dirname "$2")"
    echo "vandal: removed my call directory"
    echo "vandal: and said so on stderr" >&2
    ;;
esac
exit 0
