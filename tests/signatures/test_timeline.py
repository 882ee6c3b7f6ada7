"""The timeline: signatures and tokens per day, never finer, with quiet days
grouped so that no period singles out fewer than k people; its chart, table,
JSON and CSV; who may read it (everyone, for what is public)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import random
import re
import secrets
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from letters.models import Letter, LetterState
from signatures.models import Issuance, PendingSignature, PendingWithdrawal, Signature
from signatures.selectors import (
    counted_signatures_per_day,
    letter_timeline,
    timeline_periods,
    tokens_issued_per_day,
)
from signatures.services.batches import batch_seal
from signatures.templatetags.signature_tags import chart_bars
from tests.signatures.factories import open_letter

pytestmark = pytest.mark.django_db

UTC = dt.UTC
ROLES = ["anonymous", "member", "delegate", "organizer", "other_organizer"]
DAY = dt.date(2024, 5, 6)


def days(n, start=DAY):
    return [start + dt.timedelta(days=i) for i in range(n)]


def sign(letter, hour: dt.datetime, n=1, *, withdrawn=False):
    """`n` signatures sealed into the letter's log as one batch at `hour`
    (and, `withdrawn`, withdrawn in a batch at the same hour), through the
    batch service: the count shown is the log's. Tokens and signatures are
    random bytes, which the log stores as they are."""
    tokens = [secrets.token_bytes(115) for _ in range(n)]
    PendingSignature.objects.bulk_create(
        PendingSignature(
            id=uuid.uuid4(),
            letter=letter,
            token_hash=hashlib.sha256(token).hexdigest(),
            token=token,
            signature=secrets.token_bytes(256),
            receipt_hash=hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
            pseudonym=f"p{secrets.token_hex(3)}",
        )
        for token in tokens
    )
    batch_seal(letter=letter, force=True, now=hour)
    if withdrawn:
        PendingWithdrawal.objects.bulk_create(
            PendingWithdrawal(letter=letter, token_hash=hashlib.sha256(token).hexdigest())
            for token in tokens
        )
        batch_seal(letter=letter, force=True, now=hour)


def issue(letter, day: dt.date, n=1, *, alias=False):
    Issuance.objects.bulk_create(
        Issuance(letter=letter, identity_hmac=secrets.token_hex(32), issued_on=day, is_alias=alias)
        for _ in range(n)
    )


def as_rows(periods):
    return [(p.first_day, p.last_day, p.signatures, p.tokens_issued, p.total) for p in periods]


# --- grouping days: the k rule ------------------------------------------------------------


def test_busy_days_stand_alone():
    d = days(3)
    periods = timeline_periods(d, {d[0]: 5, d[1]: 7, d[2]: 9}, {d[0]: 6, d[1]: 7, d[2]: 8}, 5)
    assert as_rows(periods) == [
        (d[0], d[0], 5, 6, 5),
        (d[1], d[1], 7, 7, 12),
        (d[2], d[2], 9, 8, 21),
    ]


def test_quiet_days_merge_with_the_days_after_them():
    d = days(5)
    signatures = {d[0]: 1, d[1]: 2, d[2]: 3, d[3]: 6, d[4]: 5}
    tokens = {d[0]: 2, d[1]: 2, d[2]: 2, d[3]: 6, d[4]: 5}
    assert as_rows(timeline_periods(d, signatures, tokens, 5)) == [
        (d[0], d[2], 6, 6, 6),
        (d[3], d[3], 6, 6, 12),
        (d[4], d[4], 5, 5, 17),
    ]


def test_a_quiet_end_joins_the_periods_before_it():
    d = days(4)
    # Day 1 busy, day 2 nothing at all, days 3-4 quiet (2 and 1): the quiet
    # end (3) cannot stand alone, nor with the empty day before it, so it
    # joins the busy day too.
    signatures = {d[0]: 8, d[2]: 2, d[3]: 1}
    tokens = {d[0]: 8, d[2]: 2, d[3]: 1}
    assert as_rows(timeline_periods(d, signatures, tokens, 5)) == [(d[0], d[3], 11, 11, 11)]
    # With a busy day after it, the empty day stands alone.
    d = days(3)
    signatures = {d[0]: 8, d[2]: 6}
    assert as_rows(timeline_periods(d, signatures, signatures, 5)) == [
        (d[0], d[0], 8, 8, 8),
        (d[1], d[1], 0, 0, 8),
        (d[2], d[2], 6, 6, 14),
    ]


def test_a_zero_figure_may_stand_but_a_small_one_may_not():
    d = days(3)
    # Day 1: 5 signatures of tokens issued earlier (0 tokens): fine alone.
    # Day 2: 5 signatures and 2 tokens: the 2 must not stand alone.
    signatures = {d[0]: 5, d[1]: 5, d[2]: 5}
    tokens = {d[1]: 2, d[2]: 3}
    assert as_rows(timeline_periods(d, signatures, tokens, 5)) == [
        (d[0], d[0], 5, 0, 5),
        (d[1], d[2], 10, 5, 15),
    ]


def test_below_k_overall_is_one_period_of_the_public_totals():
    d = days(6)
    periods = timeline_periods(d, {d[1]: 1, d[4]: 2}, {d[1]: 1, d[3]: 1, d[4]: 1}, 5)
    assert as_rows(periods) == [(d[0], d[5], 3, 3, 3)]


@pytest.mark.parametrize("seed", range(40))
def test_no_period_but_a_lone_one_singles_out_fewer_than_k(seed):
    rng = random.Random(seed)
    k = rng.choice([2, 3, 5, 10])
    d = days(rng.randint(1, 40))
    signatures = {day: rng.choice([0, 0, 1, 2, 3, 7, 20]) for day in d}
    tokens = {day: max(0, n + rng.choice([-2, -1, 0, 0, 1, 3])) for day, n in signatures.items()}
    periods = timeline_periods(d, signatures, tokens, k)
    # Consecutive, covering every day once, summing to the totals.
    assert periods[0].first_day == d[0] and periods[-1].last_day == d[-1]
    for before, after in zip(periods, periods[1:], strict=False):
        assert after.first_day == before.last_day + dt.timedelta(days=1)
    assert sum(p.signatures for p in periods) == sum(signatures.values()) == periods[-1].total
    assert sum(p.tokens_issued for p in periods) == sum(tokens.values())
    if len(periods) > 1:
        for p in periods:
            assert p.signatures == 0 or p.signatures >= k, (seed, p)
            assert p.tokens_issued == 0 or p.tokens_issued >= k, (seed, p)


# --- what is counted, and by which day --------------------------------------------------------


def test_days_come_from_the_stored_hour_in_utc_and_withdrawals_do_not_count(roles):
    letter = open_letter(roles.campaign)
    sign(letter, dt.datetime(2024, 5, 6, 0, tzinfo=UTC), 2)
    sign(letter, dt.datetime(2024, 5, 6, 23, tzinfo=UTC), 3)
    sign(letter, dt.datetime(2024, 5, 7, 0, tzinfo=UTC), 4)
    sign(letter, dt.datetime(2024, 5, 7, 5, tzinfo=UTC), 6, withdrawn=True)
    other = open_letter(roles.campaign)
    sign(other, dt.datetime(2024, 5, 6, 9, tzinfo=UTC), 7)
    assert counted_signatures_per_day(letter) == {dt.date(2024, 5, 6): 5, dt.date(2024, 5, 7): 4}
    issue(letter, dt.date(2024, 5, 6), 5)
    issue(letter, dt.date(2024, 5, 7), 4)
    issue(letter, dt.date(2024, 5, 7), 3, alias=True)  # a second identity of a signer
    assert tokens_issued_per_day(letter) == {dt.date(2024, 5, 6): 5, dt.date(2024, 5, 7): 4}


def test_a_batch_shares_one_day(roles):
    """Signatures written together share their batch's hour, so their day."""
    letter = open_letter(roles.campaign)
    batch_hour = dt.datetime(2024, 5, 6, 23, tzinfo=UTC)
    sign(letter, batch_hour, 6)
    assert counted_signatures_per_day(letter) == {dt.date(2024, 5, 6): 6}


