"""State changes of the petition export. Views and tasks call these only.

Every organizer/delegate action checks the role (with MFA) through
organizing.services.require_role and writes an audit entry.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import os
import shlex
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from celery import current_app
from celery.exceptions import SoftTimeLimitExceeded
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.db import insert_unless_conflicting
from core.unavailable import BROKER_DOWN, ServiceUnavailable
from letters.markdown import render_markdown
from letters.models import Letter, LetterState, Visibility
from letters.services import base_slug, letter_deliver
from organizing.models import Campaign, Role
from organizing.services import audit_record, require_organizer, require_role
from petitions import openpgp, render
from petitions.binding import LogBinding, log_binding
from petitions.manifest import Manifest, build_manifest, manifest_ids
from petitions.models import (
    CampaignKey,
    DelegateKey,
    Delivery,
    DeliveryMethod,
    Export,
    ExportStatus,
    PaperSize,
)
from petitions.selectors import Standing, export_standing
from signatures.models import Issuance, IssuerKey, Signature
from signatures.selectors import waiting_for_batch
from signatures.services.batches import batch_seal
from signatures.services.eligibility import invite_codes_create

logger = logging.getLogger(__name__)

STAFF = frozenset({Role.ORGANIZER, Role.DELEGATE})
EXPORTABLE_STATES = (LetterState.OPEN, LetterState.CLOSED)
PDF_NAME = "petition.pdf"
FILES = {
    # name -> (content type, public on the verification page)
    "petition.pdf": ("application/pdf", False),
    "petition.pdf.asc": ("application/pgp-signature", True),
    "manifest.json": ("application/json", True),
    "manifest.json.asc": ("application/pgp-signature", True),
    "petition.pdf.gpg": ("application/pgp-encrypted", False),
    # The checkpoint a format 2 export binds (its whole signed note), for
    # `clients/verify.py --checkpoint`; exports of format 1 have none.
    "checkpoint.txt": ("text/plain; charset=utf-8", True),
}
CHECKPOINT_NAME = "checkpoint.txt"
INVITE_SHEET_MAX = 200
# A render reports progress every few seconds (20,000 signatures: never more
# than 1.3 s apart here); a running export silent this long lost its worker.
EXPORT_STALLED_AFTER = dt.timedelta(minutes=2)
# The Celery task that runs export_render (petitions.tasks.render_export); the
# name is older than the petitions app and stays, so queued tasks still run.
RENDER_TASK = "signatures.export.render"
MAX_UPLOAD_BYTES = 200 * 1024 * 1024


# --- the campaign key -------------------------------------------------------------


def _passphrase_box() -> Fernet:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"organizing.openpgp-passphrase"
    ).derive(settings.SECRET_KEY.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def _passphrase(key: CampaignKey) -> str:
    if not key.passphrase_encrypted:
        return ""
    try:
        return _passphrase_box().decrypt(bytes(key.passphrase_encrypted)).decode()
    except InvalidToken:
        raise openpgp.OpenPGPError("The key's passphrase cannot be decrypted (SECRET_KEY changed?)")


def campaign_key(campaign: Campaign) -> CampaignKey | None:
    return CampaignKey.objects.filter(campaign=campaign, active=True).first()


def _activate(*, actor, campaign, fingerprint, source, passphrase="") -> CampaignKey:
    keyring = openpgp.Keyring()
    public = keyring.export_public(fingerprint)
    encrypted = _passphrase_box().encrypt(passphrase.encode()) if passphrase else b""
    with transaction.atomic():
        Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
        CampaignKey.objects.filter(campaign=campaign, active=True).update(active=False)
        key = CampaignKey.objects.create(
            campaign=campaign,
            fingerprint=fingerprint,
            public_key=public,
            source=source,
            passphrase_encrypted=encrypted,
            created_by=actor,
        )
        audit_record(
            campaign=campaign,
            actor=actor,
            action=f"openpgp.{source}",
            obj=key,
            summary=fingerprint,
        )
    return key


def campaign_key_generate(*, actor, campaign: Campaign) -> CampaignKey:
    """Generate an ed25519 signing key for the campaign (replaces the active one)."""
    require_organizer(user=actor, campaign=campaign)
    keyring = openpgp.Keyring()
    fingerprint = keyring.generate(name=f"{campaign.name} ({campaign.slug}) petitions")
    return _activate(
        actor=actor,
        campaign=campaign,
        fingerprint=fingerprint,
        source=CampaignKey.Source.GENERATED,
    )


def campaign_key_import(
    *, actor, campaign: Campaign, armored: str, passphrase: str = ""
) -> CampaignKey:
    """Import an organizer's secret signing (sub)key."""
    require_organizer(user=actor, campaign=campaign)
    armored = (armored or "").strip()
    if not armored:
        raise ValidationError(_("Paste the ASCII-armored secret key."))
    try:
        openpgp.check_passphrase(passphrase)
        keyring = openpgp.Keyring()
        scanned = keyring.scan(armored)
        fprs = [
            openpgp.normalize_fingerprint(k.get("fingerprint", ""))
            for k in scanned
            if k.get("type") in ("sec", "pub")
        ]
        if len(fprs) == 1:
            owner = CampaignKey.objects.filter(fingerprint=fprs[0]).first()
            if owner is not None:
                raise ValidationError(_("This key is already registered."))
        fingerprint = keyring.import_signing_key(armored, passphrase=passphrase)
    except openpgp.KeyRejected as exc:
        raise ValidationError(str(exc))  # translated in openpgp
    return _activate(
        actor=actor,
        campaign=campaign,
        fingerprint=fingerprint,
        source=CampaignKey.Source.IMPORTED,
        passphrase=passphrase,
    )


