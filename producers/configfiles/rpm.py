"""The RPM database's record of which package ships which file, and each file's digest (pure parser).

`rpm -qa --qf QUERY` prints one line per file of every package: path, file flags (`c` marks a config
file, as `%config` declared it), the digest the package installed it with, the package name and the
package's digest algorithm (RPM's PGPHASHALGO numbers: 1 MD5, 2 SHA-1, 8 SHA-256, 9 SHA-384, 10 SHA-512).
This is what `rpm -V` compares against.
"""

from __future__ import annotations

from dataclasses import dataclass

QUERY = "[%{FILENAMES}\\t%{FILEFLAGS:fflags}\\t%{FILEDIGESTS}\\t%{=NAME}\\t%{=FILEDIGESTALGO}\\n]"
ALGORITHMS = {1: "md5", 2: "sha1", 8: "sha256", 9: "sha384", 10: "sha512"}


@dataclass(frozen=True)
class RpmFile:
    path: str
    package: str
    digest: str  # empty for directories and ghosts
    algorithm: str | None
    config: bool


def parse_files(text: str) -> list[RpmFile]:
    """The lines of QUERY's output; lines that do not have its five fields are skipped."""
    out: list[RpmFile] = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 5 or not parts[0].startswith("/"):
            continue
        path, flags, digest, name, algo = parts
        try:
            algorithm = ALGORITHMS.get(int(algo)) if algo and algo != "(none)" else "md5"
        except ValueError:
            algorithm = None
        out.append(RpmFile(path, name, digest.strip(), algorithm, "c" in flags))
    return out
