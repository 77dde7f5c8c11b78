"""Warm job processes: a job forked from a server that has imported torch and transformers already.

A short torch job (the demo's evaluations, the tests' tiny trainings) spends about 3 s of CPU
importing torch, transformers and the library before its first line of work: a third of the
demo's job time. The data jobs (prepare, tokenize, perturb) import neither, but their own start
(the library, pyarrow) is still most of a job that takes a fraction of a second, and a study has
hundreds of them. With `resources.warm_processes: true` a job's script asks a server on this
machine to fork a child with those imports done; the child runs the job's script as the job
would (the same file, working directory, environment, sys.path and standard streams), and the
job process waits for it and exits with its exit code. Results are the same bits as a fresh
process's (tests/test_warm.py, and the workflow tests compare a warm and a cold run).

One server per interpreter, library code and CPU-code-path environment (a changed library file
starts a new server: no job ever runs stale code); it exits after IDLE_S seconds without a job.
The child dies with its job process (a killed job leaves no child training on); a job that
cannot reach a server imports for itself. Off under Slurm (a job's node is its own) and where
`XSTILTS_WARM=0`. Snakemake's `benchmark:` files measure the job process, not the child: their
CPU and memory columns are the waiting job's on a warm run (wall time stays right).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

SWITCH = "XSTILTS_WARM"  # "0": every job imports for itself
CHILD = "XSTILTS_WARM_CHILD"  # set to the child's pid inside a warm child
IDLE_S = 60.0
START_TIMEOUT_S = 60.0
PRELOAD = ("torch", "transformers", "transformers.models.xlm_roberta.modeling_xlm_roberta", "snakemake.script",
           "xstilts.train_stages", "xstilts.evaluation", "xstilts.report", "xstilts.stats", "xstilts.runtime",
           "xstilts.data", "xstilts.features", "xstilts.robustness.perturbed_sets")
# What a process reads at import time that could change a result: a server serves only jobs that agree.
KEY_ENV = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR", "PYTHONPATH", "PYTHONHASHSEED",
           "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "LD_PRELOAD", "LD_LIBRARY_PATH")
HEADER = struct.Struct("!I")
PID = struct.Struct("!q")
CODE = struct.Struct("!i")


class Unavailable(RuntimeError):
    """No server could be reached or started: the job imports for itself."""


def run_in_warm_child(snakemake, script: str) -> None:
    """Called first thing by a job script (`script` is Snakemake's generated file, __real_file__).
    Returns at once in a warm child or when warm processes are off or unavailable, and the script
    goes on; otherwise the child runs the script and this process exits with its exit code."""
    if os.environ.get(CHILD) == str(os.getpid()) or not wanted(snakemake.config):
        return
    try:
        code = _run_remotely(script)
    except Unavailable as error:
        print(f"[xstilts] no warm server ({error}): this job imports for itself", file=sys.stderr)
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # the child ran the script; nothing of it must run here again


def wanted(config: dict) -> bool:
    return (bool(config.get("resources", {}).get("warm_processes", False)) and os.environ.get(SWITCH, "1") != "0"
            and "SLURM_JOB_ID" not in os.environ and sys.platform.startswith("linux"))


def server_key() -> str:
    from .code_hashes import LIBRARY, code_hash

    parts = {"python": sys.executable, "library": str(LIBRARY), "code": code_hash("."),
             "env": {name: os.environ.get(name) for name in KEY_ENV}}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def socket_path(key: str) -> Path:
    folder = Path(tempfile.gettempdir()) / f"xstilts-warm-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"{key}.sock"


# ---- the job's side -----------------------------------------------------------------------
def _run_remotely(script: str) -> int:
    path = socket_path(server_key())
    conn = _connect(path) or _start_server(path)
    request = pickle.dumps({"script": os.path.abspath(script), "cwd": os.getcwd(), "env": dict(os.environ),
                            "argv": sys.argv, "path": sys.path})
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        socket.send_fds(conn, [HEADER.pack(len(request))], [0, 1, 2])
        conn.sendall(request)
        child = PID.unpack(_receive(conn, PID.size))[0]
    except (OSError, EOFError) as error:
        raise Unavailable(f"the server at {path} did not take the job: {error}") from None
    forward = lambda signum, frame: os.kill(child, signum)  # noqa: E731 - a handler, not a function to name
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    try:
        return CODE.unpack(_receive(conn, CODE.size))[0]
    except EOFError:
        print(f"[xstilts] the warm child {child} of this job ended without an exit code (killed?)", file=sys.stderr)
        return 1


def _connect(path: Path) -> socket.socket | None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
        return conn
    except OSError:
        conn.close()
        return None


def _start_server(path: Path) -> socket.socket:
    """Start a server under a lock (one per key, however many jobs ask at once) and connect to it."""
    import fcntl

    with open(f"{path}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        conn = _connect(path)
        if conn:
            return conn
        path.unlink(missing_ok=True)
        with open(f"{path}.log", "a") as log:
            # Its own session: Snakemake stopping this job's process group must not stop the server.
            subprocess.Popen([sys.executable, "-m", "xstilts.warm", str(path)], stdin=subprocess.DEVNULL, stdout=log,
                             stderr=log, start_new_session=True, cwd="/")
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            conn = _connect(path)
            if conn:
                return conn
            time.sleep(0.05)
    raise Unavailable(f"no server came up at {path} within {START_TIMEOUT_S:.0f} s (see {path}.log)")


def _receive(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


# ---- the server ---------------------------------------------------------------------------
def load_a_model_once() -> None:
    """Pay transformers' first-load costs here, once, not in every child: its first
    from_pretrained compiles the checkpoint-conversion patterns (about half a second per torch job
    on the slower instance). A throwaway model, built under a forked generator: what the children
    inherit is the state the imports left, as without this load."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    shape = dict(vocab_size=8, hidden_size=4, num_hidden_layers=1, num_attention_heads=1, intermediate_size=4,
                 max_position_embeddings=8)
    with torch.random.fork_rng(devices=[]), tempfile.TemporaryDirectory(prefix="xstilts-warm-up-") as folder:
        XLMRobertaModel(XLMRobertaConfig(**shape)).save_pretrained(folder)
        XLMRobertaModel.from_pretrained(folder)


