#!/bin/sh
# A module that works for 0.2 s per call (it sleeps), then writes a success status beside its
# config (module_<i>.json -> status_<i>.json); for the parallel-speedup benchmark.
sleep 0.2
config=$1
name=${config##*/}
printf '{"status": "success"}' > "${config%/*}/status_${name#module_}"
