#!/bin/sh
# Hangs and ignores SIGTERM (only SIGKILL ends it); used to test the kill after the grace period.
trap '' TERM
sleep 30
