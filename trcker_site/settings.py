"""Trcker settings: purely from the environment (12-factor).

Nothing here forks behaviour between "dev" and "prod" except what the environment says.
See README.md ("Configuration") for the table of variables. One unit: Django reads its
settings from this one module, so every variable stays where the next reader looks for it.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name, "")  # unset or empty: the default
    return raw.strip().lower() in {"1", "true", "yes", "on"} if raw else default


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    return default if raw is None else [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DEBUG")
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off. `make run` generates a local one in "
            "var/secret_key; in production set SECRET_KEY in the environment."
        )
    # DEBUG without a key: a per-process random key, so nothing insecure is ever hard-coded.
    import secrets as _secrets

    SECRET_KEY = _secrets.token_urlsafe(50)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
TRCKER_PUBLIC_URL = os.environ.get("TRCKER_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
TRCKER_VERSION = "0.1.0"

# Client IPs: X-Forwarded-For is believed only when the direct peer is one of these networks.
TRCKER_TRUSTED_PROXIES = [
    ipaddress.ip_network(net, strict=False) for net in env_list("TRCKER_TRUSTED_PROXIES", [])
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_ratelimit",
    # Before mcp_gateway, whose admin replaces two of the toolkit's admins.
    "oauth2_provider",
    "mozilla_django_oidc",
    "trcker_site",
    "audit",
    "mailer",  # the email outbox: queued by services, sent by the worker
    "brands",
    "offers",
    "partners",
    "conversions",
    "integrations",  # Stripe and Shopify webhooks, /t.js (docs/integrations.md)
    "mcp_gateway",
    "partner_portal",  # /p/<brand>/: the partners' own pages (docs/partners.md)
    "workers",
    "demo",  # seed_demo: the demo brand and its traffic
]

MIDDLEWARE = [
    "trcker_site.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "backoffice.brand_timezone.BrandTimezoneMiddleware",  # admin times in the brand's zone
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "trcker_site.urls"
WSGI_APPLICATION = "trcker_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "brands.context_processors.sso",
            ],
        },
    },
]

# --- Database ------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=0
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's psycopg 3 pool (5.1+). Needs CONN_MAX_AGE=0; each process owns its pool.
    # Fail fast when PostgreSQL is unreachable: a 503 in seconds beats a hung worker.
    _db_timeout = float(os.environ.get("DB_TIMEOUT", "5"))
    _db_options = DATABASES["default"].setdefault("OPTIONS", {})
    _db_options.setdefault("connect_timeout", max(1, int(_db_timeout)))
    _db_options.setdefault(
        "pool",
        {
            "min_size": 1,
            "max_size": int(os.environ.get("DB_POOL_MAX", "10")),
            "timeout": _db_timeout,
        },
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the web server and the postback worker share the file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;"}
    )
# No ATOMIC_REQUESTS: each write service owns its transaction (`transaction.atomic()`), so a
# request holds no transaction of its own and each element of an MCP batch commits or fails on
# its own. Not `atomic(durable=True)`: callers nest services inside a transaction of theirs
# (Django admin's change and delete views, seed_demo, the OIDC login creating a user and its
# memberships), where a durable block would raise.
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache / Redis -------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's Redis backend with one client per pool and a one-round-trip incr.
            "BACKEND": "core.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "trcker"),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    # Django's built-in Redis backend is atomic (INCR) but not on ratelimit's list.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # Zero-setup mode only: counters are per process, documented in README.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001", "django_ratelimit.E003"]

RATELIMIT_EXCEPTION_CLASS = "rest_api.base.RatelimitedException"
# A counter the store failed to count lets the request through (see core/rate_limits.py).
RATELIMIT_FAIL_OPEN = True
TRCKER_API_RATE = os.environ.get("TRCKER_API_RATE", "120/m")
# Bench-only baseline URLs (`make bench`); never on in production.
TRCKER_BENCH_URLS = env_bool("TRCKER_BENCH_URLS")
# Partner applications per client IP and brand on the public /p/<brand>/apply page.
TRCKER_APPLY_RATE = os.environ.get("TRCKER_APPLY_RATE", "5/h")
# Partner portal sign-in links (docs/partners.md): lifetime in minutes; links per address, per IP;
# invitations: days a link works, invitations per brand.
TRCKER_PORTAL_LINK_MINUTES = int(os.environ.get("TRCKER_PORTAL_LINK_MINUTES", "15"))
TRCKER_PORTAL_LINKS_PER_EMAIL = os.environ.get("TRCKER_PORTAL_LINKS_PER_EMAIL", "5/h")
TRCKER_PORTAL_LINKS_PER_IP = os.environ.get("TRCKER_PORTAL_LINKS_PER_IP", "30/h")
TRCKER_PARTNER_INVITE_DAYS = int(os.environ.get("TRCKER_PARTNER_INVITE_DAYS", "14"))
TRCKER_PARTNER_INVITES_RATE = os.environ.get("TRCKER_PARTNER_INVITES_RATE", "50/d")

# --- Auth ----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

# --- I18N / time ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static --------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Security headers ----------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if TRCKER_PUBLIC_URL.startswith("https://"):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    CSRF_TRUSTED_ORIGINS = [TRCKER_PUBLIC_URL]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Email ---------------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Trcker <no-reply@localhost>")
# SMTP (EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend) is configured here too.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL")
EMAIL_TIMEOUT = 10  # seconds; the worker holds an email's row lock through one SMTP exchange
# Sent, dead and expired emails (recipient, subject, status; never the body) stay listed in the
# admin this long, then the worker deletes them (docs/operations.md, "Emails").
TRCKER_EMAIL_KEEP_DAYS = int(os.environ.get("TRCKER_EMAIL_KEEP_DAYS", "30"))

# --- REST framework ------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["brands.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "rest_api.base.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
TRCKER_PAGE_SIZE = 50
TRCKER_MAX_PAGE_SIZE = 200

# --- Request limits on /api/ (docs/api.md and docs/mcp.md, "Limits") ----------------------
# A body over this many bytes answers 413 in the endpoint's JSON error shape before it is read
# (trcker_site/body_limits.py); Django applies the same number to form posts elsewhere. 1 MiB
# holds a full MCP batch of tool calls many times over and bounds what one request can make
# a worker parse (about 40 ms per MiB).
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("TRCKER_MAX_BODY_BYTES", str(1024 * 1024)))
MIDDLEWARE.insert(1, "trcker_site.body_limits.ApiBodyLimitMiddleware")  # after request ids
# JSON nested deeper than 32 levels is a 400 (json.loads would raise RecursionError, a 500).
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] = ["trcker_site.body_limits.BoundedJSONParser"]
# NUL and other control characters (and invalid UTF-8) in a path, query string or header are a
# 400 before any view runs (trcker_site/edge_middleware.py): PostgreSQL refuses NUL in a query.
MIDDLEWARE.insert(1, "trcker_site.edge_middleware.EdgeCharactersMiddleware")  # after request ids
# HEAD answers lose their body outside every middleware that answers (trcker_site/middleware.py)
MIDDLEWARE.insert(1, "trcker_site.middleware.HeadWithoutBodyMiddleware")
# Admin messages (a new API key, a rotated postback secret) live in the server-side session,
# not in the signed-but-readable messages cookie (docs/security.md).
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

SPECTACULAR_SETTINGS = {
    "TITLE": "Trcker REST API",
    "DESCRIPTION": (
        "Affiliate tracking: offers, partners, coupons, conversions, payouts and the audit log "
        "of one brand. Authenticate with `Authorization: Bearer trk_…`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "AmountTypeEnum": "offers.models.AmountType",
        "ConversionStatusEnum": "conversions.models.ConversionStatus",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "rest_api.base.add_error_responses",
        "rest_api.base.decimal_inputs_take_numbers",
    ],
}

# --- Logging: stdout, one line per record, with the request id -----------------------------
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING: dict[str, Any] = {  # dictConfig; extended below
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "trcker_site.middleware.RequestIdLogFilter"}},
    "formatters": {
        "line": {
            "format": "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s] %(message)s",
        }
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "filters": ["request_id"],
            "formatter": "line",
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
# Postback credentials (?secret=, ?sig=) never reach a log: every handler redacts them, and
# runserver's request lines (django.server) go through that handler too. gunicorn's access log
# needs its logger class: trcker_site/gunicorn_logging.py (docs/security.md, "Secrets in logs").
LOGGING["filters"]["redact_secrets"] = {"()": "core.log_redaction.RedactSecretsFilter"}
for _handler in LOGGING["handlers"].values():
    _handler.setdefault("filters", []).append("redact_secrets")
LOGGING["loggers"]["django.server"] = {"handlers": ["stdout"], "level": "INFO", "propagate": False}
# django-axes announces itself at INFO in every process it starts in, management commands
# included, whose standard output is their answer (create_api_key prints only the key).
LOGGING["loggers"]["axes.apps"] = {"level": "WARNING"}
# Fernet keys encrypting postback secrets at rest, comma-separated: the first encrypts, all
# decrypt (rotation; docs/security.md, "Secrets at rest"). Unset: derived from SECRET_KEY so
# `make run` works, with a deployment warning; production sets its own.
TRCKER_SECRETS_KEY = os.environ.get("TRCKER_SECRETS_KEY", "")

# --- Tracking ------------------------------------------------------------------------------
# How long the previous inbound-postback secret stays valid after a rotation (0 = at once).
TRCKER_POSTBACK_SECRET_GRACE_SECONDS = int(
    os.environ.get("TRCKER_POSTBACK_SECRET_GRACE_SECONDS", "0")
)
# Local development and tests only: lets outbound postbacks reach loopback/private addresses.
TRCKER_OUTBOUND_ALLOW_PRIVATE = env_bool("TRCKER_OUTBOUND_ALLOW_PRIVATE")
# Header a trusted CDN sets with the visitor's ISO country (read only from trusted proxies).
TRCKER_COUNTRY_HEADER = os.environ.get("TRCKER_COUNTRY_HEADER", "CF-IPCountry")
# Optional operator-supplied GeoIP2/GeoLite2 country or city database (.mmdb).
TRCKER_GEOIP_PATH = os.environ.get("TRCKER_GEOIP_PATH", "")
# Per-process click-config cache lifetime; changes also invalidate it through the cache.
TRCKER_CONFIG_CACHE_SECONDS = float(os.environ.get("TRCKER_CONFIG_CACHE_SECONDS", "30"))
# The BotD library, built by `make assets` from package.json into our static files.
TRCKER_BOTD_ASSET = "vendor/botd/botd.esm.js"

# --- Audit ---------------------------------------------------------------------------------
# HMAC key of the audit hash chain, kept outside the database (docs/data-model.md, "Audit
# keys"). Unset: derived from SECRET_KEY so `make run` works; production sets its own.
TRCKER_AUDIT_KEY = os.environ.get("TRCKER_AUDIT_KEY", "")
# Comma-separated keys rotated out: only for verifying rows they made, never for new rows.
TRCKER_AUDIT_PREVIOUS_KEYS = env_list("TRCKER_AUDIT_PREVIOUS_KEYS", [])

# --- MCP -----------------------------------------------------------------------------------
TRCKER_MCP_MAX_BATCH = int(os.environ.get("TRCKER_MCP_MAX_BATCH", "50"))
# Deferred work (click ingestion, the MCP tool-call log, audit chain links, outbound
# postbacks) belongs to worker processes (`manage.py run_workers`, docs/operations.md). Clicks
# and tool-call rows reach them through Redis Streams on the queue's own Redis, which must keep
# what it is given (maxmemory-policy noeviction, AOF on: checked at start and on /api/health).
TRCKER_QUEUE_REDIS_URL = os.environ.get("TRCKER_QUEUE_REDIS_URL", REDIS_URL)
# With a queue, the click handler's only I/O is one Redis call (fraud counters + XADD); off, or
# without a queue Redis, each click is written during its request.
TRCKER_CLICK_QUEUE = env_bool("TRCKER_CLICK_QUEUE", default=True)
# A record a worker took and did not acknowledge for this long (the worker died) is claimed
# by another worker.
TRCKER_QUEUE_CLAIM_IDLE_SECONDS = float(os.environ.get("TRCKER_QUEUE_CLAIM_IDLE_SECONDS", "30"))
# Records per worker batch, and how long an idle worker blocks on the streams before it
# polls the database-side work (audit links, due deliveries) again.
TRCKER_QUEUE_BATCH = int(os.environ.get("TRCKER_QUEUE_BATCH", "500"))
TRCKER_WORKER_IDLE_SECONDS = float(os.environ.get("TRCKER_WORKER_IDLE_SECONDS", "0.2"))
# After a batch shorter than TRCKER_QUEUE_BATCH, a worker waits this long before reading again
# so the next batch fills: fewer, larger transactions under load, at most this much more lag.
TRCKER_WORKER_LINGER_SECONDS = float(os.environ.get("TRCKER_WORKER_LINGER_SECONDS", "0.05"))
# Days the inbound postback log and the integration event log keep a row (at least 1; the
# worker prunes hourly). Stripe/Shopify webhook requests per client IP (docs/integrations.md).
TRCKER_INTEGRATION_RATE = os.environ.get("TRCKER_INTEGRATION_RATE", "1200/m")
TRCKER_POSTBACK_LOG_DAYS = max(1, int(os.environ.get("TRCKER_POSTBACK_LOG_DAYS", "30")))
# Browser origins allowed to call /api/mcp (requests without Origin are non-browser clients).
# Unset: the public URL's origin, under every loopback name when its host is one (make run's
# 127.0.0.1:8000 takes a browser on localhost:8000; a rebinding page still sends its own domain).
_public = urlsplit(TRCKER_PUBLIC_URL)
_port = f":{_public.port}" if _public.port else ""
TRCKER_MCP_ALLOWED_ORIGINS = env_list(
    "TRCKER_MCP_ALLOWED_ORIGINS",
    [f"{_public.scheme}://{host}{_port}" for host in ("127.0.0.1", "localhost", "[::1]")]
    if _public.hostname in ("127.0.0.1", "localhost", "::1")
    else [f"{_public.scheme}://{_public.netloc}"],
)
TRCKER_DISCOVERY_RATE = os.environ.get("TRCKER_DISCOVERY_RATE", "300/m")
# The server card's name, "namespace/name" with a reverse-DNS namespace you control (the MCP
# registry's rule, e.g. com.example/trcker). Unset: derived from TRCKER_PUBLIC_URL's domain,
# or local.trcker/trcker on an IP address or localhost (mcp_gateway/discovery.py).
TRCKER_MCP_SERVER_NAME = os.environ.get("TRCKER_MCP_SERVER_NAME", "")
if TRCKER_MCP_SERVER_NAME and not re.fullmatch(
    r"(?=.{3,200}$)[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+", TRCKER_MCP_SERVER_NAME
):
    raise ImproperlyConfigured(
        "TRCKER_MCP_SERVER_NAME must be namespace/name in reverse-DNS form, e.g. "
        "com.example/trcker (letters, digits, dots and hyphens, one slash, at most 200)."
    )
# Test instances only (the MCP conformance suite cannot send credentials): requests without
# a key act as a read-only caller of this brand. Refused unless DEBUG is on.
TRCKER_MCP_TEST_ANONYMOUS_BRAND = os.environ.get("TRCKER_MCP_TEST_ANONYMOUS_BRAND", "")
if TRCKER_MCP_TEST_ANONYMOUS_BRAND and not DEBUG:
    raise ImproperlyConfigured(
        "TRCKER_MCP_TEST_ANONYMOUS_BRAND is for test instances: it needs DEBUG=1."
    )


# --- OAuth for MCP clients ------------------------------------------------------------------
# The canonical MCP URL (unset: PUBLIC_URL/api/mcp): the protected-resource identifier and
# every token's audience.
TRCKER_MCP_RESOURCE_URL = os.environ.get("TRCKER_MCP_RESOURCE_URL", "")
# Built in by default (django-oauth-toolkit). Set TRCKER_OAUTH_ISSUER to use an external
# authorization server instead; its JWT access tokens are then validated against its JWKS.
TRCKER_OAUTH_ISSUER = os.environ.get("TRCKER_OAUTH_ISSUER", "").rstrip("/")
TRCKER_OAUTH_JWKS_URL = os.environ.get("TRCKER_OAUTH_JWKS_URL", "")
TRCKER_OAUTH_ORG_CLAIM = os.environ.get("TRCKER_OAUTH_ORG_CLAIM", "org")
OAUTH2_PROVIDER = {
    "SCOPES_BACKEND_CLASS": "mcp_gateway.oauth.BrandScopes",
    "SCOPES": {"mcp:read": "Read", "mcp:write": "Write"},
    "DEFAULT_SCOPES": ["mcp:read"],
    "PKCE_REQUIRED": True,
    "ACCESS_TOKEN_EXPIRE_SECONDS": int(os.environ.get("TRCKER_OAUTH_ACCESS_TOKEN_SECONDS", "3600")),
    "REFRESH_TOKEN_EXPIRE_SECONDS": int(
        os.environ.get("TRCKER_OAUTH_REFRESH_TOKEN_SECONDS", str(30 * 86400))
    ),
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    # Loopback redirect URIs match on any port (OAuth 2.1 / RFC 8252 for native clients).
    "ALLOW_LOCALHOST_LOOPBACK": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "refresh_token"],
    "OAUTH2_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": [
        "none",
        "client_secret_post",
        "client_secret_basic",
    ],
    "RESOURCE_SERVER_TOKEN_RESOURCE_VALIDATOR": "mcp_gateway.oauth.exact_resource_validator",
    # RFC 9700: S256 only, the iss authorization-response parameter, hashed tokens at rest,
    # no implicit or password grant.
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    # Public registration is what "Add MCP server by URL" clients need (RFC 7591), and
    # client-ID metadata documents are fetched behind the library's SSRF guard.
    "DCR_ENABLED": True,
    "DCR_REGISTRATION_PERMISSION_CLASSES": ("oauth2_provider.dcr.AllowAllDCRPermission",),
    "CIMD_ENABLED": True,
}
LOGIN_REDIRECT_URL = "/admin/"
# Issue 12: registrations per client IP (RFC 7591 is open: this stops anonymous floods); a
# replayed code revokes its tokens; client metadata is fetched through core/outbound_http.py.
TRCKER_DCR_RATE = os.environ.get("TRCKER_DCR_RATE", "10/h")
OAUTH2_PROVIDER["OAUTH2_VALIDATOR_CLASS"] = "mcp_gateway.oauth.CodeReplayValidator"
OAUTH2_PROVIDER["CIMD_METADATA_FETCHER"] = "mcp_gateway.oauth.GuardedMetadataFetcher"

# --- Staff single sign-on (mozilla-django-oidc, any OpenID Connect provider) ---------------
TRCKER_OIDC_ENABLED = env_bool("TRCKER_OIDC_ENABLED")
TRCKER_OIDC_ORG_CLAIM = os.environ.get("TRCKER_OIDC_ORG_CLAIM", "org")
TRCKER_OIDC_ROLE_CLAIM = os.environ.get("TRCKER_OIDC_ROLE_CLAIM", "trcker_role")
TRCKER_OIDC_DEFAULT_ROLE = os.environ.get("TRCKER_OIDC_DEFAULT_ROLE", "analyst")
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
if TRCKER_OIDC_ENABLED:
    # Only when configured: the backend refuses to start without the OP endpoints, and
    # username/password login must keep working on the built-in default.
    AUTHENTICATION_BACKENDS.append("brands.oidc.BrandOIDCBackend")
    OIDC_OP_AUTHORIZATION_ENDPOINT = os.environ["OIDC_OP_AUTHORIZATION_ENDPOINT"]
    OIDC_OP_TOKEN_ENDPOINT = os.environ["OIDC_OP_TOKEN_ENDPOINT"]
    OIDC_OP_USER_ENDPOINT = os.environ["OIDC_OP_USER_ENDPOINT"]
    OIDC_OP_JWKS_ENDPOINT = os.environ["OIDC_OP_JWKS_ENDPOINT"]
    OIDC_RP_CLIENT_ID = os.environ["OIDC_RP_CLIENT_ID"]
    OIDC_RP_CLIENT_SECRET = os.environ["OIDC_RP_CLIENT_SECRET"]
    OIDC_RP_SIGN_ALGO = os.environ.get("OIDC_RP_SIGN_ALGO", "RS256")  # library default: HS256
    OIDC_RP_SCOPES = os.environ.get("OIDC_RP_SCOPES", "openid email")
    OIDC_USE_PKCE = True
    OIDC_TIMEOUT = 5
    LOGIN_REDIRECT_URL_FAILURE = "/admin/login/"

# --- Throttled authentication (core/auth_throttle.py; docs/oauth.md, api.md, mcp.md) --
# Failed bearer credentials (API keys, OAuth tokens; REST and MCP together) per client IP;
# past it, that IP's attempts get 429 before any credential is checked.
TRCKER_AUTH_FAILURES_PER_IP = os.environ.get("TRCKER_AUTH_FAILURES_PER_IP", "20/10m")
# Failed admin / OAuth consent logins per client IP, any username (password spraying).
TRCKER_LOGIN_FAILURES_PER_IP = os.environ.get("TRCKER_LOGIN_FAILURES_PER_IP", "20/15m")
# django-axes: failed logins per (client IP, username) before that pair is locked out for the
# cool-off. Keyed on the pair, so nobody can lock a user out from the user's own address; the
# cool-off runs from the lockout and further tries do not extend it (docs/oauth.md).
INSTALLED_APPS += ["axes"]
MIDDLEWARE += [
    "core.auth_throttle.LoginThrottleMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as axes requires
]
AUTHENTICATION_BACKENDS.insert(0, "axes.backends.AxesStandaloneBackend")
AXES_HANDLER = "core.auth_throttle.FailOpenAxesCacheHandler"
AXES_FAILURE_LIMIT = int(os.environ.get("TRCKER_LOGIN_FAILURES_PER_ACCOUNT", "5"))
TRCKER_LOGIN_COOLOFF_SECONDS = int(os.environ.get("TRCKER_LOGIN_COOLOFF_SECONDS", "900"))
AXES_COOLOFF_TIME = "core.auth_throttle.login_cool_off"  # the setting above
AXES_LOCKOUT_PARAMETERS = [["ip_address", "username"]]
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "core.client_ip.request_client_ip"
AXES_LOCKOUT_CALLABLE = "core.auth_throttle.axes_lockout_response"
AXES_ENABLE_ADMIN = False  # the cache handler keeps no rows for its admin to show
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "password"]
if not REDIS_URL:
    # Zero-setup mode: LocMem counts per process (like the other limiters, see README).
    SILENCED_SYSTEM_CHECKS += ["axes.W001"]
