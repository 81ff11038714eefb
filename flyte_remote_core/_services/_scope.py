"""Where calls go: the org and the default project and domain, and the identifiers built from them."""

from __future__ import annotations

from dataclasses import dataclass

from flyteidl2.common import identifier_pb2


@dataclass(frozen=True)
class Scope:
    """An org with default project and domain; every call may name another project or domain."""

    org: str
    project: str
    domain: str

    def resolve(self, project: str | None, domain: str | None) -> tuple[str, str]:
        return project or self.project, domain or self.domain

    def project_id(self, project: str | None = None, domain: str | None = None) -> identifier_pb2.ProjectIdentifier:
        project, domain = self.resolve(project, domain)
        return identifier_pb2.ProjectIdentifier(organization=self.org, domain=domain, name=project)

    def run_id(self, name: str, project: str | None = None, domain: str | None = None) -> identifier_pb2.RunIdentifier:
        project, domain = self.resolve(project, domain)
        return identifier_pb2.RunIdentifier(org=self.org, project=project, domain=domain, name=name)
