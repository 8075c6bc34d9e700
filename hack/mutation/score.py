"""Print the mutation score of the last ``mutmut run``, per module and in total, list the
surviving mutants, and check them against the reviewed list.

Usage: ``python hack/mutation/score.py [--min 90] [--module-min 85] [--survivors FILE]`` after
``mutmut run`` (``make mutation`` runs both). Exits 1 when fewer than ``--min`` percent of the
checked mutants are killed in total, when fewer than ``--module-min`` percent of the mutants
that can change a decision are killed in any module with checked mutants (survivors reviewed
as ``equivalent`` or ``message`` are left out of that module's denominator: no behavioural test
can kill them, and a test that pins a message's wording would be worthless), or when a survivor
is not reviewed (``--allow-unreviewed`` lets the last pass, to measure before the review).

"Killed" counts mutants a test failed on or that timed out (an infinite loop the tests
caught); mutants no selected test reaches ("no tests") count as not killed; mutants not checked
yet (an interrupted run, or a run of some modules only) are listed apart and left out of the
rates.

A survivor is *reviewed* when ``hack/mutation/reviewed.toml`` classifies it (docs/testing.md,
"Surviving mutants", explains the kinds): by its exact name together with the changed line, or
by a ``[[function]]`` entry naming a function whose every mutant is of one kind (the text of a
message, say). A name whose diff no longer matches the recorded one (the function changed, so
mutmut numbered its mutants anew) counts as unreviewed. ``--survivors FILE`` writes every
survivor with its module, name, one-line diff and classification (``unreviewed`` when none) to
FILE, in Markdown.
"""

from __future__ import annotations

import argparse
import fnmatch
import subprocess
import sys
import tomllib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KILLED = ("killed", "timeout")
UNCHECKED = ("not checked", "skipped")
NOT_KILLED = ("survived", "no tests")
KINDS = ("equivalent", "message", "unreachable", "redundant", "harmless")
REVIEWED = Path(__file__).with_name("reviewed.toml")
REVIEWED_DIR = Path(__file__).with_name("reviewed")  # one file per module: reviewed/<module>.toml


@dataclass(frozen=True)
class Survivor:
    name: str
    status: str
    diff: str  # "- old line  →  + new line", whitespace collapsed
    kind: str  # one of KINDS, or "unreviewed"
    reason: str


def module_of(name: str) -> str:
    """``policies.walk`` from ``policies.walk.x_walk_group__mutmut_3`` (functions) or
    ``policies.walk.xǁClassǁmethod__mutmut_3`` (methods)."""
    return name.split(".x", 1)[0] if ".x" in name else name.rsplit(".", 1)[0]


def function_of(name: str) -> str:
    """The mutated function's part of a mutant name: ``policies.walk.x_walk_group``."""
    return name.rsplit("__mutmut_", 1)[0]


def parse_statuses(lines: Iterable[str]) -> dict[str, str]:
    """``mutant name -> status`` from ``mutmut results --all true`` lines
    (``policies.walk.x_walk_group__mutmut_3: survived``)."""
    out: dict[str, str] = {}
    for line in lines:
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            out[name] = status
    return out


def parse(lines: Iterable[str]) -> dict[str, Counter[str]]:
    """``module -> status -> count`` from ``mutmut results --all true`` lines."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for name, status in parse_statuses(lines).items():
        out[module_of(name)][status] += 1
    return dict(out)


def rate(counts: Counter[str]) -> tuple[int, int, float]:
    """Killed, checked, and the kill rate in percent of the checked mutants."""
    killed = sum(counts[s] for s in KILLED)
    checked = sum(counts.values()) - sum(counts[s] for s in UNCHECKED)
    return killed, checked, (100.0 * killed / checked if checked else 0.0)


TEXT_ONLY = ("equivalent", "message")  # survivors that cannot change a decision


def decision_rate(counts: Counter[str], text_only: int) -> float:
    """The kill rate in percent of the checked mutants that can change a decision: the
    survivors reviewed as ``equivalent`` or ``message`` (``text_only`` of them) are left out of
    the denominator, as no test of behaviour could kill them. The per-module floor applies to
    this rate, the total minimum to the plain kill rate."""
    killed, checked, _ = rate(counts)
    relevant = checked - text_only
    return 100.0 * killed / relevant if relevant else 100.0


def one_line(diff: str) -> str:
    """The changed lines of a unified diff on one line: ``- old  →  + new``."""
    lines = [ln for ln in diff.splitlines() if not ln.startswith(("---", "+++"))]
    removed = [ln[1:].strip() for ln in lines if ln.startswith("-")]
    added = [ln[1:].strip() for ln in lines if ln.startswith("+")]
    return f"- {' / '.join(removed)}  →  + {' / '.join(added)}"


def classify(name: str, diff: str, reviewed: Mapping[str, Any]) -> tuple[str, str]:
    """``(kind, reason)`` of a survivor from the reviewed list; ``("unreviewed", why)`` when the
    list does not cover it, or covers it under a diff that is no longer this mutant's."""
    entry = reviewed.get("mutant", {}).get(name)
    if entry is not None:
        if entry.get("diff") not in (None, diff):
            was = entry["diff"]
            return "unreviewed", f"reviewed as `{was}`, now `{diff}`: the function changed"
        return str(entry["kind"]), str(entry["reason"])
    for group in reviewed.get("function", []):
        if fnmatch.fnmatchcase(function_of(name), group["name"]):
            return str(group["kind"]), str(group["reason"])
    return "unreviewed", ""