def test_the_range_runs_from_opening_to_closing(roles):
    letter = open_letter(
        roles.campaign,
        state=LetterState.CLOSED,
        opened_at=dt.datetime(2024, 5, 1, 12, tzinfo=UTC),
        closed_at=dt.datetime(2024, 5, 10, 12, tzinfo=UTC),
    )
    sign(letter, dt.datetime(2024, 5, 3, 8, tzinfo=UTC), 5)
    issue(letter, dt.date(2024, 5, 3), 5)
    timeline = letter_timeline(letter)
    assert timeline.periods[0].first_day == dt.date(2024, 5, 1)
    assert timeline.periods[-1].last_day == dt.date(2024, 5, 10)
    assert (timeline.count, timeline.tokens_issued, timeline.k) == (5, 5, 5)
    # Empty days before and after stand alone (0 singles out nobody).
    assert [(p.first_day.day, p.signatures) for p in timeline.periods[:4]] == [
        (1, 0),
        (2, 0),
        (3, 5),
        (4, 0),
    ]


def test_an_open_letter_runs_until_today(roles):
    opened = timezone.now() - dt.timedelta(days=2)
    letter = open_letter(roles.campaign, opened_at=opened)
    timeline = letter_timeline(letter)
    assert timeline.periods[0].first_day == opened.date()
    assert timeline.periods[-1].last_day == timezone.now().date()
    assert timeline.count == 0


