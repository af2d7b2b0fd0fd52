"""What every asset shares: its owners and the small markdown tables people read in the UI."""

OWNERS = ["team:network-observability"]


def markdown_table(rows: list[tuple], header: tuple[str, ...], limit: int = 20) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"| ... {len(rows) - limit} more | " + " | " * (len(header) - 1))
    return "\n".join(lines)
