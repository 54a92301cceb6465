"""What a browser page on an allowed origin (CORS_ALLOW_ORIGINS) may do.

Starlette's CORSMiddleware does the work; it is installed only when origins
are configured, so by default no answer carries a CORS header. Tokens go in
the Authorization header, never in cookies, so credentials mode stays off.
"""

CORS_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "If-Modified-Since",
    "If-Unmodified-Since",
    "X-Request-ID",
]
CORS_EXPOSED_HEADERS = [
    "ETag",
    "Last-Modified",
    "Location",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "X-Request-ID",
]
