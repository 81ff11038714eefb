"""The console's HTML: a page skeleton (a ``string.Template``) and fragments built from views.

Every value that comes from a run (names, inputs, outputs, errors, log lines, the URL's
own segments) goes through :func:`esc` before it reaches markup; only numbers computed
here (bar offsets and widths) are written unescaped.
"""

from __future__ import annotations

import html
import time
from string import Template
from urllib.parse import quote, urlencode

from .state import PHASES, ActionView, RunPage, RunView

STATIC = "/v2/_console"  # where app.py serves static/

_PAGE = Template(
    """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<link rel="stylesheet" href="$static/console.css">
</head>
<body>
<header><a class="brand" href="$runs_url">flyte devserver</a><span class="scope">$scope</span></header>
<main id="console" data-poll="$poll" data-terminal="$terminal">
$body
</main>
<script src="$static/console.js"></script>
</body>
</html>
"""
)


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def seg(value: str) -> str:
    return quote(value, safe="")


def runs_path(project: str, domain: str) -> str:
    return f"/v2/domain/{seg(domain)}/project/{seg(project)}/runs"


def run_path(project: str, domain: str, name: str) -> str:
    return f"{runs_path(project, domain)}/{seg(name)}"


def page(title: str, body: str, *, project: str = "", domain: str = "", poll: str = "", terminal: bool = True) -> str:
    scope = f"{esc(project)} / {esc(domain)}" if project or domain else ""
    return _PAGE.substitute(
        title=esc(title),
        static=STATIC,
        runs_url=esc(runs_path(project, domain)) if project and domain else "#",
        scope=scope,
        poll=esc(poll),
        terminal="true" if terminal else "false",
        body=body,
    )


def fmt_time(t: float | None) -> str:
    if t is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d} UTC"


