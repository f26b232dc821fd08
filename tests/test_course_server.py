"""`make course` serves the chapters on 127.0.0.1, and only to holders of the token."""

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.chapter00

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def test_make_course_serves_the_notebooks_behind_a_token():
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_TOKEN": token, "PORT": str(port)}
    env.pop("DISPLAY", None)
    server = subprocess.Popen(
        ["make", "--no-print-directory", "course"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}/api/contents"
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                status, body = _get(f"{base}?token={token}")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        assert status == 200, f"JupyterLab did not answer (make course exited {server.poll()})"
        names = {item["name"] for item in json.loads(body)["content"]}
        assert "00_tour.ipynb" in names
        assert _get(base)[0] == 403, "the course must not be served without the token"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output = server.communicate(timeout=30)[0].decode()
    assert f"127.0.0.1:{port}" in output and "token=" in output
