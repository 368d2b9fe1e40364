"""The rules the notebooks of modules 01-08 state, as data: each with the check that judges it and a
known-wrong implementation that breaks that rule only (issue 18: every stated rule is checked).

A rule is what the exercise's text or docstring asks beyond "compute this formula": a dtype or a return
type, inputs left unchanged, no overflow, an edge case, a convention (where epsilon goes, what the momentum
weights), which argument to honour, NumPy only. The formulas themselves are the value checks of each verdict.

RULES[exercise] = [(function, the rule as the notebook states it, the check, the known-wrong implementation)].
The known-wrong is the name of an implementation in tests/grading/wrong (or tests/grading/public) whose only
mistake is breaking the rule, or "scan: <route>" for a rule judged by the delegation scan (a route of
tests/grading/test_verdicts.py DELEGATING). tests/grading/test_verdicts.py asserts that each check exists and
that each known-wrong loses exactly that check.
"""

RULES = {
    "01.sigmoid": [
        ("sigmoid", "Returns a float64 array of the same shape", "dtype", "float32_sigmoid"),
        ("sigmoid", "Must not overflow or warn for |z| up to 1e4", "overflow", "naive_sigmoid"),
        ("sigmoid_derivative", "Same shapes as sigmoid (float64)", "dtype", "derivative_keeps_float32"),
        ("sigmoid_derivative", "no overflow for |z| up to 1e4 (the exercise: 'a sigmoid that never overflows')",
         "overflow", "overflowing_derivative"),
        ("sigmoid_derivative", "full relative precision in both tails (sigma(z) * sigma(-z), not 1 - sigma(z))",
         "tails", "cancelling_derivative"),
    ],
    "01.forward_variances": [
        ("forward_variances", "activation: a name (see ACTIVATIONS) or a callable", "callable", "names_only"),
    ],
    "01.layer_gradient_norms": [
        ("layer_gradient_norms", "the gradient of loss_fn(y, model(X, training=True))", "training",
         "norms_without_training"),
        ("layer_gradient_norms", "Returns a NumPy float64 array", "float64", "norms_as_list"),
    ],
    "02.init_std": [
        ("init_std", "Raises ValueError for another kind or a fan <= 0", "errors", "std_no_errors"),
        ("init_std", "Returns a float", "float", "std_as_array"),
        ("init_limit", "Same arguments and errors as init_std", "errors", "limit_unchecked"),
        ("init_limit", "Returns a float", "float", "limit_as_array"),
    ],
    "02.variance_scaling": [
        ("variance_scaling", '"normal" (untruncated N(0, scale / n))', "untruncated", "vs_keras_truncated"),
        ("variance_scaling", '"uniform" (U(-limit, limit), limit = sqrt(3 * scale / n))', "uniform",
         "vs_uniform_limit_wrong"),
        ("variance_scaling", "(k1, ..., c_in, c_out) -> (k1*...*c_in, k1*...*c_out)", "conv", "vs_conv_fans_wrong"),
        ("variance_scaling", "seed: None or an int for np.random.default_rng(seed)", "seed", "vs_unseeded"),
        ("variance_scaling", "Returns a float64 array of the given shape", "float64", "vs_float32"),
    ],
    "02.he_avg_dense": [
        ("he_avg_dense", 'VarianceScaling(scale=2, mode="fan_avg", distribution="uniform")', "statistics",
         "he_avg_normal"),
        ("he_avg_dense", "A Keras Dense layer (units, activation as given)", "layer", "he_avg_ignores_activation"),
    ],
    "03.leaky_relu": [
        ("leaky_relu", "alpha * z where z <= 0 (the alpha given)", "alpha", "leaky_fixed_alpha"),
        ("leaky_relu", "Returns a float64 array of the same shape", "float64", "leaky_float32"),
        ("leaky_relu_grad", "alpha where z <= 0 (alpha at z = 0)", "at_zero", "leaky_grad_zero_at_zero"),
        ("leaky_relu_grad", "float64 (NumPy only, elementwise, float64)", "float64", "leaky_grad_float32"),
    ],
    "03.elu_selu": [
        ("elu", "No overflow or warning for |z| up to 1e4", "overflow", "elu_masked"),
        ("elu", "full relative precision near 0", "near_zero", "elu_minimum_exp"),
        ("elu", "alpha * (exp(z) - 1) where z <= 0 (the alpha given)", "alpha", "elu_alpha_one"),
        ("elu", "Returns a float64 array of the same shape", "float64", "elu_float32"),
        ("elu_grad", "alpha * exp(z) where z <= 0 (alpha at z = 0)", "at_zero", "elu_grad_one_at_zero"),
        ("elu_grad", "no overflow (the exercise: NumPy only, no overflow for |z| up to 1e4)", "overflow",
         "elu_grad_masked"),
        ("elu_grad", "alpha * exp(z) where z <= 0 (the alpha given)", "alpha", "elu_grad_fixed_alpha"),
        ("selu", "no overflow (the exercise: NumPy only, no overflow for |z| up to 1e4)", "overflow", "selu_masked"),
        ("selu", "float64 (the exercise: NumPy only, elementwise, float64)", "float64", "selu_float32"),
    ],
    "03.gelu_swish_mish": [
        ("gelu", "float64 (NumPy only, elementwise, float64)", "float64", "gelu_float32"),
        ("swish", "no overflow and no warning for |z| up to 1e4", "overflow", "swish_naive"),
        ("swish", "z * sigmoid(beta * z) (the beta given)", "beta", "swish_ignores_beta"),
        ("swish", "float64 (NumPy only, elementwise, float64)", "float64", "swish_float32"),
        ("mish", "no overflow and no warning for |z| up to 1e4 (log(1 + exp(z)) overflows for z > 709)", "overflow",
         "mish_overflowing_softplus"),
        ("mish", "float64 (NumPy only, elementwise, float64)", "float64", "mish_float32"),
        ("mish", "NumPy only", "delegation", "scan: mish with TensorFlow's softplus"),
    ],
    "03.dead_relu_fraction": [
        ("dead_relu_fraction", "except the model's last Dense layer (the output layer)", "output", "dead_counts_output"),
        ("dead_relu_fraction", 'the units of every Dense layer with activation "relu"', "relu_only", "dead_all_hidden"),
        ("dead_relu_fraction", "Returns a Python float in [0, 1]", "float", "dead_as_array"),
    ],
    "04.batchnorm_forward": [
        ("batchnorm_forward", "The batch variance is the biased one: divide by m", "biased", "unbiased_forward"),
        ("batchnorm_forward", "eps: added to the batch variance before the square root", "eps", "eps_outside_forward"),
        ("batchnorm_forward", "eps (the argument given; Keras' default 1e-3)", "eps_given", "forward_pytorch_eps"),
        ("batchnorm_forward", 'cache: dict with at least "x_hat", "inv_std" = 1 / sqrt(var + eps), "gamma"', "cache",
         "centred_cache_forward"),
        ("batchnorm_forward", "out: float64 array (m, n)", "float64", "float32_forward"),
    ],
    "04.batchnorm_backward": [
        ("batchnorm_backward", "dx includes the paths through the batch mean and variance", "dx",
         "backward_without_mean_path"),
    ],
    "04.update_moving_stats": [
        ("update_moving_stats", "v_hat <- v_hat * momentum + v * (1 - momentum)", "direction", "swapped_momentum"),
        ("update_moving_stats", "the inputs are left unchanged", "unchanged", "in_place_moving"),
        ("update_moving_stats", "Returns (new_mean, new_var) as float64 arrays", "float64", "moving_keeps_float32"),
    ],
    "04.fold_batchnorm": [
        ("fold_batchnorm", "b: array (units,), or None for a Dense with use_bias=False", "no_bias", "fold_needs_bias"),
        ("fold_batchnorm", "The inputs are left unchanged", "unchanged", "fold_mutating_b"),
        ("fold_batchnorm", "Returns (W_folded, b_folded), float64 arrays", "float64", "fold_keeps_float32"),
        ("fold_batchnorm", "an inference-mode BN layer: gamma / sqrt(moving_var + eps)", "eps", "fold_without_eps"),
    ],
    "05.clip_by_value": [
        ("clip_by_value", "Returns a new list of arrays", "unchanged", "clip_value_in_place"),
    ],
    "05.clip_by_norm": [
        ("clip_by_norm", "A gradient of all zeros must stay all zeros (no division by zero, no nan)", "zero",
         "clip_norm_divides_by_norm"),
        ("clip_by_norm", "a gradient whose norm is already at most c must come back unchanged", "inside",
         "clip_norm_always_rescales"),
        ("clip_by_norm", "the norm covers all its entries", "values", "clip_norm_per_row"),
    ],
    "05.clip_by_global_norm": [
        ("clip_by_global_norm", "the global norm G of the gradients BEFORE clipping", "G", "global_norm_after"),
        ("clip_by_global_norm", "Rescale all gradients by one factor c / max(G, c)", "clipped", "global_per_tensor"),
        ("clip_by_global_norm", "G ... as a float", "float", "global_norm_as_array"),
        ("clip_by_global_norm", "gradients of all zeros stay zeros (c / max(G, c), no 0 / 0)", "zeros",
         "global_norm_rescaled_by_g"),
    ],
    "05.train_step_with_clipping": [
        ("train_step_with_clipping", "Returns the global gradient norm BEFORE clipping", "G",
         "step_returns_clipped_norm"),
        ("train_step_with_clipping", "clipped by global norm (one factor for all variables)", "update",
         "step_clips_per_tensor"),
        ("train_step_with_clipping", "as a Python float", "float", "step_returns_tensor"),
    ],
    "06.split_task_a_b": [
        ("split_task_a_b", "y_A relabelled 0..7 (0..4 unchanged, 7, 8, 9 -> 5, 6, 7)", "labels", "labels_not_shifted"),
        ("split_task_a_b", "y_A an integer array; y_B float32", "dtype", "yb_int"),
        ("split_task_a_b", "X and y are left unchanged", "unchanged", "relabel_in_place"),
    ],
    "06.build_model_b_on_a": [
        ("build_model_b_on_a", "It must not be changed, and must share no variable with B", "independent",
         "b_shares_layers"),
        ("build_model_b_on_a", 'a new keras.layers.Dense(1, activation="sigmoid")', "structure", "b_softmax_output"),
        ("build_model_b_on_a", "holding copies of A's weights", "weights", "b_fresh_weights"),
        ("build_model_b_on_a", "with trainable = False; then a new Dense, trainable", "frozen", "b_not_frozen"),
    ],
    "06.unfreeze_top": [
        ("unfreeze_top", "counting only layers that have weights", "top", "unfreeze_counts_all_layers"),
        ("unfreeze_top", "The remaining layers keep their trainable flag", "edges", "unfreeze_freezes_the_rest"),
        ("unfreeze_top", "Returns model (the same object)", "returns_model", "unfreeze_returns_none"),
    ],
    "07.momentum_nesterov": [
        ("momentum_step", "state: None on the first call, then the dict this function returned", "values",
         "momentum_ignores_state"),
        ("momentum_step", "as Keras SGD(momentum=...) computes it (m a velocity: equation 11-4)", "velocity",
         "public: deeplearning_ai.momentum"),
        ("momentum_step", "new theta and new state (nothing changed in place)", "in_place", "momentum_in_place_state"),
        ("nesterov_step", "theta <- theta + momentum * m - learning_rate * grad (the new m)", "new_m", "nesterov_old_m"),
        ("nesterov_step", "new theta and new state (nothing changed in place)", "in_place", "nesterov_in_place_state"),
    ],
    "07.adagrad_rmsprop": [
        ("adagrad_step", "s starts at initial_accumulator_value", "accumulator", "adagrad_starts_at_zero"),
        ("adagrad_step", "as Keras Adagrad computes it: epsilon inside the square root", "epsilon_inside",
         "public: pytorch.adagrad"),
        ("adagrad_step", "the epsilon argument", "epsilon_given", "adagrad_fixed_epsilon"),
        ("adagrad_step", "new theta and new state (nothing changed in place)", "in_place", "adagrad_step_in_place_theta"),
        ("rmsprop_step", "as Keras RMSprop computes it: epsilon inside the square root", "epsilon_inside",
         "rmsprop_eps_outside"),
        ("rmsprop_step", "the epsilon argument", "epsilon_given", "public: d2l.rmsprop"),
        ("rmsprop_step", "new theta and new state (nothing changed in place)", "in_place", "rmsprop_step_in_place_theta"),
    ],
    "07.adam_adamw": [
        ("adam_step", "t <- t + 1 ... sqrt(1 - beta_2^t) / (1 - beta_1^t) (the bias correction)", "bias_correction",
         "adam_no_bias_correction"),
        ("adam_step", "m / (sqrt(s) + epsilon): epsilon outside the square root", "epsilon_outside", "adam_eps_inside"),
        ("adam_step", "Keras' form: epsilon added to sqrt(s) of the uncorrected s", "epsilon_uncorrected",
         "public: cs231n.adam"),
        ("adam_step", "beta_1, beta_2, epsilon: the arguments given", "arguments", "public: d2l.adam"),
        ("adam_step", "state: None, then what this returned (nothing changed in place)", "in_place",
         "adam_mutating_state"),
        ("adamw_step", "theta <- theta - theta * weight_decay * learning_rate, then an Adam step", "decoupled",
         "adamw_l2_in_gradient"),
        ("adamw_step", "new theta and new state (nothing changed in place)", "in_place", "adamw_step_in_place_theta"),
    ],
    "07.schedules": [
        ("piecewise_constant", "values[i] for boundaries[i-1] < step <= boundaries[i]", "boundary",
         "piecewise_right_closed"),
        ("piecewise_constant", "Returns float64 of step's shape", "float64", "piecewise_int"),
        ("one_cycle", "constant after total_steps", "after", "one_cycle_no_anneal_clamp"),
        ("one_cycle", "Returns float64 of step's shape", "float64", "one_cycle_as_list"),
    ],
    "07.suggest_learning_rate": [
        ("suggest_learning_rate", "ignoring everything from the first non-finite loss on", "nonfinite",
         "suggest_drops_nonfinite"),
        ("suggest_learning_rate", "a bias-corrected exponential moving average", "bias_correction",
         "suggest_no_bias_correction"),
        ("suggest_learning_rate", "beta = 0: no smoothing (the beta given)", "beta", "suggest_fixed_beta"),
        ("suggest_learning_rate", "Returns a Python float", "float", "suggest_numpy_scalar"),
    ],
    "07.reduce_lr_on_plateau": [
        ("reduce_lr_on_plateau", "below the best loss so far by more than min_delta", "min_delta",
         "plateau_no_min_delta"),
        ("reduce_lr_on_plateau", "and the counter goes back to 0", "reset", "plateau_wait_not_reset"),
        ("reduce_lr_on_plateau", "do not modify the list you are given", "unchanged", "plateau_sorts_losses"),
        ("reduce_lr_on_plateau", "a float64 array as long as val_losses", "float64", "plateau_list"),
    ],
    "08.l1_l2": [
        ("l1_l2_penalty", "weights: one array of any shape, or a list/tuple of arrays", "lists",
         "penalty_single_array_only"),
        ("l1_l2_penalty", "Keras' l2 term is lambda_2 sum w^2, without the factor 1/2", "half", "penalty_half_l2"),
        ("l1_l2_penalty", "Returns a Python float", "float", "penalty_numpy_scalar"),
        ("l1_l2_grad", "with 0 for the l1 part at w = 0", "zeros", "grad_sign_plus_one"),
        ("l1_l2_grad", "Returns the same structure: ... a list of float64 arrays of the same shapes", "lists",
         "grad_concatenated"),
        ("l1_l2_grad", "2 * l2 * w", "factor_two", "grad_without_factor_two"),
    ],
    "08.dropout_forward": [
        ("dropout_forward", "training: when False, return x unchanged (as float64)", "not_training",
         "dropout_training_ignored"),
        ("dropout_forward", "keep = np.random.default_rng(seed).random(x.shape) >= rate", "mask",
         "public: deeplearning_ai.dropout"),
        ("dropout_forward", "rate: the probability of dropping each entry", "rate_is_drop", "public: cs231n.dropout_forward"),
        ("dropout_forward", "rate = 1 drops everything (all zeros); rate = 0 returns x", "edges", "dropout_rate_one_nan"),
        ("dropout_forward", "x / (1 - rate) where keep is True, 0 elsewhere (float64, x's shape)", "float64",
         "dropout_keeps_float32"),
        ("dropout_forward", "x (left unchanged: a new array)", "unchanged", "dropout_in_place"),
    ],
    "08.max_norm": [
        ("max_norm", "norm = ||W||_2 over `axis` (kept as a size-1 axis)", "axis", "max_norm_no_keepdims"),
        ("max_norm", "W * min(norm, max_value) / (1e-7 + norm)", "zero", "max_norm_zero_nan"),
        ("max_norm", "0 for a Dense kernel: one norm per column", "per_unit", "max_norm_rows"),
        ("max_norm", "Returns float64 of W's shape", "float64", "max_norm_keeps_float32"),
    ],
    "08.mc_dropout_predict": [
        ("mc_dropout_predict", "n_samples stochastic forward passes, each with training=True", "training",
         "mc_no_training"),
        ("mc_dropout_predict", "the standard deviation (np.std, ddof=0)", "std", "mc_ddof1"),
        ("mc_dropout_predict", "n_samples defaults to 100 (the signature)", "default", "mc_default_10"),
        ("mc_dropout_predict", "float64 NumPy arrays", "float64", "mc_float32"),
    ],
}
