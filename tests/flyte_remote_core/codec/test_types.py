"""Type hints <-> LiteralType, checked against the shapes the official SDK produces."""

import dataclasses
import datetime
import enum
import typing
from typing import Annotated, NamedTuple, Optional, Union

import pydantic
import pytest
from flyteidl2.core import interface_pb2, types_pb2
from flyteidl2.task import common_pb2
from google.protobuf import json_format

from flyte_remote_core.codec import input_types_for, output_types_for, typed_interface_for
from flyte_remote_core.codec._refs import DataFrameRef, DirRef, FileRef
from flyte_remote_core.codec._types import (
    TAG_DATACLASS,
    TAG_PYDANTIC,
    describe,
    literal_type_for,
    python_type_for,
    union_tag_for,
)

S = types_pb2.SimpleType
MSGPACK_ANNOTATION = {"cache-key-metadata": {"serialization-format": "msgpack"}}


@dataclasses.dataclass
class Point:
    x: int
    y: float = 0.5
    label: Optional[str] = None


@dataclasses.dataclass
class Shape:
    points: list[Point]
    when: datetime.datetime
    tags: dict[str, int] = dataclasses.field(default_factory=dict)


class Config(pydantic.BaseModel):
    name: str
    retries: int = 3


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class IntEnum(enum.Enum):
    ONE = 1


def annotations(lt: types_pb2.LiteralType) -> dict:
    return json_format.MessageToDict(lt.annotation.annotations)


def metadata(lt: types_pb2.LiteralType) -> dict:
    return json_format.MessageToDict(lt.metadata)


# ---------------------------------------------------------------- literal_type_for


@pytest.mark.parametrize(
    "hint, simple",
    [
        (int, S.INTEGER),
        (float, S.FLOAT),
        (str, S.STRING),
        (bool, S.BOOLEAN),
        (datetime.datetime, S.DATETIME),
        (datetime.date, S.DATETIME),
        (datetime.timedelta, S.DURATION),
        (type(None), S.NONE),
        (None, S.NONE),
    ],
)
def test_simple_types(hint, simple):
    lt = literal_type_for(hint)
    assert lt.WhichOneof("type") == "simple"
    assert lt.simple == simple
    assert not lt.HasField("structure") and not lt.HasField("metadata")


def test_bool_is_not_int():
    assert literal_type_for(bool).simple == S.BOOLEAN != literal_type_for(int).simple


def test_list_and_typed_dict():
    lt = literal_type_for(list[dict[str, float]])
    assert lt.collection_type.map_value_type.simple == S.FLOAT
    assert literal_type_for(typing.List[int]).collection_type.simple == S.INTEGER
    assert literal_type_for(typing.Dict[str, str]).map_value_type.simple == S.STRING


@pytest.mark.parametrize("hint", [dict, typing.Dict, dict[int, str], typing.Dict[int, int]])
def test_untyped_dict_is_a_msgpack_struct_without_schema(hint):
    # SDK DictTransformer: STRUCT + serialization-format annotation, no metadata, no tag.
    lt = literal_type_for(hint)
    assert lt.simple == S.STRUCT
    assert annotations(lt) == MSGPACK_ANNOTATION
    assert not lt.HasField("metadata")
    assert not lt.HasField("structure")


def test_dataclass_struct_carries_schema_tag_and_annotation():
    lt = literal_type_for(Shape)
    assert lt.simple == S.STRUCT
    assert lt.structure.tag == TAG_DATACLASS == "Object-Dataclass-Transformer"
    assert annotations(lt) == MSGPACK_ANNOTATION
    schema = metadata(lt)
    assert schema["title"] == "Shape"
    assert schema["type"] == "object"
    assert schema["required"] == ["points", "when"]
    assert schema["properties"]["when"] == {"type": "string", "format": "date-time"}
    inner = schema["properties"]["points"]["items"]
    assert inner["title"] == "Point" and inner["required"] == ["x"]
    assert inner["properties"]["y"]["default"] == 0.5
    assert inner["properties"]["label"] == {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}


def test_recursive_dataclass_schema_terminates():
    @dataclasses.dataclass
    class Node:
        value: int
        children: list["Node"]

    lt = literal_type_for(Node)
    assert metadata(lt)["properties"]["children"]["items"] == {"type": "object", "title": "Node"}


