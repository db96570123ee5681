"""What every Trcker ModelAdmin shares: brand-membership permissions, the audit actor of an
admin request, and forms whose "save" is a domain service call.

Permissions come from brand membership (``StaffMembership``), not from Django model
permissions: staff users have none assigned, and a role is per brand, which Django's global
permissions cannot express. A staff member with no membership sees nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from audit.actor import Actor
from brands.models import WRITE_ROLES, Brand
from brands.selectors import staff_roles_for_user
from core.errors import DomainError, PermissionDeniedError

admin.site.site_header = "Trcker administration"
admin.site.site_title = "Trcker admin"
admin.site.index_title = "Brands, offers, partners and conversions"

if TYPE_CHECKING:
    # The mixin is always combined with ModelAdmin (BrandScopedAdmin below); telling the
    # checker so lets it check the mixin's super() calls and overrides against ModelAdmin's.
    from django.contrib.admin import ModelAdmin as _AdminBase
else:
    from typing import Generic as _AdminBase

_M = TypeVar("_M", bound=models.Model)

_ACCESS_ATTR = "_trcker_brand_access"
_DELETE_FAILED_ATTR = "_trcker_delete_failed"


@dataclass(frozen=True)
class BrandAccess:
    """Which brands the request's user may read and write. Superusers may do both everywhere."""

    is_superuser: bool = False
    roles: Mapping[int, str] = field(default_factory=dict)

    @property
    def readable_ids(self) -> frozenset[int]:
        return frozenset(self.roles)

    @property
    def writable_ids(self) -> frozenset[int]:
        return frozenset(brand_id for brand_id, role in self.roles.items() if role in WRITE_ROLES)

    @property
    def any_readable(self) -> bool:
        return self.is_superuser or bool(self.roles)

    @property
    def any_writable(self) -> bool:
        return self.is_superuser or bool(self.writable_ids)

    def can_read(self, brand_id: int | None) -> bool:
        return self.is_superuser or (brand_id is not None and brand_id in self.roles)

    def can_write(self, brand_id: int | None) -> bool:
        return self.is_superuser or (brand_id is not None and brand_id in self.writable_ids)

    def writable_brands(self) -> QuerySet[Brand]:
        if self.is_superuser:
            return Brand.objects.all()
        return Brand.objects.filter(pk__in=self.writable_ids)


def brand_access(request: HttpRequest) -> BrandAccess:
    """The user's brand roles, read once per request (permission hooks run many times a page)."""
    access = getattr(request, _ACCESS_ATTR, None)
    if access is None:
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            access = BrandAccess()
        elif user.is_superuser:
            access = BrandAccess(is_superuser=True)
        else:
            access = BrandAccess(roles=staff_roles_for_user(user))
        setattr(request, _ACCESS_ATTR, access)
    return access


def admin_actor(request: HttpRequest, brand: Brand) -> Actor:
    """The audit actor of an admin write on ``brand``: ``user:<id>`` on channel admin, with
    write scope only for owners/admins (and superusers), so services enforce the role too."""
    access = brand_access(request)
    if not access.can_read(brand.pk):
        # Unreachable through the scoped querysets; a guard, not a flow.
        raise PermissionDeniedError("You are not a member of this brand.", code="not_a_member")
    return Actor.for_admin(
        request.user,
        brand_id=brand.pk,
        brand_slug=brand.slug,
        write=access.can_write(brand.pk),
        request=request,
    )


