"""Promotion: a search run's best losses, with the baselines, through harder validation stages.

A stages file (YAML) lists stages, each ``{name, task, task_config, steps, seeds, keep}`` and
optionally ``first_seed`` (its seeds are first_seed .. first_seed + seeds - 1; default 0): the
GANetic pipeline's MNIST search, CIFAR10 re-evaluation and medical validation, for example.
Every stage trains the losses still in the race on its seeds; then the best ``keep`` of the
candidates move on (a fraction in (0, 1) or a count), ranked by mean fitness over seeds (lower is
better; a loss without a finished run never moves on). The baselines always move on, so every
stage has a reference. The whole file is checked (keys, tasks, datasets, Inception weights)
before anything is trained.

Results live in a RunStore of kind "promote", keyed by stage, fingerprint, seed and steps
(two stages may share a budget), so an interrupted promotion resumes where it stopped and
every decision is recomputed from stored facts.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from lossevo.fitness.data import load_dataset
from lossevo.fitness.metrics.inception import resolve_inception_weights
from lossevo.fitness.seeds import aggregate
from lossevo.loss.reference import LossSpec, reference_loss
from lossevo.loss.screen import fingerprint
from lossevo.runs.executors import Execution, make_executor
from lossevo.runs.pipeline import Destination, Work, pending, run_jobs
from lossevo.runs.store import RunStore
from lossevo.search.leaderboard import best_losses
from lossevo.studies.protocol import ProtocolError, check_keys, check_task_config, load_yaml_mapping
from lossevo.studies.study_dir import check_out_dir
from lossevo.util.files import write_bytes
from lossevo.util.fmt import fmt_number
from lossevo.util.hashing import json_digest

KIND = "promote"
FILE_KEYS = ("name", "description", "baselines", "stages")
STAGE_KEYS = ("name", "task", "task_config", "steps", "seeds", "keep", "first_seed")
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
    first_seed: int = 0

    @property
    def seed_range(self) -> range:
        """The seeds this stage trains on."""
        return range(self.first_seed, self.first_seed + self.seeds)

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
    check_task_config(task, config, where)
    for key in ("steps", "seeds"):
        if not isinstance(data[key], int) or isinstance(data[key], bool) or data[key] < 1:
            raise ProtocolError(f"{where}: {key} must be a positive integer, got {data[key]!r}")
    first_seed = data.get("first_seed", 0)
    if not isinstance(first_seed, int) or isinstance(first_seed, bool) or first_seed < 0:
        raise ProtocolError(f"{where}: first_seed must be an integer >= 0, got {first_seed!r}")
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
        first_seed=first_seed,
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
    _check_fresh_seeds(plan.stages, path)
    for name in plan.baselines:
        try:
            reference_loss(name)
        except ValueError as err:
            raise ProtocolError(f"{path}: baselines: {err}") from None
    return plan


def _check_fresh_seeds(stages: tuple[Stage, ...], path) -> None:
    """Refuse a stage that trains the same task and data as an earlier one on a seed that
    stage used: it would decide who moves on with the seeds that chose its entrants."""
    for i, later in enumerate(stages):
        for earlier in stages[:i]:
            same = (earlier.task, earlier.task_config) == (later.task, later.task_config)
            shared = set(earlier.seed_range) & set(later.seed_range)
            if same and shared:
                raise ProtocolError(
                    f"{path}: stage {later.name!r} reuses seeds {min(shared)}-{max(shared)} of "
                    f"stage {earlier.name!r} on the same task and data, so it would judge on "
                    f"the seeds that chose its entrants; give it first_seed: "
                    f"{earlier.first_seed + earlier.seeds}"
                )


def _plan_identity(plan: Plan) -> dict:
    """The plan as its digest sees it: a stage's first_seed only when set, so a promotion made
    before stages had one keeps its digest and resumes."""
    data = asdict(plan)
    for stage in data["stages"]:
        if stage["first_seed"] == 0:
            del stage["first_seed"]
    return data


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
    """The search run's ``top`` best losses as (name, spec), each with its own stored transform
    and generator convention (as ``lossevo export`` writes them)."""
    if top < 1:
        raise ProtocolError(f"--top must be at least 1, got {top}")
    with RunStore.open(run, kind="search", readonly=True) as store:
        chosen = best_losses(store, top)
    if not chosen:
        raise ProtocolError(f"'{run}' has no evaluated candidates yet; resume the search first")
    return [(spec.name, spec) for _, spec in chosen]


def _entrants(plan: Plan, losses: dict, role: dict, store: RunStore) -> list[list[str]]:
    """Who enters each stage (and, as a last entry, who passed the last one)."""
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
        for r in store.evaluations(fp, stage=stage.name)
        if r["budget"] == stage.steps and r["seed"] in stage.seed_range
    ]


def _race(plan: Plan, run: str | os.PathLike, top: int, echo) -> tuple[dict, dict]:
    """The losses in the race (name -> spec dict with its fingerprint) and each one's role.

    A run's loss that is a baseline's function (same fingerprint) runs once, as that baseline.
    """
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
    return losses, role


def _open_store(out: Path, config: dict, resuming: bool) -> RunStore:
    """The promotion's store with every loss recorded under its role."""
    store = RunStore.open(out, kind=KIND) if resuming else RunStore.create(out, config, kind=KIND)
    for name, loss in config["losses"].items():
        spec = LossSpec.from_dict(loss)
        store.put_candidate(
            spec,
            key=name,
            name=name,
            role=config["role"][name],
            fingerprint=loss["fingerprint"],
            first_generation=-1,
        )
    return store


