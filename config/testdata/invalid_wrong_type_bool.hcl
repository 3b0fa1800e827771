session {
  cookie_secure = "yes"
}
