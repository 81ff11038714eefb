"""Which Python runs deployed task specs: the one given, else the devserver's own if it has ``flyte``."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["OPTION_HINT", "SdkPython", "resolve_sdk_python"]

OPTION_HINT = (
    "point the devserver at the Python of the project's environment (the one with the flyte SDK "
    "installed): `flyte-devserver --sdk-python PATH`, `DevServer(sdk_python=PATH)`, or "
    '`flyte_devserver_options` {"sdk_python": PATH} for the pytest fixture'
)


@dataclass(frozen=True)
class SdkPython:
    """The interpreter for the ``a0`` runtime, or why there is none."""

    path: str | None
    problem: str = ""  # set when path is None

    @property
    def available(self) -> bool:
        return self.path is not None


def resolve_sdk_python(configured: str | os.PathLike[str] | None) -> SdkPython:
    """``configured`` (a path, or a name on PATH) when given; else ``sys.executable`` if it can import ``flyte``.

    Cheap: the SDK is found, not imported (a bad environment shows in the task's own log).
    """
    if configured:
        text = os.fspath(configured)
        found = shutil.which(text) if os.sep not in text else text
        path = Path(found) if found else Path(text)
        if not path.is_file() or not os.access(path, os.X_OK):
            return SdkPython(None, f"--sdk-python {text!r} is not an executable file")
        return SdkPython(str(path.absolute()))
    if importlib.util.find_spec("flyte") is not None:  # found, not imported
        return SdkPython(sys.executable)
    return SdkPython(None, f"the devserver's Python ({sys.executable}) cannot import flyte")
