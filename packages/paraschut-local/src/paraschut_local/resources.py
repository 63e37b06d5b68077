"""Reading a job's CPU and memory request from its resources (pure functions, no I/O)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from attrs import frozen

__all__ = ["CPU_KEYS", "Request", "ResourceError", "parse_count", "parse_mem", "request_of"]

#: Resource keys that ask for CPUs on one node (the largest one wins).
CPU_KEYS: tuple[str, ...] = ("ncpus", "ppn", "smp", "cpus", "slots")
#: Keys whose value is ``N[:key=value...]`` (PBS ``nodes=1:ppn=4``, PBS Pro ``select=1:ncpus=4``).
CHUNK_KEYS: tuple[str, ...] = ("nodes", "select")

_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}
_MEM = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgtp]?)(i?b?)\s*$", re.IGNORECASE)
_COUNT = re.compile(r"^\s*\+?(\d+)\s*$")


class ResourceError(ValueError):
    """A resource value that cannot be read; the message names the key."""


@frozen
class Request:
    """What one job takes from the machine while it runs."""

    cpus: int = 1
    mem: int = 0  #: bytes; 0 when the job did not say


def parse_count(key: str, value: str) -> int:
    """A positive whole number of CPUs or slots.

    :raises ResourceError: ``value`` is not a positive integer.
    """
    match = _COUNT.match(str(value))
    if match is None or int(match.group(1)) < 1:
        raise ResourceError(f"resource {key}={value!r}: expected a positive whole number")
    return int(match.group(1))


def parse_mem(value: str | int, key: str = "mem") -> int:
    """Memory in bytes from ``"1gb"``, ``"500mb"``, ``"2G"``, ``"1.5GiB"`` or a bare byte count.

    Units are binary (1 kb = 1024 bytes), as PBS and SGE read them.

    :raises ResourceError: the value has no number or an unknown unit.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ResourceError(f"resource {key}={value!r}: memory cannot be negative")
        return value
    match = _MEM.match(str(value))
    if match is None:
        raise ResourceError(
            f"resource {key}={value!r}: expected a size such as 500mb, 1gb or 2G"
        )
    number, unit, _ = match.groups()
    return int(float(number) * _UNITS[unit.lower()])


def _chunk(key: str, value: str) -> tuple[int, int | None, int | None]:
    """Read ``N[:ppn=P][:ncpus=C][:mem=M]`` into (chunks, cpus per chunk, mem per chunk)."""
    head, *parts = str(value).split(":")
    count = parse_count(key, head) if head.strip() else 1
    cpus: int | None = None
    mem: int | None = None
    for part in parts:
        name, sep, val = part.partition("=")
        name = name.strip().lower()
        if not sep:
            continue  # a node property such as "gpus" or a host name: nothing to count here
        if name in CPU_KEYS:
            cpus = max(cpus or 0, parse_count(f"{key}:{name}", val))
        elif name == "mem":
            mem = parse_mem(val, f"{key}:{name}")
    return count, cpus, mem


def request_of(resources: Mapping[str, str]) -> Request:
    """The CPUs and memory a job asks for (1 CPU and no memory limit when it says nothing).

    Several CPU keys may be given: the largest wins. ``nodes``/``select`` chunks multiply.

    :raises ResourceError: a CPU or memory value cannot be read.
    """
    lowered = {str(k).strip().lower(): v for k, v in resources.items()}
    cpus = 1
    mem = 0
    for key in CPU_KEYS:
        if key in lowered:
            cpus = max(cpus, parse_count(key, lowered[key]))
    for key in CHUNK_KEYS:
        if key in lowered:
            count, per_cpus, per_mem = _chunk(key, lowered[key])
            cpus = max(cpus, count * (per_cpus or 1))
            if per_mem is not None:
                mem = max(mem, count * per_mem)
    if "mem" in lowered:
        mem = max(mem, parse_mem(lowered["mem"]))
    return Request(cpus=cpus, mem=mem)
