session {
  cookie_secure    = false
  cookie_same_site = "none"
}
