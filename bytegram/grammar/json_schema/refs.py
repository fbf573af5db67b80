"""``$ref`` resolution: base URIs (``$id``/``id``), anchors, JSON pointers, drafts, remotes.

A ``Registry`` indexes every schema resource reachable from the root (embedded ``$id``s,
``$anchor``s, draft <= 7 ``"$id": "#name"`` fragments) and resolves references against the
current base URI. Remote documents come only from the ``remotes`` mapping given by the caller
(URI -> schema); nothing is fetched from the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import unquote, urldefrag
from urllib.parse import urljoin as _urljoin

from ...errors import InvalidSyntax, Unsupported

__all__ = ["Registry", "Located", "draft_of", "DEFAULT_BASE"]

DEFAULT_BASE = "https://bytegram.invalid/root.json"
_DRAFTS = (("draft-03", 3), ("draft-04", 4), ("draft-06", 6), ("draft-07", 7),
           ("2019-09", 2019), ("2020-12", 2020))

# keywords whose value is a schema / a list of schemas / a map of schemas
_SCHEMA_KW = ("additionalProperties", "additionalItems", "contains", "propertyNames", "not",
              "if", "then", "else", "unevaluatedItems", "unevaluatedProperties", "items",
              "contentSchema")
_LIST_KW = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
_MAP_KW = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas",
           "dependencies")


def draft_of(schema: Any, default: int = 2020) -> int:
    """The draft named by ``$schema`` (3, 4, 6, 7, 2019, 2020), else ``default``."""
    if isinstance(schema, dict) and isinstance(schema.get("$schema"), str):
        uri = schema["$schema"]
        for tag, d in _DRAFTS:
            if tag in uri:
                return d
    return default


@dataclass(frozen=True)
class Located:
    """A subschema with its base URI, draft, and JSON pointer (for messages)."""

    schema: Any
    base: str
    draft: int
    pointer: str

    @property
    def key(self) -> tuple:
        return (id(self.schema), self.base)


def _id_of(schema: dict, draft: int) -> str | None:
    v = schema.get("id" if draft <= 4 else "$id")
    if not isinstance(v, str):
        return None
    if draft <= 7 and "$ref" in schema:  # $ref siblings are ignored up to draft 7
        return None
    return v


class Registry:
    """Index of resources and anchors; resolves references (see module docstring)."""

    def __init__(self, root: Any, *, draft: int, base_uri: str = DEFAULT_BASE,
                 remotes: Mapping[str, Any] | Callable[[str], Any] | None = None) -> None:
        self.draft = draft
        self.remotes = remotes
        self.resources: dict[str, Located] = {}
        self.anchors: dict[str, Located] = {}
        self.keep: list[Any] = [root]  # keep loaded documents alive (ids are keys)
        self.root = self._add_document(root, base_uri, draft)

    def _add_document(self, doc: Any, uri: str, draft: int) -> Located:
        draft = draft_of(doc, draft)
        base = uri
        if isinstance(doc, dict):
            i = _id_of(doc, draft)
            if i is not None and not i.startswith("#"):
                base = urldefrag(urljoin(uri, i))[0]
        loc = Located(doc, base, draft, "")
        self.resources.setdefault(urldefrag(uri)[0], loc)
        self.resources.setdefault(base, loc)
        self._index(doc, base, draft, "")
        return loc

    def _index(self, s: Any, base: str, draft: int, ptr: str) -> None:
        if not isinstance(s, dict):
            return
        draft = draft_of(s, draft) if "$schema" in s and ptr else draft
        i = _id_of(s, draft)
        if i is not None:
            if i.startswith("#") and draft <= 7:
                self.anchors.setdefault(base + i, Located(s, base, draft, ptr))
            else:
                new = urljoin(base, i)
                nb, frag = urldefrag(new)
                base = nb
                self.resources.setdefault(base, Located(s, base, draft, ptr))
                if frag and draft <= 7:
                    self.anchors.setdefault(base + "#" + frag, Located(s, base, draft, ptr))
        for kw in ("$anchor", "$dynamicAnchor"):
            a = s.get(kw)
            if isinstance(a, str) and draft >= 2019:
                self.anchors.setdefault(base + "#" + a, Located(s, base, draft, ptr))
        if draft <= 7 and "$ref" in s:
            return
        for kw in _SCHEMA_KW:
            if kw in s and isinstance(s[kw], (dict, bool)):
                self._index(s[kw], base, draft, f"{ptr}/{kw}")
        for kw in _LIST_KW:
            if isinstance(s.get(kw), list):
                for j, sub in enumerate(s[kw]):
                    self._index(sub, base, draft, f"{ptr}/{kw}/{j}")
        for kw in _MAP_KW:
            if isinstance(s.get(kw), dict):
                for name, sub in s[kw].items():
                    if isinstance(sub, (dict, bool)):
                        self._index(sub, base, draft, f"{ptr}/{kw}/{_esc(name)}")

    def _load(self, uri: str) -> Located | None:
        r = self.remotes
        doc = None
        if callable(r):
            doc = r(uri)
        elif r is not None:
            doc = r.get(uri)
        if doc is None:
            return None
        self.keep.append(doc)
        return self._add_document(doc, uri, self.draft)

    def resolve(self, ref: str, at: Located) -> Located:
        """The subschema ``ref`` names, seen from ``at``."""
        full = urljoin(at.base, ref)
        uri, frag = urldefrag(full)
        if frag and not frag.startswith("/"):
            hit = self.anchors.get(uri + "#" + frag)
            if hit is None and uri not in self.resources:
                self._load(uri)
                hit = self.anchors.get(uri + "#" + frag)
            if hit is None:
                raise Unsupported(f"cannot resolve $ref {ref!r} (anchor not found)",
                                  feature="$ref", where=at.pointer or "/")
            return hit
        res = self.resources.get(uri)
        if res is None:
            res = self._load(uri)
        if res is None:
            raise Unsupported(f"cannot resolve $ref {ref!r} (no such resource: {uri}; pass "
                              f"remotes= to provide it)", feature="$ref",
                              where=at.pointer or "/")
        return self._walk(res, unquote(frag), ref)

    def _walk(self, res: Located, pointer: str, ref: str) -> Located:
        node, base, draft, ptr = res.schema, res.base, res.draft, res.pointer
        if not pointer:
            return res
        for part in pointer.split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise InvalidSyntax(f"$ref {ref!r}: JSON pointer does not resolve at "
                                    f"{part!r}")
            ptr = f"{ptr}/{_esc(part)}"
            if isinstance(node, dict):
                i = _id_of(node, draft)
                if i is not None and not i.startswith("#"):
                    base = urldefrag(urljoin(base, i))[0]
        return Located(node, base, draft, ptr)

    def enter(self, sub: Any, parent: Located, suffix: str) -> Located:
        """``sub`` (found under ``parent`` at ``suffix``) with its own base URI."""
        base, draft = parent.base, parent.draft
        if isinstance(sub, dict):
            if "$schema" in sub:
                draft = draft_of(sub, draft)
            i = _id_of(sub, draft)
            if i is not None and not i.startswith("#"):
                base = urldefrag(urljoin(base, i))[0]
        return Located(sub, base, draft, f"{parent.pointer}{suffix}")


def urljoin(base: str, ref: str) -> str:
    """RFC 3986 reference resolution that also handles ``urn:`` bases (which Python's
    ``urljoin`` leaves alone) for fragment-only references."""
    if ref.startswith("#"):
        return urldefrag(base)[0] + ref
    head = ref.split("/", 1)[0]
    if ":" in head and not head.startswith("."):
        return ref  # absolute
    return _urljoin(base, ref)


def _esc(name: str) -> str:
    return str(name).replace("~", "~0").replace("/", "~1")
