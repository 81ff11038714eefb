"""``flyte-devserver``: run the embedded Flyte 2 backend until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from types import FrameType

from .config import DEFAULT_MAX_UPLOAD_BYTES, DUPLICATE_MODES


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="flyte-devserver",
        description="A local Flyte 2 backend (gRPC and Connect on one port) for development and tests.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8090, help="port (default 8090; 0 picks a free port)")
    p.add_argument("--data-dir", default=None, help="state folder (default: a per-user data folder)")
    p.add_argument(
        "--tasks",
        action="append",
        default=[],
        metavar="MODULE",
        help="module whose public functions become tasks (repeatable)",
    )
    p.add_argument("--project", default=None, help="project to create and deploy tasks into (default flytesnacks)")
    p.add_argument("--auth", action="store_true", help="require bearer tokens (issues a client-credentials pair)")
    p.add_argument("--tls-cert", default=None, help="PEM certificate: serve TLS (ALPN h2 and http/1.1)")
    p.add_argument("--tls-key", default=None, help="PEM private key for --tls-cert")
    p.add_argument(
        "--duplicate-run-names",
        choices=list(DUPLICATE_MODES),
        default="return-existing",
        help="CreateRun with a taken name: return the existing run (open-source backend, default) "
        "or fail with ALREADY_EXISTS (hosted backends)",
    )
    p.add_argument(
        "--max-concurrent-streams",
        type=int,
        default=250,
        help="HTTP/2 streams per connection (default 250, at most 900)",
    )
    p.add_argument("--workers", type=int, default=2, help="task worker processes (default 2)")
    p.add_argument(
        "--sdk-python",
        default=None,
        metavar="PATH",
        help="the Python that runs tasks deployed with the official flyte SDK (the project's environment; "
        "default: this interpreter if it can import flyte)",
    )
    p.add_argument(
        "--max-upload-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_UPLOAD_BYTES,
        metavar="BYTES",
        help=f"largest object one signed-URL upload may store; larger ones get HTTP 413 "
        f"(default {DEFAULT_MAX_UPLOAD_BYTES}, 5 GiB)",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of bytes, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of bytes, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if (args.tls_cert is None) != (args.tls_key is None):
        print("flyte-devserver: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    if "" not in sys.path:
        sys.path.insert(0, "")  # --tasks modules are found from the current folder
    from .devserver import DevServer

    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        server = DevServer(
            tasks=args.tasks,
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            project=args.project,
            auth=args.auth,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            duplicate_run_names=args.duplicate_run_names,
            max_concurrent_streams=args.max_concurrent_streams,
            workers=args.workers,
            sdk_python=args.sdk_python,
            max_upload_bytes=args.max_upload_bytes,
        )
        server.start()
    except Exception as e:
        print(f"flyte-devserver: failed to start: {e}", file=sys.stderr)
        return 1
    try:
        print(f"endpoint: {server.endpoint}", flush=True)
        print(f"data dir: {server.data_dir}", flush=True)
        for lt in server.local_tasks:
            print(f"task: {lt.name} (version {lt.version})", flush=True)
        auth = server.auth_manager
        if auth is not None:
            client_id, secret = auth.create_client("cli")
            print(f"client id: {client_id}", flush=True)
            print(f"client secret: {secret}", flush=True)
            with contextlib.suppress(Exception):
                print(f"api key: {auth.create_api_key(server.endpoint)}", flush=True)
        print(
            f"flyte-devserver ready on {server.url} in {server.startup_seconds:.3f}s "
            f"(gRPC and Connect; project {server.config.project})",
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        print("flyte-devserver stopped", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
