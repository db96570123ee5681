"""Output contracts of the fraud-score ranking and histogram (conversions.stats.fraud_scores),
part of the fraud summary."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class PartnerScoreOutput(serializers.Serializer[dict[str, Any]]):
    partner_id = serializers.CharField(help_text="The partner's slug.")
    name = serializers.CharField(help_text="The partner's name.")
    avg_score = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        help_text="Average fraud score (0–100) over its scored clicks and conversions together, "
        "flagged or not (decimal string, 2 places).",
    )
    max_score = serializers.IntegerField(
        help_text="Highest fraud score (0–100) among its clicks and conversions."
    )
    clicks = serializers.IntegerField(
        help_text="Its clicks in the period (every outcome; clicks older than the click "
        "retention are pruned and not counted)."
    )
    clicks_avg_score = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        allow_null=True,
        help_text="Average score of its clicks; null when it has none.",
    )
    clicks_max_score = serializers.IntegerField(
        allow_null=True, help_text="Highest score of its clicks; null when it has none."
    )
    conversions = serializers.IntegerField(help_text="Its conversions in the period, every status.")
    conversions_avg_score = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        allow_null=True,
        help_text="Average score of its conversions; null when it has none.",
    )
    conversions_max_score = serializers.IntegerField(
        allow_null=True, help_text="Highest score of its conversions; null when it has none."
    )


class ScoreBucketOutput(serializers.Serializer[dict[str, Any]]):
    score_from = serializers.IntegerField(help_text="Lowest score in the bucket (inclusive).")
    score_to = serializers.IntegerField(
        help_text="Highest score in the bucket (inclusive; the last bucket is 90–100)."
    )
    clicks = serializers.IntegerField(help_text="Clicks in the period scored in this range.")
    conversions = serializers.IntegerField(
        help_text="Conversions in the period (every status) scored in this range."
    )
