"""allauth's account adapter: rate limits without IP addresses, and the way
back to an invitation opened before signing up."""

from allauth.account.adapter import DefaultAccountAdapter

from core.crypto import client_key_for
from organizing.pending_invitation import pending_join_url


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request) -> str:
        # allauth keys its rate limits on this value. Return the keyed hash the
        # middleware computed; the address itself is never seen.
        key = getattr(request, "client_key", None)
        return key or client_key_for(request.META.get("REMOTE_ADDR", ""))

    # allauth asks these only when no `next` says where to go: after signing
    # up, confirming the address (which signs in) or signing in, an
    # invitation this browser opened comes first (organizing.pending_invitation).

    def get_login_redirect_url(self, request) -> str:
        return pending_join_url(request) or super().get_login_redirect_url(request)

    def get_signup_redirect_url(self, request) -> str:
        return pending_join_url(request) or super().get_signup_redirect_url(request)
