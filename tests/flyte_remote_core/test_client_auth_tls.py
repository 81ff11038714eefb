"""The client against an authenticating devserver (client credentials, API keys, token
refresh, credential hygiene) and against a TLS devserver (custom CA, skip-verify, no CA)."""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import ipaddress
import logging
import os
import time
from pathlib import Path

import pytest

from flyte_remote_core import (
    AuthenticationError,
    FlyteClient,
    FlyteError,
    Phase,
    Run,
    TLSError,
    parse_api_key,
)
from flyte_remote_core.devserver import DevServer

pytestmark = pytest.mark.timeout(60)

TASKS = ["tests.devserver.sample_tasks"]


# -- servers ---------------------------------------------------------------------------


@pytest.fixture
def auth_server(tmp_path: Path):
    server = DevServer(tasks=TASKS, port=0, data_dir=tmp_path / "auth-data", auth=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path):
    cert, key = _self_signed(tmp_path / "pki")
    server = DevServer(tasks=TASKS, port=0, data_dir=tmp_path / "tls-data", tls_cert=cert, tls_key=key)
    server.start()
    try:
        yield server, cert
    finally:
        server.stop()


def _secret_forms(client_id: str, secret: str) -> list[str]:
    """The secret as it could leak: raw, and inside an HTTP Basic header."""
    return [secret, base64.b64encode(f"{client_id}:{secret}".encode()).decode()]


# -- 6. auth -----------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_client_credentials_full_flow_and_nothing_leaks(
    auth_server, tmp_path: Path, caplog, capfd, monkeypatch
) -> None:
    caplog.set_level(logging.DEBUG)
    # Airflow's or Dagster's logging set-up, imported earlier in the same session, can mute
    # httpx's logger; the token request must reach caplog for the checks below to mean anything.
    httpx_log = logging.getLogger("httpx")
    monkeypatch.setattr(httpx_log, "disabled", False)
    monkeypatch.setattr(httpx_log, "propagate", True)
    monkeypatch.setattr(httpx_log, "level", logging.DEBUG)
    client_id, secret = auth_server.auth_manager.create_client("ci-robot")
    client = FlyteClient(auth_server.endpoint, client_id=client_id, client_secret=secret, insecure=True)
    try:
        run = client.run("sample_tasks.chatty", {"lines": 2})
        run.wait(quiet=True)
        assert run.phase is Phase.SUCCEEDED
        assert run.outputs().named == {"o0": 2}
        assert any("stdout line 1" in line for line in run.logs(follow=False))
        assert [d.phase for d in run.watch()][-1] is Phase.SUCCEEDED

        src = tmp_path / "payload.txt"
        src.write_bytes(b"authenticated upload")
        md5, uri = client.upload_file(src)
        assert md5 == hashlib.md5(b"authenticated upload").hexdigest()
        assert Path(uri.removeprefix("file://")).read_bytes() == b"authenticated upload"

        user = client.user()
        assert user.subject() == client_id
        assert (
            asyncio.run(client.run.aio("sample_tasks.add", {"x": 1, "y": 1})).wait(quiet=True).phase is Phase.SUCCEEDED
        )
        # One token served every call of the flow (each event loop shares the token cache).
        assert auth_server.auth_manager.token_requests == 1
        shown = repr(client) + repr(client.config) + repr(client._channel_config)
    finally:
        client.close()
    out, err = capfd.readouterr()
    assert "oauth2/token" in caplog.text  # the flow was logged (the checks below are not vacuous)
    for form in _secret_forms(client_id, secret):
        assert form not in shown
        assert form not in caplog.text
        assert all(form not in r.getMessage() for r in caplog.records)
        assert form not in out + err


def test_api_key_client(auth_server) -> None:
    key = auth_server.auth_manager.create_api_key(auth_server.endpoint)
    parsed = parse_api_key(key)
    client = FlyteClient(auth_server.endpoint, api_key=key, insecure=True)
    try:
        run = client.run("sample_tasks.add", {"x": 40, "y": 2})
        assert run.wait(quiet=True).outputs().named == {"o0": 42}
        assert client.user().subject() == parsed.client_id
        assert key not in repr(client) and parsed.client_secret not in repr(client) + repr(client.config)
    finally:
        client.close()


