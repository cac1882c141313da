"""Check a record against a pyarrow schema before it reaches a shard writer.

``check_record(record, schema)`` answers ``None`` when the record can be written, or
``Rejected(reason, detail)`` naming the field: reasons ``missing_field``,
``wrong_type``, ``invalid_utf8``, ``not_a_record``. Fields the schema does not name
are ignored (the writer drops them). Whatever it passes, ``transforms.io.shards``
writes: ints in float columns are widened there (ints too large for a double are
``wrong_type`` here); NaN and infinities are stored as they are. It is a filter stage
function, so ``apply_stage(pcoll, "validate:docs", partial(check_record, schema=s), kind="filter")``
turns every non-conforming record into a reject instead of a failed write.
"""
from __future__ import annotations

import sys
from typing import Any, Callable

import pyarrow as pa
import pyarrow.types as pat

from transforms.records import Rejected

_INT_BOUNDS = {8: 2**7, 16: 2**15, 32: 2**31, 64: 2**63}
_FLOAT_MAX = int(sys.float_info.max)


def _short(value: int, limit: int = 40) -> str:
    """A big int for a message: its first digits and its length."""
    try:
        text = str(value)
    except ValueError:  # more digits than Python converts to text
        return f"an int of {value.bit_length()} bits"
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} digits)"


def _type_error(path: str, type_: pa.DataType, value: Any) -> Rejected:
    return Rejected("wrong_type", f"field {path}: expected {type_}, got {type(value).__name__}")


def _check_value(value: Any, type_: pa.DataType, path: str) -> Rejected | None:
    if pat.is_string(type_) or pat.is_large_string(type_):
        if not isinstance(value, str):
            return _type_error(path, type_, value)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return Rejected("invalid_utf8", f"field {path}: {exc.reason} at position {exc.start}")
        return None
    if pat.is_boolean(type_):
        return None if isinstance(value, bool) else _type_error(path, type_, value)
    if pat.is_integer(type_):
        if isinstance(value, bool) or not isinstance(value, int):
            return _type_error(path, type_, value)
        bound = _INT_BOUNDS[type_.bit_width]
        low, high = (0, 2 * bound) if pat.is_unsigned_integer(type_) else (-bound, bound)
        if not low <= value < high:
            return Rejected("wrong_type", f"field {path}: {_short(value)} out of range for {type_} "
                                          f"(got {type(value).__name__})")
        return None
    if pat.is_floating(type_):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return _type_error(path, type_, value)
        if isinstance(value, int) and not -_FLOAT_MAX <= value <= _FLOAT_MAX:
            return Rejected("wrong_type", f"field {path}: {_short(value)} out of range for {type_} "
                                          f"(got {type(value).__name__})")
        return None  # ints are widened when written; NaN and infinities are stored as they are
    if pat.is_binary(type_) or pat.is_large_binary(type_):
        return None if isinstance(value, (bytes, bytearray)) else _type_error(path, type_, value)
    if pat.is_list(type_) or pat.is_large_list(type_):
        if not isinstance(value, (list, tuple)):
            return _type_error(path, type_, value)
        item = type_.value_field
        for i, v in enumerate(value):
            problem = _check_field(v, item, f"{path}[{i}]")
            if problem:
                return problem
        return None
    if pat.is_struct(type_):
        if not isinstance(value, dict):
            return _type_error(path, type_, value)
        for child in type_:
            problem = _check_field(value.get(child.name), child, f"{path}.{child.name}")
            if problem:
                return problem
        return None
    if pat.is_map(type_):
        if not isinstance(value, dict):
            return _type_error(path, type_, value)
        for k, v in value.items():
            problem = _check_value(k, type_.key_type, f"{path}{{key}}") or (
                None if v is None else _check_value(v, type_.item_type, f"{path}[{k!r}]")
            )
            if problem:
                return problem
        return None
    # Other types (timestamps, decimals, ...): let pyarrow decide.
    try:
        pa.array([value], type=type_)
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
        return Rejected("wrong_type", f"field {path}: {exc}")
    return None


def _check_field(value: Any, f: pa.Field, path: str) -> Rejected | None:
    if value is None:
        return None if f.nullable else Rejected("missing_field", f"field {path} is required")
    return _check_value(value, f.type, path)


def _value_test(type_: pa.DataType) -> Callable[[Any], bool]:
    """A fast yes/no reading of ``_check_value(value, type_, ...) is None``."""
    if pat.is_string(type_) or pat.is_large_string(type_):
        return lambda v: isinstance(v, str) and (v.isascii() or _encodes(v))
    if pat.is_boolean(type_):
        return lambda v: isinstance(v, bool)
    if pat.is_integer(type_):
        bound = _INT_BOUNDS[type_.bit_width]
        low, high = (0, 2 * bound) if pat.is_unsigned_integer(type_) else (-bound, bound)
        return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v < high
    if pat.is_floating(type_):
        return lambda v: (isinstance(v, float) or (
            isinstance(v, int) and not isinstance(v, bool) and -_FLOAT_MAX <= v <= _FLOAT_MAX))
    if pat.is_binary(type_) or pat.is_large_binary(type_):
        return lambda v: isinstance(v, (bytes, bytearray))
    if pat.is_list(type_) or pat.is_large_list(type_):
        item = _field_test(type_.value_field)
        return lambda v: isinstance(v, (list, tuple)) and all(map(item, v))
    if pat.is_struct(type_):
        children = [(child.name, _field_test(child)) for child in type_]
        return lambda v: isinstance(v, dict) and all(test(v.get(name)) for name, test in children)
    if pat.is_map(type_):
        key, item = _value_test(type_.key_type), _value_test(type_.item_type)
        return lambda v: isinstance(v, dict) and all(
            key(k) and (x is None or item(x)) for k, x in v.items())
    return lambda v: _check_value(v, type_, "") is None


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _field_test(f: pa.Field) -> Callable[[Any], bool]:
    test = _value_test(f.type)
    if f.nullable:
        return lambda v: v is None or test(v)
    return lambda v: v is not None and test(v)


class RecordChecker:
    """``check_record`` for one schema, compiled once: a fast pass over each field, and
    the field-by-field reading only for a record that fails it (to name the problem)."""

    def __init__(self, schema: pa.Schema):
        self.schema = schema
        self._fields = [(f.name, _field_test(f)) for f in schema]

    def __call__(self, record: Any) -> Rejected | None:
        if isinstance(record, dict) and all(test(record.get(name)) for name, test in self._fields):
            return None
        return _first_problem(record, self.schema)

    def __reduce__(self):
        return RecordChecker, (self.schema,)


def _first_problem(record: Any, schema: pa.Schema) -> Rejected | None:
    if not isinstance(record, dict):
        return Rejected("not_a_record", f"expected an object, got {type(record).__name__}")
    for f in schema:
        problem = _check_field(record.get(f.name), f, f.name)
        if problem:
            return problem
    return None


_CHECKERS: dict[int, RecordChecker] = {}


def check_record(record: Any, schema: pa.Schema) -> Rejected | None:
    """None when ``record`` conforms to ``schema``, else the first problem found."""
    checker = _CHECKERS.get(id(schema))
    if checker is None or checker.schema is not schema:
        if len(_CHECKERS) >= 256:
            _CHECKERS.clear()
        checker = _CHECKERS[id(schema)] = RecordChecker(schema)
    return checker(record)
