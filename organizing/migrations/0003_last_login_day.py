"""Login times are kept to the day (organizing.services.on_user_logged_in):
truncate the ones stored before to midnight UTC."""

import datetime

from django.db import migrations
from django.db.models.functions import TruncDay


def truncate_last_login(apps, schema_editor):
    User = apps.get_model("organizing", "User")
    User.objects.exclude(last_login=None).update(
        last_login=TruncDay("last_login", tzinfo=datetime.UTC)
    )


class Migration(migrations.Migration):
    dependencies = [("organizing", "0002_discussion_channels")]

    operations = [migrations.RunPython(truncate_last_login, migrations.RunPython.noop)]