def serve(path: Path, idle_s: float = IDLE_S) -> None:
    for name in PRELOAD:
        __import__(name)
    load_a_model_once()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(64)
    ours = path.stat().st_ino
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    print(f"[xstilts] warm server {os.getpid()} at {path}", flush=True)
    try:
        while select.select([listener], [], [], idle_s)[0]:
            conn, _ = listener.accept()
            try:
                header, fds, _, _ = socket.recv_fds(conn, HEADER.size, 3)
                request = pickle.loads(_receive(conn, HEADER.unpack(header)[0]))
            except (OSError, EOFError, struct.error, pickle.UnpicklingError) as error:
                print(f"[xstilts] dropped a malformed request: {error!r}", flush=True)
                conn.close()
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            if os.fork() == 0:
                listener.close()
                _child(conn, fds, request)
            for fd in fds:
                os.close(fd)
            conn.close()
    finally:
        if path.exists() and path.stat().st_ino == ours:  # not a successor's socket
            path.unlink()


def _child(conn: socket.socket, fds: list[int], request: dict) -> None:
    """Become the job: its streams, folder, environment and search path; run its script."""
    code = 1
    try:
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ[CHILD] = str(os.getpid())
        sys.argv[:] = request["argv"]
        sys.path[:] = request["path"]
        _die_with(conn)
        conn.sendall(PID.pack(os.getpid()))
        code = _run_script(request["script"])
    except BaseException:  # noqa: BLE001 - whatever happened, the job gets a traceback and an exit code
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            conn.sendall(CODE.pack(code))
        finally:
            os._exit(code)


def _run_script(script: str) -> int:
    import runpy

    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exit_:
        if exit_.code is None or isinstance(exit_.code, int):
            return exit_.code or 0
        print(exit_.code, file=sys.stderr)
        return 1
    except BaseException:  # noqa: BLE001 - reported as an uncaught exception would be
        traceback.print_exc()
        return 1
    return 0


def _die_with(conn: socket.socket) -> None:
    """The job process holds the other end of `conn`: when it goes (killed, even with SIGKILL), the
    connection closes and this child ends too, with whatever it started."""
    def watch() -> None:
        while True:
            select.select([conn], [], [])
            try:
                if conn.recv(1, socket.MSG_PEEK) == b"":
                    break
            except OSError:
                break
            time.sleep(0.5)  # data on the socket is not expected; do not spin on it
        os._exit(137)  # data-parallel workers follow: they die with their launcher (runtime.py)

    threading.Thread(target=watch, daemon=True, name="xstilts-warm-watch").start()


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