def test_pydantic_struct_uses_model_json_schema():
    lt = literal_type_for(Config)
    assert lt.simple == S.STRUCT
    assert lt.structure.tag == TAG_PYDANTIC == "Pydantic Transformer"
    assert metadata(lt) == json_format.MessageToDict(
        json_format.ParseDict(Config.model_json_schema(), lt.metadata.__class__())
    )
    assert annotations(lt) == MSGPACK_ANNOTATION


@pytest.mark.parametrize("hint", [Optional[int], Union[int, None], int | None])
def test_optional_is_a_tagged_union(hint):
    lt = literal_type_for(hint)
    variants = lt.union_type.variants
    assert [(v.simple, v.structure.tag) for v in variants] == [(S.INTEGER, "int"), (S.NONE, "none")]


def test_union_variant_tags_are_the_sdk_transformer_names():
    lt = literal_type_for(
        Union[
            str,
            float,
            bool,
            list[int],
            dict[str, int],
            dict,
            Point,
            Config,
            FileRef,
            DirRef,
            DataFrameRef,
            datetime.datetime,
            datetime.timedelta,
            Color,
            None,
        ]
    )
    tags = [v.structure.tag for v in lt.union_type.variants]
    assert tags == [
        "str", "float", "bool", "Typed List", "Typed Dict", "Typed Dict", TAG_DATACLASS, TAG_PYDANTIC,
        "File", "Dir", "DataFrame Transformer", "datetime", "timedelta", "DefaultEnumTransformer", "none",
    ]  # fmt: skip
    # the tag replaces the struct's structure but keeps its schema
    assert metadata(lt.union_type.variants[6])["title"] == "Point"


def test_union_tag_for_unknown_type_raises():
    with pytest.raises(TypeError):
        union_tag_for(bytes)


def test_refs():
    f = literal_type_for(FileRef)
    d = literal_type_for(DirRef)
    df = literal_type_for(DataFrameRef)
    assert f.blob.dimensionality == types_pb2.BlobType.SINGLE and f.blob.format == ""
    assert d.blob.dimensionality == types_pb2.BlobType.MULTIPART
    assert df.WhichOneof("type") == "structured_dataset_type" and df.structured_dataset_type.format == ""


def test_enum_lists_member_names_and_literal_lists_values():
    assert list(literal_type_for(Color).enum_type.values) == ["RED", "GREEN"]
    assert list(literal_type_for(typing.Literal["a", "b", "a"]).enum_type.values) == ["a", "b"]


def test_annotated_is_stripped():
    assert literal_type_for(Annotated[int, "meta"]) == literal_type_for(int)
    assert literal_type_for(list[Annotated[str, 1]]).collection_type.simple == S.STRING


@pytest.mark.parametrize(
    "hint",
    [list, typing.List, bytes, object, set[int], tuple[int, str], typing.Any, IntEnum, typing.Literal[1, 2], complex],
)
def test_unsupported_types_raise_type_error(hint):
    with pytest.raises(TypeError):
        literal_type_for(hint)


# ---------------------------------------------------------------- describe / python_type_for


@pytest.mark.parametrize(
    "hint, text",
    [
        (int, "int"),
        (float, "float"),
        (str, "str"),
        (bool, "bool"),
        (datetime.datetime, "datetime"),
        (datetime.timedelta, "timedelta"),
        (list[int], "list[int]"),
        (dict[str, list[bool]], "dict[str, list[bool]]"),
        (Optional[str], "Optional[str]"),
        (Union[int, str], "Union[int, str]"),
        (Union[int, str, None], "Optional[Union[int, str]]"),
        (dict, "struct"),
        (Point, "struct Point"),
        (Config, "struct Config"),
        (FileRef, "file"),
        (DirRef, "dir"),
        (DataFrameRef, "dataframe"),
        (Color, "one of 'RED', 'GREEN'"),
        (None, "None"),
    ],
)
def test_describe(hint, text):
    assert describe(literal_type_for(hint)) == text


def test_describe_formats_and_unknown():
    assert describe(types_pb2.LiteralType(blob=types_pb2.BlobType(format="csv"))) == "file (csv)"
    assert (
        describe(types_pb2.LiteralType(structured_dataset_type=types_pb2.StructuredDatasetType(format="parquet")))
        == "dataframe (parquet)"
    )
    assert describe(types_pb2.LiteralType()) == "unknown type"


@pytest.mark.parametrize(
    "hint",
    [
        int,
        float,
        str,
        bool,
        datetime.datetime,
        datetime.timedelta,
        list[int],
        dict[str, list[float]],
        FileRef,
        DirRef,
        DataFrameRef,
        Optional[int],
        Union[int, str],
    ],
)
def test_python_type_for_inverts_literal_type_for(hint):
    assert python_type_for(literal_type_for(hint)) == hint


