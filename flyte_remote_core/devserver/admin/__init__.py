"""Test control: the admin API, in process (:class:`~.handle.AdminHandle`) and over the wire.

``control`` counts calls and injects faults on every Flyte service (an interceptor);
``ops`` are the admin operations on the engine and the control; ``handle`` is the
thread-safe in-process face; ``service`` serves ``flyte_devserver.admin.v1.AdminService``
with the messages of ``_pb`` (generated from ``protos/`` by ``protos/generate.sh``).
The admin room does not know the server: the server hands it what it needs.
"""
