"""JSON Schemas of the config families, and the checks JSON Schema cannot express."""

import copy
import itertools
import re
from typing import Any

from jsonschema import Draft202012Validator

SCORING_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "scoring config",
    "type": "object",
    "additionalProperties": False,
    "required": ["weights", "bands", "thresholds"],
    "properties": {
        "weights": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {"type": "number"},
            "description": "Feature name -> weight; score = bias + sum(weight * feature).",
        },
        "bias": {"type": "number", "default": 0.0},
        "bands": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 40},
            "minItems": 2,
            "uniqueItems": True,
            "description": "Band names from the lowest score to the highest.",
        },
        "thresholds": {
            "type": "array",
            "items": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "minItems": 1,
            "description": "Strictly increasing boundaries; len(bands) - 1 of them.",
        },
        "flag_rules": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "feature", "operator", "value"],
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 64},
                    "feature": {"type": "string", "minLength": 1, "maxLength": 64},
                    "operator": {
                        "enum": [">", ">=", "<", "<=", "==", "!=", "abs>", "abs>=", "abs<", "abs<="]
                    },
                    "value": {"type": "number"},
                },
            },
            "default": [],
        },
        "derived_features": {
            "type": "array",
            "maxItems": 16,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "op", "a", "b"],
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 64},
                    "op": {"enum": ["product", "ratio", "difference", "min", "max"]},
                    "a": {"type": "string", "minLength": 1, "maxLength": 64},
                    "b": {"type": "string", "minLength": 1, "maxLength": 64},
                },
            },
            "default": [],
            "description": "Features derived from two input features (a closed grammar), "
            "computed before the weights and flag rules; weight one like any feature.",
        },
        "escalate_on": {
            "type": "array",
            "items": {"type": "string"},
            "uniqueItems": True,
            "default": [],
        },
        "min_confidence": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.0},
        "confidence_margin": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1,
            "default": 0.1,
            "description": "Distance to the nearest boundary at which confidence reaches 1.",
        },
    },
}

PERMISSIVE_SCHEMA: dict[str, Any] = {"type": "object"}

BUILTIN_SCHEMAS: dict[str, dict[str, Any]] = {"scoring": SCORING_SCHEMA}


def schema_for(family_name: str, override: dict[str, Any] | None = None) -> dict[str, Any]:
    if override:
        return override
    return BUILTIN_SCHEMAS.get(family_name, PERMISSIVE_SCHEMA)


def _path(error) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(["payload", *parts]) if parts else "payload"


def validate_payload(
    family_name: str, payload: Any, override: dict[str, Any] | None = None
) -> dict[str, list[str]]:
    """Field-by-field errors keyed by dotted path (``payload.thresholds.1``); empty when valid."""
    errors: dict[str, list[str]] = {}
    validator = Draft202012Validator(schema_for(family_name, override))
    for error in sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path)):
        errors.setdefault(_path(error), []).append(error.message)
    if errors or family_name != "scoring" or override:
        return errors
    thresholds = payload["thresholds"]
    if any(b <= a for a, b in itertools.pairwise(thresholds)):
        errors["payload.thresholds"] = ["thresholds must be strictly increasing"]
    if len(thresholds) != len(payload["bands"]) - 1:
        errors.setdefault("payload.thresholds", []).append(
            "there must be exactly one threshold fewer than bands"
        )
    flag_names = [rule["name"] for rule in payload.get("flag_rules", [])]
    if len(set(flag_names)) != len(flag_names):
        errors["payload.flag_rules"] = ["flag rule names must be unique"]
    derived = [item["name"] for item in payload.get("derived_features", [])]
    if len(set(derived)) != len(derived):
        errors["payload.derived_features"] = ["derived feature names must be unique"]
    chained = sorted(
        {item[k] for item in payload.get("derived_features", []) for k in ("a", "b")} & set(derived)
    )
    if chained:
        errors.setdefault("payload.derived_features", []).append(
            f"a derived feature's operands must be input features: {', '.join(chained)}"
        )
    unknown = sorted(set(payload.get("escalate_on", [])) - set(flag_names))
    if unknown:
        errors["payload.escalate_on"] = [f"unknown flag(s): {', '.join(unknown)}"]
    return errors


