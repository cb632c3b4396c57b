"""The analysts' review console (server-rendered, under ``/console``): see docs/console.md.

``console.app.console_routes`` is what the API mounts; ``console.commands`` the ``qalqan users``
commands (imported by every CLI start, so this package imports nothing heavy itself).
"""
