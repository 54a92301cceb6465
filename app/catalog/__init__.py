"""Whole-catalogue import and export, and the sample catalogue."""
