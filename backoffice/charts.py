"""Small per-day charts for the admin dashboard, drawn as inline SVG on the server.

No JavaScript and no chart library: this module only computes geometry (in the SVG's own
coordinate space, scaled by the browser through ``viewBox``) and the text alternatives;
``templates/admin/dashboard/chart.html`` draws it, so every label passes through Django's
autoescaping. Amounts stay ``Decimal`` for the labels; floats are used for pixel positions
only.

The previous period, when given, is drawn over the same x positions (its day i above the
current period's day i: both periods have the same length) on the same y scale, as a dashed
line, and described in the chart's text alternative.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

WIDTH = 240
HEIGHT = 112
PLOT_LEFT = 32
PLOT_RIGHT = WIDTH - 4
PLOT_TOP = 7
PLOT_BOTTOM = HEIGHT - 18

Number = int | Decimal


@dataclass(frozen=True)
class Mark:
    """One day: a bar (``x``, ``y``, ``width``, ``height``) or a line point (``cx``, ``cy``)."""

    x: float
    y: float
    width: float
    height: float
    cx: float
    cy: float
    label: str  # "May 3: 1,204" — the tooltip and the accessible name of the mark


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str
    anchor: str = "middle"


@dataclass(frozen=True)
class Previous:
    """The previous period's series: a polyline over the current period's day slots."""

    points: str
    marks: tuple[Mark, ...]  # points only (cx, cy), each with its own day in the label
    date_from: dt.date
    date_to: dt.date

    @property
    def legend(self) -> str:
        return f"{day_label(self.date_from)} – {day_label(self.date_to)}"


@dataclass(frozen=True)
class Chart:
    id: str
    kind: str  # "bar" or "line"
    title: str
    desc: str
    marks: tuple[Mark, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    baseline: float
    points: str  # polyline of a line chart
    area: str  # polygon under a line chart, down to the zero line
    previous: Previous | None = None
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = PLOT_LEFT
    plot_right: int = PLOT_RIGHT
    plot_top: int = PLOT_TOP
    plot_bottom: int = PLOT_BOTTOM

    @property
    def title_id(self) -> str:
        return f"{self.id}-title"

    @property
    def desc_id(self) -> str:
        return f"{self.id}-desc"


def _nice(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10ⁿ at or above ``value`` (> 0)."""
    step = 10 ** math.floor(math.log10(value))
    for multiple in (1, 2, 2.5, 5, 10):
        if multiple * step >= value:
            return multiple * step
    return 10 * step  # pragma: no cover - the loop always returns


def compact(value: float) -> str:
    """Axis labels: 0, 250, 2.5k, 1.2M."""
    magnitude = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def day_label(day: dt.date) -> str:
    return f"{day:%b} {day.day}"


def chart(
    *,
    chart_id: str,
    kind: str,
    title: str,
    days: Sequence[dt.date],
    values: Sequence[Number],
    fmt: Callable[[Number], str],
    timezone: str,
    previous_days: Sequence[dt.date] = (),
    previous_values: Sequence[Number] = (),
) -> Chart:
    if kind not in ("bar", "line"):
        raise ValueError(f"Unknown chart kind {kind!r}.")
    if len(days) != len(values) or not days:
        raise ValueError("A chart needs one value per day, and at least one day.")
    if len(previous_days) != len(previous_values) or len(previous_days) not in (0, len(days)):
        raise ValueError("The previous period needs one value per day, as many days as this one.")
    floats = [float(value) for value in values]
    # One y scale for both periods, so the two lines compare by height.
    top = max(0.0, *floats, *(float(value) for value in previous_values))
    bottom = min(0.0, *floats, *(float(value) for value in previous_values))
    top = _nice(top) if top > 0 else (0.0 if bottom < 0 else 1.0)
    bottom = -_nice(-bottom) if bottom < 0 else 0.0
    span = top - bottom
    plot_height = PLOT_BOTTOM - PLOT_TOP

    def y_of(value: float) -> float:
        return round(PLOT_TOP + (top - value) / span * plot_height, 2)

    zero = y_of(0.0)
    slot = (PLOT_RIGHT - PLOT_LEFT) / len(days)
    marks = []
    for index, (day, value, number) in enumerate(zip(days, floats, values, strict=True)):
        y = y_of(value)
        left = PLOT_LEFT + index * slot
        marks.append(
            Mark(
                x=round(left + slot * 0.15, 2),
                y=min(y, zero),
                width=round(slot * 0.7, 2),
                height=round(abs(zero - y), 2),
                cx=round(left + slot / 2, 2),
                cy=y,
                label=f"{day_label(day)}: {fmt(number)}",
            )
        )
    points = " ".join(f"{mark.cx},{mark.cy}" for mark in marks)
    area = f"{marks[0].cx},{zero} {points} {marks[-1].cx},{zero}"

    integral = all(isinstance(value, int) for value in values)
    middle = [] if integral and top % 2 else [top / 2]  # no "2.5 clicks" gridline
    y_values = [top, 0.0, *([bottom] if bottom < 0 else middle)]
    y_ticks = tuple(Tick(y_of(value), compact(value), "end") for value in sorted(set(y_values)))
    last = len(days) - 1
    x_ticks = (
        Tick(marks[0].cx, day_label(days[0]), "start"),
        *((Tick(marks[last // 2].cx, day_label(days[last // 2])),) if last >= 2 else ()),
        *((Tick(marks[last].cx, day_label(days[last]), "end"),) if last else ()),
    )

    total = sum(values, Decimal(0) if isinstance(values[0], Decimal) else 0)
    peak_index = max(range(len(values)), key=lambda i: (values[i], -i))
    desc = (
        f"{title} per day, {days[0].isoformat()} to {days[-1].isoformat()} ({timezone}). "
        f"Total {fmt(total)}. Highest {fmt(values[peak_index])} on "
        f"{days[peak_index].isoformat()}."
    )
    overlay = None
    if previous_days:
        before = [
            Mark(
                x=mark.x,
                y=y_of(float(value)),
                width=mark.width,
                height=0,
                cx=mark.cx,
                cy=y_of(float(value)),
                label=f"{day_label(day)} (previous period): {fmt(value)}",
            )
            for mark, day, value in zip(marks, previous_days, previous_values, strict=True)
        ]
        if len(before) == 1:  # one point draws no line: a dash across the day's slot
            only = before[0]
            line = f"{only.x},{only.cy} {round(only.x + only.width, 2)},{only.cy}"
        else:
            line = " ".join(f"{mark.cx},{mark.cy}" for mark in before)
        overlay = Previous(
            points=line, marks=tuple(before), date_from=previous_days[0], date_to=previous_days[-1]
        )
        earlier = sum(previous_values, Decimal(0) if isinstance(previous_values[0], Decimal) else 0)
        top_index = max(range(len(previous_values)), key=lambda i: (previous_values[i], -i))
        desc += (
            f" Previous period, {previous_days[0].isoformat()} to "
            f"{previous_days[-1].isoformat()} (dashed line): total {fmt(earlier)}, highest "
            f"{fmt(previous_values[top_index])} on {previous_days[top_index].isoformat()}."
        )
    return Chart(
        id=chart_id,
        kind=kind,
        title=title,
        desc=desc,
        marks=tuple(marks),
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        baseline=zero,
        points=points,
        area=area,
        previous=overlay,
    )
