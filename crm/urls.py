from django.urls import path

from crm import staff_auth

urlpatterns = [
    path("login/", staff_auth.staff_login, name="staff-login"),
    path("login/verify/", staff_auth.staff_login_verify, name="staff-login-verify"),
    path("login/enrol/", staff_auth.staff_login_enrol, name="staff-login-enrol"),
    path("logout/", staff_auth.staff_logout, name="staff-logout"),
]
