from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class HoldRunsRequest(_message.Message):
    __slots__ = ("run_names", "all_new_runs")
    RUN_NAMES_FIELD_NUMBER: _ClassVar[int]
    ALL_NEW_RUNS_FIELD_NUMBER: _ClassVar[int]
    run_names: _containers.RepeatedScalarFieldContainer[str]
    all_new_runs: bool
    def __init__(self, run_names: _Optional[_Iterable[str]] = ..., all_new_runs: _Optional[bool] = ...) -> None: ...

class HoldRunsResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReleaseRunsRequest(_message.Message):
    __slots__ = ("run_names", "all")
    RUN_NAMES_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    run_names: _containers.RepeatedScalarFieldContainer[str]
    all: bool
    def __init__(self, run_names: _Optional[_Iterable[str]] = ..., all: _Optional[bool] = ...) -> None: ...

class ReleaseRunsResponse(_message.Message):
    __slots__ = ("released",)
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    released: int
    def __init__(self, released: _Optional[int] = ...) -> None: ...

class FailNextRequest(_message.Message):
    __slots__ = ("method", "code", "count", "message")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    method: str
    code: int
    count: int
    message: str
    def __init__(self, method: _Optional[str] = ..., code: _Optional[int] = ..., count: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class FailNextResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ClearFaultsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ClearFaultsResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DropStreamsRequest(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class DropStreamsResponse(_message.Message):
    __slots__ = ("dropped",)
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    dropped: int
    def __init__(self, dropped: _Optional[int] = ...) -> None: ...

class GetCountersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCountersResponse(_message.Message):
    __slots__ = ("counters",)
    class CountersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    counters: _containers.ScalarMap[str, int]
    def __init__(self, counters: _Optional[_Mapping[str, int]] = ...) -> None: ...

class ResetCountersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ResetCountersResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("open_streams", "held_runs", "hold_all_new_runs", "data_dir", "endpoint", "runs", "jobs_in_flight")
    OPEN_STREAMS_FIELD_NUMBER: _ClassVar[int]
    HELD_RUNS_FIELD_NUMBER: _ClassVar[int]
    HOLD_ALL_NEW_RUNS_FIELD_NUMBER: _ClassVar[int]
    DATA_DIR_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    JOBS_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    open_streams: int
    held_runs: _containers.RepeatedScalarFieldContainer[str]
    hold_all_new_runs: bool
    data_dir: str
    endpoint: str
    runs: int
    jobs_in_flight: int
    def __init__(self, open_streams: _Optional[int] = ..., held_runs: _Optional[_Iterable[str]] = ..., hold_all_new_runs: _Optional[bool] = ..., data_dir: _Optional[str] = ..., endpoint: _Optional[str] = ..., runs: _Optional[int] = ..., jobs_in_flight: _Optional[int] = ...) -> None: ...
