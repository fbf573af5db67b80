"""GLR parsing over persistent stacks, and the stack-relative simulation that masks rely on.

Stacks are cons lists of LR states (``StackNode``): pushing shares the tail, so forking a
reading or keeping history costs O(1). Nodes hash and compare by content, so two readings
that reach the same stack by different paths are merged.

``StackContext`` simulates terminal sequences on top of one stack *without building nodes*:
a virtual stack is ``(k, pushed)``, the original stack with its top ``k`` states popped and
the states ``pushed`` on top. The context records the deepest original state it read
(``depth``): any stack whose top ``depth`` states are the same would give the same results,
which is what lets masks be cached by a bounded stack context instead of the whole stack.
"""

from __future__ import annotations

from ..errors import LimitExceeded
from ..grammar.lr import ACCEPT, LRTables

__all__ = ["StackNode", "StackContext", "bottom_stack"]


class StackNode:
    """One LR state on a persistent stack (``parent`` is the rest of the stack)."""

    __slots__ = ("state", "parent", "height", "_hash")

    def __init__(self, state: int, parent: "StackNode | None") -> None:
        self.state = state
        self.parent = parent
        self.height = 1 if parent is None else parent.height + 1
        self._hash = hash((state, 0 if parent is None else parent._hash))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        a, b = self, other
        while a is not b:
            if not isinstance(b, StackNode) or a._hash != b._hash or a.state != b.state \
                    or a.height != b.height:
                return False
            a, b = a.parent, b.parent
            if a is None or b is None:
                return a is b
        return True

    def top_states(self, depth: int) -> tuple[int, ...]:
        """The top ``depth`` states, top first."""
        out = []
        node: StackNode | None = self
        while node is not None and len(out) < depth:
            out.append(node.state)
            node = node.parent
        return tuple(out)

    def states(self) -> list[int]:
        """All states, bottom first."""
        out = []
        node: StackNode | None = self
        while node is not None:
            out.append(node.state)
            node = node.parent
        return out[::-1]

    def __repr__(self) -> str:
        return f"StackNode({self.states()})"


def bottom_stack() -> StackNode:
    """The stack holding only the initial state."""
    return StackNode(0, None)


VStack = tuple  # (k, pushed): original stack minus its top k states, plus states pushed


class StackContext:
    """Simulates terminal sequences on one stack; see the module docstring."""

    __slots__ = ("tables", "node", "_nodes", "depth", "_memo", "max_stacks", "_seq_parent",
                 "_seq_term", "_ign")

    def __init__(self, tables: LRTables, node: StackNode, lexer, *,
                 max_stacks: int = 10_000) -> None:
        self.tables = tables
        self.node = node
        self._nodes: list[StackNode] = [node]
        self.depth = 1  # number of original states read (the top always is)
        self._memo: dict[int, list[VStack]] = {0: [(0, ())]}
        self.max_stacks = max_stacks
        self._seq_parent = lexer.seq_parent
        self._seq_term = lexer.seq_term
        self._ign = lexer.ign

    def _orig(self, k: int) -> int:
        nodes = self._nodes
        while len(nodes) <= k:
            nodes.append(nodes[-1].parent)
        if k + 1 > self.depth:
            self.depth = k + 1
        return nodes[k].state

    def top(self, vs: VStack) -> int:
        """The top state of a virtual stack."""
        k, pushed = vs
        return pushed[-1] if pushed else self._orig(k)

    def step(self, vs: VStack, term: int) -> list[VStack]:
        """Every virtual stack after reducing as needed and shifting ``term``."""
        actions = self.tables.actions
        gotos = self.tables.gotos
        rule_len = self.tables.rule_len
        rule_lhs = self.tables.rule_lhs
        out: list[VStack] = []
        seen = {vs}
        work = [vs]
        while work:
            cur = work.pop()
            k, pushed = cur
            top = pushed[-1] if pushed else self._orig(k)
            for code in actions[top].get(term, ()):
                if code >= 0:
                    out.append((k, pushed + (code,)))
                    continue
                if code == ACCEPT:
                    continue
                r = -code - 1
                n = rule_len[r]
                if n <= len(pushed):
                    k2, p2 = k, pushed[: len(pushed) - n]
                else:
                    k2, p2 = k + n - len(pushed), ()
                base = p2[-1] if p2 else self._orig(k2)
                nv = (k2, p2 + (gotos[base][rule_lhs[r]],))
                if nv not in seen:
                    seen.add(nv)
                    if len(seen) > self.max_stacks:
                        raise LimitExceeded("too many parse stacks while reducing (the grammar "
                                            "is too ambiguous here)", limit="max_readings",
                                            value=self.max_stacks,
                                            hint="raise max_readings or disambiguate the "
                                                 "grammar")
                    work.append(nv)
        return out

    def sim(self, seq: int) -> list[VStack]:
        """The virtual stacks after shifting the terminals of sequence ``seq`` (memoized)."""
        hit = self._memo.get(seq)
        if hit is not None:
            return hit
        parent = self._seq_parent[seq]
        prev = self.sim(parent) if parent not in self._memo else self._memo[parent]
        term = self._seq_term[seq]
        out: list[VStack] = []
        if term == self._ign:
            out = prev
        elif prev:
            seen: set = set()
            for vs in prev:
                for nv in self.step(vs, term):
                    if nv not in seen:
                        seen.add(nv)
                        out.append(nv)
            if len(out) > self.max_stacks:
                raise LimitExceeded("too many parse stacks (the grammar is too ambiguous "
                                    "here)", limit="max_readings", value=self.max_stacks,
                                    hint="raise max_readings or disambiguate the grammar")
        self._memo[seq] = out
        return out

    def materialize(self, vs: VStack) -> StackNode:
        """A real stack for a virtual one (shares the original's tail)."""
        k, pushed = vs
        if k:
            self._orig(k)
        node = self._nodes[k]
        for s in pushed:
            node = StackNode(s, node)
        return node
