"""CertctlApp: the full-screen dashboard on an open Engine.

    CertctlApp(engine, read_only=False, clock=None).run()

Navigation: ``:`` jumps to a screen by name or alias, ``ctrl+p`` opens the palette (every
screen and action), ``?`` the keys panel, ``f1`` contextual help, ``esc`` goes back,
``q`` quits from a list, ``ctrl+r`` reloads. The app polls the audit sequence number and
reloads the current screen when the store changed (another process, another thread).
"""

from __future__ import annotations

import gc
import getpass
import os
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from certctl_engine.domain import Actor, CertificateFilter, JobStatus
from certctl_tui.calls import EngineCalls
from certctl_tui.format import ago
from certctl_tui.widgets.dialogs import CommandBar, HelpScreen

if TYPE_CHECKING:
    from certctl_engine.engine import Engine

POLL_SECONDS = 1.5
"""How often the app asks the store for its newest audit sequence number (at least 1 s)."""

# command bar name -> (screen key, aliases)
SCREEN_ALIASES: dict[str, str] = {
    "dashboard": "dashboard",
    "dash": "dashboard",
    "home": "dashboard",
    "certs": "certs",
    "certificates": "certs",
    "cert": "certs",
    "issuers": "issuers",
    "issuer": "issuers",
    "profiles": "profiles",
    "profile": "profiles",
    "owners": "owners",
    "owner": "owners",
    "teams": "teams",
    "team": "teams",
    "policies": "policies",
    "policy": "policies",
    "renewal-policies": "policies",
    "rp": "policies",
    "audit": "audit",
    "events": "audit",
    "jobs": "jobs",
    "job": "jobs",
}
SCREEN_TITLES: dict[str, str] = {
    "dashboard": "Dashboard",
    "certs": "Certificates",
    "issuers": "Issuers",
    "profiles": "Profiles",
    "owners": "Owners",
    "teams": "Teams",
    "policies": "Renewal policies",
    "audit": "Audit trail",
    "jobs": "Jobs",
}


def _plugged_screens() -> dict[str, tuple[str, Callable[[], Screen[Any]], tuple[str, ...]]]:
    """The screens whose modules name their own keys, titles and aliases (``SCREEN_ENTRIES``)."""
    from certctl_tui.screens import agents, alerts, discovery, targets

    return {
        **agents.SCREEN_ENTRIES,
        **targets.SCREEN_ENTRIES,
        **discovery.SCREEN_ENTRIES,
        **alerts.SCREEN_ENTRIES,
    }


PLUGGED_SCREENS = _plugged_screens()
for _key, (_title, _factory, _aliases) in PLUGGED_SCREENS.items():
    SCREEN_TITLES[_key] = _title
    for _name in (_key, *_aliases):
        SCREEN_ALIASES.setdefault(_name, _key)


def tui_actor() -> Actor:
    """Who the dashboard acts as: ``$CERTCTL_ACTOR`` or ``tui:<login name>``."""
    name = os.environ.get("CERTCTL_ACTOR")
    if not name:
        try:
            name = f"tui:{getpass.getuser()}"
        except (KeyError, OSError):
            name = "tui"
    return Actor(name)


def _freeze_startup_objects() -> None:
    """Collect once, then move every surviving object to the collector's permanent generation
    (the garbage of start-up is freed first, so nothing unreachable is kept for good)."""
    gc.collect()
    gc.freeze()


