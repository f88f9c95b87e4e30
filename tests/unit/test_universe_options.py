"""Options: defaults from the schema, layering (install, update, --replace), and errors
that name the option's path and the rule it breaks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesos_runtime.universe.options import (
    OptionsError,
    defaults,
    load_options_file,
    merge,
    resolve,
    update_options,
)

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "brokers": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "count": {"type": "integer", "minimum": 1, "default": 3},
                "heap_mb": {"type": "integer", "default": 256},
                "placement": {"type": "string", "default": "hostname:UNIQUE"},
            },
        },
        "kafka": {
            "type": "object",
            "properties": {
                "extra": {"type": "object", "default": {"a.b": "1"}},
                "retention": {"type": "integer"},
            },
        },
    },
}


def test_defaults_fill_every_nested_group() -> None:
    assert defaults(SCHEMA) == {
        "brokers": {"count": 3, "heap_mb": 256, "placement": "hostname:UNIQUE"},
        "kafka": {"extra": {"a.b": "1"}},
    }


def test_user_options_override_defaults_key_by_key() -> None:
    options = resolve(SCHEMA, {"brokers": {"count": 5}})
    assert options["brokers"] == {"count": 5, "heap_mb": 256, "placement": "hostname:UNIQUE"}


def test_an_error_names_the_option_path_and_the_rule() -> None:
    with pytest.raises(OptionsError) as raised:
        resolve(SCHEMA, {"brokers": {"count": "three"}})
    assert raised.value.errors == ["brokers.count: 'three' is not of type 'integer'"]


def test_every_error_is_reported_at_once_including_unknown_options() -> None:
    with pytest.raises(OptionsError) as raised:
        resolve(SCHEMA, {"brokers": {"count": 0, "cuont": 2}, "zookeeper": True})
    assert raised.value.errors == [
        "(top level): Additional properties are not allowed ('zookeeper' was unexpected)",
        "brokers: Additional properties are not allowed ('cuont' was unexpected)",
        "brokers.count: 0 is less than the minimum of 1",
    ]


def test_a_group_given_as_a_scalar_is_refused_by_its_name() -> None:
    with pytest.raises(OptionsError, match=r"^brokers: 3 is not of type 'object'$"):
        resolve(SCHEMA, {"brokers": 3})


def test_update_merges_with_the_stored_options_and_replace_starts_from_defaults() -> None:
    stored = {"brokers": {"count": 5, "heap_mb": 512}}
    user, options = update_options(SCHEMA, stored, {"brokers": {"heap_mb": 1024}})
    assert user == {"brokers": {"count": 5, "heap_mb": 1024}}
    assert options["brokers"]["count"] == 5 and options["brokers"]["heap_mb"] == 1024
    user, options = update_options(SCHEMA, stored, {"brokers": {"heap_mb": 1024}}, replace=True)
    assert user == {"brokers": {"heap_mb": 1024}}
    assert options["brokers"]["count"] == 3


def test_a_bad_update_is_refused_and_leaves_the_stored_options_as_they_were() -> None:
    stored = {"brokers": {"count": 5}}
    with pytest.raises(OptionsError, match=r"brokers\.count"):
        update_options(SCHEMA, stored, {"brokers": {"count": -1}})
    assert stored == {"brokers": {"count": 5}}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("o.json", "{not json", "not valid JSON"),
        ("o.yml", "brokers: [unclosed", "not valid YAML"),
        ("o.yml", "- a list", "options are an object of option groups, not list"),
    ],
)
def test_options_files_that_do_not_parse_are_refused(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(OptionsError, match=message):
        load_options_file(path)


def test_a_missing_options_file_is_named() -> None:
    with pytest.raises(OptionsError, match=r"/nonexistent\.yml: cannot read"):
        load_options_file(Path("/nonexistent.yml"))


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.dictionaries(st.text(max_size=3), children, max_size=4),
    max_leaves=12,
)


# options as schemas shape them: groups of scalar options
_options = st.dictionaries(
    st.sampled_from(["brokers", "kafka", "service"]),
    st.dictionaries(
        st.sampled_from(["count", "heap", "name"]), st.integers() | st.text(max_size=3)
    ),
)


@given(_options, _options, _options)
def test_layering_options_is_associative(
    defaults_: dict[str, Any], stored: dict[str, Any], given_: dict[str, Any]
) -> None:
    # an update layers the given options on the stored ones, then both on the defaults:
    # the same as adding them one after the other
    assert merge(defaults_, merge(stored, given_)) == merge(merge(defaults_, stored), given_)


@given(_json, _json)
def test_the_override_wins_wherever_it_is_not_an_object(a: Any, b: Any) -> None:
    merged = merge(a, b)
    if not isinstance(b, dict) or not isinstance(a, dict):
        assert merged == b
    else:
        assert set(merged) == set(a) | set(b)
