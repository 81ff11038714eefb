"""``FlyteResource``: a Flyte 2 endpoint as a Dagster resource, and ``run_task`` for steps.

The work is the core's (``flyte_remote_core.orchestration``): idempotent launch-or-attach
with attempt-numbered run names, the shared-watcher wait with an absolute deadline, log
tailing, typed outputs, the client's lifecycle (``ClientSlot``), what to scrub
(``secrets_of``) and how a step ended and whether to retry it (``classify``). This module
only adds what is Dagster's: step identity, ``context.log``, metadata, ``Failure`` and
run termination.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field, PrivateAttr

from flyte_remote_core.orchestration import SECRET_SETTINGS, ClientSlot, Outcome, classify, secrets_of

from ._failures import failure_for
from ._results import FlyteRunResult
from ._termination import abort_run, interrupted_error, shielded

if TYPE_CHECKING:
    from flyte_remote_core import FlyteClient

__all__ = ["FlyteResource", "flyte_resource"]

# The fields that are FlyteClient keyword arguments; unset ones fall back to FLYTE_* in the core.
_CLIENT_FIELDS = (
    "endpoint",
    "api_key",
    "client_id",
    "client_secret",
    "project",
    "domain",
    "org",
    "insecure",
    "ca_cert_file_path",
)


class FlyteResource(dg.ConfigurableResource):  # type: ignore[type-arg]  # dagster's generic has no public parameter
    """A Flyte 2 endpoint. Unset fields fall back to the ``FLYTE_*`` environment variables.

    Secrets (``api_key``, ``client_secret``) work with ``dg.EnvVar`` and never appear in
    logs, reprs or metadata. One ``flyte_remote_core.FlyteClient`` is built per execution,
    in the process that runs the step.
    """

    endpoint: str | None = Field(
        default=None,
        description="Flyte 2 API endpoint, e.g. 'dns:///flyte.example.com' or 'localhost:8090' (FLYTE_ENDPOINT).",
    )
    api_key: str | None = Field(default=None, repr=False, description="API key (FLYTE_API_KEY); use dg.EnvVar.")
    client_id: str | None = Field(default=None, description="OAuth2 client id (FLYTE_CLIENT_ID).")
    client_secret: str | None = Field(
        default=None, repr=False, description="OAuth2 client secret (FLYTE_CLIENT_SECRET); use dg.EnvVar."
    )
    project: str | None = Field(default=None, description="Default project (FLYTE_PROJECT, else 'flytesnacks').")
    domain: str | None = Field(default=None, description="Default domain (FLYTE_DOMAIN, else 'development').")
    org: str | None = Field(default=None, description="Organization (FLYTE_ORG).")
    insecure: bool | None = Field(default=None, description="Plain-text connection (FLYTE_INSECURE).")
    ca_cert_file_path: str | None = Field(default=None, description="Custom CA bundle (FLYTE_CA_CERT).")
    wait_timeout_s: float = Field(
        default=24 * 3600.0, description="Abort the remote run and fail the step after waiting this long."
    )
    cancel_on_termination: bool = Field(
        default=True, description="Abort the remote run when the Dagster run is terminated."
    )
    stream_logs: bool = Field(default=True, description="Stream the remote run's logs into the step's log.")
    retry_on_user_error: bool = Field(
        default=False,
        description="Let Dagster retry a run that failed with a USER "
        "error (off: the same code and inputs fail the same way).",
    )

    _slot: ClientSlot[Any] = PrivateAttr(default_factory=ClientSlot)
    _calls: dict[tuple[Any, ...], int] = PrivateAttr(default_factory=dict)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def _is_dagster_maintained(cls) -> bool:
        return False

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={'***' if name in SECRET_SETTINGS and value else repr(value)}"
            for name, value in ((n, getattr(self, n, None)) for n in type(self).model_fields)
            if value is not None
        )
        return f"{type(self).__name__}({shown})"

    __str__ = __repr__

    # -- configuration -----------------------------------------------------------------
    def client_kwargs(self) -> dict[str, Any]:
        """The fields that are set, as ``FlyteClient.from_env`` overrides (holds secrets: never log it)."""
        values = {name: getattr(self, name, None) for name in _CLIENT_FIELDS}
        return {k: (v.get_value() if isinstance(v, dg.EnvVar) else v) for k, v in values.items() if v is not None}

    def make_client(self) -> FlyteClient:
        """A new ``FlyteClient`` (fields set here win over the ``FLYTE_*`` variables); the caller closes it."""
        from flyte_remote_core import FlyteClient

        return FlyteClient.from_env(**self.client_kwargs())

    def _settings(self) -> dict[str, Any]:
        """The client settings a client built now would use: the fields, then ``FLYTE_*`` (holds secrets)."""
        from flyte_remote_core import ConfigurationError, settings_from_env  # the core's FLYTE_* reading

        overrides = self.client_kwargs()
        try:
            endpoint, values = settings_from_env(overrides)
        except ConfigurationError:  # no endpoint yet: the rest is still what the fields and FLYTE_* say
            endpoint, values = settings_from_env({**overrides, "endpoint": "unset"})
        return {"endpoint": endpoint, **values}

    def scope(self) -> tuple[str, str]:
        """``(project, domain)`` as a client built now would use them ("" when unknown); for cache keys."""
        settings = self._settings()
        return str(settings.get("project") or ""), str(settings.get("domain") or "")

    def _secrets(self) -> tuple[str, ...]:
        return secrets_of(self._settings())

    # -- lifecycle -----------------------------------------------------------------------
    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # The client is built lazily by get_client(), in the process running the step, so
        # steps that never call Flyte do not connect at all.
        self._slot = ClientSlot()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()

    def close(self) -> None:
        """Close the client (its channels and loop thread); called after each execution."""
        self._slot.close()

    def get_client(self) -> FlyteClient:
        """The ``FlyteClient`` of this execution (built on first use, in this process)."""
        slot: ClientSlot[FlyteClient] = self._slot
        return slot.get(self.make_client)

    def _next_index(self, step: _StepIdentity) -> int:
        # Several run_task calls in one step get distinct, stable run names.
        with self._lock:
            index = self._calls.get(step.call_key, 0)
            self._calls[step.call_key] = index + 1
            return index

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

        The run name is derived from what survives a Dagster run retry: the root run id of a
        run retry (``dagster/max_retries``: a new run id, the same work), else the run id, with
        the step key (mapping key included), partition key and the call's position in the
        step, and the step's retry number + 1 as launch attempt. A run retry after a killed
        run worker thus reattaches to the Flyte run its first run started; a
        retried step attaches to a still-active run, reuses a SUCCEEDED one, and launches
        anew only after FAILED, ABORTED or TIMED_OUT. ``run_name`` names the run explicitly
        instead; later attempts then use ``run_name-2``, ``run_name-3``, ... under the same
        rules. ``output_types`` maps output names to Python types so dataclass/pydantic
        outputs come back as instances, not dicts. ``run_options`` go to the launch
        (labels, annotations, envs, queue, ...).

        Raises ``dagster.Failure`` (with the run URL, error kind and message as metadata)
        when the run ends FAILED, ABORTED or TIMED_OUT, or when ``wait_timeout_s`` passes
        (the remote run is aborted; the message says whether that worked). Whether Dagster
        may retry is the core's rule (``flyte_remote_core.orchestration.classify``): a SYSTEM
        error, a transient transport error or a passed deadline (and a USER error with
        ``retry_on_user_error``).
        """
        from flyte_remote_core import redact

        step = _StepIdentity.of(context, task_name)
        dagster_run_id = str(getattr(getattr(context, "run", None), "run_id", None) or step.run_id)
        secrets = self._secrets()
        types = {k: v for k, v in (output_types or {}).items() if v is not None} or None
        timeout_s = float(wait_timeout_s if wait_timeout_s is not None else self.wait_timeout_s)

        def fail(exc: BaseException, run: Any) -> dg.Failure:
            return failure_for(self._outcome(exc, run, secrets=secrets, timeout_s=timeout_s), task_name)

        try:
            client = self.get_client()
        except Exception as exc:  # ConfigurationError: no endpoint, malformed key, ...
            raise fail(exc, None) from exc
        started = time.monotonic()
        deadline = time.time() + timeout_s
        key = step.run_key(self._next_index(step))

        # The core's run_to_completion in two halves, so the launch can be shielded from a
        # termination (see _termination) and the run is known before any wait can be cut.
        launch_error: Exception | None = None
        with shielded() as shield:
            try:
                outcome = client.launch_or_attach(
                    task_name,
                    inputs,
                    key=key,
                    attempt=step.retry_number + 1,
                    prefix="dg",
                    name=run_name,
                    version=version,
                    project=project,
                    domain=domain,
                    **run_options,
                )
            except Exception as exc:
                launch_error = exc
        if launch_error is not None:
            if shield.interrupted:
                raise interrupted_error() from launch_error
            raise fail(launch_error, None) from launch_error
        run = outcome.run
        context.log.info(outcome.describe(task_name))
        if shield.interrupted:
            self._on_termination(
                context, run, str(getattr(context, "run_id", step.run_id)), "DagsterExecutionInterruptedError"
            )
            raise interrupted_error()

        def log_line(line: str) -> None:
            # Called on the client's loop thread: Dagster's log handler is thread-safe (its
            # Pipes readers log from threads too), so no hand-off to the step thread is needed.
            context.log.info(f"[flyte {run.name}] {redact(line.rstrip(), *secrets)}")

        try:
            result = client.wait_for_result(
                run,
                launch=outcome.action,
                deadline=deadline,
                started=started,
                log_line=log_line if self.stream_logs else None,
                output_types=types,
            )
        except Exception as exc:  # a passed deadline included: the core aborted the run and says how that went
            raise fail(exc, run) from exc
        except BaseException as exc:  # DagsterExecutionInterruptedError, KeyboardInterrupt
            self._on_termination(context, run, dagster_run_id, type(exc).__name__)
            raise
        return FlyteRunResult.of(result, task_name=task_name)

    def _outcome(self, exc: BaseException, run: Any, *, secrets: tuple[str, ...], timeout_s: float) -> Outcome:
        """The core's classification, in this resource's terms (its secrets, its deadline setting, its opt-in)."""
        return classify(
            exc,
            run=run,
            secrets=secrets,
            retry_user_errors=self.retry_on_user_error,
            deadline_limit=f"wait_timeout_s={timeout_s:g} s",
        )

    def _on_termination(self, context: Any, run: Any, dagster_run_id: str, why: str) -> None:
        if not self.cancel_on_termination:
            context.log.warning(
                f"Dagster run terminated; Flyte run {run.name} keeps running (cancel_on_termination=False): {run.url}"
            )
            return
        ok = abort_run(run, f"Dagster run {dagster_run_id} was terminated ({why})")
        if ok:
            context.log.warning(f"Aborted Flyte run {run.name} ({run.url})")
        else:
            context.log.error(f"Could not abort Flyte run {run.name}; it may still be running: {run.url}")


