"""The building blocks of the OpenAPI document (``hookline.api.openapi``): operations, answers,
parameters and the errors every route shares."""

from __future__ import annotations

from hookline.api.jsonschema import Schema, ref
from hookline.pruning import KINDS

JSON = "application/json"


def json_answer(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def error_answer(description: str) -> Schema:
    return json_answer(ref("Error"), description)


UNAUTHORIZED = error_answer("no credential, or a wrong token, or an unknown, revoked or expired API key")
FORBIDDEN = error_answer("the API key lacks the scope this operation needs (the message names it)")
BAD_REQUEST = error_answer("a field or parameter is invalid; the message names it")
NOT_FOUND = error_answer("no such id")
TOO_LARGE = error_answer("the body is larger than HOOKLINE_MAX_BODY_BYTES")


def path_id(name: str, what: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": what}


def query_param(name: str, schema: Schema, description: str) -> Schema:
    # Every query parameter is optional, and an empty value means the same as leaving it out.
    return {
        "name": name,
        "in": "query",
        "required": False,
        "allowEmptyValue": True,
        "schema": schema,
        "description": description,
    }


def cursor_param(prefix: str) -> Schema:
    return query_param(
        "cursor",
        {"type": "string", "pattern": f"^{prefix}_[A-Za-z0-9_]*$", "maxLength": 64},
        "next_cursor of the previous page (absent: the first page)",
    )


LIMIT = query_param("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, "page size")


def operation(
    op_id: str,
    summary: str,
    responses: dict[str, Schema],
    *,
    tag: str,
    params: list[Schema] | None = None,
    body: Schema | None = None,
    body_required: bool = True,
    admin: bool = True,
    links: dict[str, Schema] | None = None,
) -> Schema:
    out: Schema = {"operationId": op_id, "summary": summary, "tags": [tag], "responses": dict(responses)}
    if params:
        out["parameters"] = params
    if body is not None:
        out["requestBody"] = {"required": body_required, "content": {JSON: {"schema": body}}}
        out["responses"].setdefault("400", BAD_REQUEST)
        out["responses"].setdefault("413", TOO_LARGE)
    if admin:
        out["responses"].setdefault("401", UNAUTHORIZED)
        out["responses"].setdefault("403", FORBIDDEN)
    else:
        out["security"] = []
    if links:
        first = next(iter(out["responses"]))
        out["responses"][first] = {**out["responses"][first], "links": links}
    return out


def links_to(param: str, pointer: str, *op_ids: str) -> dict[str, Schema]:
    return {op_id: {"operationId": op_id, "parameters": {param: f"$response.body#/{pointer}"}} for op_id in op_ids}


SUB_ID = path_id("sub_id", "subscription id (sub_...)")
# Erasure (issue 14): what DELETE /v1/jobs... deleted, by kind.
ERASED = json_answer(
    {
        "type": "object",
        "properties": {
            "deleted": {
                "type": "object",
                "properties": {kind: {"type": "integer", "minimum": 0} for kind in KINDS},
                "required": list(KINDS),
            }
        },
        "required": ["deleted"],
    },
    "what was deleted, by kind (archived_images: files no remaining job refers to)",
)
DELIVERY_ID = path_id("delivery_id", "delivery id (dlv_...)")
