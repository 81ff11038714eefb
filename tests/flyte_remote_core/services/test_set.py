"""``ServiceSet.run_url``: the console URL the client prints, with a configured console base and without.

Each of domain, project and run name is one path segment, and the action one query value:
percent-encoded either way, so a name with ``/``, ``?``, ``#`` or a space still lands on
its own page (the devserver's console decodes the segments back, as a real console does).
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from flyte_remote_core import FlyteClient
from flyte_remote_core.devserver.pytest_plugin import FlyteDevserverFixture

pytestmark = pytest.mark.timeout(60)

ODD = {"project": "my proj/x", "domain": "dev?#1", "action": "a 0&i=a1"}
ODD_RUN = "r/1 ?x#y%"


@pytest.fixture
def configured() -> Iterator[FlyteClient]:
    # Never connects: run_url is computed locally.
    c = FlyteClient("localhost:1", insecure=True, console_url="https://console.example.com/flyte/")
    try:
        yield c
    finally:
        c.close()


def _parts(url: str) -> tuple[list[str], dict[str, list[str]]]:
    split = urlsplit(url)
    assert split.fragment == ""  # a "#" in a name must not start a fragment
    return [unquote(s) for s in split.path.split("/")], parse_qs(split.query)


def test_configured_base_encodes_every_segment(configured: FlyteClient) -> None:
    url = configured.run_url(ODD_RUN, **ODD)
    assert url == (
        "https://console.example.com/flyte/v2/domain/dev%3F%231/project/my%20proj%2Fx"
        "/runs/r%2F1%20%3Fx%23y%25?i=a%200%26i%3Da1"
    )
    path, query = _parts(url)
    assert path == ["", "flyte", "v2", "domain", "dev?#1", "project", "my proj/x", "runs", ODD_RUN]
    assert query == {"i": ["a 0&i=a1"]}


def test_configured_base_plain_names_are_unchanged(configured: FlyteClient) -> None:
    # The base's trailing slash is dropped; plain names need no encoding; the client's scope is the default.
    assert (
        configured.run_url("rabc123")
        == "https://console.example.com/flyte/v2/domain/development/project/flytesnacks/runs/rabc123"
    )
    assert configured.run_url("rabc123", action="a0").endswith("/runs/rabc123?i=a0")


def test_configured_and_default_urls_agree(flyte_devserver: FlyteDevserverFixture) -> None:
    default = flyte_devserver.client  # no console_url: derived from the endpoint
    with FlyteClient(flyte_devserver.endpoint, insecure=True, console_url=flyte_devserver.server.url) as configured:
        for name, kw in [("rplain", {}), ("rplain", {"action": "a0"}), (ODD_RUN, ODD)]:
            assert configured.run_url(name, **kw) == default.run_url(name, **kw)


def test_the_default_url_is_the_page_the_console_serves(flyte_devserver: FlyteDevserverFixture) -> None:
    client = flyte_devserver.client
    run = client.run("sample_tasks.add", {"x": 20, "y": 22}).wait(quiet=True)
    assert (
        run.url
        == client.run_url(run.name)
        == f"{flyte_devserver.server.url}/v2/domain/development/project/flytesnacks/runs/{run.name}"
    )
    page = httpx.get(run.url)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f'<h1 id="run-name">{run.name}</h1>' in page.text
    data = httpx.get(run.url + ".json").json()
    assert data["name"] == run.name and data["phase"] == "SUCCEEDED"
    assert httpx.get(client.run_url(run.name, action="a0")).status_code == 200


def test_an_encoded_url_reaches_the_console_with_the_names_intact(flyte_devserver: FlyteDevserverFixture) -> None:
    # No such run, but the console's answer names exactly the project, domain and run asked for:
    # the segments were not split at "/" nor cut at "?" or "#".
    with FlyteClient(flyte_devserver.endpoint, insecure=True, console_url=flyte_devserver.server.url) as configured:
        url = configured.run_url(ODD_RUN, project=ODD["project"], domain=ODD["domain"])
    page = httpx.get(url)
    assert page.status_code == 404
    assert "Run not found" in page.text
    assert f"Run {ODD_RUN} does not exist in project my proj/x, domain dev?#1." in page.text
