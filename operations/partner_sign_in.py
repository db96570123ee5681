"""The brand's OpenID Connect provider for partner portal sign-in. Like an integration's
connection: setting it is REST and the admin (a client secret is pasted there, not given to an
agent); reading it is REST and MCP (never the secret)."""

from __future__ import annotations

from audit.actor import Scope
from core.serializers import StrictSerializer
from operations.declaration import READ, Operation, RestRoute, ToolSpec
from partners import oidc_config
from partners.oidc_serializers import SignInProviderInput, SignInProviderOutput

TAG = "partners"
PATH = "partner-sign-in/oidc/"


class NoArguments(StrictSerializer):
    pass


OPERATIONS = [
    Operation(
        name="get_partner_sign_in_provider",
        description="The brand's OpenID Connect provider for partner portal sign-in: whether "
        "one is set, its name, issuer and client id (never the secret), and the redirect URI to "
        "register with it.",
        input=NoArguments,
        run=oidc_config.sign_in_provider_get,
        output=SignInProviderOutput,
        scope=Scope.READ,
        rest=RestRoute("GET", PATH, "partner-sign-in-provider", TAG),
        tool=ToolSpec("Partner sign-in provider", READ),
    ),
    Operation(
        name="set_partner_sign_in_provider",
        description="Set or change the brand's OpenID Connect provider for partners: "
        "display_name, issuer (https), client_id and client_secret (all four for a new one; "
        "the secret is stored encrypted and never shown again). Partners then see 'Sign in with "
        "<display_name>' on the portal and sign in as the partner whose email is the address "
        "the provider verified.",
        input=SignInProviderInput,
        run=oidc_config.sign_in_provider_set,
        output=SignInProviderOutput,
        scope=Scope.WRITE,
        rest=RestRoute("PUT", PATH, "partner-sign-in-provider-set", TAG),
        secret_arguments=frozenset({"client_secret"}),
    ),
    Operation(
        name="remove_partner_sign_in_provider",
        description="Remove the brand's OpenID Connect provider: partners sign in by emailed "
        "link only.",
        input=NoArguments,
        run=oidc_config.sign_in_provider_remove,
        output=SignInProviderOutput,
        scope=Scope.WRITE,
        rest=RestRoute("DELETE", PATH, "partner-sign-in-provider-remove", TAG),
    ),
]
