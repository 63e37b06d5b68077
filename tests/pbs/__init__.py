"""Tests of the pbs executor plugin (paraschut-pbs)."""
