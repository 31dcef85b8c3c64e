#!/bin/sh
# Trivial resident module (type: resident) for the benchmarks: for each config path read on
# stdin it writes a success status beside the config (module_1.json -> status_1.json) and
# answers "DONE: <path>".  Only shell built-ins, so a call starts no process.
while IFS= read -r config; do
    printf '{"status": "success"}' > "${config%/*}/status_1.json"
    echo "DONE: $config"
done
