"""A real auth test server: connectrpc apps + the token endpoint under hypercorn.

Serves on 127.0.0.1 (a pre-bound socket on port 0) in a background thread, with
optional TLS. Also offers a self-signed CA + leaf certificate generator.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from connectrpc.request import RequestContext
from flyteidl2.workflow import run_service_pb2
from flyteidl2.workflow.run_service_connect import RunService, RunServiceASGIApplication
from hypercorn.asyncio import serve
from hypercorn.config import Config

from flyte_remote_core.devserver.auth.manager import AuthManager


class Router:
    """Dispatch by path prefix; answers the lifespan protocol itself."""

    def __init__(self, routes: dict[str, Any]) -> None:
        self.routes = sorted(routes.items(), key=lambda kv: -len(kv[0]))
        self.seen_headers: list[dict[str, str]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] == "http":
            self.seen_headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        for prefix, app in self.routes:
            if scope["path"].startswith(prefix):
                await app(scope, receive, send)
                return
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})


class EchoRuns(RunService):  # inherits UNIMPLEMENTED defaults for the rest
    """A protected RunService with one unary and one server-streaming method."""

    async def get_run_details(self, request: Any, ctx: RequestContext) -> Any:
        return run_service_pb2.GetRunDetailsResponse()

    async def watch_run_details(self, request: Any, ctx: RequestContext) -> AsyncIterator[Any]:
        for _ in range(2):
            yield run_service_pb2.WatchRunDetailsResponse()


class AuthServer:
    def __init__(
        self,
        *,
        certfile: str | None = None,
        keyfile: str | None = None,
        token_lifetime: float = 3600.0,
        device_poll_interval: float = 0.05,
        host_for_urls: str = "127.0.0.1",
    ) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.port = self._sock.getsockname()[1]
        scheme = "https" if certfile else "http"
        self.base_url = f"{scheme}://{host_for_urls}:{self.port}"
        self.endpoint = f"127.0.0.1:{self.port}"
        self.manager = AuthManager(
            base_url=self.base_url, token_lifetime=token_lifetime, device_poll_interval=device_poll_interval
        )
        runs = RunServiceASGIApplication(EchoRuns(), interceptors=[self.manager.server_interceptor()])
        self.router = Router({**self.manager.connect_apps(), runs.path: runs, "/oauth2/": self.manager.token_endpoint})
        self._config = Config()
        self._config.bind = [f"fd://{self._sock.detach()}"]
        self._config.graceful_timeout = 0.5
        self._config.keep_alive_timeout = 60
        if certfile:
            self._config.certfile, self._config.keyfile = certfile, keyfile
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name=f"auth-server-{self.port}", daemon=True)
        self._ready = threading.Event()

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await serve(self.router, self._config, shutdown_trigger=self._stop.wait)  # type: ignore[arg-type]

        asyncio.run(main())

    def __enter__(self) -> AuthServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def make_certs(
    directory: Path, *, names: Sequence[str] = ("localhost",), ips: Sequence[str] = ("127.0.0.1",)
) -> dict[str, str]:
    """A CA and a leaf it signed. Returns paths: ca, cert (leaf + CA chain), key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "leaf")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = {"ca": directory / "ca.pem", "cert": directory / "server.pem", "key": directory / "server.key"}
    paths["ca"].write_bytes(ca.public_bytes(pem))
    paths["cert"].write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    paths["key"].write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return {k: str(v) for k, v in paths.items()}
