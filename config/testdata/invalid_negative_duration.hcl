session {
  lock_timeout = "-5s"
}
