"""Password hashing with argon2id, off the event loop.

A hash takes about 50 ms of CPU in C that lets go of the GIL, so it runs on a thread
beside the event loop (``webapi.offload.offload``): a login no longer holds up every
other request of its process while it hashes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from webapi.offload import offload

# (time cost, memory in KiB, parallelism). OWASP's minimum for argon2id (19 MiB,
# 2 passes): about 50 ms a hash on one core.
_STANDARD = (2, 19456, 1)
# For tests and benchmarks only: a few milliseconds.
_FAST = (1, 1024, 1)


@dataclass(frozen=True)
class Passwords:
    hasher: PasswordHasher
    # Checked for unknown accounts, so they take as long as a wrong password.
    dummy_hash: str = field(repr=False)

    @classmethod
    def create(cls, *, fast: bool = False) -> Passwords:
        time_cost, memory_cost, parallelism = _FAST if fast else _STANDARD
        hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
        )
        return cls(hasher=hasher, dummy_hash=hasher.hash("not a real password"))

    def hash(self, password: str) -> str:
        return offload(self.hasher.hash, password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches; ``None`` burns the same time and fails."""
        try:
            offload(self.hasher.verify, password_hash or self.dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self.hasher.check_needs_rehash(password_hash)
