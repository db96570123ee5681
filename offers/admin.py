"""Admin for offers, payout rules and cap counters. Every write is an offers.services call;
status changes are actions, and the inbound-postback secret is never shown except once,
right after the offer is created or its secret rotated."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from backoffice.admin_base import (
    BrandScopedAdmin,
    ReadOnlyBrandAdmin,
    ServiceModelForm,
    admin_actor,
    brand_list_filter,
    join_display,
    related_filter,
    service_action,
)
from backoffice.admin_columns import related_slug
from core.links import inbound_postback_url, tracking_link_template
from offers.forms import OfferAddForm, OfferChangeForm
from offers.models import AmountType, Offer, OfferCapCounter, OfferStatus, PayoutRule
from offers.services import (
    CAP_FIELDS,
    UPDATABLE_FIELDS,
    offer_archive,
    offer_create,
    offer_delete_payout_rule,
    offer_pause,
    offer_resume,
    offer_rotate_postback_secret,
    offer_set_caps,
    offer_set_payout_rule,
    offer_update,
)


def _show_new_secrets(request: HttpRequest, results: list[tuple[Any, Any]]) -> None:
    for offer, (_, secret) in results:
        messages.warning(
            request,
            f"New postback secret for {offer.slug}: {secret} — Copy it now; it won't be "
            "shown again.",
        )


@admin.register(Offer)
class OfferAdmin(BrandScopedAdmin):
    admin_add = True
    admin_change = True
    form = OfferChangeForm
    add_form = OfferAddForm
    list_display = (
        "slug",
        "name",
        related_slug("brand"),
        "status",
        "payout",
        "caps",
        "is_private",
        "created_at",
    )
    list_select_related = ("brand",)
    list_filter = ("status", "payout_type", "is_private", brand_list_filter())
    search_fields = ("slug", "name", "destination_url")
    ordering = ("-created_at", "-id")
    actions = ("pause_offers", "resume_offers", "archive_offers", "rotate_postback_secrets")
    add_fieldsets = (
        (None, {"fields": ("brand", "slug", "name", "destination_url", "fallback_url")}),
        (
            "Money",
            {
                "fields": (
                    "currency",
                    "payout_type",
                    "payout_amount",
                    "revenue_type",
                    "revenue_amount",
                )
            },
        ),
        ("Targeting", {"fields": ("geo_allow", "device_allow", "deep_link_hosts")}),
        ("Caps", {"fields": ("daily_cap", "weekly_cap", "monthly_cap", "cap_mode")}),
        ("Postbacks", {"fields": ("postback_url_template",)}),
    )
    fieldsets = (
        (None, {"fields": ("brand", "slug", "status", "name", "destination_url", "fallback_url")}),
        (
            "Money",
            {
                "fields": (
                    "currency",
                    "payout_type",
                    "payout_amount",
                    "revenue_type",
                    "revenue_amount",
                    "payout_rules_table",
                )
            },
        ),
        (
            "Targeting",
            {
                "fields": (
                    "geo_allow",
                    "device_allow",
                    "deep_link_hosts",
                    "is_private",
                    "allowed_partners_list",
                )
            },
        ),
        ("Caps", {"fields": ("daily_cap", "weekly_cap", "monthly_cap", "cap_mode")}),
        ("Attribution and approval", {"fields": ("attribution_window_days", "hold_days")}),
        ("Recurring commissions", {"fields": ("recurring_months", "recurring_rate_percent")}),
        (
            "Postbacks",
            {
                "fields": (
                    "postback_secret_state",
                    "postback_allowed_ips",
                    "allow_unsigned_postbacks",
                    "min_conversion_seconds",
                    "postback_url_template",
                )
            },
        ),
        ("Links", {"fields": ("tracking_link", "inbound_postback")}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )
    readonly_fields = (
        "tracking_link",
        "inbound_postback",
        "brand",
        "slug",
        "status",
        "payout_rules_table",
        "allowed_partners_list",
        "postback_secret_state",
        "created_at",
        "updated_at",
    )
    # Belt and braces: no form of this admin may ever carry the secrets.
    exclude = ("postback_secret", "previous_postback_secret", "previous_secret_valid_until")

    def is_editable(self, obj: Offer) -> bool:
        # offer_update refuses archived offers: show them read-only rather than a form that
        # can never save.
        return obj.status != OfferStatus.ARCHIVED

    # --- display --------------------------------------------------------------------------

    @admin.display(description="payout", ordering="payout_amount")
    def payout(self, obj: Offer) -> str:
        if obj.payout_type == AmountType.PERCENT:
            return f"{obj.payout_amount}%"
        return f"{obj.payout_amount} {obj.currency}"

    @admin.display(description="caps (day/week/month)")
    def caps(self, obj: Offer) -> str:
        values = (obj.daily_cap, obj.weekly_cap, obj.monthly_cap)
        if all(value is None for value in values):
            return "—"
        return (
            " / ".join("∞" if value is None else str(value) for value in values)
            + f" ({obj.cap_mode})"
        )

    # The same URLs the API's offer serializer gives (core.links), to hand to partners and the
    # advertiser without leaving the page.
    @admin.display(description="tracking link (partners fill in their id)")
    def tracking_link(self, obj: Offer) -> str:
        url = tracking_link_template(brand_slug=obj.brand.slug, offer_slug=obj.slug)
        return format_html('<code class="trk-url">{}</code>', url)

    @admin.display(description="inbound postback URL (for the advertiser)")
    def inbound_postback(self, obj: Offer) -> str:
        url = inbound_postback_url(brand_slug=obj.brand.slug, offer_slug=obj.slug)
        return format_html('<code class="trk-url">{}</code>', url)

    @admin.display(description="inbound postback secret")
    def postback_secret_state(self, obj: Offer) -> str:
        if not obj.postback_secret:
            return "Not set. Use the “Rotate postback secret” action to create one."
        state = "Set (shown only once, when rotated)."
        if obj.previous_postback_secret and obj.previous_secret_valid_until:
            until = f"{obj.previous_secret_valid_until:%Y-%m-%d %H:%M}"
            state += f" The previous secret stays valid until {until} UTC."
        return state

    @admin.display(description="allowed partners (private offers)")
    def allowed_partners_list(self, obj: Offer) -> str:
        return join_display(partner.slug for partner in obj.allowed_partners.order_by("slug"))

    @admin.display(description="payout rules")
    def payout_rules_table(self, obj: Offer) -> str:
        rules = obj.payout_rules.select_related("partner").order_by("event_type", "id")
        changelist = reverse("admin:offers_payoutrule_changelist")
        add = reverse("admin:offers_payoutrule_add")
        rows = format_html_join(
            "",
            "<li>{}: {} {}</li>",
            (
                (
                    " + ".join(
                        filter(
                            None,
                            [
                                f"partner {rule.partner.slug}" if rule.partner else "",
                                f"event {rule.event_type}" if rule.event_type else "",
                            ],
                        )
                    ),
                    rule.payout_type,
                    rule.payout_amount,
                )
                for rule in rules
            ),
        )
        return format_html(
            '<ul>{}</ul><a href="{}?offer__id__exact={}">Manage payout rules</a> · '
            '<a href="{}?offer={}">Add a rule</a>',
            rows or format_html("<li>{}</li>", "None: the offer payout applies."),
            changelist,
            obj.pk,
            add,
            obj.pk,
        )

    # --- writes ---------------------------------------------------------------------------

    def perform_write(
        self, request: HttpRequest, form: ServiceModelForm, obj: Offer | None
    ) -> Offer:
        data = form.cleaned_data
        changed = set(form.changed_data)
        if obj is None:
            actor = admin_actor(request, data["brand"])
            offer = offer_create(
                actor=actor,
                offer_id=data["slug"] or None,
                name=data["name"],
                destination_url=data["destination_url"],
                fallback_url=data["fallback_url"],
                currency=data["currency"] or None,
                payout_type=data["payout_type"],
                payout_amount=data["payout_amount"],
                revenue_type=data["revenue_type"],
                revenue_amount=data["revenue_amount"],
                postback_url_template=data["postback_url_template"],
                geo_allow=data["geo_allow"],
                deep_link_hosts=data["deep_link_hosts"],
                device_allow=data["device_allow"],
            )
            if data.get("allow_unsigned_postbacks"):
                offer = offer_update(actor=actor, offer=offer, allow_unsigned_postbacks=True)
            # Shown once, like a rotated secret: the admin never displays it again.
            messages.warning(
                request,
                f"Postback secret for {offer.slug}: {offer.postback_secret} — Copy it now; it "
                "won't be shown again. Unsigned postbacks to this offer are refused until "
                "“Allow unsigned postbacks” or postback allowed IPs are set.",
            )
        else:
            actor = self.actor_for(request, obj)
            offer = obj
            fields = {name: data[name] for name in UPDATABLE_FIELDS if name in changed}
            if fields:
                offer = offer_update(actor=actor, offer=obj, **fields)
        if changed & set(CAP_FIELDS):
            offer = offer_set_caps(
                actor=actor,
                offer=offer,
                daily=data["daily_cap"],
                weekly=data["weekly_cap"],
                monthly=data["monthly_cap"],
                mode=data["cap_mode"],
            )
        return offer

    # --- actions --------------------------------------------------------------------------

    pause_offers = service_action(
        offer_pause,
        target="offer",
        description="Pause selected offers",
        done="Paused {count} offer(s).",
    )
    resume_offers = service_action(
        offer_resume,
        target="offer",
        description="Resume selected offers",
        done="Resumed {count} offer(s).",
    )
    archive_offers = service_action(
        offer_archive,
        target="offer",
        description="Archive selected offers (permanent)",
        done="Archived {count} offer(s).",
    )
    rotate_postback_secrets = service_action(
        offer_rotate_postback_secret,
        target="offer",
        description="Rotate postback secret of selected offers",
        done="Rotated the postback secret of {count} offer(s).",
        report=_show_new_secrets,
    )


class PayoutRuleAddForm(ServiceModelForm):
    class Meta(ServiceModelForm.Meta):
        model = PayoutRule
        fields = (
            "offer",
            "partner",
            "event_type",
            "payout_type",
            "payout_amount",
            "revenue_type",
            "revenue_amount",
        )
        help_texts = {
            "partner": "Leave empty for any partner.",
            "event_type": "Leave empty for any event. A rule needs a partner, an event, or both; "
            "an existing rule for the same partner and event is replaced.",
        }

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what ModelForm.clean returns
        offer, partner = data.get("offer"), data.get("partner")
        if offer and partner and offer.brand_id != partner.brand_id:
            self.add_error("partner", "This partner is not in the offer's brand.")
        return data


class PayoutRuleChangeForm(ServiceModelForm):
    class Meta(ServiceModelForm.Meta):
        model = PayoutRule
        fields = ("payout_type", "payout_amount", "revenue_type", "revenue_amount")


@admin.register(PayoutRule)
class PayoutRuleAdmin(BrandScopedAdmin):
    """Per-partner / per-event payout overrides, written by offer_set_payout_rule (which
    replaces the rule for the same offer, partner and event) and offer_delete_payout_rule."""

    admin_add = True
    admin_change = True
    admin_delete = True
    form = PayoutRuleChangeForm
    add_form = PayoutRuleAddForm
    list_display = (
        related_slug("offer"),
        related_slug("partner"),
        "event_type",
        "payout_type",
        "payout_amount",
        "revenue_type",
        "revenue_amount",
        related_slug("brand"),
    )
    list_select_related = ("offer", "partner", "brand")
    list_filter = ("payout_type", related_filter("offer"), brand_list_filter())
    search_fields = ("offer__slug", "partner__slug", "event_type")
    ordering = ("offer__slug", "event_type", "id")
    add_fieldsets = ((None, {"fields": PayoutRuleAddForm.Meta.fields}),)
    fields = (
        "brand",
        "offer",
        "partner",
        "event_type",
        "payout_type",
        "payout_amount",
        "revenue_type",
        "revenue_amount",
        "created_at",
        "updated_at",
    )
    readonly_fields = ("brand", "offer", "partner", "event_type", "created_at", "updated_at")

    def perform_write(
        self, request: HttpRequest, form: ServiceModelForm, obj: PayoutRule | None
    ) -> PayoutRule:
        data = form.cleaned_data
        if obj is None:
            offer, partner, event_type = data["offer"], data["partner"], data["event_type"]
        else:
            if not form.has_changed():
                return obj
            offer, partner, event_type = obj.offer, obj.partner, obj.event_type
        return offer_set_payout_rule(
            actor=admin_actor(request, offer.brand),
            offer=offer,
            partner=partner,
            event_type=event_type,
            payout_type=data["payout_type"],
            payout_amount=data["payout_amount"],
            revenue_type=data["revenue_type"] or "",
            revenue_amount=data["revenue_amount"],
        )

    def perform_delete(self, request: HttpRequest, obj: PayoutRule) -> None:
        offer_delete_payout_rule(actor=self.actor_for(request, obj), rule=obj)


@admin.register(OfferCapCounter)
class OfferCapCounterAdmin(ReadOnlyBrandAdmin):
    brand_path = "offer__brand"
    list_display = (related_slug("offer"), "brand", "period", "period_start", "count")
    list_select_related = ("offer", "offer__brand")
    list_filter = ("period", related_filter("offer"))
    search_fields = ("offer__slug",)
    ordering = ("-period_start", "offer_id", "period")
    date_hierarchy = "period_start"

    @admin.display(description="brand", ordering="offer__brand__slug")
    def brand(self, obj: OfferCapCounter) -> str:
        return obj.offer.brand.slug
