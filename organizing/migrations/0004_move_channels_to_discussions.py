# The discussion channels' models moved to the discussions app. Their tables,
# indexes, constraints and rows stay as they are: this migration removes the
# models from organizing's state only, and discussions/migrations/0001_initial
# adds them to the discussions app's state only (same db_table names).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("organizing", "0003_last_login_day"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="WrappedKey"),
                migrations.DeleteModel(name="Message"),
                migrations.DeleteModel(name="ChannelKeyEpoch"),
                migrations.DeleteModel(name="MemberDeviceKey"),
                migrations.DeleteModel(name="DiscussionChannel"),
            ],
            database_operations=[],
        ),
    ]