def passes(
    total: float,
    minimum: float,
    below: list[str],
    unreviewed: list[Survivor],
    *,
    allow_unreviewed: bool = False,
) -> bool:
    """The gate: the total kill rate reaches ``minimum``, no module is below its minimum, and
    every survivor is reviewed (unless ``allow_unreviewed``)."""
    return total >= minimum and not below and (allow_unreviewed or not unreviewed)


def load_reviewed(*paths: Path) -> dict[str, Any]:
    """The reviews of every file in ``paths`` that exists, merged: ``mutant`` by name,
    ``function`` entries in order. A mutant reviewed in two files is an error."""
    data: dict[str, Any] = {"mutant": {}, "function": []}
    for path in paths:
        if not path.exists():
            continue
        part = tomllib.loads(path.read_text())
        for entry in [*part.get("mutant", {}).values(), *part.get("function", [])]:
            if entry.get("kind") not in KINDS:
                kind = entry.get("kind")
                raise SystemExit(f"{path}: kind {kind!r} is not one of {', '.join(KINDS)}")
        twice = data["mutant"].keys() & part.get("mutant", {}).keys()
        if twice:
            raise SystemExit(f"{path}: reviewed in another file too: {', '.join(sorted(twice))}")
        data["mutant"].update(part.get("mutant", {}))
        data["function"].extend(part.get("function", []))
    return data


def reviewed_files() -> list[Path]:
    """``reviewed.toml`` and every ``reviewed/*.toml`` (one per module, so reviews of
    different modules never touch the same file)."""
    return [REVIEWED, *sorted(REVIEWED_DIR.glob("*.toml"))]


