"""serverless.yml agrees with the functions in api/, and every route reaches its handler."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
from collections.abc import Callable
from glob import glob

import pytest

from lib.config import Settings
from tests.fixtures.deployment import (
    ROOT,
    api_functions,
    httpapi_events,
    lambda_function_for,
    served_routes,
    serverless_config,
    serverless_function_of,
)
from tests.fixtures.lambda_events import Request, decode_response, http_api_v2, invoke

FUNCTIONS = api_functions()


def test_provider_targets_python_312_with_individual_packages() -> None:
    config = serverless_config()
    assert config["frameworkVersion"] == "3"
    assert config["provider"]["runtime"] == "python3.12"
    assert config["package"]["individually"] is True
    assert config["package"]["patterns"][:1] == ["!**"]
    assert "lib/**" in config["package"]["patterns"]


def test_environment_comes_from_the_deploying_shell() -> None:
    environment = dict(serverless_config()["provider"]["environment"])
    assert environment.pop("ENVIRONMENT") == "production"
    assert environment.pop("EMAIL_QUEUE_URL") == {"Ref": "EmailQueue"}  # the queue this stack creates
    for name, value in environment.items():
        assert value.startswith(f"${{env:{name}"), f"{name}: {value}"
    required_in_production = (
        "DATABASE_URL",
        "RSA_PRIVATE_KEY_CONTENT",
        "MFA_ENCRYPTION_KEY",
        "JWT_ISSUER",
        "FRONTEND_URL",
        "CORS_ORIGINS",
        "CRON_SECRET",
    )
    for required in required_in_production:
        assert environment[required] == f"${{env:{required}}}", f"{required} must have no default"


def test_requirements_keep_dist_info_and_bytecode() -> None:
    config = serverless_config()
    assert "serverless-python-requirements" in config["plugins"]
    options = config["custom"]["pythonRequirements"]
    assert options["slim"] is False
    assert options["strip"] is False
    assert options["zip"] is False


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_api_file_is_a_lambda_function_packaged_with_its_file(name: str) -> None:
    _key, function = serverless_function_of(name)
    assert f"api/{name}.py" in function["package"]["patterns"]


def test_every_handler_and_pattern_points_at_something_that_exists() -> None:
    config = serverless_config()
    patterns = list(config["package"]["patterns"])
    for key, function in config["functions"].items():
        module_path, _, attribute = function["handler"].rpartition(".")
        assert (ROOT / f"{module_path}.py").is_file(), f"{key}: {module_path}.py is missing"
        module = importlib.import_module(module_path.replace("/", "."))
        assert callable(getattr(module, attribute, None)), f"{key}: {function['handler']} is not callable"
        patterns += function.get("package", {}).get("patterns", [])
    for pattern in patterns:
        if not pattern.startswith("!"):
            assert glob(pattern, root_dir=ROOT, recursive=True), f"package pattern {pattern} matches nothing"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_served_route_has_an_http_api_event_on_its_function(name: str) -> None:
    key, _function = serverless_function_of(name)
    for route in served_routes(name):
        assert lambda_function_for(route.method, route.sample_path) == key, f"{route.method} {route.path}"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_route_reaches_the_handler_without_404_or_405(name: str) -> None:
    _key, function = serverless_function_of(name)
    handler = importlib.import_module(f"api.{name}").handler
    for route in [route for route in httpapi_events(function) if "+}" not in route.path]:
        request = Request(route.method, route.sample_path)
        response = decode_response(invoke(handler, http_api_v2(request, route_key=f"{route.method} {route.path}")))
        assert response.status not in (404, 405), f"{route.method} {route.path}: {response.status} {response.body!r}"


def test_no_function_takes_cors_preflights() -> None:
    """API Gateway answers preflights itself (provider.httpApi.cors): none invokes a function."""
    events = [event for function in serverless_config()["functions"].values() for event in function.get("events", [])]
    assert not [event for event in events if str(event.get("httpApi", "")).startswith("OPTIONS")]
    assert serverless_config()["provider"]["httpApi"]["cors"] == "${file(./scripts/serverless-cors.js):cors}"


def _gateway_cors(**env: str) -> dict[str, object]:
    script = "process.stdout.write(JSON.stringify(require('./scripts/serverless-cors.js').cors()))"
    process = subprocess.run(
        ["node", "-e", script],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    return dict(json.loads(process.stdout))


@pytest.mark.parametrize(
    "origins",
    ["https://app.example.com, https://admin.example.com", '["https://app.example.com","https://admin.example.com"]'],
)
def test_the_gateway_cors_answer_follows_the_functions_cors_settings(origins: str) -> None:
    env = {
        "CORS_ORIGINS": origins,
        "CORS_ALLOW_HEADERS": "Authorization,Content-Type,X-Refresh-Token-Transport",
        "CORS_ALLOW_METHODS": "GET,POST",
        "CORS_ALLOW_CREDENTIALS": "false",
    }
    settings = Settings(**env)  # type: ignore[arg-type]
    cors = _gateway_cors(**env)
    assert cors["allowedOrigins"] == settings.CORS_ORIGINS == ["https://app.example.com", "https://admin.example.com"]
    assert cors["allowedHeaders"] == settings.CORS_ALLOW_HEADERS
    assert cors["allowedMethods"] == settings.CORS_ALLOW_METHODS
    assert cors["allowCredentials"] is settings.CORS_ALLOW_CREDENTIALS is False


def test_the_gateway_cors_answer_defaults_to_the_settings_defaults() -> None:
    defaults = Settings()
    cors = _gateway_cors(CORS_ORIGINS="https://app.example.com")
    assert cors["allowedHeaders"] == defaults.CORS_ALLOW_HEADERS
    assert cors["allowedMethods"] == defaults.CORS_ALLOW_METHODS
    assert cors["allowCredentials"] is defaults.CORS_ALLOW_CREDENTIALS


def test_the_gateway_refuses_a_wildcard_origin() -> None:
    script = "require('./scripts/serverless-cors.js').cors()"
    process = subprocess.run(
        ["node", "-e", script],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "CORS_ORIGINS": "*"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert process.returncode != 0
    assert "CORS_ORIGINS" in process.stderr


def test_every_handler_lives_in_api() -> None:
    handlers = [function["handler"] for function in serverless_config()["functions"].values()]
    assert handlers
    assert all(handler.startswith("api/") for handler in handlers), handlers


def test_the_schedule_invokes_a_handler_no_http_request_can_reach() -> None:
    scheduled = [
        (key, function)
        for key, function in serverless_config()["functions"].items()
        if any("schedule" in event for event in function.get("events", []))
    ]
    assert len(scheduled) == 1
    _key, function = scheduled[0]
    assert function["handler"] == "api/cron_cleanup.scheduled"  # every handler lives in api/
    assert all(set(event) == {"schedule"} for event in function["events"])


def test_every_api_file_is_an_http_function_or_the_mailer_on_the_email_queue() -> None:
    from api._local import QUEUE_CONSUMERS

    files = {path.stem for path in (ROOT / "api").glob("*.py") if not path.stem.startswith("_")}
    assert files == set(FUNCTIONS) | QUEUE_CONSUMERS
    assert QUEUE_CONSUMERS == {"mailer"}
    (mailer,) = [f for f in serverless_config()["functions"].values() if f["handler"] == "api/mailer.handler"]
    assert mailer["package"]["patterns"] == ["api/mailer.py"]
    assert mailer["events"] == [
        {
            "sqs": {
                "arn": {"Fn::GetAtt": ["EmailQueue", "Arn"]},
                "batchSize": 10,
                "functionResponseType": "ReportBatchItemFailures",
            }
        }
    ]
    assert (
        mailer["timeout"] * 6
        <= serverless_config()["resources"]["Resources"]["EmailQueue"]["Properties"]["VisibilityTimeout"]
    )


def test_the_email_queue_has_a_dead_letter_queue() -> None:
    resources = serverless_config()["resources"]["Resources"]
    queue, dead_letters = resources["EmailQueue"], resources["EmailDeadLetterQueue"]
    assert queue["Type"] == dead_letters["Type"] == "AWS::SQS::Queue"
    redrive = queue["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["EmailDeadLetterQueue", "Arn"]}
    assert 1 < redrive["maxReceiveCount"] <= 10


def test_the_role_may_send_to_the_email_queue_alone() -> None:
    statements = serverless_config()["provider"]["iam"]["role"]["statements"]
    sqs = [statement for statement in statements if "sqs:" in str(statement["Action"])]
    assert sqs == [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["EmailQueue", "Arn"]}}]


def _allowed_actions() -> set[str]:
    statements = serverless_config()["provider"]["iam"]["role"]["statements"]
    actions: set[str] = set()
    for statement in statements:
        if statement["Effect"] == "Allow":
            listed = statement["Action"]
            actions.update([listed] if isinstance(listed, str) else listed)
    return actions


async def test_the_lambda_role_allows_every_ses_call_the_email_backend_makes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The operations are recorded from a real send (boto3 against moto), not read from the code."""
    import boto3
    from moto import mock_aws

    from lib.config import Settings
    from lib.email import Email, backends
    from lib.email.render import build_message

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None, EMAIL_BACKEND="ses", AWS_REGION="eu-west-1")
    email = Email(
        to="a@example.com",
        subject="s",
        template="password_changed",
        context={"first_name": None, "changed_at": "now", "link": "x"},
    )
    called: list[str] = []
    backends._ses_client.cache_clear()
    try:
        with mock_aws():
            ses = boto3.client("ses", region_name="eu-west-1")
            ses.verify_email_identity(EmailAddress=settings.SMTP_SENDER_EMAIL)
            client = backends._ses_client(settings.AWS_REGION, settings.SMTP_TIMEOUT)
            client.meta.events.register("before-call.ses.*", lambda model, **_: called.append(model.name))
            await backends.send_ses(build_message(email), settings)
    finally:
        backends._ses_client.cache_clear()

    assert called == ["SendRawEmail"]
    assert {f"ses:{operation}" for operation in called} <= _allowed_actions()


async def test_the_lambda_role_allows_every_sqs_call_the_email_queue_makes(
    monkeypatch: pytest.MonkeyPatch, settings_env: Callable[..., None]
) -> None:
    """The operations are recorded from a real hand-over (boto3 against moto's SQS), not read from the code."""
    import uuid

    import boto3
    from moto import mock_aws

    from lib.email import queue

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    called: list[str] = []
    queue._sqs_client.cache_clear()
    try:
        with mock_aws():
            url = boto3.client("sqs", region_name="eu-west-1").create_queue(QueueName="emails")["QueueUrl"]
            settings_env(AWS_REGION="eu-west-1", EMAIL_QUEUE_URL=url)
            client = queue._sqs_client("eu-west-1", 10.0)
            client.meta.events.register("before-call.sqs.*", lambda model, **_: called.append(model.name))
            await queue.publish([uuid.uuid4()])
    finally:
        queue._sqs_client.cache_clear()

    assert called == ["SendMessage"]
    assert {f"sqs:{operation}" for operation in called} <= _allowed_actions()
