#!/bin/sh
# paraschut example job script template: generate_script() replaces @PYTHON and @step.
# Every executor exports PARASCHUT_BATCH_ID / PARASCHUT_JOB_INDEX / PARASCHUT_DB, so the step
# finds its own metadata with psu.get_job_info(SetID=True).
exec "@PYTHON" "@step"
