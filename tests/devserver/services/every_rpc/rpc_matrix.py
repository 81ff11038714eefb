"""Protocol adapters for the every-RPC matrix (``test_every_rpc.py``).

One calling convention over two wire protocols:

* ``grpc``: grpc.aio stubs from flyteidl2's ``*_pb2_grpc`` modules (HTTP/2).
* ``connect``: flyteidl2's own generated Connect clients (``*_connect`` modules,
  connectrpc 0.10, Connect protocol over plaintext HTTP/1.1, binary protobuf).

Both adapters take the service's short name ("RunService") and the method's proto
name ("GetActionDataURIs"), so a test table can name RPCs exactly as the proto does.
Errors are normalised to the status-code *name* ("NOT_FOUND"), which is what
connectrpc's ``Code`` and grpc's ``StatusCode`` have in common.
"""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import grpc
from connectrpc.errors import ConnectError


@dataclass(frozen=True)
class ServiceInfo:
    full_name: str
    pb2: str  # module holding the request/response messages and the service descriptor
    pb2_grpc: str
    stub: str
    connect: str
    client: str


SERVICES: dict[str, ServiceInfo] = {
    "RunService": ServiceInfo(
        "flyteidl2.workflow.RunService",
        "flyteidl2.workflow.run_service_pb2",
        "flyteidl2.workflow.run_service_pb2_grpc",
        "RunServiceStub",
        "flyteidl2.workflow.run_service_connect",
        "RunServiceClient",
    ),
    "TaskService": ServiceInfo(
        "flyteidl2.task.TaskService",
        "flyteidl2.task.task_service_pb2",
        "flyteidl2.task.task_service_pb2_grpc",
        "TaskServiceStub",
        "flyteidl2.task.task_service_connect",
        "TaskServiceClient",
    ),
    "DataProxyService": ServiceInfo(
        "flyteidl2.dataproxy.DataProxyService",
        "flyteidl2.dataproxy.dataproxy_service_pb2",
        "flyteidl2.dataproxy.dataproxy_service_pb2_grpc",
        "DataProxyServiceStub",
        "flyteidl2.dataproxy.dataproxy_service_connect",
        "DataProxyServiceClient",
    ),
    "ClusterService": ServiceInfo(
        "flyteidl2.cluster.ClusterService",
        "flyteidl2.cluster.service_pb2",
        "flyteidl2.cluster.service_pb2_grpc",
        "ClusterServiceStub",
        "flyteidl2.cluster.service_connect",
        "ClusterServiceClient",
    ),
    "ProjectService": ServiceInfo(
        "flyteidl2.project.ProjectService",
        "flyteidl2.project.project_service_pb2",
        "flyteidl2.project.project_service_pb2_grpc",
        "ProjectServiceStub",
        "flyteidl2.project.project_service_connect",
        "ProjectServiceClient",
    ),
    "SecretService": ServiceInfo(
        "flyteidl2.secret.SecretService",
        "flyteidl2.secret.secret_pb2",
        "flyteidl2.secret.secret_pb2_grpc",
        "SecretServiceStub",
        "flyteidl2.secret.secret_connect",
        "SecretServiceClient",
    ),
    "TriggerService": ServiceInfo(
        "flyteidl2.trigger.TriggerService",
        "flyteidl2.trigger.trigger_service_pb2",
        "flyteidl2.trigger.trigger_service_pb2_grpc",
        "TriggerServiceStub",
        "flyteidl2.trigger.trigger_service_connect",
        "TriggerServiceClient",
    ),
    "IdentityService": ServiceInfo(
        "flyteidl2.auth.IdentityService",
        "flyteidl2.auth.identity_pb2",
        "flyteidl2.auth.identity_pb2_grpc",
        "IdentityServiceStub",
        "flyteidl2.auth.identity_connect",
        "IdentityServiceClient",
    ),
    "AuthMetadataService": ServiceInfo(
        "flyteidl2.auth.AuthMetadataService",
        "flyteidl2.auth.auth_service_pb2",
        "flyteidl2.auth.auth_service_pb2_grpc",
        "AuthMetadataServiceStub",
        "flyteidl2.auth.auth_service_connect",
        "AuthMetadataServiceClient",
    ),
}

