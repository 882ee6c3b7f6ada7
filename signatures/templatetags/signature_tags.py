"""Signature figures for letters' pages: the public letter page shows its
count and groups without letters importing signatures."""

from django import template

from signatures.selectors import LetterFigures, letter_figures

register = template.Library()


@register.simple_tag
def signature_figures(letter) -> LetterFigures:
    """Count, goal and the department and location groups of at least k."""
    return letter_figures(letter)
