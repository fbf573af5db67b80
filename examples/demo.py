"""`make demo`: the main job on the embedded default, offline.

The bundled byte-level language model (an LSTM shipped inside the package, see
bytegram/models/) generates a JSON document constrained by a JSON Schema, then a regex-shaped
string; every output is valid by construction, and the stats say where the time went.
"""

from __future__ import annotations

import json
import re
import sys

import bytegram
from bytegram.models import ByteLM

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 2, "maxLength": 24},
        "age": {"type": "integer", "minimum": 18, "maximum": 99},
        "email": {"type": "string", "format": "email"},
        "roles": {"type": "array", "items": {"enum": ["admin", "editor", "viewer"]},
                  "minItems": 1, "maxItems": 3, "uniqueItems": True},
        "active": {"type": "boolean"},
    },
    "required": ["name", "age", "email", "roles", "active"],
    "additionalProperties": False,
}
PHONE = r"\+1 \([0-9]{3}\) [0-9]{3}-[0-9]{4}"


def main() -> int:
    model = ByteLM.load()
    print(f"model: {model!r}")
    print(f"schema: {json.dumps(SCHEMA)}\n")
    result = bytegram.generate(model, "Give me a user as JSON:\n", schema=SCHEMA, seed=0,
                               temperature=0.7, max_new_tokens=256)
    print("generated JSON document:")
    print(json.dumps(result.value, indent=2))
    print(f"stats: {json.dumps(result.stats.as_dict())}")
    try:
        import jsonschema

        jsonschema.validate(result.value, SCHEMA)
        print("valid under the schema (checked with jsonschema)\n")
    except ImportError:
        print()
    phone = bytegram.generate(model, "Call me at ", regex=PHONE, seed=0, temperature=0.7)
    print(f"regex {PHONE!r} -> {phone.text!r}  stats: {json.dumps(phone.stats.as_dict())}")
    ok = result.complete and phone.complete and re.fullmatch(PHONE, phone.text) is not None
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
