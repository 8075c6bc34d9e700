"""``ccc validate FILE|DIR ...``: check ComputeClass and ServingGroup manifests without a cluster.

Output is one line per problem, ``FILE: ComputeClass/NAME: field.path: what is wrong and how
to fix it`` (``ServingGroup/NAME`` likewise), then a one-line summary, then (on stderr) one
line per warning about a valid class, ``FILE: ComputeClass/NAME: warning: field.path: ...``
(fields accepted but not acted on, zones outside the class's region, ``nodePoolAutoCreation``
off, ``AnyBestEffort`` fall-through). Exit status: 0 all valid, 1 problems found, 2 a path does
not exist or nothing to validate. Documents of other kinds are skipped and counted in the
summary, so a directory of mixed manifests (a class next to its workloads) can be checked as
is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import typer

from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.api.manifest import (
    Document,
    InvalidComputeClass,
    InvalidManifest,
    ManifestError,
    load_file,
    manifest_files,
    parse_compute_class,
)
from ccc.api.servinggroup.manifest import InvalidServingGroup, parse_serving_group
from policies.warnings import validation_warnings

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


@dataclass
class Report:
    """What one ``ccc validate`` run found."""

    lines: list[str] = field(default_factory=list)
    #: ``FILE: ComputeClass/NAME: warning: ...`` lines; they do not change the exit status.
    warnings: list[str] = field(default_factory=list)
    files: int = 0
    classes: int = 0
    invalid_classes: int = 0
    serving_groups: int = 0
    invalid_serving_groups: int = 0
    skipped: int = 0
    broken_files: int = 0
    missing_paths: int = 0

    @property
    def exit_code(self) -> int:
        if self.missing_paths:
            return EXIT_USAGE
        if self.lines:
            return EXIT_INVALID
        if self.classes == 0 and self.serving_groups == 0:
            return EXIT_USAGE
        return EXIT_OK

    def summary(self) -> str:
        skipped = f", {self.skipped} other document(s) skipped" if self.skipped else ""
        if self.exit_code == EXIT_OK:
            classes = _plural(self.classes, "ComputeClass", "ComputeClasses")
            if self.serving_groups:
                groups = _plural(self.serving_groups, "ServingGroup")
                classes = f"{classes}, {groups}" if self.classes else groups
            warned = f", {_plural(len(self.warnings), 'warning')}" if self.warnings else ""
            return f"OK: {classes} valid in {_plural(self.files, 'file')}{skipped}{warned}"
        if self.classes == 0 and self.serving_groups == 0 and not self.lines:
            return f"no ComputeClass found in {_plural(self.files, 'file')}{skipped}"
        parts = [f"{len(self.lines)} problem(s)"]
        if self.invalid_classes:
            parts.append(f"{self.invalid_classes} of {self.classes} ComputeClass(es) invalid")
        if self.invalid_serving_groups:
            parts.append(
                f"{self.invalid_serving_groups} of {self.serving_groups} ServingGroup(s) invalid"
            )
        if self.broken_files:
            parts.append(f"{_plural(self.broken_files, 'file')} unreadable")
        if self.missing_paths:
            parts.append(f"{self.missing_paths} path(s) not found")
        return "FAILED: " + ", ".join(parts) + skipped


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def validate_paths(paths: list[Path]) -> Report:
    """Validate every ComputeClass in ``paths`` (files or directories); never raises."""
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
    if doc.is_serving_group:
        report.serving_groups += 1
        try:
            parse_serving_group(doc.body)
        except InvalidServingGroup as exc:
            report.invalid_serving_groups += 1
            _report_problems(doc, exc, report)
        return
    if not doc.is_compute_class and doc.kind is not None:
        report.skipped += 1
        return
    report.classes += 1
    try:
        cc = parse_compute_class(doc.body)
    except InvalidComputeClass as exc:
        report.invalid_classes += 1
        _report_problems(doc, exc, report)
        return
    for warning in validation_warnings(cc, load_builtin_catalog()):
        report.warnings.append(f"{doc.source}: {_label(doc, 'ComputeClass')}: warning: {warning}")


def _label(doc: Document, kind: str) -> str:
    return f"{kind}/{doc.name}" if doc.name else f"document {doc.index + 1} (line {doc.line})"


def _report_problems(doc: Document, exc: InvalidManifest, report: Report) -> None:
    label = _label(doc, exc.KIND)
    for problem in exc.problems:
        where = f"{problem.path}: " if problem.path else ""
        report.lines.append(f"{doc.source}: {label}: {where}{problem.message}")


VALIDATE_HELP = (
    "Check ComputeClass manifests (ccc.dev/v1alpha1 or cloud.google.com/v1) and ServingGroup"
    " manifests (ccc.dev/v1alpha1) offline.\n\n"
    "Prints one line per problem: FILE: KIND/NAME: field.path: what to fix. Exit status 0: all"
    " valid; 1: problems found; 2: a path is missing or holds no ComputeClass or ServingGroup."
)


def register(app: typer.Typer) -> None:
    """Add ``ccc validate`` to ``app``."""

    @app.command("validate", help=VALIDATE_HELP)
    def validate(
        paths: list[Path] = typer.Argument(
            ...,
            metavar="PATH",
            help="Manifest files or directories (searched recursively for *.yaml and *.yml).",
        ),
    ) -> None:
        """Check ComputeClass manifests offline (see VALIDATE_HELP)."""
        report = validate_paths(paths)
        for line in report.lines:
            typer.echo(line)
        typer.echo(report.summary(), err=report.exit_code != EXIT_OK)
        # Warnings never change the verdict; they follow it, on stderr.
        for line in report.warnings:
            typer.echo(line, err=True)
        raise typer.Exit(report.exit_code)
