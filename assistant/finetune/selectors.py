from dataclasses import dataclass

from django.conf import settings

from assistant.shop.models import Customer

from .models import Deployment, FineTuneJob, TrainingConsent


@dataclass(frozen=True)
class ServingModel:
    """What the assistant asks the model server for: the base model, or a deployed adapter
    (selected by its name as the OpenAI `model`)."""

    name: str
    adapter: str = ""
    job_id: int | None = None


def serving_model() -> ServingModel:
    current = Deployment.objects.select_related("job").order_by("-id").first()
    if current is None or current.job is None:
        return ServingModel(settings.MODEL_NAME)
    return ServingModel(current.job.adapter_name, current.job.adapter_name, current.job_id)


def deployment_history():
    return Deployment.objects.select_related("job", "created_by").order_by("-id")


def consent_active(*, customer: Customer) -> TrainingConsent | None:
    return TrainingConsent.objects.filter(customer=customer, revoked_at__isnull=True).first()


def job_progress(*, job: FineTuneJob) -> dict:
    """What the console shows and polls while a job runs."""
    return {
        "id": job.pk,
        "status": job.status,
        "status_label": job.get_status_display(),
        "cancel_requested": job.cancel_requested,
        "step": job.step,
        "total_steps": job.total_steps,
        "loss": job.loss,
        "epsilon_spent": job.epsilon_spent,
        "epsilon_budget": job.epsilon,
        "delta": job.delta,
        "history": job.history,
        "report": job.report,
        "error": job.error,
        "adapter": job.adapter_name,
        "deployed": serving_model().job_id == job.pk,
    }
