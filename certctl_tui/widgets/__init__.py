"""Widgets of the dashboard: charts, stat panels, dialogs, forms, the command bar."""
