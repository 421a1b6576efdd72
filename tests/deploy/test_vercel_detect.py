"""What Vercel's own build detection (@vercel/fs-detectors) makes of vercel.json and the upload."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.deployment import ROOT, api_functions, uploaded_files, vercel_config

DETECT = Path(__file__).resolve().parents[1] / "fixtures" / "vercel_detect.js"


def _detect(*framework: str) -> dict[str, Any]:
    node_modules = os.environ.get("DEPLOY_NODE_MODULES") or str(ROOT / ".cache/node/node_modules")
    if not (Path(node_modules) / "@vercel/fs-detectors").is_dir():
        pytest.fail(f"@vercel/fs-detectors is not installed in {node_modules}: scripts/test installs it")
    process = subprocess.run(
        ["node", str(DETECT), str(ROOT), *framework],
        input=json.dumps(list(uploaded_files())),
        env={**os.environ, "NODE_PATH": node_modules},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr
    return json.loads(process.stdout)  # type: ignore[no-any-return]


def test_every_api_file_becomes_its_own_python_function() -> None:
    result = _detect()
    assert result["errors"] is None
    python = [builder for builder in result["builders"] if builder["use"] == "@vercel/python"]
    assert sorted(builder["src"] for builder in python) == [f"api/{name}.py" for name in api_functions()]
    for builder in python:
        assert builder["functions"] == {builder["src"]: vercel_config()["functions"][builder["src"]]}


def test_the_fastapi_preset_would_serve_a_single_app_instead() -> None:
    result = _detect("fastapi")
    python = [builder["src"] for builder in result["builders"] if builder["use"] == "@vercel/python"]
    assert python == ["<detect>"], "the preset is what vercel.json opts out of"


def test_the_upload_leaves_out_tests_and_tool_settings() -> None:
    files = uploaded_files()
    assert "api/login.py" in files
    assert "requirements.txt" in files
    assert not [f for f in files if f.startswith(("tests/", "scripts/", ".venv/", ".cache/")) or f == "pyproject.toml"]
