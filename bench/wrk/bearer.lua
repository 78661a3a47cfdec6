-- GET with a different customer's access token on each request
-- (scenarios 3, 4 and 9). Argument: the file of access tokens.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local prepared = {}
local next_index

function init(args)
  for _, token in ipairs(read_lines(args[1])) do
    prepared[#prepared + 1] =
      wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. token })
  end
  -- Threads start at different customers so their requests interleave.
  next_index = (thread_index or 0) * 7919 % #prepared
end

function request()
  next_index = next_index % #prepared + 1
  return prepared[next_index]
end
