"""Benchmark of the petition PDF renderer (petitions/render.py).

Usage (from the repository root)::

    .venv/bin/python bench/export_pdf.py            # 1,000 / 20,000 / 100,000 + naive 20,000
    .venv/bin/python bench/export_pdf.py 1000 5000  # other sizes (naive table at the 2nd size)

Each render runs in a fresh subprocess; it reports wall seconds and CPU
seconds for manifest + HTML + layout + PDF (synthetic data is made before the
clock starts), the number of pages, and the process's peak resident memory
(getrusage RUSAGE_SELF ru_maxrss of that subprocess). The "naive" render puts
the same signatures into one <table> with a row per signature.
"""

from __future__ import annotations

import json
import os
import random
import resource
import string
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def synthetic_rows(n: int):
    import datetime as dt
    import uuid

    rnd = random.Random(n)
    departments = [f"Department {i}" for i in range(40)] + [f"Tiny team {i}" for i in range(60)]
    locations = ["Berlin", "Paris", "Austin", "Dublin", "Remote", "Lisbon", "Village"]
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    rows = []
    for i in range(n):
        pseudonym = "".join(rnd.choice(string.ascii_lowercase) for _ in range(rnd.randint(6, 14)))
        named = rnd.random() < 0.2
        public_name = (
            f"{rnd.choice(string.ascii_uppercase)}{pseudonym[:5]} "
            f"{rnd.choice(string.ascii_uppercase)}{pseudonym[5:]}x"
            if named
            else ""
        )
        rows.append(
            (
                uuid.UUID(int=rnd.getrandbits(128), version=4),
                pseudonym,
                public_name,
                rnd.choice([None, None, 10, n * 2]) if named else None,
                rnd.choice(departments) if rnd.random() < 0.9 else "",
                rnd.choice(locations),
                start + dt.timedelta(hours=int(i * 500 / max(n, 1))),
                i + 1,  # log index (unused: no log is given, a format 1 manifest)
            )
        )
    return rows


def one(n: int, naive: bool) -> dict:
    import django

    sys.path.insert(0, str(REPO_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    import datetime as dt
    import html
    from types import SimpleNamespace

    from petitions import render
    from petitions.manifest import build_manifest

    rows = synthetic_rows(n)
    letter = SimpleNamespace(campaign=SimpleNamespace(k_threshold=5))
    if naive:

        def table_html(manifest):
            cells = "".join(
                f"<tr><td>{i}</td><td>{html.escape(e.name or e.pseudonym)}</td></tr>"
                for i, e in enumerate(manifest.entries, start=1)
            )
            return f"<table>{cells}</table>"

        original = render.petition_html

        def petition_html(doc):
            page = original(doc)
            start = page.index('<section class="break">\n  <h2>Signatories')
            end = page.index('<section class="break appendix">')
            table = f'<section class="break">{table_html(doc.manifest)}</section>'
            return page[:start] + table + page[end:]

        render.petition_html = petition_html
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    manifest = build_manifest(letter, rows=rows)
    doc = render.PetitionDocument(
        title="We ask for an end to keystroke logging",
        summary="A letter from the employees of Example Corp.",
        body_html="<p>" + "We, the undersigned employees, ask for a change. " * 40 + "</p>",
        demands=["Stop keystroke logging", "Publish the monitoring policy", "No retaliation"],
        text_hash="a" * 64,
        opened_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        closed_at=dt.datetime(2026, 3, 25, tzinfo=dt.UTC),
        made_at=dt.datetime(2026, 3, 26, tzinfo=dt.UTC),
        campaign_name="Example workers",
        employer_name="Example Corp",
        goal=n,
        tokens_issued=int(n * 1.1),
        manifest=manifest,
        issuer_key_id="b" * 64,
        openpgp_fingerprint="C" * 40,
        verify_url="https://example.org/c/example/verify/",
        export_id="00000000-0000-4000-8000-000000000000",
    )
    pdf, pages = render.render_petition(doc)
    if os.environ.get("BENCH_PDF_OUT"):
        Path(os.environ["BENCH_PDF_OUT"]).write_bytes(pdf)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "n": n,
        "naive": naive,
        "seconds": round(seconds, 2),
        "cpu": round(cpu, 2),
        "pages": pages,
        "peak_mb": round(peak_mb),
        "pdf_kb": len(pdf) // 1024,
    }


def run_child(n: int, naive: bool) -> dict:
    args = [sys.executable, __file__, "--one", str(n)] + (["--naive"] if naive else [])
    out = subprocess.run(args, check=True, capture_output=True, text=True, cwd=REPO_ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if "--one" in sys.argv:
        n = int(sys.argv[sys.argv.index("--one") + 1])
        print(json.dumps(one(n, "--naive" in sys.argv)))
        return
    sizes = [int(a) for a in sys.argv[1:]] or [1_000, 20_000, 100_000]
    naive_n = sizes[1] if len(sizes) > 1 else sizes[0]
    print(
        f"{'signatures':>10} {'layout':>6} {'seconds':>8} {'cpu s':>7} {'pages':>6} "
        f"{'peak MB':>8} {'PDF KB':>7}"
    )
    results = {}
    for n, naive in [(n, False) for n in sizes] + [(naive_n, True)]:
        r = run_child(n, naive)
        results[(n, naive)] = r
        layout = "table" if naive else "dense"
        print(
            f"{n:>10} {layout:>6} {r['seconds']:>8.1f} {r['cpu']:>7.1f} {r['pages']:>6} "
            f"{r['peak_mb']:>8} {r['pdf_kb']:>7}",
            flush=True,
        )
    fast, slow = results[(naive_n, False)], results[(naive_n, True)]
    print(
        f"naive table / dense layout at {naive_n}: {slow['seconds'] / fast['seconds']:.1f}x "
        f"wall, {slow['cpu'] / fast['cpu']:.1f}x CPU"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (2 cores)")


if __name__ == "__main__":
    main()
