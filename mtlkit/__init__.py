"""mtlkit: reproducible, Jupyter-first studies of multi-task learning.

Modules sit in layers, and a module imports only from its own layer or the layers below it (never
inside a function to dodge a cycle; ``tests/test_layers.py`` checks both, and that there is no cycle)::

    8 runtime     study (start: a notebook's parameters -> a running Study), cli, exercises (each notebook's
                  checked exercises), grading (answers judged; student copies of the notebooks),
                  replication (a study re-run on disjoint seeds; both verdicts)
    7 studies/    one module per notebook: declared parameters, runs, analysis, figures
    6 runs        params (Param, validation), runs (RunConfig, train_and_evaluate), sweep (workers,
                  cache), session (Study: outputs, manifest), plotting (theme, shared figure pieces),
                  user_tables (a user's loss table read, checked and selected on: `mtlkit select`)
    5 methods     grouping (searches), selection (score tables), subsets (every candidate network trained,
                  seeds stacked: the ground truth's runs), table_checks (what a score table passes before a
                  selection), search_budget (an exact search's size, its time limit), transference,
                  surrogates (subset losses estimated without training them; a grouping program), gradtag
                  and etap (those methods' pieces as their authors' code has them), fronts, agent,
                  multitasking: the papers' algorithms, no I/O
    4 train       fit, fit_many, evaluate; stacked (fit_seeds: many seeds of one configuration at once)
    3 objectives  losses, lookahead (per-task gradients, lookahead losses, transference), tracking
                  (transference recorded over training, on any model), weighting, min_norm (MGDA's
                  exact min-norm weights, PCGrad's projections)
    2 data/ models/  task environments -> MultiTaskData; x -> {task: output} networks
    1 foundations progress, results (atomic writes, hashes), stats (intervals, claims), seeding,
                  metrics, tables (tidy-table accessors), guard (a kernel of `mtlkit run` dies with it),
                  walltime (where an executed notebook's time went), host (one thread, the same kernels on
                  every x86 CPU, and the machine recorded), checks (what counts as a number, one message
                  for a number out of range)
"""

__version__ = "0.1.0"

LAYERS: dict[str, int] = {
    **dict.fromkeys(
        (
            "progress",
            "results",
            "stats",
            "seeding",
            "metrics",
            "tables",
            "guard",
            "walltime",
            "host",
            "checks",
        ),
        1,
    ),
    **dict.fromkeys(("data", "models"), 2),
    **dict.fromkeys(("losses", "lookahead", "tracking", "weighting", "min_norm"), 3),
    **dict.fromkeys(("train", "stacked"), 4),
    **dict.fromkeys(
        (
            "grouping",
            "selection",
            "subsets",
            "transference",
            "surrogates",
            "gradtag",
            "etap",
            "fronts",
            "agent",
            "multitasking",
            "table_checks",
            "search_budget",
        ),
        5,
    ),
    **dict.fromkeys(("params", "runs", "sweep", "session", "plotting", "user_tables"), 6),
    "studies": 7,
    **dict.fromkeys(
        ("study", "runner", "cli", "exercises", "grading", "replication", "replication_readme"), 8
    ),
}
"""The layer of each top-level module or package of :mod:`mtlkit` (see the module docstring)."""
