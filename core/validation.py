"""Model validation raised as the domain's ValidationError (one shape for every interface)."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models

from core.errors import ValidationError


def full_clean_or_raise(instance: models.Model, *, exclude: Iterable[str] = ()) -> None:
    try:
        # validate_unique/constraints are left to the database: services translate the
        # IntegrityError into a ConflictError with a precise code.
        instance.full_clean(
            exclude=list(exclude), validate_unique=False, validate_constraints=False
        )
    except DjangoValidationError as exc:
        fields = {
            name: [str(message) for message in messages]
            for name, messages in exc.message_dict.items()
        }
        first = next(iter(fields.items()))
        raise ValidationError(f"{first[0]}: {first[1][0]}", fields=fields) from None
