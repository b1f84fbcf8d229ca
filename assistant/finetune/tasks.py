from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from . import services


@shared_task(
    name="finetune.run_job",
    bind=True,
    acks_late=True,  # a worker killed mid-job leaves the task in the broker for another
    reject_on_worker_lost=True,
    soft_time_limit=settings.FINETUNE_SOFT_TIME_LIMIT,
    max_retries=None,
)
def run_job(self, job_id: int) -> dict:
    """Train one fine-tuning job. Safe to deliver twice: the job's lease lets one worker run it,
    and a finished job is not run again."""
    try:
        return services.job_run(job_id=job_id)
    except SoftTimeLimitExceeded:
        # Stopped inside the broker's visibility timeout: continue from the last checkpoint
        # in a fresh delivery rather than be redelivered while still running.
        raise self.retry(countdown=1) from None
