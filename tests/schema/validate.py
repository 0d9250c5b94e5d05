#!/usr/bin/env python3
"""Checks flowbatch graphs against a JSON Schema with a validator that is not flowbatch's own.

    validate.py SCHEMA FILE...

Each FILE is a graph (.toml), or Markdown whose ```toml blocks are each checked as one graph (but for a block marked
"<!-- schema: not checked, REASON -->" on the line before). The
TOML is read into JSON (Python's tomllib) and checked with python3-jsonschema's Draft 2020-12
validator, as an editor's TOML extension reads it. Prints one line per graph ("valid", or each
error at its dotted path) and exits 1 if any graph is invalid, 2 if the schema itself is.
"""
import json
import re
import sys
import tomllib

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match


def graphs(path):
    """(name, TOML text) of each graph in the file."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if not path.endswith(".md"):
        return [(path, text)]
    # A block right after "<!-- schema: not checked, REASON -->" uses types no schema here has.
    blocks = re.findall(r"^(<!-- schema: not checked[^\n]*\n)?```toml\n(.*?)^```", text, flags=re.S | re.M)
    return [(f"{path} (toml block {i + 1})", None if skip else block) for i, (skip, block) in enumerate(blocks)]


def explain(error):
    """The most specific reason: for a oneOf over node types, the closest type's complaint."""
    if error.context:
        error = best_match(error.context)
    where = ".".join(str(p) for p in error.absolute_path) or "(top)"
    return f"{where}: {error.message}"


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as e:
        print(f"{sys.argv[1]}: not a valid Draft 2020-12 schema: {e.message}")
        return 2
    validator = Draft202012Validator(schema)
    invalid = 0
    for path in sys.argv[2:]:
        for name, text in graphs(path):
            if text is None:
                print(f"{name}: not checked (marked in the file)")
                continue
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as e:
                print(f"{name}: not TOML: {e}")
                invalid += 1
                continue
            errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
            if not errors:
                print(f"{name}: valid")
            invalid += bool(errors)
            for error in errors:
                print(f"{name}: {explain(error)}")
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())