def diffs_of(names: Iterable[str]) -> dict[str, str]:
    """One-line diffs of the named mutants, read from ``mutants/`` the way ``mutmut show`` does."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant  # the venv's mutmut

    by_module: dict[str, list[str]] = defaultdict(list)
    for name in names:
        by_module[module_of(name)].append(name)
    out: dict[str, str] = {}
    for module, members in by_module.items():
        path = Path(*module.split(".")).with_suffix(".py")
        for name in members:
            try:
                out[name] = one_line(get_diff_for_mutant(name, path=path))
            except (FileNotFoundError, OSError) as e:
                out[name] = f"(no diff: {e})"
    return out


def markdown_table(
    modules: Mapping[str, Counter[str]], text_only: Mapping[str, int] | None = None
) -> str:
    """Per-module and total figures as a Markdown table (docs/benchmarks.md); the last column
    is :func:`decision_rate` (``text_only``: survivors reviewed as equivalent or message)."""
    text_only = text_only or {}
    rows = [
        "| module | mutants | checked | killed | survived | no tests | kill rate | decision |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    total: Counter[str] = Counter()
    for module in sorted(modules):
        c = modules[module]
        killed, checked, pct = rate(c)
        if not checked:
            continue
        total.update(c)
        full = " (all)" if checked == sum(c.values()) else ""
        rows.append(
            f"| `{module}` | {sum(c.values())} | {checked}{full} | {killed} | {c['survived']}"
            f" | {c['no tests']} | {pct:.1f} %"
            f" | {decision_rate(c, text_only.get(module, 0)):.1f} % |"
        )
    killed, checked, pct = rate(total)
    rows.append(
        f"| measured modules | {sum(total.values())} | {checked} | {killed} | {total['survived']}"
        f" | {total['no tests']} | **{pct:.1f} %**"
        f" | {decision_rate(total, sum(text_only.values())):.1f} % |"
    )
    return "\n".join(rows)


def survivors_markdown(survivors: list[Survivor], header: str) -> str:
    lines = [
        "# Surviving mutants",
        "",
        "Generated by `hack/mutation/score.py --survivors docs/mutation-survivors.md` from the",
        "last `mutmut run`, `hack/mutation/reviewed.toml` and `hack/mutation/reviewed/*.toml`;",
        "do not edit by hand. The kinds are",
        'explained in [testing.md](testing.md#surviving-mutants). "unreviewed" means nobody has',
        "classified the mutant yet: it may hide a missing test.",
        "",
        header,
        "",
    ]
    counts = Counter(s.kind for s in survivors)
    lines += [
        "| kind | survivors |",
        "|---|---:|",
        *(f"| {k} | {counts[k]} |" for k in (*KINDS, "unreviewed") if counts[k]),
        f"| total | {len(survivors)} |",
        "",
    ]
    by_module: dict[str, list[Survivor]] = defaultdict(list)
    for s in survivors:
        by_module[module_of(s.name)].append(s)
    for module in sorted(by_module):
        lines += [f"## `{module}`", "", "| mutant | change | kind | why |", "|---|---|---|---|"]
        ordered = sorted(by_module[module], key=lambda s: (function_of(s.name), len(s.name)))
        for s in ordered:
            short = s.name[len(module) + 1 :]
            change = s.diff.replace("|", "\\|").replace("`", "'")
            status = "" if s.status == "survived" else f" ({s.status})"
            reason = s.reason.replace("|", "\\|")
            lines.append(f"| `{short}`{status} | `{change}` | {s.kind} | {reason} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--min", type=float, default=90.0, help="minimum total kill rate, percent")
    parser.add_argument(
        "--module-min",
        type=float,
        default=85.0,
        help="minimum kill rate of each module, percent of the mutants that can change a decision",
    )
    parser.add_argument("--survivors", type=Path, help="write the survivors here")
    parser.add_argument("--header", default="", help="a line for --survivors: what was run, when")
    parser.add_argument("--table", action="store_true", help="also print a Markdown table")
    parser.add_argument(
        "--allow-unreviewed", action="store_true", help="do not fail on survivors not reviewed"
    )
    args = parser.parse_args()
    results = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    statuses = parse_statuses(results)
    modules = parse(results)
    names = [n for n, s in statuses.items() if s in NOT_KILLED]
    reviewed = load_reviewed(*reviewed_files())
    diffs = diffs_of(names)
    survivors = [
        Survivor(n, statuses[n], diffs[n], *classify(n, diffs[n], reviewed)) for n in names
    ]
    text_only = Counter(module_of(s.name) for s in survivors if s.kind in TEXT_ONLY)
    total: Counter[str] = Counter()
    below: list[str] = []
    print(
        f"{'module':36} {'mutants':>7} {'killed':>7} {'survived':>8} {'no tests':>8} {'rate':>6}"
        f" {'decision':>8}"
    )
    for module in sorted(modules):
        c = modules[module]
        total.update(c)
        killed, checked, pct = rate(c)
        decisive = decision_rate(c, text_only[module])
        if checked and decisive < args.module_min:
            below.append(module)
        print(
            f"{module:36} {sum(c.values()):7} {killed:7} {c['survived']:8} {c['no tests']:8}"
            f" {pct:5.1f}% {decisive:7.1f}%"
            + (f"  ({c['not checked']} not checked)" if c["not checked"] else "")
        )
    killed, checked, pct = rate(total)
    print(f"kill rate: {pct:.1f}% ({killed} of {checked} checked; {sum(total.values())} mutants)")
    decisive = decision_rate(total, sum(text_only.values()))
    print(f"kill rate of mutants that can change a decision: {decisive:.1f}%")

    if args.table:
        print(markdown_table(modules, text_only))
    unreviewed = [s for s in survivors if s.kind == "unreviewed"]
    if survivors:
        print(f"not killed ({len(survivors)}, {len(unreviewed)} unreviewed):")
        for s in survivors:
            print(f"  {s.name}: {s.status} [{s.kind}] {s.diff}")
    if args.survivors:
        args.survivors.write_text(survivors_markdown(survivors, args.header) + "\n")
        print(f"wrote {args.survivors}")
    if below:
        print(f"below {args.module_min:g}% of decision mutants killed: {', '.join(below)}")
    if unreviewed:
        print(f"{len(unreviewed)} survivors not reviewed in {REVIEWED} or {REVIEWED_DIR}/")
    ok = passes(pct, args.min, below, unreviewed, allow_unreviewed=args.allow_unreviewed)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
