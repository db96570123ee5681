"""Baselines for `make bench`, mounted only when TRCKER_BENCH_URLS=1 (never in production).

Each one does the least a Django view can do for the same job, under the same server and
middleware, so the benchmark's ratio shows what Trcker's own work costs on top of Django."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

BARE_DESTINATION = "https://shop.example.com/landing?click_id=bench"
BARE_INSERT_TABLE = "bench_bare_insert"


def bare_redirect(request: HttpRequest) -> HttpResponse:
    return HttpResponseRedirect(BARE_DESTINATION)


@csrf_exempt
def bare_insert(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {BARE_INSERT_TABLE} (txn_id, amount) VALUES (%s, %s)",  # noqa: S608 - constant
            [request.GET.get("txn_id", ""), request.GET.get("amount", "0")],
        )
    return JsonResponse({"ok": True})


def create_bare_insert_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {BARE_INSERT_TABLE} "
            "(id bigserial PRIMARY KEY, txn_id varchar(255) NOT NULL, "
            "amount numeric(12, 2) NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
        )


urlpatterns = [
    path("bench/bare-redirect", bare_redirect),
    path("bench/bare-insert", bare_insert),
]
