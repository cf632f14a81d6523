"""Pictures of a graph: Graphviz DOT text, or a PNG/SVG drawn with matplotlib."""
from __future__ import annotations

from pathlib import Path

from .graph import Graph


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


def draw(graph: Graph, out: str | Path) -> None:
    """Write ``out``: .dot as text, anything else (png, svg, pdf) through matplotlib."""
    out = Path(out)
    if out.suffix == ".dot":
        out.write_text(to_dot(graph))
        return
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import FancyBboxPatch
    except ImportError:
        raise RuntimeError("drawing a picture needs matplotlib: pip install "
                           "'streamser[plot]' (or write .dot)") from None
    depth = layers(graph)
    columns: dict[int, list[str]] = {}
    for name in graph.nodes:
        columns.setdefault(depth[name], []).append(name)
    rows = max(len(c) for c in columns.values())
    pos = {n: (col * 3.0, (len(names) - 1) / 2 - i) for col, names in columns.items()
           for i, n in enumerate(names)}
    fig, ax = plt.subplots(figsize=(2.2 + 2.6 * len(columns), 1.0 + 1.1 * rows))
    w, h = 2.2, 0.7
    edge = {"color": "#44546a", "lw": 1.0}
    label = {"ha": "center", "fontsize": 7, "color": "#6b7a90"}
    lanes = {1: 0, -1: 0}
    reach = 0.0
    for name, spec in graph.nodes.items():
        x, y = pos[name]
        color = "#dff0d8" if spec.is_source else "#eef3fb"
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h,
                                    boxstyle="round,pad=0.05", fc=color, ec="#44546a"))
        ax.text(x, y + 0.1, name, ha="center", va="center", fontsize=10, weight="bold")
        ax.text(x, y - 0.17, spec.plugin, ha="center", va="center", fontsize=8, color="#44546a")
        for producer in spec.inputs:
            px, py = pos[producer]
            kinds = "/".join(sorted(graph.nodes[producer].out_kinds))
            if depth[name] - depth[producer] == 1:
                ax.annotate("", xy=(x - w / 2 - 0.05, y), xytext=(px + w / 2 + 0.05, py),
                            arrowprops={"arrowstyle": "-|>", **edge})
                ax.text((x + px) / 2, (y + py) / 2 + 0.12, kinds, **label)
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
            ax.plot([x0, x0, x1], [py + side * (h / 2 + 0.05), lane, lane], **edge)
            ax.annotate("", xy=(x1, y + side * (h / 2 + 0.05)), xytext=(x1, lane),
                        arrowprops={"arrowstyle": "-|>", **edge})
            ax.text((x0 + x1) / 2, lane + (0.05 if side > 0 else -0.2), kinds, **label)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - w, max(xs) + w)
    ax.set_ylim(min(ys) - 0.6 - reach, max(ys) + 0.6 + reach)
    ax.set_title(graph.name, fontsize=11)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
