"""Custom-resource write pipeline: prune unknown fields, apply schema defaults, validate schema and CEL rules.

Runs on every create/update of a CR (and on status writes) against the served version's openAPIV3Schema, with
the algorithms of `schema.py` and `cel.py`. Unknown fields are reported per
fieldValidation: Ignore drops them silently, Warn adds a Warning header, Strict fails the request with 400.
"""

from __future__ import annotations

from typing import Any

from mpi_operator.sandbox.admission.cel import evaluate_validations
from mpi_operator.sandbox.admission.schema import apply_schema_defaults, prune_unknown_fields, validate_against_schema
from mpi_operator.sandbox.admission.unknown_fields import report_unknown
from mpi_operator.sandbox.admission.write_options import WriteOptions


def prepare(schema: dict[str, Any] | None, obj: dict[str, Any], old: dict[str, Any] | None,
            opts: WriteOptions) -> list[dict[str, Any]]:
    """Mutates `obj` (pruned and defaulted against the served version's `schema`) and returns the 422 causes;
    raises 400 for Strict unknown fields. No schema: nothing to do."""
    if schema is None:
        return []
    report_unknown(prune_unknown_fields(obj, schema), opts)
    apply_schema_defaults(obj, schema)
    causes: list[dict[str, Any]] = list(validate_against_schema(obj, schema))
    if causes:
        # As kube-apiserver 1.37: CEL rules are not evaluated over an object that fails its schema.
        causes.append({"reason": "FieldValueInvalid", "field": "<nil>", "message": (
            "Invalid value: null: some validation rules were not checked because the object was invalid; "
            "correct the existing errors to complete validation")})
        return causes
    return evaluate_validations(obj, schema, old)
