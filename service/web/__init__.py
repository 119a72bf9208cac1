"""The loan officer's page: its router (form metadata, examples) and `static/` assets. Imports no
other part of `service`."""
