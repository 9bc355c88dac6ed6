from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATUS_UNSPECIFIED: _ClassVar[Status]
    OK: _ClassVar[Status]
    NONZERO_EXIT: _ClassVar[Status]
    TIMEOUT: _ClassVar[Status]
    MEMORY_LIMIT: _ClassVar[Status]
    OUTPUT_LIMIT: _ClassVar[Status]
    SIGNALED: _ClassVar[Status]
    SANDBOX_ERROR: _ClassVar[Status]
    INVALID_REQUEST: _ClassVar[Status]
    COMPILE_ERROR: _ClassVar[Status]

class TimeoutKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIMEOUT_KIND_UNSPECIFIED: _ClassVar[TimeoutKind]
    CPU: _ClassVar[TimeoutKind]
    WALL: _ClassVar[TimeoutKind]
STATUS_UNSPECIFIED: Status
OK: Status
NONZERO_EXIT: Status
TIMEOUT: Status
MEMORY_LIMIT: Status
OUTPUT_LIMIT: Status
SIGNALED: Status
SANDBOX_ERROR: Status
INVALID_REQUEST: Status
COMPILE_ERROR: Status
TIMEOUT_KIND_UNSPECIFIED: TimeoutKind
CPU: TimeoutKind
WALL: TimeoutKind

class Limits(_message.Message):
    __slots__ = ("cpu_time_ms", "wall_time_ms", "memory_bytes", "output_bytes")
    CPU_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    WALL_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    cpu_time_ms: int
    wall_time_ms: int
    memory_bytes: int
    output_bytes: int
    def __init__(self, cpu_time_ms: _Optional[int] = ..., wall_time_ms: _Optional[int] = ..., memory_bytes: _Optional[int] = ..., output_bytes: _Optional[int] = ...) -> None: ...

class ExecuteRequest(_message.Message):
    __slots__ = ("id", "language", "source", "stdin", "limits", "files", "compile_limits", "run_files", "args", "held_files")
    class FilesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    class RunFilesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    class HeldFilesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    COMPILE_LIMITS_FIELD_NUMBER: _ClassVar[int]
    RUN_FILES_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    HELD_FILES_FIELD_NUMBER: _ClassVar[int]
    id: str
    language: str
    source: bytes
    stdin: bytes
    limits: Limits
    files: _containers.ScalarMap[str, bytes]
    compile_limits: Limits
    run_files: _containers.ScalarMap[str, bytes]
    args: _containers.RepeatedScalarFieldContainer[str]
    held_files: _containers.ScalarMap[str, str]
    def __init__(self, id: _Optional[str] = ..., language: _Optional[str] = ..., source: _Optional[bytes] = ..., stdin: _Optional[bytes] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., files: _Optional[_Mapping[str, bytes]] = ..., compile_limits: _Optional[_Union[Limits, _Mapping]] = ..., run_files: _Optional[_Mapping[str, bytes]] = ..., args: _Optional[_Iterable[str]] = ..., held_files: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Runtime(_message.Message):
    __slots__ = ("language", "interpreter", "version", "compiler")
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    INTERPRETER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    COMPILER_FIELD_NUMBER: _ClassVar[int]
    language: str
    interpreter: str
    version: str
    compiler: str
    def __init__(self, language: _Optional[str] = ..., interpreter: _Optional[str] = ..., version: _Optional[str] = ..., compiler: _Optional[str] = ...) -> None: ...

class CompileResult(_message.Message):
    __slots__ = ("status", "timeout_kind", "exit_code", "stdout", "stderr", "wall_time_ms", "cpu_time_ms", "memory_bytes", "cached")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_KIND_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    WALL_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    CPU_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    status: Status
    timeout_kind: TimeoutKind
    exit_code: int
    stdout: bytes
    stderr: bytes
    wall_time_ms: int
    cpu_time_ms: int
    memory_bytes: int
    cached: bool
    def __init__(self, status: _Optional[_Union[Status, str]] = ..., timeout_kind: _Optional[_Union[TimeoutKind, str]] = ..., exit_code: _Optional[int] = ..., stdout: _Optional[bytes] = ..., stderr: _Optional[bytes] = ..., wall_time_ms: _Optional[int] = ..., cpu_time_ms: _Optional[int] = ..., memory_bytes: _Optional[int] = ..., cached: _Optional[bool] = ...) -> None: ...

class ExecuteResponse(_message.Message):
    __slots__ = ("id", "status", "timeout_kind", "exit_code", "signal", "stdout", "stderr", "stdout_truncated", "stderr_truncated", "report", "wall_time_ms", "cpu_time_ms", "memory_bytes", "runtime", "limits", "error", "compile", "rejected")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_KIND_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    STDOUT_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    STDERR_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    WALL_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    CPU_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    COMPILE_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: Status
    timeout_kind: TimeoutKind
    exit_code: int
    signal: int
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    stderr_truncated: bool
    report: bytes
    wall_time_ms: int
    cpu_time_ms: int
    memory_bytes: int
    runtime: Runtime
    limits: Limits
    error: str
    compile: CompileResult
    rejected: bool
    def __init__(self, id: _Optional[str] = ..., status: _Optional[_Union[Status, str]] = ..., timeout_kind: _Optional[_Union[TimeoutKind, str]] = ..., exit_code: _Optional[int] = ..., signal: _Optional[int] = ..., stdout: _Optional[bytes] = ..., stderr: _Optional[bytes] = ..., stdout_truncated: _Optional[bool] = ..., stderr_truncated: _Optional[bool] = ..., report: _Optional[bytes] = ..., wall_time_ms: _Optional[int] = ..., cpu_time_ms: _Optional[int] = ..., memory_bytes: _Optional[int] = ..., runtime: _Optional[_Union[Runtime, _Mapping]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., error: _Optional[str] = ..., compile: _Optional[_Union[CompileResult, _Mapping]] = ..., rejected: _Optional[bool] = ...) -> None: ...

class RequestChunk(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[ExecuteRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[ExecuteRequest, _Mapping]]] = ...) -> None: ...

class ResponseChunk(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[ExecuteResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[ExecuteResponse, _Mapping]]] = ...) -> None: ...

class GetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerInfo(_message.Message):
    __slots__ = ("version", "runtimes", "default_limits", "max_limits", "max_source_bytes", "max_tasks", "tmpfs_bytes", "isolation", "concurrency", "endpoints", "processes", "packages", "preloaded", "held_files")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RUNTIMES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_LIMITS_FIELD_NUMBER: _ClassVar[int]
    MAX_LIMITS_FIELD_NUMBER: _ClassVar[int]
    MAX_SOURCE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_TASKS_FIELD_NUMBER: _ClassVar[int]
    TMPFS_BYTES_FIELD_NUMBER: _ClassVar[int]
    ISOLATION_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    PROCESSES_FIELD_NUMBER: _ClassVar[int]
    PACKAGES_FIELD_NUMBER: _ClassVar[int]
    PRELOADED_FIELD_NUMBER: _ClassVar[int]
    HELD_FILES_FIELD_NUMBER: _ClassVar[int]
    version: str
    runtimes: _containers.RepeatedCompositeFieldContainer[Runtime]
    default_limits: Limits
    max_limits: Limits
    max_source_bytes: int
    max_tasks: int
    tmpfs_bytes: int
    isolation: _containers.RepeatedScalarFieldContainer[str]
    concurrency: int
    endpoints: _containers.RepeatedScalarFieldContainer[str]
    processes: int
    packages: _containers.RepeatedCompositeFieldContainer[Package]
    preloaded: _containers.RepeatedScalarFieldContainer[str]
    held_files: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, version: _Optional[str] = ..., runtimes: _Optional[_Iterable[_Union[Runtime, _Mapping]]] = ..., default_limits: _Optional[_Union[Limits, _Mapping]] = ..., max_limits: _Optional[_Union[Limits, _Mapping]] = ..., max_source_bytes: _Optional[int] = ..., max_tasks: _Optional[int] = ..., tmpfs_bytes: _Optional[int] = ..., isolation: _Optional[_Iterable[str]] = ..., concurrency: _Optional[int] = ..., endpoints: _Optional[_Iterable[str]] = ..., processes: _Optional[int] = ..., packages: _Optional[_Iterable[_Union[Package, _Mapping]]] = ..., preloaded: _Optional[_Iterable[str]] = ..., held_files: _Optional[_Iterable[str]] = ...) -> None: ...

class Package(_message.Message):
    __slots__ = ("language", "name", "version")
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    language: str
    name: str
    version: str
    def __init__(self, language: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...
