"""Tests of `service.web`."""
