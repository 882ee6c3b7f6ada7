"""Micro-benchmark for signatures.blindrsa (RFC 9474 RSA blind signatures).

Usage (from the repository root)::

    .venv/bin/python bench/blindrsa_speed.py [iterations] [bits]

Prints the mean time per blind_sign (server) and per verify, plus the client steps.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _time_ms(fn: Callable[[], object], iterations: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(iterations):
        fn()
    return (time.perf_counter() - start) * 1000 / iterations


def main() -> None:
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    bits = int(sys.argv[2]) if len(sys.argv) > 2 else 2048

    # Make `signatures` importable when run as a plain script from anywhere.
    sys.path.insert(0, str(REPO_ROOT))
    from gmp_build import gmp_build  # bench/gmp_build.py, beside this script

    from signatures import blindrsa

    key = blindrsa.generate_issuer_key(bits)
    pk = key.public_key
    prepared = blindrsa.prepare(b"benchmark message")
    blinded, inv = blindrsa.blind(pk, prepared)
    blind_sig = blindrsa.blind_sign(key, blinded)
    sig = blindrsa.finalize(pk, prepared, blind_sig, inv)

    print(f"RSABSSA-SHA384-PSS-Randomized, {bits}-bit key, {iterations} iterations; {gmp_build()}")
    results = {
        "blind_sign (server)": _time_ms(lambda: blindrsa.blind_sign(key, blinded), iterations),
        "verify": _time_ms(lambda: blindrsa.verify(pk, prepared, sig), iterations),
        "blind (client)": _time_ms(lambda: blindrsa.blind(pk, prepared), iterations),
        "finalize (client)": _time_ms(
            lambda: blindrsa.finalize(pk, prepared, blind_sig, inv), iterations
        ),
    }
    for name, ms in results.items():
        print(f"  {name:<22} {ms:8.3f} ms/op")


if __name__ == "__main__":
    main()
