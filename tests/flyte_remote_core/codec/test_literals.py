"""Values <-> literals: wire shapes (as the SDK writes them), round trips, coercion, errors, storage."""

import base64
import dataclasses
import datetime
import enum
import json
from typing import Optional, Union

import msgpack
import pydantic
import pytest
from flyteidl2.core import interface_pb2, literals_pb2, types_pb2
from flyteidl2.task import common_pb2
from google.protobuf import struct_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flyte_remote_core._errors import InvalidInputError, StorageError
from flyte_remote_core.codec import _storage, literal_type_for, typed_interface_for
from flyte_remote_core.codec._literals import (
    InvalidInputsError,
    from_literal,
    inputs_to_literals,
    literals_to_python,
    to_json_safe,
    to_literal,
)
from flyte_remote_core.codec._refs import DataFrameRef, DirRef, FileRef

UTC = datetime.UTC
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
FLOATS = st.floats(allow_nan=False)
AWARE = st.datetimes(
    min_value=datetime.datetime(2, 1, 1),
    max_value=datetime.datetime(9998, 12, 31),
    timezones=st.builds(lambda m: datetime.timezone(datetime.timedelta(minutes=m)), st.integers(-720, 840)),
)
NAIVE = st.datetimes(min_value=datetime.datetime(2, 1, 1), max_value=datetime.datetime(9998, 12, 31))
DURATIONS = st.timedeltas(min_value=-datetime.timedelta(days=10**6), max_value=datetime.timedelta(days=10**6))
# inside a struct a timedelta is float seconds (as mashumaro writes it): keep it where a
# float still holds every microsecond
SMALL_DURATIONS = st.timedeltas(min_value=-datetime.timedelta(days=1000), max_value=datetime.timedelta(days=1000))
URIS = st.from_regex(r"\A(s3|gs|file)://[a-z0-9]{1,10}(/[a-zA-Z0-9._-]{1,12}){0,3}\Z")
JSONISH = st.recursive(
    st.none() | st.booleans() | INT64 | FLOATS | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
# no example database: the suite must not write into the shared working tree
PROPS = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


@dataclasses.dataclass
class Item:
    name: str
    qty: int
    price: float = 1.0
    seen: Optional[datetime.datetime] = None
    wait: datetime.timedelta = datetime.timedelta(0)


@dataclasses.dataclass
class Order:
    items: list[Item]
    notes: dict[str, Optional[int]]
    color: Color = Color.RED
    receipt: Optional[FileRef] = None
    table: Optional[DataFrameRef] = None


class Address(pydantic.BaseModel):
    city: str
    zip: Optional[str] = None


class Customer(pydantic.BaseModel):
    name: str
    joined: datetime.datetime
    patience: datetime.timedelta
    addresses: list[Address] = []


def roundtrip(value, hint, **kw):
    lt = literal_type_for(hint)
    lit = to_literal(value, lt, python_type=hint)
    # through bytes too: what goes on the wire is the serialized message
    lit = literals_pb2.Literal.FromString(lit.SerializeToString())
    return from_literal(lit, lt, python_type=hint, **kw)


def msgpack_of(lit):
    assert lit.scalar.binary.tag == "msgpack"
    return msgpack.unpackb(lit.scalar.binary.value, strict_map_key=False)


# ---------------------------------------------------------------- round trips (REFERENCE.md section 4)


@PROPS
@given(INT64)
def test_int_roundtrip(v):
    assert roundtrip(v, int) == v


@PROPS
@given(FLOATS)
def test_float_roundtrip(v):
    assert roundtrip(v, float) == v


@PROPS
@given(st.text())
def test_str_roundtrip(v):
    assert roundtrip(v, str) == v


@PROPS
@given(st.booleans())
def test_bool_roundtrip(v):
    assert roundtrip(v, bool) is v


@PROPS
@given(AWARE)
def test_aware_datetime_roundtrip_comes_back_utc(v):
    out = roundtrip(v, datetime.datetime)
    assert out == v and out.tzinfo is UTC


@PROPS
@given(NAIVE)
def test_naive_datetime_is_taken_as_utc(v):
    out = roundtrip(v, datetime.datetime)
    assert out == v.replace(tzinfo=UTC)


def test_naive_datetime_is_utc_whatever_the_local_timezone(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        naive = datetime.datetime(2024, 7, 1, 12, 0)
        lit = to_literal(naive, literal_type_for(datetime.datetime))
        assert lit.scalar.primitive.datetime.ToJsonString() == "2024-07-01T12:00:00Z"
        assert from_literal(lit) == datetime.datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
        parsed = to_literal("2024-07-01T12:00:00", literal_type_for(datetime.datetime))
        assert parsed == lit
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


@PROPS
@given(DURATIONS)
def test_timedelta_roundtrip(v):
    assert roundtrip(v, datetime.timedelta) == v


@PROPS
@given(st.lists(INT64, max_size=8))
def test_list_roundtrip(v):
    assert roundtrip(v, list[int]) == v


@PROPS
@given(st.dictionaries(st.text(max_size=10), FLOATS, max_size=6))
def test_typed_dict_roundtrip(v):
    assert roundtrip(v, dict[str, float]) == v


@PROPS
@given(st.dictionaries(st.text(max_size=10), JSONISH, max_size=5))
def test_untyped_dict_roundtrip(v):
    assert roundtrip(v, dict) == v


@PROPS
@given(st.lists(st.dictionaries(st.text(max_size=5), st.none() | INT64, max_size=4), max_size=4))
def test_nested_list_of_dict_of_optional_roundtrip(v):
    assert roundtrip(v, list[dict[str, Optional[int]]]) == v


@PROPS
@given(st.none() | INT64)
def test_optional_roundtrip(v):
    assert roundtrip(v, Optional[int]) == v


@PROPS
@given(INT64 | st.text(max_size=10))
def test_union_roundtrip_keeps_the_variant(v):
    out = roundtrip(v, Union[int, str])
    assert out == v and type(out) is type(v)


ITEMS = st.builds(
    Item,
    name=st.text(max_size=10),
    qty=INT64,
    price=FLOATS,
    seen=st.none() | AWARE | NAIVE,
    wait=SMALL_DURATIONS,
)
ORDERS = st.builds(
    Order,
    items=st.lists(ITEMS, max_size=3),
    notes=st.dictionaries(st.text(max_size=5), st.none() | INT64, max_size=3),
    color=st.sampled_from(Color),
    receipt=st.none() | st.builds(FileRef, URIS, st.sampled_from(["", "csv"])),
    table=st.none() | st.builds(DataFrameRef, URIS, st.sampled_from(["", "parquet"])),
)


@PROPS
@given(ORDERS)
def test_dataclass_with_list_of_dataclasses_roundtrip(v):
    out = roundtrip(v, Order)
    assert isinstance(out, Order) and all(isinstance(i, Item) for i in out.items)
    assert out == v


CUSTOMERS = st.builds(
    Customer,
    name=st.text(max_size=10),
    joined=AWARE,
    patience=SMALL_DURATIONS,
    addresses=st.lists(st.builds(Address, city=st.text(max_size=8), zip=st.none() | st.text(max_size=5)), max_size=3),
)


@PROPS
@given(CUSTOMERS)
def test_pydantic_model_roundtrip(v):
    out = roundtrip(v, Customer)
    assert isinstance(out, Customer) and out == v


@PROPS
@given(URIS, st.sampled_from(["", "csv"]))
def test_refs_roundtrip(uri, fmt):
    assert roundtrip(FileRef(uri, fmt), FileRef) == FileRef(uri, fmt)
    assert roundtrip(DirRef(uri, fmt), DirRef) == DirRef(uri, fmt)
    assert roundtrip(DataFrameRef(uri, fmt), DataFrameRef) == DataFrameRef(uri, fmt)


@PROPS
@given(st.lists(st.dictionaries(st.text(max_size=5), INT64, max_size=3), max_size=5))
def test_offloaded_literal_roundtrip_through_a_real_file(tmp_path_factory, v):
    hint = list[dict[str, int]]
    lt = literal_type_for(hint)
    path = tmp_path_factory.mktemp("off") / "literal.pb"
    path.write_bytes(to_literal(v, lt).SerializeToString())
    off = literals_pb2.Literal(
        offloaded_metadata=literals_pb2.LiteralOffloadedMetadata(
            uri=path.as_uri(), size_bytes=path.stat().st_size, inferred_type=lt
        )
    )
    assert from_literal(off, lt, python_type=hint) == v
    assert from_literal(off) == v  # the inferred type is enough


# ---------------------------------------------------------------- wire shapes


def test_primitive_wire_shapes():
    assert to_literal(3, literal_type_for(int)).scalar.primitive.integer == 3
    assert to_literal(3, literal_type_for(float)).scalar.primitive.WhichOneof("value") == "float_value"
    naive = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456)
    ts = to_literal(naive, literal_type_for(datetime.datetime)).scalar.primitive.datetime
    assert ts.ToJsonString() == "2024-05-06T07:08:09.123456Z"
    aware = datetime.datetime(2024, 5, 6, 9, 8, 9, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    assert (
        to_literal(aware, literal_type_for(datetime.datetime)).scalar.primitive.datetime.ToJsonString()
        == "2024-05-06T07:08:09Z"
    )
    d = to_literal(datetime.timedelta(minutes=90), literal_type_for(datetime.timedelta)).scalar.primitive.duration
    assert d.seconds == 5400


def test_struct_wire_shape_is_msgpack_like_mashumaro():
    order = Order(
        items=[Item("a", 2, seen=datetime.datetime(2024, 1, 2, 3, 4, 5), wait=datetime.timedelta(seconds=1.5))],
        notes={"k": None},
        receipt=FileRef("s3://b/dir/r.pdf", "pdf"),
        table=DataFrameRef("s3://b/t", "parquet"),
    )
    lit = to_literal(order, literal_type_for(Order))
    assert msgpack_of(lit) == {
        "items": [{"name": "a", "qty": 2, "price": 1.0, "seen": "2024-01-02T03:04:05", "wait": 1.5}],
        "notes": {"k": None},
        "color": "red",
        "receipt": {"path": "s3://b/dir/r.pdf", "name": "r.pdf", "format": "pdf", "hash": None},
        "table": {"uri": "s3://b/t", "format": "parquet", "hash": None},
    }


def test_pydantic_wire_shape_is_model_dump_json():
    c = Customer(name="n", joined=datetime.datetime(2024, 1, 1, tzinfo=UTC), patience=datetime.timedelta(hours=1))
    data = msgpack_of(to_literal(c, literal_type_for(Customer)))
    assert data == json.loads(c.model_dump_json())
    assert data["patience"] == "PT1H"


def test_union_wire_shape_carries_the_tagged_variant():
    lt = literal_type_for(Optional[int])
    lit = to_literal(5, lt)
    assert lit.scalar.union.value.scalar.primitive.integer == 5
    assert lit.scalar.union.type.simple == types_pb2.INTEGER and lit.scalar.union.type.structure.tag == "int"
    none = to_literal(None, lt)
    assert none.scalar.union.value.scalar.HasField("none_type")
    assert none.scalar.union.type.structure.tag == "none"


def test_blob_and_dataframe_wire_shapes():
    f = to_literal("s3://b/k", literal_type_for(FileRef)).scalar.blob
    assert f.uri == "s3://b/k" and f.metadata.type.dimensionality == types_pb2.BlobType.SINGLE
    d = to_literal(DirRef("s3://b/p/", "csv"), literal_type_for(DirRef)).scalar.blob
    assert d.metadata.type.dimensionality == types_pb2.BlobType.MULTIPART and d.metadata.type.format == "csv"
    lt = types_pb2.LiteralType(structured_dataset_type=types_pb2.StructuredDatasetType(format="parquet"))
    sd = to_literal("s3://b/t", lt).scalar.structured_dataset
    assert sd.uri == "s3://b/t" and sd.metadata.structured_dataset_type.format == "parquet"
    assert from_literal(to_literal("s3://b/t", lt)) == DataFrameRef("s3://b/t", "parquet")


def test_enum_is_sent_by_name_and_decoded_to_the_member():
    lt = literal_type_for(Color)
    lit = to_literal(Color.GREEN, lt)
    assert lit.scalar.primitive.string_value == "GREEN"
    assert from_literal(lit, lt, python_type=Color) is Color.GREEN
    assert from_literal(lit, lt) == "GREEN"
    assert to_literal("RED", lt).scalar.primitive.string_value == "RED"
    with pytest.raises(InvalidInputError, match="one of 'RED', 'GREEN'"):
        to_literal("BLUE", lt, name="c")


# ---------------------------------------------------------------- decoding what others send


def test_int_and_float_literals_cross_decode_like_the_sdk():
    assert from_literal(to_literal(3, literal_type_for(int)), python_type=float) == 3.0
    assert isinstance(from_literal(to_literal(3, literal_type_for(int)), literal_type_for(float)), float)
    assert from_literal(to_literal(2.0, literal_type_for(float)), python_type=int) == 2


def test_bare_value_decodes_into_an_optional_hint():
    lit = to_literal(4, literal_type_for(int))
    assert from_literal(lit, python_type=Optional[int]) == 4
    none = literals_pb2.Literal(scalar=literals_pb2.Scalar(none_type=literals_pb2.Void()))
    assert from_literal(none, python_type=Optional[int]) is None


def test_generic_struct_from_the_ui_decodes():
    s = struct_pb2.Struct()
    s.update({"name": "x", "qty": 2})
    lit = literals_pb2.Literal(scalar=literals_pb2.Scalar(generic=s))
    assert from_literal(lit, python_type=Item) == Item("x", 2)
    assert from_literal(lit) == {"name": "x", "qty": 2.0}


def test_struct_without_python_type_decodes_to_dict_and_date_hint_to_date():
    lit = to_literal(Item("a", 1), literal_type_for(Item))
    assert from_literal(lit, literal_type_for(Item))["name"] == "a"
    d = to_literal(datetime.date(2024, 2, 3), literal_type_for(datetime.date), python_type=datetime.date)
    assert from_literal(d, python_type=datetime.date) == datetime.date(2024, 2, 3)


def test_struct_that_does_not_fit_the_class_raises_type_error():
    lit = to_literal({"name": "a"}, literal_type_for(dict))
    with pytest.raises(TypeError, match=r"Item\.qty is missing"):
        from_literal(lit, python_type=Item)


def test_blob_decodes_to_str_when_asked():
    lit = to_literal("s3://b/k", literal_type_for(FileRef))
    assert from_literal(lit, python_type=str) == "s3://b/k"


def test_offloaded_literal_uses_the_read_uri_callback():
    inner = to_literal([1, 2], literal_type_for(list[int]))
    calls = []

    def read(uri):
        calls.append(uri)
        return inner.SerializeToString()

    off = literals_pb2.Literal(offloaded_metadata=literals_pb2.LiteralOffloadedMetadata(uri="s3://bucket/o0.pb"))
    assert from_literal(off, literal_type_for(list[int]), read_uri=read) == [1, 2]
    assert calls == ["s3://bucket/o0.pb"]


def test_offloaded_literal_with_a_missing_file_raises_storage_error(tmp_path):
    off = literals_pb2.Literal(offloaded_metadata=literals_pb2.LiteralOffloadedMetadata(uri=str(tmp_path / "nope.pb")))
    with pytest.raises(StorageError, match=r"nope\.pb"):
        from_literal(off)


# ---------------------------------------------------------------- string coercion (orchestrator templates)


@pytest.mark.parametrize(
    "text, hint, expected",
    [
        ("3", int, 3),
        (" -42 ", int, -42),
        ("1.5", float, 1.5),
        ("3", float, 3.0),
        ("1e3", float, 1000.0),
        ("true", bool, True),
        ("TRUE", bool, True),
        ("Yes", bool, True),
        ("1", bool, True),
        ("false", bool, False),
        ("no", bool, False),
        ("0", bool, False),
        ("2024-01-02T03:04:05Z", datetime.datetime, datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02T05:04:05+02:00", datetime.datetime, datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02T03:04:05", datetime.datetime, datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02", datetime.datetime, datetime.datetime(2024, 1, 2, tzinfo=UTC)),
        ("90", datetime.timedelta, datetime.timedelta(seconds=90)),
        ("1.5", datetime.timedelta, datetime.timedelta(seconds=1.5)),
        ("PT1H30M", datetime.timedelta, datetime.timedelta(minutes=90)),
        ("P1DT2H", datetime.timedelta, datetime.timedelta(days=1, hours=2)),
        ("-PT5S", datetime.timedelta, datetime.timedelta(seconds=-5)),
        ("01:02:03", datetime.timedelta, datetime.timedelta(hours=1, minutes=2, seconds=3)),
        ("1 day, 2:00:00", datetime.timedelta, datetime.timedelta(days=1, hours=2)),
        ("[1, 2, 3]", list[int], [1, 2, 3]),
        ('["4", "5"]', list[int], [4, 5]),
        ('{"a": 1.5}', dict[str, float], {"a": 1.5}),
        ('{"a": [1, {"b": null}]}', dict, {"a": [1, {"b": None}]}),
        ('{"name": "x", "qty": 2}', Item, Item("x", 2)),
        ("3", Optional[int], 3),
        ("None", Optional[int], None),
        ("", Optional[int], None),
        ("3", Union[int, str], "3"),  # a str variant takes a str as it is
        ("s3://b/k", FileRef, FileRef("s3://b/k")),
    ],
)
def test_string_coercion(text, hint, expected):
    out = from_literal(
        to_literal(text, literal_type_for(hint), python_type=hint), literal_type_for(hint), python_type=hint
    )
    assert out == expected and type(out) is type(expected)


@pytest.mark.parametrize(
    "value, hint",
    [
        ("3.5", int),
        ("three", int),
        ("", int),
        (3.0, int),
        (True, int),
        (False, float),
        ("abc", float),
        (1, bool),
        ("maybe", bool),
        ("", bool),
        (1, str),
        (None, str),
        ("yesterday", datetime.datetime),
        (1700000000, datetime.datetime),
        (datetime.date(2024, 1, 1), datetime.datetime),
        ("P1Y", datetime.timedelta),
        ("soon", datetime.timedelta),
        (True, datetime.timedelta),
        ("[1,", list[int]),
        ('{"a": 1}', list[int]),
        ("[1, 2]", dict[str, int]),
        ({1: 2}, dict[str, int]),
        ("[]", Item),
        ([1], dict),
        ("not json", dict),
        ({"qty": 2}, Item),
        (Item("a", 1), Order),
        (3, FileRef),
        (DirRef("s3://x"), FileRef),
        (FileRef("s3://x"), DataFrameRef),
        ("None", Union[int, float]),
        (None, int),
        (2**63, int),
        (datetime.timedelta(days=999_999_999), datetime.timedelta),
        ("x", Optional[int]),
    ],
)
def test_values_that_do_not_fit_are_refused(value, hint):
    with pytest.raises(InvalidInputError):
        to_literal(value, literal_type_for(hint), python_type=hint)


def test_int_is_accepted_for_float_and_numbers_are_seconds_for_timedelta():
    assert to_literal(2, literal_type_for(float)).scalar.primitive.float_value == 2.0
    assert from_literal(to_literal(2.5, literal_type_for(datetime.timedelta))) == datetime.timedelta(seconds=2.5)


def test_union_prefers_the_natural_variant():
    lt = literal_type_for(Union[float, int])
    assert to_literal(3, lt).scalar.union.type.structure.tag == "int"
    assert to_literal(3.0, lt).scalar.union.type.structure.tag == "float"
    lt2 = literal_type_for(Union[int, bool])
    assert to_literal(True, lt2).scalar.union.type.structure.tag == "bool"
    # numbers are seconds for a timedelta only when no variant takes the number as it is
    lt3 = literal_type_for(Union[datetime.timedelta, float])
    assert to_literal(3, lt3).scalar.union.type.structure.tag == "float"
    lt4 = literal_type_for(Union[datetime.timedelta, str])
    assert to_literal(3, lt4).scalar.union.type.structure.tag == "timedelta"


def test_dict_given_for_a_dataclass_is_validated_into_it():
    lit = to_literal({"name": "a", "qty": 1, "extra": 9}, literal_type_for(Item), python_type=Item)
    assert msgpack_of(lit)["price"] == 1.0  # defaults filled, unknown key dropped
    assert "extra" not in msgpack_of(lit)


# ---------------------------------------------------------------- error messages


def test_error_names_input_expected_type_and_given_value():
    with pytest.raises(InvalidInputError) as exc:
        to_literal("abc", literal_type_for(int), name="count")
    e = exc.value
    assert (e.input_name, e.expected, e.given) == ("count", "int", "str 'abc'")
    assert str(e) == "input 'count': expected int, got str 'abc'"
    assert isinstance(e, ValueError)


def test_nested_errors_name_the_path():
    with pytest.raises(InvalidInputError) as exc:
        to_literal([1, 2, "x"], literal_type_for(list[int]), name="xs")
    assert exc.value.input_name == "xs[2]" and exc.value.expected == "int"
    with pytest.raises(InvalidInputError) as exc:
        to_literal({"k": [True]}, literal_type_for(dict[str, list[float]]), name="m")
    assert exc.value.input_name == "m['k'][0]" and exc.value.given == "bool True"


def test_given_is_short_even_for_huge_values():
    with pytest.raises(InvalidInputError) as exc:
        to_literal(list(range(10_000)), literal_type_for(str), name="s")
    assert len(exc.value.given) <= 80
    assert exc.value.given.startswith("list [0, 1, 2")


def test_optional_error_describes_the_optional():
    with pytest.raises(InvalidInputError, match=r"expected Optional\[int\], got str 'x'"):
        to_literal("x", literal_type_for(Optional[int]), name="n")


def test_struct_error_says_which_fields_are_missing():
    with pytest.raises(InvalidInputError, match="missing fields: qty"):
        to_literal({"name": "a"}, literal_type_for(Item), name="item")


# ---------------------------------------------------------------- inputs_to_literals


def _t(a: int, b: list[str], c: Optional[float] = None, d: str = "dflt") -> int:
    raise NotImplementedError


IFACE, DEFAULTS = typed_interface_for(_t)


def test_inputs_follow_interface_order_and_defaults_are_sent():
    inputs = inputs_to_literals({"b": ["x"], "a": "7"}, IFACE, DEFAULTS, task="t")
    assert isinstance(inputs, common_pb2.Inputs)
    assert [n.name for n in inputs.literals] == ["a", "b", "c", "d"]
    assert inputs.literals[0].value.scalar.primitive.integer == 7
    assert inputs.literals[3].value == DEFAULTS[1].parameter.default
    assert inputs.literals[2].value.scalar.union.value.scalar.HasField("none_type")


def test_given_values_override_defaults_and_literals_pass_through():
    pre = to_literal(["p"], literal_type_for(list[str]))
    inputs = inputs_to_literals({"a": 1, "b": pre, "d": "mine"}, IFACE.inputs, DEFAULTS, task="t")
    assert inputs.literals[1].value == pre
    assert inputs.literals[3].value.scalar.primitive.string_value == "mine"


def test_all_input_problems_are_reported_together():
    with pytest.raises(InvalidInputsError) as exc:
        inputs_to_literals({"a": True, "zz": 1, "c": "fast"}, IFACE, DEFAULTS, task="my.task")
    e = exc.value
    assert isinstance(e, InvalidInputError)
    assert [(x.input_name, x.task) for x in e.errors] == [
        ("zz", "my.task"),
        ("a", "my.task"),
        ("b", "my.task"),
        ("c", "my.task"),
    ]
    text = str(e)
    assert "4 inputs of task 'my.task' are invalid" in text
    assert "'zz': expected one of the task's inputs (a, b, c, d), got an unknown input name" in text
    assert "'a': expected int, got bool True" in text
    assert "'b': expected list[str], got nothing (the input is required and has no default)" in text
    assert "'c': expected Optional[float], got str 'fast'" in text


def test_a_single_problem_raises_a_plain_invalid_input_error():
    with pytest.raises(InvalidInputError) as exc:
        inputs_to_literals({"b": []}, IFACE, DEFAULTS, task="t")
    assert type(exc.value) is InvalidInputError
    assert (
        str(exc.value) == "input 'a' of task 't': expected int, got nothing (the input is required and has no default)"
    )


def test_parameter_without_default_and_no_defaults_at_all_mean_required():
    no_default = [common_pb2.NamedParameter(name="d", parameter=interface_pb2.Parameter(required=True))]
    with pytest.raises(InvalidInputsError) as exc:
        inputs_to_literals({"a": 1, "b": []}, IFACE, no_default, task="t")
    assert [x.input_name for x in exc.value.errors] == ["c", "d"]
    with pytest.raises(InvalidInputsError):
        inputs_to_literals({"a": 1, "b": []}, IFACE, None, task="t")


def test_task_without_inputs():
    def f() -> None: ...

    iface, defaults = typed_interface_for(f)
    assert list(inputs_to_literals({}, iface, defaults, task="t").literals) == []
    with pytest.raises(InvalidInputError, match=r"one of the task's inputs \(none\)"):
        inputs_to_literals({"x": 1}, iface, defaults, task="t")


# ---------------------------------------------------------------- literals_to_python


def _outputs_task() -> tuple[int, Item, Optional[str]]:
    raise NotImplementedError


OUT_IFACE, _ = typed_interface_for(_outputs_task)


def _named(values: dict) -> list:
    types_ = {v.key: v.value.type for v in OUT_IFACE.outputs.variables}
    return [common_pb2.NamedLiteral(name=k, value=to_literal(v, types_[k])) for k, v in values.items()]


def test_outputs_are_ordered_like_the_interface_and_typed_on_request():
    named = _named({"o2": None, "o1": Item("a", 1), "o0": 5})
    out = literals_to_python(named, OUT_IFACE.outputs, python_types={"o1": Item})
    assert list(out) == ["o0", "o1", "o2"]
    assert out == {"o0": 5, "o1": Item("a", 1), "o2": None}
    plain = literals_to_python(named, OUT_IFACE)  # a TypedInterface means its outputs here
    assert plain["o1"]["name"] == "a"


def test_outputs_accept_messages_mappings_and_report_extras_last():
    named = _named({"o0": 1})
    extra = common_pb2.NamedLiteral(name="zz", value=to_literal("x", literal_type_for(str)))

    class Outputs:  # anything with .literals, like common_pb2.Outputs
        literals = [*named, extra]  # noqa: RUF012 - a stand-in for the message's repeated field

    out = literals_to_python(Outputs(), OUT_IFACE.outputs.variables)
    assert list(out.items()) == [("o0", 1), ("zz", "x")]
    out2 = literals_to_python({"o0": named[0].value}, {"o0": literal_type_for(int)})
    assert out2 == {"o0": 1}


def test_offloaded_output_is_read_from_storage(tmp_path):
    path = tmp_path / "o0.pb"
    lt = literal_type_for(Item)
    _storage.write_uri(str(path), to_literal(Item("big", 9), lt).SerializeToString())
    off = literals_pb2.Literal(
        offloaded_metadata=literals_pb2.LiteralOffloadedMetadata(uri=path.as_uri(), inferred_type=lt)
    )
    named = [common_pb2.NamedLiteral(name="o1", value=off)]
    assert literals_to_python(named, OUT_IFACE, python_types={"o1": Item}) == {"o1": Item("big", 9)}


# ---------------------------------------------------------------- to_json_safe


def test_to_json_safe():
    value = {
        "when": datetime.datetime(2024, 1, 2, tzinfo=UTC),
        "day": datetime.date(2024, 1, 2),
        "wait": datetime.timedelta(minutes=1, microseconds=500000),
        "file": FileRef("s3://b/k"),
        "dir": DirRef("s3://b/d/"),
        "df": DataFrameRef("s3://b/t"),
        "pair": (1, "a"),
        "set": {3, 1, 2},
        "mixed": {1, "a"},
        "raw": b"\x00\xff",
        "item": Item("a", 1),
        "customer": Customer(
            name="c", joined=datetime.datetime(2024, 1, 1, tzinfo=UTC), patience=datetime.timedelta(0)
        ),
        "color": Color.RED,
        7: None,
    }
    safe = to_json_safe(value)
    json.dumps(safe, allow_nan=False)
    assert safe["when"] == "2024-01-02T00:00:00+00:00"
    assert safe["day"] == "2024-01-02"
    assert safe["wait"] == 60.5
    assert (safe["file"], safe["dir"], safe["df"]) == ("s3://b/k", "s3://b/d/", "s3://b/t")
    assert safe["pair"] == [1, "a"]
    assert safe["set"] == [1, 2, 3]
    assert sorted(map(str, safe["mixed"])) == ["1", "a"]
    assert base64.b64decode(safe["raw"]) == b"\x00\xff"
    assert safe["item"] == {"name": "a", "qty": 1, "price": 1.0, "seen": None, "wait": 0.0}
    assert safe["customer"]["patience"] == "PT0S"
    assert safe["color"] == "red"
    assert safe["7"] is None


def test_to_json_safe_refuses_unknown_objects():
    with pytest.raises(TypeError, match="object"):
        to_json_safe(object())


@PROPS
@given(ORDERS)
def test_to_json_safe_of_any_decoded_value_is_json(v):
    json.dumps(to_json_safe(roundtrip(v, Order)))


# ---------------------------------------------------------------- refs and storage


def test_refs_are_frozen_and_validated():
    ref = FileRef("s3://b/k")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.uri = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        FileRef("")
    with pytest.raises(TypeError):
        DataFrameRef(3)  # type: ignore[arg-type]
    assert DirRef("s3://b/d", "csv") == DirRef("s3://b/d", "csv") != DirRef("s3://b/d")


def test_local_storage_roundtrip_creates_parents(tmp_path):
    target = tmp_path / "a" / "b" / "c.bin"
    _storage.write_uri(target.as_uri(), b"one")
    assert _storage.read_uri(str(target)) == b"one"
    _storage.write_uri(str(target), b"two")
    assert _storage.read_uri(target.as_uri()) == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["c.bin"]  # no temporary leftovers


async def test_async_storage(tmp_path):
    uri = (tmp_path / "x").as_uri()
    await _storage.write_uri_async(uri, b"data")
    assert await _storage.read_uri_async(uri) == b"data"


def test_fsspec_schemes_work_when_the_driver_exists():
    _storage.write_uri("memory://codec-tests/obj", b"mem")
    assert _storage.read_uri("memory://codec-tests/obj") == b"mem"


def test_missing_driver_and_unknown_scheme_name_the_uri(tmp_path):
    with pytest.raises(StorageError, match=r"s3://bucket/key.*s3fs"):
        _storage.read_uri("s3://bucket/key")
    with pytest.raises(StorageError, match=r"zzz://x/y.*fsspec"):
        _storage.write_uri("zzz://x/y", b"")
    with pytest.raises(StorageError, match="no such object"):
        _storage.read_uri((tmp_path / "missing").as_uri())
    with pytest.raises(StorageError, match="another host"):
        _storage.read_uri("file://server/share/x")


def test_without_fsspec_the_error_says_to_install_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "fsspec", None)  # makes `import fsspec` fail
    with pytest.raises(StorageError, match=r"gs://b/k.*pip install fsspec gcsfs"):
        _storage.read_uri("gs://b/k")
