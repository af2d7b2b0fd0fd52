"""A fake AWS for the demo: moto's server on 127.0.0.1, in this process, with a seeded id
generator and a clock that can be held still while the estate is built."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import requests

MOTO_SERVICES = ("ec2", "elbv2", "iam", "s3", "sns", "sqs", "sts")
DEFAULT_REGION = "us-east-1"


class FakeAws:
    """A moto server on 127.0.0.1 (a free port unless given), in this process; every AWS client
    of this process points at it (AWS_ENDPOINT_URL), nothing reaches real AWS."""

    def __init__(self, port: int = 0):
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._server.start()
        host, bound = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{bound}"
        os.environ.pop("AWS_PROFILE", None)
        os.environ.update(
            AWS_ENDPOINT_URL=self.endpoint,
            AWS_ACCESS_KEY_ID="none",  # until the collector's own keys exist
            AWS_SECRET_ACCESS_KEY="none",
            AWS_DEFAULT_REGION=DEFAULT_REGION,
        )

    def seed(self, value: int) -> None:
        requests.post(f"{self.endpoint}/moto-api/seed", params={"a": value}, timeout=10)

    def enforce_iam(self, on: bool = True) -> None:
        """IAM checks every call from now on (moto: process-wide); off while building."""
        body = b"0" if on else b"inf"
        requests.post(f"{self.endpoint}/moto-api/reset-auth", data=body, timeout=10)

    @contextmanager
    def frozen_clock(self, at: datetime) -> Iterator[None]:
        """moto stamps resources with its clock (launch and creation times): build the estate at
        a recorded time, so a rebuilt estate is the same to the field, not "modified"."""
        import moto.core.utils as moto_utils

        for service in MOTO_SERVICES:  # loaded lazily: load them now, so all get the patch
            importlib.import_module(f"moto.{service}.models")
        original = moto_utils.utcnow
        naive = at.astimezone(UTC).replace(tzinfo=None)
        patched = [
            module
            for name, module in list(sys.modules.items())
            if name.startswith("moto") and getattr(module, "utcnow", None) is original
        ]
        for module in patched:
            setattr(module, "utcnow", lambda: naive)  # noqa: B010 - moto's own name for its clock
        try:
            yield
        finally:
            for module in patched:
                setattr(module, "utcnow", original)  # noqa: B010

    def stop(self) -> None:
        self._server.stop()
