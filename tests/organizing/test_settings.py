"""Settings from the environment: typed helpers, embedded vs production
configuration, Celery options, the generated SECRET_KEY.

Module-level settings are tested by importing config.settings in a fresh
Python process with a controlled environment and reading the values back as
JSON: the test process's own settings are never touched.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.settings import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parents[2]

DUMP = """
import json
import config.settings as s
db = s.DATABASES["default"]
print(json.dumps({
    "db_engine": db["ENGINE"],
    "db_name": str(db["NAME"]),
    "db_user": db.get("USER"),
    "db_password": db.get("PASSWORD"),
    "db_host": db.get("HOST"),
    "db_port": db.get("PORT"),
    "conn_max_age": db.get("CONN_MAX_AGE", 0),
    "conn_health_checks": db.get("CONN_HEALTH_CHECKS", False),
    "application_name": db.get("OPTIONS", {}).get("application_name"),
    "asgi_serves_http": s.ASGI_SERVES_HTTP,
    "cache": s.CACHES["default"]["BACKEND"],
    "cache_location": s.CACHES["default"].get("LOCATION"),
    "cache_options": s.CACHES["default"].get("OPTIONS"),
    "channel_layer": s.CHANNEL_LAYERS["default"]["BACKEND"],
    "channel_hosts": s.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("hosts"),
    "broker": s.CELERY_BROKER_URL,
    "eager": s.CELERY_TASK_ALWAYS_EAGER,
    "acks_late": s.CELERY_TASK_ACKS_LATE,
    "reject_on_worker_lost": s.CELERY_TASK_REJECT_ON_WORKER_LOST,
    "prefetch": s.CELERY_WORKER_PREFETCH_MULTIPLIER,
    "soft_time_limit": s.CELERY_TASK_SOFT_TIME_LIMIT,
    "time_limit": s.CELERY_TASK_TIME_LIMIT,
    "visibility_timeout": s.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout"),
    "broker_connect_timeout": s.CELERY_BROKER_TRANSPORT_OPTIONS.get("socket_connect_timeout"),
    "email_backend": s.EMAIL_BACKEND,
    "email_host": getattr(s, "EMAIL_HOST", None),
    "email_port": getattr(s, "EMAIL_PORT", None),
    "email_use_tls": getattr(s, "EMAIL_USE_TLS", None),
    "secret_key": s.SECRET_KEY,
    "debug": s.DEBUG,
    "allowed_hosts": s.ALLOWED_HOSTS,
    "site_url": s.SITE_URL,
    "hsts": s.SECURE_HSTS_SECONDS,
    "session_cookie_secure": s.SESSION_COOKIE_SECURE,
    "csrf_cookie_secure": s.CSRF_COOKIE_SECURE,
    "ssl_redirect": s.SECURE_SSL_REDIRECT,
    "data_dir": str(s.DATA_DIR),
    "apps": s.INSTALLED_APPS,
}))
"""


def run_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Import config.settings in a new process with only `env` (plus PATH
    and a private DATA_DIR) in its environment."""
    environment = {"PATH": os.environ.get("PATH", ""), "DATA_DIR": str(tmp_path / "data")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", DUMP],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def load_settings(tmp_path: Path, **env: str) -> dict:
    result = run_settings(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def settings_error(tmp_path: Path, **env: str) -> str:
    result = run_settings(tmp_path, **env)
    assert result.returncode != 0, f"settings accepted {env}"
    assert "ImproperlyConfigured" in result.stderr
    return result.stderr


# --- the helpers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        ("On", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
    ],
)
def test_env_bool_parses_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("ORG_TEST_FLAG", raw)
    assert env_bool("ORG_TEST_FLAG", not expected) is expected


def test_env_bool_default_when_unset_or_empty(monkeypatch):
    monkeypatch.delenv("ORG_TEST_FLAG", raising=False)
    assert env_bool("ORG_TEST_FLAG", True) is True
    monkeypatch.setenv("ORG_TEST_FLAG", "")
    assert env_bool("ORG_TEST_FLAG", False) is False


@pytest.mark.parametrize("raw", ["maybe", "2", "tru", "enabled"])
def test_env_bool_rejects_other_values(monkeypatch, raw):
    monkeypatch.setenv("ORG_TEST_FLAG", raw)
    with pytest.raises(ImproperlyConfigured, match="ORG_TEST_FLAG"):
        env_bool("ORG_TEST_FLAG", False)


