"""The `techscore` command: `service.cli.main.app` and one module per command group; each command
only parses options and calls into `training`, `models` and the service packages."""
