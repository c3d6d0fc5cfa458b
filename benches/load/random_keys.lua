-- POST /v1/verify with a key drawn at random from KEYWARD_KEYS (a file of
-- plaintexts, one per line) for every request. With KEYWARD_SEQUENTIAL set,
-- each thread walks the file in order instead (to fill a cache).
local keys = {}
local sequential = os.getenv("KEYWARD_SEQUENTIAL") ~= nil
local next_index = 0
local counter = 0

-- Each thread gets its own number: its own random sequence, its own part
-- of the file when walking it.
function setup(thread)
    counter = counter + 1
    thread:set("id", counter)
end

function init(args)
    for line in io.lines(os.getenv("KEYWARD_KEYS")) do
        keys[#keys + 1] = line
    end
    math.randomseed(os.time() * 1000 + (id or 0))
    next_index = ((id or 1) - 1) * math.floor(#keys / 2)
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
end

function request()
    local key
    if sequential then
        next_index = next_index % #keys + 1
        key = keys[next_index]
    else
        key = keys[math.random(#keys)]
    end
    return wrk.format(nil, nil, nil,
        '{"key":"' .. key .. '","method":"GET","path":"/api/public/v1/campaigns"}')
end
