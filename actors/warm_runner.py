"""The runner inside a warm container: one child process per message, placed before it runs.

The worker bind-mounts this file read-only at ``/_abaco_runner.py`` and starts the
container with ``python3 -I -S /_abaco_runner.py`` as its only process (its init). The
runner connects to the worker's control socket (``/_abaco_runner.sock``) and then,
for each request, forks a child that waits on a pipe while the worker (on the host)
moves it into the execution's own cgroup; only on the worker's ``go`` does the child
exec the image's command with the message's environment. So every instruction of the
command, and everything it starts, is charged to that execution's cgroup.

Guarantees. The runner itself never runs message code, so nothing a message does
changes it; it reports the exit code (128 + signal for a killed child, as Docker
does), the child's stdout and stderr (combined, the first ``log_limit`` bytes and
whether more came), and ``changed``: the watched places outside ``/tmp`` whose
contents the execution changed (the top-level folders, ``/var/tmp``, ``/dev/shm``),
which it cannot undo; the worker then replaces the container. It uses the standard
library only, so any image with ``python3`` (3.6 or later) can run it.

With ``function`` (``module:function``, the actor's ``warm_function``) the child calls
that function instead of exec'ing a command: the module is imported once in the runner
(so each fork starts with it loaded), the child gets the message's environment in
``os.environ``, and its exit code is 0 on return, the ``SystemExit`` code, or 1 with
the traceback on stderr. Whatever a call changes stays in its child.

Protocol: JSON objects, one per line, on one stream connection.
  runner -> worker  {"ready": true, "pid": P}                    once, after connecting
  worker -> runner  {"run": {"argv": [...], "env": {...}, "cwd": "/", "log_limit": N, "function": "m:f"}}
  runner -> worker  {"child": PID}                               PID as seen in the container
  worker -> runner  {"go": true}  or  {"abort": "why"}
  runner -> worker  {"exit": CODE, "log": BASE64, "truncated": bool, "changed": [...]}
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import select
import signal
import socket
import sys
import traceback

CONTROL = "/_abaco_runner.sock"
# Never watched: kernel file systems, the kept scratch (/tmp) and the platform's mounts.
UNWATCHED = ("proc", "sys", "dev", "tmp")


def exit_code(status: int) -> int:
    """A wait status as Docker reports a container's: the exit code, or 128 + the signal."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def fingerprint(root: str = "/") -> dict:
    """What the runner watches for changes it cannot undo: folder mtimes and /dev/shm's entries."""
    out: dict = {}
    try:
        names = sorted(os.listdir(root))
    except OSError:
        names = []
    paths = [root, os.path.join(root, "var", "tmp")]
    for name in names:
        path = os.path.join(root, name)
        if name in UNWATCHED or name.startswith("_abaco") or not os.path.isdir(path) or os.path.ismount(path):
            continue
        paths.append(path)
    for path in paths:
        try:
            out[path] = os.stat(path).st_mtime_ns
        except OSError:
            continue
    try:
        out["/dev/shm"] = sorted(os.listdir(os.path.join(root, "dev", "shm")))
    except OSError:
        pass
    return out


def changes(before: dict, after: dict) -> list:
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


class LogCapture:
    """The first ``limit`` bytes of a child's output; the rest is read and dropped."""

    def __init__(self, limit: int):
        self.limit, self.taken, self.truncated = limit, 0, False
        self.parts: list = []

    def add(self, data: bytes) -> None:
        room = self.limit - self.taken
        if len(data) > room:
            self.truncated = True
            data = data[:max(0, room)]
        if data:
            self.parts.append(data)
            self.taken += len(data)

    def text(self) -> bytes:
        return b"".join(self.parts)


