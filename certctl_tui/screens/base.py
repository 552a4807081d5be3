"""What every certctl screen shares: engine calls in workers, toasts, read-only, refresh."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from textual.binding import Binding
from textual.screen import Screen

from certctl_engine.errors import CertctlError

if TYPE_CHECKING:
    from certctl_tui.app import CertctlApp

T = TypeVar("T")


@dataclass(frozen=True)
class PaletteCommand:
    """One command palette entry offered by a screen."""

    title: str
    help: str
    callback: Callable[[], Any]
    mutating: bool = False


class CertctlScreen(Screen[None]):
    """Base screen. Subclasses implement ``refresh_data`` and list their mutating actions."""

    #: Actions that change the store: hidden (bindings and palette) in read-only mode.
    MUTATING_ACTIONS: frozenset[str] = frozenset()
    #: The name shown in the header and used by the command bar.
    SCREEN_NAME = ""
    HELP = ""

    BINDINGS = [
        Binding("escape", "back", "Back", id="screen.back", tooltip="Go back one level"),
    ]

    @property
    def capp(self) -> CertctlApp:
        return self.app  # type: ignore[return-value]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back" and len(self.app.screen_stack) <= 1:
            return False  # nothing to go back to
        return not (action in self.MUTATING_ACTIONS and self.capp.read_only)

    def on_mount(self) -> None:
        if self.SCREEN_NAME:
            self.title = f"certctl · {self.SCREEN_NAME}"

    # -------------------------------------------------------------- data
    def refresh_data(self, *, live: bool = False) -> None:
        """Reload what the screen shows; ``live`` when triggered by a change in the store."""

    def palette_commands(self) -> list[PaletteCommand]:
        return []

    def engine_work(
        self,
        fn: Callable[[], T],
        on_done: Callable[[T], Awaitable[None] | None] | None = None,
        *,
        title: str = "certctl",
        group: str = "default",
        exclusive: bool = False,
    ) -> None:
        """Run ``fn`` on an engine thread inside a worker; hand the result to ``on_done`` on the loop."""

        async def work() -> None:
            try:
                result = await self.capp.calls.run(fn)
            except CertctlError as exc:
                self.capp.toast_error(title, exc)
                return
            except Exception as exc:  # a bug: still a toast, never a crash of the whole dashboard
                self.capp.toast_error(title, exc)
                return
            if on_done is not None:
                outcome = on_done(result)
                if outcome is not None:
                    await outcome

        self.run_worker(work, group=group, exclusive=exclusive, exit_on_error=False)

    # -------------------------------------------------------------- actions
    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    def action_quit_list(self) -> None:
        self.app.exit(0)
