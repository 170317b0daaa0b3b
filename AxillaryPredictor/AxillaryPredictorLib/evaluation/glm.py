"""Unpenalised logistic regression by maximum likelihood (the same fit as R's ``glm`` and
``rms::lrm``): Newton–Raphson with step halving; coefficients, standard errors, log-likelihood."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LogisticFit:
    beta: np.ndarray  # intercept first when the design has a column of ones
    se: np.ndarray
    loglik: float
    converged: bool

    @property
    def aic(self) -> float:
        return float(-2 * self.loglik + 2 * self.beta.size)


def _loglik(eta: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum(y * eta - np.logaddexp(0.0, eta)))


def logistic_mle(x: np.ndarray, y: np.ndarray, offset: np.ndarray | None = None, *, max_iter: int = 100,
                 tol: float = 1e-12) -> LogisticFit:
    """Fit P(y=1) = expit(offset + x·β); ``x`` must contain the intercept column if wanted."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    offset = np.zeros(y.size) if offset is None else np.asarray(offset, float)
    beta = np.zeros(x.shape[1])
    current = _loglik(offset, y)
    converged = False
    for _ in range(max_iter):
        eta = offset + x @ beta
        mu = 1 / (1 + np.exp(-eta))
        hessian = x.T @ (x * (mu * (1 - mu))[:, None])
        step = np.linalg.solve(hessian, x.T @ (y - mu))
        scale = 1.0
        while scale > 1e-8:
            candidate = beta + scale * step
            value = _loglik(offset + x @ candidate, y)
            if value >= current - 1e-12:
                break
            scale /= 2
        beta, previous, current = candidate, current, value
        if np.max(np.abs(scale * step)) < tol or abs(current - previous) < tol * (1 + abs(current)):
            converged = True
            break
    mu = 1 / (1 + np.exp(-(offset + x @ beta)))
    covariance = np.linalg.inv(x.T @ (x * (mu * (1 - mu))[:, None]))
    return LogisticFit(beta, np.sqrt(np.diag(covariance)), current, converged)
