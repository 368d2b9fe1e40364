"""The judged inputs of module 02 (initialization); see autograder/cases/__init__.py."""
import numpy as np

from . import call, case_rng, cases, encode, exercise, trajectory_runner


def _init_cases():
    rng = case_rng("02.init_std", "fans", 202)
    fans = [(1, 1), (784, 300), (3, 5000)] + [tuple(int(f) for f in rng.integers(1, 3000, 2)) for _ in range(6)]
    out = [(f"{kind}, fan_in={a}, fan_out={b}", (kind, a, b), {}) for a, b in fans for kind in ("glorot", "he", "lecun")]
    out += [(f"bad arguments {args}", args, {}) for args in
            [("relu", 10, 10), ("", 3, 3), ("glorot", 10, 0), ("he", 10, 0), ("lecun", -2, 4), ("he", 0, 0)]]
    return out


exercise("02.init_std", init_std=cases(_init_cases), init_limit=cases(_init_cases))

VARIANCE_SCALING = [((300, 200), 1.0, "fan_in", "normal", 1), ((300, 200), 2.0, "fan_out", "normal", 2),
                    ((300, 200), 2.0, "fan_avg", "uniform", 3), ((200, 300), 1.0, "fan_in", "uniform", 4),
                    ((5, 5, 32, 64), 2.0, "fan_in", "normal", 5), ((5, 5, 32, 64), 1.0, "fan_out", "uniform", 6),
                    ((60000,), 3.0, "fan_avg", "normal", 7)]


def _variance_scaling_cases():
    out = [(f"shape {s}, scale {sc}, {m}, {d}, seed {seed}", (s,), {"scale": sc, "mode": m, "distribution": d,
                                                                    "seed": seed})
           for s, sc, m, d, seed in VARIANCE_SCALING]
    out.append(("shape (300, 200), fan_in, normal, seed 1 again (same seed, same weights)", ((300, 200),),
                {"scale": 1.0, "mode": "fan_in", "distribution": "normal", "seed": 1}))
    return out


exercise("02.variance_scaling", variance_scaling=cases(_variance_scaling_cases))


HE_AVG = [(500, 300, "relu"), (784, 50, "sigmoid"), (40, 2000, None)]


def _he_avg_runner(fn, functions):
    if functions.get("_grader_model_builder") is not None:
        return {}                    # the grader judges the kernel's layer by its statistics alone
    from deeptrain._setup import import_tensorflow
    tf = import_tensorflow()
    out = {}
    for fan_in, units, activation in HE_AVG:
        label = f"he_avg_dense({units}, {activation!r}) built on inputs of width {fan_in}"
        record, layer = call(fn, units, activation)
        if record["error"] is None:
            try:
                tf.keras.utils.set_random_seed(fan_in)
                model = tf.keras.Sequential([tf.keras.Input((fan_in,)), layer])
                config = layer.get_config()
                act = config.get("activation")
                record["out"] = {"dict": {"kernel": encode(np.asarray(layer.kernel)),
                                          "units": encode(int(config.get("units", -1))),
                                          "activation": encode(act if isinstance(act, str) else repr(act)),
                                          "class": encode(type(layer).__name__)}}
                del model
            except Exception as e:  # not a layer, or it cannot be built
                record["error"] = f"the returned object is not a Dense layer that can be built: {type(e).__name__}: {e}"[:600]
                record["out"] = None
        out[label] = record
    return out


exercise("02.he_avg_dense", he_avg_dense=_he_avg_runner)
