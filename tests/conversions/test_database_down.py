"""With the database unreachable, a real server process answers postbacks 503 with
Retry-After (never a 2xx for something not recorded) and health says so."""

import requests

from tests.live_server import app_env, free_port


def test_postbacks_get_503_with_retry_after_when_the_database_is_down(app_server):
    closed = free_port()  # nothing listens here: a database that is down
    env = app_env(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{closed}/trcker",
        REDIS_URL="",
        LOG_LEVEL="CRITICAL",
        DB_TIMEOUT="2",
    )
    server = app_server(env=env, workers=1, threads=1, healthy=False)
    health = requests.get(server.url("/api/health"), timeout=15)
    assert health.status_code == 503
    assert health.json()["checks"]["database"]["ok"] is False
    response = requests.get(
        server.url(
            "/api/postback/demo/spring-sale?click_id=clk_aaaaaaaaaaaaaaaaaaaaaa&txn_id=T1&amount=5"
        ),
        timeout=30,
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert response.json()["error"]["code"] == "service_unavailable"
    posted = requests.post(
        server.url("/api/postback/demo/spring-sale"),
        json={"txn_id": "T2", "coupon": "X"},
        timeout=30,
    )
    assert posted.status_code == 503
