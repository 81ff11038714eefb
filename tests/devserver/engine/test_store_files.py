"""The devserver's files on disk: a corrupt state database stops the start with an error that
names the file and the way out; a second devserver on a data folder in use stops with an
error naming the folder, and the first serves on; the data folder is owner-only and the
files holding state or secrets are 0600."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from flyte_remote_core.devserver import DevServer
from flyte_remote_core.devserver.engine.store import StateDatabaseError

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[3]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _assert_names_the_way_out(message: str, db: Path) -> None:
    assert str(db) in message
    assert "move the file aside" in message and "delete" in message


def test_garbage_in_the_database_is_a_typed_error_naming_the_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = data / "devserver.db"
    db.write_bytes(os.urandom(64 * 1024))
    server = DevServer(data_dir=data)
    with pytest.raises(StateDatabaseError) as err:
        server.start()
    assert err.value.path == db
    _assert_names_the_way_out(str(err.value), db)
    assert not server.running
    # The way out works: with the file moved aside the devserver starts with fresh state.
    db.rename(data / "devserver.db.broken")
    with DevServer(data_dir=data) as fresh:
        assert httpx.get(f"{fresh.url}/healthz").text.strip() == "ok"


def test_damage_past_the_header_is_found_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with DevServer(tasks=["tests.devserver.sample_tasks"], data_dir=data) as server:
        client = server.client()
        try:
            for i in range(20):  # enough rows for the database to span many pages
                client.run("sample_tasks.add", {"x": i, "y": 1}, name=f"r{i}").wait(quiet=True, timeout=60)
        finally:
            client.close()
    db = data / "devserver.db"
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0  # checkpointed at stop
    size = db.stat().st_size
    page = 4096
    assert size > 4 * page
    with db.open("r+b") as f:  # keep the 100-byte header intact; wreck every page after the first
        f.seek(page)
        f.write(os.urandom(size - page))
    with pytest.raises(StateDatabaseError) as err:
        DevServer(data_dir=data).start()
    _assert_names_the_way_out(str(err.value), db)


def test_the_cli_reports_a_corrupt_database_and_exits_1(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = data / "devserver.db"
    db.write_bytes(b"this is not a database" * 100)
    out = subprocess.run(
        [sys.executable, "-m", "flyte_remote_core.devserver", "--port", "0", "--data-dir", str(data)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 1
    _assert_names_the_way_out(out.stderr, db)
    assert "Traceback" not in out.stderr


def test_a_second_devserver_on_a_folder_in_use_stops_and_the_first_serves_on(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with DevServer(tasks=["tests.devserver.sample_tasks"], data_dir=data) as first, first.client() as client:
        out = subprocess.run(
            [sys.executable, "-m", "flyte_remote_core.devserver", "--port", "0", "--data-dir", str(data)],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode == 1
        assert "in use by another devserver" in out.stderr and str(data) in out.stderr
        assert "--data-dir" in out.stderr and "Traceback" not in out.stderr
        run = client.run(client.get_task("sample_tasks.add"), {"x": 1, "y": 2})
        assert run.wait(quiet=True).phase == "SUCCEEDED"
    # Stopped, the first lets the folder go: a new devserver resumes from it.
    with DevServer(data_dir=data) as again, again.client() as client:
        assert client.get_run(run.name).phase == "SUCCEEDED"


def test_a_new_data_folder_is_owner_only_and_state_files_are_0600(tmp_path: Path) -> None:
    data = tmp_path / "nested" / "data"
    old_umask = os.umask(0o022)  # a usual umask: files would be 0644 and folders 0755 by default
    try:
        with DevServer(data_dir=data) as server:
            client = server.client()
            try:
                src = tmp_path / "blob.txt"
                src.write_text("payload")
                client.upload_file(src)  # an uploaded blob is state too
                client.create_secret("api-token", "s3cr3t")  # kept in the database, in plain text
            finally:
                client.close()
            files = [data / "devserver.db", data / "upload-secret"]
            files += [Path(f"{data / 'devserver.db'}{s}") for s in ("-wal", "-shm")]
            blobs = [p for p in (data / "storage").rglob("*") if p.is_file()]
            assert blobs, "the upload stored no file"
            assert _mode(data) == 0o700
            for path in files + blobs:
                if path.exists():
                    assert _mode(path) == 0o600, f"{path} is {oct(_mode(path))}"
            assert (data / "devserver.db-wal").exists()  # WAL mode: the side file exists while serving
    finally:
        os.umask(old_umask)


def test_an_existing_database_with_wide_modes_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with DevServer(data_dir=data):
        pass
    db = data / "devserver.db"
    os.chmod(db, 0o644)
    with DevServer(data_dir=data):
        assert _mode(db) == 0o600
