"""SecretService: secrets are stored, but Get and List never return their values."""

from __future__ import annotations

from dataclasses import dataclass

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext
from flyteidl2.secret import payload_pb2 as spay
from flyteidl2.secret.secret_connect import SecretService

from ..engine.listing import token_window
from ..engine.secrets import SecretBook, secret_key


@dataclass(eq=False)
class SecretServiceImpl(SecretService):
    secrets: SecretBook

    async def create_secret(self, request: spay.CreateSecretRequest, ctx: RequestContext) -> spay.CreateSecretResponse:
        key = secret_key(request.id)
        if request.secret_spec.WhichOneof("value") is None:
            raise ConnectError(Code.INVALID_ARGUMENT, "secret_spec needs a string_value or a binary_value")
        self.secrets.create(key, request.secret_spec)
        return spay.CreateSecretResponse()

    async def update_secret(self, request: spay.UpdateSecretRequest, ctx: RequestContext) -> spay.UpdateSecretResponse:
        self.secrets.update(secret_key(request.id), request.secret_spec)
        return spay.UpdateSecretResponse()

    async def get_secret(self, request: spay.GetSecretRequest, ctx: RequestContext) -> spay.GetSecretResponse:
        return spay.GetSecretResponse(secret=self.secrets.get(secret_key(request.id)))

    async def delete_secret(self, request: spay.DeleteSecretRequest, ctx: RequestContext) -> spay.DeleteSecretResponse:
        self.secrets.delete(secret_key(request.id))
        return spay.DeleteSecretResponse()

    async def list_secrets(self, request: spay.ListSecretsRequest, ctx: RequestContext) -> spay.ListSecretsResponse:
        found = self.secrets.list(request.organization, request.project, request.domain)
        window, token = token_window(found, request.token, request.limit)
        return spay.ListSecretsResponse(secrets=window, token=token)