def test_python_type_for_structs_and_others():
    assert python_type_for(literal_type_for(Point)) is dict
    assert python_type_for(literal_type_for(dict)) is dict
    assert python_type_for(literal_type_for(list[Point])) == list[dict]
    assert python_type_for(literal_type_for(Color)) is str
    assert python_type_for(types_pb2.LiteralType()) is object


# ---------------------------------------------------------------- typed_interface_for


def _task(a: int, b: list[str], c: Optional[float] = None, d: str = "x", e: Point = Point(1)) -> tuple[int, str]:  # noqa: B008 - a dataclass default, as users write one
    raise NotImplementedError


def test_interface_inputs_in_signature_order_and_outputs_o0_o1():
    iface, defaults = typed_interface_for(_task)
    assert isinstance(iface, interface_pb2.TypedInterface)
    assert [v.key for v in iface.inputs.variables] == ["a", "b", "c", "d", "e"]
    assert iface.inputs.variables[1].value.type == literal_type_for(list[str])
    assert [v.key for v in iface.outputs.variables] == ["o0", "o1"]
    assert [v.value.type.simple for v in iface.outputs.variables] == [S.INTEGER, S.STRING]
    assert all(isinstance(p, common_pb2.NamedParameter) for p in defaults)


def test_defaults_only_for_inputs_that_have_one():
    _, defaults = typed_interface_for(_task)
    assert [p.name for p in defaults] == ["c", "d", "e"]
    by_name = {p.name: p.parameter for p in defaults}
    assert by_name["d"].default.scalar.primitive.string_value == "x"
    assert by_name["d"].var.type.simple == S.STRING
    assert by_name["c"].default.scalar.union.value.scalar.HasField("none_type")
    assert by_name["e"].default.scalar.binary.tag == "msgpack"
    assert not any(p.parameter.required for p in defaults)  # the SDK never sets it


@pytest.mark.parametrize(
    "ret, names",
    [(None, []), (int, ["o0"]), (tuple[int, str, float], ["o0", "o1", "o2"]), (list[int], ["o0"]), (tuple, ["o0"])],
)
def test_output_naming(ret, names):
    def f() -> int: ...

    f.__annotations__["return"] = ret
    if ret is tuple:  # a bare `tuple` is one (unsupported) value, not several outputs
        with pytest.raises(TypeError):
            typed_interface_for(f)
        return
    iface, _ = typed_interface_for(f)
    assert [v.key for v in iface.outputs.variables] == names


def test_no_return_annotation_means_no_outputs():
    def f(x: int):
        return x

    assert list(typed_interface_for(f)[0].outputs.variables) == []


class Pair(NamedTuple):
    total: int
    name: str


def test_named_tuple_outputs_use_field_names():
    def f() -> Pair: ...

    iface, _ = typed_interface_for(f)
    assert [v.key for v in iface.outputs.variables] == ["total", "name"]
    assert output_types_for(f) == {"total": int, "name": str}


@pytest.mark.parametrize("ret", [tuple[int], tuple[int, ...]])
def test_bad_tuple_returns(ret):
    def f(): ...

    f.__annotations__["return"] = ret
    with pytest.raises(TypeError, match="tuple"):
        typed_interface_for(f)


def test_star_args_missing_hints_and_bad_defaults_raise():
    def star(*xs: int): ...

    def unhinted(x): ...

    def bad_default(x: int = "nope"): ...  # type: ignore[assignment]

    with pytest.raises(TypeError, match="args"):
        typed_interface_for(star)
    with pytest.raises(TypeError, match="'x' has no type hint"):
        typed_interface_for(unhinted)
    with pytest.raises(TypeError, match="default of input 'x'"):
        typed_interface_for(bad_default)


def test_string_annotations_and_wrapped_task_objects():
    def f(x: "int", y: "list[Point]") -> "str": ...

    class TaskLike:  # e.g. the SDK's TaskTemplate keeps the function in .func
        def __init__(self, func):
            self.func = func

        def __call__(self, *a, **k):
            return self.func(*a, **k)

    iface, _ = typed_interface_for(TaskLike(f))
    assert [v.key for v in iface.inputs.variables] == ["x", "y"]
    assert input_types_for(f) == {"x": int, "y": list[Point]}
    assert iface.outputs.variables[0].value.type.simple == S.STRING
