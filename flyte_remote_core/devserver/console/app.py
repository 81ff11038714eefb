"""The console's ASGI app: what the router sends ``/v2/...`` to.

* ``GET /v2/domain/{domain}/project/{project}/runs``: the runs, newest first
  (``?phase=``, ``?task=`` (a substring of the task name), ``?page=``, ``?size=``).
* ``GET /v2/domain/{domain}/project/{project}/runs/{name}``: the run page (``?i={action}``
  selects an action); ``.../runs/{name}.json``: the same run as JSON, which the page's
  script polls while the run is not over.
* ``GET /v2/_console/{console.js,console.css}``: the static files (public: a sign-in
  page needs them too, and they hold nothing of a run).

With auth on, ``check`` is the same bearer check the API applies: a request passes with
``Authorization: Bearer <token>`` or the ``flyte_console_token`` cookie (what a browser
can carry; the 401 page's form sets it), else it gets 401 and no run data.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from . import pages
from .state import ConsoleState

Scope = dict[str, Any]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Check = Callable[[str | None], bool]

PREFIX = "/v2/"
COOKIE = "flyte_console_token"
STATIC_DIR = Path(__file__).parent / "static"
STATIC_TYPES = {"console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8"}
# Defence in depth behind the escaping: no inline or foreign script can run on a console page.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _segments(scope: Scope) -> list[str]:
    # raw_path keeps %2F inside a segment apart from the separators.
    raw = scope.get("raw_path")
    path = raw.decode("latin-1").split("?", 1)[0] if raw else scope["path"]
    return [unquote(s) for s in path.split("/")[1:]]


class ConsoleApp:
    def __init__(self, state: ConsoleState, *, check: Check | None = None) -> None:
        self.state = state
        self.check = check

    async def __call__(self, scope: Scope, receive: Any, send: Send) -> None:
        if scope.get("method") not in ("GET", "HEAD"):
            await _respond(send, 405, "text/plain; charset=utf-8", b"method not allowed\n", [(b"allow", b"GET, HEAD")])
            return
        parts = _segments(scope)  # ["v2", "domain", d, "project", p, "runs", name?]
        if len(parts) == 3 and parts[1] == "_console" and parts[2] in STATIC_TYPES:
            body = (STATIC_DIR / parts[2]).read_bytes()
            await _respond(send, 200, STATIC_TYPES[parts[2]], body, [(b"cache-control", b"no-cache")])
            return
        query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
        wants_json = len(parts) == 7 and parts[6].endswith(".json")
        if self.check is not None and not self.check(_credentials(scope)):
            await self._unauthorized(send, wants_json)
            return
        if len(parts) in (6, 7) and parts[0] == "v2" and parts[1] == "domain" and parts[3] == "project":
            domain, project = parts[2], parts[4]
            if parts[5] == "runs" and len(parts) == 6:
                await self._runs(send, project, domain, query)
                return
            if parts[5] == "runs" and parts[6]:
                name = parts[6].removesuffix(".json") if wants_json else parts[6]
                await self._run(send, project, domain, name, query.get("i", ""), as_json=wants_json)
                return
        await _html(send, 404, pages.message_page("Not found", "The console has no page here."))

    async def _runs(self, send: Send, project: str, domain: str, query: dict[str, str]) -> None:
        phase, task = query.get("phase", ""), query.get("task", "")
        listing = self.state.runs(
            project, domain, phase=phase, task=task, page=_int(query.get("page")), size=_int(query.get("size"))
        )
        await _html(send, 200, pages.runs_page(project, domain, listing, phase=phase, task=task))

    async def _run(self, send: Send, project: str, domain: str, name: str, action: str, *, as_json: bool) -> None:
        run = self.state.run(project, domain, name)
        if run is None:
            text = f"Run {name} does not exist in project {project}, domain {domain}."
            if as_json:
                await _json(send, 404, {"error": "not_found", "message": text})
            else:
                await _html(send, 404, pages.message_page("Run not found", text, project=project, domain=domain))
            return
        if action and run.action(action) is None:
            text = f"Run {name} has no action {action}."
            if as_json:
                await _json(send, 404, {"error": "not_found", "message": text})
            else:
                await _html(send, 404, pages.message_page("Action not found", text, project=project, domain=domain))
            return
        selected = action or run.root.name
        if as_json:
            data = run.to_json()
            data["selected"] = selected
            data["html"] = pages.run_body(run, selected)  # escaped markup: the script swaps it in as it is
            data["title"] = f"{run.name} - {run.root.phase}"
            await _json(send, 200, data)
            return
        poll = pages.run_path(project, domain, name) + ".json" + (f"?i={pages.seg(action)}" if action else "")
        await _html(send, 200, pages.run_page(run, selected, poll))

    async def _unauthorized(self, send: Send, as_json: bool) -> None:
        extra = [(b"www-authenticate", b'Bearer realm="flyte-devserver"')]
        if as_json:
            await _json(send, 401, {"error": "unauthenticated", "message": "a bearer token is required"}, extra)
            return
        body = pages.message_page(
            "Sign in required",
            "This devserver runs with auth on: the console needs an access token, as the API does.",
            extra=pages.TOKEN_FORM,
        )
        await _html(send, 401, body, extra)


def _credentials(scope: Scope) -> str | None:
    """The Authorization header's value, or the console cookie as one."""
    cookie = None
    for k, v in scope.get("headers", []):
        name = k.decode("latin-1").lower()
        if name == "authorization":
            return str(v.decode("latin-1"))
        if name == "cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(v.decode("latin-1"))
            except Exception:
                continue
            if COOKIE in jar:
                cookie = "Bearer " + jar[COOKIE].value
    return cookie


def _int(v: str | None) -> int:
    try:
        return int(v or 0)
    except ValueError:
        return 0


async def _respond(
    send: Send, status: int, ctype: str, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [
        (b"content-type", ctype.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"x-content-type-options", b"nosniff"),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _html(send: Send, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-security-policy", CSP.encode()), (b"cache-control", b"no-store"), *(extra or [])]
    await _respond(send, status, "text/html; charset=utf-8", text.encode(), headers)


async def _json(send: Send, status: int, data: Any, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(data).encode()
    await _respond(send, status, "application/json", body, [(b"cache-control", b"no-store"), *(extra or [])])
