"""Generates src/paddock/models.py from the committed OpenAPI document.

    python scripts/gen_models.py [OPENAPI_JSON] [--check]

Every object schema of ``components.schemas`` becomes a pydantic model;
string enums become ``Literal`` aliases. Attribute names are snake_case
and keep the wire name as their alias (``exit_code`` for ``exitCode``).
With ``--check`` nothing is written and the exit status says whether
the committed file is current (the test suite runs this).
"""

from __future__ import annotations

import json
import keyword
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Set, Tuple

HERE = Path(__file__).resolve().parent
SDK = HERE.parent
DEFAULT_SPEC = SDK.parent.parent / "openapi.json"
OUT = SDK / "src" / "paddock" / "models.py"

# Fields whose values are secrets: masked in ``repr``.
SECRETS: Dict[str, List[str]] = {
    "Session": ["env"],
    "CreatedKey": ["token"],
    "Preview": ["access_url"],
    "PutCredential": ["secret"],
}
# Helpers mixed into some models (src/paddock/_base.py).
MIXINS: Dict[str, str] = {"Session": "SessionMixin", "ExecResult": "ExecResultMixin"}
# Names pydantic's BaseModel already uses.
RESERVED = {"copy", "dict", "json", "schema", "construct", "validate", "fields"}


def snake(name: str) -> str:
    out = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()
    if keyword.iskeyword(out) or out in RESERVED:
        out += "_"
    return out


class Gen:
    def __init__(self, doc: Dict[str, Any]) -> None:
        self.schemas: Dict[str, Any] = doc["components"]["schemas"]
        self.enums: Dict[str, List[str]] = {}
        self.objects: List[str] = []
        for name, schema in self.schemas.items():
            if schema.get("type") == "string" and "enum" in schema:
                self.enums[name] = list(schema["enum"])
            elif self.is_object(schema):
                self.objects.append(name)

    def is_object(self, schema: Dict[str, Any]) -> bool:
        return schema.get("type") == "object" or "allOf" in schema or "properties" in schema

    def deref(self, schema: Dict[str, Any]) -> Dict[str, Any]:
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[1]]
        return schema

    def merged(self, schema: Dict[str, Any]) -> Tuple[Dict[str, Any], Set[str]]:
        schema = self.deref(schema)
        props: Dict[str, Any] = dict(schema.get("properties", {}))
        required: Set[str] = set(schema.get("required", []))
        for part in schema.get("allOf", []):
            p, r = self.merged(part)
            props.update(p)
            required |= r
        return props, required

    def type_of(self, schema: Dict[str, Any]) -> Tuple[str, bool]:
        """(python type, nullable) of a property schema."""
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            if name in self.enums:
                return "str", False
            target = self.schemas[name]
            if name in self.objects:
                return name, False
            return self.type_of(target)
        branches = schema.get("oneOf", []) + schema.get("anyOf", [])
        if branches:
            nullable = False
            types: List[str] = []
            for branch in branches:
                t, n = self.type_of(branch)
                nullable = nullable or n or branch.get("type") == "null"
                if branch.get("type") != "null" and t not in types:
                    types.append(t)
            if not types:
                return "Any", True
            return (types[0] if len(types) == 1 else "Union[" + ", ".join(types) + "]"), nullable
        raw = schema.get("type")
        kinds = raw if isinstance(raw, list) else ([raw] if raw else [])
        nullable = "null" in kinds
        kinds = [k for k in kinds if k != "null"]
        if not kinds:
            if "properties" in schema or "additionalProperties" in schema:
                kinds = ["object"]
            else:
                return "Any", nullable
        kind = kinds[0]
        if kind == "string":
            return ("bytes" if schema.get("format") == "binary" else "str"), nullable
        if kind == "integer":
            return "int", nullable
        if kind == "number":
            return "float", nullable
        if kind == "boolean":
            return "bool", nullable
        if kind == "array":
            item, item_null = self.type_of(schema.get("items", {}))
            if item_null:
                item = f"Optional[{item}]"
            return f"List[{item}]", nullable
        if kind == "object":
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and extra:
                value, value_null = self.type_of(extra)
                if value_null:
                    value = f"Optional[{value}]"
                return f"Dict[str, {value}]", nullable
            return "Dict[str, Any]", nullable
        return "Any", nullable

    def render(self) -> str:
        body = self.render_body()
        self.uses_union = "Union[" in body
        return self.render_head() + body

    def render_head(self) -> str:
        lines = [
            '"""The API\'s schemas as pydantic models.',
            "",
            "Generated from openapi.json by scripts/gen_models.py; do not edit.",
            "Every model also answers ``model[\"wire_name\"]`` (agentjail's clients",
            "returned dicts), and unknown fields a newer server sends are kept.",
            '"""',
            "",
            "from __future__ import annotations",
            "",
            "from typing import Any, Dict, List, Literal, Optional" + (", Union" if self.uses_union else ""),
            "",
            "from pydantic import Field",
            "",
            "from ._base import ExecResultMixin, PaddockModel, SessionMixin",
            "",
            "__all__ = [",
        ]
        for name in sorted(list(self.enums) + self.objects):
            lines.append(f'    "{name}",')
        lines.append("]")
        lines.append("")
        return "\n".join(lines) + "\n"

    def render_body(self) -> str:
        lines: List[str] = []
        for name, values in self.enums.items():
            lines.append("")
            literal = ", ".join(json.dumps(v) for v in values)
            lines.append(f"{name} = Literal[{literal}]")
            doc = self.schemas[name].get("description", "").strip().splitlines()
            if doc:
                lines.append(f'"""{doc[0]}"""')
        for name in self.objects:
            schema = self.schemas[name]
            props, required = self.merged(schema)
            lines.append("")
            lines.append("")
            bases = f"{MIXINS[name]}, PaddockModel" if name in MIXINS else "PaddockModel"
            lines.append(f"class {name}({bases}):")
            doc = schema.get("description", "").strip().replace('"""', "'''")
            if doc:
                doc_lines = doc.splitlines()
                if len(doc_lines) == 1:
                    lines.append(f'    """{doc_lines[0]}"""')
                else:
                    lines.append(f'    """{doc_lines[0]}')
                    lines.extend(f"    {line}".rstrip() for line in doc_lines[1:])
                    lines.append('    """')
                lines.append("")
            if name in SECRETS:
                secret = ", ".join(f'"{s}"' for s in SECRETS[name])
                lines.append(f"    _secret_fields = frozenset({{{secret}}})")
                lines.append("")
            if not props:
                lines.append("    pass")
                continue
            for wire in sorted(props):
                prop = props[wire]
                py, nullable = self.type_of(prop)
                attr = snake(wire)
                optional = nullable or wire not in required
                annotation = f"Optional[{py}]" if optional and py != "Any" else py
                args: List[str] = []
                if optional:
                    args.append("None")
                if attr != wire:
                    args.append(f'alias="{wire}"')
                if not args:
                    lines.append(f"    {attr}: {annotation}")
                elif args == ["None"]:
                    lines.append(f"    {attr}: {annotation} = None")
                else:
                    if optional:
                        args[0] = "default=None"
                    lines.append(f"    {attr}: {annotation} = Field({', '.join(args)})")
        lines.append("")
        return "\n".join(lines)


def main(argv: List[str]) -> int:
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    spec = Path(args[0]) if args else DEFAULT_SPEC
    text = Gen(json.loads(spec.read_text())).render()
    if check:
        if OUT.read_text() != text:
            print(f"{OUT} is stale: run python scripts/gen_models.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
