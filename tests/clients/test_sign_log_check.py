"""clients/sign.py's key check against logs that Go's own
golang.org/x/mod/sumdb (tlog and note) published: entry 0 must name the
issuer key the letter API gave, in a tree whose root the log's key signs.

These run the check in-process against a static site; tests/clients/
test_sign_live.py runs the program against the live server."""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.clients.support import Site, canonical, letter_entry, load_client, publish, spki_der

sign = load_client()
SLUG = "stop-logging"
TEXT_HASH = hashlib.sha256(b"We ask for change.").hexdigest()


@pytest.fixture(scope="module")
def issuer_keys():
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2)]


@pytest.fixture
def site():
    site = Site(upstream="http://127.0.0.1:9").start()  # serves only logs
    yield site
    site.stop()


def other_entries(count: int) -> list[bytes]:
    return [canonical({"kind": "signature", "n": i}) for i in range(count)]


def letter_for(site, log, public_key, *, text_sha256=TEXT_HASH) -> dict:
    """What read_letter() makes of the letter API's answer."""
    return {
        "title": "Stop keystroke logging",
        "text_sha256": text_sha256,
        "spki_der": spki_der(public_key),
        "log": {
            "origin": log.origin,
            "verifier_key": log.verifier_key,
            "checkpoint_url": f"/log/{SLUG}/checkpoint",
        },
    }


def check(site, letter, **kwargs):
    kwargs.setdefault("pinned_key", None)
    kwargs.setdefault("others", [])
    return sign.check_key_in_log(site.url, letter, None, **kwargs)


def honest_log(golog, tmp_path, site, public_key, size, *, checkpoints=(), name="honest"):
    entry0 = letter_entry(text_sha256=TEXT_HASH, public_key=public_key)
    return publish(
        golog,
        tmp_path / name,
        origin=f"{site.host}/letters/{SLUG}",
        entries=[entry0, *other_entries(size - 1)],
        checkpoints=checkpoints,
    )


