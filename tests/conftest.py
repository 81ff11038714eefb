"""Suite-wide settings: the devserver fixture comes from the package's pytest plugin; the official
SDK's fixtures (a devserver for SDK-deployed tasks, shared by every folder) from sdk_support."""

from tests.sdk_support import sdk_deployed, sdk_server

__all__ = ["sdk_deployed", "sdk_server"]
