"""What operators need: health checks, metrics, request ids in the logs."""
