from django.urls import path

from . import views

urlpatterns = [
    path("v1/completions", views.CompletionView.as_view(), name="ide-completions"),
    path("v1/events", views.EventView.as_view(), name="ide-events"),
    path("v1/health", views.HealthView.as_view(), name="ide-health"),
]
