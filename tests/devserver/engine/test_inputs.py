"""Run inputs on disk (engine/inputs.py): content-addressed files that inline CreateRun inputs
and UploadInputs share, written without a folder per run; the runs still read them."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from flyteidl2.common import identifier_pb2
from flyteidl2.dataproxy import dataproxy_service_pb2 as dp
from flyteidl2.task import common_pb2
from flyteidl2.workflow import run_service_pb2 as rs

from flyte_remote_core.devserver.engine.inputs import InputFiles

from ..helpers import DOMAIN, PROJECT, P, action_id, create_run, inputs, outputs, wait_done

pytestmark = pytest.mark.timeout(60)


def path_of(uri: str) -> Path:
    assert uri.startswith("file://")
    return Path(unquote(urlparse(uri).path))


async def inputs_uri(stubs, name: str) -> str:
    resp = await stubs.run.GetActionDataURIs(rs.GetActionDataURIsRequest(action_id=action_id(name)))
    return resp.inputs_uri


async def test_runs_with_the_same_inputs_share_one_file_and_both_succeed(stubs):
    await create_run(stubs, "sample_tasks.add", "inputs-same-1", x=7, y=8)
    await create_run(stubs, "sample_tasks.add", "inputs-same-2", x=7, y=8)
    await create_run(stubs, "sample_tasks.add", "inputs-other", x=8, y=7)
    for name, total in (("inputs-same-1", 15), ("inputs-same-2", 15), ("inputs-other", 15)):
        assert (await wait_done(stubs, name)).status.phase == P.ACTION_PHASE_SUCCEEDED
        assert await outputs(stubs, name) == {"o0": total}
    first, second, other = [await inputs_uri(stubs, n) for n in ("inputs-same-1", "inputs-same-2", "inputs-other")]
    assert first == second != other
    stored = common_pb2.Inputs.FromString(path_of(first).read_bytes())
    assert {nl.name for nl in stored.literals} == {"x", "y"}


async def test_uploaded_inputs_and_inline_inputs_land_in_the_same_file(stubs):
    await create_run(stubs, "sample_tasks.add", "inputs-inline", x=31, y=11)
    up = await stubs.dp.UploadInputs(
        dp.UploadInputsRequest(
            project_id=identifier_pb2.ProjectIdentifier(name=PROJECT, domain=DOMAIN), inputs=inputs(x=31, y=11)
        )
    )
    assert up.offloaded_input_data.uri == await inputs_uri(stubs, "inputs-inline")
    assert path_of(up.offloaded_input_data.uri).name == up.offloaded_input_data.inputs_hash + ".pb"


def test_no_folder_per_input_and_no_temporary_file_left(tmp_path):
    files = InputFiles(tmp_path)
    uris = {files.put("proj", "dev", f"inputs {i}".encode())[0] for i in range(20)}
    assert len(uris) == 20
    folder = tmp_path / "inputs" / "proj" / "dev"
    assert sorted(p.name for p in folder.iterdir()) == sorted(path_of(u).name for u in uris)
    assert all(p.is_file() for p in folder.iterdir())


def test_a_wiped_folder_is_made_again_and_names_cannot_escape_it(tmp_path):
    files = InputFiles(tmp_path)
    files.put("proj", "dev", b"first")
    shutil.rmtree(tmp_path / "inputs")
    uri, digest = files.put("proj", "dev", b"second")
    assert path_of(uri).read_bytes() == b"second"
    uri, _ = files.put("../../etc", "..", b"third")
    assert path_of(uri).parent == tmp_path / "inputs" / ".._.._etc" / "_"
    # A file deleted meanwhile comes back with the next run that has the same inputs.
    path_of(files.put("proj", "dev", b"second")[0]).unlink()
    assert path_of(files.put("proj", "dev", b"second")[0]).read_bytes() == b"second"
    assert len(digest) == 64
