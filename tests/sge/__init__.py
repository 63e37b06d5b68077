"""Tests of the paraschut-sge executor plugin (a package, so its module names do not clash with other plugins')."""
