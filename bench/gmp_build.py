"""Which GMP gmpy2 runs on. The benchmarks print it because it sets the issuance rate.

requirements.txt builds gmpy2 from source against Debian's GMP. The PyPI
wheel bundles its own GMP (in `gmpy2.libs`, next to the package), and blind
signing was 22% slower with it on the project machine (docs/benchmarks.md).
"""

from __future__ import annotations

from pathlib import Path

import gmpy2


def gmp_build() -> str:
    bundled = (Path(gmpy2.__file__).parent.parent / "gmpy2.libs").is_dir()
    origin = (
        "bundled by the PyPI wheel: slower, see requirements.txt"
        if bundled
        else "the system's library"
    )
    return f"gmpy2 {gmpy2.version()}, {gmpy2.mp_version()} ({origin})"
