"""Traffic at volume for the report benchmark, written by PostgreSQL itself (INSERT … SELECT
over generate_series): 10M clicks take minutes this way, hours through Python objects.

The shape is meant to look like an affiliate program, not like uniform noise, because rollup
sizes depend on it: 20 offers, 200 partners with a long tail (the top partner sends ~15 % of
clicks), each partner promoting three offers, 80 % of a partner's clicks from its home
country (30 countries in all), three device classes, 8 % refused clicks over four reasons,
10,000 sub1 values with a long tail, 90 days of traffic, and about 4 % of accepted clicks
converting. Clicks are written in time order, as the click writer appends them: a table's
physical order follows arrival, so a month's clicks sit in a month's pages (an earlier seed drew
each click's time at random, which no live table looks like, and made every 30-day scan read the
whole 90 days). ``ClickRollup`` rows are laid out as two worker processes would leave them (a busy
key has a row per writer's stripe), so the benchmark reads the rollup at its production size.
"""

from __future__ import annotations

import time
from typing import Any

from django.db import connection

COUNTRIES = [
    "US", "GB", "DE", "FR", "CA", "AU", "NL", "ES", "IT", "SE",
    "BR", "MX", "IN", "JP", "PL", "BE", "AT", "CH", "DK", "NO",
    "IE", "NZ", "PT", "FI", "CZ", "SG", "ZA", "AR", "CL", "TR",
]  # fmt: skip
CHUNK = 1_000_000

CLICKS_SQL = """
INSERT INTO conversions_click (
    id, brand_id, offer_id, partner_id, created_at, ip, user_agent, country, device_class,
    referrer, sub1, sub2, sub3, sub4, sub5, outcome, is_billable, fraud_score, fraud_signals,
    fraud_flagged, is_test)
SELECT
    'clk_bench_' || lpad(g.i::text, 12, '0'),
    %(brand)s,
    (%(offers)s::bigint[])[1 + (g.p * 7 + floor(g.r_offer * 3)::int) %% 20],
    (%(partners)s::bigint[])[1 + g.p],
    now() - (1 - g.i::float8 / %(total)s) * interval '90 days',
    NULL, '',
    CASE WHEN g.r_home < 0.8 THEN (%(countries)s::text[])[1 + g.p %% 10]
         ELSE (%(countries)s::text[])[1 + floor(30 * g.r_country ^ 2)::int] END,
    CASE WHEN g.r_device < 0.6 THEN 'mobile' WHEN g.r_device < 0.95 THEN 'desktop'
         ELSE 'tablet' END,
    '', 's' || floor(10000 * g.r_sub ^ 2)::int, '', '', '', '',
    CASE WHEN g.r_outcome < 0.92 THEN 'accepted' WHEN g.r_outcome < 0.95 THEN 'geo_blocked'
         WHEN g.r_outcome < 0.97 THEN 'cap_reached' WHEN g.r_outcome < 0.99 THEN 'fraud_blocked'
         ELSE 'offer_paused' END,
    g.r_billable < 0.98,
    floor(100 * g.r_score ^ 3)::int, '[]'::jsonb, g.r_score ^ 3 >= 0.6, false
FROM (
    SELECT i, floor(200 * random() ^ 3)::int AS p, random() AS r_offer,
           random() AS r_home, random() AS r_country, random() AS r_device, random() AS r_sub,
           random() AS r_outcome, random() AS r_billable, random() AS r_score
    FROM generate_series(%(first)s, %(last)s) AS i
) AS g
"""

CONVERSIONS_SQL = """
INSERT INTO conversions_conversion (
    id, brand_id, offer_id, partner_id, click_id, coupon_id, attribution, event_type, txn_id,
    sale_amount, currency, original_amount, original_currency, payout, revenue, status,
    status_reason, fraud_score, fraud_reasons, fraud_flagged, fraud_cleared_by, is_test,
    payout_batch_id, sub1, sub2, sub3, sub4, sub5, country, device_class, created_at, updated_at)
SELECT
    'conv_' || substr(c.id, 5), c.brand_id, c.offer_id, c.partner_id, c.id, NULL, '{}'::jsonb,
    'sale', 'B-' || c.id, s.sale, 'USD', s.sale, 'USD', round(s.sale / 10, 2), round(s.sale / 4, 2),
    (ARRAY['pending', 'approved', 'approved', 'paid', 'rejected'])[1 + floor(random() * 5)::int],
    '', c.fraud_score, '[]'::jsonb, c.fraud_flagged, '', false, NULL, c.sub1, '', '', '', '',
    c.country, c.device_class, least(c.created_at + random() * interval '2 hours', now()), now()
FROM conversions_click AS c
CROSS JOIN LATERAL (SELECT round((10 + random() * 190)::numeric, 2) AS sale) AS s
WHERE c.brand_id = %(brand)s AND c.outcome = 'accepted' AND random() < 0.04
"""

