#!/usr/bin/env python3
"""Checks JSON documents against configs/schemas/event-v1.schema.json (test helper, not run time), or
against another schema of configs/schemas named as the first argument (e.g. recommendation-served-v1).

Input: a JSON array of documents on stdin. Output: a JSON array of booleans (valid or not), in order.
Needs the jsonschema package (Debian: python3-jsonschema, installed by scripts/setup.sh)."""
import json
import pathlib
import sys

try:
    import jsonschema
except ImportError:
    sys.exit("check-event-schema: the jsonschema package is missing (apt-get install python3-jsonschema)")

schema_path = pathlib.Path(__file__).resolve().parent.parent / "configs" / "schemas" / ((sys.argv[1] if len(sys.argv) > 1 else "event-v1") + ".schema.json")
schema = json.loads(schema_path.read_text())
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
documents = json.load(sys.stdin)
json.dump([validator.is_valid(document) for document in documents], sys.stdout)
