"""The bounded sample buffer, shuffling *positions* so that its state is two integers.

The buffer holds at most ``size`` samples. Before each output it is topped up from the
input (in order), then a random slot is emitted. Like webdataset's shuffle, it starts
emitting once it holds ``initial`` samples and grows by one sample per output up to
``size`` (the first samples come sooner, at the price of less mixing among them;
``initial=size`` fills it first). The random draws never depend on the samples, only on
how many are buffered, so the whole sequence of emitted input positions is a function of
``(n, size, initial, rng seed)``. Saving the state is saving the number of samples
emitted; restoring replays the draws on integers (no I/O) to learn which input positions
sit in the buffer and where the input stands — then only those samples are re-read.
"""

from __future__ import annotations

import random
from typing import Optional


class PositionShuffle:
    def __init__(self, n: int, size: int, rng: random.Random, initial: Optional[int] = None):
        self.n, self.size, self.rng = n, max(1, int(size)), rng
        self.initial = self.size if initial is None else max(1, min(int(initial), self.size))
        self.buffer: list[int] = []
        self.next_in = 0  # next input position to read
        self.emitted = 0

    def wanted(self) -> int:
        """How many inputs to push before the next :meth:`pop`."""
        target = min(self.size, self.initial + self.emitted)
        return max(0, min(target - len(self.buffer), self.n - self.next_in))

    def push(self) -> int:
        pos = self.next_in
        self.buffer.append(pos)
        self.next_in += 1
        return pos

    def pop(self) -> Optional[int]:
        """The next emitted input position; None when the input is exhausted."""
        if not self.buffer:
            return None
        i = self.rng.randrange(len(self.buffer)) if len(self.buffer) > 1 else 0
        self.buffer[i], self.buffer[-1] = self.buffer[-1], self.buffer[i]
        self.emitted += 1
        return self.buffer.pop()

    def advance(self, emitted: int) -> None:
        """Replay ``emitted`` outputs on positions only (the restore path)."""
        for _ in range(emitted):
            for _ in range(self.wanted()):
                self.push()
            if self.pop() is None:
                raise ValueError(f"cannot restore: the state says {emitted} samples were emitted, the plan has {self.n}")
