"""Price rows, price quotes with their source, and prices derived from SKU components.

A price is a number with a pedigree. :class:`PriceQuote` carries the source id and, for a derived
price, the formula that produced it, so ``ccc catalog -o json`` can show exactly how a number was
reached. Two kinds of rows exist:

* :class:`Price`: the whole-node price of one machine type in one region (USD per node-hour), as
  a source gives it, or derived from SKU components (then its ``*_formula`` says how).
* :class:`AcceleratorPrice`: the price of one GPU attached to a VM (N1 + T4 and friends), which
  Google bills on top of the machine type.

:func:`derive` turns SKU components (quantity x unit price) into a total and a readable formula;
the catalog generator (``hack/catalog``) and the live Cloud Billing refresh both use it, so a
derived price always reads ``208 vCPU x 0.00586 + 1872 GiB x 0.000511 + 8 GPU x 2.253 = 20.199472``.

The built-in price rows live in a CSV next to the catalog YAML (:data:`CSV_COLUMNS`); they are
parsed on first use into plain tuples (:class:`PriceCells`), because 16,000 pydantic objects would
cost more start-up time than the whole CLI may take.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict

from ccc.api.errors import ConfigError


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Price(_Frozen):
    """List prices (USD per hour per node) of one machine type in one region.

    ``source`` names where ``on_demand`` comes from (and ``spot`` too, unless ``spot_source`` is
    set). A non-empty ``on_demand_formula`` / ``spot_formula`` marks that value as derived and
    shows the arithmetic. ``None`` means no source gives the price: never invented.
    """

    machine_type: str
    region: str
    on_demand: float | None = None
    spot: float | None = None
    source: str
    spot_source: str | None = None
    on_demand_formula: str = ""
    spot_formula: str = ""
    note: str = ""


class AcceleratorPrice(_Frozen):
    """Price of one attached GPU per hour (billed on top of an N1 machine type)."""

    accelerator_type: str
    region: str
    on_demand: float | None = None
    spot: float | None = None
    source: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class PriceQuote:
    """One hourly price with where it comes from. ``formula`` is empty for a copied price."""

    value: float
    source: str
    formula: str = ""

    @property
    def derived(self) -> bool:
        return bool(self.formula)


class Component(NamedTuple):
    """``quantity`` units of one SKU at ``unit_price`` USD each per hour (``8 GPU x 2.253``)."""

    quantity: float
    unit: str
    unit_price: float


def derive(components: Sequence[Component]) -> tuple[float, str]:
    """Total hourly price of ``components`` and the formula that shows it, rounded to 1e-6.

    >>> derive([Component(8, "GPU", 2.253), Component(208, "vCPU", 0.00586)])
    (19.24288, '8 GPU x 2.253 + 208 vCPU x 0.00586 = 19.24288')
    """
    total = round(sum(c.quantity * c.unit_price for c in components), 6)
    terms = " + ".join(f"{num(c.quantity)} {c.unit} x {num(c.unit_price)}" for c in components)
    return total, f"{terms} = {num(total)}"


def num(value: float) -> str:
    """A number as formulas show it: up to 10 significant digits, no trailing zeros."""
    return f"{value:.10g}"


class PriceCells(NamedTuple):
    """One price row as plain values (the fast in-memory form of :class:`Price`)."""

    on_demand: float | None
    spot: float | None
    source: str
    spot_source: str
    on_demand_formula: str
    spot_formula: str
    note: str

    def to_price(self, machine_type: str, region: str) -> Price:
        return Price(
            machine_type=machine_type,
            region=region,
            on_demand=self.on_demand,
            spot=self.spot,
            source=self.source,
            spot_source=self.spot_source or None,
            on_demand_formula=self.on_demand_formula,
            spot_formula=self.spot_formula,
            note=self.note,
        )

    @classmethod
    def of(cls, p: Price) -> PriceCells:
        return cls(
            p.on_demand,
            p.spot,
            p.source,
            p.spot_source or "",
            p.on_demand_formula,
            p.spot_formula,
            p.note,
        )


#: Columns of a price CSV, in order. Empty cells are ``None`` (prices) or ``""`` (text).
CSV_COLUMNS = (
    "machine_type",
    "region",
    "on_demand",
    "spot",
    "source",
    "spot_source",
    "on_demand_formula",
    "spot_formula",
    "note",
)


def parse_price_csv(text: str, *, origin: str) -> dict[tuple[str, str], PriceCells]:
    """Rows of a price CSV keyed by (machine type, region). Lines starting with ``#`` are notes.

    Raises:
        ConfigError: ``origin:LINE: ...`` for a wrong header, a bad number, an empty source or a
            duplicate (machine type, region).
    """
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    reader = csv.reader(io.StringIO("\n".join(lines)))
    header = next(reader, None)
    if header is None or tuple(header) != CSV_COLUMNS:
        raise ConfigError(f"{origin}: price CSV header must be {','.join(CSV_COLUMNS)}")
    out: dict[tuple[str, str], PriceCells] = {}
    for n, row in enumerate(reader, start=2):
        if len(row) != len(CSV_COLUMNS):
            raise ConfigError(f"{origin}:{n}: expected {len(CSV_COLUMNS)} columns, got {len(row)}")
        mt, region, od, spot, source, spot_source, od_f, spot_f, note = row
        try:
            cells = PriceCells(
                float(od) if od else None,
                float(spot) if spot else None,
                source,
                spot_source,
                od_f,
                spot_f,
                note,
            )
        except ValueError as exc:
            raise ConfigError(f"{origin}:{n}: {exc}; prices are decimal numbers") from exc
        if not source:
            raise ConfigError(f"{origin}:{n}: source is empty; every price names its source")
        if (mt, region) in out:
            raise ConfigError(f"{origin}:{n}: a second price row for {mt} in {region}")
        out[(mt, region)] = cells
    return out


class PriceTable:
    """A price CSV parsed lazily: one pass to index lines by machine type, then each machine
    type's rows parsed on first look-up (``ccc plan`` needs a handful of 10,000+ rows)."""

    def __init__(self, text: str, *, origin: str) -> None:
        self._text = text
        self.origin = origin
        self._lines: dict[str, list[str]] | None = None
        self._parsed: dict[str, dict[str, PriceCells]] = {}

    def _index(self) -> dict[str, list[str]]:
        if self._lines is None:
            lines: dict[str, list[str]] = {}
            body = [ln for ln in self._text.splitlines() if ln and not ln.startswith("#")]
            if not body or tuple(next(csv.reader([body[0]]))) != CSV_COLUMNS:
                raise ConfigError(
                    f"{self.origin}: price CSV header must be {','.join(CSV_COLUMNS)}"
                )
            for line in body[1:]:
                lines.setdefault(line.split(",", 1)[0], []).append(line)
            self._lines = lines
        return self._lines

    def rows_of(self, machine_type: str) -> dict[str, PriceCells]:
        """Region -> price cells of one machine type (empty if it has none)."""
        got = self._parsed.get(machine_type)
        if got is None:
            lines = self._index().get(machine_type, [])
            text = "\n".join((",".join(CSV_COLUMNS), *lines))
            got = {
                region: cells
                for (_mt, region), cells in parse_price_csv(text, origin=self.origin).items()
            }
            self._parsed[machine_type] = got
        return got

    def machine_types(self) -> list[str]:
        return list(self._index())

    def priced_regions(self) -> dict[str, set[str]]:
        """Machine type -> regions of its rows with an on-demand or a spot cell (cells are not
        parsed as numbers here: :meth:`rows_of` and :meth:`all` check them)."""
        priced: dict[str, set[str]] = {}
        for lines in self._index().values():
            for row in csv.reader(lines):
                if len(row) == len(CSV_COLUMNS) and (row[2] or row[3]):
                    priced.setdefault(row[0], set()).add(row[1])
        return priced

    def all(self) -> dict[tuple[str, str], PriceCells]:
        return parse_price_csv(self._text, origin=self.origin)


def format_price_csv(prices: Iterable[Price], *, header_notes: Sequence[str] = ()) -> str:
    """The CSV text of ``prices`` (the inverse of :func:`parse_price_csv`)."""
    buf = io.StringIO()
    for line in header_notes:
        buf.write(f"# {line}\n")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in prices:
        writer.writerow(
            [
                p.machine_type,
                p.region,
                "" if p.on_demand is None else repr(p.on_demand),
                "" if p.spot is None else repr(p.spot),
                p.source,
                p.spot_source or "",
                p.on_demand_formula,
                p.spot_formula,
                p.note,
            ]
        )
    return buf.getvalue()
