# The petition models, moved from the signatures app with their tables
# (signatures/migrations/0003 and 0006 created them; 0007 removed them from
# the signatures app's state). State only: the tables, indexes and constraints
# already exist under these names.

import django.db.models.deletion
import django.utils.timezone
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("letters", "0003_comment_approval"),
        ("organizing", "0002_discussion_channels"),
        ("signatures", "0007_petition_models_move_to_petitions"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="DelegateKey",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("fingerprint", models.CharField(max_length=40)),
                        ("public_key", models.TextField()),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "membership",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="openpgp_key",
                                to="organizing.membership",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "signatures_delegatekey",
                    },
                ),
                migrations.CreateModel(
                    name="Export",
                    fields=[
                        (
                            "id",
                            models.UUIDField(
                                default=uuid.uuid4,
                                editable=False,
                                primary_key=True,
                                serialize=False,
                            ),
                        ),
                        ("state_key", models.CharField(max_length=64)),
                        (
                            "paper",
                            models.CharField(
                                choices=[("A4", "A4"), ("letter", "US Letter")],
                                default="A4",
                                max_length=8,
                            ),
                        ),
                        ("encrypt", models.BooleanField(default=False)),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("queued", "Queued"),
                                    ("running", "Rendering"),
                                    ("done", "Done"),
                                    ("failed", "Failed"),
                                    ("cancelled", "Cancelled"),
                                ],
                                default="queued",
                                max_length=16,
                            ),
                        ),
                        ("progress", models.PositiveSmallIntegerField(default=0)),
                        ("progress_at", models.DateTimeField(blank=True, null=True)),
                        ("error", models.CharField(blank=True, max_length=300)),
                        ("run_id", models.UUIDField(blank=True, null=True)),
                        ("attempts", models.PositiveSmallIntegerField(default=0)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("started_at", models.DateTimeField(blank=True, null=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        ("count", models.PositiveIntegerField(blank=True, null=True)),
                        ("pages", models.PositiveIntegerField(blank=True, null=True)),
                        ("manifest_sha256", models.CharField(blank=True, max_length=64)),
                        (
                            "pdf_sha256",
                            models.CharField(blank=True, db_index=True, max_length=64),
                        ),
                        ("pdf_signature", models.TextField(blank=True)),
                        ("manifest_signature", models.TextField(blank=True)),
                        ("openpgp_fingerprint", models.CharField(blank=True, max_length=40)),
                        ("issuer_key_id", models.CharField(blank=True, max_length=64)),
                        ("delivered_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "created_by",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "letter",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="exports",
                                to="letters.letter",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "signatures_export",
                        "ordering": ["-created_at"],
                    },
                ),
                migrations.CreateModel(
                    name="Delivery",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("delivered_at", models.DateTimeField(verbose_name="delivered at")),
                        (
                            "recipient",
                            models.CharField(max_length=200, verbose_name="delivered to"),
                        ),
                        (
                            "method",
                            models.CharField(
                                choices=[
                                    ("in_person", "In person"),
                                    ("email", "By email"),
                                    ("post", "By post"),
                                    ("other", "Other"),
                                ],
                                max_length=16,
                                verbose_name="how",
                            ),
                        ),
                        (
                            "notes",
                            models.TextField(blank=True, max_length=2000, verbose_name="notes"),
                        ),
                        (
                            "response",
                            models.TextField(
                                blank=True, max_length=5000, verbose_name="response"
                            ),
                        ),
                        (
                            "response_at",
                            models.DateTimeField(
                                blank=True, null=True, verbose_name="response received"
                            ),
                        ),
                        ("recorded_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "letter",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="delivery",
                                to="letters.letter",
                            ),
                        ),
                        (
                            "recorded_by",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "export",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="delivery",
                                to="petitions.export",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "signatures_delivery",
                    },
                ),
                migrations.CreateModel(
                    name="CampaignKey",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("fingerprint", models.CharField(max_length=40, unique=True)),
                        ("public_key", models.TextField()),
                        (
                            "source",
                            models.CharField(
                                choices=[
                                    ("generated", "Generated on this server"),
                                    ("imported", "Imported signing (sub)key"),
                                ],
                                max_length=16,
                            ),
                        ),
                        ("passphrase_encrypted", models.BinaryField(blank=True, default=b"")),
                        ("active", models.BooleanField(default=True)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "campaign",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="openpgp_keys",
                                to="organizing.campaign",
                            ),
                        ),
                        (
                            "created_by",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "signatures_campaignkey",
                        "ordering": ["-created_at"],
                        "constraints": [
                            models.UniqueConstraint(
                                condition=models.Q(("active", True)),
                                fields=("campaign",),
                                name="one_active_openpgp_key_per_campaign",
                            )
                        ],
                    },
                ),
                migrations.AddConstraint(
                    model_name="export",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("status__in", ["queued", "running", "done"])),
                        fields=("letter", "state_key"),
                        name="one_live_export_per_state",
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