# The click rollups as the live writers leave them: each of two worker processes writes its
# own stripe, so a busy key has two rows; every click counted at each of the four levels;
# rows in day order, as days of traffic append them.
CLICK_ROLLUP_SQL = """
INSERT INTO conversions_clickrollup (
    brand_id, level, day, offer_id, partner_id, country, device, outcome, stripe, clicks,
    billable_clicks, refused_clicks)
SELECT c.brand_id, lv.level, c.day, c.offer_id,
       CASE WHEN lv.level = 1 THEN 0 ELSE c.partner_id END AS partner,
       CASE WHEN lv.level >= 2 THEN '' ELSE c.country END AS country,
       CASE WHEN lv.level >= 2 THEN '' ELSE c.device END AS device,
       CASE WHEN lv.level = 3 THEN '' ELSE c.outcome END AS outcome,
       c.stripe, sum(c.n), sum(c.billable), sum(c.refused)
FROM (
    SELECT brand_id, (created_at AT TIME ZONE %(tz)s)::date AS day,
           coalesce(offer_id, 0) AS offer_id, coalesce(partner_id, 0) AS partner_id, country,
           device_class AS device, outcome, abs(hashtext(id)) %% 2 AS stripe, count(*) AS n,
           count(*) FILTER (WHERE outcome = 'accepted' AND is_billable) AS billable,
           count(*) FILTER (WHERE outcome <> 'accepted') AS refused
    FROM conversions_click
    WHERE brand_id = %(brand)s
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
) AS c
CROSS JOIN (VALUES (0), (1), (2), (3)) AS lv (level)
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
ORDER BY c.day
"""


def click_rollups_as_written(brand: Any) -> None:
    """Replace the brand's click rollups with what the live writers would have left."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM conversions_clickrollup WHERE brand_id = %s", [brand.pk])
        cursor.execute(CLICK_ROLLUP_SQL, {"brand": brand.pk, "tz": brand.timezone})
        cursor.execute("VACUUM ANALYZE conversions_clickrollup")


def seed_sql(*, brand: Any, clicks: int, say: Any = print) -> None:
    """``clicks`` clicks and their conversions for ``brand`` (which has 20 offers and 200
    partners), then both rollups."""
    from conversions.rollups import rebuild_brand
    from offers.models import Offer
    from partners.models import Partner

    offers = list(Offer.objects.filter(brand=brand).order_by("pk").values_list("pk", flat=True))
    partners = list(Partner.objects.filter(brand=brand).order_by("pk").values_list("pk", flat=True))
    if (len(offers), len(partners)) != (20, 200):
        raise ValueError("the bench brand needs 20 offers and 200 partners")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        for first in range(1, clicks + 1, CHUNK):
            last = min(first + CHUNK - 1, clicks)
            params = {"brand": brand.pk, "offers": offers, "partners": partners}
            params.update(countries=COUNTRIES, first=first, last=last, total=clicks)
            cursor.execute(CLICKS_SQL, params)
            say(f"  clicks {last:,} ({time.perf_counter() - started:.0f} s)")
        cursor.execute(CONVERSIONS_SQL, {"brand": brand.pk})
        say(f"  conversions ({time.perf_counter() - started:.0f} s)")
        cursor.execute("ANALYZE conversions_click; ANALYZE conversions_conversion")
    rebuild_brand(brand_id=brand.pk)  # DailyRollup (and ClickRollup, on stripe 0)
    click_rollups_as_written(brand)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE conversions_dailyrollup")
    say(f"  rollups ({time.perf_counter() - started:.0f} s)")
