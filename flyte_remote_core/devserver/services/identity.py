"""IdentityService while auth is off: every caller is the same local user."""

from __future__ import annotations

from connectrpc.request import RequestContext
from flyteidl2.auth import identity_pb2
from flyteidl2.auth.identity_connect import IdentityService


class IdentityFallback(IdentityService):
    async def user_info(
        self, request: identity_pb2.UserInfoRequest, ctx: RequestContext
    ) -> identity_pb2.UserInfoResponse:
        return identity_pb2.UserInfoResponse(
            subject="local", name="Local User", preferred_username="local", email="local@localhost"
        )
