"""Launching a run: CreateRun with a RunSpec, the inputs inline when small (one call), else
offloaded first with UploadInputs, as the official SDK always does (see ``_services._data``).

A named launch carries a launch-id label, so our run can be told from one that already had
the name: hosted backends answer ALREADY_EXISTS, the open-source one silently returns the
existing run. The label also makes retrying CreateRun safe.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flyteidl2.core import literals_pb2
from flyteidl2.task import run_pb2
from flyteidl2.workflow import run_definition_pb2, run_service_pb2
from google.protobuf import wrappers_pb2

from .._errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    InvalidRunOptionError,
    NotFoundError,
    RunAlreadyExistsError,
    UnimplementedError,
)
from ._run import Run, RunDetails
from ._task import Task

if TYPE_CHECKING:
    from .._services import Services

# The run label that marks which launch created a named run.
LAUNCH_LABEL = "flyte-integrations-launch-id"


def _given(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def _string_map(option: str, value: Any, *, values_as_text: bool = False) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidRunOptionError(option, expected="a mapping of str to str", given=_given(value))
    result: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise InvalidRunOptionError(option, expected="non-empty str keys", given=f"key {_given(key)}")
        if values_as_text and isinstance(item, (int, float, bool)):
            item = str(item)  # env values are text; numbers are written as they read
        if not isinstance(item, str):
            raise InvalidRunOptionError(option, expected=f"str values (at key {key!r})", given=_given(item))
        _check_text(option, key)
        _check_text(option, item)
        result[key] = item
    return result


def _check_text(option: str, text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRunOptionError(
            option, expected="text encodable as UTF-8", given="a string with a lone surrogate"
        ) from None


def run_spec(
    *,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    envs: Mapping[str, str] | None = None,
    overwrite_cache: bool = False,
    interruptible: bool | None = None,
    queue: str | None = None,
) -> run_pb2.RunSpec:
    """Check the run options and build their RunSpec; raises InvalidRunOptionError naming a bad one.

    Called before any network call, so a bad option never leaves uploaded inputs behind.
    """
    labels_, annotations_ = _string_map("labels", labels), _string_map("annotations", annotations)
    envs_ = _string_map("envs", envs, values_as_text=True)
    if not isinstance(overwrite_cache, bool):
        raise InvalidRunOptionError("overwrite_cache", expected="a bool", given=_given(overwrite_cache))
    if interruptible is not None and not isinstance(interruptible, bool):
        raise InvalidRunOptionError("interruptible", expected="a bool or None", given=_given(interruptible))
    if queue is not None:
        if not isinstance(queue, str):
            raise InvalidRunOptionError("queue", expected="a str or None", given=_given(queue))
        _check_text("queue", queue)
    spec = run_pb2.RunSpec(overwrite_cache=overwrite_cache, queue=queue or "")
    if labels_:
        spec.labels.values.update(labels_)
    if annotations_:
        spec.annotations.values.update(annotations_)
    if envs_:
        spec.envs.values.extend(literals_pb2.KeyValuePair(key=k, value=v) for k, v in envs_.items())
    if interruptible is not None:
        spec.interruptible.CopyFrom(wrappers_pb2.BoolValue(value=interruptible))
    return spec


async def get_run(services: Services, name: str, *, project: str | None, domain: str | None) -> Run:
    read_at = time.monotonic()
    details = RunDetails(await services.runs.details(services.scope.run_id(name, project, domain)), services=services)
    run = Run.from_details(details)
    run._read_at = read_at
    return run


async def find_run(services: Services, name: str, *, project: str, domain: str) -> Run | None:
    try:
        return await get_run(services, name, project=project, domain=domain)
    except NotFoundError:
        return None


async def create_run(
    services: Services, task: Task, inputs: Any, *, name: str | None, project: str, domain: str, spec: run_pb2.RunSpec
) -> Run:
    """CreateRun, with small inputs inline or else after UploadInputs. A named run that turns out to
    exist raises RunAlreadyExistsError carrying it."""
    project_id = services.scope.project_id(project, domain)
    run_id = services.scope.run_id(name, project, domain) if name else None
    target: dict[str, Any] = {"run_id": run_id} if run_id is not None else {"project_id": project_id}
    request = run_service_pb2.CreateRunRequest(task_id=task.task_id, run_spec=spec, **target)
    entity = f"run {name or '(new)'} of {task.name}"
    launch_id = uuid.uuid4().hex
    if name:
        request.run_spec.labels.values[LAUNCH_LABEL] = launch_id

    async def send(inline: bool) -> run_definition_pb2.Run | None:
        if inline:
            request.inputs.CopyFrom(inputs)
        else:
            offloaded = await services.data.upload_inputs(task.task_id, inputs, run_id=run_id, project_id=project_id)
            request.offloaded_input_data.CopyFrom(offloaded)
        try:
            return await services.runs.create(request, entity=entity, idempotent=bool(name))
        except AlreadyExistsError:
            if not name:
                raise
            return None

    read_at = time.monotonic()  # before the server could have read the state it answers with
    if services.data.may_inline(inputs):
        try:
            created = await send(inline=True)
        except (InvalidArgumentError, UnimplementedError):
            # Perhaps a backend that takes offloaded inputs only. Nothing was created, so sending
            # again is safe; if that works, this client offloads from now on.
            created = await send(inline=False)
            services.data.inline_refused()
    else:
        created = await send(inline=False)
    if not name:
        assert created is not None
        run = Run(created, services=services)
        run._read_at = read_at
        return run
    run = await get_run(services, name, project=project, domain=domain)
    owner = run._details.pb2.run_spec.labels.values.get(LAUNCH_LABEL) if run._details else None
    if owner is not None and owner != launch_id:
        raise RunAlreadyExistsError(run, entity=entity)
    return run
