"""A graph command interrupted while step code left threads running ends as Ctrl-C
should: exit 130, no traceback, the threads named (they would otherwise hold the
process open for ever)."""

from __future__ import annotations

import subprocess
import sys

INTERRUPTED = """
import threading
from nervosum.cli.graph.exit import ends_despite_threads

@ends_despite_threads
def command():
    threading.Thread(target=threading.Event().wait, name="stuck").start()
    raise KeyboardInterrupt

command()
"""


def test_an_interrupt_with_threads_left_exits_130_without_a_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-c", INTERRUPTED], check=False, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 130
    assert "Traceback" not in done.stderr
    assert "left 1 threads running (stuck)" in done.stderr