# --- the API, the CSV, for every role -----------------------------------------------------------


@pytest.fixture
def busy_letter(roles):
    letter = open_letter(
        roles.campaign,
        slug="busy",
        goal=50,
        state=LetterState.CLOSED,
        opened_at=dt.datetime(2024, 5, 6, 9, tzinfo=UTC),
        closed_at=dt.datetime(2024, 5, 9, 9, tzinfo=UTC),
    )
    sign(letter, dt.datetime(2024, 5, 6, 10, tzinfo=UTC), 6)
    sign(letter, dt.datetime(2024, 5, 7, 10, tzinfo=UTC), 1)
    sign(letter, dt.datetime(2024, 5, 8, 10, tzinfo=UTC), 4)
    sign(letter, dt.datetime(2024, 5, 9, 8, tzinfo=UTC), 7)
    sign(letter, dt.datetime(2024, 5, 9, 8, tzinfo=UTC), 2, withdrawn=True)
    issue(letter, dt.date(2024, 5, 6), 7)
    issue(letter, dt.date(2024, 5, 7), 1)
    issue(letter, dt.date(2024, 5, 8), 4)
    issue(letter, dt.date(2024, 5, 9), 9)
    return letter


EXPECTED_PERIODS = [
    {"from": "2024-05-06", "to": "2024-05-06", "signatures": 6, "tokens_issued": 7, "total": 6},
    {"from": "2024-05-07", "to": "2024-05-08", "signatures": 5, "tokens_issued": 5, "total": 11},
    {"from": "2024-05-09", "to": "2024-05-09", "signatures": 7, "tokens_issued": 9, "total": 18},
]


@pytest.mark.parametrize("role", ROLES)
def test_timeline_api_for_every_role(role, roles, busy_letter, client_for):
    client = client_for(roles.users()[role])
    response = client.get("/api/v1/letters/busy/timeline")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "slug": "busy",
        "count": 18,
        "tokens_issued": 21,
        "goal": 50,
        "k": 5,
        "periods": EXPECTED_PERIODS,
    }
    assert client.post("/api/v1/letters/busy/timeline").status_code == 405


