"""Context-free grammars shared by the tests/test_cfg_*.py files."""

from __future__ import annotations

SQL = r"""
start: select
select: "SELECT"i columns "FROM"i NAME where? order? limit? ";"?
columns: "*" | column ("," column)*
column: NAME ("." NAME)? ("AS"i NAME)? | FUNC "(" (NAME | "*") ")"
FUNC: "COUNT"i | "SUM"i | "MAX"i
where: "WHERE"i cond
cond: cond ("AND"i | "OR"i) cond | NAME OP value | "(" cond ")"
OP: "=" | "<" | ">" | "<=" | ">=" | "!="
value: NUMBER | STRING | NAME
order: "ORDER"i "BY"i NAME ("ASC"i | "DESC"i)?
limit: "LIMIT"i INT
NAME: /[a-zA-Z_][a-zA-Z0-9_]*/
STRING: /'[^']*'/
%import common.NUMBER
%import common.INT
%import common.WS
%ignore WS
"""

ARITH = r"""
?start: sum
?sum: product | sum "+" product | sum "-" product
?product: atom | product "*" atom | product "/" atom
?atom: NUMBER | "-" atom | NAME | "(" sum ")" | NAME "(" [sum ("," sum)*] ")"
%import common.NUMBER
%import common.CNAME -> NAME
%import common.WS_INLINE
%ignore WS_INLINE
"""

PYLIKE = r"""
start: stmt*
stmt: simple ";" | "if" expr ":" block ("else" ":" block)? | "while" expr ":" block
    | "def" NAME "(" params? ")" ":" block
block: "{" stmt* "}"
simple: NAME "=" expr | "return" expr? | "pass" | expr
params: NAME ("," NAME)*
expr: expr BINOP expr | NAME | NUMBER | STRING | NAME "(" args? ")" | "(" expr ")"
    | "[" args? "]"
BINOP: "+" | "-" | "*" | "==" | "<"
args: expr ("," expr)*
NAME: /[a-z_][a-z0-9_]*/
NUMBER: /[0-9]+/
STRING: /"[^"\n]*"/
%ignore /[ \n]+/
%ignore /#[^\n]*/
"""

LEXAMBIG = r"""
start: item+
item: "if" NAME ";" | NAME ";" | "a" "b" ";" | "ab" ";" | "abc" NAME? ":"
NAME: /[a-z]+/
%ignore " "
"""

AMBIG = r"""
start: e
e: e "+" e | e "*" e | NUM | "(" e ")"
NUM: /[0-9]+/
"""

GBNF_LIST = r"""
root ::= "[" ws ( item ( ws "," ws item )* )? ws "]"
item ::= num | str | root   # nested lists
num  ::= "-"? [0-9]+ ("." [0-9]{1,3})?
str  ::= "\"" ( [^"\\] | "\\" ["\\n] )* "\""
ws   ::= [ \t]{0,2}
"""

# a terminal whose DFA comes back to its start state ("ab" read, lexeme not complete): such
# a lexer state must not pass for a token boundary
RESTART = r"""
start: item+
item: REP "d" | "q" REP? ";"
REP: /(ab)*c/
"""

LARK = {"sql": SQL, "arith": ARITH, "pylike": PYLIKE, "lexambig": LEXAMBIG, "ambig": AMBIG,
        "restart": RESTART}

# sample texts (valid) used to seed vocabularies and walks
SAMPLES = {
    "json": b'{"name":"Ada","tags":["x","y"],"n":[1,2.5,-3e4],"ok":true,"o":{"k":null}}',
    "json_flexible": b'{\n  "a": [1, 2],\n  "b": {"c": "d"}\n}',
    "sql": b"SELECT a.id, COUNT(*), b AS n FROM users WHERE age >= 21 AND name = 'bob' "
           b"ORDER BY id DESC LIMIT 10;",
    "arith": b"f(x, 2) * (3.5 + -y) / 4 - g()",
    "pylike": b'def f(a, b): { if a < b: { return a + 1; } else: { pass; } }\n'
              b'x = [1, "two", f(3, 4)]; # done\n',
    "lexambig": b"if ab; abc x: a b; ab;",
    "ambig": b"1+2*(3+4)*5+6",
    "gbnf": b'[1, -2.5, "a\\"b", [ ], [3,[4]]]',
    "restart": b"ababcdq;qabc;cdabcd",
}
