#!/bin/sh
# Not executable on purpose (mode 644): the loader must reject it as a command.
exit 0
