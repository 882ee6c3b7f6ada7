# The content types of the moved models change app label instead of being
# created anew, so the permissions granted on them (and the admin log
# entries about them) stay attached: auth_permission and django_admin_log
# point at a content type's id, which does not change.

from django.db import migrations

MOVED_MODELS = [
    "discussionchannel",
    "memberdevicekey",
    "channelkeyepoch",
    "wrappedkey",
    "message",
]


def relabel(apps, schema_editor, *, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    types = ContentType.objects.using(schema_editor.connection.alias)
    for model in MOVED_MODELS:
        # A database migrated without this step already has new content types:
        # leave both as they are rather than break the unique (app_label, model).
        if not types.filter(app_label=new, model=model).exists():
            types.filter(app_label=old, model=model).update(app_label=new)


def forwards(apps, schema_editor):
    relabel(apps, schema_editor, old="organizing", new="discussions")


def backwards(apps, schema_editor):
    relabel(apps, schema_editor, old="discussions", new="organizing")


class Migration(migrations.Migration):
    dependencies = [
        ("discussions", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
