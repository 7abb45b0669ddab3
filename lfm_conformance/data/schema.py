"""Data files checked against their JSON Schema, with one error line naming the file, the field
(`models.x.gpus[0]`) and what is allowed: the one wording every loader of the suite shares."""
from __future__ import annotations

import jsonschema


def records(required: list[str], properties: dict) -> dict:
    """The schema of a data file that is a list of records with these fields (no others)."""
    return {"type": "array", "items": {"type": "object", "additionalProperties": False, "required": required,
                                       "properties": properties}}


def where(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def describe(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties" and error.validator_value is False:
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return f"unknown key {', '.join(map(repr, extra))}; allowed keys: {', '.join(allowed)}"
    if error.validator == "enum":
        return f"{error.instance!r} is not allowed; allowed values: {', '.join(map(str, error.validator_value))}"
    if error.validator == "required":
        return error.message
    if error.validator == "type":
        return f"{error.instance!r} has the wrong type; expected {error.validator_value}"
    return error.message


def check(data, schema: dict, source, error: type[Exception] = ValueError) -> None:
    """Raise `error` with "<source>: <field>: <problem>" for the best-matching schema violation."""
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as exc:
        raise error(f"{source}: {where(exc.absolute_path)}: {describe(exc)}") from None
