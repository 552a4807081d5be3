"""Contextual help (f1): the screen's help, the focused widget's help, and the global keys."""

from __future__ import annotations

from textual.screen import Screen

GLOBAL_HELP = """
## Everywhere
| key | does |
|---|---|
| `:` | jump to a screen by name, e.g. `:certs` `:jobs` `:agents` `:targets` `:discovery` `:audit` (the bar lists all) |
| `ctrl+p` | command palette: every screen and action, and themes |
| `?` | show or hide the keys panel |
| `f1` | this help |
| `esc` | back one level (clears a filter first) |
| `q` | quit, from a list |
| `ctrl+r` | reload now (the screen also reloads by itself when the store changes) |
| `ctrl+q` | quit |

The header shows the store and how long ago the data was loaded. With `--read-only`
no key or palette command changes anything.
"""


def contextual_help(screen: Screen[object]) -> tuple[str, str]:
    parts: list[str] = []
    screen_help = getattr(screen, "HELP", "") or ""
    if screen_help:
        parts.append(screen_help.strip())
    focused = screen.focused
    widget_help = getattr(focused, "HELP", "") if focused is not None else ""
    if widget_help and widget_help.strip() != screen_help.strip():
        parts.append(widget_help.strip())
    parts.append(GLOBAL_HELP.strip())
    title = f"Help: {getattr(screen, 'SCREEN_NAME', '') or 'certctl'}"
    return title, "\n\n".join(parts)
