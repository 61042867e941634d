"""TDOA multilateration: where a sound was emitted, from the onsets several sensors measured.

Model (time of arrival with an unknown emission instant, equivalent to TDOA). Sensor i sits at
sᵢ = (eᵢ, nᵢ, uᵢ) m in the local ENU frame (uᵢ its microphone height) and reports an onset tᵢ s
with 1-σ uncertainty σᵢ. A source at p = (x, y, h) (h the assumed source height) emitting at τ
is heard at

    tᵢ = τ + ‖p − sᵢ‖ / c + εᵢ,      εᵢ ~ N(0, σᵢ²)   (plus a late NLOS delay on some paths)

The unknowns θ = (x, y, τ) minimise Σ ρ(rᵢ²) with normalised residuals
rᵢ(θ) = (tᵢ − τ − ‖p − sᵢ‖/c) / σᵢ. Three sensors determine θ exactly (a 2-D fix); more give
redundancy to test consistency (χ²) and to reject outliers. Two sensors only give the hyperbola
‖p − s₂‖ − ‖p − s₁‖ = c·(t₂ − t₁).

Steps (`locate_source`): a coarse grid gives a start free of local minima; a least-squares
fit (`scipy.optimize.least_squares`) that is consistent is the answer; otherwise asymmetric robust
fits (late onsets may be NLOS outliers, early ones may not) with a shrinking scale find the
consensus, and sensors are rejected greedily over leave-one-out subsets while the fit stays
inconsistent; an exactly determined fix takes, of its two possible solutions, the one the peak
levels agree with. The covariance is (JᵀJ)⁻¹ from the Jacobian of the normalised residuals,
inflated by the reduced χ² when it exceeds 1, and widened when fewer than 2 sensors are
redundant (an undetectable NLOS path is then possible).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import brentq, least_squares
from scipy.stats import chi2

from ouie.fusion.config import FusionConfig

Array = NDArray[np.float64]

CHI2_95_2D = float(chi2.ppf(0.95, 2))
"""k² with P(χ²₂ ≤ k²) = 0.95: the 95 % ellipse is xᵀΣ⁻¹x = k² (k² ≈ 5.991)."""

EARLY_SCALE_FACTOR = 3.0
"""How much wider the robust loss is for early onsets than for late ones (see `late_robust`)."""

GRID_CELLS_PER_SIDE = 64
"""Resolution of the initial grid search (cells per side of the search box)."""


@dataclass(frozen=True)
class TdoaFix:
    """A solved position: θ = (east_m, north_m, emission_s) and what the fit says about itself.

    `normalized_residuals` covers every sensor given (used or not); `used` marks the consensus.
    """

    east_m: float
    north_m: float
    emission_s: float
    covariance: Array
    used: NDArray[np.bool_]
    normalized_residuals: Array
    chi2: float

    @property
    def theta(self) -> Array:
        """θ = (east_m, north_m, emission_s) as an array (a start for a refit)."""
        return np.array([self.east_m, self.north_m, self.emission_s])

    @property
    def covariance_en_m2(self) -> Array:
        """2×2 covariance of (east, north), m²."""
        return self.covariance[:2, :2]

    @property
    def dof(self) -> int:
        """Degrees of freedom of the fit: used sensors − 3 unknowns."""
        return int(self.used.sum()) - 3


def travel_times_s(
    source_en_m: Array, sensors_enu_m: Array, source_up_m: float, c_mps: float
) -> Array:
    """‖p − sᵢ‖ / c for sources p = (east, north, source_up) of shape (..., 2) → (..., n)."""
    de = source_en_m[..., None, 0] - sensors_enu_m[:, 0]
    dn = source_en_m[..., None, 1] - sensors_enu_m[:, 1]
    du = source_up_m - sensors_enu_m[:, 2]
    return np.sqrt(de**2 + dn**2 + du**2) / c_mps


def normalized_residuals(
    theta: Array,
    sensors_enu_m: Array,
    onsets_s: Array,
    sigmas_s: Array,
    source_up_m: float,
    c_mps: float,
) -> Array:
    """rᵢ = (tᵢ − τ − ‖p − sᵢ‖/c) / σᵢ for θ = (x, y, τ)."""
    arrival = theta[2] + travel_times_s(theta[:2], sensors_enu_m, source_up_m, c_mps)
    return np.asarray((onsets_s - arrival) / sigmas_s, dtype=np.float64)


def residual_jacobian(
    theta: Array, sensors_enu_m: Array, sigmas_s: Array, source_up_m: float, c_mps: float
) -> Array:
    """∂rᵢ/∂θ: ∂rᵢ/∂x = −(x − eᵢ)/(c·dᵢ·σᵢ), ∂rᵢ/∂y = −(y − nᵢ)/(c·dᵢ·σᵢ), ∂rᵢ/∂τ = −1/σᵢ."""
    delta = np.column_stack(
        [
            theta[0] - sensors_enu_m[:, 0],
            theta[1] - sensors_enu_m[:, 1],
            source_up_m - sensors_enu_m[:, 2],
        ]
    )
    distance = np.maximum(np.linalg.norm(delta, axis=1), 1e-6)
    jac = np.empty((len(sensors_enu_m), 3))
    jac[:, :2] = -delta[:, :2] / (c_mps * distance * sigmas_s)[:, None]
    jac[:, 2] = -1.0 / sigmas_s
    return jac


def grid_start(
    sensors_enu_m: Array,
    onsets_s: Array,
    sigmas_s: Array,
    source_up_m: float,
    c_mps: float,
    avoid_en_m: Array | None = None,
) -> Array:
    """A start θ₀ from a grid over the sensors' bounding box (plus half its diagonal).

    At each grid point g the emission time is the median τ_g = medianᵢ(tᵢ − ‖g − sᵢ‖/c) (robust
    to a late outlier) and the cost is Σᵢ g(rᵢ)² with the asymmetric loss `late_robust` of
    rᵢ = (tᵢ − τ_g − ‖g − sᵢ‖/c)/sᵢ, whose scale sᵢ = max(σᵢ, cell/c) absorbs the grid's own
    discretisation. Cells within 20 m of `avoid_en_m` are skipped (to find a second solution).
    """
    low, high = sensors_enu_m[:, :2].min(axis=0), sensors_enu_m[:, :2].max(axis=0)
    margin = max(0.5 * float(np.linalg.norm(high - low)), 25.0)
    low, high = low - margin, high + margin
    cell_m = float((high - low).max()) / GRID_CELLS_PER_SIDE
    east = np.arange(low[0], high[0] + cell_m, cell_m)
    north = np.arange(low[1], high[1] + cell_m, cell_m)
    grid = np.stack(np.meshgrid(east, north), axis=-1).reshape(-1, 2)
    emitted = onsets_s - travel_times_s(grid, sensors_enu_m, source_up_m, c_mps)
    tau = np.median(emitted, axis=1)
    scale = np.maximum(sigmas_s, cell_m / c_mps)
    cost = (late_robust((emitted - tau[:, None]) / scale, 1.0)[0] ** 2).sum(axis=1)
    if avoid_en_m is not None:
        cost[np.linalg.norm(grid - avoid_en_m, axis=1) < 20.0] = np.inf
    best = int(np.argmin(cost))
    return np.array([grid[best, 0], grid[best, 1], tau[best]])


def late_robust(residuals: Array, scale: float) -> tuple[Array, Array]:
    """Asymmetric robust residuals g(r) and their derivative g'(r), for a least-squares solver.

    A non-line-of-sight path only ever *adds* delay, so an onset later than predicted (r > 0)
    is readily an outlier, while an earlier one can only be a wrong association or a broken
    clock. With the Geman-McClure form g(r) = s·u/√(1 + u²), u = r/s (so g² = s²·u²/(1 + u²),
    bounded by s²: an outlier costs the same whatever its delay, and the fit prefers the
    position most sensors agree on), the scale is s = `scale` for late residuals and
    s = EARLY_SCALE_FACTOR·`scale` for early ones (an early outlier costs 9 late ones).
    g'(r) = (1 + u²)^(−3/2).
    """
    s = np.where(residuals > 0, scale, EARLY_SCALE_FACTOR * scale)
    u = residuals / s
    return s * u / np.sqrt(1.0 + u**2), (1.0 + u**2) ** -1.5


def fit_theta(
    theta0: Array,
    sensors_enu_m: Array,
    onsets_s: Array,
    sigmas_s: Array,
    source_up_m: float,
    c_mps: float,
    late_scale: float | None = None,
) -> Array:
    """θ from θ₀ minimising Σ rᵢ² (least squares), or Σ g(rᵢ)² with the asymmetric loss
    `late_robust` of scale `late_scale` (σ units) when given.

    Levenberg-Marquardt (MINPACK through `least_squares(method="lm")`, the robust loss being
    folded into the residuals). θ is then clipped so that an inconsistent set of onsets cannot
    run away: the source within 2·(sensor spread) + 100 m of the sensors' box, the emission no
    later than the last onset and no earlier than the first onset minus that reach over c.
    """
    args = (sensors_enu_m, onsets_s, sigmas_s, source_up_m, c_mps)

    def residuals(theta: Array) -> Array:
        r = normalized_residuals(theta, *args)
        return r if late_scale is None else late_robust(r, late_scale)[0]

    def jacobian(theta: Array) -> Array:
        jac = residual_jacobian(theta, sensors_enu_m, sigmas_s, source_up_m, c_mps)
        if late_scale is None:
            return jac
        slope = late_robust(normalized_residuals(theta, *args), late_scale)[1]
        return np.asarray(jac * slope[:, None], dtype=np.float64)

    result = least_squares(
        residuals,
        theta0,
        jac=jacobian,
        method="lm",
        x_scale=np.array([10.0, 10.0, 10.0 / c_mps]),
        xtol=1e-8,
        ftol=1e-8,
        gtol=1e-8,
        max_nfev=60,
    )
    reach_m = 2.0 * float(np.ptp(sensors_enu_m[:, :2], axis=0).max()) + 100.0
    low = np.array(
        [*(sensors_enu_m[:, :2].min(axis=0) - reach_m), onsets_s.min() - reach_m / c_mps]
    )
    high = np.array([*(sensors_enu_m[:, :2].max(axis=0) + reach_m), onsets_s.max()])
    return np.asarray(np.clip(result.x, low, high), dtype=np.float64)


def fix_from_theta(
    theta: Array,
    used: NDArray[np.bool_],
    sensors_enu_m: Array,
    onsets_s: Array,
    sigmas_s: Array,
    source_up_m: float,
    c_mps: float,
) -> TdoaFix:
    """Residuals of every sensor at θ and the covariance from the used ones.

    Σ_θ = (JᵀJ)⁻¹ · max(1, χ²/dof), J the Jacobian of the used normalised residuals and
    χ² = Σ_used rᵢ²: the a-priori covariance, inflated when the residuals say the onsets were
    noisier than their reported σ.
    """
    residuals = normalized_residuals(theta, sensors_enu_m, onsets_s, sigmas_s, source_up_m, c_mps)
    jac = residual_jacobian(theta, sensors_enu_m[used], sigmas_s[used], source_up_m, c_mps)
    chi2_value = float(np.sum(residuals[used] ** 2))
    dof = int(used.sum()) - 3
    inflation = max(1.0, chi2_value / dof) if dof > 0 else 1.0
    covariance = np.asarray(np.linalg.pinv(jac.T @ jac) * inflation, dtype=np.float64)
    return TdoaFix(
        east_m=float(theta[0]),
        north_m=float(theta[1]),
        emission_s=float(theta[2]),
        covariance=covariance,
        used=used.copy(),
        normalized_residuals=residuals,
        chi2=chi2_value,
    )


@functools.lru_cache(maxsize=256)
def chi2_quantile(probability: float, dof: int) -> float:
    """χ²_dof quantile at `probability`, remembered (association asks it for every open
    candidate at every report; scipy takes ~0.1 ms each time)."""
    return float(chi2.ppf(probability, dof))


def is_consistent(fix: TdoaFix, config: FusionConfig) -> bool:
    """Whether the used onsets agree: χ² ≤ χ²_dof(1 − p) and every |rᵢ| ≤ outlier_sigma.
    An exactly determined fit (3 sensors) has nothing to test and passes."""
    if fix.dof <= 0:
        return True
    used_residuals = np.abs(fix.normalized_residuals[fix.used])
    threshold = chi2_quantile(1.0 - config.consistency_p, fix.dof)
    return fix.chi2 <= threshold and float(used_residuals.max()) <= config.outlier_sigma


def consensus_score(
    residuals: Array, sigmas_s: Array, config: FusionConfig
) -> tuple[int, int, float]:
    """Rank of a hypothesis from its normalised residuals rᵢ over *all* sensors:
    (sensors explained, inliers, −Σ_inliers rᵢ²), compared lexicographically.

    An inlier has |rᵢ| ≤ outlier_sigma; a sensor is explained when it is an inlier or a
    plausible non-line-of-sight path: late by no more than max_nlos_delay_s (an NLOS path only
    ever adds delay, and not without bound). An early or absurdly late onset is unexplained: a
    wrong association, a broken clock, or a wrong hypothesis.
    """
    inlier = np.abs(residuals) <= config.outlier_sigma
    nlos = (residuals > config.outlier_sigma) & (residuals * sigmas_s <= config.max_nlos_delay_s)
    return (
        int(np.sum(inlier | nlos)),
        int(np.sum(inlier)),
        -float(np.sum(residuals[inlier] ** 2)),
    )


def graduated_scales(final_scale: float, sigmas_s: Array) -> list[float]:
    """Robust-loss scales (σ units) from 10 ms down to `final_scale`, each a third of the last.

    Graduated non-convexity: a wide loss first finds the basin that the bulk of the sensors
    agree on (a grid start is only a few metres good), narrower ones then discount the
    outliers without being trapped by a wrong subset that fits exactly.
    """
    scales = []
    scale = 0.01 / float(np.median(sigmas_s))
    while scale > final_scale:
        scales.append(scale)
        scale /= 3.0
    return [*scales, final_scale]


def locate_source(
    sensors_enu_m: Array,
    onsets_s: Array,
    sigmas_s: Array,
    c_mps: float,
    config: FusionConfig,
    levels_db: Array | None = None,
) -> TdoaFix:
    """The position of a source heard by ≥ 3 sensors: `consensus_fix`; for an exactly
    determined fix, the mirror solution chosen by the peak levels (`level_consistent_fix`);
    the covariance widened when the fit cannot verify itself (`widened_if_unverified`)."""
    fix = consensus_fix(sensors_enu_m, onsets_s, sigmas_s, c_mps, config)
    if levels_db is not None and fix.dof == 0:
        fix = level_consistent_fix(fix, sensors_enu_m, onsets_s, sigmas_s, c_mps, config, levels_db)
    return widened_if_unverified(fix, sensors_enu_m, sigmas_s, c_mps, config)


def level_spread_db(
    east_m: float, north_m: float, sensors_enu_m: Array, levels_db: Array, source_up_m: float
) -> float:
    """Standard deviation of Lᵢ + 20·log₁₀(dᵢ), dB: the source level each sensor implies under
    spherical spreading. At the true position they agree to a few dB (NLOS, directivity)."""
    delta = sensors_enu_m - np.array([east_m, north_m, source_up_m])
    distance_m = np.maximum(np.linalg.norm(delta, axis=1), 1.0)
    return float(np.std(levels_db + 20.0 * np.log10(distance_m)))


def level_consistent_fix(
    fix: TdoaFix,
    sensors_enu_m: Array,
    onsets_s: Array,
    sigmas_s: Array,
    c_mps: float,
    config: FusionConfig,
    levels_db: Array,
) -> TdoaFix:
    """Three onsets can fit two positions exactly (`mirror_fix`); if they do, the solution
    whose levels agree best (`level_spread_db`) is kept."""
    other = mirror_fix(fix, sensors_enu_m, onsets_s, sigmas_s, c_mps, config)
    used = sensors_enu_m[fix.used]
    return min(
        [fix] if other is None else [fix, other],
        key=lambda f: level_spread_db(
            f.east_m, f.north_m, used, levels_db[fix.used], config.source_height_m
        ),
    )


def mirror_fix(
    fix: TdoaFix,
    sensors_enu_m: Array,
    onsets_s: Array,
    sigmas_s: Array,
    c_mps: float,
    config: FusionConfig,
) -> TdoaFix | None:
    """The other exact solution of an exactly determined fix, if there is one: two branches of
    hyperbolas cross twice when the source is outside or near the edge of the sensors'
    triangle. A grid search of the used sensors that avoids the fix (`grid_start`) and a fit
    from there find it; it counts when it fits too (|rᵢ| ≤ outlier_sigma) more than 1 m away."""
    up = config.source_height_m
    data = (sensors_enu_m[fix.used], onsets_s[fix.used], sigmas_s[fix.used], up, c_mps)
    start = grid_start(*data, avoid_en_m=np.array([fix.east_m, fix.north_m]))
    other = subset_fix(start, fix.used, sensors_enu_m, onsets_s, sigmas_s, up, c_mps)
    fits = np.all(np.abs(other.normalized_residuals[fix.used]) <= config.outlier_sigma)
    apart = np.hypot(other.east_m - fix.east_m, other.north_m - fix.north_m) > 1.0
    return other if fits and apart else None


def consensus_fix(
    sensors_enu_m: Array, onsets_s: Array, sigmas_s: Array, c_mps: float, config: FusionConfig
) -> TdoaFix:
    """The position of a source heard by ≥ 3 sensors, with outlier sensors rejected.

    1. grid start, then a least-squares fit over all sensors: done if it is consistent
       (`is_consistent`);
    2. otherwise hypotheses: the graduated asymmetric robust fit (`graduated_scales`,
       `late_robust`) from the grid start, and the least-squares fit of every leave-one-out
       subset; the one with the best `consensus_score` over all sensors wins, and is polished
       by least squares on its inliers (|rᵢ| ≤ outlier_sigma; all sensors when fewer than 3);
    3. while the fit is inconsistent and more than max(3, ⌈n/2⌉) sensors remain: fit every
       leave-one-out subset and keep the best by `consensus_score` (a consensus of fewer than
       half the sensors is no consensus).
    """
    if len(onsets_s) < 3:
        raise ValueError(f"a 2-D fix needs ≥ 3 sensors (got {len(onsets_s)})")
    up = config.source_height_m
    data = (sensors_enu_m, onsets_s, sigmas_s, up, c_mps)
    start = grid_start(*data)
    used = np.ones(len(onsets_s), dtype=bool)
    fix = subset_fix(start, used, *data)
    if is_consistent(fix, config):
        return fix
    robust = start
    for scale in graduated_scales(config.robust_scale_sigma, sigmas_s):
        robust = fit_theta(robust, *data, scale)
    hypotheses = [robust]
    for left_out in range(len(onsets_s)) if len(onsets_s) > 3 else []:
        subset = np.arange(len(onsets_s)) != left_out
        hypotheses.append(
            fit_theta(start, sensors_enu_m[subset], onsets_s[subset], sigmas_s[subset], up, c_mps)
        )
    theta = max(
        hypotheses,
        key=lambda h: consensus_score(normalized_residuals(h, *data), sigmas_s, config),
    )
    used = np.abs(normalized_residuals(theta, *data)) <= config.outlier_sigma
    if used.sum() < 3:
        used[:] = True
    fix = subset_fix(theta, used, *data)
    keep_at_least = max(3, -(-len(onsets_s) // 2))
    while not is_consistent(fix, config) and used.sum() > keep_at_least:
        current = fix.theta
        fixes = []
        for left_out in np.flatnonzero(used):
            subset = used.copy()
            subset[left_out] = False
            fixes.append(subset_fix(current, subset, *data))
        fix = max(fixes, key=lambda h: consensus_score(h.normalized_residuals, sigmas_s, config))
        used = fix.used
    return fix


def widened_if_unverified(
    fix: TdoaFix, sensors_enu_m: Array, sigmas_s: Array, c_mps: float, config: FusionConfig
) -> TdoaFix:
    """A fix with fewer than 2 redundant sensors (dof ≤ 1) cannot tell a late NLOS path from
    the truth, so its covariance is recomputed with σᵢ' = √(σᵢ² + σ_u²), σ_u =
    unverified_sigma_s[dof]: Σ_θ = (J'ᵀJ')⁻¹ with J' the Jacobian normalised by σ'."""
    if fix.dof > 1:
        return fix
    widened = np.hypot(sigmas_s[fix.used], config.unverified_sigma_s[max(fix.dof, 0)])
    jac = residual_jacobian(
        fix.theta, sensors_enu_m[fix.used], widened, config.source_height_m, c_mps
    )
    covariance = np.asarray(np.linalg.pinv(jac.T @ jac), dtype=np.float64)
    return replace(fix, covariance=covariance)


def subset_fix(
    theta0: Array,
    used: NDArray[np.bool_],
    sensors_enu_m: Array,
    onsets_s: Array,
    sigmas_s: Array,
    source_up_m: float,
    c_mps: float,
) -> TdoaFix:
    """Least-squares fit of the `used` sensors from θ₀, evaluated on all sensors."""
    theta = fit_theta(
        theta0, sensors_enu_m[used], onsets_s[used], sigmas_s[used], source_up_m, c_mps
    )
    return fix_from_theta(theta, used, sensors_enu_m, onsets_s, sigmas_s, source_up_m, c_mps)


def ellipse_95(covariance_en_m2: Array) -> tuple[float, float, float]:
    """(semi_major_m, semi_minor_m, orientation_deg) of the 95 % ellipse xᵀΣ⁻¹x = k².

    Semi-axes are k·√λ for the eigenvalues λ of Σ (k² = χ²₂(0.95) ≈ 5.991); the orientation is
    the bearing of the major eigenvector (east, north): atan2(east, north), degrees clockwise
    from north, folded into [0, 180).
    """
    eigenvalues, eigenvectors = np.linalg.eigh(covariance_en_m2)
    eigenvalues = np.clip(eigenvalues, 0.0, None)
    major = eigenvectors[:, 1]
    bearing = float(np.degrees(np.arctan2(major[0], major[1]))) % 180.0
    k = np.sqrt(CHI2_95_2D)
    return float(k * np.sqrt(eigenvalues[1])), float(k * np.sqrt(eigenvalues[0])), bearing


def radius_95(covariance_en_m2: Array, probability: float = 0.95) -> float:
    """Radius R of the circle centred on the estimate holding the source with `probability`.

    With eigenvalues λ₁, λ₂ of Σ, in polar coordinates of the whitened error,
    P(‖x‖ > R) = (1/2π) ∫₀^{2π} exp(−R² / (2·(λ₁cos²φ + λ₂sin²φ))) dφ; R is its root, found by
    Brent's method between k·√λ_min and k·√λ_max (k² = χ²₂ quantile).
    """
    eigenvalues = np.clip(np.linalg.eigvalsh(covariance_en_m2), 1e-18, None)
    phi = np.linspace(0.0, 2.0 * np.pi, 721)[:-1]
    q = eigenvalues[0] * np.cos(phi) ** 2 + eigenvalues[1] * np.sin(phi) ** 2

    def excess(radius: float) -> float:
        return float(np.mean(np.exp(-(radius**2) / (2.0 * q)))) - (1.0 - probability)

    k = np.sqrt(float(chi2.ppf(probability, 2)))
    low, high = k * np.sqrt(eigenvalues[0]), k * np.sqrt(eigenvalues[1])
    if high - low < 1e-9 * high:
        return float(high)
    return float(brentq(excess, low * 0.999, high * 1.001, xtol=1e-6))


def hyperbola_branch_en_m(
    near_en_m: Array, far_en_m: Array, range_difference_m: float, reach_m: float, n_points: int = 41
) -> Array:
    """Points (east, north) of the branch ‖p − far‖ − ‖p − near‖ = Δd, up to `reach_m` from the
    midpoint.

    With foci at ±f on the axis near→far (f = ‖far − near‖/2), a = Δd/2, b² = f² − a²: the branch
    is (−a·cosh u, b·sinh u) in axis coordinates, u ∈ [−U, U], where the distance from the
    midpoint √(a²cosh²U + b²sinh²U) = reach gives cosh U = √((reach² + b²)/f²). Δd is clipped to
    [0, 2f·0.999] (onset noise can exceed the geometric limit); Δd = 0 gives the bisector.
    """
    axis = far_en_m - near_en_m
    focal = 0.5 * float(np.linalg.norm(axis))
    unit = axis / (2.0 * focal)
    normal = np.array([-unit[1], unit[0]])
    a = float(np.clip(range_difference_m, 0.0, 0.999 * 2 * focal)) / 2.0
    b = np.sqrt(focal**2 - a**2)
    u_max = float(np.arccosh(max(np.sqrt((reach_m**2 + b**2) / focal**2), 1.0)))
    u = np.linspace(-u_max, u_max, n_points)
    along, across = -a * np.cosh(u), b * np.sinh(u)
    midpoint = 0.5 * (near_en_m + far_en_m)
    return midpoint + along[:, None] * unit + across[:, None] * normal
