-- POST /alerts load for wrk. SHAPE=dedup draws from 1,000 identities that
-- already exist; SHAPE=create makes every request a new identity.
local shape = os.getenv("SHAPE") or "dedup"
local counter = 0

function setup(thread)
   thread:set("tid", tostring(math.random(1, 1000000000)))
end

function init(args)
   math.randomseed(os.time() + tonumber(tid))
end

request = function()
   local source
   if shape == "dedup" then
      source = "host-" .. math.random(1, 1000)
   else
      counter = counter + 1
      source = "new-" .. tid .. "-" .. counter
   end
   local body = '{"alert_type":"bench","severity":"low","message":"load test","source":"' .. source .. '"}'
   return wrk.format("POST", "/alerts", {["Content-Type"] = "application/json"}, body)
end
