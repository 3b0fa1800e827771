# Every setting, none left to its default.
node {
  name     = "red"
  data_dir = "/var/lib/wadi/red"
}

http {
  listen = "0.0.0.0:9090"
  app    = "demo"
}

session {
  cookie_name        = "SID"
  cookie_path        = "/app"
  cookie_domain      = "example.com"
  cookie_secure      = true
  cookie_http_only   = false
  cookie_same_site   = "none"
  cookie_persist     = true
  idle_timeout       = "15m"
  lifetime           = "8h"
  evict_after        = "0s"
  max_in_memory      = 5000
  concurrency        = "exclusive"
  lock_timeout       = "2s"
  sweep_interval     = "1m"
  max_attribute_size = "64KiB"
  max_session_size   = 1048576

  accept_unauthenticated_records = true
}

store "file" {
  path = "sessions.db"
}
