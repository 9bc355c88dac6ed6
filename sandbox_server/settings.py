"""Load the effective ServerConfig: defaults < TOML file < SANDCHECK_* env < flags.

The loader is generic over the `ServerConfig` dataclass: every field is a
TOML key, and every nested dataclass (limits, jail shape, and whatever later
sections such as auth, tenants or a warm pool add) is a TOML table. So a new
config field needs no loader change. Values are checked against the field's
type here, at start-up, so a typo fails loudly instead of running with a
default the operator did not mean.

Environment variables name a field path in upper case, joined by `__`:
`SANDCHECK_CONCURRENCY=8`, `SANDCHECK_DEFAULT_LIMITS__MEMORY_BYTES=512MiB`.
Lists are comma-separated; dicts are JSON. Fields ending in `_bytes` also
accept sizes such as `64MiB` or `1GiB`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config import MAX_CONCURRENCY_FLOOR, MAX_CONCURRENCY_PER_CPU, ServerConfig, max_concurrency

log = logging.getLogger("sandcheck.settings")

ENV_PREFIX = "SANDCHECK_"
# Sections the configuration does not have (yet): tokens, TLS and tenants are
# set with flags (auth.py). A config that sets them is refused, because
# silently ignoring an [auth] table would run an open server that its
# operator believes is protected. Once ServerConfig grows such a field, the
# generic loader picks it up and this refusal no longer applies to it.
PENDING_SECTIONS = ("auth", "tenants")

_SIZE = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB|GiB|KB|MB|GB|K|M|G)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": 1024**2, "mib": 1024**2, "mb": 1000**2,
          "g": 1024**3, "gib": 1024**3, "gb": 1000**3}


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key and the source."""


def parse_host_port(listen: str) -> tuple[str, int]:
    """'HOST:PORT' or '[v6]:PORT' to (host, port); raise ValueError with the reason."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--metrics-listen wants HOST:PORT, got {listen!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def parse_size(text: str) -> int:
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"not a size: {text!r} (examples: 1048576, 64MiB, 1GiB)")
    return int(m.group(1)) * _UNITS[(m.group(2) or "").lower()]


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _unwrap_optional(tp: Any) -> Any:
    """`X | None` -> X; anything else unchanged."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def coerce(value: Any, tp: Any, name: str) -> Any:
    """Convert a TOML value or an env string to the field type `tp`."""
    tp = _unwrap_optional(tp)
    origin = typing.get_origin(tp)
    from_env = isinstance(value, str)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if from_env and value.lower() in ("1", "true", "yes", "on"):
            return True
        if from_env and value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"want true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ValueError(f"want an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if from_env:
            return parse_size(value) if name.endswith("_bytes") else int(value, 0)
        raise ValueError(f"want an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if from_env:
            return float(value)
        raise ValueError(f"want a number, got {value!r}")
    if tp is str:
        if not isinstance(value, str):
            raise ValueError(f"want a string, got {value!r}")
        return value
    if origin in (list, tuple):
        items = [v.strip() for v in value.split(",") if v.strip()] if from_env else value
        if not isinstance(items, list):
            raise ValueError(f"want a list, got {value!r}")
        (item_tp, *_) = typing.get_args(tp) or (Any,)
        out = [coerce(v, item_tp, name) if item_tp is not Any else v for v in items]
        return tuple(out) if origin is tuple else out
    if origin is dict or tp is dict:
        data = json.loads(value) if from_env else value
        if not isinstance(data, dict):
            raise ValueError(f"want a table, got {value!r}")
        return data
    return json.loads(value) if from_env else value


def apply(obj: Any, data: Mapping[str, Any], source: str, path: str = "") -> Any:
    """Return a copy of dataclass `obj` with `data` (nested dicts) applied."""
    hints = _hints(type(obj))
    fields = {f.name: f for f in dataclasses.fields(obj)}
    changes: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{path}{key}"
        if key not in fields:
            if not path and key in PENDING_SECTIONS:
                raise ConfigError(f"{source}: [{key}] is not supported in the config file; refusing to ignore "
                                  "it (use --token-file and --tls-cert/--tls-key/--tls-client-ca)")
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{source}: unknown key {where!r} (known here: {known})")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{source}: {where} must be a table")
            changes[key] = apply(current, value, source, f"{where}.")
            continue
        try:
            changes[key] = coerce(value, hints[key], key)
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{source}: {where}: {exc}") from None
    return dataclasses.replace(obj, **changes) if changes else obj


