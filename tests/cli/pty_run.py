#!/usr/bin/env python3
"""pty_run.py WAIT TYPED CMD...: runs CMD with a pseudo-terminal as its stdin, stdout and stderr,
as if typed at: once CMD has printed WAIT, TYPED is typed (a Python escape string, so \\x04 is
Ctrl-D). Prints everything CMD wrote and exits with CMD's status; after 60 s without CMD ending
it is killed and the status is 124. PTY_COLS=N: a terminal N columns wide (default 80). For
tests/cli (tf-generate reading a prompt, progress lines cut to the terminal)."""
import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time


def main():
    wait, typed, cmd = sys.argv[1].encode(), sys.argv[2], sys.argv[3:]
    typed = typed.encode().decode("unicode_escape").encode("latin-1")
    pid, fd = pty.fork()
    if pid == 0:
        cols = int(os.environ.get("PTY_COLS", "80"))
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
        os.execvp(cmd[0], cmd)
    seen, sent, deadline = b"", False, time.time() + 60
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                chunk = b""
            if not chunk:
                break
            seen += chunk
        if not sent and wait in seen:
            os.write(fd, typed)
            sent = True
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        sys.stdout.buffer.write(seen + b"\n[killed after 60 s]\n")
        sys.exit(124)
    _, status = os.waitpid(pid, 0)
    sys.stdout.buffer.write(seen)
    sys.exit(os.waitstatus_to_exitcode(status))


main()