def test_env_int(monkeypatch):
    monkeypatch.delenv("ORG_TEST_INT", raising=False)
    assert env_int("ORG_TEST_INT", 7) == 7
    monkeypatch.setenv("ORG_TEST_INT", "42")
    assert env_int("ORG_TEST_INT", 7) == 42
    assert env_int("ORG_TEST_INT", 7, minimum=42) == 42


@pytest.mark.parametrize("raw", ["ten", "4.5", "1e3", "0x10"])
def test_env_int_rejects_non_integers(monkeypatch, raw):
    monkeypatch.setenv("ORG_TEST_INT", raw)
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env_int("ORG_TEST_INT", 1)


def test_env_int_enforces_the_minimum(monkeypatch):
    monkeypatch.setenv("ORG_TEST_INT", "1")
    with pytest.raises(ImproperlyConfigured, match="at least 2"):
        env_int("ORG_TEST_INT", 5, minimum=2)


def test_env_list(monkeypatch):
    monkeypatch.setenv("ORG_TEST_LIST", " a.example , b.example,,")
    assert env_list("ORG_TEST_LIST", []) == ["a.example", "b.example"]
    monkeypatch.delenv("ORG_TEST_LIST")
    assert env_list("ORG_TEST_LIST", ["x"]) == ["x"]


