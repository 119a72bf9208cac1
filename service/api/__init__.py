"""The HTTP API: the app factory (`service.api.app.create_app`), one router per resource
(`service.api.routes`), the dependencies they share (`service.api.deps`), settings, errors,
middleware and the pydantic request/response models. May import `service.batch`, `service.store`
and `service.web`; nothing below it imports it."""
