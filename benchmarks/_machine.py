"""What the whole machine spent while a benchmark ran: the machine may be shared, and a run
that shared its cores with other processes is not a clean measurement."""

from __future__ import annotations

import os
from pathlib import Path


def machine_busy_seconds() -> float:
    """CPU time every process on the machine has used since boot (Linux ``/proc/stat``)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def status_bytes(key: str) -> int:
    """A size this process reports in ``/proc/self/status`` (``VmHWM``: its peak RSS)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def reset_peak_rss() -> bool:
    """Start this process's peak RSS (``VmHWM``) afresh, so that a measured part's peak
    excludes what ran before it; False where the kernel cannot (before Linux 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True
