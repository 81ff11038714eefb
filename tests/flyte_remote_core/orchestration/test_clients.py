"""ClientSlot and SharedClients: how integrations get and close clients, with real clients."""

from __future__ import annotations

import asyncio
import os

import pytest

from flyte_remote_core import FlyteClient
from flyte_remote_core.orchestration import ClientSlot, SharedClients, settings_key

pytestmark = pytest.mark.timeout(60)


def test_a_slot_builds_once_per_process_and_closes(flyte_devserver, monkeypatch) -> None:
    built: list[FlyteClient] = []

    def factory() -> FlyteClient:
        built.append(FlyteClient(flyte_devserver.endpoint, insecure=True))
        return built[-1]

    slot: ClientSlot[FlyteClient] = ClientSlot()
    first = slot.get(factory)
    assert slot.get(factory) is first and slot.built
    assert first.get_task("sample_tasks.add").name == "sample_tasks.add"
    # In a forked child the inherited client is unusable: the slot builds a new one (and never closes the parent's).
    real_pid = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: real_pid + 1)
    child = slot.get(factory)
    assert child is not first and len(built) == 2
    slot.close()
    monkeypatch.undo()
    assert not slot.built
    slot.close()  # twice is fine
    for client in built:
        client.close()


async def test_shared_clients_are_one_per_settings_and_loop_and_close_with_the_last_lease(flyte_devserver) -> None:
    shared: SharedClients[FlyteClient] = SharedClients()
    settings = {"endpoint": flyte_devserver.endpoint, "insecure": True}
    built: list[FlyteClient] = []

    def factory(**extra) -> FlyteClient:
        built.append(FlyteClient(**{**settings, **extra}))
        return built[-1]

    async with shared.lease(settings, factory) as a, shared.lease(dict(settings), factory) as b:
        assert a is b and len(built) == 1 and len(shared) == 1
        other = {**settings, "project": "other"}
        async with shared.lease(other, lambda: factory(project="other")) as c:
            assert c is not a and len(shared) == 2
        assert len(shared) == 1  # the last lease of `other` closed its client
        task = await a.get_task.aio("sample_tasks.add")
        assert task.name == "sample_tasks.add"
    assert len(shared) == 0
    async with shared.lease(settings, factory) as again:
        assert again is not a  # a new lease after the last one ended gets a fresh client
    await asyncio.sleep(0)
    for client in built:
        client.close()


def test_settings_keys_hide_the_settings() -> None:
    key = settings_key({"api_key": "very-secret-key", "endpoint": "h:1"})
    assert "very-secret-key" not in key and key == settings_key({"endpoint": "h:1", "api_key": "very-secret-key"})
