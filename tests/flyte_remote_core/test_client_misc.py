"""Projects, secrets, user, uploads, configuration and credential hygiene."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from flyte_remote_core import ConfigurationError, FlyteClient, NotFoundError

pytestmark = pytest.mark.timeout(60)


def test_projects(flyte_devserver) -> None:
    client = flyte_devserver.client
    project = client.get_project("flytesnacks")
    assert project.name == "flytesnacks"
    assert {"development", "staging", "production"} <= set(project.domains)
    assert "flytesnacks" in [p.name for p in client.list_projects()]
    with pytest.raises(NotFoundError):
        client.get_project("no-such-project")


def test_run_in_missing_project_is_not_found(flyte_devserver) -> None:
    with pytest.raises(NotFoundError):
        flyte_devserver.client.get_task("sample_tasks.add", project="no-such-project")


def test_secrets_never_echo_values(flyte_devserver) -> None:
    client = flyte_devserver.client
    client.create_secret("db-password", "hunter2-very-secret", project="flytesnacks", domain="development")
    secret = client.get_secret("db-password", project="flytesnacks", domain="development")
    assert secret.name == "db-password"
    assert "hunter2-very-secret" not in secret.to_json()
    assert "hunter2-very-secret" not in repr(secret)
    assert "db-password" in [s.name for s in client.list_secrets(project="flytesnacks", domain="development")]
    client.delete_secret("db-password", project="flytesnacks", domain="development")
    with pytest.raises(NotFoundError):
        client.get_secret("db-password", project="flytesnacks", domain="development")


def test_user(flyte_devserver) -> None:
    user = flyte_devserver.client.user()
    assert user.subject()


def test_upload_file_returns_md5_and_uri(flyte_devserver, tmp_path: Path) -> None:
    src = tmp_path / "data.csv"
    src.write_bytes(b"a,b\n1,2\n")
    md5, uri = flyte_devserver.client.upload_file(src)
    assert md5 == hashlib.md5(b"a,b\n1,2\n").hexdigest()
    assert uri.startswith("file://")
    assert Path(uri.removeprefix("file://")).read_bytes() == b"a,b\n1,2\n"


def test_upload_dir_keeps_subfolders(flyte_devserver, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.txt").write_text("from a")
    (tmp_path / "b" / "x.txt").write_text("from b")
    uri = flyte_devserver.client.upload_dir(tmp_path)
    root = Path(uri.removeprefix("file://"))
    assert (root / "a" / "x.txt").read_text() == "from a"
    assert (root / "b" / "x.txt").read_text() == "from b"


def test_from_env_reads_flyte_variables(monkeypatch) -> None:
    monkeypatch.setenv("FLYTE_ENDPOINT", "dns:///flyte.example.com:443")
    monkeypatch.setenv("FLYTE_PROJECT", "proj")
    monkeypatch.setenv("FLYTE_DOMAIN", "staging")
    monkeypatch.setenv("FLYTE_ORG", "acme")
    monkeypatch.setenv("FLYTE_CLIENT_ID", "my-app")
    monkeypatch.setenv("FLYTE_CLIENT_SECRET", "super-secret-value")
    client = FlyteClient.from_env()
    try:
        assert (client.project, client.domain, client.org) == ("proj", "staging", "acme")
        assert client.run_url("r1") == "https://flyte.example.com/v2/domain/staging/project/proj/runs/r1"
        assert "super-secret-value" not in repr(client) and "super-secret-value" not in repr(client.config)
    finally:
        client.close()


def test_from_env_without_endpoint_is_a_configuration_error(monkeypatch) -> None:
    for var in ("FLYTE_ENDPOINT", "FLYTE_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigurationError, match="FLYTE_ENDPOINT"):
        FlyteClient.from_env()


def test_api_key_sets_org_and_never_shows(monkeypatch) -> None:
    key = base64.b64encode(b"dns:///flyte.example.com:443:cid:csecret-xyz:acme").decode()
    client = FlyteClient("dns:///flyte.example.com:443", api_key=key)
    try:
        assert client.org == "acme"
        assert key not in repr(client) and "csecret-xyz" not in repr(client.config)
    finally:
        client.close()


def test_clients_for_two_endpoints_coexist(flyte_devserver, tmp_path) -> None:
    from flyte_remote_core.devserver import DevServer

    with DevServer(tasks=["tests.devserver.sample_tasks"], port=0, data_dir=tmp_path) as other:
        second = other.client()
        try:
            a = flyte_devserver.client.run("sample_tasks.add", {"x": 1, "y": 1})
            b = second.run("sample_tasks.add", {"x": 2, "y": 2})
            assert a.wait(quiet=True).outputs()[0] == 2
            assert b.wait(quiet=True).outputs()[0] == 4
            with pytest.raises(NotFoundError):
                second.get_run(a.name)
        finally:
            second.close()


def test_a_long_lived_channel_outlives_a_thousand_requests(flyte_devserver) -> None:
    """hypercorn's default closes an HTTP/2 connection after 1,000 requests; ours must not."""
    import asyncio

    client = flyte_devserver.client
    run = client.run("sample_tasks.add", {"x": 1, "y": 1})

    async def many() -> int:
        sem = asyncio.Semaphore(16)

        async def one() -> str:
            async with sem:
                return (await client.get_run.aio(run.name)).name

        return len(await asyncio.gather(*(one() for _ in range(1100))))

    assert asyncio.run(many()) == 1100
