"""Eligibility, blind-token issuance, signatures and receipts.

The unlinkability promise lives in this file's shape: no model here points
from a Signature to an Issuance, an email, an invite code or an account, and
no time stored next to a signature or issuance is finer than an hour or a
day. Primary keys of signatures are random, so their order reveals nothing.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from letters.models import Letter
from organizing.models import Campaign
from signatures import tlog

PSEUDONYM_MAX = 60
NAME_MAX = 80
GROUP_MAX = 80
COMMENT_MAX = 1000


# HOT_LETTER_ROW: why Issuance.letter and Signature.letter have no database
# foreign key. PostgreSQL checks a foreign key by locking the referenced row
# (FOR KEY SHARE) in every inserting transaction, so every token and every
# signature of a letter would lock that one letter row, and concurrent signers
# would share the lock through multixacts: the hot row that issue 4 warns
# about, in another form (measured: about 10% of the database's work per
# signature, docs/benchmarks.md). What the key guaranteed still holds: both
# rows are only inserted by a statement that checks, as it runs, that their
# letter exists and is open (signatures.guarded_insert); letters are never
# deleted (no code path deletes one, and the admin is read-only); and
# on_delete=PROTECT still refuses, in Django, to delete a letter that has them.


def letter_reference(related_name: str) -> models.ForeignKey:
    """The letter of an issuance or a signature: no index of its own (one
    less to update per row; a unique index that starts with the letter serves
    it) and no database foreign key (HOT_LETTER_ROW)."""
    return models.ForeignKey(
        Letter,
        on_delete=models.PROTECT,
        related_name=related_name,
        db_index=False,
        db_constraint=False,
    )


def this_hour():
    return timezone.now().replace(minute=0, second=0, microsecond=0)


def today():
    return timezone.now().date()


class IssuerKey(models.Model):
    """A letter's RSA blind-signature key (RFC 9474, 2048-bit).

    The private key is stored encrypted with a key derived from the server
    secret (see signatures.keys), so a database copy alone cannot issue tokens.
    """

    letter = models.OneToOneField(Letter, on_delete=models.PROTECT, related_name="issuer_key")
    key_id = models.CharField(max_length=64, unique=True)  # SHA-256 of the SPKI DER, hex
    public_key_pem = models.TextField()
    private_key_encrypted = models.BinaryField()
    created_on = models.DateField(default=today)

    def __str__(self) -> str:
        return f"issuer key {self.key_id[:16]} of {self.letter}"


class Attestation(models.Model):
    """A statement a signer must affirm, e.g. "I am a current employee"."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="attestations")
    text = models.CharField(_("statement"), max_length=200)
    position = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.text


class EmailCode(models.Model):
    """A pending work-email verification. Deleted once used or expired.

    Holds an HMAC of the address, never the address, and an HMAC of the code.
    """

    letter = models.ForeignKey(Letter, on_delete=models.CASCADE, related_name="+")
    email_hmac = models.CharField(max_length=64)
    code_hmac = models.CharField(max_length=64)
    attempts = models.PositiveSmallIntegerField(default=0)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["letter", "email_hmac"], name="one_email_code_per_letter"
            )
        ]

    def __str__(self) -> str:
        return f"email code for {self.letter}"


class InviteCode(models.Model):
    """A single-person eligibility code handed out by organizers.

    Stored only as an HMAC; good for one token per letter of the campaign.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="invite_codes")
    # Unique through Meta.constraints: see Signature.receipt_hash.
    code_hmac = models.CharField(max_length=64)
    batch = models.CharField(_("batch"), max_length=80, blank=True)
    created_on = models.DateField(default=today)
    revoked = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_on", "batch"]
        constraints = [models.UniqueConstraint(fields=["code_hmac"], name="invite_code_unique")]

    def __str__(self) -> str:
        return f"invite code {self.code_hmac[:8]}… of {self.campaign}"


class Issuance(models.Model):
    """One blind token issued for a letter to one identity.

    `identity_hmac` is HMAC(server secret, letter, normalized identity): unique
    per letter so each person gets one token, useless for joining across
    letters, and never stored beside anything a signature holds.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The unique (letter, identity_hmac) index serves it.
    letter = letter_reference("issuances")
    identity_hmac = models.CharField(max_length=64)
    issued_on = models.DateField(default=today)
    # An alias row claims a second identity of the same person in the same
    # transaction (a signed-in account also claims its verified work email),
    # so the email route cannot issue that person a second token. Aliases are
    # not counted as issued tokens.
    is_alias = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["letter", "identity_hmac"], name="one_token_per_identity_per_letter"
            )
        ]

    def __str__(self) -> str:
        return f"token issued for {self.letter} on {self.issued_on}"


