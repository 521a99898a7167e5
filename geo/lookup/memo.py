"""Answers remembered for the snapshot they were computed from.

A flow asks thousands of contacts the same question and most replies are the
same few dozen names ("Gasabo", "gasabo", "I live in Gasabo"): each is
worked out once per snapshot, then answered from memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Answer = TypeVar("Answer")


class SnapshotMemo(Generic[Answer]):
    """A bounded memo whose answers are tied to the objects they were computed from.

    ``owner`` is the immutable snapshot an answer was read from (the
    hierarchy), ``witness`` anything else it depends on (a workspace's alias
    index). Both are compared by identity, so an answer is reused only for
    the very objects it came from: a new import or an alias edit shows on the
    next call. A new owner empties the memo, so no old snapshot is kept alive.
    At most ``max_bytes`` of answers are kept (``size`` tells what one
    weighs); the least recently used go first.
    """

    def __init__(self, *, max_bytes: int, size: Callable[[Answer], int]) -> None:
        self.max_bytes = max_bytes
        self._size = size
        self._lock = threading.Lock()
        self._owner: object | None = None
        self._answers: OrderedDict[Hashable, tuple[object, Answer, int]] = OrderedDict()
        self._bytes = 0

    def get(self, owner: object, witness: object, key: Hashable) -> Answer | None:
        """Return the answer remembered for ``key`` from these very objects, or None."""
        with self._lock:
            if owner is not self._owner:
                return None
            kept = self._answers.get(key)
            if kept is None or kept[0] is not witness:
                return None
            self._answers.move_to_end(key)
            return kept[1]

    def put(self, owner: object, witness: object, key: Hashable, answer: Answer) -> None:
        """Remember ``answer`` for ``key``, computed from ``owner`` and ``witness``."""
        weight = self._size(answer)
        if weight > self.max_bytes:
            return
        with self._lock:
            if owner is not self._owner:
                self._answers.clear()
                self._bytes = 0
                self._owner = owner
            previous = self._answers.pop(key, None)
            if previous is not None:
                self._bytes -= previous[2]
            self._answers[key] = (witness, answer, weight)
            self._bytes += weight
            while self._bytes > self.max_bytes:
                _, (_, _, dropped) = self._answers.popitem(last=False)
                self._bytes -= dropped

    def __len__(self) -> int:
        return len(self._answers)

    def clear(self) -> None:
        """Forget everything (tests)."""
        with self._lock:
            self._answers.clear()
            self._bytes = 0
            self._owner = None
