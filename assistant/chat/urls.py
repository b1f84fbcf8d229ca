from django.urls import path

from . import views

urlpatterns = [
    path("sessions", views.SessionView.as_view(), name="chat-session"),
    path("conversations", views.ConversationListView.as_view(), name="chat-conversations"),
    path("consent", views.ConsentView.as_view(), name="chat-consent"),
    path(
        "conversations/<uuid:public_id>", views.ConversationView.as_view(), name="chat-conversation"
    ),
    path(
        "conversations/<uuid:public_id>/messages", views.MessageView.as_view(), name="chat-messages"
    ),
    path("conversations/<uuid:public_id>/retry", views.RetryView.as_view(), name="chat-retry"),
    path("conversations/<uuid:public_id>/csat", views.CsatView.as_view(), name="chat-csat"),
    path(
        "conversations/<uuid:public_id>/handoff", views.HandoffView.as_view(), name="chat-handoff"
    ),
    path("conversations/<uuid:public_id>/close", views.CloseView.as_view(), name="chat-close"),
]
