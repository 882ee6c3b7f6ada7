"""manage.py export_petition <letter-slug> --out DIR

Renders (or reuses) the export of the letter's current state, in-process,
and writes the PDF, the manifest and their detached signatures into DIR,
under the names a download gives them and the PDF's appendix prints
(<short name>-<export id>-petition.pdf, ...), and the checkpoint of the
letter's log that the export binds, when it binds one (manifest format 2).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from letters.models import Letter
from petitions import services
from petitions.models import ExportStatus, PaperSize

FILES = ("petition.pdf", "petition.pdf.asc", "manifest.json", "manifest.json.asc")


class Command(BaseCommand):
    help = "Export a letter's petition as a signed PDF, manifest and detached signatures."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the letter's short name")
        parser.add_argument("--out", required=True, help="directory to write the files to")
        parser.add_argument("--paper", choices=PaperSize.values, default=PaperSize.A4)

    def handle(self, *args, slug, out, paper, **options):
        letter = Letter.objects.select_related("campaign").filter(slug=slug).first()
        if letter is None:
            raise CommandError(f"No letter with the short name {slug!r}.")
        try:
            export, created = services.export_start(
                actor=None, letter=letter, paper=paper, enqueue=False
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages))
        if export.status in (ExportStatus.QUEUED, ExportStatus.RUNNING):
            services.export_render(export.pk)
            export.refresh_from_db()
        if export.status != ExportStatus.DONE:
            raise CommandError(f"The export {export.pk} is {export.status}: {export.error}")
        target = Path(out)
        target.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            shutil.copyfile(
                services.export_file(export, name), target / services.export_file_name(export, name)
            )
        if export.log_checkpoint:
            name = services.CHECKPOINT_NAME
            shutil.copyfile(
                services.export_file(export, name), target / services.export_file_name(export, name)
            )
        self.stdout.write(
            f"Export {export.pk}: {export.count} signatures, {export.pages} pages\n"
            f"PDF SHA-256 {export.pdf_sha256}\nmanifest hash {export.manifest_sha256}\n"
            f"OpenPGP key {export.openpgp_fingerprint}\n"
            + (
                f"binds the log's checkpoint of size {export.log_tree_size}, "
                f"verifier key {export.log_verifier_key}\n"
                if export.log_checkpoint
                else "binds no log (manifest format 1)\n"
            )
            + f"written to {target}"
        )
