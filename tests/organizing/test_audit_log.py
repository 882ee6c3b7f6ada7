"""The append-only audit log: nothing updates or deletes it, organizer and
delegate actions are recorded, and only organizers (and operators, read-only)
see it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models.deletion import ProtectedError
from django.urls import reverse

from organizing import services
from organizing.models import AuditEntry, Campaign, Membership, Role
from tests.support.users import make_user


@pytest.fixture
def entry(roles):
    return services.audit_record(
        campaign=roles.campaign, actor=roles.organizer, action="test.action", summary="first"
    )


def test_entries_cannot_be_changed(entry):
    entry.summary = "rewritten"
    with pytest.raises(TypeError, match="append-only"):
        entry.save()
    assert AuditEntry.objects.get(pk=entry.pk).summary == "first"


def test_entries_cannot_be_deleted(entry):
    with pytest.raises(TypeError, match="append-only"):
        entry.delete()
    with pytest.raises(TypeError, match="append-only"):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(TypeError, match="append-only"):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_entries_cannot_be_bulk_updated(entry):
    with pytest.raises(TypeError, match="append-only"):
        AuditEntry.objects.filter(pk=entry.pk).update(summary="rewritten")
    with pytest.raises(TypeError, match="append-only"):
        AuditEntry.objects.update(action="x")
    assert AuditEntry.objects.get(pk=entry.pk).summary == "first"


def test_a_campaign_with_history_cannot_be_deleted(entry, roles):
    with pytest.raises(ProtectedError):
        Campaign.objects.filter(pk=roles.campaign.pk).delete()
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_entry_survives_the_actor_account(entry, roles):
    email = roles.organizer.email
    roles.organizer.delete()
    kept = AuditEntry.objects.get(pk=entry.pk)
    assert kept.actor is None
    assert kept.actor_label == email


def test_system_entries_have_no_actor(roles):
    entry = services.audit_record(campaign=roles.campaign, actor=None, action="system.x")
    assert (entry.actor, entry.actor_label) == (None, "system")


def test_organizer_actions_are_recorded_with_actor_object_and_time(roles):
    campaign = services.campaign_create(
        creator=roles.organizer, name="New", slug="new-one", employer_name="E"
    )
    services.campaign_update(actor=roles.organizer, campaign=campaign, name="Renamed")
    created = services.invitation_create(actor=roles.organizer, campaign=campaign, max_uses=2)
    services.invitation_revoke(actor=roles.organizer, invitation=created.invitation)
    newcomer = make_user()
    invite = services.invitation_create(
        actor=roles.organizer, campaign=campaign, role=Role.DELEGATE
    )
    joined = services.invitation_accept(user=newcomer, token=invite.token)
    services.membership_change_role(actor=roles.organizer, membership=joined, role=Role.MEMBER)
    services.membership_remove(actor=roles.organizer, membership=joined)

    entries = list(AuditEntry.objects.filter(campaign=campaign).order_by("id"))
    assert [e.action for e in entries] == [
        "campaign.create",
        "campaign.update",
        "invitation.create",
        "invitation.revoke",
        "invitation.create",
        "membership.join",
        "membership.role",
        "membership.remove",
    ]
    for e in entries:
        assert e.created_at is not None
        expected_actor = newcomer if e.action == "membership.join" else roles.organizer
        assert e.actor == expected_actor
        assert e.actor_label == expected_actor.email
    assert entries[0].object_type == "campaign" and entries[0].object_id == str(campaign.pk)
    assert entries[2].object_type == "invitation"
    assert entries[2].object_id == str(created.invitation.pk)


def test_plain_member_joins_are_not_recorded(roles):
    created = services.invitation_create(actor=roles.organizer, campaign=roles.campaign)
    services.invitation_accept(user=make_user(), token=created.token)
    assert not AuditEntry.objects.filter(action="membership.join").exists()


def test_unchanged_settings_write_no_entry(roles):
    services.campaign_update(
        actor=roles.organizer, campaign=roles.campaign, name=roles.campaign.name
    )
    assert not AuditEntry.objects.filter(action="campaign.update").exists()


def test_audit_page_shows_the_campaigns_entries_newest_first(roles, client_for):
    for n in range(3):
        services.audit_record(
            campaign=roles.campaign, actor=roles.organizer, action=f"test.step{n}"
        )
    services.audit_record(
        campaign=roles.other_campaign, actor=roles.other_organizer, action="test.elsewhere"
    )
    text = client_for(roles.organizer).get(reverse("organizing:audit", args=["acme"])).content
    text = text.decode()
    assert text.index("test.step2") < text.index("test.step1") < text.index("test.step0")
    assert "test.elsewhere" not in text


def test_audit_page_paginates(roles, client_for):
    AuditEntry.objects.bulk_create(
        [
            AuditEntry(
                campaign=roles.campaign,
                actor_label="x",
                action=f"bulk.{n}",
                created_at=roles.campaign.created_at + timedelta(seconds=n),
            )
            for n in range(60)
        ]
    )
    client = client_for(roles.organizer)
    first = client.get(reverse("organizing:audit", args=["acme"]))
    assert "bulk.59" in first.content.decode() and "bulk.5<" not in first.content.decode()
    second = client.get(reverse("organizing:audit", args=["acme"]), {"page": 2})
    assert "bulk.0<" in second.content.decode()


@pytest.mark.parametrize("role", ["anonymous", "member", "delegate", "other_organizer"])
def test_audit_entries_are_hidden_from_everyone_but_organizers(roles, client_for, role):
    services.audit_record(campaign=roles.campaign, actor=roles.organizer, action="secret.step")
    client = client_for(roles.users()[role])
    for url in (
        reverse("organizing:audit", args=["acme"]),
        reverse("organizing:manage", args=["acme"]),
        reverse("organizing:campaign", args=["acme"]),
        reverse("organizing:dashboard"),
    ):
        response = client.get(url)
        assert b"secret.step" not in response.content, (role, url)


# --- the operators' admin ---------------------------------------------------------------


@pytest.fixture
def operator_client(client_for):
    """An operator signed in with both factors (the admin refuses less)."""
    return client_for(make_user(mfa=True, is_staff=True, is_superuser=True))


def test_operators_read_the_audit_log_but_cannot_change_it(entry, operator_client):
    client = operator_client
    assert client.get("/operator/organizing/auditentry/").status_code == 200
    assert client.get(f"/operator/organizing/auditentry/{entry.pk}/change/").status_code == 200
    assert client.get("/operator/organizing/auditentry/add/").status_code == 403
    assert client.get(f"/operator/organizing/auditentry/{entry.pk}/delete/").status_code == 403
    response = client.post(
        f"/operator/organizing/auditentry/{entry.pk}/change/", {"summary": "rewritten"}
    )
    assert response.status_code == 403
    assert AuditEntry.objects.get(pk=entry.pk).summary == "first"


def test_operators_cannot_change_campaigns_memberships_or_invitations(roles, operator_client):
    """They change through the campaign pages' services (role checks, the audit
    log); the admin would bypass both."""
    client = operator_client
    invitation = services.invitation_create(actor=roles.organizer, campaign=roles.campaign)
    invitation = invitation.invitation
    campaign_url = f"/operator/organizing/campaign/{roles.campaign.pk}/change/"
    page = client.get(campaign_url)
    assert page.status_code == 200
    assert b'name="membership_set-0-role"' not in page.content  # no inline editing
    assert client.post(campaign_url, {"name": "Renamed"}).status_code == 403
    assert client.get("/operator/organizing/campaign/add/").status_code == 403
    delete = f"/operator/organizing/campaign/{roles.campaign.pk}/delete/"
    assert client.post(delete, {"post": "yes"}).status_code == 403
    invitation_url = f"/operator/organizing/invitation/{invitation.pk}/change/"
    assert client.post(invitation_url, {"max_uses": 999}).status_code == 403
    roles.campaign.refresh_from_db()
    invitation.refresh_from_db()
    assert roles.campaign.name == "Acme workers" and invitation.max_uses != 999
    assert Membership.objects.filter(campaign=roles.campaign).count() == 3


# Memberships are shown inline on the campaign page.
@pytest.mark.parametrize("model", ["user", "campaign", "invitation", "auditentry"])
def test_admin_pages_work_for_operators(roles, entry, operator_client, model):
    assert operator_client.get(f"/operator/organizing/{model}/").status_code == 200
    obj = {
        "user": roles.member,
        "campaign": roles.campaign,
        "invitation": services.invitation_create(
            actor=roles.organizer, campaign=roles.campaign
        ).invitation,
        "auditentry": entry,
    }[model]
    assert operator_client.get(f"/operator/organizing/{model}/{obj.pk}/change/").status_code == 200


@pytest.mark.parametrize("role", ["member", "delegate", "organizer"])
def test_campaign_roles_do_not_get_into_the_admin(roles, client_for, role):
    response = client_for(roles.users()[role]).get("/operator/organizing/auditentry/")
    assert response.status_code == 302
    assert response["Location"].startswith("/operator/login/")
