"""A synchronous QMP session with QEMU, every call bounded by a timeout.

:class:`QmpSession` drives qemu.qmp's asyncio client on a private event loop over a socket the
harness already holds connected (see :mod:`bootproof.harness.core.machine`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

from qemu.qmp import QMPClient, QMPError

# What qemu.qmp raises when the peer goes away: its own errors, socket errors, EOF, timeouts;
# and, when QEMU exits in the middle of the capabilities negotiation, an AssertionError on its
# run state (seen with qemu.qmp 0.0.6 and guests that stop QEMU within milliseconds).
QMP_FAILURES: tuple[type[BaseException], ...] = (
    QMPError, OSError, EOFError, TimeoutError, AssertionError, RuntimeError,
)
_T = TypeVar("_T")


class QmpSession:
    """A synchronous QMP session over a connected socket, every call bounded by a timeout.

    qemu.qmp's own synchronous shim cannot bound the capabilities negotiation, and a wedged
    QEMU must not wedge the shutdown that is meant to end it.
    """

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self._loop = asyncio.new_event_loop()
        self._client = QMPClient("bootproof")
        self.timeout = timeout
        try:
            self._run(self._client.connect(sock))
        except BaseException:
            self.close()
            raise

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return self._loop.run_until_complete(asyncio.wait_for(coro, self.timeout))

    def cmd(self, name: str, **args: Any) -> Any:
        """Run ``name`` and return its result (raises qemu.qmp errors, TimeoutError)."""
        return self._run(self._client.execute(name, args or None))

    def close(self) -> None:
        """Disconnect (errors from a peer that is already gone are ignored); idempotent."""
        if self._loop.is_closed():
            return
        try:
            with contextlib.suppress(*QMP_FAILURES):
                self._run(self._client.disconnect())
        finally:
            self._loop.close()

