"""Bandit policies, vectorised over arms (NumPy); see ``base.Policy``."""

from .base import Policy
from .epsilon import EpsilonGreedy
from .linucb import LinUCB
from .random import RandomPolicy
from .thompson import ThompsonSampling
from .ucb import UCB1

__all__ = ["Policy", "ThompsonSampling", "UCB1", "EpsilonGreedy", "LinUCB", "RandomPolicy"]