def fmt_duration(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 60:
        return f"{s:.2f} s"
    m, sec = divmod(int(s), 60)
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m {sec:02d}s" if h else f"{m}m {sec:02d}s"


def badge(phase: str) -> str:
    return f'<span class="phase phase-{esc(phase.lower())}">{esc(phase)}</span>'


def _values(title: str, values: list[tuple[str, str]], cls: str) -> str:
    if not values:
        return f'<div><h3>{esc(title)}</h3><p class="empty {cls}">none</p></div>'
    rows = "".join(f"<tr><th>{esc(k)}</th><td><pre>{esc(v)}</pre></td></tr>" for k, v in values)
    return f'<div><h3>{esc(title)}</h3><table class="values {cls}">{rows}</table></div>'


def _error(a: ActionView) -> str:
    if not a.error_kind and not a.error_message:
        return ""
    return (
        f'<div class="error"><span class="error-kind">{esc(a.error_kind)}</span>'
        f'<pre class="error-message">{esc(a.error_message)}</pre></div>'
    )


def _logs(a: ActionView) -> str:
    if not a.logs:
        return '<p class="empty">no logs</p>'
    parts = []
    for log in a.logs:
        note = " (last part)" if log.truncated else ""
        text = f'<pre class="log">{esc(log.text)}</pre>' if log.text else '<p class="empty">no output</p>'
        parts.append(f"<h4>attempt {log.attempt}{note}</h4>{text}")
    return "".join(parts)


def _depths(run: RunView) -> dict[str, int]:
    parents = {a.name: a.parent for a in run.actions}
    depths: dict[str, int] = {}
    for a in run.actions:
        d, p, seen = 0, a.parent, {a.name}
        while p and p in parents and p not in seen:  # a broken parent link must not loop
            seen.add(p)
            d, p = d + 1, parents[p]
        depths[a.name] = d
    return depths


def _tree_order(run: RunView) -> list[ActionView]:
    """Depth-first: each action under its parent, siblings in creation order."""
    names = {a.name for a in run.actions}
    kids: dict[str, list[ActionView]] = {}
    for a in run.actions:
        kids.setdefault(a.parent if a.parent in names and a.parent != a.name else "", []).append(a)
    out: list[ActionView] = []
    stack = list(reversed(kids.get("", [])))
    while stack:
        a = stack.pop()
        if a in out:
            continue
        out.append(a)
        stack.extend(reversed(kids.get(a.name, [])))
    return out


def _timeline(run: RunView, selected: str, base: str) -> str:
    """The action tree, one row per action: name, phase, duration and its bar on the run's time axis."""
    starts = [a.start for a in run.actions if a.start is not None]
    t0 = min(starts) if starts else run.now
    t1 = max([(a.end if a.end is not None else run.now) for a in run.actions if a.start is not None] or [t0])
    span = max(t1 - t0, 1e-3)
    depths = _depths(run)
    rows = []
    for a in _tree_order(run):
        if a.start is not None:
            left = (a.start - t0) / span * 100
            width = max((a.duration(run.now) or 0.0) / span * 100, 0.5)
            bar = (
                f'<div class="bar phase-{esc(a.phase.lower())}" '
                f'style="left:{left:.2f}%;width:{min(width, 100 - left):.2f}%"></div>'
            )
        else:
            bar = ""
        cls = "action selected" if a.name == selected else "action"
        rows.append(
            f'<tr class="{cls}" data-action="{esc(a.name)}">'
            f'<td class="name" style="padding-left:{0.5 + depths[a.name] * 1.25:.2f}em">'
            f'<a href="{esc(base)}?i={esc(seg(a.name))}">{esc(a.name)}</a> <span class="task">{esc(a.task)}</span></td>'
            f'<td>{badge(a.phase)}</td><td class="duration">{esc(fmt_duration(a.duration(run.now)))}</td>'
            f'<td class="track">{bar}</td></tr>'
        )
    head = "<tr><th>action</th><th>phase</th><th>duration</th><th>timeline</th></tr>"
    return f'<table class="timeline">{head}{"".join(rows)}</table>'


def run_body(run: RunView, selected: str) -> str:
    """Everything inside ``<main>`` of a run page (also what the script swaps in while it runs)."""
    root = run.root
    sel = run.action(selected) or root
    base = run_path(run.project, run.domain, run.name)
    summary = "".join(
        f'<dt>{k}</dt><dd class="{c}">{v}</dd>'
        for k, c, v in [
            ("task", "task", esc(root.task)),
            ("phase", "phase-cell", badge(root.phase)),
            ("start", "start", esc(fmt_time(root.start))),
            ("end", "end", esc(fmt_time(root.end))),
            ("duration", "duration", esc(fmt_duration(root.duration(run.now)))),
            ("attempts", "attempts", esc(root.attempts)),
        ]
    )
    logs = "".join(
        f'<details class="action-logs" data-action="{esc(a.name)}"{" open" if a.name == sel.name else ""}>'
        f"<summary>{esc(a.name)} {badge(a.phase)}</summary>{_logs(a)}</details>"
        for a in _tree_order(run)
    )
    return (
        f'<h1 id="run-name">{esc(run.name)}</h1>'
        f'<dl class="summary" id="run-summary" data-phase="{esc(root.phase)}">{summary}</dl>'
        f'<div id="run-error">{_error(root)}</div>'
        f"<h2>Actions</h2>{_timeline(run, sel.name, base)}"
        f'<section class="selected-action" id="selected-action" data-action="{esc(sel.name)}">'
        f"<h2>Action {esc(sel.name)} {badge(sel.phase)}</h2>"
        f'<p class="meta">task {esc(sel.task)} &middot; start {esc(fmt_time(sel.start))} &middot; '
        f"end {esc(fmt_time(sel.end))} &middot; {esc(fmt_duration(sel.duration(run.now)))}</p>"
        f"{_error(sel) if sel is not root else ''}"
        f'<div class="io">{_values("Inputs", sel.inputs, "inputs")}{_values("Outputs", sel.outputs, "outputs")}</div>'
        f"</section><h2>Logs</h2>{logs}"
    )


def run_page(run: RunView, selected: str, poll: str) -> str:
    return page(
        f"{run.name} - {run.root.phase}", run_body(run, selected),
        project=run.project, domain=run.domain, poll=poll, terminal=run.terminal,
    )  # fmt: skip


def runs_page(project: str, domain: str, runs: RunPage, *, phase: str, task: str) -> str:
    base = runs_path(project, domain)
    now = time.time()
    options = "".join(
        f'<option value="{p}"{" selected" if p == phase.upper() else ""}>{p}</option>' for p in ["", *PHASES]
    )
    form = (
        f'<form class="filters" method="get" action="{esc(base)}">'
        f'<label>phase <select name="phase">{options}</select></label>'
        f'<label>task <input name="task" value="{esc(task)}"></label>'
        f'<input type="hidden" name="size" value="{runs.size}"><button type="submit">filter</button></form>'
    )
    rows = "".join(
        f'<tr class="run" data-run="{esc(r.name)}"><td><a href="{esc(base)}/{esc(seg(r.name))}">{esc(r.name)}</a></td>'
        f'<td>{badge(r.phase)}</td><td class="task">{esc(r.task)}</td>'
        f'<td>{esc(fmt_time(r.start))}</td><td class="duration">{esc(fmt_duration(r.duration(now)))}</td></tr>'
        for r in runs.rows
    )
    head = "<tr><th>run</th><th>phase</th><th>task</th><th>start</th><th>duration</th></tr>"
    table = f'<table class="runs">{head}{rows}</table>' if runs.rows else '<p class="empty">no runs</p>'

    def link(p: int, label: str, rel: str) -> str:
        q = urlencode({k: v for k, v in [("phase", phase), ("task", task)] if v} | {"page": p, "size": runs.size})
        return f'<a rel="{rel}" class="{rel}" href="{esc(base)}?{esc(q)}">{label}</a>'

    nav = [link(runs.page - 1, "&larr; newer", "prev")] if runs.page > 1 else []
    nav.append(f'<span class="page-no">page {runs.page} of {runs.pages} ({runs.total} runs)</span>')
    if runs.page < runs.pages:
        nav.append(link(runs.page + 1, "older &rarr;", "next"))
    body = f'<h1>Runs</h1>{form}{table}<nav class="pager">{" ".join(nav)}</nav>'
    return page(f"runs - {project}/{domain}", body, project=project, domain=domain)


def message_page(title: str, text: str, *, project: str = "", domain: str = "", extra: str = "") -> str:
    body = f'<h1 class="message-title">{esc(title)}</h1><p class="message">{esc(text)}</p>{extra}'
    return page(title, body, project=project, domain=domain)


TOKEN_FORM = (
    '<form id="token-form" class="filters"><label>access token <input id="token-input" type="password" '
    'autocomplete="off"></label><button type="submit">sign in</button></form>'
)
