# http_common.sh - shared by bench_http.sh and bench_http_ab.sh (sourced): the seed's example
# request, a free loopback port, wrk's Lua for a POST body, and nginx serving a file as the
# machine's ceiling for an HTTP JSON response.
SEED_REQ='{"userId":"user_12345","limit":10,"algorithm":"hybrid","context":{"device":"mobile","location":"US","time":"2024-01-15T10:30:00Z"},"filters":{"category":["electronics","books"],"minRating":4.0},"diversityWeight":0.3}'

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# post_lua BODY: wrk's script for POSTing BODY as JSON, on stdout.
post_lua() {
  python3 - "$1" <<'PY'
import json, sys
print('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = ' + json.dumps(sys.argv[1]))
PY
}

# start_nginx DIR BODY_FILE: nginx (1 worker per core, keep-alive, no access log) serving
# BODY_FILE as http://127.0.0.1:$NP/r.json from DIR; sets NP and NPID.
start_nginx() {
  mkdir -p "$1"
  cp "$2" "$1/r.json"
  NP=$(port)
  cat >"$1/nginx.conf" <<NG
worker_processes 2; daemon off; pid $1/nginx.pid; error_log $1/error.log;
events { worker_connections 1024; }
http { access_log off; keepalive_requests 1000000; types { application/json json; }
  server { listen 127.0.0.1:$NP; root $1; location / { try_files /r.json =404; } } }
NG
  nginx -c "$1/nginx.conf" -p "$1" >"$1/out.log" 2>&1 &
  NPID=$!
  sleep 0.5
}