class Runner:
    def __init__(self, sock: socket.socket, root: str = "/"):
        self.sock, self.root = sock, root
        self.reader = sock.makefile("rb")
        self.functions: dict = {}

    def function(self, ref: str):
        """The function named ``module:function``, imported once (in the runner, before any fork)."""
        if ref not in self.functions:
            module_name, _, name = ref.partition(":")
            try:
                self.functions[ref] = getattr(importlib.import_module(module_name), name)
            except Exception as exc:                    # noqa: BLE001 - reported by each child
                self.functions[ref] = exc
        return self.functions[ref]

    def send(self, obj: dict) -> None:
        self.sock.sendall(json.dumps(obj).encode() + b"\n")

    def receive(self) -> dict:
        line = self.reader.readline()
        if not line:
            raise EOFError("the worker closed the control socket")
        return json.loads(line)

    def serve(self) -> None:
        self.send({"ready": True, "pid": os.getpid(), "python": sys.version.split()[0]})
        while True:
            request = self.receive()
            if "run" in request:
                self.run_one(request["run"])

    def run_one(self, job: dict) -> None:
        target = self.function(job["function"]) if job.get("function") else None
        before = fingerprint(self.root)
        go_r, go_w = os.pipe()
        log_r, log_w = os.pipe()
        pid = os.fork()
        if pid == 0:                                    # the child: wait for its cgroup, then exec
            try:
                for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)   # ignored signals would stay ignored across exec
                os.close(go_w)
                os.close(log_r)
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(log_w, 1)
                os.dup2(log_w, 2)
                if os.read(go_r, 1) != b"g":
                    os._exit(125)
                os.setsid()
                try:
                    os.chdir(job.get("cwd") or "/")
                except OSError:
                    os.chdir("/")
                env = dict(os.environ)                  # the image's ENV, as a fresh container has it
                env.update(job["env"])
                if job.get("function"):
                    os._exit(call(target, env, job["function"]))
                argv = job["argv"]
                os.execvpe(argv[0], argv, env)
            except BaseException as exc:                # noqa: BLE001 - never return into the runner
                try:
                    os.write(2, ("cannot run %r: %s\n" % (job.get("argv"), exc)).encode())
                finally:
                    os._exit(127)
        os.close(go_r)
        os.close(log_w)
        self.send({"child": pid})
        answer = self.receive()
        if answer.get("go"):
            try:
                os.write(go_w, b"g")
            except BrokenPipeError:                     # the child was killed before it could run
                pass
        os.close(go_w)                                  # without "go" the child reads EOF and exits 125
        capture = LogCapture(int(job.get("log_limit") or 1 << 20))
        status = self._wait(pid, log_r, capture)
        os.close(log_r)
        while True:                                     # orphans of earlier messages, killed by the worker
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        self.send({"exit": exit_code(status), "log": base64.b64encode(capture.text()).decode(),
                   "truncated": capture.truncated, "changed": changes(before, fingerprint(self.root)),
                   "aborted": not answer.get("go")})

    @staticmethod
    def _wait(pid: int, log_r: int, capture: LogCapture) -> int:
        """Read the child's output until it exits (a pidfd says when); then what is left in the pipe."""
        pidfd = None
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pass
        os.set_blocking(log_r, False)
        open_pipe = True
        while True:
            watch = [log_r] if open_pipe else []
            if pidfd is not None:
                watch.append(pidfd)
            ready, _, _ = select.select(watch, [], [], None if pidfd is not None else 0.005)
            if log_r in ready:
                open_pipe = _drain(log_r, capture)
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
        if open_pipe:
            _drain(log_r, capture)
        if pidfd is not None:
            os.close(pidfd)
        return status


def call(target, env: dict, ref: str) -> int:
    """Run a warm_function in the child; its exit code."""
    os.environ.clear()
    os.environ.update(env)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
    code = 0
    try:
        if isinstance(target, BaseException):
            raise target
        target()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:                               # noqa: BLE001 - the call failed: say how
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return code


def _drain(fd: int, capture: LogCapture) -> bool:
    """Read what is in the pipe now; False once it is closed."""
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return True
        if not data:
            return False
        capture.add(data)


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))     # as init, it would ignore it otherwise
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(CONTROL)
    try:
        Runner(sock).serve()
    except (EOFError, ConnectionError):
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
