"""DataProxyService: upload locations, offloaded inputs, action data and live logs."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import KW_ONLY, dataclass

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext
from flyteidl2.common import run_pb2 as common_run_pb2
from flyteidl2.dataproxy import dataproxy_service_pb2 as dp
from flyteidl2.dataproxy.dataproxy_service_connect import DataProxyService
from flyteidl2.logs.dataplane import payload_pb2 as logs_pb2
from google.protobuf import timestamp_pb2

from ..engine.actions import ActionStore
from ..engine.attempts import Attempts
from ..engine.catalog import Catalog
from ..engine.events import Hub, action_topic
from ..engine.inputs import InputStore, safe_part
from ..engine.model import TERMINAL_PHASES, ActionKey, file_uri, not_found, ts
from .uploads import UploadSigner, too_large_message

DEFAULT_EXPIRY_S = 3600
MAX_EXPIRY_S = 7 * 24 * 3600
LOG_POLL_S = 0.1
LOG_BATCH = 500


@dataclass(eq=False)
class DataProxyServiceImpl(DataProxyService):
    catalog: Catalog
    actions: ActionStore
    attempts: Attempts  # where the logs are
    hub: Hub
    _: KW_ONLY
    inputs: InputStore  # where UploadInputs keeps inputs (and writes their file)
    signer: UploadSigner
    base_url: str  # of the signed URLs

    async def create_upload_location(
        self, request: dp.CreateUploadLocationRequest, ctx: RequestContext
    ) -> dp.CreateUploadLocationResponse:
        if not request.filename:
            raise ConnectError(Code.INVALID_ARGUMENT, "filename is required")
        if request.project:
            self.catalog.require_project(request.project, request.domain)
        md5_b64 = base64.b64encode(request.content_md5).decode() if request.content_md5 else ""
        root = request.filename_root or (
            hashlib.md5(request.content_md5).hexdigest()
            if request.content_md5
            else hashlib.sha1(f"{time.time_ns()}".encode()).hexdigest()
        )
        parts = [safe_part(request.project or "_"), safe_part(request.domain or "_")]
        parts += [safe_part(p) for p in root.split("/") if p]
        parts += [safe_part(p) for p in request.filename.split("/") if p]
        key = "uploads/" + "/".join(parts)
        expires_in = request.expires_in.ToTimedelta().total_seconds() if request.HasField("expires_in") else 0
        if expires_in <= 0:
            expires_in = DEFAULT_EXPIRY_S
        expires_in = min(expires_in, MAX_EXPIRY_S)
        expires_at = int(time.time() + expires_in)
        try:
            native = self.signer.path_of(key)  # a name no file can have is refused now, not at the PUT
        except ValueError as e:
            raise ConnectError(Code.INVALID_ARGUMENT, f"filename {request.filename[:100]!r}: {e}") from None
        limit = self.signer.max_upload_bytes
        if request.content_length > limit:
            raise ConnectError(Code.INVALID_ARGUMENT, too_large_message(limit, request.content_length))
        resp = dp.CreateUploadLocationResponse(
            signed_url=self.signer.sign(self.base_url, key, expires_at, md5_b64),
            native_url=file_uri(native),
            expires_at=ts(expires_at),
        )
        if md5_b64:
            resp.headers["Content-MD5"] = md5_b64
        if request.content_length:
            resp.headers["Content-Length"] = str(request.content_length)
        return resp

    async def upload_inputs(self, request: dp.UploadInputsRequest, ctx: RequestContext) -> dp.UploadInputsResponse:
        which = request.WhichOneof("id")
        if which == "run_id":
            project, domain = request.run_id.project, request.run_id.domain
        elif which == "project_id":
            project, domain = request.project_id.name, request.project_id.domain
        else:
            raise ConnectError(Code.INVALID_ARGUMENT, "UploadInputs needs run_id or project_id")
        self.catalog.require_project(project, domain)
        uri, digest = self.inputs.put(project, domain, request.inputs.SerializeToString(deterministic=True))
        self.inputs.materialize(uri)  # the URI is handed out: as from a blob store, it can be read at once
        return dp.UploadInputsResponse(
            offloaded_input_data=common_run_pb2.OffloadedInputData(uri=uri, inputs_hash=digest)
        )

    async def get_action_data(self, request: dp.GetActionDataRequest, ctx: RequestContext) -> dp.GetActionDataResponse:
        key = ActionKey.of(request.action_id).tuple()
        data = self.actions.action_data(key)
        if data is None:
            raise not_found(f"action {'/'.join(key)}")
        inputs, outputs, inputs_uri, outputs_uri = data
        self.inputs.materialize(inputs_uri)  # the URI is handed out: its file must be there
        return dp.GetActionDataResponse(inputs=inputs, outputs=outputs, inputs_uri=inputs_uri, outputs_uri=outputs_uri)

    async def tail_logs(self, request: dp.TailLogsRequest, ctx: RequestContext) -> AsyncIterator[dp.TailLogsResponse]:
        key = ActionKey.of(request.action_id).tuple()
        det = self.actions.get_action(key)
        if det is None:
            raise not_found(f"action {'/'.join(key)}")
        attempt = request.attempt or det.status.attempts or 1
        if attempt > max(det.status.attempts, 1):
            raise not_found(f"attempt {attempt} of action {'/'.join(key)}")
        path = self.attempts.log_path(key, attempt)
        container = logs_pb2.ContainerIdentifier(
            cluster_name="devserver",
            kubernetes_namespace=f"{key[0]}-{key[1]}",
            kubernetes_pod_name=f"{key[2]}-{key[3]}-{attempt}",
            kubernetes_container_name="task",
        )
        offset = 0
        pending = b""
        last_stamp = 0
        with self.hub.subscribe(action_topic(key)) as sub:
            while True:
                det = self.actions.get_action(key)
                # The attempt is over when the action is terminal or a later attempt started.
                done = det is None or det.status.phase in TERMINAL_PHASES or det.status.attempts > attempt
                chunk = b""
                if path.exists():
                    with open(path, "rb") as f:  # noqa: ASYNC230 (a local file: a short read, no waiting)
                        f.seek(offset)
                        chunk = f.read()
                    offset += len(chunk)
                data = pending + chunk
                # Each line keeps its newline, as a real backend sends it (the SDK's log
                # renderers rely on it); a last line without one is sent once the attempt ends.
                *complete, pending = data.split(b"\n")
                lines = [line + b"\n" for line in complete]
                if done and pending:
                    lines.append(pending)
                    pending = b""
                for i in range(0, len(lines), LOG_BATCH):
                    resp = dp.TailLogsResponse()
                    logs = resp.logs.add()
                    logs.container.CopyFrom(container)
                    for raw in lines[i : i + LOG_BATCH]:
                        # Strictly increasing stamps: the SDK drops a line whose stamp and text
                        # equal one it has seen (its replay filter), so repeated lines need their own.
                        last_stamp = max(time.time_ns(), last_stamp + 1000)
                        logs.lines.add(
                            message=raw.decode("utf-8", "replace"),
                            timestamp=timestamp_pb2.Timestamp(seconds=last_stamp // 10**9, nanos=last_stamp % 10**9),
                            originator=logs_pb2.USER,
                        )
                    yield resp
                if done:
                    return
                await sub.wait(timeout=LOG_POLL_S)
