"""The Serverless Framework CLI resolves and packages serverless.yml offline.

Requirements bundling is pointed at an empty file (`SLS_PYTHON_REQUIREMENTS`), so the
plugin runs its real code path without downloading anything; everything else is
packaged exactly as `serverless deploy` would package it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.deployment import ROOT, api_functions, httpapi_events, serverless_config

# Starting every function process (or Node) on a busy two-core machine takes a while.
pytestmark = [pytest.mark.timeout(600), pytest.mark.database_independent]
SKIP_DIRS = {
    ".git",
    ".venv",
    ".cache",
    ".serverless",
    "node_modules",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
}
DEPLOY_ENV = {
    "DATABASE_URL": "postgresql://auth:secret@pooler.example.com:6432/auth?sslmode=require",
    "RSA_PRIVATE_KEY_CONTENT": "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t",
    "JWT_ISSUER": "https://auth.example.com",
    "MFA_ENCRYPTION_KEY": "rB1cVmq0nU9Q3m2yXbLkQ8bO4x7T5pS0eF6gH1jK2lM=",
    "CRON_SECRET": "packaging-test-secret-of-32-chars-or-more",
    "CORS_ORIGINS": "https://app.example.com",
    "FRONTEND_URL": "https://app.example.com",
    "SMTP_SENDER_EMAIL": "no-reply@example.com",
}

# What the Lambda runtime itself adds to a function's environment (the role's credentials among them).
LAMBDA_RUNTIME_ENV = {
    "AWS_REGION": "eu-central-1",
    "AWS_LAMBDA_FUNCTION_NAME": "auth-service-test-login",
    "AWS_ACCESS_KEY_ID": "ASIAPACKAGINGTEST",
    "AWS_SECRET_ACCESS_KEY": "packaging-test",
    "AWS_SESSION_TOKEN": "packaging-test",
}


def _cli() -> str:
    cli = os.environ.get("SERVERLESS_CLI") or str(ROOT / ".cache/node/node_modules/.bin/serverless")
    if not Path(cli).is_file():
        pytest.fail(f"the Serverless CLI is not installed at {cli}: scripts/test installs it")
    return cli


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    cli = _cli()
    service = tmp_path_factory.mktemp("service") / "auth-service"
    shutil.copytree(ROOT, service, ignore=lambda _dir, names: [n for n in names if n in SKIP_DIRS])
    # The plugin is resolved from the service's node_modules, as in a project that installed it.
    (service / "node_modules").symlink_to(Path(cli).parents[1])
    (service / "offline-requirements.txt").write_text("")
    home = tmp_path_factory.mktemp("home")
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(home),
        "SLS_TELEMETRY_DISABLED": "1",
        "SLS_NOTIFICATIONS_MODE": "off",
        "SLS_INTERACTIVE_SETUP_DISABLE": "1",
        "SLS_PYTHON_REQUIREMENTS": "offline-requirements.txt",
        "AWS_ACCESS_KEY_ID": "AKIAPACKAGINGTEST",
        "AWS_SECRET_ACCESS_KEY": "packaging-test",
        "CI": "1",
        **DEPLOY_ENV,
    }
    process = subprocess.run(
        [cli, "package", "--stage", "test"], cwd=service, env=env, capture_output=True, text=True, timeout=300
    )
    output = process.stdout + process.stderr
    assert process.returncode == 0, output
    return service / ".serverless", output


def test_configuration_validates_apart_from_the_runtime_name(packaged: tuple[Path, str]) -> None:
    _artifacts, output = packaged
    # v3's schema predates python3.12, which Lambda runs; that warning is the only one allowed.
    problems = [line.strip() for line in output.splitlines() if line.strip().startswith("at '")]
    assert all(problem.startswith("at 'provider.runtime'") for problem in problems), problems
    warnings = {line.strip() for line in output.splitlines() if line.strip().startswith("Warning")}
    assert warnings <= {"Warning: Invalid configuration encountered"}, warnings
    assert "deprecation" not in output.lower(), output
    assert "Service packaged" in output


@pytest.mark.parametrize("name", api_functions())
def test_each_function_package_holds_its_file_and_lib(packaged: tuple[Path, str], name: str) -> None:
    artifacts, _output = packaged
    key = next(k for k, f in serverless_config()["functions"].items() if f["handler"] == f"api/{name}.handler")
    with zipfile.ZipFile(artifacts / f"{key}.zip") as archive:
        names = set(archive.namelist())
    assert f"api/{name}.py" in names
    api_files = {"api/__init__.py", f"api/{name}.py"}
    assert {n for n in names if n.startswith("api/")} == api_files | {pyc_of(n) for n in api_files}
    lib_files = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "lib").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert lib_files <= names, sorted(lib_files - names)
    assert {path for path in lib_files if path.startswith("lib/templates/")} <= names
    assert not {n for n in names if n.split("/")[0] in {"tests", "scripts", "migrations", ".ci", "node_modules"}}
    # Bytecode: each source's CPython 3.12 pyc and nothing else from a __pycache__ of ours.
    sources = {n for n in names if n.startswith(("api/", "lib/")) and n.endswith(".py")}
    assert {n for n in names if "__pycache__" in n and n.startswith(("api/", "lib/"))} == {pyc_of(n) for n in sources}
    assert not {n for n in names if n.endswith((".env", ".db", "serverless.yml", "pyproject.toml"))}


def pyc_of(source: str) -> str:
    """Where CPython 3.12 looks for the bytecode of `source` (a path in the package)."""
    folder, _, file = source.rpartition("/")
    return f"{folder}/__pycache__/{file.removesuffix('.py')}.cpython-312.pyc"


@pytest.mark.parametrize("name", ["login", "me", "cron_cleanup"])
def test_packaged_bytecode_is_python_312_and_valid_for_the_packaged_source(
    packaged: tuple[Path, str], name: str, tmp_path: Path
) -> None:
    """Each pyc is an unchecked-hash pyc (PEP 552) of Python 3.12 for the very source beside it, so
    that the read-only runtime loads it whatever the files' times; and the runtime does load it."""
    artifacts, _output = packaged
    key = next(k for k, f in serverless_config()["functions"].items() if f["handler"] == f"api/{name}.handler")
    template = json.loads((artifacts / "cloudformation-template-update-stack.json").read_text())
    functions = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    # The packaged settings, with a real key (the packaging test's is a placeholder the init refuses).
    variables = {
        **functions[0]["Environment"]["Variables"],
        "RSA_PRIVATE_KEY_CONTENT": os.environ["RSA_PRIVATE_KEY_CONTENT"],
        # CloudFormation puts the queue's URL there at deployment.
        "EMAIL_QUEUE_URL": "https://sqs.eu-central-1.amazonaws.com/123456789012/auth-service-test-EmailQueue",
    }
    with zipfile.ZipFile(artifacts / f"{key}.zip") as archive:
        archive.extractall(tmp_path)
        sources = [n for n in archive.namelist() if n.startswith(("api/", "lib/")) and n.endswith(".py")]
    assert len(sources) > 50
    for source in sources:
        header = (tmp_path / pyc_of(source)).read_bytes()[:16]
        assert header[:4] == MAGIC_312, source
        assert int.from_bytes(header[4:8], "little") == 0b01, source  # hash-based, source not checked
        assert header[8:] == importlib.util.source_hash((tmp_path / source).read_bytes()), source
    # The package's own bytecode is what a read-only runtime imports: with the sources emptied,
    # the function still imports (every module came from its pyc) and writes no bytecode.
    for source in sources:
        (tmp_path / source).write_text("raise ImportError('compiled from source')\n")
    check = f"import api.{name}, sys; print(sys.modules['api.{name}'].handler is not None)"
    process = subprocess.run(
        [sys.executable, "-B", "-c", check],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "ENV_FILE": "", **LAMBDA_RUNTIME_ENV, **variables},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr[-2000:]
    assert process.stdout.split() == ["True"]


