-- wrk script: POST the events of a JSON Lines file, each once, in file order (run with -t1 and
-- a duration short enough that the file is not exhausted: bench/http.py checks that).
local path = os.getenv("QALQAN_BODIES")
local bodies = {}
for line in io.lines(path) do bodies[#bodies + 1] = line end
local i = 0
local headers = {["Content-Type"] = "application/json"}
local auth = os.getenv("QALQAN_AUTH_HEADER")
if auth and auth ~= "" then headers["Authorization"] = auth end

request = function()
  i = i + 1
  if i > #bodies then i = #bodies end -- in flight at the end: a duplicate, answered from memory
  return wrk.format("POST", "/v1/events", headers, bodies[i])
end

done = function(summary, latency, requests)
  for _, p in ipairs({50, 99, 99.9}) do
    io.write(string.format("P%s %.3f\n", p, latency:percentile(p) / 1000))
  end
  io.write(string.format("REQS %d SECS %.3f\n", summary.requests, summary.duration / 1e6))
end