# The two protocols the devserver must serve...
PROTOCOLS = ("grpc", "connect")
# ...and two variants of Connect that real clients use: the JSON codec (browser
# consoles) and HTTP GET for side-effect-free unary methods (cacheable reads).
CONNECT_VARIANTS = ("connect-json", "connect-get")
CALL_TIMEOUT_S = 15.0


def method_descriptor(service: str, method: str):
    info = SERVICES[service]
    mod = importlib.import_module(info.pb2)
    svc = mod.DESCRIPTOR.services_by_name[info.full_name.rsplit(".", 1)[1]]
    return svc.methods_by_name[method]


def all_methods(service: str) -> list[str]:
    info = SERVICES[service]
    mod = importlib.import_module(info.pb2)
    return [m.name for m in mod.DESCRIPTOR.services_by_name[info.full_name.rsplit(".", 1)[1]].methods]


def is_server_streaming(service: str, method: str) -> bool:
    return method_descriptor(service, method).server_streaming


def connect_method_name(client_cls: type, method: str) -> str:
    """The generated Connect client's Python name of proto method ``method``.

    connectrpc's generator snake-cases names in its own way (``GetActionDataURIs`` ->
    ``get_action_data_u_r_is``, ``GetOAuth2Metadata`` -> ``get_o_auth2_metadata``), so
    match on the name with underscores removed, case-insensitively.
    """
    want = method.lower()
    found = [n for n in dir(client_cls) if not n.startswith("_") and n.replace("_", "").lower() == want]
    assert len(found) == 1, f"{client_cls.__name__}: no unique client method for {method}: {found}"
    return found[0]


