from __future__ import annotations

import pytest

from flyte_remote_core._errors import ConfigurationError
from flyte_remote_core._transport._endpoint import Endpoint, console_url, parse_endpoint


@pytest.mark.parametrize(
    ("text", "target", "host", "port", "tls"),
    [
        ("dns:///flyte.example.com:443", "flyte.example.com:443", "flyte.example.com", 443, None),
        ("dns:///flyte.example.com", "flyte.example.com:443", "flyte.example.com", 443, None),
        ("dns://8.8.8.8/flyte.example.com:8443", "flyte.example.com:8443", "flyte.example.com", 8443, None),
        ("localhost:8090", "localhost:8090", "localhost", 8090, None),
        ("flyte.example.com", "flyte.example.com:443", "flyte.example.com", 443, None),
        ("  flyte.example.com:30080  ", "flyte.example.com:30080", "flyte.example.com", 30080, None),
        ("https://flyte.example.com", "flyte.example.com:443", "flyte.example.com", 443, True),
        ("https://flyte.example.com/", "flyte.example.com:443", "flyte.example.com", 443, True),
        ("HTTPS://flyte.example.com:8443", "flyte.example.com:8443", "flyte.example.com", 8443, True),
        ("http://localhost", "localhost:80", "localhost", 80, False),
        ("http://127.0.0.1:8090", "127.0.0.1:8090", "127.0.0.1", 8090, False),
        ("[::1]:8090", "[::1]:8090", "::1", 8090, None),
        ("[::1]", "[::1]:443", "::1", 443, None),
        ("http://[::1]:8090", "[::1]:8090", "::1", 8090, False),
        ("dns:///[2001:db8::1]:9000", "[2001:db8::1]:9000", "2001:db8::1", 9000, None),
        (
            "my_internal-host.svc.cluster.local:81",
            "my_internal-host.svc.cluster.local:81",
            "my_internal-host.svc.cluster.local",
            81,
            None,
        ),
    ],
)
def test_parse_endpoint_forms(text: str, target: str, host: str, port: int, tls: bool | None) -> None:
    assert parse_endpoint(text) == Endpoint(target=target, host=host, port=port, tls=tls)


def test_scheme_less_default_port_follows_insecure() -> None:
    assert parse_endpoint("flyte.local", insecure=True).port == 80
    assert parse_endpoint("flyte.local", insecure=False).port == 443
    assert parse_endpoint("https://flyte.local", insecure=True).port == 443  # the scheme wins


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "   ",
        "http://",
        "https:///",
        "ftp://host",
        "host:abc",
        "host:0",
        "host:70000",
        "host:",
        "::1",
        "[::1",
        "[zz]:80",
        "[::1]x",
        "https://h/path",
        "https://h?q=1",
        "a b",
        "dns:///",
        "dns://x",
        "host/extra",
        "-bad.example",
        "grpc://host:1",
    ],
)
def test_parse_endpoint_rejects_junk_naming_it(junk: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_endpoint(junk)
    assert repr(junk) in str(info.value)


def test_parse_endpoint_does_not_echo_url_credentials() -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_endpoint("https://user:hunter2secret@flyte.example.com")
    assert "hunter2secret" not in str(info.value)


def test_parse_endpoint_rejects_non_strings() -> None:
    with pytest.raises(ConfigurationError):
        parse_endpoint(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("endpoint", "insecure", "expected"),
    [
        (
            "dns:///flyte.example.com:443",
            False,
            "https://flyte.example.com/v2/domain/development/project/flytesnacks/runs/r1",
        ),
        ("flyte.example.com", False, "https://flyte.example.com/v2/domain/development/project/flytesnacks/runs/r1"),
        (
            "flyte.example.com:8443",
            False,
            "https://flyte.example.com:8443/v2/domain/development/project/flytesnacks/runs/r1",
        ),
        ("127.0.0.1:8090", True, "http://127.0.0.1:8090/v2/domain/development/project/flytesnacks/runs/r1"),
        ("localhost", True, "http://localhost/v2/domain/development/project/flytesnacks/runs/r1"),
        ("http://localhost:80", False, "http://localhost/v2/domain/development/project/flytesnacks/runs/r1"),
        (
            "https://flyte.example.com",
            True,
            "https://flyte.example.com/v2/domain/development/project/flytesnacks/runs/r1",
        ),
        ("[::1]:30080", True, "http://[::1]:30080/v2/domain/development/project/flytesnacks/runs/r1"),
    ],
)
def test_console_url(endpoint: str, insecure: bool, expected: str) -> None:
    url = console_url(endpoint, insecure=insecure, project="flytesnacks", domain="development", run_name="r1")
    assert url == expected


def test_console_url_action_and_quoting() -> None:
    url = console_url("h:1", insecure=False, project="p q", domain="d", run_name="r", action="a0")
    assert url == "https://h:1/v2/domain/d/project/p%20q/runs/r?i=a0"