def delegate_key_set(*, actor, campaign: Campaign, armored: str) -> DelegateKey:
    membership = require_role(user=actor, campaign=campaign, roles=STAFF)
    armored = (armored or "").strip()
    try:
        info = openpgp.public_key_info(armored)
    except openpgp.KeyRejected as exc:
        raise ValidationError(str(exc))  # translated in openpgp
    key = DelegateKey(
        membership=membership,
        fingerprint=info["fingerprint"],
        public_key=armored,
        created_at=timezone.now(),
    )
    with transaction.atomic():
        # An upsert in one statement: update_or_create reads, then inserts,
        # and two uploads at once would make PostgreSQL log a unique violation.
        DelegateKey.objects.bulk_create(
            [key],
            update_conflicts=True,
            unique_fields=["membership"],
            update_fields=["fingerprint", "public_key", "created_at"],
        )
        audit_record(
            campaign=campaign,
            actor=actor,
            action="openpgp.delegate_key",
            obj=key,
            summary=info["fingerprint"],
        )
    return key


def delegate_key_remove(*, actor, campaign: Campaign) -> None:
    membership = require_role(user=actor, campaign=campaign, roles=STAFF)
    with transaction.atomic():
        deleted, _rows = DelegateKey.objects.filter(membership=membership).delete()
        if deleted:
            audit_record(campaign=campaign, actor=actor, action="openpgp.delegate_key_remove")


def recipient_keys(campaign: Campaign) -> list[DelegateKey]:
    """Public keys of the campaign's delegates (encryption recipients)."""
    return list(
        DelegateKey.objects.filter(
            membership__campaign=campaign, membership__role=Role.DELEGATE
        ).order_by("fingerprint")
    )


# --- snapshots and the idempotency key ----------------------------------------------


@dataclass
class Snapshot:
    manifest: Manifest
    tokens_issued: int
    issuer_key_id: str
    openpgp_fingerprint: str
    recipients: list[str]
    key: str
    log: LogBinding | None = None  # the checkpoint a format 2 export binds


