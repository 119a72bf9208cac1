"""Tests of `service.store`."""
