"""`kontinue.testing`: run durable functions in tests on a real store and virtual time.

Example:
    >>> with kontinue.testing.Environment(tmp_path) as env:
    ...     ex = env.execute("nightly-report", {"day": "monday"})   # its 1h sleep takes ms
    ...     assert ex.status.phase == "Completed"
"""

from kontinue.testing._environment import Environment

__all__ = ["Environment"]
