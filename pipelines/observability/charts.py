"""Small charts drawn with Pillow (already a Beam dependency): the report needs no plotting library.

Two kinds: line charts of ratios over event time, and an alert timeline (one row per account, firing spans).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from PIL import Image, ImageDraw, ImageFont

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")
BACKGROUND, INK, GRID = "#ffffff", "#222222", "#e5e5e5"
FONT = ImageFont.load_default()


@dataclass
class Frame:
    """Where a chart sits on the canvas, and its plotting area inside margins."""

    left: int
    top: int
    width: int
    height: int
    margin_left: int = 60
    margin_right: int = 190
    margin_top: int = 30
    margin_bottom: int = 30

    @property
    def plot(self) -> tuple[int, int, int, int]:
        return (
            self.left + self.margin_left,
            self.top + self.margin_top,
            self.left + self.width - self.margin_right,
            self.top + self.height - self.margin_bottom,
        )


def _day(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%m-%d %H:%M")


def _time_axis(draw: ImageDraw.ImageDraw, frame: Frame, start: float, end: float, ticks: int = 5) -> None:
    x0, _, x1, y1 = frame.plot
    for i in range(ticks + 1):
        t = start + (end - start) * i / ticks
        x = x0 + (x1 - x0) * i / ticks
        draw.line([(x, y1), (x, y1 + 4)], fill=INK)
        draw.text((x - 28, y1 + 6), _day(t), fill=INK, font=FONT)


def _axes(draw: ImageDraw.ImageDraw, frame: Frame, title: str, span: tuple[float, float]) -> None:
    """Title, plot border and the event-time axis every chart shares."""
    x0, y0, x1, y1 = frame.plot
    draw.text((frame.left + 10, frame.top + 8), title, fill=INK, font=FONT)
    draw.rectangle([x0, y0, x1, y1], outline=INK)
    _time_axis(draw, frame, *span)


def line_chart(
    draw: ImageDraw.ImageDraw,
    frame: Frame,
    title: str,
    series: dict[str, list[tuple[float, float]]],
    span: tuple[float, float],
) -> None:
    """Ratios (0..1) over event time, one line per series, legend on the right."""
    x0, y0, x1, y1 = frame.plot
    for i in range(5):
        y = y1 - (y1 - y0) * i / 4
        draw.line([(x0, y), (x1, y)], fill=GRID)
        draw.text((x0 - 36, y - 6), f"{25 * i}%", fill=INK, font=FONT)
    _axes(draw, frame, title, span)
    start, end = span
    width = max(end - start, 1)
    for n, (name, points) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        xy = [(x0 + (x1 - x0) * (t - start) / width, y1 - (y1 - y0) * max(0.0, min(1.0, v))) for t, v in points]
        if len(xy) > 1:
            draw.line(xy, fill=colour, width=2)
        for x, y in xy if len(xy) < 40 else ():
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        draw.line([(x1 + 12, y0 + 12 + 16 * n), (x1 + 30, y0 + 12 + 16 * n)], fill=colour, width=3)
        draw.text((x1 + 36, y0 + 6 + 16 * n), name, fill=INK, font=FONT)


def timeline(
    draw: ImageDraw.ImageDraw,
    frame: Frame,
    title: str,
    rows: dict[str, list[tuple[float, float]]],
    span: tuple[float, float],
) -> None:
    """One row per account; a red span from each firing to its resolution (or the end of the data)."""
    x0, y0, x1, y1 = frame.plot
    _axes(draw, frame, title, span)
    start, end = span
    width = max(end - start, 1)
    if not rows:
        draw.text((x0 + 10, y0 + 10), "no alert in this run", fill=INK, font=FONT)
        return
    step = (y1 - y0) / len(rows)
    for i, (account, spans) in enumerate(rows.items()):
        y = y0 + step * i
        draw.text((frame.left + 4, y + step / 2 - 6), account[:9], fill=INK, font=FONT)
        if i:
            draw.line([(x0, y), (x1, y)], fill=GRID)
        for a, b in spans:
            xa = x0 + (x1 - x0) * (a - start) / width
            xb = max(xa + 2, x0 + (x1 - x0) * (b - start) / width)
            draw.rectangle([xa, y + step * 0.2, xb, y + step * 0.8], fill=PALETTE[1])


def canvas(width: int, height: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (width, height), BACKGROUND)
    return image, ImageDraw.Draw(image)
