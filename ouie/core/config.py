"""Typed configuration loaded from YAML, with errors that name the offending field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo

ModelT = TypeVar("ModelT", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message says which field and why."""


def shorten(text: str, limit: int = 500) -> str:
    """`text` cut to `limit` characters, saying how much was left out (what a log line or an
    error message may quote of untrusted input)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


class StrictModel(BaseModel):
    """The base of every configuration model: an unknown field is an error (a typo in a YAML
    file must not silently fall back to a default)."""

    model_config = ConfigDict(extra="forbid")


def resolve_against_config_dir(path: Path | None, info: ValidationInfo) -> Path | None:
    """A relative path read from a YAML file is relative to that file's folder (the
    `config_dir` validation context set by `load_yaml_config`); unchanged otherwise."""
    config_dir = (info.context or {}).get("config_dir")
    if path is None or path.is_absolute() or config_dir is None:
        return path
    return Path(config_dir) / path


SECRET_NAMES = re.compile(r"pass|secret|key|token", re.IGNORECASE)
"""Field names whose values an error never quotes."""


def describe_validation_error(error: ValidationError, source: str) -> str:
    """One line per problem: 'source: field.path: message (got value)'. The value is left out
    for a field not in the model (it may be a secret put where it does not belong, such as
    `broker.password`) and for any field whose name matches `SECRET_NAMES`."""
    lines = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        got = problem.get("input")
        secret = problem["type"] == "extra_forbidden" or any(
            SECRET_NAMES.search(str(part)) for part in problem["loc"]
        )
        shown = "" if secret or isinstance(got, dict | list) else f" (got {shorten(repr(got))})"
        lines.append(f"{source}: {where}: {problem['msg']}{shown}")
    return "\n".join(lines)


def validate_config(
    data: object,
    model: type[ModelT],
    source: str = "config",
    context: dict[str, object] | None = None,
) -> ModelT:
    """Validate a parsed mapping against `model`, raising ConfigError naming each bad field.
    `context` reaches the model's validators (pydantic validation context)."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error, source)) from None


def load_yaml_config(path: str | Path, model: type[ModelT]) -> ModelT:
    """Read a YAML file and validate it against `model` (see `validate_config`). Validators get
    the context `{"config_dir": <the file's folder>}` to resolve relative paths against it."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    context: dict[str, object] = {"config_dir": path.parent}
    return validate_config(data if data is not None else {}, model, str(path), context)
