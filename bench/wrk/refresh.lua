-- POST /api/v1/auth/refresh (scenario 6), each request with a live refresh
-- token. Argument: the file of refresh tokens. Each thread owns a share of
-- the sessions; a token is taken when a request is sent and its rotated
-- successor is put back when the answer comes, so no token is ever used
-- twice (which would be reuse and end the session).
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local pool, first, last = {}, 1, 0

function init(args)
  local all = read_lines(args[1])
  local count = tonumber(args[2]) or 1
  for i, token in ipairs(all) do
    if (i - 1) % count == (thread_index or 0) then
      last = last + 1
      pool[last] = token
    end
  end
end

function request()
  local token = "rt_exhausted"
  if first <= last then
    token = pool[first]
    pool[first] = nil
    first = first + 1
  end
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" },
    '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  local successor = body and body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if successor then
    last = last + 1
    pool[last] = successor
  end
end
