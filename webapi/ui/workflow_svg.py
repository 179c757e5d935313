"""A workflow as a small server-drawn SVG: each step a box coloured by its status, in
rows by depth (a step below every step it waits for), arrows from each parent. Top to
bottom, so a chain stays one box wide on a phone."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from shared.enums import JobStatus
from webapi.store.workflows import StepState

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 170, 58, 20, 44, 10
# (fill, stroke) per status: tints of the Okabe-Ito colours, dark text on each.
COLOURS = {
    JobStatus.SUCCEEDED: ("#d7f0e6", "#009E73"),
    JobStatus.FAILED: ("#fbe1d6", "#D55E00"),
    JobStatus.TIMED_OUT: ("#fbe1d6", "#D55E00"),
    JobStatus.CANCELLED: ("#ececec", "#6b6b6b"),
    JobStatus.IN_PROGRESS: ("#fdf0d3", "#B07400"),
    JobStatus.PENDING: ("#fdf0d3", "#B07400"),
    JobStatus.WAITING: ("#ffffff", "#6b6b6b"),
}
GREY = ("#ececec", "#6b6b6b")


def workflow_svg(steps: Sequence[StepState]) -> Markup:
    """The graph of ``steps`` (parents listed before their dependents, as stored)."""
    depth: dict[str, int] = {}
    for step in steps:
        depth[step.name] = 1 + max((depth.get(p, 0) for p in step.after), default=-1)
    rows: dict[int, list[str]] = {}
    for step in steps:
        rows.setdefault(depth[step.name], []).append(step.name)
    at = {
        name: (PAD + column * (BOX_W + GAP_X), PAD + d * (BOX_H + GAP_Y))
        for d, names in rows.items()
        for column, name in enumerate(names)
    }
    columns = max(len(names) for names in rows.values())
    width = 2 * PAD + columns * BOX_W + (columns - 1) * GAP_X
    height = 2 * PAD + len(rows) * BOX_H + (len(rows) - 1) * GAP_Y
    arrows = [_arrow(at[p], at[s.name], c) for s in steps for p, c in s.after.items() if p in at]
    boxes = [_box(step, *at[step.name]) for step in steps]
    label = "; ".join(f"{s.name}: {_status(s)}" for s in steps)
    # Every value drawn is a number or escaped text.
    return Markup(  # noqa: S704
        f'<svg class="workflow-graph" viewBox="0 0 {width} {height}" width="{width}" role="img" '
        f'aria-label="Workflow graph. {escape(label)}">'
        '<defs><marker id="wf-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="#444"/></marker></defs>{"".join(arrows)}{"".join(boxes)}</svg>'
    )


def _status(step: StepState) -> str:
    text = step.status.value.replace("_", " ").lower() if step.status else "deleted"
    if step.counts:
        done = sum(n for s, n in step.counts.items() if JobStatus(s).terminal)
        text += f", {done}/{sum(step.counts.values())} ended"
    return text


def _box(step: StepState, x: int, y: int) -> str:
    fill, stroke = COLOURS.get(step.status, GREY) if step.status else GREY
    dash = ' stroke-dasharray="5 3"' if step.status is JobStatus.WAITING else ""
    kind = f"job {step.job_id}" if step.job_id is not None else f"sweep, batch {step.batch_id}"
    return (
        f'<g class="wf-step" data-step="{escape(step.name)}" '
        f'data-status="{step.status.value if step.status else "deleted"}">'
        f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="{fill}" '
        f'stroke="{stroke}" stroke-width="2"{dash}/>'
        f'<text x="{x + 10}" y="{y + 20}" font-size="14" font-weight="600" fill="#1a1a1a">'
        f"{escape(step.name[:20])}</text>"
        f'<text x="{x + 10}" y="{y + 36}" font-size="11" fill="#333">{escape(kind)}</text>'
        f'<text x="{x + 10}" y="{y + 51}" font-size="11" fill="#1a1a1a">'
        f"{escape(_status(step))}</text></g>"
    )


def _arrow(start: tuple[int, int], end: tuple[int, int], condition: str) -> str:
    x1, y1 = start[0] + BOX_W // 2, start[1] + BOX_H
    x2, y2 = end[0] + BOX_W // 2, end[1] - 2
    line = (
        f'<path d="M{x1},{y1} C{x1},{y1 + GAP_Y // 2} {x2},{y2 - GAP_Y // 2} {x2},{y2}" '
        'fill="none" stroke="#444" stroke-width="1.5" marker-end="url(#wf-arrow)"/>'
    )
    if condition == "afterok":
        return line
    return (
        f'{line}<text x="{(x1 + x2) // 2 + 6}" y="{(y1 + y2) // 2 + 4}" font-size="11" '
        f'fill="#333">{escape(condition)}</text>'
    )
