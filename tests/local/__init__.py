"""Tests of the local executor plugin (paraschut-local)."""
