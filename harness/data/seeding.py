"""One seed per run, one derived seed per test: Faker and factory-boy replay exactly.

The run seed is ``HARNESS_SEED`` / ``--harness-seed`` when given, else derived
from the run's identity (the same in every xdist worker). A test's seed depends
only on the run seed and the test's id, so a failing test replays alone with
``HARNESS_SEED=<run seed>``, in any order.
"""

from __future__ import annotations

import hashlib

from harness.config import IntegrationTestConfig
from harness.providers.rundir import current_run

__all__ = ["replay_hint", "run_seed", "seed_test", "test_seed"]


def run_seed(config: IntegrationTestConfig) -> int:
    if config.seed is not None:
        return config.seed
    run = current_run()
    digest = hashlib.sha256(f"{run.owner_pid}:{run.owner_started}".encode()).hexdigest()
    return int(digest[:8], 16)


def test_seed(seed: int, test_id: str) -> int:
    """The seed of test ``test_id`` in a run seeded with ``seed``."""
    return int(hashlib.sha256(f"{seed}:{test_id}".encode()).hexdigest()[:8], 16)


test_seed.__test__ = False  # type: ignore[attr-defined]


def seed_test(seed: int) -> None:
    """Seed factory-boy's and Faker's shared random generators."""
    import factory.random

    factory.random.reseed_random(seed)


def replay_hint(config: IntegrationTestConfig) -> str:
    seed = run_seed(config)
    return f"harness: Faker/factory seed {seed}; replay with HARNESS_SEED={seed} (or --harness-seed={seed})"