def env_overrides(env: Mapping[str, str], cls: type = ServerConfig) -> dict[str, Any]:
    """SANDCHECK_A__B=v variables as nested {a: {b: v}}, only for real field paths."""
    out: dict[str, Any] = {}
    for name, value in sorted(env.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX):].lower().split("__")
        node_cls: Any = cls
        target = out
        for i, part in enumerate(parts):
            names = {f.name: f for f in dataclasses.fields(node_cls)} if dataclasses.is_dataclass(node_cls) else {}
            if part not in names:
                log.debug("ignoring %s: no config field %s", name, ".".join(parts))
                break
            if i == len(parts) - 1:
                target[part] = value
            else:
                node_cls = _hints(node_cls)[part]
                target = target.setdefault(part, {})
    return out


def load(path: str | Path | None = None, env: Mapping[str, str] | None = None,
         overrides: Mapping[str, Any] | None = None) -> ServerConfig:
    """The effective configuration; raise ConfigError naming the bad key."""
    config = ServerConfig()
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        config = apply(config, data, str(path))
    if env:
        config = apply(config, env_overrides(env), "environment")
    if overrides:
        config = apply(config, {k: v for k, v in overrides.items() if v is not None}, "command line")
    validate(config)
    return config


def _under_jail_mounts(path: str) -> bool:
    """Whether `path` lies where every jail mounts a directory of its own (bound there, it would be hidden)."""
    path = "/" + path.strip("/")
    return any(path == d or path.startswith(d + "/") for d in ("/tmp", "/build", "/dev"))


def validate(config: ServerConfig) -> None:
    """Checks that span fields, so a bad value fails at start-up, not mid-run."""
    for name in ("default_limits", "max_limits", "default_compile_limits", "max_compile_limits"):
        try:
            getattr(config, name).validate()
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
    if config.concurrency < 0:
        raise ConfigError(f"concurrency must be >= 0 (0 = one per CPU), got {config.concurrency}")
    if config.concurrency > max_concurrency():  # before anything is made: each slot takes cgroups (config.py)
        raise ConfigError(f"concurrency must be at most {max_concurrency()} ({MAX_CONCURRENCY_PER_CPU} per CPU, at "
                          f"least {MAX_CONCURRENCY_FLOOR}: more slots only wait for a CPU, and each takes a jail and "
                          f"cgroups), got {config.concurrency}")
    if config.processes < 0:
        raise ConfigError(f"processes must be >= 0 (0 = one per 4 CPUs, at least 2), got {config.processes}")
    if config.jail_mode not in ("warm", "cold"):
        raise ConfigError(f"jail_mode must be 'warm' or 'cold', got {config.jail_mode!r}")
    if not config.listen.startswith("unix:"):
        host, sep, port = config.listen.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"listen wants HOST:PORT or unix:PATH, got {config.listen!r}")
    from .jail.toolchains import find

    unknown = [n for n in config.languages if n != "python" and find(n) is None]
    if unknown:
        raise ConfigError(f"languages: unknown {', '.join(unknown)}")
    if not config.toolchain_cache_dir.startswith("/") or _under_jail_mounts(config.toolchain_cache_dir):
        raise ConfigError(f"toolchain_cache_dir must be an absolute path outside /tmp, /build and /dev (jails mount "
                          f"their own there, over it), got {config.toolchain_cache_dir!r}")
    from .jail.packages import MODULE_NAME

    bad = [m for m in config.preload if not MODULE_NAME.match(m)]
    if bad:
        raise ConfigError(f"preload: not a module name: {', '.join(map(repr, bad))}")
    for name in ("python_packages", "node_modules"):
        value = getattr(config, name)
        if value not in ("auto", "none", "") and (not value.startswith("/") or _under_jail_mounts(value)):
            raise ConfigError(f"{name} must be 'auto', 'none' or an absolute path outside /tmp, /build and /dev "
                              f"(jails mount their own there, over it), got {value!r}")
    if config.build_cache_mb < 0:
        raise ConfigError(f"build_cache_mb must be >= 0 (0 = off), got {config.build_cache_mb}")
    if config.javac_service_max_compiles < 1:
        raise ConfigError(f"javac_service_max_compiles must be >= 1, got {config.javac_service_max_compiles}")
    if config.max_queue < 1:
        raise ConfigError(f"max_queue must be >= 1, got {config.max_queue}")
    if config.log_format not in ("json", "text"):
        raise ConfigError(f"log_format must be 'json' or 'text', got {config.log_format!r}")
    if config.health_error_threshold < 1:
        raise ConfigError(f"health_error_threshold must be >= 1, got {config.health_error_threshold}")
    for name in ("max_connection_age_ms", "max_connection_age_grace_ms"):
        if getattr(config, name) < 0:
            raise ConfigError(f"{name} must be >= 0 (0 = off), got {getattr(config, name)}")
    if config.metrics_listen:
        try:
            parse_host_port(config.metrics_listen)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if config.http_listen:
        try:
            parse_host_port(config.http_listen)
        except ValueError:
            raise ConfigError(f"--http-listen wants HOST:PORT, got {config.http_listen!r}") from None
