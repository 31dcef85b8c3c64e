#!/bin/sh
# Resident but never answers: reads the first config path, writes its PID to "pid" beside that
# config, then sleeps 60 s without writing a status or a DONE line (for timeouts).
IFS= read -r config
echo $$ > "${config%/*}/pid"
sleep 60
