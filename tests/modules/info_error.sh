#!/bin/sh
# Succeeds after printing one INFO: and one ERROR: line on stdout (and a plain line).
echo "INFO: hello from tick $(sed -n 's/^ *"currentTick": \([0-9]*\),$/\1/p' "$1")"
echo "just chatter"
echo "ERROR: something odd happened"
status=$(sed -n 's/^ *"statusFile": "\(.*\)",$/\1/p' "$1")
printf '{"status": "success"}\n' > "$status"
