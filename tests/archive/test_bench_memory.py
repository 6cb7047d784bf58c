"""The benchmark's memory figure for a parallel import counts the writer processes too: the
sum over the process tree, walked through each process's children."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from archive.management.commands.bench import TreeRss, _children, _tree_rss_kb

HOLD_100_MB = "import time; block = bytearray(100 * 1024 * 1024); block[::4096] = b'x' * len(block[::4096]); time.sleep(5)"


def test_the_tree_figure_includes_a_child_process_and_its_memory() -> None:
    alone = _tree_rss_kb(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", HOLD_100_MB])
    try:
        deadline = time.monotonic() + 4
        with_child = alone
        while time.monotonic() < deadline and with_child - alone < 90 * 1024:
            time.sleep(0.1)
            with_child = _tree_rss_kb(os.getpid())
        assert child.pid in _children(os.getpid())
        assert with_child - alone >= 90 * 1024
        with TreeRss(every=0.05) as tree:
            time.sleep(0.2)
        assert tree.peak_mb * 1024 >= with_child - 10 * 1024
    finally:
        child.kill()
        child.wait()
    assert child.pid not in _children(os.getpid())