def snapshot(letter: Letter, *, paper: str, encrypt: bool) -> Snapshot:
    """Everything an export shows, and its hash (the idempotency key).

    A letter with a transparency log is exported bound to its latest
    checkpoint (manifest format 2), once petitions.binding has shown that
    the counted signatures are exactly the log's at that size (LogNotBound,
    a ValidationError, otherwise); the checkpoint and the verifier key are in
    the manifest, so in its hash and in the state key. A letter without a
    log is exported in format 1, its state key computed as it always was.
    """
    campaign = letter.campaign
    with transaction.atomic():
        # One transaction, the log row locked: no batch seal between the
        # check and the rows the manifest lists.
        log = log_binding(letter)
        manifest = build_manifest(letter, log=log)
    tokens_issued = Issuance.objects.filter(letter=letter).count()
    issuer = IssuerKey.objects.filter(letter=letter).values_list("key_id", flat=True).first()
    active = campaign_key(campaign)
    recipients = [k.fingerprint for k in recipient_keys(campaign)] if encrypt else []
    state = {
        "letter": letter.pk,
        "title": letter.title,
        "summary": letter.summary,
        "body": letter.body,
        "demands": letter.demands,
        "text_hash": letter.text_hash,
        "goal": letter.goal,
        "opened_at": letter.opened_at.isoformat() if letter.opened_at else None,
        "closed_at": letter.closed_at.isoformat() if letter.closed_at else None,
        "campaign": [campaign.name, campaign.employer_name, campaign.k_threshold],
        "manifest": manifest.sha256,
        "tokens_issued": tokens_issued,
        "issuer_key": issuer or "",
        "openpgp": active.fingerprint if active else "",
        "paper": paper,
        "recipients": recipients,
    }
    key = hashlib.sha256(
        json.dumps(state, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    return Snapshot(
        manifest=manifest,
        tokens_issued=tokens_issued,
        issuer_key_id=issuer or "",
        openpgp_fingerprint=active.fingerprint if active else "",
        recipients=recipients,
        key=key,
        log=log,
    )


# --- export jobs ---------------------------------------------------------------------


def export_start(
    *,
    actor,
    letter: Letter,
    paper: str = PaperSize.A4,
    encrypt: bool = False,
    enqueue: bool = True,
) -> tuple[Export, bool]:
    """Start (or find) the export of the letter's current state.

    Returns (export, created). The same state returns the live export that
    already covers it instead of rendering again. actor=None is the operator
    on the command line (manage.py export_petition), who renders in-process
    (enqueue=False).
    """
    campaign = letter.campaign
    if actor is not None:
        require_role(user=actor, campaign=campaign, roles=STAFF)
    if letter.state not in EXPORTABLE_STATES:
        raise ValidationError(_("Only open or closed letters can be exported."))
    if paper not in PaperSize.values:
        raise ValidationError(_("Choose A4 or US Letter."))
    if campaign_key(campaign) is None:
        raise ValidationError(
            _("The campaign has no OpenPGP key yet: an organizer must create or import one.")
        )
    if encrypt and not recipient_keys(campaign):
        raise ValidationError(_("No delegate has uploaded a public key to encrypt to."))
    # What is due is sealed first (always, for a closed letter), so the
    # export shows it rather than going stale at the next run.
    batch_seal(letter=letter)
    snap = snapshot(letter, paper=paper, encrypt=encrypt)
    live = (ExportStatus.QUEUED, ExportStatus.RUNNING, ExportStatus.DONE)
    existing = Export.objects.filter(letter=letter, state_key=snap.key, status__in=live).first()
    if existing is not None:
        return existing, False
    export = Export(
        letter=letter,
        state_key=snap.key,
        paper=paper,
        encrypt=encrypt,
        created_by=actor,
        count=snap.manifest.count,
    )
    with transaction.atomic():
        if insert_unless_conflicting(export):
            audit_record(
                campaign=campaign,
                actor=actor,
                action="export.start",
                obj=export,
                summary=f"{letter.slug}: {snap.manifest.count} signatures, {paper}"
                + (", encrypted" if encrypt else ""),
            )
            if enqueue:
                transaction.on_commit(lambda: _enqueue(export.pk))
            return export, True
    # Started concurrently by someone else.
    existing = Export.objects.filter(letter=letter, state_key=snap.key, status__in=live).first()
    if existing is None:  # and already failed or cancelled
        raise ValidationError(_("Another export of this letter just ended. Please try again."))
    return existing, False


def _enqueue(export_id) -> None:
    """Queue the render of a committed export. Should the broker be
    unreachable, the export is marked failed (a queued export that no worker
    will ever see would be handed back as "nothing changed" on every new
    try) and the request answers 503: starting again makes a new one."""
    try:
        # By name: petitions.tasks imports this module, so this one does not import it.
        current_app.tasks[RENDER_TASK].delay(str(export_id))
    except BROKER_DOWN:
        message = _("The job queue was unreachable; nothing was rendered. Start the export again.")
        Export.objects.filter(pk=export_id, status=ExportStatus.QUEUED).update(
            status=ExportStatus.FAILED, error=message, finished_at=timezone.now()
        )
        raise ServiceUnavailable(
            _(
                "The export could not be queued: the job queue is unreachable. "
                "Please try again in a minute."
            )
        ) from None


def export_cancel(*, actor, export: Export) -> Export:
    require_role(user=actor, campaign=export.letter.campaign, roles=STAFF)
    with transaction.atomic():
        updated = Export.objects.filter(
            pk=export.pk, status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING]
        ).update(status=ExportStatus.CANCELLED, finished_at=timezone.now(), run_id=None)
        if not updated:
            raise ValidationError(_("Only a queued or running export can be cancelled."))
        audit_record(
            campaign=export.letter.campaign, actor=actor, action="export.cancel", obj=export
        )
    export.refresh_from_db()
    return export


def _partial_dir(export: Export, run_id) -> Path:
    return export.directory.parent / f"{export.pk}.{run_id}.partial"


def _clean_partials(export: Export) -> None:
    parent = export.directory.parent
    if parent.exists():
        for path in parent.glob(f"{export.pk}.*.partial"):
            shutil.rmtree(path, ignore_errors=True)


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def verify_url(campaign: Campaign) -> str:
    return settings.SITE_URL + reverse("petitions:verify", args=[campaign.slug])


def export_public_url(export: Export) -> str:
    """The export's own public page: its manifest, signature files and the
    receipt check."""
    return settings.SITE_URL + reverse(
        "petitions:verify_export", args=[export.letter.campaign.slug, export.pk]
    )


def export_file_name(export: Export, name: str) -> str:
    """What a file of the export is called once downloaded, and what the
    PDF's appendix calls it: <letter's short name>-<first 8 of the export
    id>-<name>. The short name is the one without an unlisted letter's
    secret, which no file name (handed to leadership) may carry."""
    return f"{base_slug(export.letter)}-{str(export.pk)[:8]}-{name}"


def public_key_file_name(campaign: Campaign, fingerprint: str) -> str:
    """What the campaign's public key is called once downloaded."""
    return f"{campaign.slug}-{fingerprint[-16:]}.asc"


def export_file_names(export: Export, *, fingerprint: str) -> dict[str, str]:
    """The downloaded names the checking instructions name (the PDF's
    appendix, the export's public page); `fingerprint`: its signing key's."""
    return {
        "pdf": export_file_name(export, "petition.pdf"),
        "pdf_asc": export_file_name(export, "petition.pdf.asc"),
        "manifest": export_file_name(export, "manifest.json"),
        "manifest_asc": export_file_name(export, "manifest.json.asc"),
        "key": public_key_file_name(export.letter.campaign, fingerprint),
    }


def log_audit_command(export: Export, *, verifier_key: str) -> str:
    """The command that audits the letter's log from outside the server and
    checks that it still begins with the checkpoint this export binds
    (clients/verify.py, given the downloaded checkpoint file)."""
    letter = export.letter
    unlisted = letter.visibility == Visibility.UNLISTED
    # An unlisted letter's address and link key are secrets that nothing
    # handed to leadership carries: the command names where they go.
    words = [
        "python3",
        "clients/verify.py",
        settings.SITE_URL,
        _("<the letter's address name, from the organizers>") if unlisted else letter.slug,
        "--key",
        verifier_key,
        "--checkpoint",
        export_file_name(export, CHECKPOINT_NAME),
    ]
    if unlisted:
        words += ["--link-key", _("<its link key, from the organizers>")]
    return shlex.join(words)


def export_render(export_id) -> str:
    """Render, sign and store an export. Safe to run again (acks_late).

    A finished (done, failed, cancelled) export is left alone. A half-done one
    (its worker died) restarts from scratch under a new run id; only the run
    holding the current run id can complete it, so it completes once.
    """
    run_id = uuid.uuid4()
    with transaction.atomic():
        export = (
            Export.objects.select_for_update()
            .select_related("letter__campaign")
            .filter(pk=export_id)
            .first()
        )
        if export is None or export.is_finished or export.delivered_at is not None:
            return "noop"
        now = timezone.now()
        Export.objects.filter(pk=export.pk).update(
            status=ExportStatus.RUNNING,
            run_id=run_id,
            attempts=export.attempts + 1,
            progress=1,
            started_at=now,
            progress_at=now,
            error="",
        )
    letter = export.letter
    campaign = letter.campaign
    _clean_partials(export)
    partial = _partial_dir(export, run_id)
    last = {"value": 1}

    def progress(value: int) -> None:
        value = max(1, min(99, value))
        if value == last["value"]:
            return
        last["value"] = value
        owned = Export.objects.filter(
            pk=export.pk, run_id=run_id, status=ExportStatus.RUNNING
        ).update(progress=value, progress_at=timezone.now())
        if not owned:
            raise render.RenderCancelled()

    try:
        snap = snapshot(letter, paper=export.paper, encrypt=export.encrypt)
        progress(10)
        if snap.key != export.state_key:
            # Signatures arrived (or were withdrawn) since the request: render
            # the current state, unless another export already covers it.
            if (
                Export.objects.filter(
                    letter=letter, state_key=snap.key, status__in=["queued", "running", "done"]
                )
                .exclude(pk=export.pk)
                .exists()
            ):
                raise ValidationError(_("An export of the current state already exists."))
            Export.objects.filter(pk=export.pk, run_id=run_id).update(state_key=snap.key)
        key = campaign_key(campaign)
        if key is None or key.fingerprint != snap.openpgp_fingerprint:
            raise ValidationError(_("The campaign's OpenPGP key changed; start again."))
        made_at = timezone.now()
        document = render.PetitionDocument(
            title=letter.title,
            summary=letter.summary,
            body_html=str(render_markdown(letter.body)),
            demands=[str(d) for d in (letter.demands or [])],
            text_hash=letter.text_hash,
            opened_at=letter.opened_at,
            closed_at=letter.closed_at,
            made_at=made_at,
            campaign_name=campaign.name,
            employer_name=campaign.employer_name,
            goal=letter.goal,
            tokens_issued=snap.tokens_issued,
            manifest=snap.manifest,
            issuer_key_id=snap.issuer_key_id,
            openpgp_fingerprint=key.fingerprint,
            verify_url=verify_url(campaign),
            export_url=export_public_url(export),
            export_id=str(export.pk),
            file_names=export_file_names(export, fingerprint=key.fingerprint),
            paper=export.paper,
            log_audit_command=log_audit_command(export, verifier_key=snap.log.verifier_key)
            if snap.log
            else "",
        )
        progress(15)
        pdf, pages = render.render_petition(document, progress=progress, span=(15, 90))
        progress(91)
        keyring = openpgp.Keyring()
        passphrase = _passphrase(key)
        pdf_asc = keyring.sign_detached(pdf, fingerprint=key.fingerprint, passphrase=passphrase)
        manifest_asc = keyring.sign_detached(
            snap.manifest.data, fingerprint=key.fingerprint, passphrase=passphrase
        )
        progress(95)
        partial.mkdir(parents=True, mode=0o700)
        _write(partial / "petition.pdf", pdf)
        _write(partial / "petition.pdf.asc", pdf_asc.encode())
        _write(partial / "manifest.json", snap.manifest.data)
        _write(partial / "manifest.json.asc", manifest_asc.encode())
        if snap.log is not None:
            _write(partial / CHECKPOINT_NAME, snap.log.checkpoint.encode())
        if export.encrypt:
            recipients = [(k.fingerprint, k.public_key) for k in recipient_keys(campaign)]
            _write(partial / "petition.pdf.gpg", openpgp.encrypt_to(pdf, recipients))
        progress(98)
        with transaction.atomic():
            owned = Export.objects.select_for_update().filter(
                pk=export.pk, run_id=run_id, status=ExportStatus.RUNNING
            )
            if not owned.exists():
                raise render.RenderCancelled()
            final = export.directory
            if final.exists():
                shutil.rmtree(final)
            os.replace(partial, final)
            owned.update(
                status=ExportStatus.DONE,
                progress=100,
                finished_at=timezone.now(),
                count=snap.manifest.count,
                pages=pages,
                manifest_sha256=snap.manifest.sha256,
                pdf_sha256=hashlib.sha256(pdf).hexdigest(),
                pdf_signature=pdf_asc,
                manifest_signature=manifest_asc,
                openpgp_fingerprint=key.fingerprint,
                issuer_key_id=snap.issuer_key_id,
                manifest_format=snap.manifest.format,
                log_tree_size=snap.log.tree_size if snap.log else None,
                log_checkpoint=snap.log.checkpoint if snap.log else "",
                log_verifier_key=snap.log.verifier_key if snap.log else "",
            )
            audit_record(
                campaign=campaign,
                actor=None,
                action="export.done",
                obj=export,
                summary=f"{snap.manifest.count} signatures, {pages} pages"
                + (f", log size {snap.log.tree_size}" if snap.log else ""),
            )
        return "done"
    except render.RenderCancelled:
        shutil.rmtree(partial, ignore_errors=True)
        return "cancelled"
    except Exception as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(exc, ValidationError):
            message = " ".join(exc.messages)
        elif isinstance(exc, SoftTimeLimitExceeded):
            message = _("The export took too long.")
        else:
            logger.exception("export %s failed", export.pk)
            message = _("The export failed; see the server log.")
        Export.objects.filter(pk=export.pk, run_id=run_id, status=ExportStatus.RUNNING).update(
            status=ExportStatus.FAILED, error=message[:300], finished_at=timezone.now()
        )
        return "failed"


def redelivery_seconds() -> int:
    """How long after a worker took a task the broker hands it to another
    worker if the first one died: the visibility timeout, plus the period of
    kombu's sweep for such tasks (every 10th poll of 10 s by default)."""
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    sweep = options.get("unacked_restore_interval", 10) * options.get(
        "unacked_restore_throttle", 10
    )
    return int(options.get("visibility_timeout", 3600) + sweep)


def export_stall_notice(export: Export, *, now: dt.datetime | None = None) -> str:
    """What happens next to a running export whose render stopped reporting
    progress (its worker died), for the export page; "" for any other export."""
    if export.status != ExportStatus.RUNNING or export.progress_at is None:
        return ""
    now = now or timezone.now()
    if now - export.progress_at < EXPORT_STALLED_AFTER:
        return ""
    if settings.CELERY_TASK_ALWAYS_EAGER:  # rendered in a web process: no broker to retry it
        return _(
            "The render stopped (the server restarted?) and will not resume by itself: "
            "cancel this export and start it again."
        )
    started = export.started_at or export.progress_at
    resumes_at = started + dt.timedelta(seconds=redelivery_seconds())
    minutes_left = int((resumes_at - now).total_seconds() + 59) // 60
    if minutes_left <= 0:
        return _(
            "The worker stopped and this export has not resumed in time: check that a "
            "Celery worker is running, or cancel this export and start it again."
        )
    timeout = round(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600) / 60)
    return ngettext(
        "The worker stopped; this export will resume automatically within about "
        "%(minutes)d minute (the broker hands it to a worker again once its visibility "
        "timeout of %(timeout)d minutes has passed).",
        "The worker stopped; this export will resume automatically within about "
        "%(minutes)d minutes (the broker hands it to a worker again once its visibility "
        "timeout of %(timeout)d minutes has passed).",
        minutes_left,
    ) % {"minutes": minutes_left, "timeout": timeout}


