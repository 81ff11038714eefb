"""The devserver's web console: the run pages that the client's run URLs point at.

* :mod:`.state` reads a run, its actions, data and logs through the engine's query
  methods (the same ``ActionStore``/``Attempts`` calls RunService and TailLogs make) into
  plain view objects, and their JSON form.
* :mod:`.pages` renders those views as HTML (string templates, every value escaped).
* :mod:`.app` is the ASGI app the router sends ``/v2/...`` to: the run page, its JSON,
  the run list, the static script and style, and the bearer check when auth is on.
* ``static/``: ``console.js`` (polls a running run's JSON and swaps the page body) and
  ``console.css``. No build step: both are served as they are.

It sits beside ``services/`` and imports only the engine and the public codec.
"""
