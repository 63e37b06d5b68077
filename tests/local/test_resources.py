"""resources.py: CPU and memory requests are read from every spelling, and bad values are named."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paraschut_local.resources import CPU_KEYS, Request, ResourceError, parse_mem, request_of


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({}, Request(1, 0)),
        ({"walltime": "01:00:00"}, Request(1, 0)),
        ({"ncpus": "4"}, Request(4, 0)),
        ({"ppn": "3"}, Request(3, 0)),
        ({"smp": "2"}, Request(2, 0)),
        ({"cpus": "8"}, Request(8, 0)),
        ({"slots": "5"}, Request(5, 0)),
        ({"nodes": "1:ppn=4"}, Request(4, 0)),
        ({"nodes": "2:ppn=4"}, Request(8, 0)),
        ({"nodes": "1"}, Request(1, 0)),
        ({"nodes": "1:ppn=2:gpus"}, Request(2, 0)),
        ({"select": "1:ncpus=4:mem=2gb"}, Request(4, 2 * 1024**3)),
        ({"mem": "1gb"}, Request(1, 1024**3)),
        ({"mem": "500mb", "ncpus": "2"}, Request(2, 500 * 1024**2)),
        ({"MEM": "2G", "NCPUS": "3"}, Request(3, 2 * 1024**3)),
        ({"ncpus": "2", "ppn": "6"}, Request(6, 0)),
    ],
)
def test_requests(resources: dict[str, str], expected: Request) -> None:
    assert request_of(resources) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1gb", 1024**3), ("500mb", 500 * 1024**2), ("2G", 2 * 1024**3), ("1.5GiB", 3 * 1024**3 // 2),
        ("100", 100), ("4kb", 4096), ("1T", 1024**4), (" 3 MB ", 3 * 1024**2), ("7b", 7),
    ],
)
def test_memory_sizes(text: str, expected: int) -> None:
    assert parse_mem(text) == expected


@pytest.mark.parametrize(
    "resources",
    [{"ncpus": "0"}, {"ncpus": "two"}, {"ppn": "-1"}, {"nodes": "1:ppn=x"}, {"mem": "lots"}, {"mem": "1zb"}],
)
def test_bad_values_name_their_key(resources: dict[str, str]) -> None:
    with pytest.raises(ResourceError) as caught:
        request_of(resources)
    assert next(iter(resources)) in str(caught.value)


_UNITS = ["", "b", "k", "kb", "m", "mb", "g", "gb", "GB", "G", "Mi", "MiB"]


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(_UNITS))
def test_any_size_with_a_unit_parses_to_whole_bytes(number: int, unit: str) -> None:
    value = parse_mem(f"{number}{unit}")
    factor = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit[:1].lower()]
    assert value == number * factor


@given(st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=6))
def test_any_resources_give_a_request_or_a_resource_error(resources: dict[str, str]) -> None:
    try:
        request = request_of(resources)
    except ResourceError:
        return
    assert request.cpus >= 1 and request.mem >= 0


@given(st.sampled_from(CPU_KEYS), st.integers(min_value=1, max_value=4096), st.integers(min_value=1, max_value=64))
def test_cpu_keys_and_chunks_multiply(key: str, per_node: int, nodes: int) -> None:
    assert request_of({key: str(per_node)}).cpus == per_node
    assert request_of({"nodes": f"{nodes}:{key}={per_node}"}).cpus == nodes * per_node
