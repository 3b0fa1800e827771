session {
  cookie_same_site = "loose"
}
