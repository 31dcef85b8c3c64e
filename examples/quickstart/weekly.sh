#!/bin/sh
# A weekly bulletin as a SIMBA module, in plain POSIX sh (no jq needed).
#
# SIMBA calls it with the path of its config document as the only argument.  The
# document has one top-level key per line, indented by two spaces, so sed can read
# the few values this module needs.  It prints an INFO: line for every weekly step
# (SIMBA shows it in its activity log) and writes a success status.
set -eu

config=$1

# The value of a top-level string key of the config document.
text() {
    sed -n "s/^  \"$1\": \"\(.*\)\",\{0,1\}\$/\1/p" "$config"
}

# The value of a top-level integer key of the config document.
number() {
    sed -n "s/^  \"$1\": \(-\{0,1\}[0-9][0-9]*\),\{0,1\}\$/\1/p" "$config"
}

status_file=$(text statusFile)

if [ "$(text mode)" = step ]; then
    tick=$(number currentTick)
    week=$((tick / 7 + 1))
    from=$(text currentTime)
    to=$(text targetTime)
    echo "INFO: week $week: days $tick to $(number targetTick) (${from%%T*} to ${to%%T*})"
fi

printf '{"status": "success"}\n' > "$status_file"
