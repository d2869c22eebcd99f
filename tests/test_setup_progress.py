"""gafit.setup_progress: a bar for the long steps of a fit's set-up, on a terminal, none when quiet."""

from __future__ import annotations

import io

import pytest

from gafit.setup_progress import quiet_setup, steps


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_on_a_terminal_none_when_quiet_nor_in_a_log(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert list(steps(range(5), 5, "probing")) == [0, 1, 2, 3, 4]
    assert "probing:" in terminal.getvalue() and "/5" in terminal.getvalue()  # cleared at the end
    terminal.seek(0), terminal.truncate()
    with quiet_setup():
        assert list(steps(range(3), 3, "probing")) == [0, 1, 2]
    with quiet_setup(False), quiet_setup(True):
        list(steps(range(3), 3, "probing"))
    assert terminal.getvalue() == ""
    log = io.StringIO()  # not a terminal
    monkeypatch.setattr("sys.stderr", log)
    assert list(steps(range(3), 3, "probing")) == [0, 1, 2]
    assert log.getvalue() == ""
