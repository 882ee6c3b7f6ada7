"""gunicorn's settings beyond its command line (Procfile, deploy/systemd).

gunicorn reads ./gunicorn.conf.py by default; the production commands also
name it with --config.
"""

from gunicorn.glogging import Logger

from core.logging import ScrubIPAddressesFilter

# One instance: a handler does not add the same filter twice when a reload
# (SIGHUP) runs setup() again.
scrub_filter = ScrubIPAddressesFilter()


class ScrubbingLogger(Logger):
    """gunicorn's own log lines go to its own handlers, not Django's, and some
    carry the client's address ("Invalid request from ip=..." for every
    malformed request): scrub them like everything else we log."""

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.addFilter(scrub_filter)


logger_class = ScrubbingLogger
