"""The product's one promise: adlab is never silently wrong.

Each test here tries to break it: a complex intermediate, a param a rule could ignore, a
custom_jvp closing over a differentiated value, a broadcast integer exponent, effects and
integer-valued primitives inside a differentiated function. adlab must give JAX's
result, or raise a clear error; it must never return a derivative that is zero or wrong.
The last tests check the shape of the code that keeps the promise: one dtype policy, one
handler per call primitive, no primitive names in the interpreters, no import cycles.
"""

import ast
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from helpers import assert_trees_close
from jax import lax

import adlab
from adlab.rules import HANDLERS

X = jnp.array([0.3, -1.2, 2.0, 0.7])
V = jnp.array([1.0, -0.5, 0.25, 2.0])
ADLAB = pathlib.Path(adlab.__file__).parent


def _grad_and_jvp(fun, x=X):
    """adlab's gradient of sum(fun) and its JVP, next to JAX's."""
    loss = lambda x: jnp.sum(fun(x))
    return (
        (adlab.grad(loss)(x), adlab.jvp(fun, (x,), (V[: x.size].reshape(x.shape),))),
        (jax.grad(loss)(x), jax.jvp(fun, (x,), (V[: x.size].reshape(x.shape),))),
    )


# --- Complex values: refused where a derivative would flow, never treated as zero ---------

COMPLEX_PROGRAMS = {
    "abs of x + 1j": lambda x: jnp.abs(x + 1j),
    "real of a complex product": lambda x: jnp.real(x.astype(jnp.complex128) * (2 + 1j)),
    "power spectrum": lambda x: jnp.abs(jnp.fft.fft(x)) ** 2,
    "lax.complex": lambda x: jnp.imag(lax.complex(x, 2 * x)),
}


@pytest.mark.parametrize("name", list(COMPLEX_PROGRAMS))
def test_a_derivative_into_a_complex_value_is_refused(name):
    fun = COMPLEX_PROGRAMS[name]
    loss = lambda x: jnp.sum(fun(x))
    assert np.any(jax.grad(loss)(X) != 0)  # JAX has a real, nonzero gradient here
    for run in (
        lambda: adlab.grad(loss)(X),
        lambda: adlab.vjp(fun, X),
        lambda: adlab.jvp(fun, (X,), (V,)),
        lambda: adlab.linearize(fun, X),
        lambda: adlab.hvp(loss, (X,), (V,)),
    ):
        with pytest.raises(adlab.UnsupportedDtypeError, match=r"complex.*test_trust.py"):
            run()


def test_complex_input_is_refused_not_given_a_float0_cotangent():
    z = X.astype(jnp.complex128)
    with pytest.raises(adlab.UnsupportedDtypeError, match="input leaf 0.*complex128"):
        adlab.vjp(lambda z: z * z, z)
    with pytest.raises(adlab.UnsupportedDtypeError, match="complex128"):
        adlab.jvp(lambda z: z * z, (z,), (z,))
    with pytest.raises(adlab.UnsupportedDtypeError, match="complex128"):
        adlab.grad(lambda z: jnp.sum(jnp.abs(z)))(z)
    # The dtype error is an UnsupportedPrimitiveError, so one except clause catches both.
    assert issubclass(adlab.UnsupportedDtypeError, adlab.UnsupportedPrimitiveError)


def test_complex_values_off_the_differentiated_path_are_fine():
    # A complex constant that never meets a derivative is evaluated, not differentiated.
    phase = jnp.real(jnp.exp(1j * jnp.arange(4.0)))
    ours, theirs = _grad_and_jvp(lambda x: x * phase)
    assert_trees_close(ours, theirs)


def test_unsupported_float_dtype_is_refused():
    x = jnp.ones(3, ml_dtypes.float8_e4m3fn)
    with pytest.raises(adlab.UnsupportedDtypeError, match="float8_e4m3fn"):
        adlab.grad(lambda x: jnp.sum(x.astype(jnp.float32)))(x)