def export_file(export: Export, name: str) -> Path:
    if name not in FILES or export.status != ExportStatus.DONE:
        raise FileNotFoundError(name)
    path = export.directory / name
    if not path.is_file():
        raise FileNotFoundError(name)
    return path


# --- verification ------------------------------------------------------------------


@dataclass
class Verification:
    export: Export | None
    signature_valid: bool = False
    key: CampaignKey | None = None
    # The export against the letter's delivery: the delivered petition, an
    # earlier export, or one of a letter not delivered yet.
    standing: Standing | None = None


def _verify_signature(export: Export, pdf: bytes) -> tuple[bool, CampaignKey | None]:
    key = CampaignKey.objects.filter(
        campaign=export.letter.campaign, fingerprint=export.openpgp_fingerprint
    ).first()
    if key is None:
        return False, None
    check = openpgp.Keyring().verify_detached(
        pdf, export.pdf_signature, fingerprint=key.fingerprint
    )
    return check.valid, key


def verify_pdf(*, campaign: Campaign, sha256: str, pdf: bytes | None = None) -> Verification:
    """Is this (the PDF or its SHA-256) an export of the campaign? Does it
    verify? Is it the delivered petition, or an earlier export?"""
    sha256 = (sha256 or "").strip().lower()
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValidationError(_("A SHA-256 is 64 hexadecimal characters."))
    export = (
        Export.objects.select_related("letter__campaign")
        .filter(letter__campaign=campaign, pdf_sha256=sha256, status=ExportStatus.DONE)
        .first()
    )
    if export is None:
        return Verification(export=None)
    if pdf is None:
        try:
            pdf = export_file(export, PDF_NAME).read_bytes()
        except FileNotFoundError:
            return Verification(export=export, standing=export_standing(export))
    if hashlib.sha256(pdf).hexdigest() != sha256:
        return Verification(export=None)
    valid, key = _verify_signature(export, pdf)
    return Verification(
        export=export, signature_valid=valid, key=key, standing=export_standing(export)
    )


