-- POST /api/v1/cart/items (scenario 5). Arguments: the file of access
-- tokens, then the SKU ids separated by commas. Each customer adds to three
-- SKUs of its own, so lines stay well below the 99-per-line limit.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local tokens, skus = {}, {}
local sent = 0

function init(args)
  tokens = read_lines(args[1])
  for sku in string.gmatch(args[2], "%d+") do
    skus[#skus + 1] = sku
  end
  sent = (thread_index or 0) * 7919
end

function request()
  sent = sent + 1
  local customer = sent % #tokens
  local round = math.floor(sent / #tokens) % 3
  local sku = skus[(customer * 3 + round) % #skus + 1]
  return wrk.format("POST", nil, {
    ["Authorization"] = "Bearer " .. tokens[customer + 1],
    ["Content-Type"] = "application/json",
  }, '{"sku_id":' .. sku .. ',"quantity":1}')
end