# --- Integer-valued primitives and effects pass through ------------------------------------


def test_integer_valued_primitives_need_no_rule():
    # argmax's output is an integer: no derivative flows through it, as in JAX.
    fun = lambda x: x * jnp.argmax(x) + jnp.sum(x > 0) * x**2
    ours, theirs = _grad_and_jvp(fun)
    assert_trees_close(ours, theirs)


def test_a_cast_to_integer_has_zero_derivative_as_in_jax():
    fun = lambda x: x.astype(jnp.int32).astype(X.dtype) * x
    ours, theirs = _grad_and_jvp(fun)
    assert_trees_close(ours, theirs)


@pytest.mark.parametrize("api", ["grad", "vjp", "jvp", "linearize"])
def test_debug_callback_runs_once_per_evaluation_as_in_jax(api):
    calls = []

    def fun(x):
        jax.debug.callback(lambda v: calls.append(np.asarray(v)), x)
        return jnp.sum(jnp.sin(x) * x)

    runs = {
        "grad": lambda impl: impl.grad(fun)(X),
        "vjp": lambda impl: impl.vjp(fun, X)[1](1.0),
        "jvp": lambda impl: impl.jvp(fun, (X,), (V,)),
        "linearize": lambda impl: impl.linearize(fun, X)[1](V),
    }
    ours = runs[api](adlab)
    n_ours, seen = len(calls), list(calls)
    calls.clear()
    theirs = runs[api](jax)
    assert n_ours == len(calls) == 1
    np.testing.assert_array_equal(seen[0], X)
    assert_trees_close(ours, theirs)


def test_debug_print_inside_a_gradient(capfd):
    def fun(x):
        jax.debug.print("x0={x0}", x0=x[0])
        return jnp.sum(x**3)

    assert_trees_close(adlab.grad(fun)(X), jax.grad(fun)(X))
    assert capfd.readouterr().out.count("x0=0.3") == 2  # once for adlab, once for JAX


# --- reshape with `dimensions`, pow with a broadcast integer exponent ---------------------

M = jnp.arange(1.0, 7.0).reshape(2, 3) / 7


@pytest.mark.parametrize(
    "fun",
    [
        lambda x: jnp.ravel(x, order="F"),
        lambda x: jnp.reshape(x, (3, 2), order="F"),
        lambda x: x.flatten(order="F"),
        lambda x: lax.reshape(x, (6,), dimensions=(1, 0)),
        lambda x: jnp.sin(jnp.reshape(x, (3, 2), order="F")) @ jnp.ones((2, 2)),
    ],
    ids=["ravel-F", "reshape-F", "flatten-F", "lax-dimensions", "in-a-model"],
)
def test_reshape_with_dimensions(fun):
    assert "dimensions=(1, 0)" in str(jax.make_jaxpr(fun)(M))
    weights = jnp.cos(jnp.arange(jax.eval_shape(fun, M).size, dtype=M.dtype))
    loss = lambda x: jnp.sum(jnp.sin(fun(x)).ravel() * weights)
    assert_trees_close(adlab.grad(loss)(M), jax.grad(loss)(M))
    ct = jnp.cos(weights).reshape(jax.eval_shape(fun, M).shape)
    assert_trees_close(adlab.vjp(fun, M)[1](ct), jax.vjp(fun, M)[1](ct))
    assert_trees_close(adlab.jvp(fun, (M,), (M**2,)), jax.jvp(fun, (M,), (M**2,)))
    assert_trees_close(adlab.hessian(loss)(M), jax.hessian(loss)(M))


def test_pow_with_a_broadcast_integer_exponent():
    x = jnp.array([[1.5], [0.5], [-2.0]])
    n = jnp.array([[0, 1, 2, 3]], jnp.int32)
    fun = lambda x: x**n
    assert_trees_close(adlab.jvp(fun, (x,), (x + 1,)), jax.jvp(fun, (x,), (x + 1,)))
    ct = jnp.arange(12.0).reshape(3, 4)
    assert_trees_close(adlab.vjp(fun, x)[1](ct), jax.vjp(fun, x)[1](ct))
    loss = lambda x: jnp.sum(fun(x) * ct)
    assert_trees_close(adlab.hessian(loss)(x), jax.hessian(loss)(x))


