"""Field paths: parsed and type-checked against the pydantic Article model at load, compiled to closures.

Syntax: dot-separated field names (wire names, camelCase). A list field is walked with a quantifier:
``images[any].url`` (some image), ``images[all].url`` (every image; true for no images); ``images[]`` is
``images[any]``. Quantifiers nest: ``related[all].images[any].url``. A list named without brackets is the
list itself (for ``length``, ``exists``, ``missing``, ``blank``).

A compiled path is a Predicate factory: given a leaf test ``test(value, now) -> (value, match) | None`` it
returns ``(obj, now) -> Hit | None`` that walks attributes (a missing object on the way gives the value None)
and reports the concrete path of the match, with list indexes (``images.1.url``).
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel

from service.core.rules.model import Hit, Predicate

LeafTest = typing.Callable[[Any, datetime], tuple[Any, Any] | None]

_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[(any|all)?\])?")


@dataclass(frozen=True, slots=True)
class FieldType:
    kind: str  # "str" | "int" | "bool" | "datetime" | "model" | "list"
    model: type[BaseModel] | None = None
    item: FieldType | None = None

    def describe(self) -> str:
        if self.kind == "list" and self.item is not None:
            return f"list of {self.item.describe()}"
        return self.model.__name__ if self.model is not None else self.kind


def field_type(annotation: Any) -> FieldType:
    """The rule-language type of a pydantic field annotation (Optional/Annotated unwrapped)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return field_type(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        real = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(real) != 1:
            raise TypeError(f"unsupported union {annotation!r}")
        return field_type(real[0])
    if origin in (tuple, list):
        return FieldType("list", item=field_type(typing.get_args(annotation)[0]))
    if annotation is AwareDatetime or (isinstance(annotation, type) and issubclass(annotation, datetime)):
        return FieldType("datetime")
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return FieldType("model", model=annotation)
    for kind in (bool, int, str):  # bool before int: bool is an int subclass
        if isinstance(annotation, type) and issubclass(annotation, kind):
            return FieldType(kind.__name__)
    raise TypeError(f"unsupported field type {annotation!r}")


@dataclass(frozen=True, slots=True)
class Step:
    names: tuple[str, ...]  # attributes to follow
    label: str  # their dotted path, for reports
    quantifier: str | None  # None for the last step, else "any" | "all"


@dataclass(frozen=True, slots=True)
class FieldPath:
    text: str
    steps: tuple[Step, ...]
    type: FieldType  # the type the leaf test sees


def parse_path(text: object, root: type[BaseModel]) -> FieldPath:
    """Parse and type-check ``text`` against ``root``. Raises ValueError with a message for rule authors."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"`field` must be a field path such as provider.domain, not {text!r}")
    steps: list[Step] = []
    names: list[str] = []
    current = FieldType("model", model=root)
    for part in text.split("."):
        found = _SEGMENT.fullmatch(part)
        if found is None:
            raise ValueError(f"bad path segment {part!r} in {text!r} (write name, name[any] or name[all])")
        name, quant = found.group(1), found.group(2) or ("any" if part.endswith("[]") else None)
        if current.kind != "model" or current.model is None:
            where = ".".join(names) or text
            hint = f"; write {where}[any] or {where}[all]" if current.kind == "list" else ""
            raise ValueError(f"{where} is a {current.describe()}, it has no field {name!r}{hint}")
        fields = current.model.model_fields
        if name not in fields:
            known = ", ".join(fields)
            raise ValueError(f"{current.model.__name__} has no field {name!r} (fields: {known})")
        current = field_type(fields[name].annotation)
        names.append(name)
        if quant is not None:
            if current.kind != "list" or current.item is None:
                raise ValueError(f"{name} is a {current.describe()}, not a list: [{quant}] does not apply")
            steps.append(Step(tuple(names), ".".join(names), quant))
            names = []
            current = current.item
    steps.append(Step(tuple(names), ".".join(names), None))
    return FieldPath(text, tuple(steps), current)


def compile_path(path: FieldPath, test: LeafTest) -> Predicate:
    predicate: Predicate | None = None
    for step in reversed(path.steps):
        predicate = _leaf(step, test) if predicate is None else _quantified(step, predicate)
    assert predicate is not None
    return predicate


def _walk(obj: Any, names: tuple[str, ...]) -> Any:
    for name in names:
        if obj is None:
            return None
        obj = getattr(obj, name)
    return obj


def _leaf(step: Step, test: LeafTest) -> Predicate:
    names, label = step.names, step.label

    def leaf(obj: Any, now: datetime) -> Hit | None:
        for name in names:
            if obj is None:
                break
            obj = getattr(obj, name)
        found = test(obj, now)
        return None if found is None else (label, found[0], found[1])

    return leaf


def _join(prefix: str, index: int, rest: str) -> str:
    return f"{prefix}.{index}.{rest}" if rest else f"{prefix}.{index}"


def _quantified(step: Step, inner: Predicate) -> Predicate:
    names, label = step.names, step.label
    if step.quantifier == "any":

        def some(obj: Any, now: datetime) -> Hit | None:
            for index, item in enumerate(_walk(obj, names) or ()):
                hit = inner(item, now)
                if hit is not None:
                    return (_join(label, index, hit[0]), hit[1], hit[2])
            return None

        return some

    def every(obj: Any, now: datetime) -> Hit | None:
        items = _walk(obj, names) or ()
        for item in items:
            if inner(item, now) is None:
                return None
        return (label, items, None)

    return every
