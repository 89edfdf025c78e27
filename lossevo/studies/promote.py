"""Promotion: a search run's best losses, with the baselines, through harder validation stages.

A stages file (YAML) lists stages, each ``{name, task, task_config, steps, seeds, keep}``: the
GANetic pipeline's MNIST search, CIFAR10 re-evaluation and medical validation, for example.
Every stage trains the losses still in the race on its seeds; then the best ``keep`` of the
candidates move on (a fraction in (0, 1) or a count), ranked by mean fitness over seeds (lower is
better; a loss without a finished run never moves on). The baselines always move on, so every
stage has a reference. The whole file is checked (keys, tasks, datasets, Inception weights)
before anything is trained.

Results live in a RunStore of kind "promote", keyed by ``<stage>/<fingerprint>``, seed and
steps (two stages may share a budget), so an interrupted promotion resumes where it stopped and
every decision is recomputed from stored facts.
"""

from __future__ import annotations

import importlib
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from lossevo.loss.reference import LossSpec, reference_loss
from lossevo.runs.store import RunStore
from lossevo.studies.protocol import ProtocolError, check_keys, check_task_config, load_yaml_mapping
from lossevo.studies.study_dir import check_out_dir, run_jobs
from lossevo.util.files import write_bytes
from lossevo.util.hashing import json_digest

KIND = "promote"
FILE_KEYS = ("name", "description", "baselines", "stages")
STAGE_KEYS = ("name", "task", "task_config", "steps", "seeds", "keep")
#: The config class that validates each task's options without building the task.
CONFIG_CLASSES = {
    "gan": "lossevo.fitness.gan:FitnessConfig",
    "anomaly": "lossevo.fitness.anomaly:AnomalyConfig",
}
TABLE_COLUMNS = [
    "stage",
    "task",
    "steps",
    "loss",
    "role",
    "fitness",
    "std",
    "n",
    "diverged",
    "failed",
    "moved_on",
    "formula",
]


@dataclass(frozen=True)
class Stage:
    """One validation stage: a task, its options, a budget, seeds, and how many move on."""

    name: str
    task: str
    task_config: dict
    steps: int
    seeds: int
    keep: float = 0.5

    def survivors(self, candidates: int) -> int:
        """How many of ``candidates`` move on: a count, or ceil(fraction x candidates)."""
        if isinstance(self.keep, int):
            return min(self.keep, candidates)
        return math.ceil(self.keep * candidates)


def _check_stage(data: dict, where: str) -> Stage:
    if not isinstance(data, dict):
        raise ProtocolError(f"{where}: a stage must be a mapping")
    check_keys(data, STAGE_KEYS, where)
    for key in ("name", "task", "steps", "seeds"):
        if key not in data:
            raise ProtocolError(f"{where}: missing key {key!r}")
    task, config = data["task"], data.get("task_config") or {}
    if task not in CONFIG_CLASSES:
        raise ProtocolError(
            f"{where}: unknown task {task!r}; use one of {', '.join(CONFIG_CLASSES)}"
        )
    module, cls = CONFIG_CLASSES[task].split(":")
    try:
        config_cls = getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as err:
        raise ProtocolError(f"{where}: task {task!r} is not available here ({err})") from None
    check_task_config(config_cls, config, where)
    for key in ("steps", "seeds"):
        if not isinstance(data[key], int) or isinstance(data[key], bool) or data[key] < 1:
            raise ProtocolError(f"{where}: {key} must be a positive integer, got {data[key]!r}")
    keep = data.get("keep", 0.5)
    if isinstance(keep, bool) or not (
        isinstance(keep, int) and keep >= 1 or isinstance(keep, float) and 0 < keep <= 1
    ):
        raise ProtocolError(
            f"{where}: keep must be a fraction in (0, 1] or a count >= 1, got {keep!r}"
        )
    return Stage(
        name=str(data["name"]),
        task=task,
        task_config=dict(config),
        steps=data["steps"],
        seeds=data["seeds"],
        keep=keep,
    )


@dataclass(frozen=True)
class Plan:
    """A stages file: its stages and the baselines that accompany every stage."""

    name: str
    stages: tuple[Stage, ...]
    baselines: tuple[str, ...] = ("bce", "ganetic")
    description: str = ""


def load_stages(path: str | os.PathLike) -> Plan:
    """Read and validate a stages file (keys, tasks, task options); no data is touched."""
    data = load_yaml_mapping(path, FILE_KEYS, "stages")
    stages = data.get("stages")
    if not isinstance(stages, list) or not stages:
        raise ProtocolError(f"{path}: stages must be a non-empty list")
    plan = Plan(
        name=str(data.get("name", Path(path).stem)),
        stages=tuple(_check_stage(s, f"{path}: stage {i + 1}") for i, s in enumerate(stages)),
        baselines=_baselines(data.get("baselines", ["bce", "ganetic"]), path),
        description=str(data.get("description", "")).strip(),
    )
    names = [s.name for s in plan.stages]
    if len(set(names)) != len(names):
        raise ProtocolError(f"{path}: stage names must be distinct")
    for name in plan.baselines:
        try:
            reference_loss(name)
        except ValueError as err:
            raise ProtocolError(f"{path}: baselines: {err}") from None
    return plan


