"""The console's fine-tuning pages in the admin: consents (read-only), datasets (snapshots are
created with an action), jobs (create, cancel, deploy, roll back) and deployments (history)."""

from django.contrib import admin, messages
from django.utils.html import format_html

from assistant.shop.errors import DomainError

from . import services
from .models import Dataset, Deployment, FineTuneJob, TrainingConsent


@admin.register(TrainingConsent)
class TrainingConsentAdmin(admin.ModelAdmin):
    list_display = ["customer", "notice_version", "granted_at", "revoked_at"]
    list_filter = ["notice_version", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["customer__name", "customer__external_id"]
    readonly_fields = ["customer", "notice_version", "granted_at", "revoked_at"]

    # Consent is the customer's to give and withdraw (in the widget), not the operator's.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at", "customers", "dialogues", "retired_at"]
    readonly_fields = ["name", "created_at", "created_by", "content_sha256", "stats", "retired_at"]
    actions = ["start_job"]

    def customers(self, obj: Dataset) -> int:
        return obj.stats.get("customers", 0)

    def dialogues(self, obj: Dataset) -> int:
        return obj.stats.get("dialogues", 0)

    def has_add_permission(self, request) -> bool:
        return False  # snapshots come from the console's "New dataset" button or the command

    @admin.action(description="Start a fine-tuning job (ε = 3) on the selected datasets")
    def start_job(self, request, queryset) -> None:
        for dataset in queryset:
            try:
                job = services.job_create(dataset=dataset, created_by=request.user)
            except DomainError as error:
                self.message_user(request, error.message, messages.ERROR)
            else:
                self.message_user(request, f"Queued job #{job.pk} on {dataset}.")


@admin.register(FineTuneJob)
class FineTuneJobAdmin(admin.ModelAdmin):
    list_display = ["id", "dataset", "status", "progress", "epsilon_spent", "epsilon", "created_at"]
    list_filter = ["status"]
    readonly_fields = [f.name for f in FineTuneJob._meta.fields]
    actions = ["cancel", "deploy"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="progress")
    def progress(self, obj: FineTuneJob):
        if not obj.total_steps:
            return "–"
        return format_html("{} / {} steps", obj.step, obj.total_steps)

    @admin.action(description="Cancel the selected jobs")
    def cancel(self, request, queryset) -> None:
        for job in queryset:
            try:
                services.job_cancel(job=job)
            except DomainError as error:
                self.message_user(request, error.message, messages.ERROR)

    @admin.action(description="Approve and deploy the selected job's adapter")
    def deploy(self, request, queryset) -> None:
        for job in queryset:
            try:
                services.job_deploy(job=job, by=request.user)
            except DomainError as error:
                self.message_user(request, error.message, messages.ERROR)
            else:
                self.message_user(request, f"{job.adapter_name} now answers customers.")


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ["created_at", "job", "note", "created_by"]
    readonly_fields = ["job", "replaces", "created_at", "created_by", "note"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
