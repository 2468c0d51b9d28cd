-- stats.lua: the done() hook every wrk run of the HTTP benchmark
-- (http_bench.py) loads: one line, "LAB {json}", with the requests
-- completed, the window, the errors by kind and the latency percentiles
-- wrk's --latency table lacks (p99.9) next to those it has, in
-- microseconds, from wrk's own latency histogram.
done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'LAB {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,' ..
      '"p999_us":%.1f,"max_us":%.1f,"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,' ..
      '"err_timeout":%d}\n',
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
      latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