def _baselines(value: object, path) -> tuple[str, ...]:
    """A list of built-in loss names (``[bce, ganetic]``), refused in one line otherwise."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProtocolError(
            f"{path}: baselines must be a list of built-in loss names, e.g. "
            f"'baselines: [bce, ganetic]', not {value!r}"
        )
    return tuple(value)


def check_stage_files(stage: Stage) -> None:
    """Load two images of the stage's dataset and, where Inception FID will be used, resolve
    the weights file: a missing file fails here, before any training."""
    from lossevo.fitness.data import load_dataset
    from lossevo.fitness.metrics.inception import resolve_inception_weights

    c = stage.task_config
    try:
        data = load_dataset(
            c.get("dataset", "mnist-offline"),
            root=c.get("data_root"),
            image_size=c.get("image_size"),
            limit=2,
        )
        metric = c.get("metric", "auto")
        digits = data.labels is not None and data.shape[0] == 1
        if stage.task == "gan" and (metric == "inception_fid" or metric == "auto" and not digits):
            resolve_inception_weights(c.get("inception_weights"))
    except ValueError as err:
        raise ProtocolError(f"stage {stage.name!r}: {str(err).splitlines()[0]}") from None


def run_losses(run: str | os.PathLike, top: int) -> list[tuple[str, LossSpec]]:
    """The search run's ``top`` best losses as (name, spec), with the run's transform and
    generator convention (as ``lossevo export`` writes them)."""
    from lossevo.search.config import SearchConfig
    from lossevo.search.leaderboard import hall_of_fame
    from lossevo.search.space import space_from_dict

    if top < 1:
        raise ProtocolError(f"--top must be at least 1, got {top}")
    with RunStore.open(run, kind="search", readonly=True) as store:
        config = SearchConfig.from_dict(store.config.get("search", {}))
        space = space_from_dict(store.config["space"])
        rows = hall_of_fame(store, config)[:top]
    if not rows:
        raise ProtocolError(f"'{run}' has no evaluated candidates yet; resume the search first")
    return [
        (
            f"rank{r['rank']}",
            LossSpec.from_formula(
                r["formula"],
                name=f"rank{r['rank']}",
                transform=space.transform,
                generator=space.generator,
            ),
        )
        for r in rows
    ]


def _entrants(plan: Plan, losses: dict, role: dict, store: RunStore) -> list[list[str]]:
    """Who enters each stage (and, as a last entry, who passed the last one)."""
    from lossevo.fitness.gan import aggregate

    alive, out = list(losses), []
    for stage in plan.stages:
        out.append(alive)
        scores = {}
        for name in alive:
            rows = _stage_results(store, stage, losses[name]["fingerprint"])
            summary = aggregate(rows) if rows else {"fitness": None}
            scores[name] = summary["fitness"]
        ranked = sorted(
            (n for n in alive if role[n] == "candidate" and scores[n] is not None),
            key=lambda n: (scores[n], n),
        )
        kept = set(ranked[: stage.survivors(len([n for n in alive if role[n] == "candidate"]))])
        alive = [n for n in alive if role[n] == "baseline" or n in kept]
    out.append(alive)
    return out


def _stage_results(store: RunStore, stage: Stage, fp: str) -> list[dict]:
    return [
        r
        for r in store.evaluations(f"{stage.name}/{fp}")
        if r["budget"] == stage.steps and r["seed"] < stage.seeds
    ]


def run_promotion(
    run: str | os.PathLike,
    stages: str | os.PathLike | Plan,
    out: str | os.PathLike,
    *,
    top: int = 3,
    workers: int = 1,
    ray_address: str | None = None,
    progress: bool = True,
    echo=print,
) -> Path:
    """Run (or resume) a promotion in ``out`` and write report.md/table.csv there."""
    from lossevo.loss.screen import fingerprint
    from lossevo.runs.executors import Job, make_executor

    plan = stages if isinstance(stages, Plan) else load_stages(stages)
    chosen = run_losses(run, top)
    role = {name: "candidate" for name, _ in chosen}
    prints = {fingerprint(reference_loss(b)): b for b in plan.baselines}
    losses = {b: {**reference_loss(b).to_dict(), "fingerprint": fp} for fp, b in prints.items()}
    role.update({b: "baseline" for b in plan.baselines})
    for name, spec in chosen:
        fp = fingerprint(spec)
        if fp in prints:
            echo(f"{name} is the baseline {prints[fp]} (same fingerprint); it runs once as that")
            del role[name]
            continue
        losses[name], prints[fp] = {**spec.to_dict(), "fingerprint": fp}, name
    identity = {"plan": asdict(plan), "losses": losses, "run": str(Path(run).resolve())}
    digest = json_digest(identity)
    out = Path(out)
    resuming = check_out_dir(out, KIND, plan.name, digest)
    for stage in plan.stages:
        check_stage_files(stage)
    store = (
        RunStore.open(out, kind=KIND)
        if resuming
        else RunStore.create(
            out,
            {
                "kind": KIND,
                "name": plan.name,
                "digest": digest,
                "top": top,
                **identity,
                "role": role,
            },
            kind=KIND,
        )
    )
    with store:
        for name, loss in losses.items():
            spec = LossSpec.from_dict(loss)
            store.put_candidate(
                key=name,
                verdict=role[name],
                formula=spec.expr.formula,
                text=spec.expr.text,
                complexity=spec.expr.complexity,
                fingerprint=loss["fingerprint"],
                first_generation=-1,
            )
        try:
            for i, stage in enumerate(plan.stages):
                alive = _entrants(plan, losses, role, store)[i]
                jobs = [
                    Job(
                        f"{stage.name}:{n}:{seed}",
                        {
                            "loss": {k: v for k, v in losses[n].items() if k != "fingerprint"},
                            "seed": seed,
                            "steps": stage.steps,
                            "key": n,
                            "fingerprint": f"{stage.name}/{losses[n]['fingerprint']}",
                        },
                    )
                    for seed in range(stage.seeds)
                    for n in alive
                    if store.get_evaluation(
                        f"{stage.name}/{losses[n]['fingerprint']}", seed, stage.steps
                    )
                    is None
                ]
                echo(
                    f"stage {i + 1}/{len(plan.stages)} {stage.name} ({stage.task}, "
                    f"{stage.steps} steps): {', '.join(alive)}; {len(jobs)} runs to train"
                )
                if jobs:
                    with make_executor(
                        stage.task, stage.task_config, workers=workers, address=ray_address
                    ) as executor:
                        run_jobs(store, executor, jobs, label=stage.name, progress=progress)
        finally:
            report = write_report(store)
    return report


def write_report(store: RunStore) -> Path:
    """report.md and table.csv: per stage and loss, fitness mean +- std and who moved on."""
    from lossevo.fitness.gan import aggregate

    config = store.config
    plan = Plan(
        name=config["plan"]["name"],
        baselines=tuple(config["plan"]["baselines"]),
        description=config["plan"]["description"],
        stages=tuple(Stage(**s) for s in config["plan"]["stages"]),
    )
    losses, role = config["losses"], config["role"]
    entrants = _entrants(plan, losses, role, store)
    texts = {n: LossSpec.from_dict(loss).expr.text for n, loss in losses.items()}
    rows, lines = (
        [],
        [
            f"# Promotion: {plan.name}",
            "",
            plan.description,
            "",
            f"Search run {config['run']}, top {config['top']} losses, with baselines "
            f"{', '.join(plan.baselines)} (which always move on). Fitness is lower-"
            f"is-better: FID-type distance for gan stages, 1 - AUROC for anomaly "
            f"stages; mean +- std over seeds.",
            "",
        ],
    )
    for i, stage in enumerate(plan.stages):
        lines += [
            f"## Stage {i + 1}: {stage.name}",
            "",
            f"task {stage.task}, {stage.steps} steps, seeds 0..{stage.seeds - 1}, keep "
            f"{stage.keep}; options: `{json.dumps(stage.task_config, sort_keys=True)}`",
            "",
            "| loss | role | fitness | std | seeds ok | diverged | failed | moves on |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name in entrants[i]:
            s = aggregate(_stage_results(store, stage, losses[name]["fingerprint"]))
            moved = "yes" if name in entrants[i + 1] else "no"
            rows.append(
                {
                    "stage": stage.name,
                    "task": stage.task,
                    "steps": stage.steps,
                    "loss": name,
                    "role": role[name],
                    "fitness": s["fitness"],
                    "std": s["std"] if s["n"] else None,
                    "n": s["n"],
                    "diverged": s["diverged"],
                    "failed": s["failed"],
                    "moved_on": moved,
                    "formula": texts[name],
                }
            )
            lines.append(
                f"| {name} | {role[name]} | {_f(s['fitness'])} | "
                f"{_f(s['std'] if s['n'] else None)} | {s['n']}/{stage.seeds} | "
                f"{s['diverged']} | {s['failed']} | {moved} |"
            )
        lines.append("")
    lines += [
        "## Losses",
        "",
        *(
            f"- {n} ({role[n]}): `{texts[n]}` ({losses[n]['transform']}, {losses[n]['generator']})"
            for n in losses
        ),
        "",
        "Library versions: "
        + ", ".join(f"{k} {v}" for k, v in config.get("library_versions", {}).items()),
        "",
    ]
    store.write_table(store.run_dir / "table.csv", rows, TABLE_COLUMNS)
    path = store.run_dir / "report.md"
    write_bytes(path, "\n".join(lines).encode("utf-8"))
    return path


def _f(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def promote_report_only(out: str | os.PathLike) -> Path:
    """Rewrite the report of an existing promotion directory without training."""
    if not (Path(out) / "run.db").is_file():
        raise ProtocolError(
            f"'{out}' holds no promotion; run 'lossevo promote RUN --stages FILE --out {out}' first"
        )
    with RunStore.open(out, kind=KIND) as store:
        return write_report(store)
