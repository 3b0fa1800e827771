session {
  cookie_name = "WADI SESSION"
}
