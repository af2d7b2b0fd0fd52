"""A moto server for load tests: moto 5.2.5's SQS with a constant-time clock (and two more
fixes for deep queues and concurrent clients, in `patch_sqs_clock`).

moto's SQS asks the clock per message on every send and receive (`Message.visible` / `delayed`
and the retention check, through `moto.core.utils.unix_time`, which builds two datetimes and
subtracts them), so a deep queue gets slow. Called without an argument that function means "now
in epoch seconds", which `time.time()` gives directly: the patch keeps the semantics (any call
with a datetime goes to moto's own function) and makes each call cheap.

In-process:  `server, endpoint = start()` ... `server.stop()`.
As a process (what the benchmark and the `fast_moto_server` fixture use, so the server's CPU is
not counted in the client's):  `python bench/moto_server.py` prints the endpoint URL on its first
line of stdout and serves until stdin closes or it gets SIGTERM. `launch()` does that for you.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime


def patch_sqs_clock() -> None:
    """Make moto SQS's argument-less clock calls constant time (same values, same semantics)."""
    import moto.core.utils as core_utils
    import moto.sqs.models as sqs_models

    original = core_utils.unix_time

    def unix_time(dt: datetime | None = None) -> float:
        return time.time() if dt is None else original(dt)

    def unix_time_millis(dt: datetime | None = None) -> float:
        return time.time() * 1000.0 if dt is None else original(dt) * 1000.0

    # sqs.models imported both names from moto.core.utils; the per-message calls go through
    # unix_time_millis (visible / delayed), the retention check and polling through unix_time.
    sqs_models.unix_time = unix_time
    sqs_models.unix_time_millis = unix_time_millis

    # The retention check runs per received message and reads the retention period through
    # get_queue_attributes, which builds the whole attribute dict (three scans of every message
    # for the Approximate* counts) three times: read the same queue attribute directly.
    def is_message_valid_based_on_retention_period(self, queue_name: str, message) -> bool:
        retention_period = int(self.get_queue(queue_name).message_retention_period)
        return retention_period + message.sent_timestamp / 1000 > unix_time()

    sqs_models.SQSBackend.is_message_valid_based_on_retention_period = (
        is_message_valid_based_on_retention_period
    )

    # moto's SQS keeps no lock around its message lists: Queue.delete_message rebuilds the list
    # and assigns it back (concurrent DeleteMessageBatch calls lose each other's deletions, and
    # deleted messages come back), and concurrent receives iterate sets another receive changes
    # ("Set changed size during iteration", HTTP 500) or hand one message to two callers. Real
    # SQS has none of this: serialize sends, deletes and each receive attempt on one lock, and
    # do a receive's long-poll wait outside it.
    if getattr(sqs_models.SQSBackend.receive_message, "_serialized", False):
        return
    lock = threading.RLock()
    receive_message = sqs_models.SQSBackend.receive_message
    delete_message = sqs_models.Queue.delete_message
    add_message = sqs_models.Queue.add_message

    def serialized_receive_message(
        self, queue_name, count, wait_seconds_timeout, visibility_timeout, *args, **kwargs
    ):
        end = time.time() + wait_seconds_timeout
        while True:
            with lock:
                result = receive_message(
                    self, queue_name, count, 0, visibility_timeout, *args, **kwargs
                )
            remaining = end - time.time()
            if result or remaining <= 0:
                return result
            self.get_queue(queue_name).wait_for_messages(min(1.0, remaining))

    def serialized_delete_message(self, receipt_handle: str) -> None:
        with lock:
            delete_message(self, receipt_handle)

    def serialized_add_message(self, message) -> None:
        with lock:
            add_message(self, message)

    def delete_message_batch(self, queue_name: str, receipts: list[dict]):
        """moto's, in one pass over the queue per batch instead of two per message (each
        message's receipt handles are rebuilt as a list at every check): same answers."""
        queue = self.get_queue(queue_name)
        with lock:
            wanted = {r["ReceiptHandle"] for r in receipts} - queue.deleted_messages
            owner: dict[str, object] = {}
            for message in queue._messages:
                for handle in (message.receipt_handle, *message._old_receipt_handles):
                    if handle in wanted:
                        owner[handle] = message
            success, errors, doomed = [], [], {}
            for receipt in receipts:
                handle = receipt["ReceiptHandle"]
                if handle in queue.deleted_messages:
                    success.append(receipt["Id"])  # already deleted: fine, as in moto
                    continue
                message = owner.get(handle)
                if message is None:
                    errors.append(
                        {
                            "Id": receipt["Id"],
                            "SenderFault": True,
                            "Code": "ReceiptHandleIsInvalid",
                            "Message": f'The input receipt handle "{handle}" is not a valid '
                            "receipt handle.",
                        }
                    )
                    continue
                doomed[id(message)] = message
                queue.pending_messages.discard(message)
                queue.deleted_messages.update(message.all_receipt_handles)
                success.append(receipt["Id"])
            if doomed:
                queue._messages = [m for m in queue._messages if id(m) not in doomed]
        return success, errors

    def visible_messages(self) -> list:
        """moto's Queue.messages (visible and not delayed), with one clock reading per call
        instead of two per message."""
        now = time.time() * 1000.0
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    sqs_models.Queue.messages = property(visible_messages)
    # A receipt handle is 186 random characters drawn one random.choice at a time (~0.5 ms per
    # message received): as random, from os.urandom at once.
    sqs_models.generate_receipt_handle = lambda: os.urandom(93).hex()
    serialized_receive_message._serialized = True
    sqs_models.SQSBackend.delete_message_batch = delete_message_batch
    sqs_models.SQSBackend.receive_message = serialized_receive_message
    sqs_models.Queue.delete_message = serialized_delete_message
    sqs_models.Queue.add_message = serialized_add_message


def start(port: int = 0):
    """A patched ThreadedMotoServer on 127.0.0.1 (a free port by default): (server, endpoint)."""
    import logging

    from moto.server import ThreadedMotoServer

    patch_sqs_clock()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    return server, f"http://{host}:{bound}"


@contextlib.contextmanager
def launch(timeout: float = 60.0) -> Iterator[str]:
    """Run the patched server in a child process; yields its endpoint URL, stops it on exit."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = _first_line(proc, timeout)
        if not line.startswith("http://"):
            raise RuntimeError(f"moto server did not start: {line!r}")
        yield line
    finally:
        if proc.stdin:
            proc.stdin.close()  # the child exits when its stdin closes
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _first_line(proc: subprocess.Popen, timeout: float) -> str:
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not found:
        proc.kill()
        raise RuntimeError(f"moto server gave no endpoint within {timeout:.0f} s")
    return found[0].strip()


def main() -> int:
    server, endpoint = start(int(os.environ.get("MOTO_PORT", "0")))
    print(endpoint, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
