"""`make course` serves the working copy of the chapters on 127.0.0.1, only to holders of the
token, and its kernels talk to it encrypted (no "running over TCP without encryption" warning)."""

import asyncio
import concurrent.futures
import json
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from browser_support import free_port
from tornado.websocket import websocket_connect

pytestmark = pytest.mark.chapter00

ROOT = Path(__file__).resolve().parent.parent


def _get(url: str, method: str = "GET") -> tuple[int, bytes]:
    try:
        request = urllib.request.Request(
            url, method=method, data=b"{}" if method == "POST" else None
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def _run_in_a_kernel(port: int, token: str, code: str) -> str:
    """Start a kernel and run code in it over the websocket, as JupyterLab does; its stdout."""
    status, body = _get(f"http://127.0.0.1:{port}/api/kernels?token={token}", "POST")
    assert status == 201, f"no kernel: {status}"
    url = f"ws://127.0.0.1:{port}/api/kernels/{json.loads(body)['id']}/channels?token={token}"
    header = {"msg_id": uuid.uuid4().hex, "msg_type": "execute_request", "version": "5.3"}
    header |= {"session": uuid.uuid4().hex, "username": ""}
    request = {"header": header, "parent_header": {}, "metadata": {}, "channel": "shell"}
    request["content"] = {"code": code, "silent": False}

    async def run() -> str:
        socket = await websocket_connect(url)
        socket.write_message(json.dumps(request))
        printed = ""
        while True:
            message = json.loads(await asyncio.wait_for(socket.read_message(), 60))
            if message["parent_header"].get("msg_id") != header["msg_id"]:
                continue
            if message["msg_type"] == "stream":
                printed += message["content"]["text"]
            # The request is done when the kernel goes idle on iopub, after all its outputs; the
            # execute_reply comes on another channel and may arrive before them (a busy machine).
            if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                return printed

    # In a thread of its own: in the full suite Playwright's sync API (the browser tests) keeps
    # an event loop running in this one, where asyncio.run() refuses to start.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()


def test_make_course_serves_the_notebooks_behind_a_token():
    port, token = free_port(), secrets.token_hex(16)
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
        assert (ROOT / "work" / "00_tour.ipynb").is_file(), "the course opens the working copy"
        assert _get(base)[0] == 403, "the course must not be served without the token"
        assert _run_in_a_kernel(port, token, "print(6 * 7)") == "42\n"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output = server.communicate(timeout=30)[0].decode()
    assert f"127.0.0.1:{port}" in output and "token=" in output
    assert "without encryption" not in output
