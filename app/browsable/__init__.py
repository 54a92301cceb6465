"""The browsable API: API answers as HTML pages for people in a browser."""
