"""One Arrow schema for a whole input: every field of every record, types widened where lossless.

``SchemaInference`` takes every record (``add``) and Parquet footers (``add_arrow``) and
counts, at each field path, how many values of each kind it saw. ``schema()`` then picks
one type per path:

* null values, empty lists and empty objects take the type of the other values; a field
  that is only ever null becomes a string, an object field that never has a key a
  ``map<string, string>`` (Parquet cannot store a struct without fields);
* int and float values make a ``float64`` column (ints are widened when written); a
  column of ints only is ``int64``, or ``uint64`` when it holds values in
  [2**63, 2**64) and no negative ones; a Parquet column keeps its own type when nothing
  else feeds that field;
* lists merge their items (a list of ints and a list of floats -> ``list<float64>``) and
  objects union their fields, in order of first appearance;
* where kinds genuinely conflict (a string in some rows, an object in others), the kind
  most values have wins - ties go to struct, list, string, number, bool, in that order -
  and the validator rejects the values that do not fit (``wrong_type``), as it rejects
  ints beyond the int64/uint64 column's range.

The choice depends only on the counts, so it is the same whatever the input order.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.types as pat

_I64 = 2**63
_U64 = 2**64
# tie-break between kinds with the same count: higher wins
_PRECEDENCE = {"struct": 5, "list": 4, "str": 3, "number": 2, "bool": 1}


class _Kind:
    """What was seen at one field path: counts per kind, and the item / child paths."""

    __slots__ = ("arrow", "bools", "fields", "floats", "ints", "item", "lists", "neg", "nulls", "strs", "structs",
                 "u64")

    def __init__(self):
        self.nulls = self.bools = self.ints = self.floats = self.strs = self.lists = self.structs = 0
        self.neg, self.u64 = False, 0
        self.item: _Kind | None = None
        self.fields: dict[str, _Kind] | None = None
        self.arrow: dict | None = None  # kind -> [rows, {exact Arrow types}] from Parquet footers

    def add(self, v) -> None:
        t = type(v)
        if t is str:
            self.strs += 1
        elif t is int:
            self.ints += 1
            if v < 0:
                self.neg = True
            elif v >= _I64 and v < _U64:
                self.u64 += 1
        elif t is float:
            self.floats += 1
        elif v is None:
            self.nulls += 1
        elif t is bool:
            self.bools += 1
        elif t is dict:
            self.add_dict(v)
        elif t is list:
            self.add_list(v)
        else:
            self._add_other(v)

    def add_dict(self, record: dict) -> None:
        self.structs += 1
        fields = self.fields
        if fields is None:
            fields = self.fields = {}
        for key, value in record.items():
            node = fields.get(key)
            if node is None:
                node = fields[key] = _Kind()
            # the common scalar kinds inline: this runs once per field of every input record
            t = type(value)
            if t is str:
                node.strs += 1
            elif t is int:
                node.ints += 1
                if value < 0:
                    node.neg = True
                elif value >= _I64 and value < _U64:
                    node.u64 += 1
            elif t is float:
                node.floats += 1
            elif value is None:
                node.nulls += 1
            else:
                node.add(value)

    def add_list(self, values: list) -> None:
        self.lists += 1
        if not values:
            return
        item = self.item
        if item is None:
            item = self.item = _Kind()
        types = set(map(type, values))
        if len(types) == 1:
            t = types.pop()
            if t is str:
                item.strs += len(values)
                return
            if t is float:
                item.floats += len(values)
                return
            if t is bool:
                item.bools += len(values)
                return
            if t is int:
                item.ints += len(values)
                if min(values) < 0:
                    item.neg = True
                if max(values) >= _I64:
                    item.u64 += sum(1 for v in values if _I64 <= v < _U64)
                return
        for v in values:
            item.add(v)

    def _add_other(self, v) -> None:
        """Values JSON does not produce (subclasses, tuples, bytes ...): counted by their nearest kind."""
        if isinstance(v, bool):
            self.bools += 1
        elif isinstance(v, int):
            self.add(int(v))
        elif isinstance(v, float):
            self.floats += 1
        elif isinstance(v, str):
            self.strs += 1
        elif isinstance(v, dict):
            self.add_dict(v)
        elif isinstance(v, (list, tuple)):
            self.add_list(list(v))
        else:
            self.add_arrow(pa.scalar(v).type, 1)

    def add_arrow(self, type_: pa.DataType, rows: int) -> None:
        """A Parquet column (or nested field) of ``type_`` over ``rows`` rows."""
        if pat.is_dictionary(type_):
            type_ = type_.value_type
        if pat.is_null(type_):
            self.nulls += rows
            return
        if pat.is_boolean(type_):
            kind = "bool"
        elif pat.is_integer(type_):
            kind = "int"
        elif pat.is_floating(type_):
            kind = "float"
        elif pat.is_string(type_) or pat.is_large_string(type_):
            kind = "str"
        elif pat.is_list(type_) or pat.is_large_list(type_) or pat.is_fixed_size_list(type_):
            kind = "list"
            if self.item is None:
                self.item = _Kind()
            self.item.add_arrow(type_.value_type, rows)
        elif pat.is_struct(type_):
            kind = "struct"
            if self.fields is None:
                self.fields = {}
            for child in type_:
                self.fields.setdefault(child.name, _Kind()).add_arrow(child.type, rows)
        else:
            kind = f"other:{type_}"
        if self.arrow is None:
            self.arrow = {}
        entry = self.arrow.setdefault(kind, [0, set()])
        entry[0] += rows
        entry[1].add(type_)

    # --- resolution -----------------------------------------------------------------

    def _arrow_rows(self, kind: str) -> int:
        return self.arrow[kind][0] if self.arrow and kind in self.arrow else 0

    def _arrow_types(self, kind: str) -> set:
        return self.arrow[kind][1] if self.arrow and kind in self.arrow else set()

    def candidates(self) -> dict[str, int]:
        """Kind -> number of values, for every kind seen (nulls excluded)."""
        seen = set(self.arrow or ())
        counts = {
            "struct": self.structs + self._arrow_rows("struct"),
            "list": self.lists + self._arrow_rows("list"),
            "str": self.strs + self._arrow_rows("str"),
            "number": self.ints + self.floats + self._arrow_rows("int") + self._arrow_rows("float"),
            "bool": self.bools + self._arrow_rows("bool"),
        }
        present = {k for k, n in counts.items() if n}
        present |= {k for k in ("struct", "list", "str", "bool") if k in seen}
        if "int" in seen or "float" in seen:
            present.add("number")
        out = {k: counts[k] for k in counts if k in present}
        out.update({k: v[0] for k, v in (self.arrow or {}).items() if k.startswith("other:")})
        return out

    def chosen_kind(self) -> str | None:
        counts = self.candidates()
        if not counts:
            return None
        return max(counts, key=lambda k: (counts[k], _PRECEDENCE.get(k, 0), k))

    def arrow_type(self) -> pa.DataType:
        kind = self.chosen_kind()
        if kind is None:
            return pa.string()
        if kind == "struct":
            if not self.fields:
                return pa.map_(pa.string(), pa.string())
            return pa.struct([pa.field(name, node.arrow_type()) for name, node in self.fields.items()])
        if kind == "list":
            return pa.list_(self.item.arrow_type() if self.item is not None else pa.string())
        if kind == "str":
            return self._exact("str", self.strs) or pa.string()
        if kind == "bool":
            return self._exact("bool", self.bools) or pa.bool_()
        if kind == "number":
            return self._number_type()
        return next(iter(self.arrow[kind][1]))

    def _exact(self, kind: str, from_records: int) -> pa.DataType | None:
        """The Parquet column's own type, when only Parquet columns of one type fed this path."""
        types = self._arrow_types(kind)
        return next(iter(types)) if len(types) == 1 and not from_records else None

    def _number_type(self) -> pa.DataType:
        int_types, float_types = self._arrow_types("int"), self._arrow_types("float")
        if self.floats or float_types:
            if not (self.ints or int_types or self.floats) and len(float_types) == 1:
                return next(iter(float_types))
            return pa.float64()
        exact = self._exact("int", self.ints)
        if exact is not None:
            return exact
        unsigned_only = not self.neg and all(pat.is_unsigned_integer(t) for t in int_types)
        if unsigned_only and (self.u64 or pa.uint64() in int_types):
            return pa.uint64()
        return pa.int64()


class SchemaInference:
    """Accumulates records and Parquet schemas; ``schema()`` answers the unified schema."""

    def __init__(self):
        self.root = _Kind()
        self.sources = 0  # records plus Parquet footers seen

    def add(self, record: dict) -> None:
        self.root.add_dict(record)
        self.sources += 1

    def add_arrow_schema(self, schema: pa.Schema, rows: int) -> None:
        self.root.add_arrow(pa.struct(list(schema)), rows)
        self.sources += 1

    def schema(self, force: dict[str, pa.DataType] | None = None) -> pa.Schema:
        """The schema (all fields nullable); ``force`` sets the type of the fields it names."""
        force = force or {}
        fields = self.root.fields or {}
        return pa.schema([pa.field(name, force.get(name) or node.arrow_type()) for name, node in fields.items()])
