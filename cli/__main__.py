"""``python -m cli``: the same as the ``peakops`` command."""

from cli.app import app

app()
