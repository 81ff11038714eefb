"""Secrets in the store. Values are kept, but never handed out: reads give metadata only."""

from __future__ import annotations

import time
from dataclasses import dataclass

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from flyteidl2.secret import definition_pb2 as sdef

from .model import not_found, ts
from .store import Row, Store

SecretKey = tuple[str, str, str, str]  # (org, project, domain, name)


def secret_key(sid: sdef.SecretIdentifier) -> SecretKey:
    if not sid.name:
        raise ConnectError(Code.INVALID_ARGUMENT, "secret id needs a name")
    return (sid.organization, sid.project, sid.domain, sid.name)


def _secret(key: SecretKey, created_at: float, spec_blob: bytes) -> sdef.Secret:
    spec = sdef.SecretSpec.FromString(spec_blob)
    s = sdef.Secret(id=sdef.SecretIdentifier(organization=key[0], project=key[1], domain=key[2], name=key[3]))
    s.secret_metadata.created_time.CopyFrom(ts(created_at))
    s.secret_metadata.type = spec.type
    s.secret_metadata.secret_status.overall_status = sdef.FULLY_PRESENT
    return s


@dataclass(eq=False)
class SecretBook:
    store: Store

    def _row(self, key: SecretKey) -> Row | None:
        return self.store.one(
            "SELECT created_at, spec FROM secrets WHERE org=? AND project=? AND domain=? AND name=?", key
        )

    def _require(self, key: SecretKey) -> Row:
        row = self._row(key)
        if row is None:
            raise not_found(f"secret {key[3]!r}")
        return row

    def create(self, key: SecretKey, spec: sdef.SecretSpec) -> None:
        if self._row(key) is not None:
            raise ConnectError(Code.ALREADY_EXISTS, f"secret {key[3]!r} already exists")
        self.store.execute(
            "INSERT INTO secrets (org, project, domain, name, created_at, spec) VALUES (?, ?, ?, ?, ?, ?)",
            (*key, time.time(), spec.SerializeToString()),
        )

    def update(self, key: SecretKey, spec: sdef.SecretSpec) -> None:
        self._require(key)
        self.store.execute(
            "UPDATE secrets SET spec=? WHERE org=? AND project=? AND domain=? AND name=?",
            (spec.SerializeToString(), *key),
        )

    def get(self, key: SecretKey) -> sdef.Secret:
        row = self._require(key)
        return _secret(key, row[0], row[1])

    def delete(self, key: SecretKey) -> None:
        self._require(key)
        self.store.execute("DELETE FROM secrets WHERE org=? AND project=? AND domain=? AND name=?", key)

    def list(self, org: str, project: str, domain: str) -> list[sdef.Secret]:
        """The scope's secrets, by name."""
        rows = self.store.all(
            "SELECT org, project, domain, name, created_at, spec FROM secrets WHERE org=? AND project=? AND domain=?"
            " ORDER BY name",
            (org, project, domain),
        )
        return [_secret((r[0], r[1], r[2], r[3]), r[4], r[5]) for r in rows]
