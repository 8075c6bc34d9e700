"""``ccc validate FILE|DIR|- ...``: check ComputeClass and ServingGroup manifests without a
cluster.

Output is one line per problem, ``FILE: KIND/NAME: field.path: what is wrong and how to fix
it``, then a one-line summary, then (on stderr) one line per warning about a valid class,
``FILE: ComputeClass/NAME: warning: field.path: ...`` (fields accepted but not acted on, zones
outside the class's region, ``nodePoolAutoCreation`` off, ``AnyBestEffort`` fall-through).
Exit status: 0 all valid, 1 problems found, 2 a path does not exist or nothing to validate.
Documents of other kinds (Deployments, Services, ...) are skipped and counted in the summary,
so a directory of mixed manifests (a class next to its workloads) can be checked as is;
documents that look like one of ccc's kinds but are not (``kind: CustomComputeClass``, an
unknown ``ccc.dev`` kind) are problems, never skipped.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ccc.api import labels as L
from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.api.computeclass import ComputeClass
from ccc.api.manifest import (
    KINDS,
    STDIN,
    Document,
    InvalidManifest,
    KindSpec,
    ManifestError,
    Problem,
    classify,
    load_file,
    manifest_files,
    register_kind,
    skipped_summary,
)
from policies.warnings import validation_warnings

if TYPE_CHECKING:
    import typer


def _parse_serving_group(obj: Any) -> object:
    """The ServingGroup models are loaded only when a file has one (start-up: most files
    hold ComputeClasses only)."""
    from ccc.api.servinggroup.manifest import parse_serving_group

    return parse_serving_group(obj)


if "ServingGroup" not in KINDS:
    register_kind(KindSpec("ServingGroup", (L.API_VERSION,), _parse_serving_group))

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


@dataclass
class Report:
    """What one ``ccc validate`` run found."""

    lines: list[str] = field(default_factory=list)
    files: int = 0
    #: ``FILE: ComputeClass/NAME: warning: ...`` lines; they do not change the exit status.
    warnings: list[str] = field(default_factory=list)
    checked: Counter[str] = field(default_factory=Counter)
    invalid: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    broken_files: int = 0
    missing_paths: int = 0

    @property
    def classes(self) -> int:
        """Documents checked as one of ccc's kinds (ComputeClass, ...)."""
        return sum(self.checked.values())

    @property
    def exit_code(self) -> int:
        if self.missing_paths:
            return EXIT_USAGE
        if self.lines:
            return EXIT_INVALID
        if self.classes == 0:
            return EXIT_USAGE
        return EXIT_OK

    def summary(self) -> str:
        skipped = f", {skipped_summary(self.skipped)}" if self.skipped else ""
        if self.exit_code == EXIT_OK:
            warned = f", {_plural(len(self.warnings), 'warning')}" if self.warnings else ""
            return f"OK: {self._objects()} valid in {_plural(self.files, 'file')}{skipped}{warned}"
        if self.classes == 0 and not self.lines:
            return f"no ComputeClass found in {_plural(self.files, 'file')}{skipped}"
        parts = [f"{len(self.lines)} problem(s)"]
        if self.invalid:
            parts.append(f"{self.invalid} of {self._objects(plural_kind=True)} invalid")
        if self.broken_files:
            parts.append(f"{_plural(self.broken_files, 'file')} unreadable")
        if self.missing_paths:
            parts.append(f"{self.missing_paths} path(s) not found")
        return "FAILED: " + ", ".join(parts) + skipped

    def _objects(self, *, plural_kind: bool = False) -> str:
        if not self.checked:
            return "0 documents" if plural_kind else "no document"
        if plural_kind and len(self.checked) == 1:
            (kind, n), *_ = self.checked.items()
            return f"{n} {kind}(es)" if kind.endswith("s") else f"{n} {kind}(s)"
        if plural_kind:
            return _plural(self.classes, "document")
        return ", ".join(
            _plural(n, kind, kind + ("es" if kind.endswith("s") else "s"))
            for kind, n in self.checked.items()
        )


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def validate_paths(paths: list[Path]) -> Report:
    """Validate every ComputeClass in ``paths`` (files, directories, ``-`` for standard input);
    never raises for bad input."""
    report = Report()
    for path in paths:
        try:
            files = manifest_files(path)
        except ManifestError as exc:
            report.lines.append(f"{exc.location()}: {exc.message}")
            report.missing_paths += 1
            continue
        for file in files:
            report.files += 1
            try:
                documents = load_file(file)
            except ManifestError as exc:
                report.lines.append(f"{exc.location()}: {exc.message}")
                report.broken_files += 1
                continue
            for doc in documents:
                _validate_document(doc, report)
    return report


