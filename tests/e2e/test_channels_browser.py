"""Encrypted channel in real Chromium: two members in separate browser
contexts, a real ASGI server (uvicorn, websockets) on a SQLite file.

They exchange messages; the database holds no plaintext; an organizer removes
one member; the remaining member's next message cannot be decrypted with
anything the removed member's browser holds.
"""

from __future__ import annotations

import sqlite3
from urllib.parse import urlparse

import pytest

from tests.discussions.servers import Server, manage, seed, server_env

# Everything the removed member's browser holds (its IndexedDB channel keys),
# tried against a ciphertext with every epoch's associated data.
TRY_DECRYPT_JS = """
async ({channelId, ciphertext, iv, epochs}) => {
  const unb64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const db = await new Promise((ok, fail) => {
    const req = indexedDB.open("organizing-channels");
    req.onsuccess = () => ok(req.result);
    req.onerror = () => fail(req.error);
  });
  const rows = await new Promise((ok) => {
    const req = db.transaction("channelKeys").objectStore("channelKeys").getAll();
    req.onsuccess = () => ok(req.result);
  });
  const held = rows.map((r) => r.channel + ":" + r.epoch);
  let decrypted = 0, attempts = 0;
  for (const row of rows) {
    for (const ep of epochs) {
      attempts++;
      try {
        await crypto.subtle.decrypt(
          {name: "AES-GCM", iv: unb64(iv),
           additionalData: new TextEncoder().encode(`organizing-channel:${channelId}:${ep}`)},
          row.key, unb64(ciphertext));
        decrypted++;
      } catch (e) { /* expected */ }
    }
  }
  return {held, decrypted, attempts};
}
"""


@pytest.fixture
def chat_server(tmp_path):
    data = tmp_path / "server-data"
    data.mkdir()
    env = server_env(data)
    manage(env, "migrate", "--noinput")
    seeded = seed(env, {"organizer": "Olga", "members": ["Alice", "Bob"]})
    server = Server(env, log_path=tmp_path / "uvicorn.log")
    yield server, seeded, data / "db.sqlite3"
    server.stop()


def _context(browser, server, session):
    context = browser.new_context(base_url=server.url, locale="en-US")
    context.set_default_timeout(15_000)
    context.add_cookies([{"name": "sessionid", "value": session, "url": server.url}])
    page = context.new_page()
    page.foreign_requests = []
    page.requested = []
    origin = urlparse(server.url)

    def on_request(request):
        page.requested.append(request.url)
        url = urlparse(request.url)
        if url.scheme not in ("data", "blob", "ws") and (url.hostname, url.port) != (
            origin.hostname,
            origin.port,
        ):
            page.foreign_requests.append(request.url)

    page.on("request", on_request)
    return context, page


def _send(page, text):
    page.fill("#chat-input", text)
    page.keyboard.press("Enter")


def _rows(db_path, sql, args=()):
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql, args).fetchall()


