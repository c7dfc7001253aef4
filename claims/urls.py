from django.urls import path

from claims import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("sign-in/", views.sign_in, name="sign-in"),
    path("sign-in/code/", views.sign_in_code, name="sign-in-code"),
    path("sign-in/code/resend/", views.sign_in_resend, name="sign-in-resend"),
    path("sign-out/", views.sign_out, name="sign-out"),
]
