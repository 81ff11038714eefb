"""``FlyteResource``: a Flyte 2 endpoint as a Dagster resource, and ``run_task`` for steps."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from ._results import FlyteRunResult, failure_for
from ._runner import LoopRunner

__all__ = ["FlyteResource", "flyte_resource"]

_TRUE = {"1", "true", "yes", "on"}
_SECRET_FIELDS = ("api_key", "client_secret")
# Field name -> the FLYTE_* variable used when the field is not set.
_ENV = {
    "endpoint": "FLYTE_ENDPOINT",
    "api_key": "FLYTE_API_KEY",
    "client_id": "FLYTE_CLIENT_ID",
    "client_secret": "FLYTE_CLIENT_SECRET",
    "project": "FLYTE_PROJECT",
    "domain": "FLYTE_DOMAIN",
    "org": "FLYTE_ORG",
    "insecure": "FLYTE_INSECURE",
    "ca_cert_file_path": "FLYTE_CA_CERT",
}


class FlyteResource(dg.ConfigurableResource):
    """A Flyte 2 endpoint. Unset fields fall back to the ``FLYTE_*`` environment variables.

    Secrets (``api_key``, ``client_secret``) work with ``dg.EnvVar`` and never appear in
    logs, reprs or metadata. One ``flyte_remote_core.FlyteClient`` is built per execution,
    in the process that runs the step.
    """

    endpoint: str | None = Field(default=None, description="Flyte 2 API endpoint, e.g. 'dns:///flyte.example.com' "
                                 "or 'localhost:8090' (FLYTE_ENDPOINT).")
    api_key: str | None = Field(default=None, repr=False, description="API key (FLYTE_API_KEY); use dg.EnvVar.")
    client_id: str | None = Field(default=None, description="OAuth2 client id (FLYTE_CLIENT_ID).")
    client_secret: str | None = Field(default=None, repr=False,
                                      description="OAuth2 client secret (FLYTE_CLIENT_SECRET); use dg.EnvVar.")
    project: str | None = Field(default=None, description="Default project (FLYTE_PROJECT, else 'flytesnacks').")
    domain: str | None = Field(default=None, description="Default domain (FLYTE_DOMAIN, else 'development').")
    org: str | None = Field(default=None, description="Organization (FLYTE_ORG).")
    insecure: bool | None = Field(default=None, description="Plain-text connection (FLYTE_INSECURE).")
    ca_cert_file_path: str | None = Field(default=None, description="Custom CA bundle (FLYTE_CA_CERT).")
    wait_timeout_s: float = Field(default=24 * 3600.0, description="Abort the remote run and fail the step after "
                                  "waiting this long.")
    cancel_on_termination: bool = Field(default=True, description="Abort the remote run when the Dagster run is "
                                        "terminated.")
    stream_logs: bool = Field(default=True, description="Stream the remote run's logs into the step's log.")

    _client: Any = PrivateAttr(default=None)
    _runner: Any = PrivateAttr(default=None)
    _calls: dict[tuple[Any, ...], int] = PrivateAttr(default_factory=dict)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)
    _pid: int = PrivateAttr(default=0)

    @classmethod
    def _is_dagster_maintained(cls) -> bool:
        return False

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={'***' if name in _SECRET_FIELDS and value else repr(value)}"
            for name, value in ((n, getattr(self, n, None)) for n in type(self).model_fields)
            if value is not None
        )
        return f"{type(self).__name__}({shown})"

    __str__ = __repr__

    # -- configuration -----------------------------------------------------------------
    def resolved(self, name: str) -> Any:
        """A field's value, an ``EnvVar`` read now, or the FLYTE_* fallback; None if unset."""
        value = getattr(self, name, None)
        if isinstance(value, dg.EnvVar):
            value = value.get_value()
        if value is None and name in _ENV:
            raw = os.environ.get(_ENV[name])
            if raw is not None and raw != "":
                value = raw.strip().lower() in _TRUE if name == "insecure" else raw
        return value

    def client_kwargs(self) -> dict[str, Any]:
        """The fields that are set, as ``FlyteClient`` keyword arguments (holds secrets: never log it)."""
        values = {name: getattr(self, name, None) for name in _ENV}
        return {k: (v.get_value() if isinstance(v, dg.EnvVar) else v) for k, v in values.items() if v is not None}

    def make_client(self) -> Any:
        """A new ``FlyteClient`` (fields set here win over the ``FLYTE_*`` variables); the caller closes it."""
        from flyte_remote_core import FlyteClient

        return FlyteClient.from_env(**self.client_kwargs())

    # -- lifecycle -----------------------------------------------------------------------
    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # The client is built lazily by get_client(), in the process running the step, so
        # steps that never call Flyte do not connect at all.
        self._client = None
        self._runner = None

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()

    def close(self) -> None:
        """Close the client and its loop thread (called after each execution)."""
        client, runner = self._client, self._runner
        self._client = self._runner = None
        if client is not None:
            if runner is not None:
                runner.run_briefly(client.aclose(), 5.0)
            client.close()
        if runner is not None:
            runner.close()

    def get_client(self) -> Any:
        """The ``FlyteClient`` of this execution (built on first use, in this process)."""
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                # A client inherited through fork() is unusable (grpcio): build a fresh one.
                self._client, self._runner = self.make_client(), None
                self._pid = os.getpid()
            return self._client

    def _get_runner(self) -> LoopRunner:
        with self._lock:
            if self._runner is None:
                self._runner = LoopRunner()
            return self._runner

    # -- running tasks ---------------------------------------------------------------------
    def run_task(
        self,
        context: dg.OpExecutionContext | dg.AssetExecutionContext,
        task_name: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        version: str | None = None,
        run_name: str | None = None,
        output_types: Mapping[str, Any] | None = None,
        project: str | None = None,
        domain: str | None = None,
        wait_timeout_s: float | None = None,
        **run_options: Any,
    ) -> FlyteRunResult:
        """Launch (or attach to) a run of ``task_name``, wait for it, and return its outputs.

        The run name is derived from the Dagster run id, step key, partition key and the
        call's position in the step, with the step's retry number as launch attempt: a
        retried step attaches to a still-active run, reuses a SUCCEEDED one, and launches
        anew only after FAILED or ABORTED. ``run_name`` names the run explicitly instead
        (an existing run of that name is attached to). ``output_types`` maps output names
        to Python types so dataclass/pydantic outputs come back as instances, not dicts.
        ``run_options`` go to ``FlyteClient.run`` (labels, annotations, envs, queue, ...).

        Raises ``dagster.Failure`` (with the run URL, error kind and message as metadata)
        when the run ends FAILED, ABORTED or TIMED_OUT, or when ``wait_timeout_s`` passes
        (the remote run is aborted first). A remote USER error is not retried.
        """
        from flyte_remote_core import RunAlreadyExistsError, deterministic_run_name, run_to_completion, wait_for_result

        step = _StepIdentity.of(context, task_name)
        try:
            client = self.get_client()
        except Exception as exc:  # ConfigurationError: no endpoint, malformed key, ...
            raise self._failure(exc, task_name, None) from exc
        runner = self._get_runner()
        timeout = float(wait_timeout_s if wait_timeout_s is not None else self.wait_timeout_s)
        deadline = time.time() + timeout
        with self._lock:
            index = self._calls.get(step.call_key, 0)
            self._calls[step.call_key] = index + 1
        key = step.run_key(index)
        attempt = step.retry_number + 1
        launched: dict[str, Any] = {}
        secrets = [self.resolved(n) for n in _SECRET_FIELDS]

        def on_launched(run: Any, outcome: Any) -> None:
            launched["run"] = run
            verb = {"launched": "Launched", "attached": "Attached to still-running", "reused": "Reusing SUCCEEDED"}
            message = f"{verb.get(outcome.action, outcome.action)} Flyte run {run.name} of {task_name}: {run.url}"
            runner.post(lambda: context.log.info(message))

        def log_line(line: str) -> None:
            from flyte_remote_core._errors import redact

            text = redact(line.rstrip("\n"), *secrets)
            name = launched["run"].name if "run" in launched else "?"
            runner.post(lambda: context.log.info(f"[flyte {name}] {text}"))

        options = dict(version=version, project=project, domain=domain, **run_options)
        stream = log_line if self.stream_logs else None
        if run_name is None:
            coro = run_to_completion(client, task_name, inputs, key=key, attempt=attempt, prefix="dg", deadline=deadline,
                                     on_launched=on_launched, log_line=stream, **options)
        else:
            async def named() -> Any:
                try:
                    run = await client.run.aio(task_name, inputs, name=run_name, **options)
                    action = "launched"
                except RunAlreadyExistsError as exc:
                    run = exc.run
                    action = "reused" if run.phase.is_success else "attached"
                on_launched(run, type("Outcome", (), {"action": action})())
                return await wait_for_result(client, run, launch=action, deadline=deadline, log_line=stream)

            coro = named()

        try:
            result = runner.run(coro)
        except Exception as exc:
            raise self._failure(exc, task_name, launched.get("run")) from exc
        except BaseException as exc:  # DagsterExecutionInterruptedError, KeyboardInterrupt
            if self.cancel_on_termination:
                run = launched.get("run")
                reason = f"Dagster run {step.run_id} was terminated ({type(exc).__name__})"
                if run is None and run_name is None:
                    # Interrupted between CreateRun and the callback: find the run by its name.
                    names = [deterministic_run_name(key, a, prefix="dg") for a in (attempt, attempt + 1)]
                    run = runner.run_briefly(_find_active(client, names, project, domain), 5.0)
                if run is not None:
                    from flyte_remote_core import abort_quietly

                    ok = runner.run_briefly(abort_quietly(run, reason), 10.0)
                    context.log.warning(f"Aborted Flyte run {run.name} ({run.url})" if ok else
                                        f"Could not abort Flyte run {run.name} ({run.url})")
            raise
        outputs = _rebuild(result.outputs, output_types, task_name)
        return FlyteRunResult(
            run_name=result.run_name, url=result.url, phase=result.phase, outputs=outputs,
            duration_s=result.duration_s, attempts=result.attempts, launch=result.launch,
            task_name=result.task_name or task_name, project=result.project, domain=result.domain,
            json_outputs=result.json_outputs,
        )

    def _failure(self, exc: Exception, task_name: str, run: Any) -> dg.Failure:
        from flyte_remote_core import (
            FlyteInputError,
            NotFoundError,
            RemoteError,
            RunError,
            RunFailedError,
            WaitTimeoutError,
        )

        url = getattr(run, "url", None)
        name = getattr(run, "name", None)
        if isinstance(exc, RunError):
            user = isinstance(exc, RunFailedError) and exc.kind == "USER"
            return failure_for(
                f"Flyte run {exc.run_name} of {task_name} ended {exc.phase}"
                + (f" with a {exc.kind} error" if exc.kind else "") + (f": {exc.message}" if exc.message else ""),
                run_name=exc.run_name, url=exc.url or url, phase=exc.phase, kind=exc.kind, code=exc.code,
                message=exc.message, task_name=task_name, allow_retries=not user,
            )
        if isinstance(exc, WaitTimeoutError):
            return failure_for(
                f"Flyte run {exc.run_name} of {task_name} did not finish within {exc.timeout:g} s "
                f"(wait_timeout_s); it was aborted",
                run_name=exc.run_name, url=url, phase=exc.phase, kind="TIMEOUT", message=str(exc), task_name=task_name,
            )
        if isinstance(exc, FlyteInputError):
            return failure_for(f"Flyte task {task_name}: {exc}", task_name=task_name, message=str(exc),
                               kind="INPUT", allow_retries=False)
        if isinstance(exc, NotFoundError) and run is None:
            return failure_for(f"Flyte task {task_name}: {exc}", task_name=task_name, message=str(exc),
                               kind="NOT_FOUND", allow_retries=False)
        if isinstance(exc, RemoteError):
            return failure_for(f"Flyte call failed for task {task_name}: {exc}", run_name=name, url=url,
                               task_name=task_name, kind="TRANSPORT", code=getattr(exc.code, "name", None),
                               message=str(exc), allow_retries=True)
        return failure_for(f"Flyte task {task_name} failed in the client: {type(exc).__name__}: {exc}",
                           run_name=name, url=url, task_name=task_name, message=str(exc), allow_retries=True)


