"""A study's choices analysed: Bradley–Terry strengths with ties (Davidson), bootstrap intervals, agreement.

The model is Davidson's (1970) extension of Bradley–Terry: with strengths ``pi_i = exp(theta_i)`` and a
tie parameter ``nu >= 0``::

    P(i beats j) = pi_i / D,   P(tie) = nu * sqrt(pi_i * pi_j) / D,   D = pi_i + pi_j + nu * sqrt(pi_i * pi_j)

fitted by maximum likelihood with :func:`scipy.optimize.minimize` (L-BFGS-B, analytic gradient).
Without a tie in the data ``nu`` is 0 and the model is Bradley–Terry. Scores are the log-strengths
``theta``, centred to mean 0: ``theta_i - theta_j`` is the log-odds of ``i`` beating ``j`` when they
do not tie. A weak ridge (a normal prior of standard deviation 10 on ``theta``) keeps the estimate
finite when one run wins every comparison of a bootstrap replicate; it moves real estimates by far
less than their standard error.

The 95 % interval of each score is the percentile interval of the fit over bootstrap replicates that
resample raters with replacement (a rater's choices stay together, since a rater's taste and attention
make them correlated). Raters whose gold-trial accuracy is below the threshold are left out first.
Agreement: Kendall & Babington Smith's coefficient of consistency per rater (on the rater's majority
preference of each pair; 1 = no circular triad) and Krippendorff's alpha overall (ordinal: left
preferred < tie < right preferred, units = sample and pair) with the ``krippendorff`` package.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize

from pikfix_bench.errors import PikfixError
from pikfix_bench.study.design import GOLD_CLEAN, Study
from pikfix_bench.study.storage import Choice

RIDGE = 0.01  # precision of the normal prior on log-strengths and log(nu): standard deviation 10
LEVEL = 0.95


@dataclass(frozen=True)
class PairCounts:
    """Outcomes per unordered pair ``(first[k], second[k])``: wins of each side and ties."""

    first: np.ndarray
    second: np.ndarray
    first_wins: np.ndarray
    second_wins: np.ndarray
    ties: np.ndarray


def fit_strengths(counts: PairCounts, models: int, ties: bool, start: np.ndarray | None = None) -> np.ndarray:
    """Maximum-likelihood log-strengths (mean 0) and log tie parameter of the Davidson model.

    Each pair's outcomes are a softmax over three linear scores of the parameters: ``theta_i``,
    ``theta_j`` and ``log(nu) + (theta_i + theta_j) / 2`` (the last left out without ties), so the
    negative log-likelihood is convex with a closed-form gradient and Hessian, and
    :func:`scipy.optimize.minimize` (``trust-exact``) converges in a few steps.

    Parameters
    ----------
    counts : PairCounts
        Outcomes per pair.
    models : int
        How many models there are (indices ``0 .. models - 1``).
    ties : bool
        Fit the tie parameter (else ``nu = 0``: Bradley–Terry).
    start : numpy.ndarray, optional
        Where the optimiser starts (a previous solution), ``models + 1`` values.

    Returns
    -------
    numpy.ndarray
        ``models`` log-strengths, then ``log(nu)`` (``-inf`` without ties).
    """
    size = models + 1 if ties else models
    outcomes = 3 if ties else 2
    # features[k, o, :] maps the parameters to outcome o's score in pair k (first wins, second wins, tie)
    features = np.zeros((len(counts.first), outcomes, size))
    rows = np.arange(len(counts.first))
    features[rows, 0, counts.first] = 1.0
    features[rows, 1, counts.second] = 1.0
    observed = np.stack([counts.first_wins, counts.second_wins], axis=1)
    if ties:
        features[rows, 2, counts.first] = features[rows, 2, counts.second] = 0.5
        features[:, 2, models] = 1.0
        observed = np.column_stack([observed, counts.ties])
    n = observed.sum(axis=1)
    data_term = np.einsum("ko,kop->p", observed, features)

    def probabilities(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        scores = features @ x
        log_d = np.logaddexp.reduce(scores, axis=1)
        return scores, np.exp(scores - log_d[:, None]), log_d

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        _, p, log_d = probabilities(x)
        expected = np.einsum("k,ko,kop->p", n, p, features)
        return float(n @ log_d - data_term @ x + RIDGE / 2 * x @ x), expected - data_term + RIDGE * x

    def hessian(x: np.ndarray) -> np.ndarray:
        _, p, _ = probabilities(x)
        mean = np.einsum("ko,kop->kp", p, features)
        second = np.einsum("k,ko,kop,koq->pq", n, p, features, features)
        return second - np.einsum("k,kp,kq->pq", n, mean, mean) + RIDGE * np.eye(size)

    x0 = np.zeros(size) if start is None else np.nan_to_num(start[:size], neginf=0.0)
    result = minimize(objective, x0, jac=True, hess=hessian, method="trust-exact", options={"gtol": 1e-9})
    solution = np.append(result.x, [] if ties else [-np.inf])
    solution[:models] -= solution[:models].mean()
    return solution


def _pair_counts(choices: Sequence[Choice], index: dict[str, int]) -> dict[tuple[int, int], np.ndarray]:
    """``(i, j) -> [wins of i, wins of j, ties]`` with ``i < j``."""
    table: dict[tuple[int, int], np.ndarray] = defaultdict(lambda: np.zeros(3))
    for choice in choices:
        left, right = index[choice.left], index[choice.right]
        first, second = min(left, right), max(left, right)
        if choice.choice == "tie":
            table[first, second][2] += 1
        else:
            winner = left if choice.choice == "left" else right
            table[first, second][0 if winner == first else 1] += 1
    return table


def _counts_array(table: dict[tuple[int, int], np.ndarray], pairs: list[tuple[int, int]]) -> np.ndarray:
    """A ``pairs x 3`` array of a pair table (zeros where the table has no entry)."""
    return np.array([table.get(pair, np.zeros(3)) for pair in pairs]).reshape(len(pairs), 3)


def _as_counts(pairs: list[tuple[int, int]], values: np.ndarray) -> PairCounts:
    first, second = (np.array(side, dtype=np.intp) for side in zip(*pairs, strict=True))
    return PairCounts(first, second, values[:, 0], values[:, 1], values[:, 2])


def consistency(table: dict[tuple[int, int], np.ndarray], models: int) -> float | None:
    """Kendall & Babington Smith's coefficient of consistency of one rater's majority preferences.

    ``1 - d / d_max`` with ``d`` the circular triads of the tournament (a half point for a pair the rater
    split evenly); ``None`` unless the rater compared every pair of at least three models.
    """
    if models < 3 or len(table) < models * (models - 1) // 2:
        return None
    score = np.zeros(models)
    for (first, second), (first_wins, second_wins, ties) in table.items():
        share = (first_wins + ties / 2) / (first_wins + second_wins + ties)
        point = 1.0 if share > 0.5 else 0.5 if share == 0.5 else 0.0
        score[first] += point
        score[second] += 1 - point
    triads = models * (models**2 - 1) / 24 - 0.5 * np.sum((score - (models - 1) / 2) ** 2)
    most = (models**3 - models) / 24 if models % 2 else (models**3 - 4 * models) / 24
    return float(1 - triads / most)


def krippendorff_alpha(choices: Sequence[Choice], index: dict[str, int]) -> tuple[float | None, int]:
    """Krippendorff's alpha (ordinal) over units (sample, pair), and how many units had two answers or more."""
    import krippendorff

    units: dict[tuple[str, int, int], np.ndarray] = defaultdict(lambda: np.zeros(3))
    for choice in choices:
        left, right = index[choice.left], index[choice.right]
        value = 1 if choice.choice == "tie" else (0 if (choice.choice == "left") == (left < right) else 2)
        units[choice.sample_id, min(left, right), max(left, right)][value] += 1
    counts = np.array([row for row in units.values() if row.sum() >= 2]).reshape(-1, 3)
    if len(counts) == 0 or np.count_nonzero(counts.sum(axis=0)) < 2:
        return None, len(counts)
    alpha = krippendorff.alpha(value_counts=counts, value_domain=[0, 1, 2], level_of_measurement="ordinal")
    return float(alpha), len(counts)