# --- custom_jvp closing over a differentiated value ----------------------------------------


def _closing_over(a):
    @jax.custom_jvp
    def f(x):
        return jnp.sin(x) * a

    f.defjvp(lambda p, t: (f(p[0]), jnp.cos(p[0]) * a * t[0]))
    return f


def test_custom_jvp_closing_over_a_differentiated_value_raises():
    fun = lambda a: jnp.sum(_closing_over(a)(X))
    with pytest.raises(TypeError, match="closed-over value.*test_trust.py"):
        adlab.grad(fun)(2.0)
    with pytest.raises(TypeError, match="closed-over value"):
        adlab.jvp(fun, (2.0,), (1.0,))
    with pytest.raises(Exception, match="tracer"):  # JAX raises too (a leaked tracer)
        jax.grad(fun)(2.0)


def test_custom_jvp_closing_over_a_constant_is_fine():
    fun = lambda x: jnp.sum(_closing_over(2.0)(x))
    assert_trees_close(adlab.grad(fun)(X), jax.grad(fun)(X))
    assert_trees_close(adlab.jvp(fun, (X,), (V,)), jax.jvp(fun, (X,), (V,)))


# --- Every param is honoured or refused -----------------------------------------------------

WINDOW = {"window_dimensions", "window_strides", "padding", "base_dilation", "window_dilation"}