def _validate_document(doc: Document, report: Report) -> None:
    what = classify(doc)
    if what is None:
        report.skipped[doc.kind or "?"] += 1
        return
    label = f"{doc.kind}/{doc.name}" if doc.kind and doc.name else doc.describe()
    if isinstance(what, Problem):
        report.checked["near miss" if doc.kind else "document"] += 1
        report.invalid += 1
        report.lines.append(f"{doc.source}: {label}: {what}")
        return
    _check(what, doc, label, report)


def _check(spec: KindSpec, doc: Document, label: str, report: Report) -> None:
    report.checked[spec.kind] += 1
    try:
        parsed = spec.parse(doc.body)
    except InvalidManifest as exc:
        report.invalid += 1
        for problem in exc.problems:
            report.lines.append(f"{doc.source}: {label}: {problem}")
        return
    if isinstance(parsed, ComputeClass):
        for warning in validation_warnings(parsed, load_builtin_catalog()):
            report.warnings.append(f"{doc.source}: {label}: warning: {warning}")


VALIDATE_HELP = (
    "Check ComputeClass manifests (ccc.dev/v1alpha1 or cloud.google.com/v1) and ServingGroup"
    " manifests (ccc.dev/v1alpha1) offline.\n\n"
    "Prints one line per problem: FILE: KIND/NAME: field.path: what to fix. "
    "PATH - reads standard input. Other kinds (Deployments, Services, ...) are skipped and "
    "counted. Exit status 0: all valid; 1: problems found; 2: a path is missing or holds no "
    "ComputeClass or ServingGroup."
)


def run(paths: list[Path]) -> int:
    """Validate ``paths`` and print the report: one line per problem on stdout, the summary
    (on stderr unless everything is valid), then the warnings on stderr; the exit status.
    Both ``ccc validate`` paths run this (:mod:`ccc.cli.entry`: Typer is skipped for plain
    paths), so they print the same."""
    if any(str(p) == STDIN for p in paths) and sys.stdin.isatty():
        _echo("reading manifests from standard input (end with Ctrl-D)", err=True)
    report = validate_paths(paths)
    for line in report.lines:
        _echo(line)
    _echo(report.summary(), err=report.exit_code != EXIT_OK)
    for line in report.warnings:
        _echo(line, err=True)
    return report.exit_code


def _echo(line: str, *, err: bool = False) -> None:
    """``typer.echo`` for plain text, without importing Typer."""
    stream = sys.stderr if err else sys.stdout
    stream.write(line + "\n")
    stream.flush()


def register(app: typer.Typer) -> None:
    """Add ``ccc validate`` to ``app``."""
    import typer

    @app.command("validate", help=VALIDATE_HELP)
    def validate(
        paths: list[Path] = typer.Argument(
            ...,
            metavar="PATH",
            help="Manifest files or directories (searched recursively for *.yaml and *.yml);"
            " - for standard input.",
        ),
    ) -> None:
        """Check ComputeClass manifests offline (see VALIDATE_HELP)."""
        raise typer.Exit(run(paths))
