from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from frontend.views import demo_shop

admin.site.site_header = "Shop assistant console"
admin.site.site_title = "Shop assistant"
admin.site.site_url = "/console/"  # the admin's "View site" link leads to the operators' pages

urlpatterns = [
    path("admin/", admin.site.urls),
    path("console/", include("frontend.urls")),
    path("demo/", demo_shop, name="demo-shop"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/chat/", include("assistant.chat.urls")),
    path("ide/", include("assistant.ide.urls")),
    path("", include("assistant.health.urls")),
]
