"""Electronic archive of finished cases (办件电子化归档). See issue 6."""