class SignatureQuerySet(models.QuerySet):
    def counted(self):
        return self.filter(withdrawn=False)


class Signature(models.Model):
    """A redeemed token: the public act of signing.

    Knows its letter, the hash of the spent token and what the signer chose to
    show; nothing that leads back to the person.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The indexes below start with the letter and serve its lookups.
    letter = letter_reference("signatures")
    token_hash = models.CharField(max_length=64)  # SHA-256 of the prepared token message
    # Unique through Meta.constraints, not unique=True: on PostgreSQL that
    # would add a second index (for LIKE queries, which no one makes).
    receipt_hash = models.CharField(max_length=64)
    pseudonym = models.CharField(max_length=PSEUDONYM_MAX)
    public_name = models.CharField(max_length=NAME_MAX, blank=True)
    # Show public_name once the letter has at least this many signatures;
    # null shows it at once.
    reveal_at = models.PositiveIntegerField(null=True, blank=True)
    department = models.CharField(max_length=GROUP_MAX, blank=True)
    location = models.CharField(max_length=GROUP_MAX, blank=True)
    comment = models.TextField(max_length=COMMENT_MAX, blank=True)
    attestations = models.JSONField(default=list, blank=True)
    # The hour its batch was sealed, the same for every signature of a batch.
    signed_hour = models.DateTimeField(default=this_hour)
    withdrawn = models.BooleanField(default=False)
    # The random salt of the log entry's commitment to the fields above
    # (signatures.tlog.fields_sha256), and the entry's index in the letter's
    # log; empty and null for signatures sealed before the log existed.
    salt = models.CharField(max_length=32, blank=True, default="")
    log_index = models.PositiveIntegerField(null=True, blank=True)

    objects = SignatureQuerySet.as_manager()

    class Meta:
        # Random UUIDs: ordering by id is a shuffle, not the order of signing.
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["letter", "token_hash"], name="token_spent_once"),
            models.UniqueConstraint(fields=["receipt_hash"], name="receipt_unique"),
        ]
        indexes = [models.Index(fields=["letter", "withdrawn"], name="sig_letter_counted")]

    def __str__(self) -> str:
        return f"{self.pseudonym} on {self.letter}"


# --- the letter's transparency log (signatures.tlog, docs/signing-protocol.md) ------
#
# Entries, tiles and checkpoints are only written by signatures.services.log,
# which holds the LetterLog row locked (SELECT ... FOR UPDATE) while it
# appends: the log row, with its real foreign key, is what guarantees the
# letter exists, so the rows under it reference the letter without a database
# foreign key (HOT_LETTER_ROW: a seal must not lock the letter row for every
# entry it inserts).


class LetterLog(models.Model):
    """A letter's append-only, signed Merkle log (C2SP tlog-checkpoint and
    tlog-tiles). Its Ed25519 private key is stored encrypted like the issuer
    key (signatures.keys); `origin` names the log and its key."""

    letter = models.OneToOneField(
        Letter, on_delete=models.PROTECT, primary_key=True, related_name="log"
    )
    origin = models.CharField(max_length=300)  # <host>/letters/<slug>, fixed at creation
    public_key = models.BinaryField()  # 32-byte Ed25519 public key
    private_key_encrypted = models.BinaryField()
    size = models.PositiveBigIntegerField(default=0)  # tree size of the latest checkpoint
    created_on = models.DateField(default=today)

    def __str__(self) -> str:
        return f"log of {self.letter}"

    @property
    def verifier_key(self) -> str:
        """The signed-note verifier key: <origin>+<key id>+<base64 key>."""
        return tlog.verifier_key(self.origin, bytes(self.public_key))


class LogEntry(models.Model):
    """Entry `index` of a letter's log: canonical JSON (signatures.tlog).
    Within a batch, entries are ordered by their token hash, so neither their
    index nor their row order tells the order of signing."""

    # The unique (letter, index) index serves it.
    letter = letter_reference("log_entries")
    index = models.PositiveBigIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["letter", "index"], name="log_entry_once")]

    def __str__(self) -> str:
        return f"entry {self.index} of the log of letter {self.letter_id}"


class LogTile(models.Model):
    """A tile of a letter's log: up to 256 hashes at tile level `level`
    (C2SP tlog-tiles). The rightmost tile of each level grows until full;
    a partial tile of width W is served as the first W hashes."""

    # The unique (letter, level, index) index serves it.
    letter = letter_reference("log_tiles")
    level = models.PositiveSmallIntegerField()
    index = models.PositiveBigIntegerField()
    hashes = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["letter", "level", "index"], name="log_tile_once")
        ]

    def __str__(self) -> str:
        return f"tile {self.level}/{self.index} of the log of letter {self.letter_id}"


class LogCheckpoint(models.Model):
    """A signed tree head of a letter's log, with the running counts of the
    signature and withdrawal entries up to its size. Published once per
    append (a batch); its time is kept to the hour, like a signature's."""

    # The unique (letter, tree_size) index serves it.
    letter = letter_reference("log_checkpoints")
    tree_size = models.PositiveBigIntegerField()
    root_hash = models.BinaryField()
    note = models.TextField()  # the signed note, as served
    signature_count = models.PositiveIntegerField()
    withdrawal_count = models.PositiveIntegerField()
    published_hour = models.DateTimeField(default=this_hour)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["letter", "tree_size"], name="log_checkpoint_once")
        ]

    def __str__(self) -> str:
        return f"checkpoint {self.tree_size} of the log of letter {self.letter_id}"

    @property
    def count(self) -> int:
        """Signatures counted at this size: signatures minus withdrawals."""
        return self.signature_count - self.withdrawal_count


