"""Array encodings of grammar-level objects for the disk cache (``bytegram.cache``): a
``GrammarIR`` and its ``LRTables``, as a few numpy arrays plus JSON-able metadata (no pickle).

Layout: every integer table is one segment of a single int32 vector ``ints`` (the segment
names and lengths are listed in the metadata), terminal DFAs are stacked into ``trans``
(int32 ``[total states, 256]``) and ``acc`` (bool): few arrays, so loading is fast. Decoders
check every size and index before building anything and raise ``ValueError`` on the first
inconsistency, so a well-formed file with the wrong contents is rejected, never half used.

The LR tables reuse the IR's terminal DFAs (a terminal that normalization left unchanged is
stored by reference), so decoding them takes the IR they were built from.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from itertools import islice
from typing import Any, Iterator, Sequence

import numpy as np

from .dfa import ByteDFA
from .ir import GrammarIR, Rule, Terminal
from .lr import ACCEPT, LRTables

__all__ = ["ir_to_arrays", "ir_from_arrays", "lr_to_arrays", "lr_from_arrays"]

IR_FORMAT = 1
LR_FORMAT = 1


# -- helpers -------------------------------------------------------------------------------

def _check(cond: bool, what: str) -> None:
    if not cond:
        raise ValueError(f"inconsistent cache entry: {what}")


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building many small objects (restored as it was)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _pack_ints(segments: dict[str, Sequence[int] | np.ndarray]) -> tuple[np.ndarray, list]:
    """One int32 vector holding every segment, and the layout ``[[name, length], ...]``."""
    parts = [np.asarray(v, dtype=np.int64).reshape(-1) for v in segments.values()]
    flat = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    if len(flat) and (flat.min() < -(1 << 31) or flat.max() >= 1 << 31):
        raise OverflowError("a table entry does not fit in int32")
    return flat.astype(np.int32), [[k, len(p)] for k, p in zip(segments, parts)]


def _unpack_ints(arrays: dict[str, np.ndarray], meta: dict[str, Any],
                 names: Sequence[str]) -> dict[str, np.ndarray]:
    flat = arrays["ints"]
    _check(flat.dtype == np.int32 and flat.ndim == 1, "ints is not an int32 vector")
    layout = meta["layout"]
    _check(isinstance(layout, list) and [x[0] for x in layout] == list(names),
           "unexpected segment layout")
    out: dict[str, np.ndarray] = {}
    pos = 0
    for name, n in layout:
        _check(isinstance(n, int) and n >= 0, f"segment {name} has a bad length")
        out[name] = flat[pos:pos + n]
        pos += n
    _check(pos == len(flat), "segment lengths do not add up")
    return out


def _dfa_arrays(dfas: Sequence[ByteDFA]) -> tuple[dict[str, np.ndarray], list[int], list[int]]:
    trans = (np.concatenate([d.transitions for d in dfas]) if dfas
             else np.zeros((0, 256), np.int32))
    acc = np.concatenate([d.accepting for d in dfas]) if dfas else np.zeros(0, bool)
    return ({"trans": trans.astype(np.int32, copy=False), "acc": acc.astype(bool, copy=False)},
            [d.n_states for d in dfas], [int(d.start) for d in dfas])


def _dfas_from(arrays: dict[str, np.ndarray], sizes: np.ndarray,
               starts: np.ndarray) -> list[ByteDFA]:
    trans, acc = arrays["trans"], arrays["acc"]
    _check(trans.dtype == np.int32 and trans.ndim == 2 and trans.shape[1] == 256,
           "trans is not int32 [n, 256]")
    _check(acc.dtype == np.bool_ and acc.shape == (trans.shape[0],), "acc does not match trans")
    _check(len(sizes) == len(starts), "DFA sizes and starts differ in length")
    _check(bool((sizes >= 0).all()) and int(sizes.sum()) == trans.shape[0],
           "DFA sizes do not add up to the stacked table")
    _check(bool(((starts >= 0) & (starts < sizes) | (starts == -1) & (sizes == 0)).all()),
           "a DFA start state is out of range")
    if trans.shape[0]:
        _check(int(trans.min()) >= -1, "a transition is below -1")
        bound = np.repeat(sizes.astype(np.int64), sizes)
        _check(bool((trans.max(axis=1) < bound).all()), "a transition leaves its DFA")
    out = []
    pos = 0
    for n, s in zip(sizes.tolist(), starts.tolist()):
        out.append(ByteDFA(trans[pos:pos + n], acc[pos:pos + n], s))
        pos += n
    return out


def _str_list(x: Any, what: str) -> list[str]:
    _check(isinstance(x, list) and all(isinstance(s, str) for s in x), f"{what} is not a list "
           f"of strings")
    return x


# -- GrammarIR -----------------------------------------------------------------------------

def ir_to_arrays(ir: GrammarIR) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``(arrays, meta)`` encoding ``ir`` exactly (terminals with DFAs, sources and literals,
    rules in order, start, ignore, content hash)."""
    terms = list(ir.terminals.values())
    names = [t.name for t in terms]
    symbols = names + [n for n in ir.nonterminals if n not in ir.terminals]
    index = {s: i for i, s in enumerate(symbols)}
    arrays, sizes, starts = _dfa_arrays([t.dfa for t in terms])
    rhs = [index[s] for r in ir.rules for s in r.rhs]
    arrays["ints"], layout = _pack_ints({
        "dfa_size": sizes, "dfa_start": starts,
        "rule_lhs": [index[r.lhs] for r in ir.rules],
        "rule_n": [len(r.rhs) for r in ir.rules], "rule_rhs": rhs,
    })
    meta = {
        "ir_format": IR_FORMAT, "layout": layout, "symbols": symbols, "n_terminals": len(terms),
        "sources": [t.source for t in terms],
        "literals": [None if t.literal is None else t.literal.hex() for t in terms],
        "start": ir.start, "ignore": list(ir.ignore), "content_hash": ir.content_hash,
    }
    return arrays, meta