def test_secret_from_file_wins_over_the_variable(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-the-file\n", encoding="utf-8")
    monkeypatch.setenv("ORG_TEST_SECRET", "from-the-variable")
    monkeypatch.setenv("ORG_TEST_SECRET_FILE", str(secret))
    assert env_str("ORG_TEST_SECRET") == "from-the-file"


def test_unreadable_secret_file_fails_loudly(monkeypatch, tmp_path):
    monkeypatch.setenv("ORG_TEST_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="ORG_TEST_SECRET_FILE"):
        env_str("ORG_TEST_SECRET")


def test_typed_helpers_read_files_too(monkeypatch, tmp_path):
    number = tmp_path / "n"
    number.write_text("12", encoding="utf-8")
    monkeypatch.setenv("ORG_TEST_INT_FILE", str(number))
    assert env_int("ORG_TEST_INT", 1) == 12


# --- embedded and production configurations -------------------------------------


def test_embedded_defaults(tmp_path):
    s = load_settings(tmp_path)
    assert s["db_engine"] == "django.db.backends.sqlite3"
    assert s["db_name"] == str(tmp_path / "data" / "db.sqlite3")
    assert s["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert s["channel_layer"] == "channels.layers.InMemoryChannelLayer"
    assert s["eager"] is True
    assert s["broker"] == "memory://"
    assert s["asgi_serves_http"] is True  # `make run`: one uvicorn for everything
    assert s["email_backend"] == "django.core.mail.backends.console.EmailBackend"
    assert s["debug"] is False
    assert s["hsts"] == 0
    assert s["session_cookie_secure"] is False
    assert "allauth.usersessions" not in s["apps"]  # it would store IP addresses
    assert "django.contrib.humanize" in s["apps"]  # allauth's MFA pages need it


def test_production_configuration_from_urls(tmp_path):
    s = load_settings(
        tmp_path,
        DATABASE_URL="postgresql://app:s3cret@db.internal:6543/organizing",
        REDIS_URL="redis://cache.internal:6379/3",
        SECRET_KEY="k" * 50,
    )
    assert s["db_engine"] == "django.db.backends.postgresql"
    assert (s["db_name"], s["db_user"], s["db_password"], s["db_host"], s["db_port"]) == (
        "organizing",
        "app",
        "s3cret",
        "db.internal",
        "6543",
    )
    # Persistent connections under WSGI, checked before reuse.
    assert s["conn_max_age"] == 60
    assert s["conn_health_checks"] is True
    # gunicorn serves HTTP; the websocket server refuses it (no connection per request).
    assert s["asgi_serves_http"] is False
    assert s["application_name"] == "organizing"
    assert s["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert s["cache_location"] == "redis://cache.internal:6379/3"
    assert s["channel_layer"].startswith("channels_redis.")
    assert [host["address"] for host in s["channel_hosts"]] == ["redis://cache.internal:6379/3"]
    assert s["broker"] == "redis://cache.internal:6379/3"
    assert s["eager"] is False


def test_an_unreachable_redis_is_given_up_on_quickly(tmp_path):
    """A request that needs Redis while it is down answers 503 within about a
    second instead of holding a worker (redis-py waits 5 s by default)."""
    s = load_settings(tmp_path, REDIS_URL="redis://cache.internal:6379/3")
    assert s["cache_options"]["socket_connect_timeout"] <= 1
    assert s["cache_options"]["socket_timeout"] <= 2
    (host,) = s["channel_hosts"]
    assert host["socket_connect_timeout"] <= 1
    assert s["broker_connect_timeout"] <= 1


def test_database_password_from_file(tmp_path):
    password = tmp_path / "dbpass"
    password.write_text("file-password", encoding="utf-8")
    s = load_settings(
        tmp_path,
        DATABASE_URL="postgresql://app@db.internal/organizing",
        DATABASE_PASSWORD_FILE=str(password),
    )
    assert s["db_password"] == "file-password"


def test_conn_max_age_is_configurable(tmp_path):
    s = load_settings(
        tmp_path, DATABASE_URL="postgres://app@db/organizing", DATABASE_CONN_MAX_AGE="0"
    )
    assert s["conn_max_age"] == 0


def test_each_process_can_name_its_connections(tmp_path):
    s = load_settings(
        tmp_path,
        DATABASE_URL="postgres://app@db/organizing",
        DATABASE_APPLICATION_NAME="organizing-ws",
    )
    assert s["application_name"] == "organizing-ws"


def test_celery_options_for_reliable_workers(tmp_path):
    s = load_settings(tmp_path, REDIS_URL="redis://127.0.0.1:6379/9")
    assert s["acks_late"] is True
    assert s["reject_on_worker_lost"] is True
    assert s["prefetch"] == 1
    assert s["soft_time_limit"] < s["time_limit"]
    # Redis redelivers unacknowledged tasks after the visibility timeout: a task
    # still running within its hard limit must never be handed out twice.
    assert s["visibility_timeout"] > s["time_limit"]


def test_visibility_timeout_follows_a_longer_time_limit(tmp_path):
    s = load_settings(
        tmp_path,
        REDIS_URL="redis://127.0.0.1:6379/9",
        CELERY_TASK_SOFT_TIME_LIMIT="3000",
        CELERY_TASK_TIME_LIMIT="3600",
    )
    assert s["time_limit"] == 3600
    assert s["visibility_timeout"] > 3600


def test_smtp_email_from_url(tmp_path):
    s = load_settings(tmp_path, EMAIL_URL="smtp+tls://user:pw@mail.example.org:2525")
    assert s["email_backend"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (s["email_host"], s["email_port"], s["email_use_tls"]) == (
        "mail.example.org",
        2525,
        True,
    )


def test_https_site_turns_on_secure_cookies_and_hsts(tmp_path):
    s = load_settings(tmp_path, SITE_URL="https://organizing.example.org")
    assert s["hsts"] >= 31536000
    assert s["session_cookie_secure"] is True
    assert s["csrf_cookie_secure"] is True
    assert s["ssl_redirect"] is True


@pytest.mark.parametrize(
    ("env", "site_url", "extra_host"),
    [
        ({}, "http://127.0.0.1:8000", None),
        # `make run PORT=8711` (the Makefile exports HOST and PORT)
        ({"HOST": "127.0.0.1", "PORT": "8711"}, "http://127.0.0.1:8711", None),
        ({"HOST": "localhost", "PORT": "9000"}, "http://localhost:9000", None),
        # every interface: this machine reaches it as 127.0.0.1
        ({"HOST": "0.0.0.0", "PORT": "8712"}, "http://127.0.0.1:8712", None),  # noqa: S104
        ({"HOST": "::", "PORT": "8712"}, "http://127.0.0.1:8712", None),
        ({"HOST": "::1", "PORT": "8713"}, "http://[::1]:8713", None),
        ({"HOST": "192.0.2.7", "PORT": "8714"}, "http://192.0.2.7:8714", "192.0.2.7"),
        # SITE_URL, when set, wins over where the process listens
        (
            {"SITE_URL": "https://organizing.example.org/", "PORT": "8715"},
            "https://organizing.example.org",
            "organizing.example.org",
        ),
    ],
)
def test_site_url_follows_where_make_run_serves(tmp_path, env, site_url, extra_host):
    s = load_settings(tmp_path, **env)
    assert s["site_url"] == site_url
    # The address the links carry is one the site answers on.
    expected_hosts = ["127.0.0.1", "localhost", "[::1]"] + ([extra_host] if extra_host else [])
    assert s["allowed_hosts"] == expected_hosts


def test_lists_and_booleans_from_the_environment(tmp_path):
    s = load_settings(tmp_path, ALLOWED_HOSTS="a.example, b.example", DEBUG="true")
    assert s["allowed_hosts"] == ["a.example", "b.example"]
    assert s["debug"] is True


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "sometimes"}, "DEBUG"),
        ({"DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://u@h"}, "must name a database"),
        ({"DATABASE_URL": "postgresql://u@h/db", "DATABASE_CONN_MAX_AGE": "-1"}, "at least 0"),
        ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL"),
        ({"EMAIL_URL": "pop3://mail.example.org"}, "EMAIL_URL"),
        ({"SECRET_KEY": "too-short"}, "SECRET_KEY"),
        ({"SECRET_KEY_FILE": "/nonexistent/secret"}, "SECRET_KEY_FILE"),
        ({"CELERY_TASK_TIME_LIMIT": "soon"}, "CELERY_TASK_TIME_LIMIT"),
        ({"CELERY_TASK_SOFT_TIME_LIMIT": "700", "CELERY_TASK_TIME_LIMIT": "600"}, "SOFT"),
        ({"DEFAULT_K_ANONYMITY": "1"}, "DEFAULT_K_ANONYMITY"),
        ({"HTTPS": "perhaps"}, "HTTPS"),
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
    ],
)
def test_bad_values_fail_at_start_up(tmp_path, env, message):
    assert message in settings_error(tmp_path, **env)


# --- the generated SECRET_KEY -----------------------------------------------------


def test_secret_key_is_generated_once_and_kept_private(tmp_path):
    first = load_settings(tmp_path)
    key_file = tmp_path / "data" / "secret_key"
    assert key_file.read_text(encoding="utf-8") == first["secret_key"]
    assert len(first["secret_key"]) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # A restart reads the same key: sessions and HMACs survive it.
    second = load_settings(tmp_path)
    assert second["secret_key"] == first["secret_key"]


def test_secret_key_from_the_environment_or_a_file(tmp_path):
    assert load_settings(tmp_path, SECRET_KEY="e" * 40)["secret_key"] == "e" * 40
    key = tmp_path / "key"
    key.write_text("f" * 40 + "\n", encoding="utf-8")
    assert load_settings(tmp_path, SECRET_KEY_FILE=str(key))["secret_key"] == "f" * 40
    # Nothing was generated when a key was given.
    assert not (tmp_path / "data" / "secret_key").exists()


def test_separate_data_dirs_get_separate_keys(tmp_path):
    one = load_settings(tmp_path / "one")
    two = load_settings(tmp_path / "two")
    assert one["secret_key"] != two["secret_key"]
    assert one["data_dir"] != two["data_dir"]


# --- mail in production -------------------------------------------------------------

PRODUCTION_ENV = {
    "DATABASE_URL": "postgresql://app@db.internal/organizing",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "SECRET_KEY": "k" * 50,
    "SITE_URL": "https://organizing.example.org",
    "ALLOWED_HOSTS": "organizing.example.org",
}


def run_check(tmp_path: Path, *options: str, **env: str) -> subprocess.CompletedProcess:
    """`manage.py check OPTIONS` in a new process with only `env`."""
    environment = {"PATH": os.environ.get("PATH", ""), "DATA_DIR": str(tmp_path / "data")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", *options],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_deployment_without_a_mail_server_is_refused(tmp_path):
    """The console backend would print every code mail (To: a signer's work
    address, and the code) to the service log."""
    result = run_check(tmp_path, "--deploy", **PRODUCTION_ENV)
    assert result.returncode != 0
    assert "organizing.E002" in result.stderr
    assert "EMAIL_URL" in result.stderr


def test_the_embedded_default_keeps_printing_mail_to_its_console(tmp_path):
    """`make run` checks its configuration (migrate runs the checks) without
    --deploy: the person trying the demo reads their code on the console."""
    result = run_check(tmp_path)
    assert result.returncode == 0, result.stderr
    assert load_settings(tmp_path)["email_backend"].endswith("console.EmailBackend")


@pytest.mark.parametrize("mail", ["EMAIL_URL", "EMAIL_FILE_PATH"])
def test_a_deployment_with_a_mail_backend_passes(tmp_path, mail):
    value = "smtp+tls://app@mail.example.org:587" if mail == "EMAIL_URL" else str(tmp_path)
    result = run_check(tmp_path, "--deploy", **PRODUCTION_ENV, **{mail: value})
    assert result.returncode == 0, result.stderr
    assert "organizing.E002" not in result.stdout + result.stderr


def test_the_production_start_up_runs_the_deploy_check():
    unit = (BASE_DIR / "deploy" / "systemd" / "organizing-web.service").read_text()
    assert "ExecStartPre=/opt/organizing/.venv/bin/python manage.py check --deploy" in unit
    release = next(
        line
        for line in (BASE_DIR / "Procfile").read_text().splitlines()
        if line.startswith("release:")
    )
    assert release.startswith("release: python manage.py check --deploy &&")
