"""References to data that lives in object storage: files, directories and data frames.

A ref carries only a URI (and an optional format such as ``"csv"`` or ``"parquet"``);
nothing is downloaded or uploaded when one is built or decoded. On the wire:

* :class:`FileRef` is ``Scalar.blob`` with ``BlobType.SINGLE``,
* :class:`DirRef` is ``Scalar.blob`` with ``BlobType.MULTIPART``,
* :class:`DataFrameRef` is ``Scalar.structured_dataset``,

which is how the official SDK encodes ``flyte.io.File``, ``flyte.io.Dir`` and
``flyte.io.DataFrame``. Wherever one of these types is declared, a plain ``str`` URI is
accepted too.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DataFrameRef", "DirRef", "FileRef"]


def _check(kind: str, uri: object, format: object) -> None:
    # Fail at construction: a ref with a non-string URI would only break much later, on the wire.
    if not isinstance(uri, str) or not uri:
        raise TypeError(f"{kind}.uri must be a non-empty str, got {type(uri).__name__}")
    if not isinstance(format, str):
        raise TypeError(f"{kind}.format must be a str, got {type(format).__name__}")


@dataclass(frozen=True)
class FileRef:
    """A single file in storage (``s3://bucket/key.csv``, ``file:///tmp/x``)."""

    uri: str
    format: str = ""

    def __post_init__(self) -> None:
        _check("FileRef", self.uri, self.format)


@dataclass(frozen=True)
class DirRef:
    """A directory (a prefix holding many objects) in storage."""

    uri: str
    format: str = ""

    def __post_init__(self) -> None:
        _check("DirRef", self.uri, self.format)


@dataclass(frozen=True)
class DataFrameRef:
    """A tabular data set in storage (the SDK's ``flyte.io.DataFrame``)."""

    uri: str
    format: str = ""

    def __post_init__(self) -> None:
        _check("DataFrameRef", self.uri, self.format)
