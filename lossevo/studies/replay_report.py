"""The replay report: the per-loss table, tests against the baseline, figures, protocol.

Derived from the replay's store alone, so it can be rewritten at any time (``--report-only``).
Generic in its losses: the published table and its formula appear only where the protocol
names a published comparison (``published: ganetic``), which also focuses the finding.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from lossevo.fitness.scores import checkpoint_curve, failure_counts, ok_fitness
from lossevo.loss.reference import reference_loss
from lossevo.report import figures as plots
from lossevo.report import stats
from lossevo.runs.store import RunStore
from lossevo.studies import replay_claims as claims
from lossevo.studies.protocol import Protocol, protocol_from_dict
from lossevo.studies.published import PUBLISHED, Published
from lossevo.util.files import write_bytes
from lossevo.util.fmt import fmt_number

TABLE_COLUMNS = [
    "loss",
    "runs",
    "n",
    "diverged",
    "failed",
    "best",
    "worst",
    "mean",
    "std",
    "median",
    "p",
    "diff",
    "low",
    "high",
    *claims.COLUMNS,
    "transform",
    "generator",
    "formula",
]


def _results(store: RunStore, protocol: Protocol, steps: int) -> dict[str, list[dict]]:
    """The stored evaluations of each loss at the protocol's steps, seeds in order."""
    out = {}
    for name in protocol.losses:
        cand = store.get_candidate(name)
        rows = store.evaluations(cand["fingerprint"]) if cand else []
        out[name] = sorted((r for r in rows if r["budget"] == steps), key=lambda r: r["seed"])
    return out


def _context(store: RunStore) -> dict:
    """What every section needs: the protocol, steps, specs, task info and stored results."""
    config = store.config
    protocol = protocol_from_dict(config["protocol"], config.get("source", "<stored>"))
    events = [e for e in store.events() if e["kind"] == "protocol"]
    info = json.loads(events[-1]["message"]) if events else {}
    steps = config["steps"]
    return {
        "config": config,
        "protocol": protocol,
        "steps": steps,
        "specs": protocol.specs(),
        "info": info,
        "metric": info.get("metric", "metric"),
        "results": _results(store, protocol, steps),
        "published": PUBLISHED.get(protocol.published) if protocol.published else None,
    }


def _table_rows(ctx: dict) -> tuple[dict, dict]:
    """Per loss the comparison row (table.csv) and the per-run metric values (None: unscored)."""
    results, specs = ctx["results"], ctx["specs"]
    values = {n: [ok_fitness(r) for r in rs] for n, rs in results.items()}
    rows = stats.comparison_rows(values, ctx["protocol"].baseline)
    paired = claims.loss_rows(results, ctx["protocol"].baseline)
    for name, row in rows.items():
        row.update(
            **{column: paired[name][column] for column in claims.COLUMNS},
            loss=name,
            **failure_counts(results[name]),
            transform=specs[name].transform,
            generator=specs[name].generator,
            formula=specs[name].expr.text,
        )
    return rows, values


def _figures(store: RunStore, ctx: dict, rows: dict, values: dict) -> list[str]:
    """The three figures, written to the run directory; returns the report's Figures section."""
    run_dir, metric, steps, protocol = store.run_dir, ctx["metric"], ctx["steps"], ctx["protocol"]
    notes = {n: f"{r['runs'] - r['n']} not scored" for n, r in rows.items() if r["runs"] > r["n"]}
    fig_runs = plots.box_strip(
        values,
        run_dir / "fig_runs.png",
        ylabel=f"{metric} (lower is better)",
        notes=notes,
        title=f"{metric} of each run per loss: {protocol.name}, {steps} steps, one dot per seed",
    )
    fig_losses = plots.loss_curves(list(ctx["specs"].values()), run_dir / "fig_losses.png")
    grids, captions = {}, {}
    for name, rs in ctx["results"].items():
        path = run_dir / "grids" / f"{store.get_candidate(name)['fingerprint']}.png"
        if path.is_file():
            grids[name] = base64.b64encode(path.read_bytes()).decode("ascii")
            seed0 = next((r for r in rs if r["seed"] == 0), None)
            captions[name] = f"seed 0, {metric} {fmt_number(seed0 and seed0['fitness'])}"
    fig_curves = _learning_curves(store, ctx)
    samples = run_dir / "fig_samples.png"
    title = f"Samples after {steps} steps (seed 0 of each loss)"
    fig_samples = (
        plots.sample_grids(grids, samples, captions=captions, title=title) if grids else None
    )
    return [
        "## Figures",
        "",
        f"![per-run {metric}]({fig_runs.name})",
        "",
        f"![losses and gradients]({fig_losses.name})",
        "",
        f"![samples]({fig_samples.name})"
        if fig_samples
        else "No sample grid is stored (seed-0 runs missing or diverged).",
        "",
        *([f"![learning curves]({fig_curves.name})", ""] if fig_curves else []),
    ]


