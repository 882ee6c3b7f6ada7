"""The end-to-end encrypted discussion channels of a campaign."""
