# Load Celery with Django so that @shared_task uses our app.
from organizing.celery import app as celery_app

__all__ = ("celery_app",)
