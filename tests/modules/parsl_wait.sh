#!/bin/sh
# For the Parsl runner's tests: touches the file $READY, then sleeps until it is stopped.
touch "$READY"
sleep 60
