# Load Celery with Django so that @shared_task uses our app.
from config.celery import app as celery_app

__all__ = ("celery_app",)
