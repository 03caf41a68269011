"""Settings as dataclasses, command-line flags generated from them: a flag is one line, its default lives once.

A config field that the command line sets is declared with :func:`flag`::

    d_model: int = flag(512, "Transformer width")
    cross_attn: bool = flag(True, "fuse by mean instead of cross-modal attention", name="--no_cross_attn")

:func:`add_flags` turns a dataclass's flagged fields into argparse options (``--no_x`` for a True bool
is ``store_false``, a False bool is ``store_true``, every option's ``dest`` is the field's name), and
:func:`from_args` builds the dataclass back from the parsed namespace, so the parsed arguments go
straight into the library (whisper's ``transcribe(model, **args)``). :func:`from_dict` reads a stored
config back, filling fields the stored one predates (``legacy`` gives what their absence meant).
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import MISSING, field, fields
from typing import Any


def flag(
    default: Any = MISSING,
    help: str = "",
    *,
    name: str | None = None,
    choices=None,
    nargs=None,
    type=None,
    metavar: str | None = None,
    default_factory: Any = MISSING,
):
    """A dataclass field that is also a command-line option (``--<field name>`` unless ``name`` says)."""
    meta = {"help": help, "flag": name, "choices": choices, "nargs": nargs, "type": type, "metavar": metavar}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


def _default(f: dataclasses.Field, defaults) -> Any:
    if defaults is not None:
        return getattr(defaults, f.name)
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def flagged(cls) -> list[dataclasses.Field]:
    return [f for f in fields(cls) if "help" in f.metadata]


def add_flags(
    parser,
    cls,
    defaults=None,
    *,
    required: tuple[str, ...] = (),
    skip: tuple[str, ...] = (),
    only: tuple[str, ...] | None = None,
    overrides: str | None = None,
) -> None:
    """Add an option per flagged field of ``cls`` to ``parser`` (a parser or an argument group).

    ``defaults`` (an instance of ``cls``) supplies the defaults where a system's differ from the
    dataclass's own (e.g. AVFF's training-loop defaults); ``required`` names fields without a default;
    ``skip`` / ``only`` choose fields. ``overrides`` (e.g. "the preset's") makes every option default to
    None, meaning "keep that value" (:func:`overrides_from_args`), bools as ``--x/--no-x``.
    """
    for f in flagged(cls):
        if f.name in skip or (only is not None and f.name not in only):
            continue
        m = f.metadata
        name = m["flag"] or f"--{f.name}"
        default = _default(f, defaults)
        kw: dict[str, Any] = {"dest": f.name, "help": m["help"]}
        if overrides is not None:
            kw["help"] = f"{m['help']} (default: {overrides})"
            if isinstance(default, bool):
                kw.update(action=argparse.BooleanOptionalAction, default=None)
            else:
                kw.update(type=m["type"] or type(default), default=None)
                if m["choices"]:
                    kw["choices"] = m["choices"]
            parser.add_argument(name, **kw)
            continue
        if isinstance(default, bool) and m["type"] is None:
            if name.startswith("--no_") and default:
                kw.update(action="store_false", default=True)
            elif not default:
                kw.update(action="store_true", default=False)
            else:
                kw.update(action=argparse.BooleanOptionalAction, default=default)
        else:
            typ = m["type"] or (
                type(default) if default not in (MISSING, None) and not isinstance(default, (list, tuple)) else str
            )
            kw.update(type=typ)
            if m["nargs"]:
                kw["nargs"] = m["nargs"]
            if m["choices"]:
                kw["choices"] = m["choices"]
            if m["metavar"]:
                kw["metavar"] = m["metavar"]
            if default is MISSING or f.name in required:
                kw["required"] = True
            else:
                kw["default"] = list(default) if isinstance(default, tuple) else default
                if "default" not in kw["help"] and default not in (None, ""):
                    kw["help"] = (kw["help"] + " " if kw["help"] else "") + "(default: %(default)s)"
        parser.add_argument(name, **kw)


def overrides_from_args(cls, args: argparse.Namespace) -> dict:
    """The fields of ``cls`` the command line set (options added with ``add_flags(..., overrides=...)``)."""
    return {f.name: getattr(args, f.name) for f in flagged(cls) if getattr(args, f.name, None) is not None}


def from_args(cls, args: argparse.Namespace, defaults=None, **overrides):
    """``cls`` from the parsed arguments of :func:`add_flags` (unflagged fields from ``defaults`` or the
    dataclass), then ``overrides``."""
    given = {f.name: getattr(args, f.name) for f in flagged(cls) if hasattr(args, f.name)}
    for f in fields(cls):
        if isinstance(_default(f, None), tuple) and isinstance(given.get(f.name), list):
            given[f.name] = tuple(given[f.name])
    given.update(overrides)
    if defaults is not None:
        return dataclasses.replace(defaults, **given)
    return cls(**given)


def from_dict(cls, d: dict | None, legacy: dict | None = None):
    """``cls`` from a stored dict: unknown keys ignored, nested dataclasses recursed into, lists back to
    tuples where the default is a tuple; a missing key gets ``legacy[key]`` when given (what a config
    written before the field existed meant), else the field's default."""
    d = dict(d or {})
    kw = {}
    for f in fields(cls):
        if f.name in d:
            v = d[f.name]
            default = _default(f, None)
            if dataclasses.is_dataclass(default) and isinstance(v, dict):
                v = from_dict(type(default), v, getattr(type(default), "LEGACY", None))
            elif isinstance(default, tuple) and isinstance(v, list):
                v = tuple(v)
            kw[f.name] = v
        elif legacy and f.name in legacy:
            kw[f.name] = legacy[f.name]
    return cls(**kw)


def to_dict(obj) -> dict:
    """Plain dict of a (nested) config: what checkpoints store (tuples as lists, torch.load-safe)."""

    def plain(v):
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    return plain(dataclasses.asdict(obj))
