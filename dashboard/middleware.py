"""What a page shows when the API is the problem, in one place.

An API outage renders a page with a clear banner (503), a refused token sends the user
back to sign-in (their session is cleared), a page the API refuses shows the API's message
with its status, and any other error renders the dashboard's own error page: never Django's.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render

from dashboard.api import ApiError, ApiUnavailable, SignedOut

log = logging.getLogger("dashboard")


def wants_json(request) -> bool:
    return request.path.endswith((".json", "/stream"))


class ApiTrouble:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, SignedOut):
            request.session.flush()
            if wants_json(request):
                return JsonResponse({"error": "signed out"}, status=401)
            query = urlencode({"next": request.get_full_path(), "reason": "expired"})
            return HttpResponseRedirect(f"/signin?{query}")
        if isinstance(exception, ApiUnavailable):
            log.warning("API unavailable: %s", exception)
            if wants_json(request):
                return JsonResponse({"error": "the API is unavailable"}, status=503)
            return render(request, "dashboard/outage.html", {"detail": str(exception)}, status=503)
        if isinstance(exception, ApiError):       # a page the API refuses to build: its own words
            if wants_json(request):
                return JsonResponse({"error": exception.message}, status=exception.status)
            status = exception.status if 400 <= exception.status < 500 else 502
            return render(request, "dashboard/error.html", {"detail": exception.message}, status=status)
        log.exception("dashboard error on %s", request.path)
        return render(request, "dashboard/error.html", {}, status=500)
