"""How a configuration's problems are found and named: ``${ENV}`` expansion and
pydantic's errors as ``(path, message)`` pairs, gathered in :class:`ConfigError`.

A path names the exact place of the bad value (``targets[1].probes.streaming.timeout``)
so the CLI can print it and exit 2 without a traceback.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

__all__ = ["ConfigError", "expand_env", "friendly"]


class ConfigError(Exception):
    """A configuration that cannot be used; `problems` are ``(path, message)`` pairs."""

    def __init__(self, source: str, problems: Iterable[tuple[str, str]]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        """Return the error as lines a person can act on."""
        lines = [f"invalid configuration in {self.source}:"]
        for path, msg in self.problems:
            lines.append(f"  {path}: {msg}" if path else f"  {msg}")
        return "\n".join(lines)


_ENV = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(
    node: Any,
    path: str,
    env: dict[str, str],
    problems: list[tuple[str, str]],
    keep_unset: bool = False,
) -> Any:
    """Return `node` with ``${VAR}`` replaced from `env`; an unset one is a problem.

    With `keep_unset` an unset variable stays as written instead (a part of the
    file the command does not use).
    """
    if isinstance(node, str):

        def sub(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            name = m.group(1)
            if name not in env:
                if keep_unset:
                    return m.group(0)
                problems.append((path, f"environment variable {name} is not set"))
                return ""
            return env[name]

        return _ENV.sub(sub, node)
    if isinstance(node, list):
        return [
            expand_env(v, f"{path}[{i}]", env, problems, keep_unset) for i, v in enumerate(node)
        ]
    if isinstance(node, dict):
        return {
            k: expand_env(v, f"{path}.{k}" if path else str(k), env, problems, keep_unset)
            for k, v in node.items()
        }
    return node


def _loc_to_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _model_at(loc: tuple[int | str, ...], root: type[BaseModel]) -> type[BaseModel] | None:
    """Return the model class under `root` that owns the last key of `loc`, for hints."""
    import typing

    model: Any = root
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        ann = field.annotation
        candidates = [ann, *typing.get_args(ann)]
        nxt = None
        for c in candidates:
            for cc in [c, *typing.get_args(c)]:
                if isinstance(cc, type) and issubclass(cc, BaseModel):
                    nxt = cc
        if nxt is None:
            return None
        model = nxt
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def friendly(err: Any, root: type[BaseModel], base: str = "") -> tuple[str, str]:
    """Return (path, message) of one pydantic error of a `root` model found at path `base`."""
    loc = tuple(err["loc"])
    path = _loc_to_path(loc)
    if base:
        path = f"{base}.{path}" if path and not path.startswith("[") else base + path
    kind = err["type"]
    if kind == "extra_forbidden":
        owner = _model_at(loc, root)
        msg = "unknown key"
        if owner is not None:
            allowed = list(owner.model_fields)
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            msg += f" (did you mean {close[0]!r}?)" if close else ""
            msg += f"; allowed: {', '.join(allowed)}"
        return path, msg
    if kind == "missing":
        return path, "required key is missing"
    msg = str(err["msg"])
    msg = msg.removeprefix("Value error, ")
    if (
        "input" in err
        and kind not in ("value_error",)
        and not isinstance(err["input"], dict)
        and not _holds_secret(loc)
    ):
        msg += f" (got {err['input']!r})"
    return path, msg


def _holds_secret(loc: tuple[int | str, ...]) -> bool:
    """Return True for the paths whose bad value must not be echoed (rule 4: keys, URLs)."""
    return "api_key" in loc or loc[:2] == ("alerts", "urls")