def test_two_members_exchange_then_removal_locks_the_removed_one_out(browser, chat_server):
    server, seeded, db_path = chat_server
    room = f"/c/acme/channels/{seeded['channel_id']}/"
    contexts = []
    try:
        alice_ctx, alice = _context(browser, server, seeded["sessions"]["Alice"])
        bob_ctx, bob = _context(browser, server, seeded["sessions"]["Bob"])
        org_ctx, olga = _context(browser, server, seeded["sessions"]["organizer"])
        contexts = [alice_ctx, bob_ctx, org_ctx]

        # Alice is first: her browser makes the channel key (epoch 1).
        alice.goto(room)
        alice.wait_for_selector("#chat[data-key-state=ready][data-key-epoch='1']")
        # Bob's device registers; Alice's browser wraps the key for it.
        bob.goto(room)
        bob.wait_for_selector("#chat[data-key-state=ready][data-key-epoch='1']")
        fingerprint = bob.text_content("#chat-my-fingerprint")
        assert len(fingerprint.replace(" ", "")) == 32
        assert fingerprint in alice.text_content("#chat-devices")

        _send(alice, "secret-alpha: the meeting is on Thursday")
        bob.wait_for_selector("#chat-log >> text=secret-alpha: the meeting is on Thursday")
        _send(bob, "secret-beta: I will bring the flyers")
        alice.wait_for_selector("#chat-log >> text=secret-beta: I will bring the flyers")
        assert "Alice" in bob.inner_text("#chat-online")

        # The database holds ciphertext only: no plaintext anywhere in the file.
        raw = db_path.read_bytes()
        for wal in db_path.parent.glob("db.sqlite3-*"):
            raw += wal.read_bytes()
        assert b"secret-alpha" not in raw and b"secret-beta" not in raw
        assert b"Thursday" not in raw and b"flyers" not in raw
        assert len(_rows(db_path, "SELECT id FROM organizing_message")) == 2

        # A key link: Alice shows one; with Alice and Bob both gone, so nobody
        # can wrap the key for her, Olga reads the channel with it.
        alice.click("summary")
        alice.click("#chat-invite-button")
        link = alice.input_value("#chat-invite-link")
        assert f"/c/acme/channels/{seeded['channel_id']}/#k=1." in link
        alice.goto("about:blank")
        bob.goto("about:blank")
        olga.goto(link.replace(server.url, ""))
        olga.wait_for_selector("#chat[data-key-state=ready][data-key-epoch='1']")
        olga.wait_for_selector("#chat-log >> text=secret-beta: I will bring the flyers")
        assert olga.evaluate("location.hash") == ""
        # Fragments are never sent; nor is the key anywhere else in a request.
        assert not any("k=1." in url for url in olga.requested)
        # Reloading (Alice and Bob come back) resyncs from the keys in IndexedDB.
        alice.goto(room)
        bob.goto(room)
        for page in (alice, bob):
            page.wait_for_selector("#chat[data-key-state=ready][data-key-epoch='1']")
            page.wait_for_selector("#chat-log >> text=secret-alpha: the meeting is on Thursday")
        bob_fingerprint = bob.text_content("#chat-my-fingerprint").replace(" ", "")

        # The organizer removes Bob, with a click on the manage page.
        olga.goto("/c/acme/manage/")
        olga.get_by_role("button", name="Remove Bob").click()
        olga.wait_for_selector(".message-success")
        bob.wait_for_selector("#chat[data-state=closed]")
        # Alice's browser makes the epoch-2 key, for the remaining devices only.
        alice.wait_for_selector("#chat[data-key-state=ready][data-key-epoch='2']")
        _send(alice, "secret-gamma: new plan after Bob left")
        alice.wait_for_selector("#chat-log >> text=secret-gamma: new plan after Bob left")

        [(ciphertext, iv, epoch)] = _rows(
            db_path,
            "SELECT ciphertext, iv, epoch FROM organizing_message ORDER BY id DESC LIMIT 1",
        )
        assert epoch == 2
        held = bob.evaluate(
            TRY_DECRYPT_JS,
            {
                "channelId": seeded["channel_id"],
                "ciphertext": ciphertext,
                "iv": iv,
                "epochs": [1, 2, 3],
            },
        )
        # Bob's browser held the epoch-1 key (so it could read before) ...
        assert f"{seeded['channel_id']}:1" in held["held"]
        assert held["attempts"] >= 3
        # ... but nothing it holds decrypts the message sent after his removal.
        assert held["decrypted"] == 0
        assert f"{seeded['channel_id']}:2" not in held["held"]
        assert "secret-gamma" not in bob.content()
        # Sanity check of the check: the same routine in Alice's browser decrypts it.
        assert (
            alice.evaluate(
                TRY_DECRYPT_JS,
                {
                    "channelId": seeded["channel_id"],
                    "ciphertext": ciphertext,
                    "iv": iv,
                    "epochs": [2],
                },
            )["decrypted"]
            == 1
        )
        # The epoch-2 key went to the remaining devices (Alice's, Olga's) only:
        # Bob's device key is gone with his membership.
        devices = [
            row[0] for row in _rows(db_path, "SELECT fingerprint FROM organizing_memberdevicekey")
        ]
        assert len(devices) == 2
        assert not any(fp.startswith(bob_fingerprint) for fp in devices)
        assert _rows(db_path, "SELECT COUNT(*) FROM organizing_wrappedkey WHERE epoch = 2") == [
            (2,)
        ]
        for page in (alice, bob, olga):
            assert page.foreign_requests == []
    finally:
        for context in contexts:
            context.close()
