"""Tests of `service.batch`."""
