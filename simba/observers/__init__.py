"""Observers: callables that render the engine's events (plain lines, rich progress, Station).

An observer is a ``Callable[[Event], None]``; observers import :mod:`simba.events` (and
each other), never the engine, which in turn never imports them.
"""
