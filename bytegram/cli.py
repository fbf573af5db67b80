"""The ``bytegram`` command: generate, check and compile from the shell.

Exit codes: 0 success (document accepted), 1 document rejected, 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from .errors import BytegramError

__all__ = ["main"]

EPILOG = """examples:
  bytegram generate --regex '[0-9]{3}-[0-9]{4}'
  bytegram generate --schema person.json --prompt 'A user as JSON: ' -n 3 --seed 1
  bytegram check --regex '[a-z]+@[a-z]+\\.com' 'bob@example.com'
  bytegram check --schema person.json '{"name": "Ada"}'
  bytegram compile --grammar sql.lark --tokenizer path/to/tokenizer.json --stats
"""


def _add_constraint(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--schema", metavar="FILE", help="JSON Schema file")
    g.add_argument("--regex", metavar="PATTERN", help="regular expression (full match)")
    g.add_argument("--grammar", metavar="FILE", help="Lark grammar file (.lark) or GBNF (.gbnf)")
    p.add_argument("--whitespace", choices=("compact", "flexible"), default=None,
                   help="JSON whitespace policy for --schema (default: compact)")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="bytegram", description="Constrained decoding with exact "
                                 "token masks.", epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="generate constrained text", epilog=EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_constraint(gen)
    gen.add_argument("--prompt", default="", help="text the model continues")
    gen.add_argument("--model", default=None, metavar="HF_DIR",
                     help="local transformers model directory (default: the bundled model)")
    gen.add_argument("--sampler", choices=("awrs", "masked", "greedy", "smc"), default="awrs")
    gen.add_argument("-n", type=int, default=1, help="number of outputs")
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument("--temperature", type=float, default=1.0)
    gen.add_argument("--max-new-tokens", type=int, default=256)
    gen.add_argument("--stats", action="store_true", help="print stats to stderr")
    chk = sub.add_parser("check", help="is a document in the language?", epilog=EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_constraint(chk)
    chk.add_argument("document", help="the text, or @FILE to read it from a file")
    comp = sub.add_parser("compile", help="compile and print statistics", epilog=EPILOG,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_constraint(comp)
    comp.add_argument("--tokenizer", default=None, metavar="PATH",
                      help="tokenizer.json / .tiktoken / .model (default: the byte vocabulary)")
    comp.add_argument("--stats", action="store_true", help="print statistics as JSON")
    return ap


def _grammar(args: argparse.Namespace) -> Any:
    from .grammar import Grammar

    if args.regex is not None:
        return Grammar.from_regex(args.regex)
    if args.grammar is not None:
        path = Path(args.grammar)
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".gbnf":
            return _need(Grammar, "from_gbnf")(text)
        return _need(Grammar, "from_lark")(text)
    schema = json.loads(Path(args.schema).read_text(encoding="utf-8"))
    kwargs = {"whitespace": args.whitespace} if args.whitespace else {}
    return _need(Grammar, "from_json_schema")(schema, **kwargs)


def _need(obj: Any, name: str) -> Any:
    fn = getattr(obj, name, None)
    if fn is None:
        from .errors import Unsupported

        raise Unsupported(f"this build of bytegram has no Grammar.{name} yet", feature=name)
    return fn


def _vocab(path: str | None) -> Any:
    from .masks import Vocabulary

    if path is None:
        return Vocabulary.byte_level(eos_id=256)
    p = Path(path)
    if p.suffix == ".tiktoken":
        return Vocabulary.from_tiktoken(p)
    if p.suffix == ".model":
        return Vocabulary.from_sentencepiece(p)
    return Vocabulary.from_tokenizer_json(p)


class _Progress:
    """Says on stderr what is running when it takes over a second."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> "_Progress":
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        dt = time.perf_counter() - self.t0
        if dt > 1.0 and exc[0] is None:
            print(f"bytegram: {self.what} took {dt:.1f} s", file=sys.stderr)


def cmd_check(args: argparse.Namespace) -> int:
    from .errors import caret_excerpt, line_col
    from .masks import compile as compile_grammar

    doc = args.document
    if doc.startswith("@"):
        doc = Path(doc[1:]).read_text(encoding="utf-8")
    data = doc.encode("utf-8")
    compiled = compile_grammar(_grammar(args), _vocab(None))
    m = compiled.matcher()
    for i in range(len(data)):
        if not m.accept_bytes(data[i:i + 1]):
            pos = len(data[:i].decode("utf-8", errors="ignore"))
            line, col = line_col(doc, pos)
            print(f"rejected: not a valid prefix from line {line}, column {col}")
            print(caret_excerpt(doc, pos))
            return 1
    if not m.is_accepting():
        print("rejected: the document is incomplete (a valid prefix, but more is required)")
        return 1
    print("accepted")
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from .masks import compile as compile_grammar

    t0 = time.perf_counter()
    with _Progress("loading the vocabulary"):
        vocab = _vocab(args.tokenizer)
    t1 = time.perf_counter()
    with _Progress("compiling the grammar"):
        grammar = _grammar(args)
    t2 = time.perf_counter()
    with _Progress("binding to the vocabulary"):
        compiled = compile_grammar(grammar, vocab)
        m = compiled.matcher()
        m.fill_bitmask(compiled.allocate_bitmask(1))
    t3 = time.perf_counter()
    stats = dict(compiled.stats())
    stats.update({"vocab_load_seconds": round(t1 - t0, 4),
                  "grammar_seconds": round(t2 - t1, 4),
                  "bind_and_first_mask_seconds": round(t3 - t2, 4),
                  "start_allowed_tokens": int(len(m.allowed_ids())),
                  "relaxations": list(getattr(grammar, "relaxations", ()))})
    if args.stats:
        print(json.dumps(stats, indent=2, default=str))
    else:
        print(f"ok: {compiled!r}; {stats['start_allowed_tokens']} tokens allowed at the start")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from .generate import generate

    if args.n < 1:
        raise _UsageError("-n must be at least 1")
    model: Any = None
    if args.model is not None:
        from .integrations.transformers import load_hf_model

        with _Progress("loading the model"):
            model, tok = load_hf_model(args.model)
    else:
        tok = None
    grammar = _grammar(args)
    is_json = args.schema is not None
    for i in range(args.n):
        seed = None if args.seed is None else args.seed + i
        res = generate(model, args.prompt, grammar=grammar, tokenizer=tok,
                       sampler=args.sampler, max_new_tokens=args.max_new_tokens,
                       temperature=args.temperature, seed=seed)
        print(res.text)
        if args.stats or not res.complete:
            info = res.stats.as_dict()
            info["complete"] = res.complete
            print(json.dumps(info), file=sys.stderr)
        if is_json and res.complete:
            json.loads(res.text)
    return 0


class _UsageError(Exception):
    """A bad combination of command-line options (exit code 2)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bytegram`` console script."""
    ap = _parser()
    args = ap.parse_args(argv)
    handlers = {"check": cmd_check, "compile": cmd_compile, "generate": cmd_generate}
    try:
        return handlers[args.command](args)
    except (BytegramError, _UsageError) as e:
        first, *rest = str(e).splitlines() or [""]
        print(f"bytegram {args.command}: error: {first}", file=sys.stderr)
        for line in rest:
            print(line, file=sys.stderr)
        return 2
    except (OSError, json.JSONDecodeError) as e:
        print(f"bytegram {args.command}: error: {e}", file=sys.stderr)
        return 2
