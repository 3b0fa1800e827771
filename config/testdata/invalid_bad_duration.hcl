session {
  idle_timeout = "30x"
}