def _learning_curves(store: RunStore, ctx: dict) -> Path | None:
    """fig_curves.png: each loss's metric at the protocol's checkpoints and at the budget
    (median and interquartile band over seeds); None when no run was scored at checkpoints."""
    curves = {}
    for name, rows in ctx["results"].items():
        by_step: dict[int, list[float]] = {}
        for row in rows:
            for step, value in checkpoint_curve(row).items():
                by_step.setdefault(step, []).append(value)
        curves[name] = by_step
    if not any(len(by_step) > 1 for by_step in curves.values()):
        return None
    return plots.learning_curves(
        curves,
        store.run_dir / "fig_curves.png",
        ylabel=f"{ctx['metric']} (log scale, lower is better)",
        title=f"Learning curves: median and 25-75% of seeds per loss ({ctx['protocol'].name})",
    )


def _results_section(ctx: dict, rows: dict) -> list[str]:
    """The finding and the per-loss table with tests against the baseline."""
    protocol, steps, published = ctx["protocol"], ctx["steps"], ctx["published"]
    focus = published.focus if published else None
    lines = ["## Summary of the runs, unpaired", ""]
    lines += [f"- {s}" for s in stats.finding(rows, protocol.baseline, focus)]
    lines += [
        "",
        f"## Results: {ctx['metric']} per loss (lower is better)",
        "",
        f"{protocol.runs} runs per loss (seeds 0..{protocol.runs - 1}), {steps} steps "
        f"each. Best/worst/mean/std are over the runs that finished with a finite metric;"
        f" diverged and failed runs are counted, not scored. Tests against "
        f"**{protocol.baseline}**: Mann-Whitney U (two-sided) and a percentile-bootstrap "
        f"95% CI of the mean difference (10,000 resamples, seed 0).",
        "",
        "| loss | scored/runs | diverged | failed | best | worst | mean | std | p | "
        "mean diff [95% CI] |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        diff, low, high = (fmt_number(r[k], ".3g") for k in ("diff", "low", "high"))
        ci = "(baseline)" if name == protocol.baseline else f"{diff} [{low}, {high}]"
        numbers = " | ".join(fmt_number(r[k]) for k in ("best", "worst", "mean", "std"))
        lines.append(
            f"| {name} | {r['n']}/{r['runs']} | {r['diverged']} | {r['failed']} | "
            f"{numbers} | {fmt_number(r['p'], '.3g')} | {ci} |"
        )
    return lines + [""]


def _paired_section(ctx: dict, rows: dict) -> list[str]:
    """Quality and stability against the baseline on paired seeds, and the published claims."""
    protocol, published = ctx["protocol"], ctx["published"]
    base = protocol.baseline
    lines = [
        f"## Quality and stability against {base}, seed by seed",
        "",
        f"Seed s is the same initial weights and data order for every loss, so seeds are "
        f"paired. **ratio**: geometric mean of the per-seed ratios to {base}, with a bootstrap "
        f"95% CI ({claims.N_BOOT:,} resamples of seeds); a diverged or failed seed counts as the "
        f"worst value of the pair. **p better / p worse**: one-sided sign-flip tests on the "
        f"per-seed log ratios, each Holm-corrected across the {len(rows) - 1} "
        f"loss{'es' if len(rows) > 2 else ''} compared. "
        f"**sd log**: the sd across seeds of log {ctx['metric']} (the spread the stability "
        f"claim is about), and its ratio to {base}'s with a paired bootstrap 95% CI. "
        f"**collapsed**: share of seeds whose samples cover at most 5 of the 10 classes.",
        "",
        "| loss | ratio [95% CI] | p better | p worse | sd log | sd ratio [95% CI] | "
        "collapsed | classes (min / mean) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        if name == base:
            ratio = sd_ratio = "(baseline)"
        else:
            ratio = _with_ci(r["ratio"], r["ratio_low"], r["ratio_high"])
            sd_ratio = _with_ci(r["sd_ratio"], r["sd_ratio_low"], r["sd_ratio_high"])
        rate = "-" if r["collapse_rate"] is None else f"{r['collapse_rate']:.0%}"
        classes = (
            "-"
            if r["classes_min"] is None
            else f"{r['classes_min']} / {fmt_number(r['classes_mean'], '.1f')}"
        )
        lines.append(
            f"| {name} | {ratio} | {fmt_number(r['p_better'], '.2g')} | "
            f"{fmt_number(r['p_worse'], '.2g')} | {fmt_number(r['sd_log'], '.2f')} | "
            f"{sd_ratio} | {rate} | {classes} |"
        )
    lines.append("")
    if published is not None and published.focus in rows and published.focus != base:
        lines += [
            f"## The published claims about {published.focus}",
            "",
            f"- {claims.quality_claim(rows, published.focus, base)}",
            f"- {claims.stability_claim(rows, published.focus, base)}",
            "",
        ]
    return lines


def _with_ci(value: float | None, low: float | None, high: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} [{fmt_number(low, '.2f')}, {fmt_number(high, '.2f')}]"


def _extractor_text(info: dict) -> str:
    ext = info.get("extractor", {})
    if ext.get("weights"):
        return (
            f"Inception-v3 pool features, weights {ext.get('weights')} (sha256 {ext.get('sha256')})"
        )
    return (
        f"domain classifier trained on the training split (held-out accuracy "
        f"{fmt_number(ext.get('accuracy'), '.4f')}, cache key dataset {ext.get('dataset_key')}"
        f", code version {ext.get('code_version')}, epochs {ext.get('epochs')}, seed "
        f"{ext.get('seed')})"
    )


def _protocol_section(ctx: dict) -> list[str]:
    """The losses, data, budget, metric and provenance of the measurement."""
    protocol, steps, info, config = ctx["protocol"], ctx["steps"], ctx["info"], ctx["config"]
    budget = (
        f"{steps} generator steps"
        if protocol.steps
        else f"{steps} generator steps = "
        f"ceil({protocol.epochs:g} epochs x {info.get('train_images')} images / batch)"
    )
    tc = info.get("config", protocol.task_config)
    versions = ", ".join(f"{k} {v}" for k, v in config.get("library_versions", {}).items())
    return [
        "## Protocol",
        "",
        *(
            f"- {n}: `{s.expr.text}` ({s.transform}, {s.generator})"
            for n, s in ctx["specs"].items()
        ),
        f"- Dataset: {info.get('dataset')} ({info.get('train_images')} training images)"
        f"; budget: {budget}; batch {tc.get('batch_size')}, width {tc.get('width')}, lr "
        f"{tc.get('lr')}, beta1 {tc.get('beta1')}, latent {tc.get('latent_dim')}; device "
        f"{info.get('device')}.",
        f"- Metric: {ctx['metric']} between {tc.get('n_samples')} generated samples and "
        f"{info.get('reference_images')} held-out real images; feature extractor: "
        f"{_extractor_text(info)}.",
        f"- Protocol digest {config['digest']} (from {config.get('source')}); library "
        f"versions: {versions}.",
        "",
    ]


def _published_section(published: Published | None) -> list[str]:
    """The published table and the claim's formula, only where the protocol names them."""
    if published is None:
        return []
    loss = reference_loss(published.focus)
    columns = "/".join(published.columns)
    return [
        "## The published table, for orientation only",
        "",
        f"The published {published.focus} formula: `{loss.expr.text}` ({loss.transform} "
        f"transform, {loss.generator} generator). {loss.note}.",
        "",
        f"{published.source} ({columns}): "
        + "; ".join(f"{n} {'/'.join(map(str, v))}" for n, v in published.table.items())
        + f". {published.caveat}",
        "",
    ]


def write_report(store: RunStore) -> Path:
    """report.md, table.csv and the figures in the replay directory, from the store alone."""
    ctx = _context(store)
    rows, values = _table_rows(ctx)
    store.write_table(store.run_dir / "table.csv", list(rows.values()), TABLE_COLUMNS)
    protocol = ctx["protocol"]
    lines = [f"# Replay: {protocol.name}", "", protocol.description, ""]
    lines += _paired_section(ctx, rows)  # the tests the claims rest on come first
    lines += _results_section(ctx, rows)
    lines += _figures(store, ctx, rows, values)
    lines += _protocol_section(ctx)
    lines += _published_section(ctx["published"])
    path = store.run_dir / "report.md"
    write_bytes(path, "\n".join(lines).encode("utf-8"))
    return path
