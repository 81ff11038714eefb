"""The worker: the child-process side of the worker-process pool (:mod:`.pool`).

Started as a fresh interpreter running :func:`main` of this module (never a bare fork of
the grpc-loaded server). It reads jobs from stdin and answers on stdout,
both framed as a 4-byte big-endian length followed by a JSON object:

    parent -> worker  {"job_id", "module", "function", "inputs_path", "outputs_path",
                       "log_path", "attempt", "inputs"?}      inputs: base64, else read the path
    worker -> parent  {"ready": pid}                                    once, at start
                      {"job_id", "phase": "RUNNING"}
                      {"job_id", "phase": "SUCCEEDED"}
                      {"job_id", "phase": "FAILED", "error_kind", "error_code", "error_message"}

One job at a time. The protocol streams are private duplicates of fds 0/1 so that the
user's code can print freely: fds 1 and 2 point at the job's log file while it runs.

Keep the top-level imports to the standard library: anything heavy (protobuf, the
codec, the user's module) is imported once per worker on first use.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import logging
import os
import struct
import sys
import traceback
from typing import Any, BinaryIO

from .interface import write_file_atomically

HEADER = struct.Struct(">I")  # a frame: its body's length, then the JSON body


def encode_frame(msg: dict[str, Any]) -> bytes:
    data = json.dumps(msg).encode()
    return HEADER.pack(len(data)) + data


def write_frame(stream: BinaryIO, msg: dict[str, Any]) -> None:
    stream.write(encode_frame(msg))
    stream.flush()


def _read_exact(stream: BinaryIO, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = stream.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_frame(stream: BinaryIO) -> dict[str, Any] | None:
    header = _read_exact(stream, HEADER.size)
    if header is None:
        return None
    body = _read_exact(stream, HEADER.unpack(header)[0])
    return None if body is None else json.loads(body)


class JobError(Exception):
    """A job failed for a reason reported as USER with the given code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Loaded:
    """A task function with its interface and hints, cached per (module, function)."""

    def __init__(self, func: Any) -> None:
        from flyte_remote_core.codec import input_types_for, output_types_for, typed_interface_for

        self.func = func
        self.hints = input_types_for(func)
        interface, _ = typed_interface_for(func)
        self.inputs = {v.key: v.value.type for v in interface.inputs.variables}
        self.outputs = [(v.key, v.value.type) for v in interface.outputs.variables]
        out_hints = output_types_for(func)
        self.output_hints = [out_hints.get(name) for name, _ in self.outputs]
        self.params = inspect.signature(func).parameters


class Worker:
    def __init__(self) -> None:
        self._modules: dict[str, tuple[Any, float]] = {}
        self._tasks: dict[tuple[str, str], _Loaded] = {}

    # -- loading -------------------------------------------------------------------

    def _module(self, name: str) -> Any:
        import importlib

        cached = self._modules.get(name)
        if cached is not None:
            mod, mtime = cached
            now = _mtime(mod)
            if now == mtime:
                return mod
            # The source changed since import (the devserver re-registered a new version):
            # reload so a long-lived worker never runs stale code.
            mod = importlib.reload(mod)
            self._tasks = {k: v for k, v in self._tasks.items() if k[0] != name}
        else:
            mod = importlib.import_module(name)
        self._modules[name] = (mod, _mtime(mod))
        return mod

    def _load(self, module: str, function: str) -> _Loaded:
        mod = self._module(module)  # may reload, which drops stale entries
        key = (module, function)
        loaded = self._tasks.get(key)
        if loaded is None:
            func = getattr(mod, function, None)
            if func is None or not callable(func):
                raise JobError("TaskNotFound", f"TaskNotFound: {module} has no function {function!r}")
            loaded = self._tasks[key] = _Loaded(func)
        return loaded

    # -- one job -------------------------------------------------------------------

    def _decode_inputs(self, task: _Loaded, job: dict[str, Any]) -> dict[str, Any]:
        from flyteidl2.task import common_pb2

        from flyte_remote_core.codec import from_literal

        read_uri = _read_uri()
        msg = common_pb2.Inputs()
        if "inputs" in job:  # handed over by the server: no file to read
            msg.ParseFromString(base64.b64decode(job["inputs"]))
        else:
            with open(job["inputs_path"], "rb") as f:
                msg.ParseFromString(f.read())
        kwargs: dict[str, Any] = {}
        for named in msg.literals:
            lt = task.inputs.get(named.name)
            if lt is None:
                raise JobError("InvalidInput", f"InvalidInput: unexpected input {named.name!r}")
            try:
                kwargs[named.name] = from_literal(
                    named.value, lt, python_type=task.hints.get(named.name), read_uri=read_uri
                )
            except Exception as e:
                raise JobError("InvalidInput", f"InvalidInput: input {named.name!r}: {type(e).__name__}: {e}") from e
        missing = [n for n, p in task.params.items() if n not in kwargs and p.default is inspect.Parameter.empty]
        if missing:
            raise JobError("InvalidInput", f"InvalidInput: missing required input(s) {', '.join(missing)}")
        return kwargs

    def _encode_outputs(self, task: _Loaded, result: Any, path: str) -> None:
        from flyteidl2.task import common_pb2

        from flyte_remote_core.codec import to_literal

        if len(task.outputs) == 0:
            values: list[Any] = []
        elif len(task.outputs) == 1:
            values = [result]
        else:
            if not isinstance(result, tuple) or len(result) != len(task.outputs):
                raise JobError(
                    "OutputMismatch",
                    f"OutputMismatch: expected a tuple of {len(task.outputs)} values, got {type(result).__name__}",
                )
            values = list(result)
        out = common_pb2.Outputs()
        for (name, lt), hint, value in zip(task.outputs, task.output_hints, values, strict=True):
            try:
                lit = to_literal(value, lt, name=name, python_type=hint)
            except Exception as e:
                raise JobError("OutputEncodingError", f"OutputEncodingError: output {name}: {e}") from e
            out.literals.add(name=name, value=lit)
        write_file_atomically(path, out.SerializeToString())  # a reader never sees half of it

    def run(self, job: dict[str, Any], reply: Any) -> dict[str, Any]:
        job_id = job["job_id"]
        os.environ["FLYTE_ATTEMPT_NUMBER"] = str(job.get("attempt", 0))
        redirect = _Redirect(job["log_path"])
        try:
            redirect.open()
        except OSError as e:  # the server's data dir, not the user's code, is at fault
            return _failed(job_id, "LogUnavailable", f"cannot open the job log: {e}", kind="SYSTEM")
        with redirect:
            try:
                task = self._load(job["module"], job["function"])
                kwargs = self._decode_inputs(task, job)
                reply({"job_id": job_id, "phase": "RUNNING"})
                if inspect.iscoroutinefunction(task.func):
                    result = asyncio.run(task.func(**kwargs))
                else:
                    result = task.func(**kwargs)
                self._encode_outputs(task, result, job["outputs_path"])
                return {"job_id": job_id, "phase": "SUCCEEDED"}
            except JobError as e:
                print(f"[devserver] {e.message}", file=sys.stderr)
                return _failed(job_id, e.code, e.message)
            except BaseException as e:  # SystemExit too: the worker must survive the user's code
                if isinstance(e, KeyboardInterrupt):
                    raise
                traceback.print_exc()
                return _failed(job_id, type(e).__name__, f"{type(e).__name__}: {e}")


