"""The peak resident memory of a process and its descendants together (Linux /proc), sampled
by a thread: a child's own ``ru_maxrss`` also counts what it shared with its parent between
fork and exec (a benchmark that seeded in process passes its own size to every command)."""

from __future__ import annotations

import threading
from pathlib import Path


class TreeMemory(threading.Thread):
    """The peak resident memory of a process and its descendants together (Linux /proc)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kib = pid, 0
        self.done = threading.Event()

    @property
    def mib(self) -> int | None:
        return round(self.peak_kib / 1024) if self.peak_kib else None

    def run(self) -> None:
        while not self.done.wait(0.2):
            self.peak_kib = max(self.peak_kib, _tree_rss_kib(self.pid))

    def stop(self) -> None:
        self.done.set()
        self.join()


def _tree_rss_kib(root: int) -> int:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    tree, grown = {root}, True
    while grown:
        found = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= found
        grown = bool(found)
    total = 0
    for pid in tree:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines()
                       if line.startswith("VmRSS:")), 0)
    return total
