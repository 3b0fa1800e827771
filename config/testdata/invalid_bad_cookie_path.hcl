session {
  cookie_path = "app"
}