def hash_upload(upload) -> tuple[str, bytes]:
    if upload.size > MAX_UPLOAD_BYTES:
        raise ValidationError(_("This file is too large to be an export."))
    digest = hashlib.sha256()
    parts = []
    for chunk in upload.chunks():
        digest.update(chunk)
        parts.append(chunk)
    data = b"".join(parts)
    if not data.startswith(b"%PDF-"):
        raise ValidationError(_("This file is not a PDF."))
    return digest.hexdigest(), data


def _receipt_hash(receipt: str) -> str:
    # The same hash signatures.services stores (SHA-256 hex of the stripped receipt).
    return hashlib.sha256(receipt.strip().encode()).hexdigest()


def receipt_included(*, export: Export, receipt: str) -> bool:
    """Is the signature with this receipt in the export's manifest?"""
    receipt = (receipt or "").strip()
    if not 20 <= len(receipt) <= 128:
        raise ValidationError(_("Enter the receipt text you saved when signing."))
    signature_id = (
        Signature.objects.filter(receipt_hash=_receipt_hash(receipt), letter=export.letter)
        .values_list("id", flat=True)
        .first()
    )
    if signature_id is None:
        return False
    try:
        return str(signature_id) in manifest_ids(export_file(export, "manifest.json").read_bytes())
    except (FileNotFoundError, ValueError):  # ValueError: petitions.manifest.ManifestFormatError
        return False