def schema_incompatibilities(active: Any, proposed: Any, prefix: str = "payload") -> list[str]:
    """Structural changes a consumer of ``active`` would trip over: removed keys and changed
    value types. Added keys and changed values are compatible."""
    problems: list[str] = []
    if isinstance(active, dict) and isinstance(proposed, dict):
        for key in sorted(active):
            if key not in proposed:
                problems.append(f"{prefix}.{key} removed")
            else:
                problems.extend(
                    schema_incompatibilities(active[key], proposed[key], f"{prefix}.{key}")
                )
    elif _kind(active) != _kind(proposed):
        problems.append(f"{prefix} changed type from {_kind(active)} to {_kind(proposed)}")
    elif isinstance(active, list) and isinstance(proposed, list) and len(active) != len(proposed):
        if all(not isinstance(x, dict | list) for x in active + proposed):
            return problems
        problems.append(f"{prefix} changed length from {len(active)} to {len(proposed)}")
    return problems


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def structural_diff(old: Any, new: Any, prefix: str = "") -> list[dict[str, Any]]:
    """Every leaf that differs: ``{"path", "op": added|removed|changed, "old", "new"}``."""
    changes: list[dict[str, Any]] = []
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in old:
                changes.append({"path": path, "op": "added", "old": None, "new": new[key]})
            elif key not in new:
                changes.append({"path": path, "op": "removed", "old": old[key], "new": None})
            else:
                changes.extend(structural_diff(old[key], new[key], path))
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            changes.extend(structural_diff(a, b, f"{prefix}[{index}]"))
    elif old != new or type(old) is not type(new):
        changes.append({"path": prefix or "$", "op": "changed", "old": old, "new": new})
    return changes


def _overlaps(a: str, b: str) -> bool:
    """Two diff paths touch the same value when one is the other or contains it."""
    return a == b or a.startswith((f"{b}.", f"{b}[")) or b.startswith((f"{a}.", f"{a}["))


def three_way_diff(base: Any, active: Any, proposal: Any) -> dict[str, Any]:
    """What happened on each side since the common base: ``base_to_active`` (what the active
    version changed), ``base_to_proposal`` (what the proposal changes) and ``both_touched``
    (paths both sides changed: activating the proposal as it is would undo the active side)."""
    to_active = structural_diff(base, active)
    to_proposal = structural_diff(base, proposal)
    both = sorted(
        {
            path
            for path in [c["path"] for c in to_active] + [c["path"] for c in to_proposal]
            if any(_overlaps(path, c["path"]) for c in to_active)
            and any(_overlaps(path, c["path"]) for c in to_proposal)
        }
    )
    return {"base_to_active": to_active, "base_to_proposal": to_proposal, "both_touched": both}


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _path_parts(path: str) -> list[str | int]:
    return [int(index) if index else key for key, index in _PATH_PART.findall(path) if key or index]


def apply_structural_diff(target: Any, changes: list[dict[str, Any]]) -> Any:
    """A copy of ``target`` with ``structural_diff`` changes applied (each change's ``new``
    value set at its path, ``removed`` paths deleted). Raises ``KeyError`` naming a path that
    cannot be reached in ``target`` (a list index past its end)."""
    result = copy.deepcopy(target)
    for change in changes:
        if change["path"] == "$":  # the whole document changed type
            result = copy.deepcopy(change["new"])
            continue
        parts = _path_parts(change["path"])
        node = result
        for part, following in itertools.pairwise(parts):
            if isinstance(part, int):
                if not isinstance(node, list) or part >= len(node):
                    raise KeyError(change["path"])
                node = node[part]
            else:
                if not isinstance(node, dict):
                    raise KeyError(change["path"])
                node = node.setdefault(part, [] if isinstance(following, int) else {})
        last = parts[-1]
        if isinstance(last, int):
            if not isinstance(node, list) or last >= len(node):
                raise KeyError(change["path"])
            node[last] = copy.deepcopy(change["new"])
        elif not isinstance(node, dict):
            raise KeyError(change["path"])
        elif change["op"] == "removed":
            node.pop(last, None)
        else:
            node[last] = copy.deepcopy(change["new"])
    return result
