"""Named crash points: where a killed engine must still leave the store consistent and resumable.

certctl promises that a crash at any step of issuance, renewal, deployment or revocation loses nothing
and repeats nothing. Each step that matters calls ``crash_point(name)``; with
``CERTCTL_CRASH_AT`` set to that name the process kills itself there with SIGKILL (no
clean-up, no ``finally``, exactly like ``kill -9`` or a power cut), so a test can prove the
promise step by step. Unset, a crash point costs one dictionary look-up.

The points, in the order a renewal reaches them:

``job.storing``
    the new version is signed and being written in the transaction that completes its job;
    not committed yet.
``job.stored``
    that transaction has committed: the version, the finished job and the queued
    deployments are in the store.
``deployment.partial``
    a Files target has the first of its files written, the others not yet.
``deployment.deployed``
    every file is written (and the post-deploy command has run); the deployment job is
    not completed yet.

Revocation (``REVOCATION_CRASH_POINTS``) has its own two:

``revocation.recorded``
    the revocation row, the certificate's revoked status and the audit event are written
    in the revocation's transaction; not committed yet.
``revocation.committed``
    that transaction has committed; the listeners (the OCSP responder's cache) have not
    been told yet.
"""

from __future__ import annotations

import os
import signal

__all__ = ["CRASH_POINTS", "ENV", "RENEWAL_CRASH_POINTS", "REVOCATION_CRASH_POINTS", "crash_point"]

ENV = "CERTCTL_CRASH_AT"
RENEWAL_CRASH_POINTS: tuple[str, ...] = ("job.storing", "job.stored", "deployment.partial", "deployment.deployed")
"""The points a renewal and its deployment pass, in order."""
REVOCATION_CRASH_POINTS: tuple[str, ...] = ("revocation.recorded", "revocation.committed")
"""The points a revocation passes, in order."""
CRASH_POINTS: tuple[str, ...] = RENEWAL_CRASH_POINTS + REVOCATION_CRASH_POINTS


def crash_point(name: str) -> None:
    """Die here, as abruptly as ``kill -9``, when ``CERTCTL_CRASH_AT`` names this point."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