def analyze(
    study: Study,
    choices: Sequence[Choice],
    *,
    replicates: int = 1000,
    seed: int = 0,
    min_gold_accuracy: float = 0.75,
) -> dict[str, Any]:
    """Strengths with bootstrap intervals, win rates per pair, agreement and gold-trial screening.

    Parameters
    ----------
    study : Study
        The study (its labels name the models).
    choices : sequence of Choice
        Every recorded choice, gold trials included.
    replicates : int
        Bootstrap replicates over raters (at least 1).
    seed : int
        Seed of the bootstrap.
    min_gold_accuracy : float
        Raters who answered gold trials and got fewer than this share right are left out.

    Returns
    -------
    dict
        ``models`` (best first: ``model``, ``score``, ``ci_low``, ``ci_high``, ``rank``, counts,
        ``win_rate``), ``pairs``, ``raters``, ``agreement``, ``gold``, ``tie_parameter``, ``method``.

    Raises
    ------
    PikfixError
        When no choice between runs remains.
    """
    labels = study.labels
    index = {label: k for k, label in enumerate(labels)}
    by_rater: dict[str, list[Choice]] = defaultdict(list)
    for choice in choices:
        by_rater[choice.rater].append(choice)
    raters, excluded = [], []
    for rater, answers in sorted(by_rater.items()):
        gold = [c for c in answers if c.gold]
        correct = sum(
            (c.left if c.choice == "left" else c.right if c.choice == "right" else "") == GOLD_CLEAN
            for c in gold
        )
        accuracy = correct / len(gold) if gold else None
        dropped = accuracy is not None and accuracy < min_gold_accuracy
        if dropped:
            excluded.append(rater)
        raters.append(
            {
                "rater": rater,
                "choices": len(answers) - len(gold),
                "gold_trials": len(gold),
                "gold_correct": correct,
                "gold_accuracy": accuracy,
                "excluded": dropped,
                "consistency": consistency(
                    _pair_counts([c for c in answers if not c.gold], index), len(labels)
                ),
            }
        )
    kept_raters = [rater for rater in sorted(by_rater) if rater not in excluded]
    kept = [c for rater in kept_raters for c in by_rater[rater] if not c.gold]
    if not kept:
        raise PikfixError(
            f"{study.path}: no choice between runs to analyse (from raters that passed the gold trials)"
        )
    pairs = list(itertools.combinations(range(len(labels)), 2))
    per_rater = np.stack(
        [
            _counts_array(_pair_counts([c for c in by_rater[r] if not c.gold], index), pairs)
            for r in kept_raters
        ]
    )
    total = per_rater.sum(axis=0)
    with_ties = bool(total[:, 2].sum() > 0)
    estimate = fit_strengths(_as_counts(pairs, total), len(labels), with_ties)
    rng = np.random.default_rng(seed)
    draws = np.empty((replicates, len(labels)))
    for replicate in range(replicates):
        weights = rng.multinomial(len(kept_raters), np.full(len(kept_raters), 1 / len(kept_raters)))
        resampled = np.tensordot(weights, per_rater, axes=1)
        fitted = fit_strengths(_as_counts(pairs, resampled), len(labels), with_ties, estimate)
        draws[replicate] = fitted[: len(labels)]
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail], axis=0)
    wins, losses, ties = np.zeros(len(labels)), np.zeros(len(labels)), np.zeros(len(labels))
    pair_rows = []
    for (first, second), (first_wins, second_wins, tied) in zip(pairs, total, strict=True):
        wins[first] += first_wins
        wins[second] += second_wins
        losses[first] += second_wins
        losses[second] += first_wins
        ties[[first, second]] += tied
        n = first_wins + second_wins + tied
        pair_rows.append(
            {
                "a": labels[first],
                "b": labels[second],
                "comparisons": int(n),
                "a_wins": int(first_wins),
                "b_wins": int(second_wins),
                "ties": int(tied),
                "a_win_rate": float((first_wins + tied / 2) / n) if n else None,
            }
        )
    models = []
    for k, label in enumerate(labels):
        n = wins[k] + losses[k] + ties[k]
        models.append(
            {
                "model": label,
                "score": float(estimate[k]),
                "ci_low": float(low[k]),
                "ci_high": float(high[k]),
                "comparisons": int(n),
                "wins": int(wins[k]),
                "ties": int(ties[k]),
                "losses": int(losses[k]),
                "win_rate": float((wins[k] + ties[k] / 2) / n) if n else None,
            }
        )
    models.sort(key=lambda row: -row["score"])
    for rank, row in enumerate(models, 1):
        row["rank"] = rank
    alpha, units = krippendorff_alpha(kept, index)
    gold_trials = sum(row["gold_trials"] for row in raters)
    gold_correct = sum(row["gold_correct"] for row in raters)
    return {
        "study": study.study_id,
        "dataset": study.record["dataset"],
        "method": {
            "model": "Davidson (1970) Bradley-Terry with ties"
            if with_ties
            else "Bradley-Terry (no ties recorded)",
            "score": "log-strength, mean 0",
            "interval": f"{LEVEL:.0%} percentile bootstrap over raters",
            "replicates": replicates,
            "seed": seed,
            "min_gold_accuracy": min_gold_accuracy,
        },
        "tie_parameter": float(np.exp(estimate[-1])) if with_ties else 0.0,
        "models": models,
        "pairs": pair_rows,
        "raters": raters,
        "agreement": {"krippendorff_alpha": alpha, "level": "ordinal", "units": units},
        "gold": {
            "trials": gold_trials,
            "correct": gold_correct,
            "accuracy": gold_correct / gold_trials if gold_trials else None,
            "excluded_raters": excluded,
        },
        "choices": {"total": len(choices), "used": len(kept), "raters_used": len(kept_raters)},
        "warnings": _warnings(len(kept_raters)),
    }


# Below this many raters a bootstrap over raters has too few distinct resamples (n^n at most, and the
# extreme ones dominate) for a 95 % interval to mean anything: the analysis says so rather than print
# intervals of zero width as if they were precise.
MIN_RATERS = 5


def _warnings(raters: int) -> list[str]:
    """What a reader of the analysis must know before trusting its intervals."""
    if raters >= MIN_RATERS:
        return []
    return [
        f"only {raters} rater{'s' if raters != 1 else ''} passed the gold trials: the intervals, a bootstrap "
        f"over raters, are not meaningful below {MIN_RATERS} raters"
    ]


def analyze_study(path: str | Path, replicates: int = 1000, seed: int = 0) -> dict[str, Any]:
    """:func:`analyze` of a study folder's recorded choices (for ``leaderboard --study``)."""
    from pikfix_bench.study.design import read_study
    from pikfix_bench.study.storage import ChoiceStore

    study = read_study(path)
    return analyze(study, ChoiceStore(study).choices(), replicates=replicates, seed=seed)