@pytest.mark.parametrize("size", [1, 2, 3, 255, 256, 257, 513, 70_000])
def test_entry_0_of_a_go_published_log_is_found_and_checked(
    golog, tmp_path, site, issuer_keys, size
):
    public_key = issuer_keys[0].public_key()
    older = sorted({1, max(1, size // 2), max(1, size - 1)})
    log = honest_log(golog, tmp_path, site, public_key, size, checkpoints=older)
    site.log_dirs[SLUG] = log.directory
    letter = letter_for(site, log, public_key)
    note = check(site, letter, pinned_key=log.verifier_key)
    assert note == log.checkpoint()
    # Checkpoints of the same log that others saw at smaller sizes agree.
    assert check(site, letter, others=[log.checkpoint(n) for n in older]) == note


def test_a_key_of_your_own_is_refused(golog, tmp_path, site, issuer_keys):
    """The per-person key attack: the letter API gives you a key that is not
    the one in entry 0."""
    log = honest_log(golog, tmp_path, site, issuer_keys[0].public_key(), 300)
    site.log_dirs[SLUG] = log.directory
    with pytest.raises(sign.KeyCheckFailed, match="another issuer key") as refused:
        check(site, letter_for(site, log, issuer_keys[1].public_key()))
    assert "key of your own" in str(refused.value)


def test_another_text_hash_is_refused(golog, tmp_path, site, issuer_keys):
    public_key = issuer_keys[0].public_key()
    log = honest_log(golog, tmp_path, site, public_key, 5)
    site.log_dirs[SLUG] = log.directory
    letter = letter_for(site, log, public_key, text_sha256="ab" * 32)
    with pytest.raises(sign.KeyCheckFailed, match="another text_sha256"):
        check(site, letter)


def test_a_log_of_your_own_is_refused_with_a_pinned_log_key(golog, tmp_path, site, issuer_keys):
    """The site makes a whole log for you, with your key in entry 0 and a new
    log key: --log-key (published elsewhere) catches it."""
    honest = honest_log(golog, tmp_path, site, issuer_keys[0].public_key(), 40)
    mine = honest_log(golog, tmp_path, site, issuer_keys[1].public_key(), 40, name="mine")
    site.log_dirs[SLUG] = mine.directory
    letter = letter_for(site, mine, issuer_keys[1].public_key())
    with pytest.raises(sign.KeyCheckFailed, match="not the one you pinned"):
        check(site, letter, pinned_key=honest.verifier_key)
    # Nor is a checkpoint of the honest log, even without a pinned key, signed
    # by the key the site gives now.
    with pytest.raises(sign.KeyCheckFailed, match="no signature by"):
        check(site, letter, others=[honest.checkpoint()])


def test_a_log_of_your_own_under_the_logs_key_is_refused_with_a_checkpoint_from_someone_else(
    golog, tmp_path, site, issuer_keys
):
    """The operator holds the log's key and forks the log for you: entry 0
    names your key, and the fork's checkpoints are signed by the real log
    key. Alone the client cannot see it; a checkpoint that someone else saw
    (any size) does, since entry 0 is not in its tree."""
    honest = honest_log(golog, tmp_path, site, issuer_keys[0].public_key(), 600, checkpoints=[3])
    entry0 = letter_entry(text_sha256=TEXT_HASH, public_key=issuer_keys[1].public_key())
    fork = publish(
        golog,
        tmp_path / "fork",
        origin=honest.origin,
        entries=[entry0, *other_entries(599)],
        signer_key=honest.signer_key,
        verifier_key=honest.verifier_key,
    )
    site.log_dirs[SLUG] = fork.directory
    letter = letter_for(site, fork, issuer_keys[1].public_key())
    assert fork.verifier_key == honest.verifier_key
    check(site, letter, pinned_key=honest.verifier_key)  # the limit, as documented
    for seen in (honest.checkpoint(), honest.checkpoint(3)):
        with pytest.raises(sign.KeyCheckFailed, match="not the one in the checkpoint you gave"):
            check(site, letter, others=[seen])


def test_a_checkpoint_newer_than_the_one_shown_is_refused(golog, tmp_path, site, issuer_keys):
    public_key = issuer_keys[0].public_key()
    log = honest_log(golog, tmp_path, site, public_key, 20)
    old = honest_log(golog, tmp_path, site, public_key, 10, name="old")
    site.log_dirs[SLUG] = old.directory
    (old.directory / "verifier_key").write_text(log.verifier_key)
    # The old view, re-signed by the same key (what a site showing you a
    # frozen log would do), against a newer checkpoint someone else has.
    frozen = publish(
        golog,
        tmp_path / "frozen",
        origin=log.origin,
        entries=[letter_entry(text_sha256=TEXT_HASH, public_key=public_key), *other_entries(9)],
        signer_key=log.signer_key,
        verifier_key=log.verifier_key,
    )
    site.log_dirs[SLUG] = frozen.directory
    with pytest.raises(sign.KeyCheckFailed, match="more than the 10"):
        check(site, letter_for(site, frozen, public_key), others=[log.checkpoint()])


def test_a_checkpoint_signed_by_another_key_is_refused(golog, tmp_path, site, issuer_keys):
    public_key = issuer_keys[0].public_key()
    log = honest_log(golog, tmp_path, site, public_key, 5)
    other = honest_log(golog, tmp_path, site, public_key, 5, name="other")
    site.log_dirs[SLUG] = log.directory
    (log.directory / "checkpoint").write_text(other.checkpoint())
    with pytest.raises(sign.KeyCheckFailed, match="no signature by"):
        check(site, letter_for(site, log, public_key))


def test_a_checkpoint_whose_signature_is_bad_is_refused(golog, tmp_path, site, issuer_keys):
    public_key = issuer_keys[0].public_key()
    log = honest_log(golog, tmp_path, site, public_key, 5)
    site.log_dirs[SLUG] = log.directory
    text, _, signature = log.checkpoint().partition("\n\n")
    size_changed = text.replace("\n5\n", "\n6\n")
    (log.directory / "checkpoint").write_text(size_changed + "\n\n" + signature)
    with pytest.raises(sign.KeyCheckFailed, match="signature is not valid"):
        check(site, letter_for(site, log, public_key))


@pytest.mark.parametrize("tile", ["tile/0/000", "tile/1/000.p/2", "tile/0/002.p/88"])
def test_a_changed_tile_is_refused(golog, tmp_path, site, issuer_keys, tile):
    public_key = issuer_keys[0].public_key()
    log = honest_log(golog, tmp_path, site, public_key, 600)
    site.log_dirs[SLUG] = log.directory
    path = log.directory / tile
    data = bytearray(path.read_bytes())
    data[40] ^= 1  # inside the second hash: never leaf 0's own
    path.write_bytes(bytes(data))
    with pytest.raises(sign.KeyCheckFailed, match="not in the tree"):
        check(site, letter_for(site, log, public_key))


def test_an_entry_0_changed_in_its_bundle_is_refused(golog, tmp_path, site, issuer_keys):
    """The site edits entry 0 in the bundle it serves you so that it names
    your key: the entry is then not the one the tree holds."""
    log = honest_log(golog, tmp_path, site, issuer_keys[0].public_key(), 300)
    site.log_dirs[SLUG] = log.directory
    path = log.directory / "tile/entries/000"
    bundle = path.read_bytes()
    length = int.from_bytes(bundle[:2], "big")
    mine = letter_entry(text_sha256=TEXT_HASH, public_key=issuer_keys[1].public_key())
    path.write_bytes(len(mine).to_bytes(2, "big") + mine + bundle[2 + length :])
    with pytest.raises(sign.KeyCheckFailed, match="entry 0 is not in the tree"):
        check(site, letter_for(site, log, issuer_keys[1].public_key()))


def test_a_missing_tile_is_refused(golog, tmp_path, site, issuer_keys):
    public_key = issuer_keys[0].public_key()
    log = honest_log(golog, tmp_path, site, public_key, 300)
    site.log_dirs[SLUG] = log.directory
    (log.directory / "tile/0/001.p/44").unlink()
    with pytest.raises(sign.KeyCheckFailed, match=r"did not give tile/0/001\.p/44"):
        check(site, letter_for(site, log, public_key))


def test_a_letter_without_a_log_is_refused(site, issuer_keys):
    letter = {"text_sha256": TEXT_HASH, "spki_der": spki_der(issuer_keys[0].public_key())}
    with pytest.raises(sign.KeyCheckFailed, match="publishes no transparency log"):
        check(site, letter)


def test_a_log_key_not_named_after_the_origin_is_refused(golog, tmp_path, site, issuer_keys):
    public_key = issuer_keys[0].public_key()
    log = honest_log(golog, tmp_path, site, public_key, 2)
    site.log_dirs[SLUG] = log.directory
    letter = letter_for(site, log, public_key)
    letter["log"]["origin"] = f"{site.host}/letters/another"
    with pytest.raises(sign.KeyCheckFailed, match="not named after"):
        check(site, letter)


def test_a_malformed_entry_0_is_refused(golog, tmp_path, site, issuer_keys):
    public_key = issuer_keys[0].public_key()
    log = publish(
        golog,
        tmp_path / "log",
        origin=f"{site.host}/letters/{SLUG}",
        entries=[b"\xff not json", json.dumps({"kind": "letter"}).encode()],
    )
    site.log_dirs[SLUG] = log.directory
    with pytest.raises(sign.KeyCheckFailed, match="not JSON"):
        check(site, letter_for(site, log, public_key))