# CPython 3.12's bytecode magic number (importlib.util.MAGIC_NUMBER under 3.12): 3531.
MAGIC_312 = (3531).to_bytes(2, "little") + b"\r\n"


def test_the_schedule_package_holds_the_clean_up(packaged: tuple[Path, str]) -> None:
    artifacts, _output = packaged
    with zipfile.ZipFile(artifacts / "cleanup_schedule.zip") as archive:
        names = set(archive.namelist())
    assert {"lib/maintenance.py", "api/cron_cleanup.py"} <= names
    own = {"api/__init__.py", "api/cron_cleanup.py"}
    assert not {n for n in names if n.startswith("api/") and n not in own | {pyc_of(source) for source in own}}


def test_cloudformation_declares_the_routes_runtime_and_schedule(packaged: tuple[Path, str]) -> None:
    artifacts, _output = packaged
    template = json.loads((artifacts / "cloudformation-template-update-stack.json").read_text())
    resources = template["Resources"].values()
    functions = [r["Properties"] for r in resources if r["Type"] == "AWS::Lambda::Function"]
    assert {f["Runtime"] for f in functions} == {"python3.12"}
    assert {f["Handler"] for f in functions} == {f["handler"] for f in serverless_config()["functions"].values()}
    for function in functions:
        assert function["Environment"]["Variables"]["DATABASE_URL"] == DEPLOY_ENV["DATABASE_URL"]
        assert function["Environment"]["Variables"]["ENVIRONMENT"] == "production"
    routes = {r["Properties"]["RouteKey"] for r in resources if r["Type"] == "AWS::ApiGatewayV2::Route"}
    declared = {
        f"{route.method} {route.path}" for f in serverless_config()["functions"].values() for route in httpapi_events(f)
    }
    assert routes == declared
    rules = [r["Properties"] for r in resources if r["Type"] == "AWS::Events::Rule"]
    assert [rule["ScheduleExpression"] for rule in rules] == ["rate(5 minutes)"]  # it retries failed emails too