def code_name(exc: BaseException) -> str:
    """The status-code name of an RPC error from either protocol ("NOT_FOUND")."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code().name
    if isinstance(exc, ConnectError):
        return exc.code.name
    raise TypeError(f"not an RPC error: {exc!r}") from exc


def error_message(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.details() or ""
    if isinstance(exc, ConnectError):
        return exc.message or ""
    return str(exc)


RPC_ERRORS = (grpc.aio.AioRpcError, ConnectError)


class Caller:
    """Calls RPCs by (service, method) over one protocol."""

    protocol: str

    async def unary(self, service: str, method: str, request, timeout: float = CALL_TIMEOUT_S):
        raise NotImplementedError

    async def stream(
        self, service: str, method: str, request, *, max_messages: int | None = None, timeout: float = CALL_TIMEOUT_S
    ) -> list:
        """The first ``max_messages`` messages (all until the server closes when None); then close."""
        raise NotImplementedError

    async def call(
        self, service: str, method: str, request, *, max_messages: int | None = None, timeout: float = CALL_TIMEOUT_S
    ):
        """Unary: the response. Server streaming: the list of messages read."""
        if is_server_streaming(service, method):
            return await self.stream(service, method, request, max_messages=max_messages, timeout=timeout)
        return await self.unary(service, method, request, timeout=timeout)

    async def aclose(self) -> None:
        pass


async def _collect(aiter) -> list:
    return [msg async for msg in aiter]


class GrpcCaller(Caller):
    protocol = "grpc"

    def __init__(self, endpoint: str) -> None:
        self.channel = grpc.aio.insecure_channel(endpoint)
        self._stubs: dict[str, Any] = {}

    def stub(self, service: str):
        if service not in self._stubs:
            info = SERVICES[service]
            self._stubs[service] = getattr(importlib.import_module(info.pb2_grpc), info.stub)(self.channel)
        return self._stubs[service]

    async def unary(self, service, method, request, timeout=CALL_TIMEOUT_S):
        return await getattr(self.stub(service), method)(request, timeout=timeout)

    async def stream(self, service, method, request, *, max_messages=None, timeout=CALL_TIMEOUT_S):
        call = getattr(self.stub(service), method)(request, timeout=timeout)
        out: list = []

        async def _read() -> None:
            async for msg in call:
                out.append(msg)
                if max_messages is not None and len(out) >= max_messages:
                    return

        try:
            await asyncio.wait_for(_read(), timeout)
        finally:
            call.cancel()
        return out

    async def raw_unary(self, service_name: str, method: str, timeout: float = 5.0) -> bytes:
        call = self.channel.unary_unary(
            f"/{service_name}/{method}", request_serializer=lambda b: b, response_deserializer=lambda b: b
        )
        return await call(b"", timeout=timeout)

    async def raw_stream(self, service_name: str, method: str, timeout: float = 5.0) -> list:
        call = self.channel.unary_stream(
            f"/{service_name}/{method}", request_serializer=lambda b: b, response_deserializer=lambda b: b
        )(b"", timeout=timeout)
        try:
            return await asyncio.wait_for(_collect(call), timeout + 1)
        finally:
            call.cancel()

    async def aclose(self) -> None:
        await self.channel.close()


class RecordingTransport:
    """A pyqwest transport (HTTP/1.1 only) that records what went over the wire, so a
    test can check that the Connect calls really were Connect-over-HTTP/1.1."""

    def __init__(self) -> None:
        from pyqwest import HTTPTransport, HTTPVersion

        self.inner = HTTPTransport(http_version=HTTPVersion.HTTP1)
        # (HTTP method, url, request content-type, response HTTP version)
        self.seen: list[tuple[str, str, str, Any]] = []

    async def execute(self, request):
        resp = await self.inner.execute(request)
        self.seen.append((request.method, request.url, request.headers.get("content-type", ""), resp.http_version))
        return resp

    async def aclose(self) -> None:
        await self.inner.aclose()


def is_side_effect_free(service: str, method: str) -> bool:
    """Unary and marked ``idempotency_level = NO_SIDE_EFFECTS``: Connect may use HTTP GET."""
    from google.protobuf import descriptor_pb2

    desc = method_descriptor(service, method)
    return (
        not desc.server_streaming
        and not desc.client_streaming
        and desc.GetOptions().idempotency_level == descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS
    )


class ConnectCaller(Caller):
    """flyteidl2's generated Connect clients over HTTP/1.1.

    ``codec``: "proto" (binary, the default) or "json" (what a browser console sends).
    ``use_get``: side-effect-free unary methods go as HTTP GET (Connect's GET encoding).
    """

    def __init__(self, base_url: str, *, codec: str = "proto", use_get: bool = False) -> None:
        from pyqwest import Client as HTTPClient

        self.protocol = {("proto", False): "connect", ("json", False): "connect-json", ("proto", True): "connect-get"}[
            (codec, use_get)
        ]
        self.base_url = base_url
        self.codec = codec
        self.use_get = use_get
        self.transport = RecordingTransport()
        self.http = HTTPClient(self.transport)
        self._clients: dict[str, Any] = {}

    def client(self, service: str):
        if service not in self._clients:
            from connectrpc.codec import proto_json_codec

            info = SERVICES[service]
            cls = getattr(importlib.import_module(info.connect), info.client)
            kwargs: dict[str, Any] = {"http_client": self.http}
            if self.codec == "json":
                kwargs["codec"] = proto_json_codec()
            self._clients[service] = cls(self.base_url, **kwargs)
        return self._clients[service]

    def _fn(self, service: str, method: str):
        c = self.client(service)
        return getattr(c, connect_method_name(type(c), method))

    async def unary(self, service, method, request, timeout=CALL_TIMEOUT_S):
        kwargs: dict[str, Any] = {"timeout_ms": int(timeout * 1000)}
        if self.use_get and is_side_effect_free(service, method):
            kwargs["use_get"] = True
        return await asyncio.wait_for(self._fn(service, method)(request, **kwargs), timeout + 1)

    async def stream(self, service, method, request, *, max_messages=None, timeout=CALL_TIMEOUT_S):
        it = self._fn(service, method)(request, timeout_ms=int(timeout * 1000))
        out: list = []

        async def _read() -> None:
            async for msg in it:
                out.append(msg)
                if max_messages is not None and len(out) >= max_messages:
                    return

        try:
            await asyncio.wait_for(_read(), timeout + 1)
        finally:
            aclose = getattr(it, "aclose", None)
            if aclose is not None:
                await aclose()
        return out

    def _raw_client(self):
        from connectrpc.client import ConnectClient
        from connectrpc.codec import proto_json_codec

        return ConnectClient(
            self.base_url, http_client=self.http, codec=proto_json_codec() if self.codec == "json" else None
        )

    @staticmethod
    def _empty_method(service_name: str, method: str):
        from connectrpc.method import IdempotencyLevel, MethodInfo
        from google.protobuf import empty_pb2

        return MethodInfo(
            name=method,
            service_name=service_name,
            input=empty_pb2.Empty,
            output=empty_pb2.Empty,
            idempotency_level=IdempotencyLevel.UNKNOWN,
        )

    async def raw_unary(self, service_name: str, method: str, timeout: float = 5.0):
        """A unary call to an arbitrary path with Empty messages (through a generic ConnectClient)."""
        from google.protobuf import empty_pb2

        return await asyncio.wait_for(
            self._raw_client().execute_unary(
                request=empty_pb2.Empty(),
                method=self._empty_method(service_name, method),
                timeout_ms=int(timeout * 1000),
            ),
            timeout + 1,
        )

    async def raw_stream(self, service_name: str, method: str, timeout: float = 5.0) -> list:
        """A server-streaming call to an arbitrary path (Connect streaming envelope)."""
        from google.protobuf import empty_pb2

        it = self._raw_client().execute_server_stream(
            request=empty_pb2.Empty(), method=self._empty_method(service_name, method), timeout_ms=int(timeout * 1000)
        )

        async def _read() -> list:
            return [msg async for msg in it]

        try:
            return await asyncio.wait_for(_read(), timeout + 1)
        finally:
            await it.aclose()

    def assert_wire(self) -> None:
        """Every request was Connect (not gRPC / gRPC-Web) over HTTP/1.1 with the right codec;
        with ``use_get`` every side-effect-free unary call went as GET."""
        from pyqwest import HTTPVersion

        assert self.transport.seen, "no Connect request was made"
        sub = "json" if self.codec == "json" else "proto"
        for http_method, url, ctype, version in self.transport.seen:
            assert version == HTTPVersion.HTTP1, (url, version)
            path = urlparse(url).path.strip("/").split("/")
            service, method = path[0].rsplit(".", 1)[-1], path[-1]
            get_able = (
                self.use_get
                and service in SERVICES
                and method in all_methods(service)
                and is_side_effect_free(service, method)
            )
            if get_able:
                assert http_method == "GET", (url, http_method)
                assert f"encoding={sub}" in url, url
            else:
                assert http_method == "POST", (url, http_method)
                assert ctype in (f"application/{sub}", f"application/connect+{sub}"), (url, ctype)

    async def aclose(self) -> None:
        for c in self._clients.values():
            await c.close()
        await self.transport.aclose()


def make_caller(protocol: str, server) -> Caller:
    if protocol == "grpc":
        return GrpcCaller(server.endpoint)
    if protocol == "connect":
        return ConnectCaller(server.url)
    if protocol == "connect-json":
        return ConnectCaller(server.url, codec="json")
    if protocol == "connect-get":
        return ConnectCaller(server.url, use_get=True)
    raise ValueError(protocol)
