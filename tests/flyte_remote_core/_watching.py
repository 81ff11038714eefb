"""Test helper: reach the process-wide shared watcher a client's waits go through."""

from __future__ import annotations

from typing import Any

from flyte_remote_core._watcher import SharedWatcher, shared_watcher


def watcher_of(client: Any) -> SharedWatcher:
    """The watcher for ``client``'s endpoint on the running event loop."""
    return shared_watcher(client.config.key(), client._make_channel)