# The params each rule handles. The test below checks this table against the rules and
# against the params the installed JAX puts on each primitive.
JAX_VERSION = tuple(int(p) for p in jax.__version__.split(".")[:2])
HANDLED = {
    **dict.fromkeys(
        ["sin", "cos", "exp", "expm1", "log", "log1p", "tanh", "logistic", "sqrt", "rsqrt"],
        {"accuracy"},
    ),
    **dict.fromkeys(
        ["neg", "add", "add_any", "sub", "div", "square", "pow", "abs", "max", "min"], set()
    ),
    **dict.fromkeys(["select_n", "copy"], set()),
    "mul": {"out_dtype"},
    "integer_pow": {"y"},
    "convert_element_type": {"new_dtype", "weak_type", "sharding"},
    "broadcast_in_dim": {"shape", "broadcast_dimensions", "sharding"},
    "reshape": {"new_sizes", "dimensions", "sharding"},
    "squeeze": {"dimensions"},
    "rev": {"dimensions"},
    "transpose": {"permutation"},
    "slice": {"start_indices", "limit_indices", "strides"},
    "concatenate": {"dimension"},
    "reduce_sum": {"axes", "out_sharding"},
    "reduce_max": {"axes", "out_sharding"},
    "reduce_min": {"axes", "out_sharding"},
    "dot_general": {"dimension_numbers", "precision", "preferred_element_type", "out_sharding"},
    "conv_general_dilated": {
        "window_strides",
        "padding",
        "lhs_dilation",
        "rhs_dilation",
        "dimension_numbers",
        "feature_group_count",
        "batch_group_count",
        "precision",
        "preferred_element_type",
        "out_sharding",
    },  # fmt: skip
    "sort": {"dimension", "is_stable", "num_keys"},
    **dict.fromkeys(
        [
            "erf",
            "erf_inv",
            "lgamma",
            "digamma",
            "polygamma",
            "bessel_i0e",
            "bessel_i1e",
            "asin",
            "acos",
            "atan",
            "atan2",
            "sinh",
            "cosh",
            "asinh",
            "acosh",
            "atanh",
            "rem",
            "clamp",
        ],
        set(),
    ),  # fmt: skip
    **dict.fromkeys(["tan", "cbrt", "exp2", "erfc"], {"accuracy"}),
    "reduce_precision": {"exponent_bits", "mantissa_bits"},
    "device_put": {"devices", "srcs", "copy_semantics"},
    **dict.fromkeys(["cumsum", "cummax", "cummin", "cumprod", "cumlogsumexp"], {"axis", "reverse"}),
    "reduce_prod": {"axes"},
    **dict.fromkeys(["reduce_window_sum", "reduce_window_max", "reduce_window_min"], WINDOW),
    "top_k": {"k", "axis", "is_stable"},
    # Primitives that only newer JAX has (log2, one_minus_square: 0.11; polynomial: 0.12).
    **{
        n: p
        for n, p in {
            "log2": {"accuracy"},
            "one_minus_square": set(),
            "polynomial": {"unroll"},
        }.items()
        if hasattr(lax, n)
    },
    "pad": {"padding_config"},
    "dynamic_slice": {"slice_sizes"},
    "dynamic_update_slice": set(),
    "split": {"sizes", "axis"},
    "tile": {"reps"},
    "stack": {"axis"},
    "gather": {
        "dimension_numbers",
        "slice_sizes",
        "indices_are_sorted",
        "unique_indices",
        "mode",
        "fill_value",
        "out_sharding",  # JAX 0.12.1+
    },  # fmt: skip
    "unstack": {"axis"},
    "select_and_gather_add": {"select_prim", *WINDOW},
    "select_and_scatter_add": {"select_prim", "window_dimensions", "window_strides", "padding"},
    "reduce": {"computation", "jaxpr", "dimensions"},
    "reduce_window": {"jaxpr", "consts", *WINDOW},
    **dict.fromkeys(
        ["scatter-add", "scatter", "scatter-sub", "scatter-mul", "scatter-max", "scatter-min"],
        {
            "dimension_numbers",
            "indices_are_sorted",
            "unique_indices",
            "mode",
            "update_consts",
            "update_jaxpr",
            "out_sharding",  # JAX 0.12.1+
        },
    ),  # fmt: skip
    "jit": {
        "jaxpr",
        "in_shardings",
        "out_shardings",
        "in_layouts",
        "out_layouts",
        "donated_invars",
        "ctx_mesh",
        "name",
        "keep_unused",
        "inline",
        "compiler_options_kvs",
    },  # fmt: skip
    "cond": {"branches", "branches_platforms"},
    "triangular_solve": {"left_side", "lower", "transpose_a", "conjugate_a", "unit_diagonal"},
    "cholesky": set(),
    "lu": set(),
    "eigh": {"lower", "sort_eigenvalues", "algorithm", "subset_by_index"},
    "svd": {"full_matrices", "compute_uv", "subset_by_index", "algorithm"},
    "qr": {"pivoting", "full_matrices", "use_magma"},
    "custom_linear_solve": {"const_lengths", "jaxprs"},
    "scan": {"reverse", "length", "jaxpr", "unroll"}
    | ({"ft_in", "ft_out"} if JAX_VERSION >= (0, 11) else {"num_consts", "num_carry"}),
    "while": {"cond_nconsts", "cond_jaxpr", "body_nconsts", "body_jaxpr"},
    "remat2": {"jaxpr", "prevent_cse", "differentiated", "policy"},
    "optimization_barrier": set(),
    "custom_jvp_call": {"call_jaxpr", "jvp_jaxpr_fun", "num_consts", "symbolic_zeros"},
    "custom_vjp_call": {
        "call_jaxpr",
        "fwd_jaxpr_thunk",
        "num_consts",
        "bwd",
        "out_trees",
        "symbolic_zeros",
    },  # fmt: skip
}


# Params that JAX added after 0.10.2: top_k's is_stable (0.11.0), erfc's accuracy (0.12).
NEWER_PARAMS = {"top_k": {"is_stable"}, "erfc": {"accuracy"}}


