"""Typed facade over the plugin hooks: the only caller of ``pm.hook.*``, and where plugin errors are wrapped."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pluggy

from .errors import ParaschutError, SchedulerCommandError, UnknownExecutorError
from .models import Executor, ExecutorInfo, JobSpec, JobStatus, LogPaths, Submission
from .plugins import failed_plugins, get_plugin_manager

__all__ = ["ExecutorManager"]

log = logging.getLogger(__name__)


class ExecutorManager:
    """Dispatches the operation hooks to the plugin that owns an executor name."""

    def __init__(self, pm: pluggy.PluginManager | None = None) -> None:
        self.pm = pm if pm is not None else get_plugin_manager()
        self._infos: dict[str, ExecutorInfo] | None = None

    # -- registry ---------------------------------------------------------------------------
    @property
    def executors(self) -> dict[str, ExecutorInfo]:
        """Every registered executor by name."""
        if self._infos is None:
            infos: dict[str, ExecutorInfo] = {}
            for answer in self.pm.hook.paraschut_register_executors():
                for info in answer or ():
                    infos[info.name] = info
            self._infos = infos
        return self._infos

    def check(self, executor: Executor) -> ExecutorInfo:
        """Return the executor's info, or raise listing the registered executors."""
        info = self.executors.get(executor.name)
        if info is None:
            failed = failed_plugins(self.pm).get(executor.name)
            if failed is not None:
                raise failed
            raise UnknownExecutorError(executor.name, self.executors)
        return info

    def _ask(self, hook_name: str, executor: Executor, **kwargs: Any) -> Any:
        """The plugin's answer (None: no plugin answered for this executor); a plugin's own error
        becomes a ParaschutError naming the executor and the hook."""
        self.check(executor)
        hook = getattr(self.pm.hook, hook_name)
        try:
            return hook(executor=executor, **kwargs)
        except ParaschutError:
            raise
        except Exception as exc:
            raise ParaschutError(
                f"executor {executor.name!r} failed in {hook_name}: {type(exc).__name__}: {exc}"
            ) from exc

    def _call(self, hook_name: str, executor: Executor, **kwargs: Any) -> Any:
        """:meth:`_ask` for a hook every executor must answer."""
        result = self._ask(hook_name, executor, **kwargs)
        if result is None:
            raise UnknownExecutorError(executor.name, self.executors)
        return result

    # -- operations -------------------------------------------------------------------------
    def submit(self, executor: Executor, job: JobSpec) -> Submission:
        """Submit one job; raises when the scheduler refused it."""
        return self._call("paraschut_submit", executor, job=job)  # type: ignore[no-any-return]

    def supports_arrays(self, executor: Executor) -> bool:
        """True when the executor can take many jobs in one scheduler call."""
        return self.check(executor).supports_arrays

    def submit_array(self, executor: Executor, jobs: Sequence[JobSpec]) -> list[Submission]:
        """Submit jobs sharing a script and resources in as few calls as the plugin can."""
        subs = list(self._call("paraschut_submit_array", executor, jobs=list(jobs)))
        if len(subs) != len(jobs):
            raise ParaschutError(
                f"executor {executor.name!r} returned {len(subs)} submissions for {len(jobs)} jobs"
            )
        return subs

    def status(self, executor: Executor, cluster_ids: Sequence[str]) -> dict[str, JobStatus]:
        """One batched status call for all the given jobs of one executor."""
        if not cluster_ids:
            return {}
        answer: Mapping[str, JobStatus] = self._call(
            "paraschut_status", executor, cluster_ids=list(cluster_ids)
        )
        return dict(answer)

    def wait(self, executor: Executor, cluster_ids: Sequence[str], timeout: float) -> bool | None:
        """Block until none of the jobs is queued or running (True) or ``timeout`` passed (False);
        None at once when the plugin cannot wait (it does not implement ``paraschut_wait``)."""
        answer = self._ask("paraschut_wait", executor, cluster_ids=list(cluster_ids), timeout=timeout)
        return None if answer is None else bool(answer)

    def cancel(self, executor: Executor, cluster_ids: Sequence[str]) -> list[str]:
        """Cancel jobs; returns the ids the scheduler accepted."""
        if not cluster_ids:
            return []
        return list(self._call("paraschut_cancel", executor, cluster_ids=list(cluster_ids)))

    def find_submitted(
        self, executor: Executor, jobs: Sequence[JobSpec], since: float = 0.0
    ) -> dict[str, str] | None:
        """{JobSpec.key: cluster id} of the given submissions the scheduler has; None when the plugin
        cannot tell (it does not implement ``paraschut_find_submitted``)."""
        answer = self._ask("paraschut_find_submitted", executor, jobs=list(jobs), since=since)
        return None if answer is None else {str(k): str(v) for k, v in answer.items()}

    def log_paths(self, executor: Executor, job: JobSpec, cluster_id: str) -> LogPaths | None:
        """Ask the plugin where a job's logs are; None when it cannot tell."""
        self.check(executor)
        try:
            return self.pm.hook.paraschut_log_paths(executor=executor, job=job, cluster_id=cluster_id)  # type: ignore[no-any-return]
        except Exception as exc:  # noqa: BLE001 - log discovery is best effort
            log.warning("log discovery failed for %s: %s", executor.name, exc)
            return None

    def summary(self, executor: Executor, cluster_id: str) -> dict[str, Any]:
        """The scheduler's summary of one job (get_qstat); {} when unavailable."""
        self.check(executor)
        try:
            answer = self.pm.hook.paraschut_job_summary(executor=executor, cluster_id=cluster_id)
        except SchedulerCommandError as exc:
            log.warning("could not read the scheduler's summary of %s: %s", cluster_id, exc)
            return {}
        return dict(answer or {})

    def check_scheduler(self, executor: Executor) -> str:
        """A one-line description of the answering scheduler; raises when it does not answer."""
        self.check(executor)
        try:
            answer = self.pm.hook.paraschut_check_scheduler(executor=executor)
        except ParaschutError:
            raise
        except Exception as exc:
            raise ParaschutError(f"executor {executor.name!r} failed its check: {type(exc).__name__}: {exc}") from exc
        return str(answer) if answer is not None else "no check implemented by the plugin"

    def current_job_id(self, executor: Executor, environ: Mapping[str, str]) -> str | None:
        """The running job's own cluster id, from its environment."""
        if executor.name not in self.executors:
            return None
        return self.pm.hook.paraschut_current_job_id(executor=executor, environ=dict(environ))  # type: ignore[no-any-return]

    def observed(self) -> bool:
        """True when some plugin observes state changes (callers skip building calls otherwise)."""
        return bool(self.pm.hook.paraschut_job_state_changed.get_hookimpls())

    def state_changed(self, batch_id: int, job_index: int, old: str | None, new: str) -> None:
        """Tell observers about a state change; their errors are logged, never raised."""
        if not self.observed():
            return  # nobody listens: skip the call (submit_jobs makes one per job)
        try:
            self.pm.hook.paraschut_job_state_changed(
                batch_id=batch_id, job_index=job_index, old=old, new=new
            )
        except Exception as exc:  # noqa: BLE001 - observers must not break the caller
            log.warning("a paraschut_job_state_changed observer failed: %s", exc)
