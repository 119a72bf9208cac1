"""One router per resource of the API; each endpoint takes what it needs through `service.api.deps`."""
