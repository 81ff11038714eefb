"""The devserver's auth (``--auth``): client credentials, API keys, bearer tokens, device flow.

``grants`` (shared records and expiry) is at the bottom; ``clients``, ``tokens`` and
``device`` keep their own tables under one lock; ``oauth`` is the ``/oauth2/...`` HTTP
endpoint and ``services`` the connectrpc side (AuthMetadata, Identity, the bearer
check); ``manager`` assembles them as :class:`~.manager.AuthManager`. Nothing here
imports the rest of the devserver.
"""