def test_no_credentials_is_an_authentication_error_with_a_hint(auth_server, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    client = FlyteClient(auth_server.endpoint, insecure=True)
    t0 = time.monotonic()
    try:
        with pytest.raises(AuthenticationError) as err:
            client.get_task("sample_tasks.add")
        with pytest.raises(AuthenticationError):
            client.user()
    finally:
        client.close()
    assert time.monotonic() - t0 < 10  # not retried as if it were transient
    assert err.value.hint and "FLYTE_API_KEY" in err.value.hint
    assert err.value.hint in str(err.value)
    assert "sample_tasks.add" in str(err.value)


def test_wrong_secret_is_an_authentication_error_that_never_shows_the_secret(auth_server, caplog, capfd) -> None:
    caplog.set_level(logging.DEBUG)
    client_id, secret = auth_server.auth_manager.create_client("ci-robot")
    wrong = secret[::-1] + "-wrong"
    client = FlyteClient(auth_server.endpoint, client_id=client_id, client_secret=wrong, insecure=True)
    try:
        with pytest.raises(AuthenticationError) as err:
            client.get_task("sample_tasks.add")
        text = str(err.value) + repr(err.value) + repr(client)
    finally:
        client.close()
    assert err.value.hint
    out, errout = capfd.readouterr()
    for form in _secret_forms(client_id, wrong) + _secret_forms(client_id, secret):
        assert form not in text
        assert form not in caplog.text
        assert form not in out + errout


def test_api_key_never_shows_in_errors_or_logs(auth_server, caplog, capfd) -> None:
    caplog.set_level(logging.DEBUG)
    key = auth_server.auth_manager.create_api_key(auth_server.endpoint)
    parsed = parse_api_key(key)
    auth_server.auth_manager.delete_client(parsed.client_id)  # the key is now refused
    client = FlyteClient(auth_server.endpoint, api_key=key, insecure=True)
    try:
        with pytest.raises(AuthenticationError) as err:
            client.run("sample_tasks.add", {"x": 1, "y": 1})
        text = str(err.value) + repr(err.value) + repr(client)
    finally:
        client.close()
    out, errout = capfd.readouterr()
    for form in [key, *_secret_forms(parsed.client_id, parsed.client_secret)]:
        assert form not in text
        assert form not in caplog.text
        assert form not in out + errout


def test_revoked_token_is_refreshed_once_for_unary_calls(auth_server) -> None:
    manager = auth_server.auth_manager
    client = auth_server.client()  # client credentials, as a user would
    try:
        run = client.run("sample_tasks.add", {"x": 1, "y": 2})
        assert manager.token_requests == 1
        manager.revoke_all_tokens()
        assert client.get_run(run.name).name == run.name  # UNAUTHENTICATED, refresh, replay
        assert manager.token_requests == 2
        assert client.user().subject()
        assert manager.token_requests == 2  # the new token is kept, not fetched per call
        run.wait(quiet=True)
        assert run.outputs().named == {"o0": 3}
    finally:
        client.close()


@pytest.mark.timeout(30)
def test_wait_right_after_token_revocation_refreshes_and_succeeds(auth_server) -> None:
    manager = auth_server.auth_manager
    client = auth_server.client()
    try:
        run = client.run("sample_tasks.sleepy", {"seconds": 0.5})
        manager.revoke_all_tokens()
        run.wait(quiet=True, timeout=15)  # the first call after the revocation is the WatchRuns stream
        assert run.phase is Phase.SUCCEEDED
    finally:
        client.close()


@pytest.mark.timeout(30)
def test_watch_right_after_token_revocation_refreshes_and_succeeds(auth_server) -> None:
    manager = auth_server.auth_manager
    client = auth_server.client()
    try:
        run = client.run("sample_tasks.sleepy", {"seconds": 0.5})
        manager.revoke_all_tokens()
        assert [d.phase for d in run.watch()][-1] is Phase.SUCCEEDED
    finally:
        client.close()


# -- 9. from_env with an API key only, and with a CA --------------------------------------


def _clear_flyte_env(monkeypatch) -> None:
    for var in list(os.environ):
        if var.startswith("FLYTE_"):
            monkeypatch.delenv(var)


def test_from_env_api_key_only_takes_the_endpoint_from_the_key(auth_server, monkeypatch) -> None:
    _clear_flyte_env(monkeypatch)
    key = auth_server.auth_manager.create_api_key(f"http://{auth_server.endpoint}")
    monkeypatch.setenv("FLYTE_API_KEY", key)
    client = FlyteClient.from_env()
    try:
        assert client.config.insecure is True
        assert client.config.endpoint == f"http://{auth_server.endpoint}"
        assert client.run("sample_tasks.add", {"x": 2, "y": 2}).wait(quiet=True).outputs()[0] == 4
        assert client.user().subject() == parse_api_key(key).client_id
    finally:
        client.close()


def test_from_env_api_key_with_insecure_flag(auth_server, monkeypatch) -> None:
    _clear_flyte_env(monkeypatch)
    monkeypatch.setenv("FLYTE_API_KEY", auth_server.auth_manager.create_api_key(auth_server.endpoint))
    monkeypatch.setenv("FLYTE_INSECURE", "true")
    client = FlyteClient.from_env()
    try:
        assert client.config.endpoint == auth_server.endpoint
        assert client.get_task("sample_tasks.add").name == "sample_tasks.add"
    finally:
        client.close()


def test_from_env_ca_cert_reaches_a_tls_server(tls_server, monkeypatch) -> None:
    server, cert = tls_server
    _clear_flyte_env(monkeypatch)
    monkeypatch.setenv("FLYTE_ENDPOINT", server.endpoint)
    monkeypatch.setenv("FLYTE_CA_CERT", str(cert))
    client = FlyteClient.from_env()
    try:
        assert client.config.ca_cert_file_path == str(cert) and client.config.insecure is False
        assert client.run("sample_tasks.add", {"x": 3, "y": 4}).wait(quiet=True).outputs()[0] == 7
    finally:
        client.close()


# -- 7. TLS ------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_tls_with_ca_cert_runs_and_uploads(tls_server, tmp_path: Path) -> None:
    server, cert = tls_server
    client = FlyteClient(server.endpoint, ca_cert_file_path=str(cert))
    try:
        run = client.run("sample_tasks.chatty", {"lines": 2})
        run.wait(quiet=True)
        assert run.outputs().named == {"o0": 2}
        assert run.url.startswith("https://")
        assert any("stdout line 0" in line for line in run.logs(follow=False))
        src = tmp_path / "tls.txt"
        src.write_bytes(b"over https")
        md5, uri = client.upload_file(src)  # the signed URL is https://127.0.0.1:PORT/...: the CA must apply
        assert md5 == hashlib.md5(b"over https").hexdigest()
        assert Path(uri.removeprefix("file://")).read_bytes() == b"over https"
        tree = tmp_path / "tree"
        (tree / "d").mkdir(parents=True)
        (tree / "d" / "f.txt").write_text("nested")
        root = Path(client.upload_dir(tree).removeprefix("file://"))
        assert (root / "d" / "f.txt").read_text() == "nested"
    finally:
        client.close()


@pytest.mark.timeout(60)
def test_tls_with_insecure_skip_verify(tls_server, tmp_path: Path) -> None:
    server, _ = tls_server
    client = FlyteClient(server.endpoint, insecure_skip_verify=True)
    try:
        run = client.run("sample_tasks.add", {"x": 5, "y": 6})
        assert run.wait(quiet=True).outputs().named == {"o0": 11}
        src = tmp_path / "skip.txt"
        src.write_bytes(b"unverified")
        md5, uri = client.upload_file(src)
        assert md5 == hashlib.md5(b"unverified").hexdigest()
        assert Path(uri.removeprefix("file://")).read_bytes() == b"unverified"
    finally:
        client.close()


@pytest.mark.timeout(20)
def test_tls_without_ca_fails_clearly_and_quickly(tls_server) -> None:
    server, _ = tls_server
    client = FlyteClient(server.endpoint)
    t0 = time.monotonic()
    try:
        with pytest.raises(FlyteError) as err:
            client.get_task("sample_tasks.add")
    finally:
        client.close()
    elapsed = time.monotonic() - t0
    # A certificate that does not verify is a TLSError, not retried, with a hint naming the fix.
    assert isinstance(err.value, TLSError), repr(err.value)
    assert not err.value.retryable
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value) and "FLYTE_CA_CERT" in str(err.value)
    assert elapsed < 5, elapsed


