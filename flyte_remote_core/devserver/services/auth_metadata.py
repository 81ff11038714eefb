"""AuthMetadataService while auth is off: answers like the open-source backend."""

from __future__ import annotations

from dataclasses import dataclass

from connectrpc.request import RequestContext
from flyteidl2.auth import auth_service_pb2
from flyteidl2.auth.auth_service_connect import AuthMetadataService


@dataclass(eq=False)
class AuthMetadataFallback(AuthMetadataService):
    """The header key is ``authorization``; the endpoints are this server's own."""

    base_url: str

    async def get_o_auth2_metadata(
        self, request: auth_service_pb2.GetOAuth2MetadataRequest, ctx: RequestContext
    ) -> auth_service_pb2.GetOAuth2MetadataResponse:
        base = self.base_url
        return auth_service_pb2.GetOAuth2MetadataResponse(
            issuer=base,
            authorization_endpoint=f"{base}/oauth2/authorize",
            token_endpoint=f"{base}/oauth2/token",
            response_types_supported=["code", "token"],
            scopes_supported=["all"],
            token_endpoint_auth_methods_supported=["client_secret_basic"],
            grant_types_supported=["client_credentials"],
        )

    async def get_public_client_config(
        self, request: auth_service_pb2.GetPublicClientConfigRequest, ctx: RequestContext
    ) -> auth_service_pb2.GetPublicClientConfigResponse:
        return auth_service_pb2.GetPublicClientConfigResponse(
            client_id="flytectl",
            redirect_uri="http://localhost:53593/callback",
            scopes=["all"],
            authorization_metadata_key="authorization",
        )
