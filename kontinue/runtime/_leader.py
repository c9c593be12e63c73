"""Leader election for controllers: only the holder of a lease acts.

The lease itself is the store's (on Kubernetes a `coordination.k8s.io/v1` Lease, see
`KubernetesStore.leader_lease`). An `Elector` keeps trying to take or renew it in a thread, as
client-go's leaderelection does: a leader renews every `retry` seconds and stops acting
`renew_deadline` seconds after its last successful renewal began, a third of a lease duration
before any other candidate may take the lease, so two controllers never act at once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

__all__ = ["Elector", "LeaderLease"]

log = logging.getLogger("kontinue.leader")


class LeaderLease(Protocol):
    """A lease that one candidate at a time holds."""

    identity: str
    duration: float

    def try_acquire_or_renew(self) -> bool:
        """Take or renew the lease; True if this candidate holds it now."""
        ...

    def release(self) -> None:
        """Give it up at once, if held."""
        ...


class Elector:
    """Campaigns for a lease in a background thread; `leading()` says whether to act now."""

    def __init__(self, lease: LeaderLease, retry: float | None = None) -> None:
        self.lease = lease
        self.retry = retry if retry is not None else max(0.2, lease.duration / 5)
        self.renew_deadline = lease.duration * 2 / 3
        self._valid_until = 0.0
        self._stop = threading.Event()
        self._changed = threading.Event()
        self._was_leading = False
        self._thread = threading.Thread(target=self._campaign, daemon=True, name="leader")

    def start(self) -> Elector:
        """Begin campaigning."""
        self._thread.start()
        return self

    def leading(self) -> bool:
        """True while this candidate holds the lease with time to spare."""
        return time.monotonic() < self._valid_until

    def wait_leading(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds to become leader; True if leading."""
        if self.leading():
            return True
        self._changed.wait(timeout)
        self._changed.clear()
        return self.leading()

    def _campaign(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                held = self.lease.try_acquire_or_renew()
            except Exception as exc:  # the API server is unreachable: not leading for now
                log.warning("leader election: %s", exc)
                held = False
            if held:
                self._valid_until = began + self.renew_deadline
            if held != self._was_leading:
                log.info(
                    "%s %s the leader lease",
                    self.lease.identity,
                    "holds" if held else "lost",
                )
                self._was_leading = held
                self._changed.set()
            self._stop.wait(self.retry)

    def stop(self, release: bool = True) -> None:
        """Stop campaigning and, with `release`, hand the lease over at once."""
        self._stop.set()
        self._valid_until = 0.0
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if release:
            try:
                self.lease.release()
            except Exception as exc:
                log.warning("could not release the leader lease: %s", exc)
