"""Screen N random trees from a search space: no crash, rejections per reason, distinct
fingerprints, and candidates screened per second.

    python experiments/screen_benchmark.py --space ganetic --n 10000
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import time

from tqdm import tqdm

from lossevo.loss.expr import LossExpr
from lossevo.loss.reference import LossSpec
from lossevo.loss.screen import screen
from lossevo.search.gp import make_pset, random_tree
from lossevo.search.space import load_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--space", default="ganetic")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the numbers to this JSON file")
    args = parser.parse_args()

    space = load_space(args.space)
    pset = make_pset(space)
    random.seed(args.seed)
    reasons: collections.Counter = collections.Counter()
    keys, fingerprints, examples = set(), set(), {}
    seconds = {"canonical": 0.0, "screen": 0.0}
    start = time.perf_counter()
    for _ in tqdm(range(args.n), desc=f"screening {args.space}", unit="tree"):
        tree = random_tree(space, pset)
        t0 = time.perf_counter()
        expr = LossExpr.from_tree(tree)
        keys.add(expr.key)
        t1 = time.perf_counter()
        verdict = screen(
            LossSpec(
                name="candidate", expr=expr, transform=space.transform, generator=space.generator
            )
        )
        t2 = time.perf_counter()
        seconds["canonical"] += t1 - t0
        seconds["screen"] += t2 - t1
        reasons[verdict.reason or "passed"] += 1
        examples.setdefault(verdict.reason or "passed", f"{expr.text}: {verdict.detail}")
        if verdict.passed:
            fingerprints.add(verdict.fingerprint)
    total = time.perf_counter() - start
    result = {
        "space": args.space,
        "trees": args.n,
        "distinct_keys": len(keys),
        "passed": reasons["passed"],
        "distinct_fingerprints_of_passed": len(fingerprints),
        "rejections": {k: v for k, v in reasons.most_common() if k != "passed"},
        "example_per_reason": examples,
        "candidates_per_second": round(args.n / total, 1),
        "seconds": {k: round(v, 1) for k, v in seconds.items()} | {"total": round(total, 1)},
    }
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