# --- batches (docs/security.md, "Batches") -------------------------------------------
#
# A signature is accepted at once but written as a Signature only when its
# batch is sealed: until then it waits here, where its token already counts as
# spent. Sealing writes the batch's signatures in random order in one
# transaction (one xmin, shuffled ctids and dump positions, one signed_hour),
# and empties these tables in the same transaction (TRUNCATE on PostgreSQL).
# No column here holds a time: the arrival order of what waits is the one
# window docs/security.md describes.


class PendingSignature(models.Model):
    """An accepted signature waiting for its batch. Holds the token and its
    signature for the letter's log entry, which the Signature does not keep."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    letter = letter_reference("pending_signatures")
    token_hash = models.CharField(max_length=64)
    token = models.BinaryField()
    signature = models.BinaryField()
    receipt_hash = models.CharField(max_length=64)
    pseudonym = models.CharField(max_length=PSEUDONYM_MAX)
    public_name = models.CharField(max_length=NAME_MAX, blank=True)
    reveal_at = models.PositiveIntegerField(null=True, blank=True)
    department = models.CharField(max_length=GROUP_MAX, blank=True)
    location = models.CharField(max_length=GROUP_MAX, blank=True)
    comment = models.TextField(max_length=COMMENT_MAX, blank=True)
    attestations = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["letter", "token_hash"], name="pending_token_once"),
            models.UniqueConstraint(fields=["receipt_hash"], name="pending_receipt_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.pseudonym} on {self.letter}, waiting for its batch"


class PendingWithdrawal(models.Model):
    """A withdrawal waiting for its batch, named by the token's hash."""

    letter = letter_reference("pending_withdrawals")
    token_hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["letter", "token_hash"], name="withdrawal_once"),
        ]

    def __str__(self) -> str:
        return f"a withdrawal from {self.letter}, waiting for its batch"


class SignatureBatch(models.Model):
    """A sealed batch: when, how many, and the log's size after it."""

    letter = models.ForeignKey(Letter, on_delete=models.PROTECT, related_name="batches")
    sealed_at = models.DateTimeField()
    signatures = models.PositiveIntegerField()
    withdrawals = models.PositiveIntegerField()
    tree_size = models.PositiveIntegerField()

    class Meta:
        ordering = ["letter", "sealed_at"]
        indexes = [models.Index(fields=["letter", "sealed_at"], name="batch_letter_sealed")]

    def __str__(self) -> str:
        return f"batch of {self.signatures} for {self.letter} at {self.sealed_at:%Y-%m-%d %H:%M}"


