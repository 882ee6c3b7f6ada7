"""allauth's account adapter: rate limits without IP addresses."""

from allauth.account.adapter import DefaultAccountAdapter

from core.crypto import client_key_for


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request) -> str:
        # allauth keys its rate limits on this value. Return the keyed hash the
        # middleware computed; the address itself is never seen.
        key = getattr(request, "client_key", None)
        return key or client_key_for(request.META.get("REMOTE_ADDR", ""))
