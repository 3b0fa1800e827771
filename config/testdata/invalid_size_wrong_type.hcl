session {
  max_session_size = true
}
