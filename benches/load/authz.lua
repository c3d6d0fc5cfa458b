-- GET /v1/authz as nginx auth_request sends it.
wrk.method = "GET"
wrk.headers["X-API-Key"] = os.getenv("KEYWARD_KEY")
wrk.headers["X-Original-Method"] = "GET"
wrk.headers["X-Original-URI"] = "/api/public/v1/campaigns/42?page=2"
