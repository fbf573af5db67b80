"""A SQL SELECT subset as a Lark grammar: exact masks and generation from the bundled model."""

from __future__ import annotations

import bytegram
from bytegram.models import ByteLM

SQL = r"""
start: "SELECT " columns " FROM " NAME where? ";"
columns: "*" | NAME (", " NAME) ~ 0..3
where: " WHERE " cond (" AND " cond) ~ 0..2
cond: NAME " " OP " " value
value: NUMBER | "'" WORD "'"
OP: "=" | "<" | ">" | "<=" | ">=" | "!="
NAME: /[a-z_][a-z0-9_]{0,15}/
WORD: /[A-Za-z ]{1,20}/
NUMBER: /[0-9]{1,6}/
"""


def main() -> None:
    model = ByteLM.load()
    grammar = bytegram.Grammar.from_lark(SQL)
    compiled = bytegram.compile(grammar, model.vocab)
    m = compiled.matcher()
    assert m.accept_bytes(b"SELECT name, age FROM users WHERE age ")
    print("after 'SELECT name, age FROM users WHERE age ' the grammar allows:",
          sorted(bytes([t]).decode() for t in m.allowed_ids() if t < 256))
    for seed in range(3):
        r = bytegram.generate(model, "-- list some users\n", compiled=compiled, seed=seed,
                              temperature=0.8, max_new_tokens=200)
        assert r.complete, r.text
        print(r.text)


if __name__ == "__main__":
    main()
