"""The contract of the brand's partner sign-in provider (``partners.oidc_config``), REST."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.serializers import StrictSerializer


class SignInProviderInput(StrictSerializer):
    display_name = serializers.CharField(
        max_length=64,
        required=False,
        help_text="The provider's name on the portal's button: 'Sign in with <display_name>'.",
    )
    issuer = serializers.CharField(
        max_length=512,
        required=False,
        help_text="The provider's issuer URL (https), as its ID tokens' iss names it; Trcker "
        "reads <issuer>/.well-known/openid-configuration.",
    )
    client_id = serializers.CharField(
        max_length=255, required=False, help_text="The client id the provider gave Trcker."
    )
    client_secret = serializers.CharField(
        max_length=512,
        required=False,
        help_text="The client secret. Stored encrypted and never shown again; leave it out to "
        "keep the current one.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError(
                "Give at least one of display_name, issuer, client_id, client_secret."
            )
        return attrs


class SignInProviderOutput(serializers.Serializer[Any]):
    configured = serializers.BooleanField(
        help_text="Whether partners can sign in through the brand's provider."
    )
    display_name = serializers.CharField(help_text="The name on the portal's button.")
    issuer = serializers.CharField(help_text="The provider's issuer URL.")
    client_id = serializers.CharField(help_text="The client id at the provider.")
    has_client_secret = serializers.BooleanField(
        help_text="Whether a client secret is set (it is never shown)."
    )
    secret_set_at = serializers.DateTimeField(
        allow_null=True, help_text="When the client secret was last set."
    )
    redirect_uri = serializers.CharField(
        help_text="Register exactly this redirect URI with the provider."
    )
    login_url = serializers.CharField(help_text="The portal's sign-in page for partners.")