def _stage_work(stage: Stage, alive: list[str], losses: dict, role: dict) -> list[Work]:
    """Every (loss, seed) of a stage as a job: the task's payload and where its result goes."""
    return [
        Work(
            {
                "loss": {k: v for k, v in losses[n].items() if k != "fingerprint"},
                "seed": seed,
                "steps": stage.steps,
            },
            Destination(losses[n]["fingerprint"], n, seed, stage.steps, stage.name, role[n]),
        )
        for seed in stage.seed_range
        for n in alive
    ]


def run_promotion(
    run: str | os.PathLike,
    stages: str | os.PathLike | Plan,
    out: str | os.PathLike,
    execution: Execution | None = None,
    *,
    top: int = 3,
    progress: bool = True,
    echo=print,
) -> Path:
    """Run (or resume) a promotion in ``out`` and write report.md/table.csv there."""
    plan = stages if isinstance(stages, Plan) else load_stages(stages)
    losses, role = _race(plan, run, top, echo)
    identity = {"plan": _plan_identity(plan), "losses": losses, "run": str(Path(run).resolve())}
    digest = json_digest(identity)
    out = Path(out)
    resuming = check_out_dir(out, KIND, plan.name, digest)
    for stage in plan.stages:
        check_stage_files(stage)
    config = {"kind": KIND, "name": plan.name, "digest": digest, "top": top, **identity}
    with _open_store(out, {**config, "role": role}, resuming) as store:
        try:
            for i, stage in enumerate(plan.stages):
                alive = _entrants(plan, losses, role, store)[i]
                works = pending(_stage_work(stage, alive, losses, role), store)
                echo(
                    f"stage {i + 1}/{len(plan.stages)} {stage.name} ({stage.task}, "
                    f"{stage.steps} steps): {', '.join(alive)}; {len(works)} runs to train"
                )
                if works:
                    with make_executor(
                        stage.task, stage.task_config, execution or Execution()
                    ) as executor:
                        run_jobs(store, executor, works, label=stage.name, progress=progress)
        finally:
            report = write_report(store)
    return report


def _stored_plan(config: dict) -> Plan:
    plan = config["plan"]
    return Plan(
        name=plan["name"],
        baselines=tuple(plan["baselines"]),
        description=plan["description"],
        stages=tuple(Stage(**s) for s in plan["stages"]),
    )


