#!/usr/bin/env python3
"""Inline protocol: answers every call with a status line over the 16 MiB limit."""

import sys

for _line in sys.stdin:
    sys.stdout.write('STATUS: {"status": "success", "message": "' + "x" * (17 << 20) + '"}\n')
    sys.stdout.flush()
