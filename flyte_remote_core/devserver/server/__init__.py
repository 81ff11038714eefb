"""The server: the ASGI router, the wiring that assembles the rest, the DevServer lifecycle, the CLI.

``config`` checks the options, ``thread`` serves an ASGI app with hypercorn in a thread,
``app`` routes paths to the services, ``wiring`` assembles every room below, ``devserver``
is the lifecycle and its accessors, ``cli`` is ``flyte-devserver``. The top room:
nothing below imports it.
"""
