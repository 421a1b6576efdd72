"""vercel.json and .vercelignore agree with the functions in api/."""

from __future__ import annotations

import re

import pytest

from tests.fixtures.deployment import (
    ROOT,
    api_functions,
    served_routes,
    vercel_config,
    vercel_config_headers,
    vercel_destination,
    vercel_ignores,
)

FUNCTIONS = api_functions()


def test_vercel_opts_out_of_the_fastapi_preset() -> None:
    config = vercel_config()
    assert "framework" in config
    assert config["framework"] is None
    assert "builds" not in config, "`builds` would replace the per-file functions and their settings"


def test_every_api_file_is_a_vercel_function_and_nothing_else() -> None:
    declared = set(vercel_config()["functions"])
    assert declared == {f"api/{name}.py" for name in FUNCTIONS}
    for pattern, settings in vercel_config()["functions"].items():
        assert (ROOT / pattern).is_file(), f"{pattern} does not exist"
        assert isinstance(settings["memory"], int)
        assert 128 <= settings["memory"] <= 3009
        assert isinstance(settings["maxDuration"], int)
        assert 1 <= settings["maxDuration"] <= 300


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_served_route_is_rewritten_to_its_function(name: str) -> None:
    for route in served_routes(name):
        assert vercel_destination(route.sample_path) == f"/api/{name}", f"{route.method} {route.path}"


def test_every_rewrite_points_at_a_function_that_serves_its_path() -> None:
    for rewrite in vercel_config()["rewrites"]:
        destination = rewrite["destination"]
        match = re.fullmatch(r"/api/(\w+)", destination)
        assert match, f"rewrite destination {destination} is not an api/ function"
        name = match.group(1)
        assert (ROOT / "api" / f"{name}.py").is_file(), f"{destination} has no api/{name}.py"
        source = re.sub(r":\w+", "x", rewrite["source"])
        declared = [re.sub(r"\{[^}]+\}", "x", route.path) for route in served_routes(name)]
        assert source in declared, f"{rewrite['source']} is not routed by api/{name}.py"


def test_well_known_documents_keep_their_own_cache_headers() -> None:
    for route in served_routes("jwks"):
        assert "cache-control" not in vercel_config_headers(route.sample_path), route.path


@pytest.mark.parametrize("name", [name for name in FUNCTIONS if name != "jwks"])
def test_every_other_response_is_no_store(name: str) -> None:
    for route in served_routes(name):
        assert vercel_config_headers(route.sample_path).get("cache-control") == "no-store", route.path


def test_cron_calls_the_clean_up_function_daily() -> None:
    crons = vercel_config()["crons"]
    assert [cron["path"] for cron in crons] == ["/api/v1/cron/cleanup"]
    assert vercel_destination(crons[0]["path"]) == "/api/cron_cleanup"
    minute, hour, *rest = crons[0]["schedule"].split()
    assert minute.isdigit(), "Hobby plans allow one run a day"
    assert hour.isdigit(), "Hobby plans allow one run a day"
    assert rest == ["*", "*", "*"]


def test_vercelignore_keeps_tests_and_dev_files_out_of_the_bundles() -> None:
    for path in [
        "tests/conftest.py",
        "scripts/test",
        ".venv/bin/python",
        "migrations/env.py",
        ".ci/run",
        "pyproject.toml",
        "requirements-dev.txt",
        "serverless.yml",
        ".env",
        "auth.db",
        "lib/__pycache__/app.cpython-312.pyc",
        ".cache/node/x",
        "api/mailer.py",  # the SQS consumer, Lambda only
    ]:
        assert vercel_ignores(path), f"{path} would be uploaded"
    for path in [
        "api/login.py",
        "lib/app.py",
        "lib/templates/email/verify.html",
        "requirements.txt",
        ".python-version",
        "vercel.json",
        "public/index.html",
    ]:
        assert not vercel_ignores(path), f"{path} would be left out"
