from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

admin.site.site_header = "Shop assistant console"
admin.site.site_title = "Shop assistant"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/chat/", include("assistant.chat.urls")),
    path("ide/", include("assistant.ide.urls")),
    path("", include("assistant.health.urls")),
]
