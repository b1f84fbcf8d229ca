from django.urls import path

from . import views

app_name = "console"

urlpatterns = [
    path("", views.conversations, name="conversations"),
    path("conversations/<uuid:public_id>/", views.conversation, name="conversation"),
    path(
        "conversations/<uuid:public_id>/<slug:action>",
        views.conversation_action,
        name="conversation-action",
    ),
    path("safety/", views.safety_queue, name="safety"),
    path("finetune/", views.finetune, name="finetune"),
    path("finetune/<slug:action>", views.finetune, name="finetune-action"),
    path("finetune/jobs/<int:pk>/", views.finetune_job, name="finetune-job"),
    path("finetune/jobs/<int:pk>/progress", views.finetune_job_progress, name="finetune-progress"),
    path("finetune/jobs/<int:pk>/<slug:action>", views.finetune_job, name="finetune-job-action"),
    path("ide/", views.ide_usage, name="ide"),
    path("model/", views.model_server, name="model"),
    path("model/metrics", views.model_server_metrics, name="model-metrics"),
]