def ir_from_arrays(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> GrammarIR:
    """The ``GrammarIR`` encoded by ``ir_to_arrays``; ``ValueError`` if inconsistent."""
    _check(meta.get("ir_format") == IR_FORMAT, "unknown IR format")
    seg = _unpack_ints(arrays, meta, ["dfa_size", "dfa_start", "rule_lhs", "rule_n", "rule_rhs"])
    symbols = _str_list(meta["symbols"], "symbols")
    n_t = meta["n_terminals"]
    _check(isinstance(n_t, int) and 0 <= n_t <= len(symbols) == len(set(symbols)),
           "bad symbol table")
    sources = _str_list(meta["sources"], "sources")
    literals = meta["literals"]
    _check(isinstance(literals, list) and len(sources) == len(literals) == n_t
           == len(seg["dfa_size"]), "terminal lists differ in length")
    dfas = _dfas_from(arrays, seg["dfa_size"], seg["dfa_start"])
    lhs, rule_n, rhs = seg["rule_lhs"], seg["rule_n"], seg["rule_rhs"]
    _check(len(lhs) == len(rule_n) and bool((rule_n >= 0).all())
           and int(rule_n.sum()) == len(rhs), "rule lengths do not add up")
    _check(bool(((lhs >= n_t) & (lhs < len(symbols))).all()), "a rule's left side is not a "
           "nonterminal")
    _check(bool(((rhs >= 0) & (rhs < len(symbols))).all()), "a rule uses an unknown symbol")
    start, ignore, content_hash = meta["start"], _str_list(meta["ignore"], "ignore"), \
        meta["content_hash"]
    _check(isinstance(start, str) and start in symbols, "unknown start symbol")
    _check(set(ignore) <= set(symbols[:n_t]), "an ignored name is not a terminal")
    _check(isinstance(content_hash, str), "no content hash")
    with _gc_paused():
        terminals = {}
        for name, dfa, src, lit in zip(symbols, dfas, sources, literals):
            _check(lit is None or isinstance(lit, str), "bad literal")
            terminals[name] = Terminal(name, dfa, src,
                                       None if lit is None else bytes.fromhex(lit))
        names = iter([symbols[i] for i in rhs.tolist()])
        rules = [Rule(symbols[a], tuple(islice(names, n)))
                 for a, n in zip(lhs.tolist(), rule_n.tolist())]
    return GrammarIR(terminals, tuple(rules), start, tuple(ignore), content_hash)


# -- LRTables ------------------------------------------------------------------------------

def lr_to_arrays(tables: LRTables, ir: GrammarIR) -> tuple[dict[str, np.ndarray],
                                                           dict[str, Any]]:
    """``(arrays, meta)`` encoding ``tables`` (built from ``ir``) exactly, action order
    included. A terminal DFA equal to the IR terminal of the same name is stored by
    reference."""
    shared, own = [], []
    for name, dfa in zip(tables.terminal_names, tables.terminal_dfas):
        t = ir.terminals.get(name)
        same = t is not None and (t.dfa is dfa or (
            t.dfa.start == dfa.start and np.array_equal(t.dfa.accepting, dfa.accepting)
            and np.array_equal(t.dfa.transitions, dfa.transitions)))
        shared.append(1 if same else 0)
        if not same:
            own.append(dfa)
    arrays, sizes, starts = _dfa_arrays(own)
    act_terms, act_n, codes = [], [], []
    for a in tables.actions:
        for t, cs in a.items():
            act_terms.append(t)
            act_n.append(len(cs))
            codes.extend(cs)
    ignore = [t for t in range(tables.n_terminals) if tables.ignore_mask >> t & 1]
    arrays["ints"], layout = _pack_ints({
        "shared": shared, "dfa_size": sizes, "dfa_start": starts, "ignore": ignore,
        "rule_lhs": tables.rule_lhs, "rule_len": tables.rule_len,
        "act_count": [len(a) for a in tables.actions], "act_term": act_terms,
        "act_n": act_n, "act_codes": codes,
        "goto_count": [len(g) for g in tables.gotos],
        "goto_nt": [k for g in tables.gotos for k in g],
        "goto_target": [v for g in tables.gotos for v in g.values()],
    })
    meta = {
        "lr_format": LR_FORMAT, "layout": layout, "ir_hash": ir.content_hash,
        "terminal_names": list(tables.terminal_names),
        "nonterminal_names": list(tables.nonterminal_names),
        "rule_text": list(tables.rule_text), "n_conflicts": tables.n_conflicts,
    }
    return arrays, meta


_LR_SEGMENTS = ["shared", "dfa_size", "dfa_start", "ignore", "rule_lhs", "rule_len",
                "act_count", "act_term", "act_n", "act_codes", "goto_count", "goto_nt",
                "goto_target"]


def lr_from_arrays(arrays: dict[str, np.ndarray], meta: dict[str, Any],
                   ir: GrammarIR) -> LRTables:
    """The ``LRTables`` encoded by ``lr_to_arrays`` for ``ir``; ``ValueError`` if
    inconsistent."""
    _check(meta.get("lr_format") == LR_FORMAT, "unknown LR format")
    _check(meta.get("ir_hash") == ir.content_hash, "tables of another grammar")
    s = _unpack_ints(arrays, meta, _LR_SEGMENTS)
    t_names = _str_list(meta["terminal_names"], "terminal names")
    nt_names = _str_list(meta["nonterminal_names"], "nonterminal names")
    rule_text = _str_list(meta["rule_text"], "rule texts")
    n_conflicts = meta["n_conflicts"]
    _check(isinstance(n_conflicts, int) and n_conflicts >= 0, "bad conflict count")
    n_t, n_nt, n_r = len(t_names), len(nt_names), len(rule_text)
    shared = s["shared"]
    _check(len(shared) == n_t and bool(((shared == 0) | (shared == 1)).all()),
           "bad shared-DFA flags")
    own = iter(_dfas_from(arrays, s["dfa_size"], s["dfa_start"]))
    _check(len(s["dfa_size"]) == n_t - int(shared.sum()), "wrong number of stored DFAs")
    dfas = []
    for name, sh in zip(t_names, shared.tolist()):
        if sh:
            t = ir.terminals.get(name)
            _check(t is not None, f"terminal {name!r} is not in the grammar")
            dfas.append(t.dfa)
        else:
            dfas.append(next(own))
    ignore = s["ignore"]
    _check(bool(((ignore >= 0) & (ignore < n_t)).all()), "an ignored terminal is out of range")
    rule_lhs, rule_len = s["rule_lhs"], s["rule_len"]
    _check(len(rule_lhs) == len(rule_len) == n_r and n_r >= 1, "rule tables differ in length")
    _check(bool(((rule_lhs >= 0) & (rule_lhs < n_nt)).all() and (rule_len >= 0).all()),
           "a rule is out of range")
    act_count, act_term, act_n, codes = s["act_count"], s["act_term"], s["act_n"], \
        s["act_codes"]
    n_s = len(act_count)
    _check(n_s >= 1 and len(s["goto_count"]) == n_s, "state tables differ in length")
    _check(bool((act_count >= 0).all()) and int(act_count.sum()) == len(act_term)
           == len(act_n), "action counts do not add up")
    _check(bool((act_n >= 1).all()) and int(act_n.sum()) == len(codes),
           "action code counts do not add up")
    _check(bool(((act_term >= 0) & (act_term <= n_t)).all()), "an action terminal is "
           "out of range")
    _check(bool(((codes < n_s) & ((codes >= -n_r) | (codes == ACCEPT))).all()),
           "an action code is out of range")
    goto_count, goto_nt, goto_target = s["goto_count"], s["goto_nt"], s["goto_target"]
    _check(bool((goto_count >= 0).all()) and int(goto_count.sum()) == len(goto_nt)
           == len(goto_target), "goto counts do not add up")
    _check(bool(((goto_nt >= 0) & (goto_nt < n_nt)).all()
                and ((goto_target >= 0) & (goto_target < n_s)).all()),
           "a goto is out of range")
    # build the Python tables (with the cyclic GC paused: tens of thousands of small
    # objects would otherwise trigger full collections of a heap holding a vocabulary)
    with _gc_paused():
        codes_l = codes.tolist()
        offsets = (np.cumsum(act_n) - act_n).tolist()
        values = [(codes_l[o],) if n == 1 else tuple(codes_l[o:o + n])
                  for o, n in zip(offsets, act_n.tolist())]
        entries = zip(act_term.tolist(), values)
        actions = tuple([dict(islice(entries, k)) for k in act_count.tolist()])
        pairs = zip(goto_nt.tolist(), goto_target.tolist())
        gotos = tuple([dict(islice(pairs, k)) for k in goto_count.tolist()])
        next_mask = tuple([sum(1 << t for t in a) for a in actions])
    return LRTables(
        terminal_names=tuple(t_names),
        terminal_dfas=tuple(dfas),
        ignore_mask=sum(1 << t for t in set(ignore.tolist())),
        nonterminal_names=tuple(nt_names),
        rule_lhs=tuple(rule_lhs.tolist()),
        rule_len=tuple(rule_len.tolist()),
        rule_text=tuple(rule_text),
        actions=actions,
        gotos=gotos,
        next_mask=next_mask,
        n_conflicts=n_conflicts,
    )