@pytest.mark.parametrize("role", ROLES)
def test_timeline_csv_for_every_role(role, roles, busy_letter, client_for):
    response = client_for(roles.users()[role]).get("/letters/busy/timeline.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="busy-timeline.csv"'
    assert response["Cache-Control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows == [
        {key: str(value) for key, value in period.items()} for period in EXPECTED_PERIODS
    ]


@pytest.mark.parametrize("state", [LetterState.DRAFT, LetterState.REVIEW])
def test_no_timeline_for_unpublished_letters(state, roles, client_for):
    letter = open_letter(roles.campaign, slug="hidden", state=state)
    sign(letter, dt.datetime(2024, 5, 6, 10, tzinfo=UTC), 5)
    for role in ROLES:
        client = client_for(roles.users()[role])
        response = client.get("/api/v1/letters/hidden/timeline")
        assert (response.status_code, response.json()["error"]) == (404, "not_found")
        assert client.get("/letters/hidden/timeline.csv").status_code == 404


def test_unlisted_letter_timeline_needs_its_key(roles, client):
    letter = open_letter(
        roles.campaign, slug="quiet-x", visibility="unlisted", unlisted_token="k3y"
    )
    assert client.get("/api/v1/letters/quiet-x/timeline").status_code == 404
    assert client.get("/letters/quiet-x/timeline.csv").status_code == 404
    assert client.get("/api/v1/letters/quiet-x/timeline?key=wrong").status_code == 404
    assert client.get("/api/v1/letters/quiet-x/timeline?key=k3y").status_code == 200
    response = client.get("/letters/quiet-x/timeline.csv?key=k3y")
    assert response.status_code == 200
    assert letter.slug.startswith("quiet")


def test_timeline_is_cached_briefly_and_forgotten_when_a_batch_is_sealed(
    roles, busy_letter, client
):
    from signatures.selectors import letter_figures_forget

    assert letter_timeline(busy_letter).count == 18
    # A change that no seal made is not seen while the timeline is cached...
    Signature.objects.filter(letter=busy_letter).update(withdrawn=True)
    assert letter_timeline(busy_letter).count == 18
    letter_figures_forget(busy_letter)
    assert letter_timeline(busy_letter).count == 0
    Signature.objects.filter(letter=busy_letter).update(withdrawn=False)
    letter_figures_forget(busy_letter)
    assert letter_timeline(busy_letter).count == 20
    # ... and a seal forgets it at once.
    sign(busy_letter, dt.datetime(2024, 5, 9, 8, tzinfo=UTC), 5)
    assert letter_timeline(busy_letter).count == 25


def test_timeline_without_the_cache(roles, busy_letter, redis_down):
    assert letter_timeline(busy_letter).count == 18


# --- the chart on the public letter page -----------------------------------------------------


def test_public_page_draws_the_chart_and_the_table(roles, busy_letter, client):
    html = client.get(reverse("letters:public", args=["busy"])).content.decode()
    section = html[html.index('<section class="timeline"') :]
    section = section[: section.index("</section>")]
    svg = section[section.index("<svg") : section.index("</svg>")]
    # One bar per period, as wide as its days (4 days: 150 each, less the
    # gap), as high as its signatures per day (the busiest day, 7, is the top).
    bars = re.findall(
        r'<rect class="timeline-bar" x="([\d.]+)" y="[\d.]+" width="([\d.]+)" '
        r'height="([\d.]+)"',
        svg,
    )
    assert [(float(x), float(w)) for x, w, _h in bars] == [
        (11.25, 127.5),
        (161.25, 277.5),
        (461.25, 127.5),
    ]
    heights = [float(h) for _x, _w, h in bars]
    assert heights[2] == 152.0
    assert heights[0] == pytest.approx(152 * 6 / 7, abs=0.01)
    assert heights[1] == pytest.approx(152 * 2.5 / 7, abs=0.01)
    assert "Busiest day: 7 signatures." in section
    assert "<title>6 May 2024: 6 signatures</title>" in svg
    assert "<title>7 May to 8 May 2024: 5 signatures</title>" in svg
    # CSP: no style attribute, no script, no inline style element anywhere.
    assert "style=" not in html and "<style" not in html and "<script" not in html
    # The table for screen readers has the same figures.
    rows = re.findall(
        r'<tr><th scope="row">([^<]+)</th><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td></tr>', section
    )
    assert rows == [
        ("6 May 2024", "6", "7", "6"),
        ("7 May to 8 May 2024", "5", "5", "11"),
        ("9 May 2024", "7", "9", "18"),
    ]
    assert "grouped with the days after them until the group holds at least 5" in section
    assert 'href="/letters/busy/timeline.csv"' in section
    assert 'href="/api/v1/letters/busy/timeline"' in section
    # Progress to the goal (18 of 50).
    assert 'max="50" value="18"' in html


def test_unlisted_letter_page_links_its_data_with_its_key(roles, client):
    letter = open_letter(roles.campaign, slug="u-s3", visibility="unlisted", unlisted_token="s3")
    sign(letter, dt.datetime(2024, 5, 6, 10, tzinfo=UTC), 5)
    Letter.objects.filter(pk=letter.pk).update(opened_at=dt.datetime(2024, 5, 6, tzinfo=UTC))
    html = client.get(reverse("letters:public", args=["u-s3"])).content.decode()
    assert 'href="/letters/u-s3/timeline.csv?key=s3"' in html
    assert client.get("/letters/u-s3/timeline.csv?key=s3").status_code == 200


def test_a_letter_without_signatures_says_so(roles, client):
    open_letter(roles.campaign, slug="new-one")
    html = client.get(reverse("letters:public", args=["new-one"])).content.decode()
    assert "No signatures yet." in html and "<svg" not in html


def test_chart_bars_fit_the_view_box():
    from signatures.selectors import TimelinePeriod

    d = days(400)
    periods = [TimelinePeriod(day, day, i % 9, 0, 0) for i, day in enumerate(d[:-10])]
    periods.append(TimelinePeriod(d[-10], d[-1], 30, 0, 0))  # ten quiet days: 3 a day
    bars = chart_bars(periods)
    assert len(bars) == 391
    assert float(bars[-1].x) + float(bars[-1].width) == pytest.approx(600, abs=0.01)
    assert float(bars[-1].width) == pytest.approx(15, abs=0.01)
    assert all(0 <= float(bar.y) <= 160 and float(bar.height) <= 152 for bar in bars)
    assert float(bars[-1].height) == pytest.approx(152 * 3 / 8, abs=0.01)
    assert chart_bars([]) == []
