"""ScanProgress: how far a running network scan is, then what it found.

The scan runs on an engine thread and its progress callback arrives there. The callback
only records the latest figures (``report``, safe from any thread, never waits for the
event loop, so a closing dashboard cannot deadlock with a scan); a timer on the loop
repaints the bar from them ten times a second. Hidden until the first scan starts.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from certctl_engine.domain import DiscoveryScanResult

SHOWN_ERRORS = 3
"""How many of a scan's errors the panel quotes verbatim (the rest are counted)."""
REPAINT_SECONDS = 0.1


class ScanProgress(Vertical):
    DEFAULT_CSS = """
    ScanProgress { height: auto; display: none; border: round $primary 60%; padding: 0 1; }
    ScanProgress.shown { display: block; }
    ScanProgress #scan-label { height: auto; }
    ScanProgress ProgressBar { height: 1; }
    ScanProgress.done ProgressBar { display: none; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.running: str | None = None
        """The name of the target being scanned, or None."""
        self._figures: tuple[int, int] | None = None
        self._shown: tuple[int, int] | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="scan-label", markup=False)
        yield ProgressBar(total=None, show_eta=False, id="scan-bar")

    def on_mount(self) -> None:
        self.set_interval(REPAINT_SECONDS, self._repaint, name="scan-progress")

    def report(self, done: int, total: int) -> None:
        """The scan's progress callback: called on the engine thread, returns at once."""
        self._figures = (done, total)

    def _repaint(self) -> None:
        figures = self._figures
        if figures is not None and figures != self._shown:
            self._shown = figures
            self.advance(*figures)

    def start(self, name: str) -> None:
        self.running = name
        self._figures = self._shown = None
        self.border_title = "Scan now"
        self.add_class("shown")
        self.remove_class("done")
        self.query_one("#scan-label", Static).update(Text(f"Scanning {name}: planning endpoints…"))
        self.query_one(ProgressBar).update(total=None, progress=0)

    def advance(self, done: int, total: int) -> None:
        if self.running is None:
            return
        self.query_one("#scan-label", Static).update(Text(f"Scanning {self.running}: {done:,} of {total:,} endpoints"))
        self.query_one(ProgressBar).update(total=max(total, 1), progress=done)

    def finish(self, name: str, result: DiscoveryScanResult) -> None:
        self.running = None
        self.add_class("done")
        text = Text()
        text.append(f"Scan of {name} done in {result.scan_duration_ms:,} ms: ", style="bold")
        text.append(f"{result.certificates_found} certificate(s) found, {result.certificates_new} new", style="green")
        text.append(", ")
        text.append(f"{result.errors_count} error(s)", style="red" if result.errors_count else "")
        for error in result.errors[:SHOWN_ERRORS]:
            text.append(f"\n  {error}", style="red")
        if len(result.errors) > SHOWN_ERRORS:
            text.append(f"\n  … and {len(result.errors) - SHOWN_ERRORS} more", style="dim")
        self.query_one("#scan-label", Static).update(text)

    def fail(self, name: str, message: str) -> None:
        self.running = None
        self.add_class("done")
        self.query_one("#scan-label", Static).update(Text(f"Scan of {name} failed: {message}", style="red"))
