"""The worker: claims runnable Executions of its group and runs their functions with replay."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from kontinue.api import (
    ErrorRecord,
    Execution,
    ExecutionRetry,
    ExecutionTimeout,
    Function,
    Lease,
    Mutex,
)
from kontinue.runtime._cancel import cancel_mutation
from kontinue.runtime._claim import Claim
from kontinue.runtime._clock import Clock, SystemClock
from kontinue.runtime._context import ExecutionContext
from kontinue.runtime._errors import (
    ErrCanceled,
    Error,
    ErrorKind,
    error_to_record,
    is_retryable_error,
)
from kontinue.runtime._informer import INFORMED_KINDS, Informer
from kontinue.runtime._mutex import (
    WAITING_FOR_SLOT,
    WAITING_PREFIX,
    mutex_resource_name,
    semaphore_resource_name,
)
from kontinue.runtime._operations import GROUP_LABEL
from kontinue.runtime._registry import REGISTRY, FunctionDef, Registry
from kontinue.runtime._secrets import mask, reveal_arguments
from kontinue.runtime._signals import Park, Stop
from kontinue.runtime._steps import StepRuntime
from kontinue.store import (
    AlreadyExistsError,
    ConflictError,
    StorageFaultError,
    Store,
    StoreUnavailableError,
    ValueTooLargeError,
)

__all__ = ["GROUP_LABEL", "Worker"]

log = logging.getLogger("kontinue.worker")

DRAIN_REASON = "handed back: the worker shuts down"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_LEASE = timedelta(seconds=10)


def _identity() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


class Worker:
    """Runs Executions of the registered functions, one worker at a time per Execution.

    A worker claims an Execution by writing its lease with compare-and-swap, renews the
    lease while the function runs, and takes over Executions whose worker's lease expired.
    """

    def __init__(
        self,
        store: Store,
        registry: Registry = REGISTRY,
        *,
        clock: Clock | None = None,
        identity: str | None = None,
        namespace: str | None = None,
        group: str | None = "default",
        concurrency: int = 16,
        lease_duration: timedelta = DEFAULT_LEASE,
        services: dict[str, Any] | None = None,
        informer: Informer | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.clock = clock or SystemClock()
        self.identity = identity or _identity()
        self.namespace = namespace
        self.group = group
        self.lease_duration = lease_duration
        self.services = services or {}
        self.informer = informer or Informer(store, INFORMED_KINDS, namespace)
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="kontinue-fn")
        self._capacity = concurrency
        self._running: dict[tuple[str, str], Claim] = {}
        self._futures: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._stop = threading.Event()
        self._draining = False
        self.fatal: StorageFaultError | None = None
        self._renewer = threading.Thread(target=self._renew_loop, daemon=True, name="lease")
        self._renewer.start()

    # -- public ---------------------------------------------------------------------------

    def publish_functions(self, namespace: str = "default") -> None:
        """Create or update a Function resource for every registered function."""
        for fdef in self.registry.all():
            group = self.group_of(fdef)
            wanted = fdef.resource(namespace, group, self.registry.source(fdef.name))
            spec, meta = wanted.spec, wanted.metadata
            try:
                self.store.create(wanted)
            except AlreadyExistsError:
                current = self.store.get(Function, namespace, fdef.name)
                if spec.source is None:  # keep where an earlier `--import` found it
                    spec = spec.model_copy(update={"source": current.spec.source})
                if current.spec != spec or current.metadata.labels != meta.labels:
                    current.spec = spec
                    current.metadata.labels.update(meta.labels)
                    try:
                        self.store.update(current)
                    except ConflictError:
                        pass  # another worker published it at the same moment

    def group_of(self, fdef: FunctionDef) -> str:
        """A function's worker group: its own (`worker_group=`), else this worker's."""
        return fdef.worker_group or self.group or "default"

    @property
    def busy(self) -> int:
        """How many functions run now."""
        with self._lock:
            return len(self._running)

    def poll(self, timeout: float = 0.0) -> int:
        """Sync with the store and start every runnable Execution there is room for.

        Returns:
            How many Executions were started.
        """
        if self.fatal is not None:
            raise self.fatal
        verify = getattr(self.store, "verify", None)
        if verify is not None:
            verify()  # the state file was deleted or replaced: stop, never split the brain
        self.informer.sync(timeout)
        self._notice_cancellations()
        if self._draining:
            return 0
        started = 0
        for ex in sorted(self.informer.runnable(), key=_creation_order):
            if self.busy >= self._capacity:
                break
            if self._runnable(ex) and self._start(ex):
                started += 1
        return started

    def _notice_cancellations(self) -> None:
        """Tell running functions at once that their Execution was canceled or deleted.

        Their `ktx.context()` reports it and their next SDK call raises ErrCanceled, without
        waiting for the next lease renewal to find out.
        """
        with self._lock:
            claims = list(self._running.values())
        for claim in claims:
            current = self.informer.get(Execution, *claim.key)
            if current is None or current.status.phase in ("Canceled", "Skipped"):
                claim.canceled = True
                claim.scope.cancel("canceled" if current is None else current.status.phase.lower())
            elif current.status.cancel_requested is not None and claim.cancel_requested is None:
                # asked to cancel with clean-up: its next step raises ErrCanceled (_cancel.py)
                claim.cancel_requested = current.status.cancel_requested
                if not claim.shielded:
                    claim.scope.cancel("canceled")

    def wait_idle_event(self, timeout: float) -> bool:
        """Wait until some function run finishes (or `timeout`); True if one did."""
        fired = self._done.wait(timeout)
        self._done.clear()
        return fired

    def run(self, stop: threading.Event, interval: float = 0.25) -> None:
        """Poll until `stop` is set."""
        while not stop.is_set():
            self.poll(timeout=interval)

    def drain(self, grace: float = 10.0) -> int:
        """Shut down gently: claim nothing more, and hand running Executions back.

        Each running function stops at its next SDK call and its Execution goes back to
        Pending at once, for another worker to replay, instead of waiting for the lease to
        expire. Returns how many were still running after `grace` seconds: their leases are
        still renewed (so no other worker starts a second copy) until `finish()` or `close()`.
        """
        self._draining = True
        with self._lock:
            claims = list(self._running.values())
        for claim in claims:
            claim.draining = True
            claim.scope.cancel(DRAIN_REASON)
        deadline = time.monotonic() + grace
        while self.busy and time.monotonic() < deadline:
            self._done.wait(0.05)
            self._done.clear()
        left = self.busy
        if not left:
            self.close(wait=False)
        return left

    def finish(self, poll: float = 0.1) -> None:
        """After `drain`: wait for the functions still running, renewing their leases, then close.

        A function that never calls the SDK again (a long computation) is waited for: a
        worker that says it has stopped must have stopped, and one that still runs a
        function must keep its lease, or another worker would start a second copy.
        """
        while self.busy:
            self._done.wait(poll)
            self._done.clear()
        self.close(wait=False)

    def close(self, wait: bool = True) -> None:
        """Stop renewing leases and wait for running functions (if `wait`)."""
        self._stop.set()
        self._pool.shutdown(wait=wait, cancel_futures=True)

    # -- claiming ---------------------------------------------------------------------------

    def _runnable(self, ex: Execution) -> bool:
        if ex.spec.function not in self.registry:
            return False
        if self.group is not None:  # None: an in-process engine runs whatever it knows
            if self.group_of(self.registry.get(ex.spec.function)) != self.group:
                return False
            if ex.metadata.labels.get(GROUP_LABEL, self.group) != self.group:
                return False
        key = (ex.metadata.namespace, ex.metadata.name)
        with self._lock:
            if key in self._running:
                return False
        st = ex.status
        if st.phase == "Executing":
            if st.lease is not None and st.lease.expire_time > self.clock.now():
                return False
        elif st.phase != "Pending":
            return False
        if ex.spec.mutex is not None and not self._holds(ex, _mutex_name(ex)):
            return False
        limit = self.registry.get(ex.spec.function).concurrency
        return limit is None or self._holds(ex, semaphore_resource_name(ex.spec.function))

    def _holds(self, ex: Execution, mutex_name: str) -> bool:
        """Whether `ex` was granted the mutex (or a slot of the semaphore) `mutex_name`."""
        mutex: Mutex | None = self.informer.get(Mutex, ex.metadata.namespace, mutex_name)
        if mutex is None:
            return False
        name = ex.metadata.name
        return name == mutex.status.holder or name in mutex.status.holders

    def _start(self, ex: Execution) -> bool:
        fdef = self.registry.get(ex.spec.function)
        now = self.clock.now()
        draft = ex.model_copy(deep=True)
        st = draft.status
        # the reference's Resumptions: "resumed after the initial start, inclusive of retries.
        # A resumption occurs when a different worker takes over an already-started
        # execution" -- not every wake-up after a sleep on the same worker (a retry clears
        # `worker`, so the new attempt's first start counts).
        if st.start_time is not None and st.worker != self.identity:
            st.resumptions += 1
        st.worker = self.identity
        st.start_time = st.start_time or now
        st.attempt_start_time = now
        st.phase = "Executing"
        st.waiting_on = None
        if (st.message or "").startswith((WAITING_PREFIX, WAITING_FOR_SLOT)):
            st.message = None  # it holds the mutex (and its function's slot) now
        st.lease = Lease(
            holder=self.identity,
            acquire_time=now,
            renew_time=now,
            expire_time=now + self.lease_duration,
        )
        try:
            claimed = self.store.update_status(draft)
        except ConflictError:
            return False  # another worker was faster, or the Execution changed
        claim = Claim(
            self.store,
            claimed,
            self.identity,
            self.clock,
            self.lease_duration,
            claimed.spec.retry or fdef.retry or ExecutionRetry(),
            claimed.spec.timeout or fdef.timeout or ExecutionTimeout(),
        )
        key = claim.key
        with self._lock:
            self._running[key] = claim
        future = self._pool.submit(self._run, claim, fdef)
        self._futures.add(future)
        future.add_done_callback(self._futures.discard)
        return True

    # -- running ----------------------------------------------------------------------------

    def _run(self, claim: Claim, fdef: FunctionDef) -> None:
        try:
            self._execute(claim, fdef)
        except StorageFaultError as exc:
            # the store cannot take writes: nothing about this run is recorded, the
            # Execution stays as it was (its lease runs out), and the worker stops at its
            # next poll with this one line
            self.fatal = self.fatal or exc
            log.error("Execution %s: %s", claim.key[1], exc)
        except StoreUnavailableError as exc:  # the API server went away: its lease runs out
            log.error("Execution %s: %s", claim.key[1], exc)
        except Exception:
            log.exception("worker failed while finishing Execution %s", claim.key[1])
        finally:
            with self._lock:
                self._running.pop(claim.key, None)
            self._done.set()

    def _execute(self, claim: Claim, fdef: FunctionDef) -> None:
        ex = claim.execution
        journal = self.store.read_entries(*claim.key)
        ktx = ExecutionContext(
            StepRuntime(
                store=self.store,
                claim=claim,
                journal=journal,
                clock=self.clock,
                registry=self.registry,
                services=self.services,
            )
        )
        try:
            try:
                arguments, claim.secrets = reveal_arguments(self.store, ex)
                args = fdef.parse_arguments(arguments)
            except ValueError as exc:
                raise Error(str(exc), kind=ErrorKind.VALIDATION, retryable=False) from None
            result = fdef.fn(ktx, args)
            try:
                payload = fdef.dump_result(result)
            except Exception as exc:
                raise Error(
                    f"function {fdef.name!r} returned a {type(result).__name__} that cannot be "
                    f"stored as JSON ({exc}); return a pydantic model, a dict or plain values",
                    kind=ErrorKind.VALIDATION,
                    retryable=False,
                ) from None
        except Park as park:
            waiting = park.waiting_on
            self._finish(claim, lambda e: _park(e, waiting))
            return
        except Stop:
            if (claim.draining or claim.restart) and not claim.lost:
                self._finish(claim, _release)  # hand it back at once, not after the lease
            return
        except StorageFaultError:
            raise  # a full or broken disk is not the function's outcome
        except Exception as exc:
            if claim.lost or claim.canceled:
                return
            if claim.observed:  # it was told of a cancel and has cleaned up: it ends Canceled
                self._finish(claim, _canceled(claim, exc, self.clock))
                return
            if isinstance(exc, ErrCanceled) and claim.scope.reason == "canceled":
                return
            self._fail(claim, exc)
            return
        if claim.observed:
            self._finish(claim, _canceled(claim, None, self.clock))
            return
        self._finish(claim, lambda e: _complete(e, payload, self.clock))

    def _fail(self, claim: Claim, exc: BaseException) -> None:
        try:
            record = ErrorRecord.model_validate(error_to_record(exc)).wire()
            record.setdefault("type", type(exc).__name__)
        except Exception:  # recording a failure must not fail, whatever the error holds
            log.exception("could not read the error of Execution %s", claim.key[1])
            record = ErrorRecord(
                kind=ErrorKind.EXECUTION.value,
                message=f"{type(exc).__name__} (its details could not be recorded)",
            ).wire()
        retry = claim.retry
        now = self.clock.now()
        attempts = claim.execution.status.attempts
        overall = claim.overall_deadline
        again = (
            is_retryable_error(exc)
            and attempts < retry.retries
            and (overall is None or now + retry.backoff < overall)
        )

        def mutate(e: Execution) -> None:
            st = e.status
            st.error = ErrorRecord.model_validate(record)
            st.lease = None
            st.waiting_on = None
            if again:
                st.phase = "Backoff"
                st.backoff_until = now + retry.backoff
                st.message = (
                    f"attempt {attempts + 1} failed: {record['message']}; retrying in "
                    f"{retry.backoff.total_seconds():g}s"
                )
            else:
                st.phase = "Failed"
                st.finish_time = now

        if not again and not isinstance(exc, Error):
            message = mask(record["message"], claim.secrets)
            log.info("Execution %s failed: %s", claim.key[1], message)
        self._finish(claim, mutate)

    def _finish(self, claim: Claim, mutate: Any) -> None:
        try:
            claim.write_status(mutate)
        except (Stop, ErrCanceled):
            pass  # no longer ours: another worker or a cancel took over
        except ValueTooLargeError as exc:
            # e.g. a result larger than the store keeps in one object: fail with that,
            # instead of leaving the Execution to be retried for ever by the next worker
            error = Error(
                f"{exc}; return a smaller result, or store the data elsewhere and return "
                "where it is",
                kind=ErrorKind.VALIDATION,
                retryable=False,
            )
            record = error_to_record(error)
            now = self.clock.now()

            def failed(e: Execution) -> None:
                st = e.status
                st.phase = "Failed"
                st.result = None
                st.error = ErrorRecord.model_validate(record)
                st.lease = None
                st.waiting_on = None
                st.finish_time = now

            try:
                claim.write_status(failed)
            except (Stop, ErrCanceled):
                pass

    def _renew_loop(self) -> None:
        interval = max(0.05, self.lease_duration.total_seconds() / 3)
        while not self._stop.wait(interval):
            with self._lock:
                claims = list(self._running.values())
            for claim in claims:
                if not claim.lost:
                    try:
                        claim.renew()
                    except StoreUnavailableError as exc:  # the API server is away: one line
                        log.error("could not renew the lease of %s: %s", claim.key[1], exc)
                    except Exception:  # one failed renewal must not end renewals for all
                        log.exception("could not renew the lease of %s", claim.key[1])


def _creation_order(ex: Execution) -> tuple[datetime, str]:
    return (ex.metadata.creation_timestamp or _EPOCH, ex.metadata.name)


def _mutex_name(ex: Execution) -> str:
    assert ex.spec.mutex is not None
    return mutex_resource_name(ex.spec.mutex.name)


def _release(ex: Execution) -> None:
    ex.status.phase = "Pending"
    ex.status.lease = None
    ex.status.message = "handed back by a worker that shut down"


def _canceled(claim: Claim, error: Exception | None, clock: Clock) -> Any:
    """The end of an Execution that ran its clean-up after a cancel: Canceled, whatever the
    clean-up did (a clean-up's own failure is added to the message)."""
    request = claim.cancel_requested
    reason = request.reason if request is not None else "canceled"
    message = reason
    if error is not None and not isinstance(error, ErrCanceled):
        message = f"{reason}; then its clean-up failed: {error}"[:4000]
    end = cancel_mutation(clock.now(), message, force=True, strict=False)

    def mutate(ex: Execution) -> None:
        end(ex)
        ex.status.result = None
        ex.status.waiting_on = None

    return mutate


def _park(ex: Execution, waiting: Any) -> None:
    ex.status.phase = "Suspended"
    ex.status.waiting_on = waiting
    ex.status.lease = None


def _complete(ex: Execution, payload: Any, clock: Clock) -> None:
    st = ex.status
    st.phase = "Completed"
    st.result = payload
    st.error = None
    st.lease = None
    st.waiting_on = None
    st.finish_time = clock.now()
