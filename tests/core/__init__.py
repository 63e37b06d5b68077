"""Tests of paraschut-core (a package, so its module names never collide with other test folders)."""
