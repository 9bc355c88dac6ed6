"""sandcheck: score model-generated code by running it in a hardened sandbox.

The SDK needs no server dependencies: it talks gRPC to a sandcheck server
(or starts an embedded one when the ``server`` extra is installed).
"""

from ._exceptions import (
    EmbeddedServerError,
    InvalidInput,
    InvalidRequest,
    SandcheckError,
    ServerError,
    Unavailable,
)
from sandcheck_api.status import Status, TimeoutKind

from ._types import CompileResult, ExecutionResult, Limits
from .judges.function import Check, build_check, check_program, verdict
from .client import AsyncClient, Client, Program
from .code_eval import code_eval
from .data import read_jsonl, read_problems, read_samples, write_jsonl
from .embedded import EmbeddedServer
from .judges.run import Evaluation, evaluate
from .metrics import mean_pass_at_k, pass_at_k

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """Submodules on first use, so that `import sandcheck; sandcheck.datasets.load_dataset(...)` works
    without every import paying for every module."""
    import importlib

    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None

__all__ = [
    "AsyncClient",
    "Check",
    "Client",
    "CompileResult",
    "EmbeddedServer",
    "EmbeddedServerError",
    "Evaluation",
    "ExecutionResult",
    "InvalidInput",
    "InvalidRequest",
    "Limits",
    "Program",
    "SandcheckError",
    "ServerError",
    "Status",
    "TimeoutKind",
    "Unavailable",
    "build_check",
    "check_program",
    "code_eval",
    "evaluate",
    "mean_pass_at_k",
    "pass_at_k",
    "read_jsonl",
    "read_problems",
    "read_samples",
    "verdict",
    "write_jsonl",
]
