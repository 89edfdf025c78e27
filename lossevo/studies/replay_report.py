"""The replay report: the published-style table, tests against the baseline, figures, protocol.

Derived from the replay's store alone, so it can be rewritten at any time (``--report-only``).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from lossevo.report import figures as plots
from lossevo.report import stats
from lossevo.runs.store import RunStore
from lossevo.studies.protocol import Protocol, protocol_from_dict
from lossevo.util.files import write_bytes

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
    "transform",
    "generator",
    "formula",
]
PUBLISHED = {  # the GANetic repository's CIFAR10 table (64-sample FID; see GANETIC.md)
    "adversarial": (9.45, 72.58, 18.52, 16.12),
    "bce": (2.06, 45.30, 8.34, 8.92),
    "hinge": (7.11, 62.47, 12.41, 10.59),
    "wasserstein": (3.04, 31.74, 12.93, 4.85),
    "least_squares": (4.60, 80.87, 17.52, 15.81),
    "ganetic": (1.52, 2.76, 2.20, 0.39),
}


def _f(value, spec: str = ".4g") -> str:
    return "-" if value is None else format(value, spec)


def _results(store: RunStore, protocol: Protocol, steps: int) -> dict[str, list[dict]]:
    """The stored evaluations of each loss at the protocol's steps, seeds in order."""
    out = {}
    for name in protocol.losses:
        cand = store.get_candidate(name)
        rows = store.evaluations(cand["fingerprint"]) if cand else []
        out[name] = sorted((r for r in rows if r["budget"] == steps), key=lambda r: r["seed"])
    return out


def write_report(store: RunStore) -> Path:
    """report.md, table.csv and the figures in the replay directory, from the store alone."""
    from lossevo.loss.reference import reference_loss

    config, run_dir = store.config, store.run_dir
    protocol = protocol_from_dict(config["protocol"], config.get("source", "<stored>"))
    steps, specs = config["steps"], protocol.specs()
    events = [e for e in store.events() if e["kind"] == "protocol"]
    info = json.loads(events[-1]["message"]) if events else {}
    metric = info.get("metric", "metric")
    results = _results(store, protocol, steps)
    values = {
        n: [r["fitness"] if r["status"] == "ok" else None for r in rs] for n, rs in results.items()
    }
    rows = stats.comparison_rows(values, protocol.baseline)
    for name, row in rows.items():
        row.update(
            loss=name,
            diverged=sum(r["status"] == "diverged" for r in results[name]),
            failed=sum(r["status"] == "failed" for r in results[name]),
            transform=specs[name].transform,
            generator=specs[name].generator,
            formula=specs[name].expr.text,
        )
    store.write_table(run_dir / "table.csv", list(rows.values()), TABLE_COLUMNS)
    notes = {n: f"{r['runs'] - r['n']} not scored" for n, r in rows.items() if r["runs"] > r["n"]}
    fig_runs = plots.box_strip(
        values,
        run_dir / "fig_runs.png",
        ylabel=f"{metric} (lower is better)",
        notes=notes,
        title=f"{metric} of each run per loss: {protocol.name}, {steps} steps, one dot per seed",
    )
    fig_losses = plots.loss_curves(list(specs.values()), run_dir / "fig_losses.png")
    grids, captions = {}, {}
    for name, rs in results.items():
        path = run_dir / "grids" / f"{store.get_candidate(name)['fingerprint']}.png"
        if path.is_file():
            grids[name] = base64.b64encode(path.read_bytes()).decode("ascii")
            seed0 = next((r for r in rs if r["seed"] == 0), None)
            captions[name] = f"seed 0, {metric} {_f(seed0 and seed0['fitness'])}"
    fig_samples = (
        plots.sample_grids(
            grids,
            run_dir / "fig_samples.png",
            captions=captions,
            title=f"Samples after {steps} steps (seed 0 of each loss)",
        )
        if grids
        else None
    )
    focus = "ganetic" if "ganetic" in rows else None
    g = reference_loss("ganetic")
    lines = [f"# Replay: {protocol.name}", "", protocol.description, "", "## Finding", ""]
    lines += [f"- {s}" for s in stats.finding(rows, protocol.baseline, focus)]
    lines += [
        "",
        f"## Results: {metric} per loss (lower is better)",
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
        ci = (
            "(baseline)"
            if name == protocol.baseline
            else f"{_f(r['diff'], '.3g')} [{_f(r['low'], '.3g')}, {_f(r['high'], '.3g')}]"
        )
        lines.append(
            f"| {name} | {r['n']}/{r['runs']} | {r['diverged']} | {r['failed']} | "
            f"{_f(r['best'])} | {_f(r['worst'])} | {_f(r['mean'])} | {_f(r['std'])} | "
            f"{_f(r['p'], '.3g')} | {ci} |"
        )
    lines += [
        "",
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
    ]
    ext = info.get("extractor", {})
    extractor = (
        f"Inception-v3 pool features, weights {ext.get('weights')} (sha256 {ext.get('sha256')})"
        if ext.get("weights")
        else f"domain classifier trained on the training split (held-out accuracy "
        f"{_f(ext.get('accuracy'), '.4f')}, cache key dataset {ext.get('dataset_key')}"
        f", code version {ext.get('code_version')}, epochs {ext.get('epochs')}, seed "
        f"{ext.get('seed')})"
    )
    budget = (
        f"{steps} generator steps"
        if protocol.steps
        else f"{steps} generator steps = "
        f"ceil({protocol.epochs:g} epochs x {info.get('train_images')} images / batch)"
    )
    tc = info.get("config", protocol.task_config)
    lines += [
        "## Protocol",
        "",
        f"- GANetic formula: `{g.expr.text}` ({g.transform} transform, "
        f"{g.generator} generator). {g.note}.",
        *(f"- {n}: `{s.expr.text}` ({s.transform}, {s.generator})" for n, s in specs.items()),
        f"- Dataset: {info.get('dataset')} ({info.get('train_images')} training images)"
        f"; budget: {budget}; batch {tc.get('batch_size')}, width {tc.get('width')}, lr "
        f"{tc.get('lr')}, beta1 {tc.get('beta1')}, latent {tc.get('latent_dim')}; device "
        f"{info.get('device')}.",
        f"- Metric: {metric} between {tc.get('n_samples')} generated samples and "
        f"{info.get('reference_images')} held-out real images; feature extractor: "
        f"{extractor}.",
        f"- Protocol digest {config['digest']} (from {config.get('source')}); library "
        "versions: "
        + ", ".join(f"{k} {v}" for k, v in config.get("library_versions", {}).items())
        + ".",
        "",
        "## The published table, for orientation only",
        "",
        "The GANetic repository reports CIFAR10 FID over 25 runs (best/worst/mean/std): "
        + "; ".join(f"{n} {'/'.join(map(str, v))}" for n, v in PUBLISHED.items())
        + ". "
        "Those values come from 64 generated against 64 real images with mis-scaled "
        "Inception inputs, so only the relative pattern is comparable, never the values.",
        "",
    ]
    path = run_dir / "report.md"
    write_bytes(path, "\n".join(lines).encode("utf-8"))
    return path
