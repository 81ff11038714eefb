"""Run inputs (engine/inputs.py): content-addressed rows that inline CreateRun inputs and
UploadInputs share, kept in the state database; a file appears only where a URI is handed
out (UploadInputs, the action-data answers) or a path is read (the SDK runtime:
tests/devserver/sdk)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from flyteidl2.common import identifier_pb2
from flyteidl2.dataproxy import dataproxy_service_pb2 as dp
from flyteidl2.task import common_pb2
from flyteidl2.workflow import run_service_pb2 as rs

from flyte_remote_core.devserver.engine.inputs import InputStore
from flyte_remote_core.devserver.engine.store import Store

from ..helpers import DOMAIN, PROJECT, P, action_id, create_run, inputs, latest_task, outputs, run_id, wait_done

pytestmark = pytest.mark.timeout(60)


def path_of(uri: str) -> Path:
    assert uri.startswith("file://")
    return Path(unquote(urlparse(uri).path))


async def upload(stubs, **values) -> dp.UploadInputsResponse:
    return await stubs.dp.UploadInputs(
        dp.UploadInputsRequest(
            project_id=identifier_pb2.ProjectIdentifier(name=PROJECT, domain=DOMAIN), inputs=inputs(**values)
        )
    )


async def inputs_uri(stubs, name: str) -> str:
    resp = await stubs.run.GetActionDataURIs(rs.GetActionDataURIsRequest(action_id=action_id(name)))
    return resp.inputs_uri


async def test_runs_with_the_same_inputs_share_one_uri_and_need_no_file_to_succeed(server, stubs):
    for name, x, y in (("inputs-same-1", 7, 8), ("inputs-same-2", 7, 8), ("inputs-other", 8, 7)):
        await create_run(stubs, "sample_tasks.add", name, x=x, y=y)
    for name in ("inputs-same-1", "inputs-same-2", "inputs-other"):
        assert (await wait_done(stubs, name)).status.phase == P.ACTION_PHASE_SUCCEEDED
    # The runs ended without a file of their inputs: the worker pool is handed the bytes.
    digest = hashlib.sha256(inputs(x=7, y=8).SerializeToString(deterministic=True)).hexdigest()
    folder = server.data_dir / "storage" / "inputs" / PROJECT / DOMAIN
    assert not (folder / f"{digest}.pb").exists()
    # UploadInputs of the same values names the same URI, and hands it out with its file.
    same = (await upload(stubs, x=7, y=8)).offloaded_input_data.uri
    assert path_of(same) == folder / f"{digest}.pb"
    assert path_of(same).read_bytes() == inputs(x=7, y=8).SerializeToString(deterministic=True)
    for name in ("inputs-same-1", "inputs-same-2", "inputs-other"):
        assert await outputs(stubs, name) == {"o0": 15}
    first, second, other = [await inputs_uri(stubs, n) for n in ("inputs-same-1", "inputs-same-2", "inputs-other")]
    assert first == second == same != other
    # Asking for the URIs wrote their files: what they hold is what the runs ran with.
    stored = common_pb2.Inputs.FromString(path_of(first).read_bytes())
    assert {nl.name: nl.value.scalar.primitive.integer for nl in stored.literals} == {"x": 7, "y": 8}
    assert not [p for p in path_of(first).parent.iterdir() if p.suffix == ".tmp"]


async def test_a_run_of_uploaded_inputs_succeeds_and_reads_them_back(stubs):
    up = await upload(stubs, x=31, y=11)
    assert path_of(up.offloaded_input_data.uri).name == up.offloaded_input_data.inputs_hash + ".pb"
    await stubs.run.CreateRun(
        rs.CreateRunRequest(
            run_id=run_id("inputs-uploaded"),
            task_id=await latest_task(stubs, "sample_tasks.add"),
            offloaded_input_data=up.offloaded_input_data,
        )
    )
    assert (await wait_done(stubs, "inputs-uploaded")).status.phase == P.ACTION_PHASE_SUCCEEDED
    assert await outputs(stubs, "inputs-uploaded") == {"o0": 42}
    data = await stubs.run.GetActionData(rs.GetActionDataRequest(action_id=action_id("inputs-uploaded")))
    assert {nl.name for nl in data.inputs.literals} == {"x", "y"}


def test_inputs_outlive_the_process_and_files_are_written_only_on_request(tmp_path):
    store = Store(tmp_path / "state.db")
    held = InputStore(store, tmp_path / "storage")
    uri, digest = held.put("proj", "dev", inputs(x=1).SerializeToString())
    assert len(digest) == 64 and not (tmp_path / "storage").exists()
    # A new process (nothing in memory) reads them from the database.
    again = InputStore(store, tmp_path / "storage")
    assert again.data(uri) == inputs(x=1).SerializeToString()
    assert again.read(uri) == inputs(x=1)
    again.materialize(uri)
    assert path_of(uri).read_bytes() == inputs(x=1).SerializeToString()
    assert [p.name for p in path_of(uri).parent.iterdir()] == [digest + ".pb"]  # no temporary file left
    # A file of an earlier version, or one a task wrote for a nested action, is read from its path.
    legacy = tmp_path / "legacy.pb"
    legacy.write_bytes(inputs(y=2).SerializeToString())
    assert again.data(legacy.as_uri()) is None
    assert again.read(legacy.as_uri()) == inputs(y=2)
    assert again.read((tmp_path / "gone.pb").as_uri()) == common_pb2.Inputs()
    again.materialize(legacy.as_uri())  # not held here: left alone
    assert legacy.read_bytes() == inputs(y=2).SerializeToString()
    store.close()


def test_names_cannot_escape_the_inputs_folder(tmp_path):
    store = Store(tmp_path / "state.db")
    held = InputStore(store, tmp_path / "storage")
    uri, _ = held.put("../../etc", "..", b"third")
    assert path_of(uri).parent == tmp_path / "storage" / "inputs" / ".._.._etc" / "_"
    held.materialize(uri)
    assert path_of(uri).read_bytes() == b"third"
    store.close()
