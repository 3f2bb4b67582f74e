"""The sampling contract's random numbers, shared by the samplers."""

import numpy as np

from ._validation import is_int


def seed_sequence(random_state):
    """A SeedSequence from an int, a SeedSequence, a Generator or a RandomState."""
    if isinstance(random_state, np.random.SeedSequence):
        return random_state
    if is_int(random_state):
        if random_state < 0:
            raise ValueError(f"random_state={random_state} must be non-negative.")
        return np.random.SeedSequence(int(random_state))
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(random_state.integers(2**63))
    if isinstance(random_state, np.random.RandomState):
        return np.random.SeedSequence(int(random_state.randint(2**31 - 1)))
    raise ValueError(
        f"random_state={random_state!r} must be None, a non-negative int, a "
        "numpy.random.Generator, RandomState or SeedSequence."
    )


def fitted_generator(random_state):
    """The generator a sampler seeds at fit from its ``random_state`` parameter."""
    return np.random.default_rng(
        None if random_state is None else seed_sequence(random_state)
    )


def call_seed(generator, random_state):
    """Seed of one ``sample`` call.

    An explicit ``random_state`` determines the call alone. ``None`` advances the
    generator seeded at fit: successive calls differ, the sequence is reproducible
    and is saved with the estimator.
    """
    if random_state is None:
        return np.random.SeedSequence(generator.integers(2**63))
    return seed_sequence(random_state)


def derived_seed(random_state):
    """An int seed for a sub-estimator, determined by ``random_state``.

    ``None`` stays ``None``; an int always gives the same seed; a Generator or
    RandomState is advanced, as by :func:`seed_sequence`.
    """
    if random_state is None:
        return None
    return int(seed_sequence(random_state).generate_state(1)[0])
