"""paraschut-sge: the ``sge`` executor plugin for Son of Grid Engine (entry point ``sge``)."""

__all__: list[str] = []
