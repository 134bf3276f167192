"""Line hygiene every text parser shares: terminal escapes removed, undecodable bytes marked (pure).

Real logs carry what a terminal was sent: RHEL 8's dnf.log writes its transaction table with colour
escapes around package names (` ESC[1mESC[32mkernel  ESC(BESC[m x86_64 ...`). A parser that splits such
a line on spaces sees a name with escapes in it, or columns shifted by one. `clean` removes ECMA-48 /
VT100 control sequences before any parser splits a line.

Bytes that are not UTF-8 are decoded as U+FFFD (`decode`). The one rule for every parser: keep every
valid item of a line, report the item that holds U+FFFD (`broken`) as an error, never accept a name
with U+FFFD in it.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"

# ECMA-48 control sequences:
#   CSI  ESC [ (or 8-bit U+009B) params intermediates final   (colours, moves: ESC[1m, ESC[32m, ESC[m)
#   OSC  ESC ] ... BEL | ESC \                 (window titles, hyperlinks)
#   DCS/SOS/PM/APC  ESC P|X|^|_ ... ESC \
#   charset designation  ESC ( B, ESC ) 0, ...  (VT100: ESC(B is "back to ASCII", written by tput sgr0)
#   any other ESC + intermediates + final      (ESC =, ESC >, ESC 7, ESC 8, ESC c)
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[()*+\-./][ -/]*[0-~]?"
    r"|\x1b[ -/]*[0-~]?"
)


def clean(line: str) -> str:
    """`line` without terminal escape sequences (and a trailing carriage return)."""
    line = line.removesuffix("\r")
    if "\x1b" not in line and "\x9b" not in line:  # the common case, without the regex
        return line
    return _ESCAPES.sub("", line)


def clean_text(text: str) -> str:
    """`clean` for every line of a whole output (a tool's, a file's), line breaks kept."""
    if "\x1b" not in text and "\x9b" not in text:
        return text
    return "\n".join(clean(line) for line in text.split("\n"))


def decode(raw: bytes) -> str:
    """Bytes of one line as text; what is not UTF-8 becomes U+FFFD (see `broken`)."""
    return raw.decode("utf-8", errors="replace")


def broken(text: str | None) -> bool:
    """Whether `text` holds bytes that were not UTF-8 (U+FFFD): such an item is reported, never kept."""
    return text is not None and REPLACEMENT in text


def decode_clean(raw: bytes) -> str:
    """`clean(decode(raw))`: one raw line ready for a parser."""
    return clean(decode(raw))
