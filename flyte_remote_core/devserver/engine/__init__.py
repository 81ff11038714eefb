"""The engine: the devserver's state and its state machine, below the wire services.

Bottom up: ``model`` (phases, names, identifiers), ``store`` (SQLite), ``events``
(change notification for watch streams), ``listing`` (pages, filters, queries);
``catalog`` (projects, tasks), ``actions`` (runs and actions), ``holds``, ``queue``
(jobs handed to the execution runner), ``attempts`` (the attempt state machine),
``runs`` (CreateRun), ``children`` (nested actions, EnqueueAction), ``triggers`` and
``scheduler``, ``secrets``, ``recovery`` (a restart resumes what the last process left
live); ``engine`` assembles them. Everything runs on the server's
event loop. The engine imports only ``execution`` (its interface and its task registry)
from the rest of the devserver.
"""
