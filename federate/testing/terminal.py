"""Running a command with its stderr on a pseudo-terminal, for tests of what federate
draws there (progress bars show only on a terminal)."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
from collections.abc import Mapping, Sequence


def stderr_on_terminal(
    cmd: Sequence[str], env: Mapping[str, str], timeout: float = 120
) -> tuple[int, str]:
    """Run ``cmd`` with stderr on a 100x24 pseudo-terminal (stdout discarded); its exit
    code and what it wrote there."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(list(cmd), env=dict(env), stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.wait(timeout=timeout), b"".join(chunks).decode(errors="replace")