class CommaListField(forms.CharField):
    """A list of short strings typed as ``US, DE, FR`` instead of raw JSON. Normalising the
    entries (case, validity) is left to the service."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]  # a list, not a str
        if isinstance(value, list | tuple):
            return [str(item) for item in value]
        text = super().to_python(value) or ""
        return [item.strip() for item in text.replace("\n", ",").split(",") if item.strip()]


def _formfield(db_field: models.Field, **kwargs: Any) -> forms.Field | None:
    if isinstance(db_field, models.URLField):
        # Destinations and postback URLs are https in practice; Django 6 defaults to it too.
        kwargs.setdefault("assume_scheme", "https")
    return db_field.formfield(**kwargs)


class ServiceModelForm(forms.ModelForm):
    """A ModelForm whose successful validation *is* the write: once the fields parse, it asks
    its ModelAdmin to call the domain service(s), inside one savepoint. A DomainError rolls
    that savepoint back and becomes a form error, so the admin re-renders the form instead of
    half-saving or answering 500. The instance itself is never saved by the form.
    """

    # Bound per request by BrandScopedAdminMixin.get_form.
    model_admin: ClassVar[BrandScopedAdminMixin[Any] | None] = None
    admin_request: ClassVar[HttpRequest | None] = None
    admin_obj: ClassVar[models.Model | None] = None
    # Service argument names and error codes → the form field an error belongs to.
    error_fields: ClassVar[Mapping[str, str]] = {}

    saved_object: models.Model | None = None
    _write_attempted = False

    class Meta:
        # Subclasses write ``class Meta(ServiceModelForm.Meta)``.
        formfield_callback = staticmethod(_formfield)

    def _post_clean(self) -> None:
        # Model validation, uniqueness and constraints are the service's to decide (it runs
        # full_clean and turns IntegrityErrors into ConflictErrors with stable codes); running
        # them here as well would give the admin rules of its own.
        return

    def full_clean(self) -> None:
        super().full_clean()
        if (
            not self.is_bound
            or self.errors
            or self.model_admin is None
            or self.admin_request is None
            or self._write_attempted
        ):
            return
        self._write_attempted = True
        try:
            with transaction.atomic():
                self.saved_object = self.model_admin.perform_write(
                    self.admin_request, self, self.admin_obj
                )
        except DomainError as exc:
            self.add_domain_error(exc)

    def add_domain_error(self, exc: DomainError) -> None:
        for name, field_messages in (exc.fields or {}).items():
            target = self.error_fields.get(name, name)
            if target in self.fields:
                self.add_error(target, list(field_messages))
        code_target = self.error_fields.get(exc.code)
        self.add_error(code_target if code_target in self.fields else None, exc.message)


class BrandScopedAdminMixin(_AdminBase[_M]):
    """Scopes a ModelAdmin to the user's brands and routes every write through services.

    Subclasses say where the brand is (``brand_path``), which writes they offer
    (``admin_add``/``admin_change``/``admin_delete``) and implement ``perform_write`` /
    ``perform_delete`` with service calls. ``read_only`` admins offer no write at all, to
    anyone, superusers included.
    """

    brand_path: ClassVar[str] = "brand"
    read_only: ClassVar[bool] = False
    admin_add: ClassVar[bool] = False
    admin_change: ClassVar[bool] = False
    admin_delete: ClassVar[bool] = False
    add_form: ClassVar[type[ServiceModelForm] | None] = None
    add_fieldsets: ClassVar[Any] = None

    # --- where the brand is ---------------------------------------------------------------

    def brand_id_of(self, obj: _M) -> int | None:
        if self.brand_path == "pk":
            return obj.pk
        *hops, last = self.brand_path.split("__")
        for hop in hops:
            obj = getattr(obj, hop)
            if obj is None:
                return None
        return getattr(obj, f"{last}_id")

    def brand_of(self, obj: _M) -> Brand:
        brand: Any = obj
        if self.brand_path != "pk":
            for hop in self.brand_path.split("__"):
                brand = getattr(brand, hop)
        return brand

    def actor_for(self, request: HttpRequest, obj: _M) -> Actor:
        return admin_actor(request, self.brand_of(obj))

    # --- rows -----------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[_M]:
        qs = super().get_queryset(request)
        access = brand_access(request)
        if access.is_superuser:
            return qs
        return qs.filter(**{f"{self.brand_path}__in": access.readable_ids})

    # --- permissions ----------------------------------------------------------------------

    def has_module_permission(self, request: HttpRequest) -> bool:
        return brand_access(request).any_readable

    def has_view_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        access = brand_access(request)
        if obj is None:
            return access.any_readable
        return access.can_read(self.brand_id_of(obj))

    def _can_write(self, request: HttpRequest, obj: _M | None) -> bool:
        if self.read_only:
            return False
        access = brand_access(request)
        if obj is None:
            return access.any_writable
        return access.can_write(self.brand_id_of(obj))

    def has_write_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        """Gate of the service-backed admin actions (``permissions=["write"]``)."""
        return self._can_write(request, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self.admin_add and self._can_write(request, None)

    def has_change_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        if not self.admin_change or not self._can_write(request, obj):
            return False
        return obj is None or self.is_editable(obj)

    def has_delete_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return self.admin_delete and self._can_write(request, obj)

    def is_editable(self, obj: _M) -> bool:
        """False turns a writable brand's row into a view-only page (e.g. archived offers)."""
        return True

    # --- forms ----------------------------------------------------------------------------

    def get_fieldsets(self, request: HttpRequest, obj: _M | None = None) -> Any:
        if obj is None and self.add_fieldsets is not None:
            return self.add_fieldsets
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: _M | None = None) -> Any:
        if obj is None:
            return ()
        return super().get_readonly_fields(request, obj)

    def get_form(
        self,
        request: HttpRequest,
        obj: _M | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> type[forms.ModelForm[_M]]:
        if obj is None and self.add_form is not None:
            kwargs.setdefault("form", self.add_form)
        form_class = super().get_form(request, obj, change=change, **kwargs)
        return type(
            form_class.__name__,
            (form_class,),
            {"model_admin": self, "admin_request": request, "admin_obj": obj},
        )

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial: dict[str, Any] = super().get_changeform_initial_data(request)
        if "brand" not in initial:
            only = list(brand_access(request).writable_brands().values_list("pk", flat=True)[:2])
            if len(only) == 1:
                initial["brand"] = only[0]
        return initial

    def formfield_for_dbfield(
        self, db_field: models.Field, request: HttpRequest, **kwargs: Any
    ) -> forms.Field | None:
        if isinstance(db_field, models.URLField):
            kwargs.setdefault("assume_scheme", "https")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def formfield_for_foreignkey(
        self, db_field: models.ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> forms.ModelChoiceField[Any] | None:
        related = db_field.related_model
        assert isinstance(related, type)  # a model class once the app registry is ready
        access = brand_access(request)
        several_brands = access.is_superuser or len(access.writable_ids) > 1
        if related is Brand:
            kwargs["queryset"] = access.writable_brands()
        elif any(f.name == "brand" for f in related._meta.fields):
            qs = related._default_manager.select_related("brand")
            if not access.is_superuser:
                qs = qs.filter(brand_id__in=access.writable_ids)
            kwargs["queryset"] = qs
        elif related is get_user_model():
            # No user picker: it would list every tenant's staff.
            kwargs["queryset"] = related._default_manager.none()
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if (
            several_brands
            and related is not Brand
            and formfield is not None
            and hasattr(formfield, "label_from_instance")
        ):
            # Offer and partner names repeat across brands; say which brand a choice is in.
            formfield.label_from_instance = lambda obj: f"{obj.brand.slug} · {obj}"  # type: ignore[method-assign]  # this field's own labels
        return formfield

    def perform_write(
        self, request: HttpRequest, form: ServiceModelForm, obj: _M | None
    ) -> models.Model:
        """Call the service(s) for an add (``obj is None``) or a change; return the row."""
        raise ImproperlyConfigured(f"{type(self).__name__} offers no form writes.")

    def save_form(self, request: HttpRequest, form: forms.ModelForm, change: bool) -> models.Model:
        saved = getattr(form, "saved_object", None)
        if saved is None:
            raise ImproperlyConfigured(f"{type(self).__name__} forms must be ServiceModelForms.")
        return saved

    def save_model(self, request: HttpRequest, obj: _M, form: Any, change: bool) -> None:
        """Already written by the service while the form validated (ServiceModelForm)."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Related rows are written by services too; the form holds nothing left to save."""

    # --- deletes --------------------------------------------------------------------------

    def perform_delete(self, request: HttpRequest, obj: _M) -> None:
        raise ImproperlyConfigured(f"{type(self).__name__} offers no deletes.")

    def _delete_one(self, request: HttpRequest, obj: _M) -> bool:
        try:
            with transaction.atomic():
                self.perform_delete(request, obj)
        except DomainError as exc:
            self.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
            return False
        return True

    def delete_model(self, request: HttpRequest, obj: _M) -> None:
        if not self._delete_one(request, obj):
            setattr(request, _DELETE_FAILED_ATTR, True)
            if transaction.get_connection().in_atomic_block:
                # delete_view logged the deletion in its transaction; undo that log entry too.
                transaction.set_rollback(True)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self._delete_one(request, obj)

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: Any) -> HttpResponse:
        if getattr(request, _DELETE_FAILED_ATTR, False):
            opts = self.model._meta
            return HttpResponseRedirect(
                reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
            )
        return super().response_delete(request, obj_display, obj_id)

    # --- actions (declare them with service_action below) ------------------------------------

    def run_action(
        self,
        request: HttpRequest,
        queryset: QuerySet,
        call: Callable[[Actor, Any], Any],
        *,
        done: str,
    ) -> list[tuple[models.Model, Any]]:
        """Run ``call(actor, row)`` per selected row, each in its own service transaction, so
        one refused row (wrong state, read-only role) does not undo the others."""
        if self.brand_path != "pk":
            queryset = queryset.select_related(self.brand_path)
        results = []
        for obj in queryset.order_by("pk"):
            try:
                result = call(self.actor_for(request, obj), obj)
            except DomainError as exc:
                self.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
                continue
            results.append((obj, result))
        if results:
            self.message_user(request, done.format(count=len(results)), messages.SUCCESS)
        return results


Report = Callable[[HttpRequest, list[tuple[models.Model, Any]]], None]


def service_action(
    service: Callable[..., Any],
    *,
    target: str,
    description: str,
    done: str,
    select_related: Sequence[str] = (),
    report: Report | None = None,
    **arguments: Any,
) -> Callable[[BrandScopedAdminMixin, HttpRequest, QuerySet], None]:
    """An admin action over a domain service, declared in one line on the ModelAdmin::

        pause_offers = service_action(
            offer_pause, target="offer", description="Pause selected offers",
            done="Paused {count} offer(s).",
        )

    For each selected row (in primary-key order) it calls
    ``service(actor=<the admin actor>, <target>=row, **arguments)`` in the row's own
    transaction (``run_action``): a refused row is reported as ``"<row>: <error message>"``
    and the others go on; ``done`` (with ``{count}``) reports the successes. Offered only to
    users who may write in the row's brand (``permissions=["write"]``); the service checks
    the actor's write scope again. ``report(request, [(row, result), …])`` may add messages
    about the results (e.g. a secret shown once)."""

    def action(
        model_admin: BrandScopedAdminMixin, request: HttpRequest, queryset: QuerySet
    ) -> None:
        if select_related:
            queryset = queryset.select_related(*select_related)
        results = model_admin.run_action(
            request,
            queryset,
            lambda actor, row: service(actor=actor, **{target: row}, **arguments),
            done=done,
        )
        if report is not None:
            report(request, results)

    # Named after the service, not "action": Django keys actions listed as callables by name.
    action.__name__ = action.__qualname__ = getattr(service, "__name__", "service_action")
    return admin.action(description=description, permissions=["write"])(action)


class BrandScopedAdmin(BrandScopedAdminMixin, admin.ModelAdmin):
    save_as = False
    # Click and audit tables grow large; a filtered changelist should not also count them all.
    show_full_result_count = False


class ReadOnlyBrandAdmin(BrandScopedAdmin):
    """Rows written elsewhere (click handler, postbacks, workers, audit_record): the
    brand's staff can look, nobody can write here."""

    read_only = True
    actions = None


def brand_list_filter() -> tuple[str, type[admin.FieldListFilter]]:
    # Lists only brands present in the (already scoped) changelist queryset, so the filter
    # sidebar never names another tenant; it hides itself when there is only one brand.
    return ("brand", admin.RelatedOnlyFieldListFilter)


def related_filter(path: str) -> tuple[str, type[admin.FieldListFilter]]:
    return (path, admin.RelatedOnlyFieldListFilter)


def join_display(values: Iterable[Any]) -> str:
    return ", ".join(str(value) for value in values) or "—"