def test_the_mailer_package_holds_the_sender_and_consumes_the_email_queue(packaged: tuple[Path, str]) -> None:
    artifacts, _output = packaged
    with zipfile.ZipFile(artifacts / "mailer.zip") as archive:
        names = set(archive.namelist())
    assert {"api/mailer.py", "lib/email/sending.py", "lib/email/queue.py", "lib/templates/email/base.html"} <= names
    own = {"api/__init__.py", "api/mailer.py"}
    assert not {n for n in names if n.startswith("api/") and n not in own | {pyc_of(source) for source in own}}
    template = json.loads((artifacts / "cloudformation-template-update-stack.json").read_text())
    resources = template["Resources"]
    (mapping,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["EmailQueue", "Arn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["FunctionName"]["Fn::Join"][1][0] == {"Fn::GetAtt": ["MailerLambdaFunction", "Arn"]}
    queue = resources["EmailQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["EmailDeadLetterQueue", "Arn"]}
    assert resources["EmailDeadLetterQueue"]["Type"] == "AWS::SQS::Queue"
    # The functions may send to that queue and to no other; only the mailer's event source reads it.
    (role,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::IAM::Role"]
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    sqs = [s for s in statements if any(action.startswith("sqs:") for action in s["Action"])]
    assert sqs
    for statement in sqs:
        resources_named = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert resources_named == [{"Fn::GetAtt": ["EmailQueue", "Arn"]}], statement
    sending = [s for s in sqs if "sqs:SendMessage" in s["Action"]]
    assert [s["Action"] for s in sending] == [["sqs:SendMessage"]]


def test_the_packaged_environment_passes_production_checks(packaged: tuple[Path, str]) -> None:
    artifacts, _output = packaged
    template = json.loads((artifacts / "cloudformation-template-update-stack.json").read_text())
    functions = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    variables = dict(functions[0]["Environment"]["Variables"])
    assert all(f["Environment"]["Variables"] == variables for f in functions)
    # CloudFormation puts the queue's URL there at deployment.
    assert variables.pop("EMAIL_QUEUE_URL") == {"Ref": "EmailQueue"}
    variables["EMAIL_QUEUE_URL"] = "https://sqs.eu-central-1.amazonaws.com/123456789012/auth-service-test-EmailQueue"
    check = "from lib.config import get_settings; s = get_settings(); print(s.ENVIRONMENT, s.EMAIL_BACKEND)"
    process = subprocess.run(
        [sys.executable, "-c", check],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "ENV_FILE": "", **LAMBDA_RUNTIME_ENV, **variables},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode == 0, process.stderr
    assert process.stdout.split() == ["production", "ses"]


def test_the_http_api_answers_cors_preflights_from_the_settings(packaged: tuple[Path, str]) -> None:
    artifacts, _output = packaged
    template = json.loads((artifacts / "cloudformation-template-update-stack.json").read_text())
    (api,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Api"]
    cors = api["CorsConfiguration"]
    assert cors["AllowOrigins"] == [DEPLOY_ENV["CORS_ORIGINS"]]
    assert cors["AllowCredentials"] is True
    assert "Authorization" in cors["AllowHeaders"]
    routes = [
        r["Properties"]["RouteKey"] for r in template["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Route"
    ]
    assert routes
    assert not [route for route in routes if route.startswith("OPTIONS")]


def test_every_function_runs_with_snapstart_behind_an_alias(packaged: tuple[Path, str]) -> None:
    artifacts, _output = packaged
    template = json.loads((artifacts / "cloudformation-template-update-stack.json").read_text())
    resources = template["Resources"]
    functions = {key: r["Properties"] for key, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    assert len(functions) == len(serverless_config()["functions"])
    assert all(f.get("SnapStart") == {"ApplyOn": "PublishedVersions"} for f in functions.values()), functions
    # SnapStart applies only to published versions: every function has an alias on its version,
    # and every route and the schedule invoke that alias, never $LATEST.
    aliases = {
        r["Properties"]["FunctionName"]["Ref"]: key for key, r in resources.items() if r["Type"] == "AWS::Lambda::Alias"
    }
    assert set(aliases) == set(functions)
    integrations = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Integration"]
    rules = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    mappings = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    targets = [integration["IntegrationUri"] for integration in integrations]
    targets += [target["Arn"] for rule in rules for target in rule["Targets"]]
    targets += [mapping["FunctionName"] for mapping in mappings]
    assert targets
    for target in targets:  # "<function ARN>:snapstart", the alias's qualified ARN
        separator, (function, qualifier) = target["Fn::Join"]
        assert (separator, qualifier) == (":", "snapstart"), target
        assert function["Fn::GetAtt"][0] in functions, target
    assert {resources[alias]["Properties"]["Name"] for alias in aliases.values()} == {"snapstart"}
