"""JSON Schema-constrained generation with the bundled byte-level model.

The schema is compiled once; every document generated is valid under it (checked here with
the `jsonschema` package when installed).
"""

from __future__ import annotations

import json

import bytegram
from bytegram.models import ByteLM

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 2, "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "email": {"type": "string", "format": "email", "maxLength": 40},
        "tags": {"type": "array", "items": {"enum": ["admin", "dev", "ops"]}, "maxItems": 3},
    },
    "required": ["name", "age", "tags"],
    "additionalProperties": False,
}


def main() -> None:
    model = ByteLM.load()
    grammar = bytegram.Grammar.from_json_schema(SCHEMA)
    compiled = bytegram.compile(grammar, model.vocab)
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - the test extra installs it
        jsonschema = None
    for seed in range(3):
        r = bytegram.generate(model, "Give me a user as JSON:\n", compiled=compiled, schema=SCHEMA,
                              seed=seed, temperature=0.7, max_new_tokens=200)
        assert r.complete, r.text
        if jsonschema is not None:
            jsonschema.validate(r.value, SCHEMA)
        print(json.dumps(r.value), "|", json.dumps(r.stats.as_dict()))


if __name__ == "__main__":
    main()
