"""Fixtures shared by the launcher's tests."""

from __future__ import annotations

import os

import pytest

from launch import clean_env


@pytest.fixture(autouse=True, scope="module")
def _client_env():
    """boto3 in the tests sees the same clean environment as the launcher."""
    saved = dict(os.environ)
    clean = clean_env()  # read before clearing: PATH, HOME and the rest stay
    os.environ.clear()
    os.environ.update(clean)
    yield
    os.environ.clear()
    os.environ.update(saved)
