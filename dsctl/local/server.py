"""Start and stop moto's server as a detached background process on 127.0.0.1.

The server must outlive ``dsctl local up`` (operators run other commands against
it), so it runs in its own session with its output in the state directory's log,
and ``dsctl local down`` stops it by the pid recorded in ``state.json``. It binds
127.0.0.1 only: the emulator accepts any credentials, so it must never be reachable
from another machine.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dsctl.local.state import server_answers

HOST = "127.0.0.1"
READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0
_PORT_ATTEMPTS = 3


class ServerError(Exception):
    """The server could not be started or stopped; the message names the fix."""


@dataclass(frozen=True)
class RunningServer:
    """A started server: its pid and the endpoint URL clients use."""

    pid: int
    endpoint: str


def free_port() -> int:
    """A port on 127.0.0.1 that is free right now (the caller retries if another process takes it first)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def server_command(port: int) -> list[str]:
    """The command line of the server: ``moto_server`` beside this interpreter, else ``python -m moto.server``."""
    beside = Path(sys.executable).parent / "moto_server"
    executable = str(beside) if beside.is_file() else shutil.which("moto_server")
    base = [executable] if executable else [sys.executable, "-m", "moto.server"]
    return [*base, "--host", HOST, "--port", str(port)]


def start(log_file: Path, timeout: float = READY_TIMEOUT_S) -> RunningServer:
    """Start a detached server on a free port and wait until it answers; raise ServerError if it never does."""
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        raise ServerError("moto's server is not installed; run `make install` (the dev extras include moto[server])")
    last_problem = "it did not start"
    for _ in range(_PORT_ATTEMPTS):
        port = free_port()
        with log_file.open("ab") as log:
            process = subprocess.Popen(  # fixed command line, no shell
                server_command(port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        endpoint = f"http://{HOST}:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                last_problem = f"it exited with code {process.returncode}"
                break  # most likely the port was taken between free_port() and bind: try another one
            if server_answers(endpoint, timeout=0.5):
                return RunningServer(pid=process.pid, endpoint=endpoint)
            time.sleep(0.1)
        else:
            stop(process.pid)
            raise ServerError(
                f"moto server did not answer within {timeout:.0f} s; see {log_file}, then retry `dsctl local up`"
            )
    raise ServerError(f"moto server failed to start ({last_problem}); see {log_file}, then retry `dsctl local up`")


def _is_moto_server(pid: int) -> bool:
    """True when ``pid`` runs moto's server, so a recycled pid never gets our signal (Linux /proc; else trusted)."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.exists():
        return _alive(pid)
    try:
        argv = [arg.decode(errors="replace") for arg in cmdline.read_bytes().split(b"\0") if arg]
    except OSError:
        return False
    return looks_like_server(argv)


def looks_like_server(argv: list[str]) -> bool:
    """``moto_server ...`` or ``python -m moto.server ...`` (what ``server_command`` starts), nothing else."""
    if any(Path(arg).name == "moto_server" for arg in argv[:2]):
        return True
    return any(argv[i : i + 2] == ["-m", "moto.server"] for i in range(len(argv) - 1))


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child that exited: reap it
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _exited_unreaped(pid)


def _exited_unreaped(pid: int) -> bool:
    """True for a zombie: a server started by a `dsctl local up` that has since exited is init's child, and init
    may reap it seconds after it exited (Linux /proc; elsewhere the signal-0 check alone decides)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def stop(pid: int, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop the server with ``pid`` (TERM, then KILL after ``timeout``); False if no such server was running."""
    if not _alive(pid) or not _is_moto_server(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    while _alive(pid) and time.monotonic() < deadline + timeout:
        time.sleep(0.05)
    return True