def _failed(job_id: str, code: str, message: str, kind: str = "USER") -> dict[str, Any]:
    return {"job_id": job_id, "phase": "FAILED", "error_kind": kind, "error_code": code, "error_message": message}


def _mtime(mod: Any) -> float:
    try:
        return os.stat(mod.__file__).st_mtime
    except (OSError, TypeError, AttributeError):
        return 0.0


def _read_uri() -> Any:
    try:
        from flyte_remote_core.codec import read_uri
    except ImportError:  # codec storage not available: inline literals still work
        return None
    return read_uri


class _Redirect:
    """Point fds 1 and 2 (and so print, logging, child processes) at the job's log."""

    def __init__(self, log_path: str) -> None:
        self.log_path = log_path
        self.fd = -1

    def open(self) -> None:
        os.makedirs(os.path.dirname(self.log_path) or ".", exist_ok=True)
        self.fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def __enter__(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        self.saved = (os.dup(1), os.dup(2))
        os.dup2(self.fd, 1)
        os.dup2(self.fd, 2)
        os.close(self.fd)

    def __exit__(self, *exc: object) -> None:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass
        os.dup2(self.saved[0], 1)
        os.dup2(self.saved[1], 2)
        os.close(self.saved[0])
        os.close(self.saved[1])


def _setup_process() -> tuple[BinaryIO, BinaryIO]:
    # Private protocol streams first, then free fds 0/1 for the user's code.
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto_out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)  # between jobs, stray output goes to the server's stderr
    # Line-buffered text streams so a log tailer sees each line as it is written.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)
    handler = logging.StreamHandler()  # writes to sys.stderr, i.e. fd 2, i.e. the job's log
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return proto_in, proto_out


def _exit_with_parent(ppid: int) -> None:
    # A server killed with SIGKILL never closes our pipe while a task hangs: notice the
    # re-parenting instead, so no worker outlives its server.
    import threading
    import time

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != ppid:
                os._exit(70)

    threading.Thread(target=watch, name="devserver-parent-watch", daemon=True).start()


def main() -> None:
    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    _exit_with_parent(os.getppid())
    for p in reversed(config.get("sys_path", [])):
        if p not in sys.path:
            sys.path.insert(0, p)
    proto_in, proto_out = _setup_process()
    worker = Worker()

    def reply(msg: dict[str, Any]) -> None:
        write_frame(proto_out, msg)

    reply({"ready": os.getpid()})
    while True:
        job = read_frame(proto_in)
        if job is None:  # parent closed the pipe: shut down quietly
            return
        reply(worker.run(job, reply))


if __name__ == "__main__":
    main()
