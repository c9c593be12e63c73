"""The loader: plain data, 1-based positions of keys and items, templates mapped onto lines."""

from __future__ import annotations

import pytest

from kontinue.dsl import PipelineError
from kontinue.dsl._loader import load_document

TEXT = """\
a: 1
b:
  c: |
    first
    {{ second }}
  d: [x, 2.5, true, null]
  e:
    - f: 2024-01-31
      g: "quoted"
"""


def test_data_is_plain_json() -> None:
    doc = load_document(TEXT, "t.yaml")
    assert doc.data == {
        "a": 1,
        "b": {
            "c": "first\n{{ second }}\n",
            "d": ["x", 2.5, True, None],
            "e": [{"f": "2024-01-31", "g": "quoted"}],
        },
    }
    assert type(doc.data["b"]["c"]) is str
    assert type(doc.data["b"]["d"][1]) is float


def test_positions_are_one_based() -> None:
    doc = load_document(TEXT, "t.yaml")
    assert doc.keys["/a"] == (1, 1)
    assert doc.values["/a"] == (1, 4)
    assert doc.keys["/b/c"] == (3, 3)
    assert doc.keys["/b/d/1"] == (6, 10)
    assert doc.keys["/b/e/0"] == (8, 7)
    assert doc.values["/b/e/0/g"] == (9, 10)
    assert doc.at("/b/e/0/missing") == (8, 7)
    assert doc.at("/nowhere") == (1, 1)


def test_template_lines_map_onto_the_file() -> None:
    doc = load_document(TEXT, "t.yaml")
    assert "/b/c" in doc.blocks
    assert doc.template_line("/b/c", 1) == (4, 5)
    assert doc.template_line("/b/c", 2) == (5, 5)
    assert doc.template_line("/b/e/0/g", 1) == (9, 10)


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("a: 1\na: 2\n", (2, 1), "duplicate key 'a'"),
        ("a:\n\t- b\n", (2, 1), "a tab character is not allowed here"),
        ("a: [1, 2\n", (2, 1), "expected ',' or ']'"),
        ("a: 'open\n", (2, 1), "found unexpected end of stream"),
        ("a: 1\n---\nb: 2\n", (2, 1), "more than one YAML document"),
    ],
)
def test_bad_yaml_is_one_positioned_diagnostic(
    text: str, where: tuple[int, int], message: str
) -> None:
    with pytest.raises(PipelineError) as caught:
        load_document(text, "bad.yaml")
    [diagnostic] = caught.value.diagnostics
    assert (diagnostic.file, diagnostic.line, diagnostic.col) == ("bad.yaml", *where)
    assert message in str(diagnostic)
