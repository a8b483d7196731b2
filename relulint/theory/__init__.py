"""Pure-math theory behind relulint's rules (numpy and ``math`` only -- no torch import anywhere here).

Every depth in this package counts **ReLU (hidden) layers** (``collapse`` Thm 8 / Eq. 5); functions that
implement a ``dying`` or ``nonconvergence`` formula convert with :mod:`relulint.theory.layers`.  Papers are
cited by key (``collapse``, ``dying``, ``nonconvergence``, ``momentum``) and equation or theorem; the full
references are in the README's References section.
"""

from __future__ import annotations

from relulint.theory.collapse import (
    DEPTH_CAP,
    WIDTH2_CASES,
    WIDTH2_CHAIN_VS_MC,
    log_p_born_dead_upper,
    max_safe_depth,
    min_safe_width,
    p_born_dead_upper,
    p_collapse_width2,
    p_collapse_width2_exact,
    pytorch_default_linear_sigma_b2,
    pytorch_default_linear_sigma_w2,
    signal_length,
    signal_length_factor,
    width2_initial_distribution,
    width2_transition_matrix,
    width2_transition_matrix_exact,
)
from relulint.theory.dying import (
    beta_moments,
    p_born_dead_lower_din1,
    rai_length_map_coefficients,
    rai_sigma_w,
    rai_upper_bound,
    rai_weight_std,
    width_for_depth_cor35,
)
from relulint.theory.layers import paper_layers_from_relu_layers, relu_layers_from_paper_layers
from relulint.theory.momentum import (
    MomentumSystem,
    adam_matrix,
    adaptive_step,
    complex_band_ema,
    complex_band_sgd,
    critical_beta,
    critical_momentum_nesterov,
    critical_momentum_sgd,
    dead_cone_threshold,
    eigenvalues,
    ema_matrix,
    in_dead_cone,
    nesterov_matrix,
    optimizer_system,
    oscillates,
    ripples,
    rmsprop_matrix,
    sgd_matrix,
)
from relulint.theory.nonconvergence import (
    failure_after_restarts,
    inactive_region_param_counts,
    p_inactive_region,
    restarts_needed,
)

__all__ = [
    "DEPTH_CAP",
    "MomentumSystem",
    "WIDTH2_CASES",
    "WIDTH2_CHAIN_VS_MC",
    "adam_matrix",
    "adaptive_step",
    "beta_moments",
    "complex_band_ema",
    "complex_band_sgd",
    "critical_beta",
    "critical_momentum_nesterov",
    "critical_momentum_sgd",
    "dead_cone_threshold",
    "eigenvalues",
    "ema_matrix",
    "in_dead_cone",
    "failure_after_restarts",
    "inactive_region_param_counts",
    "log_p_born_dead_upper",
    "max_safe_depth",
    "min_safe_width",
    "nesterov_matrix",
    "optimizer_system",
    "oscillates",
    "p_born_dead_lower_din1",
    "p_born_dead_upper",
    "p_collapse_width2",
    "p_collapse_width2_exact",
    "p_inactive_region",
    "paper_layers_from_relu_layers",
    "pytorch_default_linear_sigma_b2",
    "pytorch_default_linear_sigma_w2",
    "rai_length_map_coefficients",
    "rai_sigma_w",
    "rai_upper_bound",
    "rai_weight_std",
    "relu_layers_from_paper_layers",
    "restarts_needed",
    "ripples",
    "rmsprop_matrix",
    "sgd_matrix",
    "signal_length",
    "signal_length_factor",
    "width2_initial_distribution",
    "width2_transition_matrix",
    "width2_transition_matrix_exact",
    "width_for_depth_cor35",
]