class CertctlApp(App[int]):
    """The certctl terminal dashboard."""

    CSS_PATH = "certctl.tcss"
    TITLE = "certctl"

    BINDINGS = [
        Binding("colon", "command_bar", "Go to", id="app.command_bar", tooltip="Jump to a screen: :certs, :audit..."),
        Binding("ctrl+r", "refresh", "Refresh", id="app.refresh", tooltip="Reload the data on this screen now"),
        Binding("question_mark", "toggle_keys", "Keys", id="app.keys", tooltip="Show or hide the keys panel"),
        Binding("f1", "context_help", "Help", id="app.help", tooltip="Help for this screen and the focused widget"),
    ]

    def __init__(
        self,
        engine: Engine,
        *,
        read_only: bool = False,
        clock: Callable[[], datetime] | None = None,
        poll_seconds: float = POLL_SECONDS,
        actor: Actor | None = None,
        start: str = "dashboard",
    ) -> None:
        super().__init__()
        self.engine = engine
        self.read_only = read_only
        self._clock = clock
        self.poll_seconds = max(1.0, poll_seconds)
        self.actor = actor or tui_actor()
        self.calls = EngineCalls()
        self.audit_sequence: int | None = None
        self.loaded_at: datetime | None = None
        self.store_label = engine.location.describe()
        self.start = SCREEN_ALIASES.get(start, "dashboard")

    # ------------------------------------------------------------------ time
    def now(self) -> datetime:
        return self._clock() if self._clock is not None else self.engine.now()

    def mark_loaded(self) -> None:
        self.loaded_at = self.now()
        self._update_subtitle()

    def _update_subtitle(self) -> None:
        parts = [self.store_label, f"loaded {ago(self.loaded_at, self.now())}" if self.loaded_at else "loading…"]
        if self.read_only:
            parts.append("read-only")
        self.sub_title = " · ".join(parts)

    # ------------------------------------------------------------------ lifecycle
    def get_default_screen(self) -> Screen[Any]:
        from certctl_tui.screens.dashboard import DashboardScreen

        return DashboardScreen()

    def on_mount(self) -> None:
        if self.start != "dashboard":
            self.open_screen(self.start)
        self._update_subtitle()
        self.set_interval(1.0, self._update_subtitle, name="subtitle")
        self.set_interval(self.poll_seconds, self.poll_store, name="poll")
        # The baseline now, not at the first tick: a change made before that tick must still count.
        self.poll_store()
        # What exists once the first screen is up (modules, widgets, styles) lives as long as the app:
        # kept out of the collector's full passes, which otherwise pause a keystroke now and then.
        self.call_after_refresh(_freeze_startup_objects)

    async def on_unmount(self) -> None:
        self.calls.shutdown()
        gc.unfreeze()  # this app's objects may go now (a process that runs several apps, like the tests)

    # ------------------------------------------------------------------ errors
    def toast_error(self, title: str, exc: BaseException) -> None:
        from certctl_engine.errors import CertctlError

        message = str(exc) if isinstance(exc, CertctlError) else f"internal error: {type(exc).__name__}: {exc}"
        self.notify(message, title=title, severity="error", timeout=8, markup=False)

    def toast(self, title: str, message: str) -> None:
        self.notify(message, title=title, markup=False)

    # ------------------------------------------------------------------ live refresh
    def poll_store(self) -> None:
        """Ask (on an engine thread) for the newest audit sequence; reload the screen when it moved."""
        self.run_worker(self._poll, group="poll", exclusive=True, exit_on_error=False)

    async def _poll(self) -> None:
        try:
            sequence = await self.calls.run(self.engine.audit.latest_sequence)
        except Exception:  # the next poll tries again; a broken store shows on the next user action
            return
        previous, self.audit_sequence = self.audit_sequence, sequence
        if previous is not None and sequence != previous:
            self._refresh_screens(live=True)
        else:
            self.loaded_at = self.now()

    def _refresh_screens(self, *, live: bool) -> None:
        from certctl_tui.screens.base import CertctlScreen

        screen = self.screen
        # A dialog on top: refresh what lies beneath it.
        for candidate in reversed(self.screen_stack):
            if isinstance(candidate, CertctlScreen):
                screen = candidate
                break
        if isinstance(screen, CertctlScreen):
            screen.refresh_data(live=live)

    def action_refresh(self) -> None:
        self._refresh_screens(live=False)

    # ------------------------------------------------------------------ navigation
    def open_screen(
        self,
        key: str,
        *,
        flt: CertificateFilter | None = None,
        title: str | None = None,
        job_state: JobStatus | None = None,
    ) -> None:
        """Go to a top-level screen: the dashboard stays at the bottom, the target on top of it."""
        from certctl_tui.screens import audit, certificates, config, jobs

        while len(self.screen_stack) > 1:
            self.pop_screen()
        if key == "dashboard":
            return
        factories: dict[str, Callable[[], Screen[Any]]] = {
            "certs": lambda: certificates.CertificatesScreen(flt=flt, title=title),
            "issuers": config.IssuersScreen,
            "profiles": config.ProfilesScreen,
            "owners": config.OwnersScreen,
            "teams": config.TeamsScreen,
            "policies": config.PoliciesScreen,
            "audit": audit.AuditScreen,
            "jobs": lambda: jobs.JobsScreen(state=job_state),
            **{name: entry[1] for name, entry in PLUGGED_SCREENS.items()},
        }
        self.push_screen(factories[key]())

    def action_open(self, key: str) -> None:
        self.open_screen(key)

    def action_command_bar(self) -> None:
        names = [
            "certs",
            "jobs",
            "agents",
            "groups",
            "targets",
            "discovery",
            "scan-targets",
            "notifications",
            "rules",
            "violations",
            "issuers",
            "profiles",
            "owners",
            "teams",
            "policies",
            "audit",
            "dashboard",
            "q",
        ]

        def go(value: str | None) -> None:
            if not value:
                return
            name = value.lower()
            if name in ("q", "quit"):
                self.exit(0)
                return
            key = SCREEN_ALIASES.get(name)
            if key is None:
                matches = sorted({v for k, v in SCREEN_ALIASES.items() if k.startswith(name)})
                key = matches[0] if len(matches) == 1 else None
            if key is None:
                self.notify(
                    f"no screen called '{value}'; try {', '.join(':' + n for n in names[:-1])}",
                    title="Go to",
                    severity="warning",
                    markup=False,
                )
                return
            self.open_screen(key)

        self.push_screen(CommandBar(names), go)

    def action_toggle_keys(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def action_context_help(self) -> None:
        from certctl_tui.help import contextual_help

        title, text = contextual_help(self.screen)
        self.push_screen(HelpScreen(title, text))

    # ------------------------------------------------------------------ palette
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        from certctl_tui.screens.base import CertctlScreen

        for key, title in SCREEN_TITLES.items():
            yield SystemCommand(
                f"Go to {title}", f"Open the {title.lower()} screen (:{key})", lambda key=key: self.open_screen(key)
            )
        yield SystemCommand("Refresh", "Reload the data on this screen now (ctrl+r)", self.action_refresh)
        yield SystemCommand("Help", "Help for this screen and the focused widget (f1)", self.action_context_help)
        if isinstance(screen, CertctlScreen):
            for command in screen.palette_commands():
                if command.mutating and self.read_only:
                    continue
                yield SystemCommand(command.title, command.help, command.callback)
        yield from super().get_system_commands(screen)
