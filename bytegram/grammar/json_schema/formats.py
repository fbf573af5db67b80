"""``format`` -> character-level regexes (Python syntax, for ``regex_to_dfa``).

bytegram enforces formats (an assertion, as JSON Schema allows; it is only an annotation by
default in 2019-09/2020-12, so enforcing accepts a subset of what a pure validator accepts,
never more). Formats we cannot check with a regular language (``regex``), or do not know,
accept any string and are recorded in ``Grammar.relaxations``.

Notes on exactness: ``date`` checks days per month and leap years; ``time`` requires an
offset (RFC 3339) and rejects leap seconds (``:60``); ``hostname`` checks labels (1-63
characters) but not the 253-character total; ``email`` accepts dot-atom local parts only
(no quoted local parts, no IP literals); ``uri`` is ASCII with a scheme, ``%`` escapes
checked; ``iri`` also allows non-ASCII characters.
"""

from __future__ import annotations

__all__ = ["FORMAT_REGEXES", "UNCHECKED_FORMATS", "format_regex"]

_YEAR = r"[0-9]{4}"
_LEAP = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
_DATE = (r"(?:" + _YEAR + r"-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
         r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
         r"|" + _LEAP + r"-02-29)")
_TIME = (r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
         r"(?:[zZ]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])")
_DUR_T = r"T(?:[0-9]+H(?:[0-9]+M(?:[0-9]+S)?)?|[0-9]+M(?:[0-9]+S)?|[0-9]+S)"
_DURATION = (r"P(?:[0-9]+W|(?:[0-9]+Y(?:[0-9]+M(?:[0-9]+D)?)?|[0-9]+M(?:[0-9]+D)?|[0-9]+D)"
             r"(?:" + _DUR_T + r")?|" + _DUR_T + r")")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = _LABEL + r"(?:\." + _LABEL + r")*"
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_EMAIL = _ATEXT + r"+(?:\." + _ATEXT + r"+)*@" + _HOSTNAME
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = _OCTET + r"(?:\." + _OCTET + r"){3}"
_H16 = r"[0-9A-Fa-f]{1,4}"
_LS32 = r"(?:" + _H16 + ":" + _H16 + "|" + _IPV4 + ")"
_IPV6 = "(?:" + "|".join([
    r"(?:" + _H16 + r":){6}" + _LS32,
    r"::(?:" + _H16 + r":){5}" + _LS32,
    r"(?:" + _H16 + r")?::(?:" + _H16 + r":){4}" + _LS32,
    r"(?:(?:" + _H16 + r":){0,1}" + _H16 + r")?::(?:" + _H16 + r":){3}" + _LS32,
    r"(?:(?:" + _H16 + r":){0,2}" + _H16 + r")?::(?:" + _H16 + r":){2}" + _LS32,
    r"(?:(?:" + _H16 + r":){0,3}" + _H16 + r")?::" + _H16 + ":" + _LS32,
    r"(?:(?:" + _H16 + r":){0,4}" + _H16 + r")?::" + _LS32,
    r"(?:(?:" + _H16 + r":){0,5}" + _H16 + r")?::" + _H16,
    r"(?:(?:" + _H16 + r":){0,6}" + _H16 + r")?::",
]) + ")"
_URI_CHAR = r"(?:%[0-9A-Fa-f]{2}|[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=])"
_IRI_CHAR = r"(?:%[0-9A-Fa-f]{2}|[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|[^\x00-\x7f])"
_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*:"
_PTR = r"(?:/(?:[^~/]|~[01])*)*"

FORMAT_REGEXES: dict[str, str] = {
    "date-time": _DATE + r"[Tt]" + _TIME,
    "date": _DATE,
    "time": _TIME,
    "duration": _DURATION,
    "email": _EMAIL,
    "hostname": _HOSTNAME,
    "ipv4": _IPV4,
    "ipv6": _IPV6,
    "uuid": r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    "uri": _SCHEME + _URI_CHAR + "*",
    "uri-reference": r"(?:" + _SCHEME + r")?" + _URI_CHAR + "*",
    "iri": _SCHEME + _IRI_CHAR + "*",
    "iri-reference": r"(?:" + _SCHEME + r")?" + _IRI_CHAR + "*",
    "uri-template": r"(?:[^{}\x00-\x1f]|\{[^{}\x00-\x1f]+\})*",
    "json-pointer": _PTR,
    "relative-json-pointer": r"(?:0|[1-9][0-9]*)(?:#|" + _PTR + ")",
}

# formats we know but cannot check as a regular language: any string, recorded as relaxed
UNCHECKED_FORMATS = frozenset({"regex", "idn-email", "idn-hostname"})


def format_regex(name: str) -> str | None:
    """The regex of ``name``, or None when unknown or unchecked (accept any string)."""
    return FORMAT_REGEXES.get(name)
