"""How the launcher's tests start it: with a clean environment (the machine's
AWS settings, CA bundles and profiles must not leak in) and the root key, and
read its `READY <port>` line."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REGION = "us-east-1"


def clean_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and k not in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
    }
    env.update(
        AWS_ACCESS_KEY_ID="testing",  # the root key
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def start(*extra: str) -> subprocess.Popen:
    """Starts the launcher with `extra` flags; read its endpoint with `endpoint_of`."""
    return subprocess.Popen(
        [sys.executable, str(HERE / "moto_launcher.py"), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=clean_env(),
        text=True,
    )


def endpoint_of(proc: subprocess.Popen) -> str:
    """The launcher's URL, once it prints `READY <port>`."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("READY "), f"launcher said {line!r}"
    return f"http://127.0.0.1:{int(line.split()[1])}"


def stop(*procs: subprocess.Popen) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=10)


def client(service: str, endpoint: str):
    """A boto3 client for the launcher at `endpoint`, in the tests' region."""
    import boto3

    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)


def suffix() -> str:
    """A short random suffix for names a test makes."""
    return uuid.uuid4().hex[:8]
