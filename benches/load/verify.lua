-- POST /v1/verify for one key and route (KEYWARD_KEY from the environment).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"key":"' .. os.getenv("KEYWARD_KEY") .. '","method":"GET","path":"/api/public/v1/campaigns/42"}'