def _stage_rows(store: RunStore, stage: Stage, entrants: list[str], moved_on: list[str]) -> list:
    """One table row per loss that entered ``stage``: fitness over seeds, and whether it moved
    on."""
    losses, role = store.config["losses"], store.config["role"]
    rows = []
    for name in entrants:
        s = aggregate(_stage_results(store, stage, losses[name]["fingerprint"]))
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
                "moved_on": "yes" if name in moved_on else "no",
                "formula": LossSpec.from_dict(losses[name]).expr.text,
            }
        )
    return rows


def _stage_section(number: int, stage: Stage, rows: list[dict]) -> list[str]:
    lines = [
        f"## Stage {number}: {stage.name}",
        "",
        f"task {stage.task}, {stage.steps} steps, seeds {stage.first_seed}.."
        f"{stage.seed_range[-1]}, keep "
        f"{stage.keep}; options: `{json.dumps(stage.task_config, sort_keys=True)}`",
        "",
        "| loss | role | fitness | std | seeds ok | diverged | failed | moves on |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['loss']} | {r['role']} | {fmt_number(r['fitness'])} | "
            f"{fmt_number(r['std'])} | {r['n']}/{stage.seeds} | "
            f"{r['diverged']} | {r['failed']} | {r['moved_on']} |"
        )
    return lines + [""]


def write_report(store: RunStore) -> Path:
    """report.md and table.csv: per stage and loss, fitness mean +- std and who moved on."""
    config = store.config
    plan = _stored_plan(config)
    losses, role = config["losses"], config["role"]
    entrants = _entrants(plan, losses, role, store)
    lines = [
        f"# Promotion: {plan.name}",
        "",
        plan.description,
        "",
        f"Search run {config['run']}, top {config['top']} losses, with baselines "
        f"{', '.join(plan.baselines)} (which always move on). Fitness is lower-"
        f"is-better: FID-type distance for gan stages, 1 - AUROC for anomaly "
        f"stages; mean +- std over seeds.",
        "",
    ]
    rows = []
    for i, stage in enumerate(plan.stages):
        stage_rows = _stage_rows(store, stage, entrants[i], entrants[i + 1])
        lines += _stage_section(i + 1, stage, stage_rows)
        rows += stage_rows
    texts = {n: LossSpec.from_dict(loss).expr.text for n, loss in losses.items()}
    versions = ", ".join(f"{k} {v}" for k, v in config.get("library_versions", {}).items())
    lines += [
        "## Losses",
        "",
        *(
            f"- {n} ({role[n]}): `{texts[n]}` ({losses[n]['transform']}, {losses[n]['generator']})"
            for n in losses
        ),
        "",
        f"Library versions: {versions}",
        "",
    ]
    store.write_table(store.run_dir / "table.csv", rows, TABLE_COLUMNS)
    path = store.run_dir / "report.md"
    write_bytes(path, "\n".join(lines).encode("utf-8"))
    return path


def promotion_results(out: str | os.PathLike) -> dict[str, dict[str, dict[int, dict]]]:
    """A promotion's stored trainings, for studies built on it: stage -> loss -> seed -> its
    evaluation row, a search's function named by its formula and a baseline by its name."""
    with RunStore.open(out, kind=KIND, readonly=True) as store:
        names = {
            c["key"]: c["text"] if c["role"] == "candidate" else c["key"]
            for c in store.candidates()
        }
        results: dict[str, dict[str, dict[int, dict]]] = {}
        for e in store.evaluations():
            name = names.get(e["key"], e["key"])
            results.setdefault(e["stage"], {}).setdefault(name, {})[e["seed"]] = e
    return results


def promote_report_only(out: str | os.PathLike) -> Path:
    """Rewrite the report of an existing promotion directory without training."""
    if not (Path(out) / "run.db").is_file():
        raise ProtocolError(
            f"'{out}' holds no promotion; run 'lossevo promote RUN --stages FILE --out {out}' first"
        )
    with RunStore.open(out, kind=KIND) as store:
        return write_report(store)
