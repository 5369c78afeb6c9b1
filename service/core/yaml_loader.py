"""A YAML loader that reads front matter as JSON would read the same values.

PyYAML's safe loader follows YAML 1.1: it turns ``2020-05-08T04:01:00Z`` into a datetime, ``yes`` into True and
``012`` into 10, and ``!!binary``/``!!set``/``!!timestamp`` into non-JSON types. Any of those would make the signed
canonical form of a front-matter event differ from the same event sent as JSON. This loader resolves only the
JSON-compatible part of the YAML 1.2 core schema (null, true/false, decimal integers, finite floats); everything else
stays a string exactly as written, and any explicit tag outside that set is an error.
"""

from __future__ import annotations

import math
import re
from typing import ClassVar

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.resolver import BaseResolver

_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1


class _JsonResolver(BaseResolver):
    pass


_JsonResolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_JsonResolver.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
_JsonResolver.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
_JsonResolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+(?:\.[0-9]*)?[eE][-+]?[0-9]+|\.[0-9]+[eE][-+]?[0-9]+)$"),
    list("-+0123456789."),
)


class _JsonConstructor(SafeConstructor):
    yaml_constructors: ClassVar[dict] = {}  # a fresh table: nothing inherited from YAML 1.1

    def construct_json_int(self, node: yaml.Node) -> int | float:
        text = self.construct_scalar(node).replace("_", "")
        try:
            number = int(text, 10)
        except ValueError as exc:  # e.g. more digits than Python converts (sys.int_info.str_digits_check_threshold)
            raise ConstructorError(None, None, "integer is too long", node.start_mark) from exc
        # Mirror orjson, which reads integers outside 64 bits as floats, so both formats give the same value.
        return number if _INT64_MIN <= number <= _UINT64_MAX else float(number)

    def construct_json_float(self, node: yaml.Node) -> float:
        number = float(self.construct_scalar(node))
        if not math.isfinite(number):
            raise ConstructorError(None, None, "number is not finite", node.start_mark)
        return number


_JsonConstructor.add_constructor("tag:yaml.org,2002:null", SafeConstructor.construct_yaml_null)
_JsonConstructor.add_constructor("tag:yaml.org,2002:bool", SafeConstructor.construct_yaml_bool)
_JsonConstructor.add_constructor("tag:yaml.org,2002:int", _JsonConstructor.construct_json_int)
_JsonConstructor.add_constructor("tag:yaml.org,2002:float", _JsonConstructor.construct_json_float)
_JsonConstructor.add_constructor("tag:yaml.org,2002:str", SafeConstructor.construct_yaml_str)
_JsonConstructor.add_constructor("tag:yaml.org,2002:seq", SafeConstructor.construct_yaml_seq)
_JsonConstructor.add_constructor("tag:yaml.org,2002:map", SafeConstructor.construct_yaml_map)
_JsonConstructor.add_constructor(None, SafeConstructor.construct_undefined)

if yaml.__with_libyaml__:
    from yaml.cyaml import CParser

    class JsonYamlLoader(CParser, _JsonConstructor, _JsonResolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _JsonConstructor.__init__(self)
            _JsonResolver.__init__(self)

else:  # pragma: no cover - wheels ship libyaml; the pure-Python parser is the fallback

    class JsonYamlLoader(  # type: ignore[no-redef]
        yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer,
        _JsonConstructor, _JsonResolver,
    ):
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
            _JsonConstructor.__init__(self)
            _JsonResolver.__init__(self)


def load_json_yaml(text: str) -> object:
    """One YAML document as JSON values. Raises yaml.YAMLError (or RecursionError on the pure-Python parser)."""
    loader = JsonYamlLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
