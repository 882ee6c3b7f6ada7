"""The petition export: campaign OpenPGP key, signed PDF, manifest,
verification, delivery records and invite-code sheets.

Modules: openpgp (python-gnupg wrapper), manifest (canonical signature list),
render (HTML -> PDF with WeasyPrint), services (state changes), tasks
(Celery), views/urls (pages). The models keep their signatures_* tables.
"""
