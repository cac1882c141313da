"""Every schema: documented fields, distinct stable fingerprints, exact Arrow + Parquet round trips."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import schemas
from schemas import ALL_SCHEMAS, common, pull_requests, science, verus
from schemas.common import doc_of, fingerprint

NAMES = sorted(ALL_SCHEMAS)


def _walk(fields, prefix=""):
    """Yield (dotted path, field) for every field, descending into structs and list items."""
    for f in fields:
        path = prefix + f.name
        yield path, f
        yield from _walk_type(f.type, path)


def _walk_type(type_: pa.DataType, path: str):
    if pa.types.is_struct(type_):
        yield from _walk([type_.field(i) for i in range(type_.num_fields)], path + ".")
    elif pa.types.is_list(type_) or pa.types.is_large_list(type_):
        yield from _walk_type(type_.value_type, path + "[]")


def _example(type_: pa.DataType, name: str, fill_nullable: bool):
    """A value of ``type_``; nested nullable fields are None when ``fill_nullable`` is false."""
    if pa.types.is_struct(type_):
        return {
            f.name: _example(f.type, f.name, fill_nullable) if (fill_nullable or not f.nullable) else None
            for f in (type_.field(i) for i in range(type_.num_fields))
        }
    if pa.types.is_list(type_):
        return [_example(type_.value_type, name, fill_nullable) for _ in range(2)]
    if pa.types.is_string(type_):
        return f"{name} ✓ é\r\nline 2"  # non-ASCII and CRLF must survive byte-exactly
    if pa.types.is_int64(type_):
        return 7
    if pa.types.is_float64(type_):
        return 0.375
    if pa.types.is_boolean(type_):
        return True
    raise AssertionError(f"no example value for type {type_} of {name}")


def example_record(schema: pa.Schema, fill_nullable: bool = True) -> dict:
    return {
        f.name: _example(f.type, f.name, fill_nullable) if (fill_nullable or not f.nullable) else None
        for f in schema
    }


def test_registry_holds_every_schema_constant():
    declared = {
        id(value)
        for module in (common, pull_requests, science, verus)
        for name, value in vars(module).items()
        if name.endswith("_SCHEMA") and isinstance(value, pa.Schema)
    }
    assert declared == {id(s) for s in ALL_SCHEMAS.values()}
    for name, schema in ALL_SCHEMAS.items():
        assert getattr(schemas, name.upper() + "_SCHEMA") is schema


@pytest.mark.parametrize("name", NAMES)
def test_every_field_is_documented(name):
    undocumented = [path for path, f in _walk(ALL_SCHEMAS[name]) if not doc_of(f).strip()]
    assert undocumented == []


@pytest.mark.parametrize("name", NAMES)
def test_field_names_are_unique_snake_case(name):
    for path, f in _walk(ALL_SCHEMAS[name]):
        if path.endswith("[]"):
            continue
        assert f.name == f.name.lower() and " " not in f.name and f.name.isascii(), path
    top = ALL_SCHEMAS[name].names
    assert len(top) == len(set(top))


@pytest.mark.parametrize("name", NAMES)
def test_conventions(name):
    for path, f in _walk(ALL_SCHEMAS[name]):
        assert not pa.types.is_large_string(f.type), path
        assert not pa.types.is_large_list(f.type), path
        if f.name == "id" or f.name.endswith("_id"):
            assert pa.types.is_string(f.type), f"ids are strings: {name}.{path}"


def test_fingerprints_distinct_and_stable():
    prints = {name: fingerprint(schema) for name, schema in ALL_SCHEMAS.items()}
    assert len(set(prints.values())) == len(prints)
    assert prints == {name: fingerprint(schema) for name, schema in ALL_SCHEMAS.items()}
    for name, schema in ALL_SCHEMAS.items():  # a rebuilt copy prints the same
        assert fingerprint(pa.schema(list(schema))) == prints[name]


@pytest.mark.parametrize("fill_nullable", [True, False], ids=["full", "minimal"])
@pytest.mark.parametrize("name", NAMES)
def test_round_trip_arrow_and_parquet(name, fill_nullable, tmp_path):
    schema = ALL_SCHEMAS[name]
    record = example_record(schema, fill_nullable)
    table = pa.Table.from_pylist([record], schema=schema)
    assert table.schema.equals(schema, check_metadata=True)
    assert table.to_pylist() == [record]

    path = tmp_path / f"{name}.parquet"
    pq.write_table(table, path, compression="zstd")
    back = pq.read_table(path)
    assert back.equals(table)
    assert back.to_pylist() == [record]
    # docs (also of nested fields) and list item names survive, so the fingerprint does too
    assert back.schema.equals(schema, check_metadata=True)
    assert fingerprint(back.schema) == fingerprint(schema)


@pytest.mark.parametrize("name", NAMES)
def test_required_fields_reject_null_at_parquet_write(name, tmp_path):
    # Arrow itself accepts a null in a non-nullable field (from_pylist and validate pass);
    # the Parquet writer is what refuses it, so a bad record cannot reach a shard silently.
    schema = ALL_SCHEMAS[name]
    required = [f.name for f in schema if not f.nullable]
    assert required, f"{name} should have at least one required field"
    record = example_record(schema)
    record[required[0]] = None
    table = pa.Table.from_pylist([record], schema=schema)
    with pytest.raises(pa.ArrowInvalid, match="non-nullable"):
        pq.write_table(table, tmp_path / "bad.parquet")


def test_vocabularies():
    assert len(science.SUBJECTS) == 8 and len(set(science.SUBJECTS)) == 8
    assert science.RUBRIC_CATEGORIES == ("Essential", "Important", "Optional", "Pitfall")
    assert len(set(verus.VERUS_FEATURES)) == len(verus.VERUS_FEATURES) >= 30
    assert not set(verus.VERUS_FEATURES) & set(verus.ESCAPE_HATCHES)


@pytest.mark.parametrize(
    "schema", [verus.VERUS_PROGRAM_SCHEMA, verus.PROOF_TASK_SCHEMA, verus.REPAIR_PAIR_SCHEMA, verus.TRAJECTORY_SCHEMA]
)
def test_verus_outputs_carry_feature_columns(schema):
    for column in verus.FEATURE_COLUMNS + verus.ESCAPE_COLUMNS:
        assert schema.field(column).type == pa.int64()
