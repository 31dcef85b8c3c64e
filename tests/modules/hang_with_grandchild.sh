#!/bin/sh
# Hangs: starts a grandchild that ignores SIGTERM (its PID goes to grandchild.pid beside the
# config file), then sleeps 30 s without writing a status; used to test timeouts.
dir=$(dirname "$1")
(trap '' TERM; exec sleep 60) &
echo $! > "$dir/grandchild.pid"
echo "hang: started grandchild $!" >&2
sleep 30