# --- moderation (docs/organizers-guide.md, "Moderation") ------------------------------
#
# Organizers hide a signature's public text; anyone can report it; a
# campaign's hold list keeps matching text back until an organizer reviews
# it. The signature is counted throughout: only what the public list, the
# API and exports show changes. None of these rows holds anything about who
# signed or who reported, nor a time finer than a day: a hold is made in the
# seal's transaction, in the seal's random order, and a report or a decision
# is dated by the day (the audit log has the organizer's own actions).

MODERATED_FIELDS = ("pseudonym", "public_name", "comment", "department", "location")
MODERATED_FIELD_LABELS = {
    "pseudonym": _("Pseudonym"),
    "public_name": _("Public name"),
    "comment": _("Comment"),
    "department": _("Department"),
    "location": _("Location"),
}
MODERATION_NOTE_MAX = 500
HOLD_TERM_MAX = 80
HOLD_TERMS_MAX = 200


class ModerationReason(models.TextChoices):
    """Why text was hidden, or is reported: one short list for both."""

    IMPERSONATION = "impersonation", _("Someone else's name (impersonation)")
    PERSONAL = "personal", _("Exposes or identifies a person")
    ABUSE = "abuse", _("Abusive, hateful or threatening")
    SPAM = "spam", _("Spam or off-topic")
    OTHER = "other", _("Another reason")


class SignatureModeration(models.Model):
    """What the organizers hold back of one signature's public text.

    `held`: the text matched the campaign's hold list when its batch was
    sealed and waits, all of it, for an organizer's review. Otherwise the
    `hide_*` flags name the fields the organizers hid, with their reason and
    note (the note is shown to the signer on the receipt page). A signature
    shown again has no row.
    """

    signature = models.OneToOneField(
        Signature, on_delete=models.CASCADE, primary_key=True, related_name="moderation"
    )
    held = models.BooleanField(default=False)
    hide_pseudonym = models.BooleanField(default=False)
    hide_public_name = models.BooleanField(default=False)
    hide_comment = models.BooleanField(default=False)
    hide_department = models.BooleanField(default=False)
    hide_location = models.BooleanField(default=False)
    reason = models.CharField(max_length=20, choices=ModerationReason.choices, blank=True)
    note = models.TextField(max_length=MODERATION_NOTE_MAX, blank=True)
    # The day the organizers hid the text (null while held): the receipt
    # says when. A day, not a time, like the other dates next to signatures.
    decided_on = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return f"moderation of {self.signature_id}"

    @property
    def hidden_fields(self) -> tuple[str, ...]:
        """The fields held back from the public: all of them while held."""
        if self.held:
            return MODERATED_FIELDS
        return tuple(name for name in MODERATED_FIELDS if getattr(self, f"hide_{name}"))


class ReportStatus(models.TextChoices):
    OPEN = "open", _("Waiting")
    UPHELD = "upheld", _("Text hidden")
    DISMISSED = "dismissed", _("Dismissed")


class SignatureReport(models.Model):
    """Someone's report of a signature's public text: a reason and an
    optional note, nothing about who sent it (no account, no address, no
    client key; rate limited per client in the cache only), dated by the day."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    signature = models.ForeignKey(Signature, on_delete=models.CASCADE, related_name="reports")
    reason = models.CharField(max_length=20, choices=ModerationReason.choices)
    note = models.TextField(max_length=MODERATION_NOTE_MAX, blank=True)
    reported_on = models.DateField(default=today)
    status = models.CharField(
        max_length=10, choices=ReportStatus.choices, default=ReportStatus.OPEN
    )

    class Meta:
        # Random ids: no order of arrival among the reports of one day.
        ordering = ["reported_on", "id"]
        indexes = [models.Index(fields=["status", "signature"], name="report_status_signature")]

    def __str__(self) -> str:
        return f"report of {self.signature_id} ({self.reason})"


class HoldList(models.Model):
    """A campaign's names and words that hold a signature's public text for
    review (e.g. its executives' names), checked when a batch is sealed."""

    campaign = models.OneToOneField(
        Campaign, on_delete=models.CASCADE, primary_key=True, related_name="hold_list"
    )
    terms = models.JSONField(default=list, blank=True)  # as the organizers typed them

    def __str__(self) -> str:
        return f"hold list of {self.campaign}"
