from django.db import models


class AuditEvent(models.Model):
    """One audited write. Append-only: no service updates or deletes rows.

    Each row carries a keyed ``content_hash`` made in its write's transaction; rows of one
    brand form a keyed hash chain (``prev_hash`` → ``hash``) in ``seq`` order, so an edited,
    deleted or inserted row is detectable by ``manage.py verify_audit`` (audit/chain.py has
    the exact scheme). A row is written unlinked (``seq`` null, link columns blank) and linked
    moments later by ``audit.services.audit_chain_link``, which updates only the link columns
    — so writers of one brand never wait on each other's commits, and the database role needs
    UPDATE on those columns alone (see docs/data-model.md).
    """

    brand = models.ForeignKey("brands.Brand", on_delete=models.PROTECT, related_name="+")
    seq = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()
    actor_kind = models.CharField(max_length=16)
    actor_label = models.CharField(max_length=200)
    actor_detail = models.JSONField(default=dict, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=32)
    target_id = models.CharField(max_length=64)
    changes = models.JSONField(default=dict, blank=True)
    channel = models.CharField(max_length=16)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    # Set once, by audit_record: HMAC of the content above, and the id of the key that made it.
    content_hash = models.CharField(max_length=64, blank=True)
    content_key_id = models.CharField(max_length=16, blank=True)
    # The link columns: the only ones the linker updates (blank until linked).
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, blank=True)
    link_key_id = models.CharField(max_length=16, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["brand", "seq"], name="audit_event_brand_seq_uniq"),
        ]
        indexes = [
            # The linker's work list: small, since rows leave it within a second.
            models.Index(
                fields=["brand", "id"],
                condition=models.Q(seq__isnull=True),
                name="audit_unlinked_idx",
            ),
            models.Index(fields=["brand", "created_at"], name="audit_brand_time_idx"),
            models.Index(fields=["brand", "action", "created_at"], name="audit_brand_action_idx"),
            models.Index(
                fields=["brand", "target_type", "target_id"], name="audit_brand_target_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id} by {self.actor_label}"


class AuditChainHead(models.Model):
    """The last link of a brand's chain. Locked FOR UPDATE by the linker, so one linker at a
    time extends a brand's chain; writers never touch it."""

    brand = models.OneToOneField(
        "brands.Brand", on_delete=models.PROTECT, primary_key=True, related_name="+"
    )
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"audit head of brand {self.brand_id} at {self.seq}"
