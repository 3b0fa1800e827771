# The configuration of the design notes. HCL allows only one argument in a
# block written on one line, so node and http span several lines here.
node {
  name     = "red"
  data_dir = "./data/red"
}
http {
  listen = "127.0.0.1:8080"
  app    = "demo"
}
session {
  cookie_name        = "WADISESSIONID"
  cookie_path        = "/"
  cookie_domain      = ""
  cookie_secure      = false
  cookie_http_only   = true
  cookie_same_site   = "lax"    # lax | strict | none
  cookie_persist     = false    # false: a browser-session cookie; true: Expires set from the session's expiry
  idle_timeout       = "30m"
  lifetime           = "24h"
  evict_after        = "10m"
  max_in_memory      = 100000
  concurrency        = "shared" # shared | exclusive
  lock_timeout       = "10s"    # how long a request waits for its session's lock
  sweep_interval     = "30s"
  max_attribute_size = "1MiB"   # bytes, humanized sizes accepted (also plain numbers)
  max_session_size   = "4MiB"
}
store "file" { path = "sessions.db" }
