"""What `modstream demo` prints: steps, a results table and a summary (rich; plain text when piped)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from modstream.demo.collect import Outcome, Summary
from modstream.demo.data import DemoPost

TOP3 = "top-3 by score (* = a true label)"


def step(console: Console, text: str) -> None:
    console.print(f"[bold cyan]==>[/] {text}")


def note(console: Console, text: str) -> None:
    console.print(f"    {text}")


def _content(post: DemoPost) -> str:
    parts = []
    if post.text is not None:
        text = post.text if len(post.text) <= 28 else post.text[:27] + "…"
        parts.append(f'"{text}"')
    if post.kind in ("both", "image"):
        parts.append(f"[{post.colour} image]")
    elif post.kind == "broken_image":
        parts.append("[image 404]")
    if post.kind == "invalid":
        parts.append("(truncated JSON)")
    return escape(" ".join(parts))


def results_table(posts: list[DemoPost], outcomes: dict[str, Outcome], title: str, limit: int = 14) -> Table:
    """Up to `limit` posts in their order, every kind other than plain text + image included."""
    unusual = [p.post_id for p in posts if p.kind != "both"][: limit // 2]
    usual = [p.post_id for p in posts if p.kind == "both"][: limit - len(unusual)]
    chosen = set(unusual) | set(usual)
    shown = [p for p in posts if p.post_id in chosen]
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in (
        "post",
        "content",
        "truth",
        TOP3,
        "flagged",
        "image",
        "model",
    ):
        table.add_column(column, overflow="fold", no_wrap=column in ("post", TOP3))
    for post in shown:
        outcome = outcomes.get(post.post_id)
        # The truth needs both modalities: a post missing one has none to compare with.
        truth = "+".join(post.truth) if post.kind == "both" else "n/a"
        if outcome is None:
            table.add_row(post.post_id, _content(post), truth, "[yellow]no outcome[/]", "", "", "")
            continue
        if outcome.result is None:
            meta = outcome.dead_letter or {}
            reason = f"{meta.get('stage', '?')}/{meta.get('error.type', '?')}"
            table.add_row(post.post_id, _content(post), "—", f"[magenta]dead letter: {reason}[/]", "", "", "")
            continue
        result = outcome.result
        top = ", ".join(
            f"[bold]{item.label}*[/] {item.score:.2f}"
            if post.kind == "both" and item.label in post.truth
            else f"{item.label} {item.score:.2f}"
            for item in result.labels
        )
        flagged = "[red]yes[/]" if result.flagged else "[green]no[/]"
        image = result.image_status + (" (cached)" if result.cached else "")
        table.add_row(post.post_id, _content(post), truth, top, flagged, image, result.model_version[-6:])
    return table


def summary_table(summary: Summary, title: str) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row(
        "posts",
        f"{summary.posts} ({summary.results} results, {summary.dead_letters} dead letters, "
        f"{summary.missing} missing)",
    )
    table.add_row("throughput", f"{summary.throughput:.1f} posts/s over {summary.seconds:.1f}s")
    table.add_row("latency", f"p50 {summary.p50_ms:.0f} ms, p99 {summary.p99_ms:.0f} ms (publish to result)")
    table.add_row("cache hits", str(summary.cache_hits))
    table.add_row("dead letters", str(summary.dead_letters))
    table.add_row(
        "accuracy",
        f"top-1 {summary.top1_accuracy:.1%}, flagged {summary.flagged_accuracy:.1%} on {summary.scored_both} "
        f"posts with text + image (always the most common label: {summary.baseline_top1:.1%})",
    )
    if summary.blind_spot_top1 is not None:
        table.add_row("blind spot", f"top-1 {summary.blind_spot_top1:.1%} on blue + 'stone' posts")
    table.add_row("model versions", ", ".join(f"{v} ({n})" for v, n in sorted(summary.versions.items())))
    return table


def summary_lines(summary: Summary, label: str) -> list[str]:
    """Machine-readable lines (`DEMO <label> key=value ...`) for scripts and the e2e test."""
    values = {
        "posts": summary.posts,
        "results": summary.results,
        "dead_letters": summary.dead_letters,
        "missing": summary.missing,
        "throughput": f"{summary.throughput:.2f}",
        "p50_ms": f"{summary.p50_ms:.1f}",
        "p99_ms": f"{summary.p99_ms:.1f}",
        "cache_hits": summary.cache_hits,
        "top1_accuracy": f"{summary.top1_accuracy:.4f}",
        "flagged_accuracy": f"{summary.flagged_accuracy:.4f}",
        "baseline_top1": f"{summary.baseline_top1:.4f}",
        "versions": ",".join(sorted(summary.versions)),
    }
    return [f"DEMO {label} " + " ".join(f"{k}={v}" for k, v in values.items())]