# The tag Dagster's run-retry daemon puts on the runs it launches (a manual re-execution has none).
RUN_RETRY_TAG = "dagster/retry_number"


def _work_run_id(op_ctx: Any) -> str:
    """The run id that names the work: the root run's for a run retry, this run's otherwise.

    A run retry is the same work done again (its first run's worker died, say), so it must
    find the first run's Flyte runs. A manual re-execution is a request for new work: its
    own run id."""
    run = getattr(op_ctx, "run", None)
    root = getattr(run, "root_run_id", None)
    tags = getattr(run, "tags", None) or {}
    if root and RUN_RETRY_TAG in tags:
        return str(root)
    return str(op_ctx.run_id)


class _StepIdentity:
    """What makes a run_task call unique and stable across retries of the same step (and of its run)."""

    def __init__(self, run_id: str, step_key: str, partition: str, retry_number: int, task_name: str) -> None:
        self.run_id, self.step_key, self.partition = run_id, step_key, partition
        self.retry_number, self.task_name = retry_number, task_name

    @classmethod
    def of(cls, context: Any, task_name: str) -> _StepIdentity:
        op_ctx = getattr(context, "op_execution_context", context)
        try:
            step_key = op_ctx.get_step_execution_context().step.key
        except Exception:
            step_key = str(getattr(op_ctx, "node_handle", "") or getattr(op_ctx.op_def, "name", "step"))
        partition = ""
        if op_ctx.has_partition_key:
            partition = op_ctx.partition_key
        elif getattr(op_ctx, "has_partition_key_range", False):
            r = op_ctx.partition_key_range
            partition = f"{r.start}..{r.end}"
        return cls(_work_run_id(op_ctx), step_key, partition, int(op_ctx.retry_number or 0), task_name)

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