def receipt_exports(*, signature, **kwargs) -> list[dict]:
    """Receiver of signatures.signals.receipt_exports_requested: the finished
    exports whose manifest lists the signature, each with `delivered_at`, when
    it was handed over (the delivery's time), or None for an export that was
    not delivered (a draft, or one superseded by a later export)."""
    found = []
    exports = Export.objects.filter(
        letter_id=signature.letter_id, status=ExportStatus.DONE
    ).select_related("delivery", "letter__campaign")
    for export in exports:
        try:
            ids = manifest_ids(export_file(export, "manifest.json").read_bytes())
        except (FileNotFoundError, ValueError):
            continue
        if str(signature.pk) in ids:
            delivery = getattr(export, "delivery", None)
            found.append(
                {
                    "id": str(export.pk),
                    "created": export.finished_at.isoformat() if export.finished_at else "",
                    "delivered_at": delivery.delivered_at.isoformat() if delivery else None,
                    "url": reverse(
                        "petitions:verify_export", args=[export.letter.campaign.slug, export.pk]
                    ),
                }
            )
    return found


# --- delivery ----------------------------------------------------------------------


def export_is_stale(export: Export) -> bool:
    """The letter or its signatures changed since this export (it was closed,
    a signature came or was withdrawn, ...): the PDF no longer shows the
    letter's current state, so it cannot be delivered; export it again.
    Builds the letter's manifest: call it where it matters (before a delivery)."""
    letter = export.letter
    return snapshot(letter, paper=export.paper, encrypt=export.encrypt).key != export.state_key


