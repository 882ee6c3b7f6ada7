# The petition models moved to the petitions app (petitions/migrations/0001),
# keeping their tables: this removes them from the signatures app's state only.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("signatures", "0006_export_progress_at"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="Delivery"),
                migrations.DeleteModel(name="Export"),
                migrations.DeleteModel(name="CampaignKey"),
                migrations.DeleteModel(name="DelegateKey"),
            ],
            database_operations=[],
        ),
    ]