async def _find_active(client: Any, names: list[str], project: str | None, domain: str | None) -> Any:
    from flyte_remote_core import NotFoundError

    for name in names:
        try:
            run = await client.get_run.aio(name, project=project, domain=domain)
        except NotFoundError:
            continue
        if not run.phase.is_terminal:
            return run
    return None


def _rebuild(outputs: dict[str, Any], output_types: Mapping[str, Any] | None, task_name: str) -> dict[str, Any]:
    if not output_types:
        return dict(outputs)
    from flyte_remote_core._literals import build  # the codec's struct -> class rebuild

    rebuilt = dict(outputs)
    for name, tp in output_types.items():
        if name in rebuilt and tp is not None:
            try:
                rebuilt[name] = build(tp, rebuilt[name])
            except (TypeError, ValueError) as exc:
                raise failure_for(f"Flyte task {task_name}: output {name!r} does not fit {tp!r}: {exc}",
                                  task_name=task_name, kind="OUTPUT_TYPE", allow_retries=False) from exc
    return rebuilt


class _StepIdentity:
    """What makes a run_task call unique and stable across retries of the same step."""

    def __init__(self, run_id: str, step_key: str, partition: str, retry_number: int, task_name: str) -> None:
        self.run_id, self.step_key, self.partition = run_id, step_key, partition
        self.retry_number, self.task_name = retry_number, task_name

    @classmethod
    def of(cls, context: Any, task_name: str) -> _StepIdentity:
        op_ctx = getattr(context, "op_execution_context", context)
        try:
            step_key = op_ctx.get_step_execution_context().step.key
        except Exception:  # direct invocation contexts (build_op_context) have no step
            step_key = str(getattr(op_ctx, "node_handle", "") or getattr(op_ctx.op_def, "name", "step"))
        partition = ""
        if op_ctx.has_partition_key:
            partition = op_ctx.partition_key
        elif getattr(op_ctx, "has_partition_key_range", False):
            r = op_ctx.partition_key_range
            partition = f"{r.start}..{r.end}"
        return cls(op_ctx.run_id, step_key, partition, int(op_ctx.retry_number or 0), task_name)

    @property
    def call_key(self) -> tuple[Any, ...]:
        return (self.run_id, self.step_key, self.partition, self.retry_number, self.task_name)

    def run_key(self, index: int) -> str:
        return f"dagster/{self.run_id}/{self.step_key}/{self.partition}/{self.task_name}/{index}"


flyte_resource = FlyteResource()
"""A ready ``FlyteResource`` configured from the ``FLYTE_*`` environment variables.

Use it as ``dg.Definitions(resources={"flyte": flyte_resource})``; run config can set any
field (``resources: {flyte: {config: {project: ...}}}``).
"""
