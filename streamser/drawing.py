"""Pictures of a graph: Graphviz DOT text, an SVG, or a PNG/PDF drawn with matplotlib.

The layout (columns by longest path from a source, edges that skip columns in lanes above
or below the boxes they pass) is computed here without matplotlib; only pixels (.png,
.pdf) need it, and it is imported then.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from .graph import Graph

#: Box width and height, in layout units (a column is 3 units wide, a row 1 high).
BOX_W, BOX_H = 2.2, 0.7
EDGE, LABEL, SOURCE_FILL, NODE_FILL = "#44546a", "#6b7a90", "#dff0d8", "#eef3fb"


def to_dot(graph: Graph) -> str:
    lines = [f'digraph "{graph.name}" {{', "  rankdir=LR;",
             '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", '
             'fontname="Helvetica"];']
    for name, spec in graph.nodes.items():
        fill = ' fillcolor="#dff0d8"' if spec.is_source else ""
        lines.append(f'  "{name}" [label="{name}\\n{spec.plugin}"{fill}];')
    for name, spec in graph.nodes.items():
        for producer in spec.inputs:
            kinds = "/".join(sorted(graph.nodes[producer].out_kinds))
            lines.append(f'  "{producer}" -> "{name}" [label="{kinds}", fontsize=10];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def layers(graph: Graph) -> dict[str, int]:
    """Column of each node: the longest path from a source."""
    depth: dict[str, int] = {}
    for name, spec in graph.nodes.items():  # topological order
        depth[name] = max((depth[p] + 1 for p in spec.inputs), default=0)
    return depth


@dataclass
class Box:
    name: str
    plugin: str
    x: float
    y: float
    source: bool


@dataclass
class Edge:
    """A polyline from producer to consumer (the arrow on its last segment) and the frame
    kinds it carries, written at ``label_at``."""

    points: list[tuple[float, float]]
    label: str
    label_at: tuple[float, float]


@dataclass
class Layout:
    title: str
    boxes: list[Box] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    xlim: tuple[float, float] = (0.0, 1.0)
    ylim: tuple[float, float] = (0.0, 1.0)
    size: tuple[float, float] = (1.0, 1.0)      # figure inches


def layout(graph: Graph) -> Layout:
    """Where each box and edge of ``graph`` goes."""
    depth = layers(graph)
    columns: dict[int, list[str]] = {}
    for name in graph.nodes:
        columns.setdefault(depth[name], []).append(name)
    rows = max(len(c) for c in columns.values())
    pos = {n: (col * 3.0, (len(names) - 1) / 2 - i) for col, names in columns.items()
           for i, n in enumerate(names)}
    out = Layout(graph.name, size=(2.2 + 2.6 * len(columns), 1.0 + 1.1 * rows))
    w, h = BOX_W, BOX_H
    lanes = {1: 0, -1: 0}
    reach = 0.0
    for name, spec in graph.nodes.items():
        x, y = pos[name]
        out.boxes.append(Box(name, spec.plugin, x, y, spec.is_source))
        for producer in spec.inputs:
            px, py = pos[producer]
            kinds = "/".join(sorted(graph.nodes[producer].out_kinds))
            if depth[name] - depth[producer] == 1:
                out.edges.append(Edge([(px + w / 2 + 0.05, py), (x - w / 2 - 0.05, y)], kinds,
                                      ((x + px) / 2, (y + py) / 2 + 0.12)))
                continue
            # An edge that skips columns runs in a lane above (or, every other one, below)
            # the boxes it passes instead of through them.
            side = 1 if sum(lanes.values()) % 2 == 0 else -1
            lanes[side] += 1
            passed = [pos[n][1] for c in range(depth[producer], depth[name] + 1)
                      for n in columns[c]]
            edge_y = max(passed) if side > 0 else min(passed)
            lane = edge_y + side * (h / 2 + 0.15 + 0.3 * lanes[side])
            reach = max(reach, abs(lane - y), abs(lane - py))
            x0, x1 = px + w / 4, x - w / 4
            out.edges.append(Edge([(x0, py + side * (h / 2 + 0.05)), (x0, lane), (x1, lane),
                                   (x1, y + side * (h / 2 + 0.05))], kinds,
                                  ((x0 + x1) / 2, lane + (0.05 if side > 0 else -0.2))))
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    out.xlim = (min(xs) - w, max(xs) + w)
    out.ylim = (min(ys) - 0.6 - reach, max(ys) + 0.6 + reach)
    return out


def to_svg(lay: Layout, scale: float = 60.0) -> str:
    """The layout as SVG text (no matplotlib): ``scale`` pixels per layout unit."""
    (x0, x1), (y0, y1) = lay.xlim, lay.ylim
    top = 0.5                                     # room for the title, layout units

    def px(x: float, y: float) -> str:
        return f"{(x - x0) * scale:.1f},{(y1 + top - y) * scale:.1f}"

    width, height = (x1 - x0) * scale, (y1 + top - y0) * scale
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
           f'height="{height:.0f}" font-family="Helvetica, Arial, sans-serif">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
           'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
           f'<path d="M 0 0 L 10 5 L 0 10 z" fill="{EDGE}"/></marker></defs>',
           f'<text x="{width / 2:.1f}" y="{0.35 * scale:.1f}" text-anchor="middle" '
           f'font-size="15">{escape(lay.title)}</text>']
    for e in lay.edges:
        out.append(f'<polyline points="{" ".join(px(x, y) for x, y in e.points)}" '
                   f'fill="none" stroke="{EDGE}" marker-end="url(#arrow)"/>')
        lx, ly = px(*e.label_at).split(",")
        out.append(f'<text x="{lx}" y="{ly}" text-anchor="middle" font-size="10" '
                   f'fill="{LABEL}">{escape(e.label)}</text>')
    for b in lay.boxes:
        left, upper = px(b.x - BOX_W / 2, b.y + BOX_H / 2).split(",")
        cx, cy = px(b.x, b.y).split(",")
        out.append(f'<rect x="{left}" y="{upper}" width="{BOX_W * scale:.1f}" '
                   f'height="{BOX_H * scale:.1f}" rx="6" '
                   f'fill="{SOURCE_FILL if b.source else NODE_FILL}" stroke="{EDGE}"/>')
        out.append(f'<text x="{cx}" y="{float(cy) - 4:.1f}" text-anchor="middle" '
                   f'font-size="14" font-weight="bold">{escape(b.name)}</text>')
        out.append(f'<text x="{cx}" y="{float(cy) + 14:.1f}" text-anchor="middle" '
                   f'font-size="11" fill="{EDGE}">{escape(b.plugin)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def draw(graph: Graph, out: str | Path) -> None:
    """Write ``out``: .dot and .svg as text, anything else (png, pdf) with matplotlib."""
    out = Path(out)
    if out.suffix == ".dot":
        out.write_text(to_dot(graph))
        return
    lay = layout(graph)
    if out.suffix == ".svg":
        out.write_text(to_svg(lay))
        return
    _pixels(lay, out)


def _pixels(lay: Layout, out: Path) -> None:
    """The layout drawn by matplotlib (imported here: only pixels need it)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import FancyBboxPatch
    except ImportError:
        raise RuntimeError("drawing a picture needs matplotlib: pip install "
                           "'streamser[plot]' (or write .svg or .dot)") from None
    fig = Figure(figsize=lay.size)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    edge = {"color": EDGE, "lw": 1.0}
    for b in lay.boxes:
        ax.add_patch(FancyBboxPatch((b.x - BOX_W / 2, b.y - BOX_H / 2), BOX_W, BOX_H,
                                    boxstyle="round,pad=0.05",
                                    fc=SOURCE_FILL if b.source else NODE_FILL, ec=EDGE))
        ax.text(b.x, b.y + 0.1, b.name, ha="center", va="center", fontsize=10,
                weight="bold")
        ax.text(b.x, b.y - 0.17, b.plugin, ha="center", va="center", fontsize=8, color=EDGE)
    for e in lay.edges:
        if len(e.points) > 2:
            ax.plot(*zip(*e.points[:-1]), **edge)
        ax.annotate("", xy=e.points[-1], xytext=e.points[-2],
                    arrowprops={"arrowstyle": "-|>", **edge})
        ax.text(*e.label_at, e.label, ha="center", fontsize=7, color=LABEL)
    ax.set_xlim(*lay.xlim)
    ax.set_ylim(*lay.ylim)
    ax.set_title(lay.title, fontsize=11)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
