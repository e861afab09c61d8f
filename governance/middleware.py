"""Go-live gate for PROD_EXEC requests. Filled in by the control-levers work (issue 3)."""


class GoLiveMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)