def delivery_record(
    *,
    actor,
    export: Export,
    delivered_at: dt.datetime,
    recipient: str,
    method: str,
    notes: str = "",
) -> Delivery:
    """Record the delivery of a finished export; the letter becomes delivered."""
    letter = export.letter
    campaign = letter.campaign
    require_role(user=actor, campaign=campaign, roles=STAFF)
    recipient = (recipient or "").strip()
    errors = {}
    if export.status != ExportStatus.DONE:
        raise ValidationError(_("Only a finished export can be delivered."))
    if not recipient or len(recipient) > 200:
        errors["recipient"] = [_("Say to whom it was delivered (at most 200 characters).")]
    if method not in DeliveryMethod.values:
        errors["method"] = [_("Choose how it was delivered.")]
    if delivered_at is None or delivered_at > timezone.now() + dt.timedelta(minutes=5):
        errors["delivered_at"] = [_("The delivery time cannot be in the future.")]
    if len(notes or "") > 2000:
        errors["notes"] = [_("Notes have at most 2,000 characters.")]
    if errors:
        raise ValidationError(errors)
    # A closed letter's batch is always due: seal what waits (a withdrawal
    # made after the export) so that the check below sees it.
    batch_seal(letter=letter)
    with transaction.atomic():
        # Under the letter's lock, which a withdrawal takes too: none can
        # come between this check and the delivery.
        Letter.objects.select_for_update().filter(pk=letter.pk).exists()
        if export_is_stale(export) or waiting_for_batch(letter):
            raise ValidationError(
                _("The letter or its signatures changed after this export: export it again.")
            )
        letter_deliver(actor=actor, letter=letter)
        delivery = Delivery.objects.create(
            export=export,
            letter=letter,
            delivered_at=delivered_at,
            recipient=recipient,
            method=method,
            notes=notes or "",
            recorded_by=actor,
        )
        Export.objects.filter(pk=export.pk).update(delivered_at=timezone.now())
        audit_record(
            campaign=campaign,
            actor=actor,
            action="export.deliver",
            obj=delivery,
            summary=f"{letter.slug} to {recipient[:120]} ({method})",
        )
    for path in export.directory.iterdir():
        path.chmod(0o444)
    export.refresh_from_db()
    return delivery


