"""Execution: how a task runs.

``interface`` is what the engine sees (a job, its updates, a runner); ``pool`` runs
jobs in worker processes (``worker`` is the child side); ``registry`` turns the plain
functions of ``--tasks`` modules into tasks, and ``options`` holds ``task_options``.

Nothing here imports the engine. This package and ``worker`` import nothing heavy: every
worker process, and every tasks module using ``task_options``, loads them.
"""
