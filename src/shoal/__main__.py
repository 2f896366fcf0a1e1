"""``python -m shoal`` runs the command line."""

from shoal.cli.main import app

app()
