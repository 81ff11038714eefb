"""connectrpc side of the devserver's auth: the AuthMetadata and Identity services
and the server interceptor that requires a live bearer token on every other service.
"""

from __future__ import annotations

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext
from flyteidl2.auth import auth_service_pb2, identity_pb2

from .grants import DEVICE_GRANT, PUBLIC_PATHS, Issuer
from .tokens import TokenBook


class AuthMetadataService:
    """``flyteidl2.auth.AuthMetadataService`` for connectrpc (public: no token needed)."""

    def __init__(self, issuer: Issuer) -> None:
        self._issuer = issuer

    async def get_o_auth2_metadata(
        self, request: auth_service_pb2.GetOAuth2MetadataRequest, ctx: RequestContext
    ) -> auth_service_pb2.GetOAuth2MetadataResponse:
        base = self._issuer.base_url
        return auth_service_pb2.GetOAuth2MetadataResponse(
            issuer=base,
            token_endpoint=f"{base}/oauth2/token",
            device_authorization_endpoint=f"{base}/oauth2/device/code",
            response_types_supported=["token"],
            scopes_supported=list(self._issuer.scopes),
            token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
            grant_types_supported=["client_credentials", DEVICE_GRANT, "refresh_token"],
        )

    async def get_public_client_config(
        self, request: auth_service_pb2.GetPublicClientConfigRequest, ctx: RequestContext
    ) -> auth_service_pb2.GetPublicClientConfigResponse:
        return auth_service_pb2.GetPublicClientConfigResponse(
            client_id=self._issuer.public_client_id,
            scopes=list(self._issuer.scopes),
            authorization_metadata_key="authorization",
            audience=self._issuer.audience,
        )


class IdentityService:
    """``flyteidl2.auth.IdentityService.UserInfo``: who the caller's token belongs to."""

    def __init__(self, tokens: TokenBook) -> None:
        self._tokens = tokens

    async def user_info(
        self, request: identity_pb2.UserInfoRequest, ctx: RequestContext
    ) -> identity_pb2.UserInfoResponse:
        token = self._tokens.token_from_header(ctx.request_headers().get("authorization"))
        grant = self._tokens.grant_for(token) if token else None
        if grant is None:
            raise ConnectError(Code.UNAUTHENTICATED, "missing or invalid bearer token")
        return identity_pb2.UserInfoResponse(subject=grant.subject, name=grant.name, preferred_username=grant.subject)


class BearerCheckInterceptor:
    """connectrpc server interceptor (metadata kind): UNAUTHENTICATED without a live token."""

    def __init__(self, tokens: TokenBook, *, public_paths: tuple[str, ...] = PUBLIC_PATHS) -> None:
        self._tokens = tokens
        self._public = public_paths

    async def on_start(self, ctx: RequestContext) -> None:
        method = ctx.method()  # connectrpc 0.10: accessors are methods
        path = f"/{method.service_name}/{method.name}"
        if any(path.startswith(p) for p in self._public):
            return
        if self._tokens.token_from_header(ctx.request_headers().get("authorization")) is None:
            raise ConnectError(Code.UNAUTHENTICATED, "missing or invalid bearer token")

    async def on_end(self, token: None, ctx: RequestContext, error: Exception | None) -> None:
        return None
