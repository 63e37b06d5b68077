"""paraschut-bg: an example executor plugin (docs/writing-a-plugin.md); each job a background process."""