def _params_jax_emits():
    """The params of every primitive in the primitive table's programs, as JAX emits them."""
    from test_primitives import ROWS

    seen: dict[str, set] = {}

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            seen.setdefault(eqn.primitive.name, set()).update(eqn.params)
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                walk(sub)

    for row in ROWS:
        for shapes in row.shapes:
            args = [
                jnp.ones(s, jnp.int32) if i in row.int_args else jnp.ones(s)
                for i, s in enumerate(shapes)
            ]
            walk(jax.make_jaxpr(row.fun)(*args).jaxpr)
    return seen


def test_every_rule_states_the_params_it_handles():
    differentiated = {n for n, h in HANDLERS.items() if not h.zero}
    assert set(HANDLED) == differentiated
    for name in differentiated:
        assert set(HANDLERS[name].params) == HANDLED[name], name
    # ...and those are exactly the params the installed JAX puts on each primitive.
    emitted = _params_jax_emits()
    for name in differentiated:
        assert emitted[name] <= HANDLED[name], (name, emitted[name] - HANDLED[name])
        # reduce_max/min carry no out_sharding in every JAX version; a param that only newer
        # JAX carries is handled before it is emitted; all else is emitted.
        assert HANDLED[name] - emitted[name] <= {"out_sharding"} | NEWER_PARAMS.get(name, set())


@pytest.mark.parametrize(
    "fun, param",
    [
        (lambda x: lax.exp(x, accuracy=lax.Tolerance(rtol=1e-3)), "accuracy"),
        (lambda x: lax.tanh(x, accuracy=lax.AccuracyMode.HIGHEST), "accuracy"),
    ],
    ids=["exp-tolerance", "tanh-accuracy-mode"],
)
def test_a_param_the_rule_does_not_handle_is_refused(fun, param):
    loss = lambda x: jnp.sum(fun(x))
    for run in (lambda: adlab.grad(loss)(X), lambda: adlab.jvp(fun, (X,), (V,))):
        with pytest.raises(adlab.UnsupportedParamError, match=rf"{param}=.*test_trust.py"):
            run()


def test_a_param_is_not_checked_where_no_derivative_flows():
    # The same equation on a constant is only evaluated, so its params don't matter.
    c = lax.exp(jnp.ones(4), accuracy=lax.Tolerance(rtol=1e-3))
    assert_trees_close(adlab.grad(lambda x: jnp.sum(x * c))(X), c)


# --- Mutable references and JAX's experimental forms: refused, never followed halfway --------


def _write_through_a_reference(x):
    # The derivative reaches the loss only through a write into a Ref, inside a jit whose own
    # outputs nothing uses.
    ref = jax.new_ref(jnp.zeros_like(x))

    def write(ref, x):
        ref[...] = jnp.sin(x)

    jax.jit(write)(ref, x)
    return jnp.sum(ref[...] ** 2)


def test_a_program_with_a_mutable_reference_is_refused():
    assert float(jnp.max(jnp.abs(jax.grad(_write_through_a_reference)(X)))) > 0.1
    for run in (
        lambda: adlab.grad(_write_through_a_reference)(X),
        lambda: adlab.jvp(_write_through_a_reference, (X,), (V,)),
        lambda: adlab.explain(_write_through_a_reference, X),
    ):
        with pytest.raises(adlab.UnsupportedPrimitiveError, match="mutable references.*x_ref"):
            run()


@jax.custom_vjp
def _own_sin(x):
    return jnp.sin(x)


_own_sin.defvjp(lambda x: (jnp.sin(x), jnp.cos(x)), lambda cos, g: (g * cos,))

# JAX's options that switch a construct to an experimental form, and a program using it.
EXPERIMENTAL = {
    "jax_scan3": lambda x: jnp.sum(lax.scan(lambda c, xi: (c * jnp.sin(xi) + xi, c), 1.0, x)[0]),
    "jax_remat3": lambda x: jnp.sum(jax.checkpoint(lambda y: jnp.sin(y) * y)(x)),
    "jax_custom_vjp3": lambda x: jnp.sum(_own_sin(x) ** 2),
    "jax_custom_jvp3": lambda x: jnp.sum(jax.nn.relu(x - 0.5) ** 2 + jax.nn.softplus(x)),
}


