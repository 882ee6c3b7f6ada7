"""Golden set of audit-log action strings.

Audit entries are kept for good (the log is append-only) and operators
filter and read them by action: the strings the code writes must not change,
and a new one must be added here on purpose. The set is collected from the
source with `ast` (every `audit_record(action=...)` call), so a new call is
noticed. Frozen on commit 1d16306.
"""

from __future__ import annotations

import ast

from tests.contracts import paths
from tests.contracts.source import project_modules

# Computed on commit 1d16306; must never change (only grow, deliberately).
ACTIONS = {
    "attestation.activate",
    "attestation.create",
    "attestation.deactivate",
    "campaign.create",
    "campaign.update",
    "channel.archive",
    "channel.create",
    "channel.unarchive",
    "channel.update",
    "comment.add",
    "comment.reopen",
    "comment.resolve",
    "export.cancel",
    "export.deliver",
    "export.done",
    "export.response",
    "export.start",
    "invitation.create",
    "invitation.revoke",
    "invite_codes.create",
    "invite_codes.revoke",
    "invite_sheet.print",
    "letter.approve",
    "letter.close",
    "letter.create",
    "letter.deliver",
    "letter.open",
    "letter.return",
    "letter.save",
    "letter.submit",
    "letter.visibility",
    "membership.join",
    "membership.remove",
    "membership.role",
    "openpgp.delegate_key",
    "openpgp.delegate_key_remove",
    "openpgp.generated",
    "openpgp.imported",
    # Added with the letters' updates (issue 17).
    "update.delete",
    "update.edit",
    "update.post",
    # Added with moderation (issue 17).
    "hold_list.update",
    "report.dismiss",
    "signature.approve",
    "signature.hide",
    "signature.show",
}
# f-string actions, with the "{}" filled by the values of a choice.
TEMPLATED = {"openpgp.{}": lambda: paths.CampaignKey.Source.values}


def _strings(node: ast.expr, where: str) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _strings(node.body, where) | _strings(node.orelse, where)
    if isinstance(node, ast.JoinedStr):
        template = "".join(
            part.value if isinstance(part, ast.Constant) else "{}" for part in node.values
        )
        assert template in TEMPLATED, f"{where}: add {template!r} to TEMPLATED"
        return {template.format(value) for value in TEMPLATED[template]()}
    raise AssertionError(f"{where}: action={ast.unparse(node)} is not a string this test can read")


def actions_in_source() -> set[str]:
    found = set()
    for module in project_modules():
        for node in ast.walk(module.tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name != "audit_record":
                continue
            where = f"{module.path}:{node.lineno}"
            actions = [keyword.value for keyword in node.keywords if keyword.arg == "action"]
            assert len(actions) == 1, f"{where}: audit_record without action="
            found |= _strings(actions[0], where)
    return found


def test_audit_actions_are_the_frozen_ones():
    assert actions_in_source() == ACTIONS