def delivery_respond(
    *, actor, delivery: Delivery, response: str, response_at: dt.datetime | None
) -> Delivery:
    campaign = delivery.letter.campaign
    require_role(user=actor, campaign=campaign, roles=STAFF)
    response = (response or "").strip()
    if not response or len(response) > 5000:
        raise ValidationError({"response": [_("Write the response (at most 5,000 characters).")]})
    with transaction.atomic():
        delivery.response = response
        delivery.response_at = response_at or timezone.now()
        delivery.save(update_fields=["response", "response_at"])
        audit_record(
            campaign=campaign,
            actor=actor,
            action="export.response",
            obj=delivery,
            summary=response[:120],
        )
    return delivery


# --- invite-code sheets ----------------------------------------------------------------


def invite_sheet(
    *,
    actor,
    campaign: Campaign,
    letter: Letter,
    count: int,
    batch: str = "",
    paper: str = PaperSize.A4,
) -> bytes:
    """Create `count` invite codes and return them as a printable PDF.

    The codes exist only in this PDF (stored as HMACs); if rendering fails the
    codes are rolled back.
    """
    require_organizer(user=actor, campaign=campaign)
    if letter.campaign_id != campaign.pk:
        raise ValidationError(_("That letter belongs to another campaign."))
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= INVITE_SHEET_MAX:
        raise ValidationError(
            _("Print between 1 and %(max)d codes per sheet.") % {"max": INVITE_SHEET_MAX}
        )
    if paper not in PaperSize.values:
        raise ValidationError(_("Choose A4 or US Letter."))
    url_prefix = settings.SITE_URL + reverse("signatures:sign", args=[letter.slug])
    with transaction.atomic():
        codes = invite_codes_create(actor=actor, campaign=campaign, count=count, batch=batch)
        pdf, _pages = render.render_invite_sheet(
            codes=codes,
            url_prefix=url_prefix,
            campaign_name=campaign.name,
            letter_title=letter.title,
            batch=batch,
            paper=paper,
        )
        audit_record(
            campaign=campaign,
            actor=actor,
            action="invite_sheet.print",
            summary=f"{count} codes for {letter.slug}" + (f", batch {batch[:40]}" if batch else ""),
        )
    return pdf