@pytest.mark.parametrize("flag", list(EXPERIMENTAL))
def test_experimental_forms_give_jaxs_derivative_or_name_the_option(flag):
    if flag not in jax.config.values:
        pytest.skip(f"JAX {jax.__version__} has no {flag} option")
    fun = EXPERIMENTAL[flag]
    runs = [(lambda: adlab.grad(fun)(X), jax.grad(fun)(X))]  # JAX's with the option off
    if flag != "jax_custom_vjp3":  # a custom_vjp function has no forward mode
        runs.append((lambda: adlab.jvp(fun, (X,), (V,)), jax.jvp(fun, (X,), (V,))))
    jax.config.update(flag, True)
    try:
        for run, want in runs:
            try:
                got = run()
            except adlab.UnsupportedPrimitiveError as e:
                assert f"jax.config.update('{flag}', False)" in str(e)
            else:
                assert_trees_close(got, want)
    finally:
        jax.config.update(flag, False)


# --- The shape of the code ------------------------------------------------------------------


def _imports(path: pathlib.Path) -> set[str]:
    """The adlab/experiments modules a file imports, anywhere in it, as dotted names."""
    tree = ast.parse(path.read_text())
    package = "adlab" + "".join("." + p for p in path.relative_to(ADLAB).parts[:-1])
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            names.add(module)
            names.update(f"{module}.{a.name}" for a in node.names)
    return {n for n in names if n.split(".")[0] in ("adlab", "experiments")}


def _module_name(path: pathlib.Path) -> str:
    parts = ("adlab", *path.relative_to(ADLAB).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph():
    files = {_module_name(p): p for p in ADLAB.rglob("*.py")}
    return {m: {n for n in _imports(p) if n in files and n != m} for m, p in files.items()}


LAB = ("adlab.cost", "adlab.bench", "adlab.chain", "adlab.explanation")


def _is_lab(module):
    return any(module == lab or module.startswith(lab + ".") for lab in LAB)


def test_the_core_never_imports_the_lab_or_the_experiments():
    for module, deps in _graph().items():
        if not _is_lab(module):
            assert not any(_is_lab(d) for d in deps), (module, deps)
    for path in ADLAB.rglob("*.py"):
        assert not any(n.startswith("experiments") for n in _imports(path)), path


def test_the_core_has_no_import_cycle():
    graph = _graph()
    core = {m: {d for d in deps if not _is_lab(d)} for m, deps in graph.items() if not _is_lab(m)}
    # A package imports its submodules to register them; only cycles between files count.
    state: dict[str, int] = {}

    def visit(module, path):
        state[module] = 1
        for dep in core[module]:
            if module.startswith(dep + "."):
                continue  # a submodule may import from its own package
            assert state.get(dep) != 1, "import cycle: " + " -> ".join([*path, dep])
            if dep not in state:
                visit(dep, [*path, dep])
        state[module] = 2

    for module in core:
        if module not in state:
            visit(module, [module])


def test_import_adlab_loads_only_the_core():
    code = (
        "import sys, adlab; "
        "print(sorted(m for m in sys.modules if m.startswith(('adlab', 'experiments'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = eval(out.stdout)
    assert not any(_is_lab(m) or m.startswith("experiments") for m in loaded), loaded
    assert adlab.cost.count is not None  # the lab still loads on first use


def test_the_interpreters_name_no_primitive():
    for name in ("forward.py", "tape.py", "reverse.py"):
        tree = ast.parse((ADLAB / name).read_text())
        strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
        attributes = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert not strings & adlab.PRIMITIVES, (name, strings & adlab.PRIMITIVES)
        assert not {a for a in attributes if a.endswith("_p")}, name


def test_one_handler_type_per_primitive():
    interface = ("jvp_eqn", "record", "push_entry", "pull_entry", "check_params")
    for name, handler in HANDLERS.items():
        assert handler.name == name
        assert all(callable(getattr(handler, m, None)) for m in interface), name
    assert set(HANDLERS) == adlab.PRIMITIVES
