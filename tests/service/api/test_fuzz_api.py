"""Property-based fuzzing of the live ASGI app from its own OpenAPI spec (schemathesis).

Every operation gets schema-conforming and schema-breaking requests (bounded by MAX_EXAMPLES,
so the whole file runs in well under 90 s of CPU); none may answer 5xx, and every answer must have a
status, content type and body the spec documents.
"""
from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path

# Hypothesis keeps caches in ./.hypothesis by default: never in the working tree.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "techscore-hypothesis"))

import pytest  # noqa: E402
import schemathesis  # noqa: E402
from hypothesis import HealthCheck  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,  # noqa: E402
                                               status_code_conformance)

from service.api.app import create_app  # noqa: E402
from service.api.settings import Settings  # noqa: E402

MAX_EXAMPLES = 40  # per operation and test phase (about 2 900 requests in all)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SEEN: Counter = Counter()  # status class → answers, across the run (printed by the last test)

pytestmark = pytest.mark.slow


def _spec_app():
    """The app whose spec is fuzzed: building it opens nothing (no model, store or keys are read)."""
    return create_app(Settings(model_dir=Path("/nonexistent"), database_url="sqlite://",
                               keys_file=Path("/nonexistent/keys.json")))


# The spec is the same whatever model is served; requests go to the live app of the `live` fixture.
schema = schemathesis.openapi.from_dict(_spec_app().openapi())
schema.app = _spec_app()
schema.config.generation.update(modes=["positive", "negative"], max_examples=MAX_EXAMPLES, deterministic=True,
                                database="none")


@pytest.fixture(scope="module")
def live(settings):
    return create_app(settings)  # schemathesis starts its lifespan (model, store, keys) on the first call


@schema.parametrize()
@hypothesis_settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
def test_no_server_error_and_every_answer_as_documented(case, live, keys):
    response = case.call(app=live, base_url="http://testserver", headers={"X-API-Key": keys.admin})
    SEEN[f"{response.status_code // 100}xx"] += 1
    case.validate_response(response, checks=CHECKS)


def test_fuzz_summary():
    """Runs after the fuzz tests (file order): at least one case ran per answer class seen, none 5xx."""
    print(f"\nschemathesis: {sum(SEEN.values())} cases, by status class {dict(sorted(SEEN.items()))}")
    assert SEEN["5xx"] == 0
