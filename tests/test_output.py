"""The one rule for a module's output lines: cutting, INFO:/ERROR: picking, reading a file."""

from __future__ import annotations

from pathlib import Path

from simba.output import (
    MAX_LINE_BYTES,
    MAX_LINES,
    LineSplitter,
    Sink,
    module_line,
    read_module_lines,
)


def test_lines_arriving_in_pieces_come_out_whole() -> None:
    """A line split across writes is passed on once, whole; the last one at finish()."""
    lines: list[bytes] = []
    splitter = LineSplitter(lines.append)
    for piece in (b"fir", b"st\nsec", b"ond\n", b"", b"third"):
        splitter.feed(piece)
    assert lines == [b"first", b"second"]
    splitter.finish()
    splitter.finish()
    assert lines == [b"first", b"second", b"third"]


def test_an_overlong_line_is_passed_on_in_pieces() -> None:
    """A line longer than MAX_LINE_BYTES never waits whole in memory: it comes in pieces."""
    lines: list[bytes] = []
    splitter = LineSplitter(lines.append)
    splitter.feed(b"x" * (2 * MAX_LINE_BYTES + 5))
    assert [len(line) for line in lines] == [MAX_LINE_BYTES, MAX_LINE_BYTES]
    splitter.feed(b"\n")
    assert len(lines[-1]) == 5


def test_module_lines_are_info_and_error_lines_only() -> None:
    """INFO: and ERROR: lines give (level, text) with the text stripped; others give None."""
    assert module_line(b"INFO: ready \r") == ("INFO", "ready")
    assert module_line(b"ERROR:bad") == ("ERROR", "bad")
    assert module_line(b"info: no") is None
    assert module_line(b" INFO: indented") is None


def test_reading_an_output_file_applies_the_same_rule(tmp_path: Path) -> None:
    """read_module_lines finds what a Sink finds in the same bytes, capped at MAX_LINES."""
    data = b"plain\nINFO: one\nERROR: two\n" + b"INFO: more\n" * MAX_LINES + b"INFO: last"
    sink = Sink(tmp_path / "streamed")
    sink.write(data)
    sink.close()
    (tmp_path / "written").write_bytes(data)
    found = read_module_lines(tmp_path / "written")
    assert found == tuple(sink.found)
    assert len(found) == MAX_LINES
    assert found[:2] == (("INFO", "one"), ("ERROR", "two"))
    assert (tmp_path / "streamed").read_bytes() == data
    assert read_module_lines(tmp_path / "missing") == ()
