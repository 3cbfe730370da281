"""Inline SVG charts for the HTML report, drawn here so the page needs no script library and opens offline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final
from xml.sax.saxutils import escape

from aisweep.report.stats import TIER_ORDER, ProductStats, Rate

TIER_COLOURS: Final = {
    "open-admin": "#991b1b",
    "open-read": "#ef4444",
    "first-visitor-admin": "#7e22ce",
    "open-signup": "#c084fc",
    "open-metadata": "#94a3b8",
    "auth-required": "#16a34a",
    "unknown": "#d4d4d8",
}
TIER_LABELS: Final = {
    "open-admin": "no auth: admin/code API",
    "open-read": "no auth: data readable",
    "first-visitor-admin": "first visitor becomes admin",
    "open-signup": "open sign-up",
    "open-metadata": "metadata only",
    "auth-required": "authentication required",
    "unknown": "undetermined",
}
SEVERITY_COLOURS: Final = {
    "critical": "#7f1d1d",
    "high": "#dc2626",
    "medium": "#d97706",
    "low": "#2563eb",
    "info": "#94a3b8",
}
_FONT: Final = "font-family=\"system-ui,-apple-system,'Segoe UI',Roboto,sans-serif\""


def _a(text: object) -> str:
    return escape(str(text), {'"': "&quot;"})


def _svg(width: int, height: int, title: str, body: list[str], css_class: str) -> str:
    # max-width keeps the text at its drawn size on wide screens; narrow screens scale the whole chart down.
    return (
        f'<svg class="chart {css_class}" viewBox="0 0 {width} {height}" style="max-width:{width}px" role="img" '
        f'aria-label="{_a(title)}" xmlns="http://www.w3.org/2000/svg" {_FONT} font-size="13">'
        f"<title>{_a(title)}</title>" + "".join(body) + "</svg>"
    )


def short_label(text: str, limit: int = 26) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _label_width(labels: Sequence[str], limit: int = 26) -> int:
    """Room for the longest (shortened) label at 13px (about 7.4px a character)."""
    longest = max((len(short_label(s, limit)) for s in labels), default=4)
    return int(14 + 7.4 * longest)


def _legend(items: Sequence[tuple[str, str]], x0: int, y: int, width: int) -> tuple[list[str], int]:
    """Legend swatches laid out left to right, wrapping; returns the elements and the height used."""
    out: list[str] = []
    x, row = x0, 0
    for label, colour in items:
        w = 18 + 7 * len(label) + 18
        if x + w > width and x > x0:
            x, row = x0, row + 1
        yy = y + row * 20
        out.append(f'<rect x="{x}" y="{yy}" width="12" height="12" rx="2" fill="{colour}"/>')
        out.append(f'<text x="{x + 17}" y="{yy + 10.5}" fill="#334155">{_a(label)}</text>')
        x += w
    return out, (row + 1) * 20


def auth_tiers_chart(products: Sequence[ProductStats], width: int = 1100, stacked: bool = False) -> str:
    """One 100% bar per product: the share of its services in each authentication tier, n at the end.
    `stacked` puts each label above its bar (for phone-width screens)."""
    rows = [p for p in products if p.confirmed]
    present = [t for t in TIER_ORDER if any(p.tiers.get(t) for p in rows)]
    label_w = 0 if stacked else _label_width([p.name for p in rows], 32)
    right_w = 50
    bar_w = width - label_w - right_w
    legend, legend_h = _legend([(TIER_LABELS[t], TIER_COLOURS[t]) for t in present], label_w, 6, width)
    top = legend_h + 16
    row_h, bar_y = (42, 18) if stacked else (26, 2)
    body = list(legend)
    for i, p in enumerate(rows):
        y = top + i * row_h
        if stacked:
            body.append(f'<text x="0" y="{y + 12}" fill="#0f172a">{_a(short_label(p.name, 44))}</text>')
        else:
            body.append(
                f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" fill="#0f172a">'
                f"{_a(short_label(p.name, 32))}<title>{_a(p.name)}</title></text>"
            )
        x = float(label_w)
        for t in present:
            k = p.tiers.get(t, 0)
            if not k:
                continue
            w = bar_w * k / p.confirmed
            pct = 100 * k / p.confirmed
            body.append(
                f'<rect x="{x:.2f}" y="{y + bar_y}" width="{w:.2f}" height="18" fill="{TIER_COLOURS[t]}">'
                f"<title>{_a(p.name)}: {_a(TIER_LABELS[t])} {k} of {p.confirmed} ({pct:.0f}%)</title></rect>"
            )
            if w >= 34:
                colour = "#0f172a" if t in ("open-metadata", "unknown", "open-signup") else "#ffffff"
                body.append(
                    f'<text x="{x + w / 2:.2f}" y="{y + bar_y + 13}" text-anchor="middle" fill="{colour}" '
                    f'font-size="11">{pct:.0f}%</text>'
                )
            x += w
        body.append(f'<text x="{width - right_w + 6}" y="{y + bar_y + 13}" fill="#475569">n={p.confirmed}</text>')
    height = top + len(rows) * row_h + 6
    kind = "tiers narrow" if stacked else "tiers"
    return _svg(width, height, "Authentication state per product (share of confirmed services)", body, kind)


def rate_chart(
    rows: Sequence[tuple[str, Rate]],
    title: str,
    colour: str = "#dc2626",
    width: int = 760,
    stacked: bool = False,
) -> str:
    """A dot per row at its share, with its Wilson 95% interval as a bar and k/n at the end.
    `stacked` puts each label above its line (for phone-width screens)."""
    label_w = 8 if stacked else _label_width([label for label, _ in rows], 24)
    right_w = 64
    plot_w = width - label_w - right_w
    top = 28
    row_h, dot_y = (40, 28) if stacked else (24, 12)
    body: list[str] = []
    for tick in range(0, 101, 25):
        x = label_w + plot_w * tick / 100
        body.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{top + len(rows) * row_h}" stroke="#e2e8f0"/>')
        body.append(
            f'<text x="{x:.1f}" y="{top - 10}" text-anchor="middle" fill="#64748b" font-size="11">{tick}%</text>'
        )
    for i, (label, r) in enumerate(rows):
        y = top + i * row_h + dot_y
        if stacked:
            body.append(f'<text x="0" y="{y - 12}" fill="#0f172a">{_a(short_label(label, 44))}</text>')
        else:
            body.append(
                f'<text x="{label_w - 8}" y="{y + 4.5}" text-anchor="end" fill="#0f172a">'
                f"{_a(short_label(label, 24))}<title>{_a(label)}</title></text>"
            )
        if r.share is None or r.low is None or r.high is None:
            body.append(f'<text x="{label_w + 4}" y="{y + 4.5}" fill="#94a3b8">not measured</text>')
            continue
        x0, x1 = label_w + plot_w * r.low, label_w + plot_w * r.high
        xs = label_w + plot_w * r.share
        tip = f"{label}: {r.k} of {r.n} ({100 * r.share:.0f}%), 95% CI {100 * r.low:.0f}–{100 * r.high:.0f}%"
        body.append(
            f'<g><title>{_a(tip)}</title><line x1="{x0:.1f}" y1="{y:.1f}" x2="{x1:.1f}" y2="{y:.1f}" '
            f'stroke="{colour}" stroke-opacity="0.35" stroke-width="8" stroke-linecap="round"/>'
            f'<circle cx="{xs:.1f}" cy="{y:.1f}" r="5.5" fill="{colour}" stroke="#fff" stroke-width="1.5"/></g>'
        )
        body.append(f'<text x="{width - right_w + 8}" y="{y + 4.5}" fill="#475569">{r.k}/{r.n}</text>')
    height = top + len(rows) * row_h + 8
    return _svg(width, height, title, body, "rates narrow" if stacked else "rates")


def severity_chart(severities: Mapping[str, int], width: int = 360) -> str:
    """Findings per severity as horizontal bars."""
    order = [s for s in SEVERITY_COLOURS if severities.get(s)]
    label_w, right_w, row_h, top = 70, 46, 26, 6
    peak = max((severities[s] for s in order), default=1)
    plot_w = width - label_w - right_w
    body: list[str] = []
    for i, s in enumerate(order):
        y = top + i * row_h
        w = max(2.0, plot_w * severities[s] / peak)
        body.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" fill="#0f172a">{s}</text>')
        body.append(
            f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row_h - 8}" rx="2" fill="{SEVERITY_COLOURS[s]}">'
            f"<title>{s}: {severities[s]} findings</title></rect>"
        )
        body.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 15}" fill="#475569">{severities[s]}</text>')
    if not order:
        body.append(f'<text x="{label_w}" y="20" fill="#64748b">no findings</text>')
    height = top + max(1, len(order)) * row_h + 4
    return _svg(width, height, "Findings by severity", body, "severity")


def population_chart(products: Sequence[ProductStats], width: int = 430) -> str:
    """Confirmed services (solid) against candidates (pale: + low confidence + unidentified answers on the
    product's default ports), on one scale."""
    rows = [p for p in products if p.candidates]
    label_w, right_w, row_h = _label_width([p.name for p in rows], 20), 58, 22
    peak = max((p.candidates for p in rows), default=1)
    plot_w = width - label_w - right_w
    legend, top = _legend([("confirmed", "#0f766e"), ("candidates", "#99f6e4")], label_w, 4, width)
    top += 8
    body = list(legend)
    for i, p in enumerate(rows):
        y = top + i * row_h
        wc, wk = plot_w * p.candidates / peak, plot_w * p.confirmed / peak
        body.append(
            f'<text x="{label_w - 8}" y="{y + 13}" text-anchor="end" fill="#0f172a">{_a(short_label(p.name, 20))}'
            f"<title>{_a(p.name)}</title></text>"
        )
        body.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{wc:.1f}" height="14" rx="2" fill="#99f6e4">'
            f"<title>{_a(p.name)}: {p.candidates} candidates</title></rect>"
        )
        body.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{wk:.1f}" height="14" rx="2" fill="#0f766e">'
            f"<title>{_a(p.name)}: {p.confirmed} confirmed</title></rect>"
        )
        body.append(
            f'<text x="{label_w + wc + 6:.1f}" y="{y + 14}" fill="#475569" font-size="12">'
            f"{p.confirmed}" + (f" / {p.candidates}" if p.candidates != p.confirmed else "") + "</text>"
        )
    height = top + max(1, len(rows)) * row_h + 4
    return _svg(width, height, "Confirmed services and candidates per product", body, "population")
