#!/bin/sh
# A module in the reference's style: its only argument is the path of the config
# document; it answers success in the status file the document names.  (The
# reference's own program reads the document with jq; this one needs only sed.)
set -eu
status=$(sed -n 's/^ *"statusFile": "\(.*\)",\{0,1\}$/\1/p' "$1")
printf '{"status": "success"}\n' >"$status"
