-- pipeline.lua: wrk's request pipelining for the HTTP benchmark
-- (http_bench.py): each write carries DEPTH requests for PATH back to back
-- (`wrk ... -s pipeline.lua -- DEPTH PATH`), the shape of wrk's own
-- scripts/pipeline.lua. wrk times a batch from its write to its last
-- response, so with pipelining a latency percentile is a batch's. The
-- benchmark appends stats.lua (the done() hook) to this script.
init = function(args)
   local depth = tonumber(args[1]) or 16
   local path = args[2] or "/plaintext"
   local r = {}
   for i = 1, depth do
      r[i] = wrk.format(nil, path)
   end
   req = table.concat(r)
end

request = function()
   return req
end
