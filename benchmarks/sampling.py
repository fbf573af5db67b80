"""Sampling benchmark: engine time per sampled token, masked sampling vs adaptive rejection
sampling (AWRS), on Llama-3 (128,256 tokens) with a few regexes, and with the JSON grammar and
two JSON Schemas (context-free: ``CFGMatcher``), reported by family. The model is not timed.

Each case comes with a matching text, tokenized with the real tokenizer; the walk follows
that text token by token, so every sampler is timed at the same grammar states. At each step
synthetic logits stand in for the model:

- peaked: Gaussian noise (sd 2.5) with the text's next token raised well above the rest, a
  few other allowed tokens and up to three forbidden tokens raised below it, so that about
  97% of the mass is on allowed tokens and the sampler still meets rejections;
- flat: Gaussian noise (sd 1) over the whole vocabulary, no preference (the allowed mass is
  the allowed fraction of the vocabulary: the rejection sampler's worst case).

The logits of every step are generated first; then each method walks every case on its own
(one warm-up walk, so that the lazily built state masks exist as in a server, then the timed
walks). Timed per token: AWRS ``sample()`` (the whole engine: the pass over the logits,
candidate selection, checks, the weight estimate, fallbacks), on the stored logits (which the
other walks have pushed out of the CPU caches by then) and "hot" (the row copied into a buffer
just before the call, untimed, as a model's freshly written output would be); masked sampling,
the whole ``MaskedSampler(compute_weights=False)`` call as ``bytegram.generate`` makes it
(mask, apply, draw) on hot rows: ``sample()`` at batch 1 and ``sample_batch()`` at batch 32
(32 sequences in the same state); its parts "fill+apply" (``fill_bitmask`` + ``apply_bitmask``
on a preallocated copy of the logits, batch 1 and 32); and ``MaskedSampler.sample()`` with
its exact weight (two logsumexps over the row) on stored rows. Reported: p50 and mean per
token, the mean number of single-token checks and the fallback rate of AWRS, and the mean
allowed mass.

    python benchmarks/sampling.py [--repeat 2] [--tokenizer llama3] [--seed 0] [--limit N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import bytegram  # noqa: E402
from bytegram.samplers import AdaptiveRejectionSampler, MaskedSampler, apply_bitmask  # noqa: E402

DATA = Path(os.environ.get("BYTEGRAM_DATA", REPO.parent / "shared" / "data"))

# (family, name, grammar source, matching text); sources: a regex, "json" (any JSON, the
# JSON grammar), or a JSON Schema (dict)
CASES = [
    ("regex", "date", r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])", "2026-11-23"),
    ("regex", "email", r"[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,6}",
     "jane.doe+news@mail.example.org"),
    ("regex", "float", r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?", "-12345.678e+9"),
    ("regex", "sentence", r"[A-Z][a-z]+( [a-z]+){3,20}\.",
     "The quick brown fox jumps over the lazy dog."),
    ("regex", "json_string", r'"([^"\\\x00-\x1f]|\\["\\/bfnrt])*"',
     '"Hello, world! A JSON string with \\"escapes\\" and unicode: caf\u00e9"'),
    ("regex", "bounded_500", r"[a-z ]{0,500}",
     "lorem ipsum dolor sit amet consectetur adipiscing elit " * 2),
    ("json", "any_json", "json",
     '{"id":1042,"name":"Widget \\"Pro\\"","price":19.99,"tags":["tools","hardware"],'
     '"stock":{"warehouse":"B-7","count":312},"active":true,"discontinued":null}'),
    ("json", "person", {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0},
                       "email": {"type": "string", "format": "email"},
                       "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 5}},
        "required": ["name", "age"], "additionalProperties": False},
     '{"name":"Ada Lovelace","age":36,"email":"ada@example.org","tags":["math","poetry"]}'),
    ("json", "order", {
        "type": "object",
        "properties": {
            "order_id": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{6}$"},
            "status": {"enum": ["pending", "shipped", "delivered", "cancelled"]},
            "items": {"type": "array", "minItems": 1, "items": {
                "type": "object",
                "properties": {"sku": {"type": "string"},
                               "quantity": {"type": "integer", "minimum": 1},
                               "unit_price": {"type": "number", "minimum": 0}},
                "required": ["sku", "quantity", "unit_price"],
                "additionalProperties": False}},
            "note": {"type": ["string", "null"]}},
        "required": ["order_id", "status", "items"], "additionalProperties": False},
     '{"order_id":"KX-204817","status":"shipped","items":[{"sku":"A-100","quantity":2,'
     '"unit_price":9.5},{"sku":"B-220","quantity":1,"unit_price":120}],"note":null}'),
]
FAMILIES = {"regex": "regexes", "json": "JSON grammar and schemas"}
COUNTED = {"regex": "regexes", "json": "JSON cases (the JSON grammar, schemas)"}


def grammar_of(source: Any) -> bytegram.Grammar:
    if isinstance(source, dict):
        return bytegram.Grammar.from_json_schema(source, whitespace="compact")
    if source == "json":
        return bytegram.Grammar.json(whitespace="compact")
    return bytegram.Grammar.from_regex(source)


def encode(path: Path, vocab: bytegram.Vocabulary, text: str) -> list[int]:
    """Token ids of ``text``: the tokenizer library if installed, else greedy longest match."""
    try:
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(path)).encode(text, add_special_tokens=False).ids
    except ImportError:
        data = text.encode()
        by_bytes = {b: i for i, b in enumerate(vocab.token_bytes)
                    if b and i not in vocab.special_ids}
        longest = max(map(len, by_bytes))
        out, pos = [], 0
        while pos < len(data):
            for n in range(min(longest, len(data) - pos), 0, -1):
                if data[pos:pos + n] in by_bytes:
                    out.append(by_bytes[data[pos:pos + n]])
                    pos += n
                    break
        return out


def peaked_logits(rng: np.random.Generator, v: int, target: int, allowed: np.ndarray) -> np.ndarray:
    x = (rng.standard_normal(v) * 2.5).astype(np.float32)
    top = float(x.max())
    x[target] = top + 9.0
    forb = rng.integers(0, v, size=3)
    forb = forb[~np.isin(forb, allowed)]
    x[forb] = top + 9.0 - rng.uniform(3.0, 5.5, size=len(forb)).astype(np.float32)
    other = allowed[rng.integers(0, len(allowed), size=min(3, len(allowed)))]
    x[other] = top + 9.0 - rng.uniform(2.0, 5.0, size=len(other)).astype(np.float32)
    x[target] = top + 9.0
    return x


def flat_logits(rng: np.random.Generator, v: int) -> np.ndarray:
    return rng.standard_normal(v).astype(np.float32)


def allowed_mass(x: np.ndarray, allowed: np.ndarray) -> float:
    e = np.exp(x.astype(np.float64) - x.max())
    return float(e[allowed].sum() / e.sum())


def cases_of(family: str, limit: int | None = None) -> list:
    return [c for c in CASES if c[0] == family][:limit]


def make_walks(vocab, path, regime: str, seed: int, cases: list) -> list:
    """Per case: the compiled grammar and, per step, (token, logits, allowed mass)."""
    rng = np.random.default_rng(seed)
    v = vocab.size
    walks = []
    for _, name, source, text in cases:
        compiled = bytegram.compile(grammar_of(source), vocab)
        ids = encode(path, vocab, text) + [int(vocab.eos_ids[0])]
        m = compiled.matcher()
        steps = []
        for tok in ids:
            allowed = m.allowed_ids()
            if tok not in set(allowed.tolist()):
                raise SystemExit(f"{name}: the text's token {tok} is not allowed")
            if regime == "peaked":
                x = peaked_logits(rng, v, tok, allowed)
            else:
                x = flat_logits(rng, v)
            steps.append((tok, torch.from_numpy(x), allowed_mass(x, allowed)))
            assert m.accept(tok)
        walks.append((compiled, steps))
    return walks


def timed_walk_of(compiled, steps, times: list | None, prepare, body) -> None:
    """Walk ``steps`` with a fresh matcher: ``prepare(logits)`` untimed, then
    ``body(logits, matcher)`` timed (appended to ``times`` unless None), then the token."""
    clock = time.perf_counter
    m = compiled.matcher()
    for tok, t, _ in steps:
        if prepare is not None:
            prepare(t)
        t0 = clock()
        body(t, m)
        dt = clock() - t0
        if times is not None:
            times.append(dt)
        m.accept(tok)


def run(walks, repeat: int, seed: int) -> dict:
    """Each method walks every regex alone (1 warm-up walk + ``repeat`` timed walks)."""
    awrs = AdaptiveRejectionSampler(seed=seed)
    masked = MaskedSampler(seed=seed)
    plain = MaskedSampler(seed=seed, compute_weights=False)
    res = {k: [] for k in ("awrs", "awrs_hot", "fill_apply1", "fill_apply32", "masked",
                           "plain1", "plain32", "checks", "fb", "z")}
    clock = time.perf_counter
    for compiled, steps in walks:
        v = steps[0][1].shape[0]
        bm1 = compiled.allocate_bitmask(1)
        bm32 = compiled.allocate_bitmask(32)
        # numpy copies: a parallel torch copy would leave its worker threads spinning on the
        # cores the timed code runs on
        work1 = np.empty((1, v), dtype=np.float32)
        work32 = np.empty((32, v), dtype=np.float32)
        hot = torch.from_numpy(np.empty(v, dtype=np.float32))
        hot32 = torch.from_numpy(np.empty((32, v), dtype=np.float32))
        for rep in range(1 + repeat):
            timed_walk = rep > 0
            m = compiled.matcher()  # AWRS
            for tok, t, z in steps:
                t0 = clock()
                s = awrs.sample(t, m)
                dt = clock() - t0
                if timed_walk:
                    res["awrs"].append(dt)
                    res["checks"].append(s.n_checks)
                    res["fb"].append(s.fell_back)
                    res["z"].append(z)
                m.accept(tok)
            out = (lambda k: res[k]) if timed_walk else (lambda k: None)

            def fill_apply1(t, m):
                m.fill_bitmask(bm1)
                apply_bitmask(work1, bm1)

            def fill_apply32(t, m):  # 32 sequences in one state
                for i in range(32):
                    m.fill_bitmask(bm32, i)
                apply_bitmask(work32, bm32)

            timed_walk_of(compiled, steps, out("awrs_hot"),  # AWRS on hot logits
                          lambda t: np.copyto(hot.numpy(), t.numpy()),
                          lambda t, m: awrs.sample(hot, m))
            timed_walk_of(compiled, steps, out("fill_apply1"),
                          lambda t: np.copyto(work1[0], t.numpy()), fill_apply1)
            timed_walk_of(compiled, steps, out("fill_apply32"),
                          lambda t: np.copyto(work32, t.numpy()[None]), fill_apply32)
            timed_walk_of(compiled, steps, out("plain1"),  # masked sampling, batch 1
                          lambda t: np.copyto(hot.numpy(), t.numpy()),
                          lambda t, m: plain.sample(hot, m))
            timed_walk_of(compiled, steps, out("plain32"),  # masked sampling, batch 32
                          lambda t: np.copyto(hot32.numpy(), t.numpy()[None]),
                          lambda t, m: plain.sample_batch(hot32, [m] * 32))
            timed_walk_of(compiled, steps, out("masked"), None,  # with the exact weight
                          lambda t, m: masked.sample(t, m))
    return res


TRUNCATIONS = (("top_p=0.95", dict(top_p=0.95)), ("top_k=50", dict(top_k=50)),
               ("min_p=0.05", dict(min_p=0.05)))


def run_truncated(walks, repeat: int, seed: int) -> dict:
    """Per truncation setting: MaskedSampler(compute_weights=False) (as ``bytegram.generate``
    samples) and AWRS, batch 1, on hot rows; 1 warm-up walk + ``repeat`` timed walks."""
    res = {}
    for name, kw in TRUNCATIONS:
        samplers = {"masked": MaskedSampler(seed=seed, compute_weights=False, **kw),
                    "awrs": AdaptiveRejectionSampler(seed=seed, **kw)}
        for key, sampler in samplers.items():
            times = res[(name, key)] = []
            for compiled, steps in walks:
                hot = torch.from_numpy(np.empty(steps[0][1].shape[0], dtype=np.float32))
                for rep in range(1 + repeat):
                    timed_walk_of(compiled, steps, times if rep else None,
                                  lambda t: np.copyto(hot.numpy(), t.numpy()),
                                  lambda t, m: sampler.sample(hot, m))
    return res


def run_floors(walks, repeat: int) -> dict:
    """Lower bounds on one exact draw from a hot row, on the same rows as ``run``: one max
    pass over the row (an exact sampler must read every logit at least once), the column
    maxima of a ``[64, V // 64]`` layout (AWRS's one pass), a numpy call on a few values
    (the fixed cost of each of the dozen calls AWRS makes), one ``is_allowed`` check."""
    res = {k: [] for k in ("max", "colmax", "call", "check")}
    few = np.zeros(8, dtype=np.float32)
    for compiled, steps in walks:
        v = steps[0][1].shape[0]
        hot = np.empty(v, dtype=np.float32)
        cols = hot[: 64 * (v // 64)].reshape(64, -1)
        bodies = {"max": lambda t, m: hot.max(),
                  "colmax": lambda t, m: np.maximum.reduce(cols, axis=0),
                  "call": lambda t, m: few.max()}
        for key, body in bodies.items():
            for rep in range(1 + repeat):
                timed_walk_of(compiled, steps, res[key] if rep else None,
                              lambda t: np.copyto(hot, t.numpy()), body)
        for rep in range(1 + repeat):  # the walk's own token (allowed), before accepting it
            m = compiled.matcher()
            for tok, _, _ in steps:
                t0 = time.perf_counter()
                m.is_allowed(tok)
                if rep:
                    res["check"].append(time.perf_counter() - t0)
                m.accept(tok)
    return res


def p50(xs):
    return statistics.median(xs)


def us(s: float) -> str:
    return f"{s * 1e6:,.1f} us"


def ms(s: float) -> str:
    return f"{s * 1e3:,.2f} ms"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokenizer", default="llama3")
    ap.add_argument("--repeat", type=int, default=2, help="timed walks after the warm-up")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None,
                    help="the first N cases of each family only")
    args = ap.parse_args(argv)
    path = DATA / "tokenizers" / args.tokenizer / "tokenizer.json"
    if not path.is_file():
        raise SystemExit(f"tokenizer not found: {path} (set BYTEGRAM_DATA)")
    vocab = bytegram.Vocabulary.from_tokenizer_json(path)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    counts = ", ".join(f"{len(cases_of(f, args.limit))} {label}"
                       for f, label in COUNTED.items())
    print(f"# Sampling engine time per token ({args.tokenizer}, {vocab.size:,} tokens, "
          f"{counts}; {os.cpu_count()} CPUs, load average {load:.1f})\n")
    print("| grammars | logits | allowed mass (mean) | tokens | AWRS p50 | AWRS mean "
          "| AWRS p50 (hot) | AWRS mean (hot) | AWRS checks (mean) | AWRS fallback "
          "| masked sampling p50 (b=1) | mean (b=1) | masked sampling p50 (b=32) "
          "| fill+apply p50 (b=1) | fill+apply p50 (b=32) | masked with weight p50 (b=1) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    walks = {(f, regime): make_walks(vocab, path, regime, args.seed, cases_of(f, args.limit))
             for f in FAMILIES for regime in ("peaked", "flat")}
    for (family, regime), w in walks.items():
        r = run(w, args.repeat, args.seed)
        print(f"| {FAMILIES[family]} | {regime} | {np.mean(r['z']):.3f} | {len(r['awrs'])} "
              f"| {us(p50(r['awrs']))} | {us(float(np.mean(r['awrs'])))} "
              f"| {us(p50(r['awrs_hot']))} | {us(float(np.mean(r['awrs_hot'])))} "
              f"| {np.mean(r['checks']):.2f} | {100 * np.mean(r['fb']):.1f}% "
              f"| {us(p50(r['plain1']))} | {us(float(np.mean(r['plain1'])))} "
              f"| {ms(p50(r['plain32']))} | {us(p50(r['fill_apply1']))} "
              f"| {ms(p50(r['fill_apply32']))} | {us(p50(r['masked']))} |")
    print("\n### With a truncation: engine time per token, batch 1, hot rows\n")
    print("| grammars | logits | setting | masked sampling p50 | masked sampling mean "
          "| AWRS p50 | AWRS mean |")
    print("|---|---|---|---|---|---|---|")
    for (family, regime), w in walks.items():
        r = run_truncated(w, args.repeat, args.seed)
        for name, _ in TRUNCATIONS:
            m, a = r[(name, "masked")], r[(name, "awrs")]
            print(f"| {FAMILIES[family]} | {regime} | {name} | {us(p50(m))} "
                  f"| {us(float(np.mean(m)))} | {us(p50(a))} | {us(float(np.mean(a)))} |")
    print("\n### Floors: parts of any exact draw, hot rows, peaked logits, p50\n")
    print("| grammars | one max pass | column maxima [64, V/64] | a numpy call on 8 values "
          "| one is_allowed |")
    print("|---|---|---|---|---|")
    for family in FAMILIES:
        r = run_floors(walks[(family, "peaked")], args.repeat)
        print(f"| {FAMILIES[family]} | {us(p50(r['max']))} | {us(p50(r['colmax']))} "
              f"| {us(p50(r['call']))} | {us(p50(r['check']))} |")
    print("\nMasked sampling: the whole MaskedSampler(compute_weights=False) call (mask, apply, "
          "draw), as bytegram.generate makes it, on hot rows; fill+apply are its first two "
          "parts alone. ")
    print("AWRS times include the pass over the logits (column maxima), candidate selection, "
          "the checks, the weight estimate and any fallback to the mask. Hot: the row copied "
          "into a buffer just before each call (untimed), as a model's fresh output would be "
          "in the CPU caches; otherwise the stored rows, which the other walks evict.")
    print("Floors: a sampler that is exact must read every logit once (a max pass at "
          "least); AWRS's pass also keeps the column maxima that bound the tail, and its "
          "candidates, envelope, draw and weight estimate take a dozen more numpy calls, "
          "each with the fixed cost shown, plus two checks at least (the draw and the "
          "estimate's second acceptance).")


if __name__ == "__main__":
    main()
