"""JSON Schema building blocks (OpenAPI 3.1 spelling) for the management API's component table
(``hookline.api.schemas``), its paths and its webhooks."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

TIME: Schema = {"type": "string", "format": "date-time", "description": "ISO-8601 UTC, e.g. 2026-11-21T10:44:00.123Z"}
NON_BLANK = r"\S"  # fields.required_text refuses a value that is only spaces


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """``schema`` or ``null`` (OpenAPI 3.1 spelling)."""
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    kind = schema["type"]
    out = dict(schema)
    out["type"] = [*kind, "null"] if isinstance(kind, list) else [kind, "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def obj(properties: dict[str, Schema], *, required: list[str] | None = None, closed: bool = False) -> Schema:
    """An object; by default every property is required (responses always carry every key)."""
    out: Schema = {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }
    if closed:
        out["additionalProperties"] = False
    return out


def page_of(name: str) -> Schema:
    return obj(
        {
            "items": {"type": "array", "items": ref(name)},
            "next_cursor": nullable({"type": "string", "description": "pass as ?cursor= for the next page"}),
        }
    )
