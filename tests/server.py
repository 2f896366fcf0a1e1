"""A real ``shoal serve`` in a subprocess on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

TOKEN = "test-admin-token"


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ShoalServer:
    """Start, stop, crash and restart one server over one data dir."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = TOKEN
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"

    def start(self, timeout: float = 30.0) -> ShoalServer:
        """Start the server and wait until ``/healthz`` answers 200."""
        env = {**os.environ, "SHOAL_ADMIN_TOKEN": self.token, **self.env}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shoal",
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"shoal serve exited early:\n{self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"shoal serve did not become healthy:\n{self.log()}")

    def stop(self, timeout: float = 30.0) -> int:
        """Ctrl-C the server and wait for it to exit; returns its exit code."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        return code

    def kill(self) -> None:
        """``kill -9``: no shutdown code runs."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    # -- Config API helpers -------------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return httpx.request(
            method, self.url + "/api/v1" + path, headers=headers, timeout=30, **kwargs
        )

    def create_source(
        self, name: str, type: str = "server", environment: str = "dev", **extra: Any
    ) -> dict[str, Any]:
        response = self.api(
            "POST",
            "/sources",
            json={"name": name, "type": type, "environment": environment, **extra},
        )
        assert response.status_code == 201, response.text
        source: dict[str, Any] = response.json()
        return source

    def events(self, source_id: str, limit: int = 1000, **params: Any) -> list[dict[str, Any]]:
        response = self.api(
            "GET", f"/sources/{source_id}/events", params={"limit": limit, **params}
        )
        assert response.status_code == 200, response.text
        events: list[dict[str, Any]] = response.json()["events"]
        return events

    def wait_for_events(
        self, source_id: str, count: int, timeout: float = 20.0, **params: Any
    ) -> list[dict[str, Any]]:
        """Poll the debugger feed until it holds at least ``count`` events."""
        deadline = time.monotonic() + timeout
        events: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            events = self.events(source_id, **params)
            if len(events) >= count:
                return events
            time.sleep(0.1)
        raise AssertionError(f"expected {count} events, found {len(events)}")
