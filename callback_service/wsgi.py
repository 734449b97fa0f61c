"""WSGI entry point: ``gunicorn callback_service.wsgi:app`` (config from OPENVPN_SSO_CONFIG)."""

from callback_service.service import app_from_environment

app = app_from_environment()
