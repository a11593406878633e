"""Small inline SVG line charts (pure): no script, no external reference, colours from CSS
classes so the page's light, dark and print styles apply to them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Final

WIDTH: Final = 640
HEIGHT: Final = 200
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 48, 12, 12, 28


def _nice_max(values: Sequence[float]) -> float:
    top = max(values, default=0.0)
    if top <= 0:
        return 1.0
    step = 10 ** len(str(int(top))) / 10
    return float(-(-top * 1.1 // step) * step)


def _fmt(x: float) -> str:
    return f"{x:.0f}" if x >= 10 or x == int(x) else f"{x:.2g}"


class _Frame:
    def __init__(self, n: int, y_max: float) -> None:
        self.n, self.y_max = n, y_max
        self.w, self.h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM

    def x(self, i: int) -> float:
        return PAD_LEFT + (self.w * i / (self.n - 1) if self.n > 1 else self.w / 2)

    def y(self, v: float) -> float:
        return PAD_TOP + self.h * (1 - min(v, self.y_max) / self.y_max)


def _axes(f: _Frame, labels: Sequence[str], unit: str) -> list[str]:
    parts = []
    for frac in (0.0, 0.5, 1.0):
        v = f.y_max * frac
        y = f"{f.y(v):.1f}"
        tick = f"{_fmt(v)}{unit}"
        parts.append(f'<line class="grid" x1="{PAD_LEFT}" y1="{y}" x2="{WIDTH - PAD_RIGHT}" '
                     f'y2="{y}"/><text class="tick" x="{PAD_LEFT - 4}" y="{y}" '
                     f'text-anchor="end" dominant-baseline="middle">{tick}</text>')  # fmt: skip
    for i in sorted({0, (len(labels) - 1) // 2, len(labels) - 1}):
        anchor = "start" if i == 0 else "end" if i == len(labels) - 1 else "middle"
        parts.append(f'<text class="tick" x="{f.x(i):.1f}" y="{HEIGHT - 8}" '
                     f'text-anchor="{anchor}">{escape(labels[i])}</text>')  # fmt: skip
    return parts


def _series(f: _Frame, k: int, name: str, values: Sequence[float | None],
            labels: Sequence[str], unit: str) -> list[str]:  # fmt: skip
    runs: list[list[str]] = [[]]
    dots = []
    for i, v in enumerate(values):
        if v is None:
            runs.append([])
            continue
        x, y = f"{f.x(i):.1f}", f"{f.y(v):.1f}"
        runs[-1].append(f"{x},{y}")
        tip = f"{escape(name)} {escape(labels[i])}: {_fmt(v)}{unit}"
        dots.append(f'<circle class="s{k}" cx="{x}" cy="{y}" r="2.5"><title>{tip}</title></circle>')
    lines = [f'<polyline class="s{k}" points="{" ".join(r)}"/>' for r in runs if len(r) > 1]
    return lines + dots


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    y_max: float | None = None,
    unit: str = "",
) -> str:
    """An SVG line chart of ``series`` (name → one value per label; None is a gap)."""
    present = [v for vs in series.values() for v in vs if v is not None]
    f = _Frame(len(labels), y_max or _nice_max(present))
    body = _axes(f, labels, unit) if labels else []
    for k, (name, values) in enumerate(series.items()):
        body += _series(f, k, name, values, labels, unit)
    if not present:
        body.append(f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" '
                    'text-anchor="middle">no data</text>')  # fmt: skip
    legend = "".join(f'<tspan class="s{k}">■ {escape(name)}</tspan> '
                     for k, name in enumerate(series))  # fmt: skip
    return (f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
            f'<text class="legend" x="{WIDTH - PAD_RIGHT}" y="{PAD_TOP}" text-anchor="end">'
            f"{legend.strip()}</text>{''.join(body)}</svg>")  # fmt: skip
