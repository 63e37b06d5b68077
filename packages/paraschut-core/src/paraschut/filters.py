"""The Filter language: SQLite conditions over the job columns, re-built from a whitelist of tokens.

A Filter can compare columns, call a few pure functions and combine conditions; it can never
write, reach another table, attach a file, chain statements or hide text in comments. It is
tokenised, every token checked against a whitelist, and the SQL re-assembled from the tokens;
the query it runs in is also guarded by a SQLite authorizer (see db.py).
"""

from __future__ import annotations

import re

from .errors import InvalidFilterError

__all__ = ["COLUMNS", "FUNCTIONS", "MAX_FILTER_LENGTH", "compile_filter"]

#: Filterable columns, by their lower-case spelling.
COLUMNS = {
    c.lower(): c
    for c in (
        "BatchID", "JobIndex", "state", "priority", "name", "data_type", "executor", "ClusterID",
        "submit_time", "hostname", "updated", "exit_code", "metadata",
    )
}
KEYWORDS = {"and", "or", "not", "like", "glob", "in", "is", "null", "between", "escape", "true", "false"}
#: Pure scalar functions a Filter may call.
FUNCTIONS = {
    "lower", "upper", "length", "substr", "instr", "trim", "ltrim", "rtrim", "replace", "abs",
    "round", "coalesce", "ifnull", "nullif", "typeof", "json_extract", "datetime", "date", "time",
    "strftime", "julianday", "unixepoch",
}
OPERATORS = ("==", "!=", "<>", "<=", ">=", "||", "=", "<", ">", "+", "-", "*", "/", "%", "(", ")", ",")
MAX_FILTER_LENGTH = 10_000
MAX_TOKENS = 2_000

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^']|'')*')
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<comment>--|/\*)
  | (?P<op>==|!=|<>|<=|>=|\|\||[=<>+\-*/%(),])
    """,
    re.VERBOSE | re.ASCII,
)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _word(word: str, next_char: str) -> str:
    lower = word.lower()
    if lower in KEYWORDS:
        return lower.upper()
    if lower in COLUMNS:
        return f'"{COLUMNS[lower]}"'
    if lower in FUNCTIONS:
        if next_char != "(":
            raise InvalidFilterError(f"function {word!r} must be followed by '(' in a Filter")
        return lower
    raise InvalidFilterError(
        f"unknown name {word!r} in Filter; columns are {', '.join(sorted(COLUMNS.values()))}; "
        f"functions are {', '.join(sorted(FUNCTIONS))}"
    )


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise InvalidFilterError(f"character {text[pos]!r} at position {pos} is not allowed in a Filter")
        kind, value = match.lastgroup, match.group()
        pos = match.end()
        if kind == "space":
            continue
        if kind == "comment":
            raise InvalidFilterError("comments ('--', '/*') are not allowed in a Filter")
        if kind == "quoted":
            inner = value[1:-1].replace('""', '"')
            # SQLite reads "x" as a column when one exists, else as the string 'x': keep that rule.
            value = f'"{COLUMNS[inner.lower()]}"' if inner.lower() in COLUMNS else _quote(inner)
        elif kind == "word":
            rest = text[pos:].lstrip()
            value = _word(value, rest[:1])
        out.append(value)
        if len(out) > MAX_TOKENS:
            raise InvalidFilterError(f"Filter has more than {MAX_TOKENS} tokens")
    return out


def _check_parentheses(tokens: list[str]) -> None:
    depth = 0
    for token in tokens:
        depth += token == "("
        depth -= token == ")"
        if depth < 0:
            raise InvalidFilterError("unbalanced ')' in Filter")
    if depth:
        raise InvalidFilterError("unbalanced '(' in Filter")


def compile_filter(text: str | None) -> str | None:
    """Return a safe SQL condition for ``text`` (None or blank: no condition).

    :raises InvalidFilterError: anything outside the whitelist, with the reason.
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidFilterError(f"Filter must be a string, not {type(text).__name__}")
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidFilterError(f"Filter is longer than {MAX_FILTER_LENGTH} characters")
    if "\x00" in text:
        raise InvalidFilterError("Filter contains a NUL character")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidFilterError("Filter is not valid Unicode (it holds a lone surrogate)") from None
    tokens = _tokens(text)
    if not tokens:
        return None
    _check_parentheses(tokens)
    return "(" + " ".join(tokens) + ")"