@pytest.mark.timeout(20)
def test_tls_with_the_wrong_ca_fails_clearly(tls_server, tmp_path: Path) -> None:
    server, _ = tls_server
    other_cert, _ = _self_signed(tmp_path / "other-pki")
    client = FlyteClient(server.endpoint, ca_cert_file_path=str(other_cert))
    try:
        with pytest.raises(TLSError, match="CERTIFICATE_VERIFY_FAILED"):
            client.get_task("sample_tasks.add")
    finally:
        client.close()


@pytest.mark.timeout(20)
def test_tls_without_ca_wait_fails_instead_of_hanging(tls_server) -> None:
    server, cert = tls_server
    good = FlyteClient(server.endpoint, ca_cert_file_path=str(cert))
    bad = FlyteClient(server.endpoint)
    try:
        run = good.run("sample_tasks.sleepy", {"seconds": 0.2})
        untrusted = Run(run.pb2, services=bad.services)

        async def main() -> None:
            await asyncio.wait_for(untrusted.wait.aio(quiet=True), 8)

        with pytest.raises(FlyteError) as err:  # anything but a silent hang
            asyncio.run(main())
        assert "CERTIFICATE_VERIFY_FAILED" in str(err.value)
    finally:
        good.close()
        bad.close()


@pytest.mark.timeout(30)
def test_tls_server_stops_cleanly_with_a_client_still_connected(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.ERROR)
    cert, key = _self_signed(tmp_path / "pki")
    server = DevServer(tasks=TASKS, port=0, data_dir=tmp_path / "data", tls_cert=cert, tls_key=key).start()
    client = FlyteClient(server.endpoint, ca_cert_file_path=str(cert))
    try:
        assert client.get_task("sample_tasks.add").name == "sample_tasks.add"
        server.stop()  # the client's connection is still open, as in any real shutdown
    finally:
        client.close()
        server.stop()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
