"""API keys, token sources and their caching; no network."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
from pathlib import Path

import pytest

from flyte_remote_core._errors import AuthenticationError, ConfigurationError
from flyte_remote_core._transport._auth import (
    ApiKey,
    CachedTokenSource,
    ClientCredentialsToken,
    CommandToken,
    OAuthMetadata,
    StaticToken,
    encode_api_key,
    jwt_expiry,
    parse_api_key,
)

SECRET = "s3cr3t-Value_XYZ"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "endpoint",
    [
        "dns:///flyte.example.com:443",
        "flyte.example.com:8090",
        "https://flyte.example.com:443",
        "flyte.example.com",
        "[::1]:8090",
    ],
)
def test_api_key_endpoint_with_colons(endpoint: str) -> None:
    key = parse_api_key(b64(f"{endpoint}:my-client:{SECRET}:my-org"))
    assert key == ApiKey(endpoint=endpoint, client_id="my-client", client_secret=SECRET, org="my-org")


def test_api_key_roundtrip_and_empty_org() -> None:
    text = encode_api_key("dns:///h:443", "cid", SECRET)
    assert parse_api_key(text) == ApiKey("dns:///h:443", "cid", SECRET, "")
    # unpadded and url-safe forms are accepted too
    assert parse_api_key(text.rstrip("=")) == parse_api_key(text)


def test_api_key_repr_hides_secret() -> None:
    key = parse_api_key(b64(f"h:1:cid:{SECRET}:org"))
    assert SECRET not in repr(key) and SECRET not in str(key) and SECRET not in f"{key}"
    assert "cid" in repr(key)


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("", "empty"),
        ("!!!not base64!!!", "base64"),
        (b64(f"cid:{SECRET}"), "expected 4"),
        (b64(f":cid:{SECRET}:org"), "endpoint"),
        (b64(f"host::{SECRET}:org"), "client_id"),
        (base64.b64encode(b"\xff\xfe\x00:" * 5).decode(), "text"),
    ],
)
def test_api_key_junk_is_rejected_without_echo(key: str, why: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_api_key(key)
    message = str(info.value)
    assert why in message
    assert SECRET not in message and (not key or key not in message)


def test_encode_api_key_refuses_colons_in_secret() -> None:
    with pytest.raises(ConfigurationError):
        encode_api_key("h:1", "cid", "a:b")


def _jwt(exp: float) -> str:
    part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")  # noqa: E731
    return f"{part({'alg': 'none'})}.{part({'exp': exp, 'sub': 'x'})}.sig"


def test_jwt_expiry() -> None:
    assert jwt_expiry(_jwt(1234.0)) == 1234.0
    assert jwt_expiry("opaque-token") is None
    assert jwt_expiry("a.b.c") is None


async def test_static_token_and_repr() -> None:
    source = StaticToken(SECRET)
    assert await source.token() == SECRET
    assert await source.token(refresh=True) == SECRET
    assert SECRET not in repr(source)
    with pytest.raises(ConfigurationError):
        StaticToken("  ")


class Counting(CachedTokenSource):
    def __init__(self, lifetime: float | None, delay: float = 0.0) -> None:
        super().__init__()
        self.lifetime, self.delay, self.n = lifetime, delay, 0

    async def _fetch(self) -> tuple[str, float | None]:
        await asyncio.sleep(self.delay)
        self.n += 1
        return f"tok-{self.n}", self.lifetime


async def test_cache_reuses_then_refreshes_ahead_of_expiry() -> None:
    source = Counting(lifetime=1.0)
    assert await source.token() == "tok-1"
    assert await source.token() == "tok-1"
    await asyncio.sleep(0.95)  # inside the 10% refresh margin before expiry
    assert await source.token() == "tok-2"
    assert await source.token(refresh=True) == "tok-3"


async def test_concurrent_callers_share_one_fetch() -> None:
    source = Counting(lifetime=100, delay=0.05)
    tokens = await asyncio.gather(*(source.token() for _ in range(20)))
    assert set(tokens) == {"tok-1"} and source.n == 1
    # a burst of forced refreshes (many calls saw UNAUTHENTICATED at once) fetches once
    tokens = await asyncio.gather(*(source.token(refresh=True) for _ in range(20)))
    assert set(tokens) == {"tok-2"} and source.n == 2


def test_source_shared_across_event_loops() -> None:
    source = Counting(lifetime=100)
    assert asyncio.run(source.token()) == "tok-1"
    assert asyncio.run(source.token()) == "tok-1"  # a new loop reuses the cached token
    assert asyncio.run(source.token(refresh=True)) == "tok-2"


async def test_command_token_runs_once_and_reruns_on_refresh(tmp_path: Path) -> None:
    counter = tmp_path / "n"
    script = (
        "import pathlib,sys; p=pathlib.Path(sys.argv[1]); n=int(p.read_text()) if p.exists() else 0; "
        "p.write_text(str(n+1)); print('noise line'); print(f'cmd-token-{n+1}')"
    )
    source = CommandToken([sys.executable, "-c", script, str(counter)])
    assert await source.token() == "cmd-token-1"
    assert await source.token() == "cmd-token-1"
    assert await source.token(refresh=True) == "cmd-token-2"
    assert "cmd-token" not in repr(source) and script not in repr(source)


async def test_command_token_uses_jwt_expiry() -> None:
    token = _jwt(time.time() + 1000)
    source = CommandToken([sys.executable, "-c", f"print({token!r})"])
    assert await source.token() == token
    assert source._refresh_at - time.monotonic() == pytest.approx(1000 - 60, abs=5)


async def test_command_token_failure_is_redacted() -> None:
    script = f"import sys; print('token={SECRET}', file=sys.stderr); sys.exit(3)"
    with pytest.raises(AuthenticationError) as info:
        await CommandToken([sys.executable, "-c", script]).token()
    assert "status 3" in str(info.value) and SECRET not in str(info.value)
    with pytest.raises(AuthenticationError, match="printed no token"):
        await CommandToken([sys.executable, "-c", "pass"]).token()
    with pytest.raises(ConfigurationError, match="not found"):
        await CommandToken(["/nonexistent/token-helper"]).token()
    with pytest.raises(ConfigurationError):
        CommandToken("not-a-list")  # type: ignore[arg-type]


def test_client_credentials_repr_and_validation() -> None:
    meta = OAuthMetadata(token_endpoint="http://127.0.0.1:9/oauth2/token")
    source = ClientCredentialsToken(client_id="cid", client_secret=SECRET, metadata=meta)
    assert SECRET not in repr(source) and "cid" in repr(source)
    with pytest.raises(ConfigurationError):
        ClientCredentialsToken(client_id="cid", client_secret="", metadata=meta)
    with pytest.raises(ConfigurationError):
        ClientCredentialsToken(client_id="cid", client_secret=SECRET)  # neither channel nor metadata


async def test_unreachable_token_endpoint_is_unavailable_and_redacted() -> None:
    from flyte_remote_core._errors import UnavailableError

    meta = OAuthMetadata(token_endpoint="http://127.0.0.1:9/oauth2/token")  # port 9: discard, closed
    source = ClientCredentialsToken(client_id="cid", client_secret=SECRET, metadata=meta, timeout=2)
    with pytest.raises(UnavailableError) as info:
        await source.token()
    assert SECRET not in str(info.value)
