"""The AWS sessions and clients of one run: one AssumeRole per role, one client per (role,
region, service), counted and rate-limited."""

from __future__ import annotations

import threading
from typing import Any

import botocore.client
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.credentials import DeferredRefreshableCredentials
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
)

from .budgets import RateBudgets
from .loader import botocore_session
from .problems import collector_problem
from .sessions import RETRY_CONFIG, RoleTarget, default_region, endpoint_url, error_message
from .stats import ApiStats, instrument


class AssumeRoleFailed(Exception):
    """AssumeRole failed for a role; ``problem`` is set when the collector itself is at fault."""

    def __init__(self, target: RoleTarget, cause: BaseException) -> None:
        self.target, self.cause = target, cause
        self.problem = collector_problem(cause)
        self.message = error_message(cause)
        super().__init__(f"AssumeRole {target.role_arn}: {self.message}")


class CollectorSessions:
    """Everything one run needs to reach AWS, built once and shared by its threads: the
    collector's own identity (the standard credential chain), one AssumeRole per role per run
    (credentials that refresh themselves before expiry), and one client per (role, region,
    service), each instrumented with the run's ``ApiStats`` and ``RateBudgets``.

    A collector problem (no credentials, unreachable endpoint...) found once is the answer for
    every further role of the run: no role would fare better, and each try could take a timeout.
    """

    def __init__(
        self,
        *,
        config: Config | None = None,
        stats: ApiStats | None = None,
        budgets: RateBudgets | None = None,
        sts_region: str | None = None,
    ) -> None:
        self.config = config or RETRY_CONFIG
        self.stats = stats if stats is not None else ApiStats()
        self.budgets = budgets
        self.endpoint_url = endpoint_url()
        self.sts_region = sts_region or default_region()
        self._lock = threading.RLock()  # client creation from a session is not thread-safe
        self._source = botocore_session()
        self._sts: Any = None
        self._roles: dict[RoleTarget, botocore.session.Session] = {}
        self._role_errors: dict[RoleTarget, AssumeRoleFailed] = {}
        self._role_locks: dict[RoleTarget, threading.Lock] = {}
        self._collector_error: AssumeRoleFailed | None = None
        self._identity_answered = False
        self._first_call = threading.Lock()
        self._clients: dict[tuple[str | None, str, str], Any] = {}
        self.assume_role_calls = 0
        self.clients_created = 0

    def _make_client(self, core: botocore.session.Session, service: str, region: str) -> Any:
        self.clients_created += 1
        return core.create_client(
            service, region_name=region, endpoint_url=self.endpoint_url, config=self.config
        )

    def _sts_client(self) -> Any:
        with self._lock:
            if self._sts is None:
                self._sts = self._make_client(self._source, "sts", self.sts_region)
            return self._sts

    def _role_session(self, target: RoleTarget) -> botocore.session.Session:
        with self._lock:
            found = self._roles.get(target)
            if found is not None:
                return found

            def refresh() -> dict:
                with self._lock:
                    self.assume_role_calls += 1
                answer = self._sts_client().assume_role(
                    RoleArn=target.role_arn,
                    RoleSessionName=target.session_name,
                    ExternalId=target.external_id,
                    DurationSeconds=3600,
                )["Credentials"]
                return {
                    "access_key": answer["AccessKeyId"],
                    "secret_key": answer["SecretAccessKey"],
                    "token": answer["SessionToken"],
                    "expiry_time": answer["Expiration"].isoformat(),
                }

            credentials = DeferredRefreshableCredentials(
                refresh_using=refresh, method="sts-assume-role"
            )
            found = self._roles[target] = botocore_session(credentials)
            self._role_locks[target] = threading.Lock()
            return found

    def assume(self, target: RoleTarget) -> None:
        """AssumeRole now (once per role per run); raises ``AssumeRoleFailed``.

        Until STS has answered once, calls go one at a time: if the collector itself is at
        fault, the first answer says so for every role, and no thread waits on its own timeout.
        """
        if not self._identity_answered:
            with self._first_call:
                self._assume(target)
                return
        self._assume(target)

    def _assume(self, target: RoleTarget) -> None:
        core = self._role_session(target)
        with self._role_locks[target]:
            if self._collector_error is not None:
                raise AssumeRoleFailed(target, self._collector_error.cause)
            if target in self._role_errors:
                raise self._role_errors[target]
            try:
                core.get_credentials().get_frozen_credentials()
            except (ClientError, BotoCoreError) as exc:
                failure = AssumeRoleFailed(target, exc)
                self._role_errors[target] = failure
                if failure.problem is not None:
                    self._collector_error = failure
                else:
                    self._identity_answered = True  # STS judged the role, not the collector
                raise failure from exc
            self._identity_answered = True

    def client(self, target: RoleTarget, service: str, region: str, account_id: str) -> Any:
        """The run's client of ``service`` in ``region`` through the role (built once)."""
        key = (target.role_arn, region, service)
        with self._lock:
            found = self._clients.get(key)
            if found is None:
                found = self._make_client(self._role_session(target), service, region)
                instrument(found, account_id, region, self.stats, self.budgets)
                self._clients[key] = found
            return found
