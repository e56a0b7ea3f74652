"""Modal screens of the app: confirmation, help, open a past run."""
