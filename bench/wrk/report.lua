-- Shared by the scripts of `cargo xtask bench`: numbers each thread and
-- prints one JSON line that xtask reads back. Loaded with dofile by the
-- scenario scripts beside it.

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

-- Non-empty lines of a file (tokens written by xtask, one per line).
function read_lines(path)
  local lines = {}
  for line in io.lines(path) do
    if #line > 0 then
      lines[#lines + 1] = line
    end
  end
  return lines
end

-- wrk counts a status of 400 and above in errors.status; socket errors
-- and timeouts are failures too. Latencies are in microseconds.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"failed":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
